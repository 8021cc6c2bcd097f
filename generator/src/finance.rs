//! Money outside billing and the reference tables: `fx_rates`,
//! `content_costs`, `operational_costs`, `payment_settlements`,
//! `finance_gl`, `plan_catalog` and `content_catalog`.

use std::path::Path;

use rand::Rng;

use crate::billing::BillingTotals;
use crate::clock::{DAY, HOUR, SEC, Ts};
use crate::corrupt::{Bad, corrupt};
use crate::util::{
    FeedOut, FeedStats, Lines, Prng, between, event_hex, normal, push_fixed, push_hex, push_money,
    rng,
};
use crate::viewing::AdTotals;
use crate::world::{Cur, LATE_PARTNER, NO_PARTNER, PARTNERS, PLANS, PROMO_PLAN};
use crate::{Ctx, GenerateError, Injected};

const STREAM_FIN: u64 = 60;
const NS_COST: u64 = 61;
const NS_OPS: u64 = 62;
const NS_SETTLE: u64 = 63;

pub(crate) fn write(
    ctx: &Ctx,
    billing: &BillingTotals,
    ads: &AdTotals,
    dir: &Path,
    inj: &mut Injected,
) -> Result<Vec<FeedStats>, GenerateError> {
    let (content_stats, content_usd) = content_costs(ctx, dir, inj)?;
    let (ops_stats, ops_usd) = operational_costs(ctx, dir)?;
    Ok(vec![
        fx_rates(ctx, dir, inj)?,
        content_stats,
        ops_stats,
        settlements(ctx, billing, dir, inj)?,
        finance_gl(ctx, billing, ads, &content_usd, &ops_usd, dir)?,
        plan_catalog(ctx, dir, inj)?,
        content_catalog(ctx, dir, inj)?,
    ])
}

fn fx_rates(ctx: &Ctx, dir: &Path, inj: &mut Injected) -> Result<FeedStats, GenerateError> {
    let fx = &ctx.fx;
    let mut out = FeedOut::create(dir, "fx_rates")?;
    let mut b = Vec::new();
    let row = |b: &mut Vec<u8>, d: i32, cur: Cur, scaled: i64| {
        b.clear();
        b.extend_from_slice(b"{\"date\":\"");
        ctx.clock.push_date(b, d);
        b.extend_from_slice(b"\",\"currency\":\"");
        b.extend_from_slice(cur.code().as_bytes());
        b.extend_from_slice(b"\",\"usd_per_unit\":");
        push_fixed(b, scaled, 8);
        b.push(b'}');
    };
    // A vendor correction: a wrong EUR rate, replaced by the next day's file.
    let corrected = (ctx.days / 2).clamp(fx.first, fx.last);
    let bad = [
        Bad::Replace("usd_per_unit", "0".into()),
        Bad::Replace("usd_per_unit", "\"1.08\"".into()),
        Bad::Replace("currency", "\"eur\"".into()),
        Bad::Replace("date", "\"05/10/2026\"".into()),
    ];
    let bad_every = ((fx.last - fx.first + 1) / bad.len() as i32).max(1);
    for d in fx.first..=fx.last {
        for cur in &Cur::ALL[1..] {
            if !fx.published(*cur, d) {
                inj.fx_gap_days += 1;
                continue;
            }
            let mut scaled = fx.scaled(*cur, d);
            if d == corrected && *cur == Cur::Eur {
                scaled = (scaled as f64 * 1.021).round() as i64;
            }
            row(&mut b, d, *cur, scaled);
            out.line(&b, false)?;
        }
        if d == corrected + 1 || (d == fx.last && corrected == fx.last) {
            row(&mut b, corrected, Cur::Eur, fx.scaled(Cur::Eur, corrected));
            out.line(&b, false)?;
        }
        let k = (d - fx.first) / bad_every;
        if ctx.faults.malformed_records
            && (d - fx.first) % bad_every == 0
            && (k as usize) < bad.len()
        {
            row(&mut b, d, Cur::Eur, fx.scaled(Cur::Eur, d));
            out.line(&corrupt(&b, &bad[k as usize]), true)?;
        }
    }
    out.finish()
}

