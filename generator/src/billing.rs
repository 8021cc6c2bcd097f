//! Monthly charges: the `billing` feed, and the totals that settlements and
//! the GL are derived from.

use std::collections::BTreeMap;
use std::path::Path;

use rand::Rng;
use rand::seq::index;

use crate::clock::{DAY, HOUR, MIN, SEC, Ts};
use crate::corrupt::{Bad, corrupt};
use crate::population::{Population, Role, push_sub_id};
use crate::util::{
    FeedOut, FeedStats, Lines, between, chance, event_hex, push_hex, push_money, rng,
};
use crate::world::{
    ADDONS, Cur, OLD_PREMIUM_EUR, OLD_STANDARD_USD, PLANS, PREMIUM_MONTHLY, STANDARD_MONTHLY,
};
use crate::{Ctx, GenerateError, Injected};

const STREAM_BILL: u64 = 40;
const NS_BILL: u64 = 41;

#[derive(Clone)]
struct Charge {
    sub: u32,
    month: usize,
    t: i64,
    style: Ts,
    plan: u8,
    cur: Cur,
    plan_amount: i64,
    addons: u8,
    refund: i64,
    /// Print `"addons":[]` / `"refund_amount":0` rather than leave them out.
    explicit_empty: bool,
    /// 0 for the charge, 1 for a second record of the same period.
    version: u64,
}

impl Charge {
    fn addon_total(&self) -> i64 {
        (0..3)
            .filter(|k| self.addons & (1 << k) != 0)
            .map(|k| ADDONS[k].price[self.cur.idx()])
            .sum()
    }

    fn net(&self) -> i64 {
        self.plan_amount + self.addon_total() - self.refund
    }
}

/// What the rest of finance needs from the billing records in force.
pub(crate) struct BillingTotals {
    /// Charges net of refunds by Central day of `event_time` and currency.
    pub net_by_day: BTreeMap<(i32, Cur), i64>,
    /// Revenue by billing period (index into `ctx.months`), USD at the
    /// rates of the charge days (gap days included: finance knows them).
    pub revenue_usd: Vec<f64>,
}

fn render(ctx: &Ctx, b: &mut Vec<u8>, c: &Charge) {
    let key = (u64::from(c.sub) << 12) | (c.month as u64) << 2 | c.version;
    b.extend_from_slice(b"{\"event_id\":\"b-");
    push_hex(b, event_hex(ctx.seed, NS_BILL, key));
    b.extend_from_slice(b"\",\"event_time\":\"");
    ctx.clock.push_ts(b, c.t, c.style);
    b.extend_from_slice(b"\",\"subscriber_id\":\"");
    push_sub_id(b, c.sub);
    b.extend_from_slice(b"\",\"billing_period\":\"");
    ctx.months[c.month].id.push(b);
    b.extend_from_slice(b"\",\"plan_id\":\"");
    b.extend_from_slice(PLANS[c.plan as usize].id.as_bytes());
    b.extend_from_slice(b"\",\"currency\":\"");
    b.extend_from_slice(c.cur.code().as_bytes());
    b.extend_from_slice(b"\",\"plan_amount\":");
    push_money(b, c.plan_amount);
    if c.addons != 0 || c.explicit_empty {
        b.extend_from_slice(b",\"addons\":[");
        let mut first = true;
        for (k, addon) in ADDONS.iter().enumerate() {
            if c.addons & (1 << k) != 0 {
                if !first {
                    b.push(b',');
                }
                first = false;
                b.extend_from_slice(b"{\"addon_id\":\"");
                b.extend_from_slice(addon.id.as_bytes());
                b.extend_from_slice(b"\",\"amount\":");
                push_money(b, addon.price[c.cur.idx()]);
                b.push(b'}');
            }
        }
        b.push(b']');
    }
    if c.refund != 0 || c.explicit_empty {
        b.extend_from_slice(b",\"refund_amount\":");
        push_money(b, c.refund);
    }
    b.push(b'}');
}