/// Splits `total` money units into `parts` positive pieces that add up.
fn split(r: &mut Prng, cur: Cur, total: i64, parts: usize) -> Vec<i64> {
    let weights: Vec<f64> = (0..parts).map(|_| r.random_range(0.5..2.0)).collect();
    let sum: f64 = weights.iter().sum();
    let mut out: Vec<i64> = weights[..parts - 1]
        .iter()
        .map(|w| cur.round(total as f64 * w / sum))
        .collect();
    let rest = total - out.iter().sum::<i64>();
    out.push(rest);
    out
}

/// The month whose cost report is late: the one the range covers most.
fn late_month(ctx: &Ctx) -> usize {
    let mut best = 0;
    for (i, m) in ctx.months.iter().enumerate() {
        if m.frac > ctx.months[best].frac {
            best = i;
        }
    }
    best
}

fn content_costs(
    ctx: &Ctx,
    dir: &Path,
    inj: &mut Injected,
) -> Result<(FeedStats, Vec<f64>), GenerateError> {
    let mut r = rng(ctx.seed, STREAM_FIN, 1, 0);
    let mut usd = vec![0.0; ctx.months.len()];
    let mut out = FeedOut::create(dir, "content_costs")?;
    let items = [
        "license_fee",
        "minimum_guarantee",
        "revenue_share",
        "marketing_credit",
    ];
    let mut b = Vec::new();
    let render =
        |b: &mut Vec<u8>, id: u64, partner: &str, mi: usize, units: i64, cur: Cur, item: &str| {
            b.clear();
            b.extend_from_slice(b"{\"event_id\":\"cc-");
            push_hex(b, id);
            b.extend_from_slice(b"\",\"partner_id\":\"");
            b.extend_from_slice(partner.as_bytes());
            b.extend_from_slice(b"\",\"period\":\"");
            ctx.months[mi].id.push(b);
            b.extend_from_slice(b"\",\"amount\":");
            push_money(b, units);
            b.extend_from_slice(b",\"currency\":\"");
            b.extend_from_slice(cur.code().as_bytes());
            b.extend_from_slice(b"\",\"line_item\":\"");
            b.extend_from_slice(item.as_bytes());
            b.extend_from_slice(b"\"}");
        };
    let late = late_month(ctx);
    let mut dup_done = !ctx.faults.duplicates;
    for (mi, m) in ctx.months.iter().enumerate() {
        let rate_day = m.first_day;
        for (pi, p) in PARTNERS.iter().enumerate() {
            let total_usd =
                p.usd_per_sub * f64::from(ctx.n) * m.frac * (1.0 + 0.03 * normal(&mut r));
            let rate = ctx.fx.usd(p.cur, rate_day);
            let total = p.cur.round(total_usd / rate * 1e4);
            let n_parts = r.random_range(2..=4);
            let parts = split(&mut r, p.cur, total, n_parts);
            // The finance system accrues the cost even when the partner's
            // report has not come in.
            usd[mi] += total as f64 / 1e4 * rate;
            if ctx.faults.late_events && pi == LATE_PARTNER && mi == late {
                inj.late_cost_reports += 1;
                continue;
            }
            for (k, units) in parts.iter().enumerate() {
                let id = event_hex(
                    ctx.seed,
                    NS_COST,
                    ((mi as u64) << 16) | ((pi as u64) << 8) | k as u64,
                );
                render(&mut b, id, p.id, mi, *units, p.cur, items[k]);
                out.line(&b, false)?;
                if !dup_done {
                    out.line(&b, false)?;
                    inj.duplicate_events += 1;
                    dup_done = true;
                }
            }
        }
        if ctx.faults.malformed_records && mi == 0 {
            let id = event_hex(ctx.seed, NS_COST, 1 << 62);
            render(
                &mut b,
                id,
                PARTNERS[0].id,
                mi,
                1_000_000,
                Cur::Usd,
                "adjustment",
            );
            out.line(&corrupt(&b, &Bad::Replace("amount", "-100".into())), true)?;
            render(
                &mut b,
                id + 1,
                PARTNERS[1].id,
                mi,
                1_000_000,
                Cur::Usd,
                "adjustment",
            );
            out.line(
                &corrupt(&b, &Bad::Replace("period", "\"2026-10-01\"".into())),
                true,
            )?;
        }
    }
    Ok((out.finish()?, usd))
}

fn operational_costs(ctx: &Ctx, dir: &Path) -> Result<(FeedStats, Vec<f64>), GenerateError> {
    const LINES: [(&str, &str, Cur, f64); 5] = [
        ("cdn", "fastedge", Cur::Usd, 0.50),
        ("cdn", "cloudmesh", Cur::Usd, 0.35),
        ("infra", "hyperscale", Cur::Usd, 0.55),
        ("support", "helpdesk-eu", Cur::Eur, 0.14),
        ("support", "helpdesk-us", Cur::Usd, 0.21),
    ];
    let mut r = rng(ctx.seed, STREAM_FIN, 2, 0);
    let mut usd = vec![0.0; ctx.months.len()];
    let mut out = FeedOut::create(dir, "operational_costs")?;
    let mut b = Vec::new();
    for (mi, m) in ctx.months.iter().enumerate() {
        for (k, (category, vendor, cur, per_sub)) in LINES.iter().enumerate() {
            let rate = ctx.fx.usd(*cur, m.first_day);
            let units = cur.round(
                per_sub * f64::from(ctx.n) * m.frac * (1.0 + 0.05 * normal(&mut r)) / rate * 1e4,
            );
            usd[mi] += units as f64 / 1e4 * rate;
            b.clear();
            b.extend_from_slice(b"{\"event_id\":\"op-");
            push_hex(
                &mut b,
                event_hex(ctx.seed, NS_OPS, ((mi as u64) << 8) | k as u64),
            );
            b.extend_from_slice(b"\",\"period\":\"");
            m.id.push(&mut b);
            b.extend_from_slice(b"\",\"category\":\"");
            b.extend_from_slice(category.as_bytes());
            b.extend_from_slice(b"\",\"amount\":");
            push_money(&mut b, units);
            b.extend_from_slice(b",\"currency\":\"");
            b.extend_from_slice(cur.code().as_bytes());
            b.extend_from_slice(b"\",\"vendor\":\"");
            b.extend_from_slice(vendor.as_bytes());
            b.extend_from_slice(b"\"}");
            out.line(&b, false)?;
            if ctx.faults.malformed_records && mi == 0 && k == 0 {
                for (j, bad) in [
                    Bad::Remove("category"),
                    Bad::Replace("amount", "\"1250.00\"".into()),
                ]
                .iter()
                .enumerate()
                {
                    let id = event_hex(ctx.seed, NS_OPS, (1 << 62) | j as u64);
                    out.line(&corrupt(&with_id(&b, "op", id), bad), true)?;
                }
            }
        }
    }
    Ok((out.finish()?, usd))
}

fn settlements(
    ctx: &Ctx,
    billing: &BillingTotals,
    dir: &Path,
    inj: &mut Injected,
) -> Result<FeedStats, GenerateError> {
    let mut r = rng(ctx.seed, STREAM_FIN, 3, 0);
    let mut out = FeedOut::create(dir, "payment_settlements")?;
    let mut b = Vec::new();
    let render = |b: &mut Vec<u8>, key: u64, d: i32, cur: Cur, units: i64, kind: Option<&str>| {
        b.clear();
        b.extend_from_slice(b"{\"event_id\":\"ps-");
        push_hex(b, event_hex(ctx.seed, NS_SETTLE, key));
        b.extend_from_slice(b"\",\"date\":\"");
        ctx.clock.push_date(b, d);
        b.extend_from_slice(b"\",\"currency\":\"");
        b.extend_from_slice(cur.code().as_bytes());
        b.extend_from_slice(b"\",\"amount\":");
        push_money(b, units);
        if let Some(kind) = kind {
            b.extend_from_slice(b",\"kind\":\"");
            b.extend_from_slice(kind.as_bytes());
            b.push(b'"');
        }
        b.push(b'}');
    };
    let mut last_day = None;
    let mut dup_done = !ctx.faults.duplicates;
    let mut bad_done = !ctx.faults.malformed_records;
    for (&(d, cur), &net) in &billing.net_by_day {
        if last_day != Some(d) {
            // A small chargeback on the 15th of each month.
            if let Some(prev) = last_day
                && ctx.clock.civil(prev).2 == 15
            {
                let units = -cur_round_usd(r.random_range(20.0..80.0));
                render(
                    &mut b,
                    (1 << 40) | prev as u64 & 0xffff_ffff,
                    prev,
                    Cur::Usd,
                    units,
                    Some("chargeback"),
                );
                out.line(&b, false)?;
            }
            last_day = Some(d);
        }
        // The processor's totals drift a little from the billing records
        // (fees, timing, rounding): close, not exact.
        let units = cur.round(net as f64 * (1.0 + r.random_range(-0.0012..0.0012)));
        let key = ((d as u64 & 0xffff_ffff) << 8) | cur.idx() as u64;
        render(&mut b, key, d, cur, units, None);
        out.line(&b, false)?;
        if !dup_done && cur == Cur::Usd {
            out.line(&b, false)?;
            inj.duplicate_events += 1;
            dup_done = true;
        }
        if !bad_done && cur == Cur::Eur {
            for (j, bad) in [
                Bad::Replace("amount", "\"1234.50\"".into()),
                Bad::Replace("date", "\"2026/10/05\"".into()),
            ]
            .iter()
            .enumerate()
            {
                let id = event_hex(ctx.seed, NS_SETTLE, (1 << 62) | j as u64);
                out.line(&corrupt(&with_id(&b, "ps", id), bad), true)?;
            }
            bad_done = true;
        }
    }
    out.finish()
}