pub(crate) fn write(
    ctx: &Ctx,
    pop: &Population,
    dir: &Path,
    inj: &mut Injected,
) -> Result<(FeedStats, BillingTotals), GenerateError> {
    let f = ctx.faults;
    let bill_lo = ctx.clock.day_start(ctx.months[0].first_day);
    let mut charges: Vec<Charge> = Vec::new();
    for (i, sub) in pop.subs.iter().enumerate() {
        let mut r = rng(ctx.seed, STREAM_BILL, i as u64, 0);
        for (mi, m) in ctx.months.iter().enumerate() {
            let month_lo = ctx.clock.day_start(m.first_day).max(bill_lo);
            let month_hi = ctx.clock.day_start(m.end_day).min(ctx.end);
            // The nightly batch on the cycle day, or the moment of a
            // (re)subscription that happens first in the month.
            let cycle = m.first_day + sub.cycle_day as i32 - 1;
            let batch = ctx.clock.day_start(cycle) + between(&mut r, 3 * HOUR, 6 * HOUR);
            let mut t = (batch < month_hi && sub.active_at(batch)).then_some(batch);
            for &(from, _) in &sub.active {
                if from >= month_lo && from < month_hi {
                    let at = from + between(&mut r, 20 * SEC, 300 * SEC);
                    if at < month_hi && t.is_none_or(|t| at < t) {
                        t = Some(at);
                    }
                }
            }
            let Some(t) = t else { continue };
            let style = Ts::pick(&mut r);
            let t = style.fit(t + r.random_range(0..1000));
            let plan = sub.plan_at(t);
            let cur = sub.cur();
            let tier = PLANS[plan as usize].tier;
            let addons = if tier >= 3 {
                sub.addons & !2
            } else {
                sub.addons
            };
            let mut c = Charge {
                sub: i as u32,
                month: mi,
                t,
                style,
                plan,
                cur,
                plan_amount: PLANS[plan as usize].price[cur.idx()],
                addons,
                refund: 0,
                explicit_empty: chance(&mut r, 0.4),
                version: 0,
            };
            if sub.role == Role::Fraud {
                // Charged back.
                c.refund = c.plan_amount + c.addon_total();
            } else if chance(&mut r, 0.006) {
                c.refund = match r.random_range(0..3) {
                    0 => c.plan_amount + c.addon_total(),
                    1 => cur.round(c.plan_amount as f64 * 0.5),
                    _ => c.addon_total().max(cur.round(c.plan_amount as f64 * 0.25)),
                };
            }
            charges.push(c);
        }
    }

    let mut master = rng(ctx.seed, STREAM_BILL, u64::MAX, 0);
    if f.malformed_records && !charges.is_empty() {
        let k = (charges.len() / 500).max(2).min(charges.len());
        for j in index::sample(&mut master, charges.len(), k).into_vec() {
            let c = &mut charges[j];
            c.plan_amount = match (c.plan, c.cur) {
                // Grandfathered at the price before the catalog update.
                (STANDARD_MONTHLY, Cur::Usd) => OLD_STANDARD_USD,
                (PREMIUM_MONTHLY, Cur::Eur) => OLD_PREMIUM_EUR,
                _ => c.cur.round(c.plan_amount as f64 * 0.9),
            };
            inj.price_mismatches += 1;
        }
    }
    // A second record for the same subscriber and period (a re-bill); the
    // later one is in force.
    let mut superseded = vec![false; charges.len()];
    if f.duplicates && !charges.is_empty() {
        let k = (charges.len() * 15 / 10_000).max(1);
        for j in index::sample(&mut master, charges.len(), k).into_vec() {
            let first = &charges[j];
            if first.t >= ctx.end - 2 * MIN {
                continue;
            }
            let mut second = first.clone();
            second.version = 1;
            second.t = (first.t + between(&mut master, HOUR, 3 * DAY))
                .min(ctx.end - MIN)
                .max(first.t + SEC);
            second.style = Ts::Z;
            second.t = second.t / SEC * SEC;
            if master.random_bool(0.5) {
                second.addons ^= 1;
            }
            second.refund = 0;
            superseded[j] = true;
            charges.push(second);
            inj.pk_violations += 1;
        }
    }

    let mut totals = BillingTotals {
        net_by_day: BTreeMap::new(),
        revenue_usd: vec![0.0; ctx.months.len()],
    };
    let mut lines = Lines::new();
    let mut r = rng(ctx.seed, STREAM_BILL, u64::MAX, 1);
    for (j, c) in charges.iter().enumerate() {
        let h = lines.push(c.t, |b| render(ctx, b, c));
        if !superseded.get(j).copied().unwrap_or(false) {
            let day = ctx.clock.day_of(c.t);
            *totals.net_by_day.entry((day, c.cur)).or_default() += c.net();
            totals.revenue_usd[c.month] += c.net() as f64 / 1e4 * ctx.fx.usd(c.cur, day);
        }
        if f.late_events && chance(&mut r, 0.002) {
            lines.set_key(h, c.t + between(&mut r, DAY, 3 * DAY));
            inj.late_events += 1;
        }
        if f.duplicates && (j == 0 || chance(&mut r, 0.003)) {
            lines.repeat(h, c.t + between(&mut r, MIN, DAY));
            inj.duplicate_events += 1;
        }
    }
    if f.malformed_records && !charges.is_empty() {
        let kinds = [
            Bad::Replace("plan_amount", "-16.99".into()),
            Bad::Replace("plan_amount", "\"16.99\"".into()),
            Bad::Replace("billing_period", "\"2026-13\"".into()),
            Bad::Replace("currency", "\"US\"".into()),
            Bad::Remove("plan_id"),
            Bad::Replace("refund_amount", "-5".into()),
            Bad::Replace(
                "addons",
                "[{\"addon_id\":\"live_sports\",\"amount\":\"9.99\"}]".into(),
            ),
            Bad::Truncate,
        ];
        let k = (charges.len() / 2000).max(kinds.len());
        let mut scratch = Vec::new();
        for j in 0..k {
            let mut c = charges[r.random_range(0..charges.len())].clone();
            c.version = 2;
            c.explicit_empty = true;
            c.sub = ctx.n + 100 + j as u32;
            scratch.clear();
            render(ctx, &mut scratch, &c);
            lines.push_malformed(c.t, &corrupt(&scratch, &kinds[j % kinds.len()]));
        }
    }
    let mut out = FeedOut::create(dir, "billing")?;
    lines.write(&mut out)?;
    Ok((out.finish()?, totals))
}