/// The line with another `event_id`, so that a broken copy of a record is
/// not also a duplicate of it.
fn with_id(line: &[u8], prefix: &str, id: u64) -> Vec<u8> {
    corrupt(
        line,
        &Bad::Replace("event_id", format!("\"{prefix}-{id:016x}\"")),
    )
}

fn cur_round_usd(usd: f64) -> i64 {
    Cur::Usd.round(usd * 1e4)
}

fn finance_gl(
    ctx: &Ctx,
    billing: &BillingTotals,
    ads: &AdTotals,
    content_usd: &[f64],
    ops_usd: &[f64],
    dir: &Path,
) -> Result<FeedStats, GenerateError> {
    let mut r = rng(ctx.seed, STREAM_FIN, 4, 0);
    let mut lines = Lines::new();
    let render = |b: &mut Vec<u8>, mi: usize, account: &str, usd: f64, at: i64| {
        b.extend_from_slice(b"{\"period\":\"");
        ctx.months[mi].id.push(b);
        b.extend_from_slice(b"\",\"account\":\"");
        b.extend_from_slice(account.as_bytes());
        b.extend_from_slice(b"\",\"amount_usd\":");
        push_money(b, cur_round_usd(usd));
        b.extend_from_slice(b",\"updated_at\":\"");
        ctx.clock.push_ts(b, at, Ts::Z);
        b.extend_from_slice(b"\"}");
    };
    for (mi, m) in ctx.months.iter().enumerate() {
        let close = ctx.clock.day_start(m.end_day);
        // Posted after month close, or month-to-date at the end of the range.
        let at = if close <= ctx.end {
            close + 3 * HOUR
        } else {
            ctx.end + 3 * HOUR
        } + between(&mut r, 0, 3600) * SEC;
        let revenue =
            (billing.revenue_usd[mi] + ads.usd[mi]) * (1.0 + r.random_range(-0.0015..0.0015));
        let content = content_usd[mi] * (1.0 + r.random_range(-0.001..0.001));
        let ops = ops_usd[mi] * (1.0 + r.random_range(-0.001..0.001));
        if mi == 0 {
            // First posted with an accrual error, corrected two days later.
            lines.push(at, |b| render(b, mi, "revenue", revenue * 1.031, at));
            lines.push(at + 2 * DAY, |b| {
                render(b, mi, "revenue", revenue, at + 2 * DAY)
            });
        } else {
            lines.push(at, |b| render(b, mi, "revenue", revenue, at));
        }
        lines.push(at + 10 * SEC, |b| {
            render(b, mi, "content_cost", content, at + 10 * SEC)
        });
        lines.push(at + 20 * SEC, |b| {
            render(b, mi, "operational_cost", ops, at + 20 * SEC)
        });
    }
    let mut out = FeedOut::create(dir, "finance_gl")?;
    lines.write(&mut out)?;
    out.finish()
}

fn plan_catalog(ctx: &Ctx, dir: &Path, inj: &mut Injected) -> Result<FeedStats, GenerateError> {
    let mut out = FeedOut::create(dir, "plan_catalog")?;
    let mut b = Vec::new();
    let render = |b: &mut Vec<u8>, plan: usize, cur: Cur, price: i64, at: i64| {
        b.clear();
        b.extend_from_slice(b"{\"plan_id\":\"");
        b.extend_from_slice(PLANS[plan].id.as_bytes());
        b.extend_from_slice(b"\",\"currency\":\"");
        b.extend_from_slice(cur.code().as_bytes());
        b.extend_from_slice(b"\",\"tier\":");
        crate::util::push_u64(b, u64::from(PLANS[plan].tier));
        b.extend_from_slice(b",\"monthly_price\":");
        push_money(b, price);
        b.extend_from_slice(b",\"updated_at\":\"");
        ctx.clock.push_ts(b, at, Ts::Z);
        b.extend_from_slice(b"\"}");
    };
    let launch = ctx.start - 400 * DAY;
    // Premium's euro price rose three weeks ago; that row was exported ahead
    // of the original table, so file order is not update order.
    render(
        &mut b,
        2,
        Cur::Eur,
        PLANS[2].price[Cur::Eur.idx()],
        ctx.start - 14 * DAY,
    );
    out.line(&b, false)?;
    for (plan, p) in PLANS.iter().enumerate() {
        if plan == PROMO_PLAN as usize {
            continue;
        }
        for cur in Cur::ALL {
            let price = match (plan, cur) {
                (1, Cur::Usd) => crate::world::OLD_STANDARD_USD,
                (2, Cur::Eur) => crate::world::OLD_PREMIUM_EUR,
                _ => p.price[cur.idx()],
            };
            render(&mut b, plan, cur, price, launch + plan as i64 * HOUR);
            out.line(&b, false)?;
        }
    }
    render(
        &mut b,
        1,
        Cur::Usd,
        PLANS[1].price[Cur::Usd.idx()],
        ctx.start - 21 * DAY,
    );
    out.line(&b, false)?;
    if ctx.faults.malformed_records {
        // A row in force whose tier disagrees with the plan's other
        // currencies (standard_annual is tier 2 elsewhere); price unchanged.
        let plan = 3;
        render(
            &mut b,
            plan,
            Cur::Jpy,
            PLANS[plan].price[Cur::Jpy.idx()],
            ctx.start - 10 * DAY,
        );
        let tier = format!("\"tier\":{}", PLANS[plan].tier);
        let text = String::from_utf8_lossy(&b).replace(&tier, "\"tier\":1");
        out.line(text.as_bytes(), false)?;
        inj.tier_disagreements += 1;
    }
    out.finish()
}

fn content_catalog(ctx: &Ctx, dir: &Path, inj: &mut Injected) -> Result<FeedStats, GenerateError> {
    let lib = &ctx.library;
    let mut r = rng(ctx.seed, STREAM_FIN, 5, 0);
    let mut lines = Lines::new();
    let render = |b: &mut Vec<u8>, c: usize, partner: u8, at: i64| {
        b.extend_from_slice(b"{\"content_id\":\"ct-");
        crate::util::push_padded(b, c as u64, 6);
        b.extend_from_slice(b"\",\"partner_id\":");
        if partner == NO_PARTNER {
            b.extend_from_slice(b"null");
        } else {
            b.push(b'"');
            b.extend_from_slice(PARTNERS[partner as usize].id.as_bytes());
            b.push(b'"');
        }
        b.extend_from_slice(b",\"updated_at\":\"");
        ctx.clock.push_ts(b, at, Ts::Z);
        b.extend_from_slice(b"\"}");
    };
    // Two titles changed hands before the range: their first rows name the
    // previous licensor.
    let moved = [lib.len() / 7, lib.len() / 3];
    for c in 0..lib.len() {
        if !lib.listed[c] {
            inj.unlisted_titles += 1;
            continue;
        }
        let at = ctx.start - between(&mut r, 30, 900) * DAY - between(&mut r, 0, 86_400) * SEC;
        let partner = lib.partner[c];
        if moved.contains(&c) {
            let previous = if partner == NO_PARTNER {
                0
            } else {
                (partner + 1) % PARTNERS.len() as u8
            };
            lines.push(at, |b| render(b, c, previous, at));
            let later = ctx.start - 3 * DAY + c as i64 * SEC;
            lines.push(later, |b| render(b, c, partner, later));
        } else {
            lines.push(at, |b| render(b, c, partner, at));
        }
    }
    let mut out = FeedOut::create(dir, "content_catalog")?;
    lines.write(&mut out)?;
    out.finish()
}
