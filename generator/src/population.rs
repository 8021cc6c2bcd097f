//! Subscribers, their devices and their lifecycle; the `subscriptions` and
//! `devices` feeds.

use std::path::Path;

use rand::Rng;
use rand::seq::index;

use crate::clock::{DAY, HOUR, MIN, SEC, Ts};
use crate::corrupt::{Bad, corrupt};
use crate::util::{
    FeedOut, FeedStats, Lines, Prng, between, chance, event_hex, exponential, push_hex,
    push_padded, rng, weighted,
};
use crate::world::{COUNTRIES, Cur, DEVICE_TYPES, DEVICE_WEB, PLANS, PROMO_PLAN, other_plan};
use crate::{Ctx, GenerateError, Injected};

pub(crate) const STREAM_POP: u64 = 1;
const STREAM_SUB: u64 = 2;
const STREAM_SUB_WRITE: u64 = 3;
const STREAM_DEV_WRITE: u64 = 4;
pub(crate) const NS_SUBSCRIPTION: u64 = 10;
pub(crate) const NS_DEVICE: u64 = 11;

const CHURN_PER_DAY: f64 = 0.0012;
const CHANGE_PER_DAY: f64 = 0.0009;
const REACTIVATE_PER_DAY: f64 = 0.012;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Signup,
    Change,
    Cancel,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct LifeEv {
    pub t: i64,
    pub kind: Kind,
    pub plan: u8,
    pub style: Ts,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    Normal,
    /// Plays around the clock on several devices: impossible days.
    Bot,
    /// One of a burst of fraudulent sign-ups.
    Fraud,
}

pub(crate) struct Sub {
    pub country: u8,
    /// Bit i: `ADDONS[i]`.
    pub addons: u8,
    pub p_active: f32,
    /// Preferred start of the evening session, minutes after Central midnight.
    pub pref_min: i32,
    pub dev_lo: u32,
    pub dev_n: u8,
    pub favorites: [u32; 4],
    pub role: Role,
    pub signup: i64,
    /// Day of the month charges fall on (1 to 28).
    pub cycle_day: u32,
    /// Subscribed spans `[from, to)`; `to` is `i64::MAX` while open.
    pub active: Vec<(i64, i64)>,
    /// `(from, plan)` in time order.
    pub plans: Vec<(i64, u8)>,
    /// Everything sent to `subscriptions`, in time order, anomalies included.
    pub events: Vec<LifeEv>,
}

impl Sub {
    pub(crate) fn cur(&self) -> Cur {
        COUNTRIES[self.country as usize].cur
    }

    pub(crate) fn active_at(&self, t: i64) -> bool {
        self.active.iter().any(|&(a, b)| a <= t && t < b)
    }

    pub(crate) fn active_during(&self, lo: i64, hi: i64) -> bool {
        self.active.iter().any(|&(a, b)| a < hi && lo < b)
    }

    pub(crate) fn plan_at(&self, t: i64) -> u8 {
        let i = self.plans.partition_point(|&(from, _)| from <= t);
        self.plans[i.saturating_sub(1)].1
    }
}

pub(crate) enum Listing {
    /// Registered a few minutes before the subscriber's sign-up.
    OnTime,
    /// The metadata row arrives later than the device's first plays.
    Late(i64),
    /// Never in `devices`.
    Missing,
}

pub(crate) struct Device {
    pub kind: u8,
    pub style: Ts,
    pub registered: i64,
    pub listing: Listing,
    /// A later row that changes the device type.
    pub retyped: Option<(i64, u8)>,
}

pub(crate) struct Population {
    pub subs: Vec<Sub>,
    pub devices: Vec<Device>,
    /// Bot subscribers, the first of which is never flagged.
    pub bots: Vec<u32>,
    pub fraud: Vec<u32>,
    /// Ids (beyond the population) that only ever appear in a cancel.
    pub phantom_cancels: Vec<(u32, i64)>,
}

pub(crate) fn push_sub_id(buf: &mut Vec<u8>, sub: u32) {
    buf.extend_from_slice(b"sub-");
    push_padded(buf, u64::from(sub), 8);
}

/// The fraud burst starts at 02:00 Central on the middle day of the range.
pub(crate) fn burst_start(ctx: &Ctx) -> i64 {
    ctx.clock.day_start(ctx.days / 2) + 2 * HOUR
}

pub(crate) fn build(ctx: &Ctx, inj: &mut Injected) -> Population {
    let n = ctx.n as usize;
    let mut master = rng(ctx.seed, STREAM_POP, 0, 0);
    let n_bots = if ctx.faults.impossible_days {
        (n / 2500).max(2)
    } else {
        0
    };
    let n_fraud = if ctx.faults.flagged_accounts {
        (n / 250).max(3)
    } else {
        0
    };
    let n_promo = if ctx.faults.malformed_records {
        (n / 500).max(2)
    } else {
        0
    };
    let mut picks = index::sample(&mut master, n, n_bots + n_fraud + n_promo).into_vec();
    let promo: Vec<usize> = picks.split_off(n_bots + n_fraud);
    let mut fraud: Vec<u32> = picks
        .split_off(n_bots)
        .into_iter()
        .map(|i| i as u32)
        .collect();
    let mut bots: Vec<u32> = picks.into_iter().map(|i| i as u32).collect();
    bots.sort_unstable();
    fraud.sort_unstable();
    let mut role = vec![Role::Normal; n];
    for &b in &bots {
        role[b as usize] = Role::Bot;
    }
    for &f in &fraud {
        role[f as usize] = Role::Fraud;
    }
    let mut is_promo = vec![false; n];
    for p in promo {
        is_promo[p] = true;
    }
    inj.bot_subscribers = bots.len() as u64;
    inj.fraud_signups = fraud.len() as u64;

    let new_share = (0.005 * f64::from(ctx.days)).min(0.3);
    let mut devices = Vec::with_capacity(n * 5 / 2);
    let mut subs = Vec::with_capacity(n);
    for i in 0..n {
        subs.push(build_sub(
            ctx,
            i as u32,
            role[i],
            is_promo[i],
            new_share,
            &mut devices,
        ));
    }
    let mut pop = Population {
        subs,
        devices,
        bots,
        fraud,
        phantom_cancels: Vec::new(),
    };
    add_anomalies(ctx, &mut pop, &mut master, inj);
    for sub in &pop.subs {
        inj.unknown_plan_events += sub
            .events
            .iter()
            .filter(|e| e.kind != Kind::Cancel && e.plan == PROMO_PLAN)
            .count() as u64;
    }
    pop
}

/// An event time as the producer will print it.
fn stamp(r: &mut Prng, t: i64) -> (i64, Ts) {
    let style = Ts::pick(r);
    (style.fit(t / SEC * SEC + r.random_range(0..1000)), style)
}

fn build_sub(
    ctx: &Ctx,
    i: u32,
    role: Role,
    promo: bool,
    new_share: f64,
    devices: &mut Vec<Device>,
) -> Sub {
    let mut r = rng(ctx.seed, STREAM_SUB, u64::from(i), 0);
    let country = weighted(&mut r, &COUNTRIES, |c| c.weight);
    let (lo_h, hi_h) = COUNTRIES[country].hours_from_ct;
    let hours = r.random_range(lo_h..=hi_h);
    let signup = match role {
        Role::Bot => between(&mut r, ctx.t0, ctx.start - DAY),
        Role::Fraud => burst_start(ctx) + between(&mut r, 0, 90 * MIN),
        Role::Normal if promo => between(&mut r, ctx.start, ctx.end - HOUR),
        Role::Normal if chance(&mut r, new_share) => between(&mut r, ctx.start, ctx.end),
        Role::Normal => between(&mut r, ctx.t0, ctx.start),
    };
    let (signup, style) = stamp(&mut r, signup);
    let plan0 = match role {
        Role::Fraud | Role::Bot => 0,
        Role::Normal if promo => PROMO_PLAN,
        Role::Normal => weighted(&mut r, &PLANS[..5], |p| p.weight) as u8,
    };
    let tier = PLANS[plan0 as usize].tier;
    let mut addons = 0u8;
    if role == Role::Normal {
        if chance(&mut r, 0.12) {
            addons |= 1;
        }
        if tier < 3 && chance(&mut r, 0.09) {
            addons |= 2;
        }
        if tier >= 2 && chance(&mut r, 0.06) {
            addons |= 4;
        }
    }
    let p_active = match role {
        Role::Bot => 1.0,
        Role::Fraud => 0.3,
        Role::Normal => match r.random_range(0..10) {
            0..3 => 0.92,
            3..7 => 0.68,
            _ => 0.34,
        },
    };
    let local_min = if chance(&mut r, 0.07) {
        r.random_range(23 * 60..25 * 60 + 30)
    } else {
        r.random_range(18 * 60 + 30..22 * 60 + 30)
    };
    let pref_min = (local_min - hours * 60).rem_euclid(24 * 60);

    let dev_lo = devices.len() as u32;
    let dev_n: u8 = match role {
        Role::Bot => 3,
        _ => [1, 2, 3, 4][weighted(&mut r, &[25u32, 35, 28, 12], |w| *w)],
    };
    for k in 0..dev_n {
        let kind = match role {
            Role::Bot => [4u8, 2, 0][k as usize],
            _ => weighted(&mut r, &DEVICE_TYPES, |d| d.weight) as u8,
        };
        let style = match kind {
            DEVICE_WEB if chance(&mut r, 0.8) => Ts::ZMs,
            DEVICE_WEB => Ts::CtMs,
            0 if chance(&mut r, 0.3) => Ts::Ct,
            1 if chance(&mut r, 0.1) => Ts::Ct,
            _ => Ts::Z,
        };
        let registered = signup - between(&mut r, MIN, 30 * MIN) / SEC * SEC;
        let listing = if !ctx.faults.late_events || k == 0 {
            Listing::OnTime
        } else if chance(&mut r, 0.003) {
            Listing::Missing
        } else if chance(&mut r, 0.06) {
            Listing::Late(between(
                &mut r,
                signup.max(ctx.start) + DAY,
                ctx.end.max(signup.max(ctx.start) + 2 * DAY),
            ))
        } else {
            Listing::OnTime
        };
        let retyped = chance(&mut r, 0.005).then(|| {
            let t = between(&mut r, ctx.start.max(signup), ctx.end);
            (
                t / SEC * SEC,
                ((kind as usize + 1 + r.random_range(0..4)) % DEVICE_TYPES.len()) as u8,
            )
        });
        devices.push(Device {
            kind,
            style,
            registered,
            listing,
            retyped,
        });
    }
    let favorites = [0; 4].map(|_| ctx.library.pick(&mut r));

    let mut events = vec![LifeEv {
        t: signup,
        kind: Kind::Signup,
        plan: plan0,
        style,
    }];
    let mut plans = vec![(signup, plan0)];
    let mut active = Vec::new();
    if role == Role::Normal {
        let (mut t, mut on, mut from, mut plan) = (signup, true, signup, plan0);
        loop {
            let rate = if on {
                CHURN_PER_DAY + CHANGE_PER_DAY
            } else {
                REACTIVATE_PER_DAY
            };
            t += (exponential(&mut r, 1.0 / rate) * DAY as f64) as i64 + SEC;
            if t >= ctx.end || events.len() >= 200 {
                break;
            }
            let (at, style) = stamp(&mut r, t);
            t = at;
            if on && chance(&mut r, CHURN_PER_DAY / (CHURN_PER_DAY + CHANGE_PER_DAY)) {
                events.push(LifeEv {
                    t,
                    kind: Kind::Cancel,
                    plan,
                    style,
                });
                active.push((from, t));
                on = false;
            } else if on {
                plan = other_plan(&mut r, plan);
                events.push(LifeEv {
                    t,
                    kind: Kind::Change,
                    plan,
                    style,
                });
                plans.push((t, plan));
            } else {
                if chance(&mut r, 0.3) {
                    plan = other_plan(&mut r, plan);
                }
                events.push(LifeEv {
                    t,
                    kind: Kind::Signup,
                    plan,
                    style,
                });
                plans.push((t, plan));
                from = t;
                on = true;
            }
        }
        if on {
            active.push((from, i64::MAX));
        }
    } else {
        active.push((signup, i64::MAX));
    }
    let (_, _, day_of_month) = ctx.clock.civil(ctx.clock.day_of(signup));
    Sub {
        country: country as u8,
        addons,
        p_active,
        pref_min,
        dev_lo,
        dev_n,
        favorites,
        role,
        signup,
        cycle_day: day_of_month.min(28),
        active,
        plans,
        events,
    }
}

/// Records the engine must ignore: they change no state (EVENTS.md growth
/// rules), so the subscribed spans computed above stay right.
fn add_anomalies(ctx: &Ctx, pop: &mut Population, master: &mut Prng, inj: &mut Injected) {
    let n = pop.subs.len();
    if ctx.faults.duplicates {
        let k = (n / 250).max(1);
        for i in index::sample(master, n, k).into_vec() {
            let sub = &pop.subs[i];
            let first = sub.events[0].t;
            let mut t = first + between(master, MIN, 2 * DAY);
            if !(sub.active_at(t) && t < ctx.end) {
                t = first + 90 * SEC;
            }
            if !(sub.active_at(t) && t < ctx.end) {
                continue;
            }
            let plan = if master.random_bool(0.5) {
                sub.events[0].plan
            } else {
                other_plan(master, sub.events[0].plan)
            };
            let (t, style) = stamp(master, t);
            pop.subs[i].events.push(LifeEv {
                t,
                kind: Kind::Signup,
                plan,
                style,
            });
            inj.duplicate_signups += 1;
        }
    }
    if ctx.faults.malformed_records {
        // Windows after a cancel and before the next sign-up.
        let mut windows = Vec::new();
        for (i, sub) in pop.subs.iter().enumerate() {
            for (j, e) in sub.events.iter().enumerate() {
                if e.kind == Kind::Cancel {
                    let next = sub.events[j + 1..]
                        .iter()
                        .find(|x| x.kind == Kind::Signup)
                        .map_or(ctx.end, |x| x.t.min(ctx.end));
                    if next - e.t > 2 * MIN {
                        windows.push((i, e.t, next));
                    }
                }
            }
        }
        for (kind, share) in [(Kind::Cancel, 20), (Kind::Change, 25)] {
            if windows.is_empty() {
                break;
            }
            let k = (windows.len() / share).max(1);
            for w in index::sample(master, windows.len(), k).into_vec() {
                let (i, from, to) = windows[w];
                let t = from + MIN + between(master, 0, (to - from - 2 * MIN).min(5 * DAY));
                let plan = other_plan(master, pop.subs[i].plan_at(from));
                let (t, style) = stamp(master, t);
                pop.subs[i].events.push(LifeEv {
                    t,
                    kind,
                    plan,
                    style,
                });
                if kind == Kind::Cancel {
                    inj.orphan_cancels += 1;
                } else {
                    inj.orphan_plan_changes += 1;
                }
            }
        }
        // A cancel from a subscriber that never signed up.
        let t = between(master, ctx.start, ctx.end) / SEC * SEC;
        pop.phantom_cancels.push((ctx.n + 7, t));
        inj.orphan_cancels += 1;
        // A plan change stamped at exactly the instant of a cancel: the
        // event ids decide which comes first (a change then churn, or churn
        // then an orphan change); either way the subscriber ends cancelled.
        let cancels: Vec<(usize, LifeEv)> = pop
            .subs
            .iter()
            .enumerate()
            .flat_map(|(i, sub)| {
                sub.events
                    .iter()
                    .filter(|e| e.kind == Kind::Cancel && sub.active_at(e.t - SEC))
                    .map(move |e| (i, *e))
            })
            .collect();
        let k = (n / 500).max(2).min(cancels.len());
        for c in index::sample(master, cancels.len(), k).into_vec() {
            let (i, cancel) = cancels[c];
            let plan = other_plan(master, pop.subs[i].plan_at(cancel.t - SEC));
            pop.subs[i].events.push(LifeEv {
                kind: Kind::Change,
                plan,
                ..cancel
            });
            inj.same_time_events += 1;
        }
    }
    for sub in &mut pop.subs {
        sub.events.sort_by_key(|e| e.t);
    }
}

fn render_subscription(
    ctx: &Ctx,
    b: &mut Vec<u8>,
    id: u64,
    sub: u32,
    e: &LifeEv,
    country: Option<&str>,
) {
    b.extend_from_slice(b"{\"event_id\":\"se-");
    push_hex(b, id);
    b.extend_from_slice(b"\",\"event_time\":\"");
    ctx.clock.push_ts(b, e.t, e.style);
    b.extend_from_slice(b"\",\"subscriber_id\":\"");
    push_sub_id(b, sub);
    b.extend_from_slice(match e.kind {
        Kind::Signup => b"\",\"type\":\"signup\"",
        Kind::Change => b"\",\"type\":\"plan_change\"",
        Kind::Cancel => b"\",\"type\":\"cancel\"",
    });
    if e.kind != Kind::Cancel {
        b.extend_from_slice(b",\"plan_id\":\"");
        b.extend_from_slice(PLANS[e.plan as usize].id.as_bytes());
        b.push(b'"');
    }
    if let Some(c) = country {
        b.extend_from_slice(b",\"country\":\"");
        b.extend_from_slice(c.as_bytes());
        b.push(b'"');
    }
    b.push(b'}');
}

pub(crate) fn write_subscriptions(
    ctx: &Ctx,
    pop: &Population,
    dir: &Path,
    inj: &mut Injected,
) -> Result<FeedStats, GenerateError> {
    let f = ctx.faults;
    let mut lines = Lines::new();
    for (i, sub) in pop.subs.iter().enumerate() {
        let mut r = rng(ctx.seed, STREAM_SUB_WRITE, i as u64, 0);
        let code = COUNTRIES[sub.country as usize].code;
        for (k, e) in sub.events.iter().enumerate() {
            let id = event_hex(ctx.seed, NS_SUBSCRIPTION, ((i as u64) << 8) | k as u64);
            let country = match e.kind {
                Kind::Signup => true,
                Kind::Change => chance(&mut r, 0.5),
                Kind::Cancel => chance(&mut r, 0.3),
            };
            let h = lines.push(e.t, |b| {
                render_subscription(ctx, b, id, i as u32, e, country.then_some(code))
            });
            // Churn that reaches the platform late.
            if f.late_events
                && e.kind == Kind::Cancel
                && (inj.late_events == 0 || chance(&mut r, 0.03))
            {
                lines.set_key(h, e.t + between(&mut r, 6 * HOUR, 3 * DAY));
                inj.late_events += 1;
            }
            if f.duplicates && (i == 0 || chance(&mut r, 0.006)) {
                lines.repeat(h, e.t + between(&mut r, MIN, DAY));
                inj.duplicate_events += 1;
            }
        }
    }
    for &(sub, t) in &pop.phantom_cancels {
        let e = LifeEv {
            t,
            kind: Kind::Cancel,
            plan: 0,
            style: Ts::Z,
        };
        let id = event_hex(ctx.seed, NS_SUBSCRIPTION, u64::from(sub) << 8);
        lines.push(t, |b| render_subscription(ctx, b, id, sub, &e, None));
    }
    if f.malformed_records {
        let mut r = rng(ctx.seed, STREAM_SUB_WRITE, u64::MAX, 1);
        let kinds = [
            Bad::Replace("type", "\"pause\"".into()),
            Bad::Remove("subscriber_id"),
            Bad::Replace("event_time", "\"2026-10-07 18:22\"".into()),
            Bad::Replace("plan_id", "42".into()),
            Bad::Add("\"schema_version\":2"),
            Bad::NotJson("subscription_event{type=signup, plan=standard_monthly}"),
            Bad::Truncate,
            Bad::Remove("plan_id"),
            Bad::Replace("event_time", "1759700000".into()),
            Bad::Remove("event_id"),
        ];
        let k = (ctx.n as usize / 1000).max(kinds.len());
        let mut scratch = Vec::new();
        for j in 0..k {
            let i = r.random_range(0..pop.subs.len());
            let t = between(&mut r, ctx.start, ctx.end);
            let e = LifeEv {
                t,
                kind: Kind::Signup,
                plan: 1,
                style: Ts::Z,
            };
            let id = event_hex(ctx.seed, NS_SUBSCRIPTION, (1 << 62) | j as u64);
            scratch.clear();
            render_subscription(ctx, &mut scratch, id, i as u32, &e, Some("US"));
            lines.push_malformed(t, &corrupt(&scratch, &kinds[j % kinds.len()]));
        }
    }
    let mut out = FeedOut::create(dir, "subscriptions")?;
    lines.write(&mut out)?;
    out.finish()
}

pub(crate) fn device_hex(ctx: &Ctx, device: u32) -> u64 {
    event_hex(ctx.seed, NS_DEVICE, u64::from(device))
}

pub(crate) fn write_devices(
    ctx: &Ctx,
    pop: &Population,
    dir: &Path,
    inj: &mut Injected,
) -> Result<FeedStats, GenerateError> {
    let mut lines = Lines::new();
    let mut r = rng(ctx.seed, STREAM_DEV_WRITE, 0, 0);
    let render = |b: &mut Vec<u8>, dev: u32, kind: u8, at: i64| {
        b.extend_from_slice(b"{\"device_id\":\"dev-");
        push_hex(b, device_hex(ctx, dev));
        b.extend_from_slice(b"\",\"device_type\":\"");
        b.extend_from_slice(DEVICE_TYPES[kind as usize].name.as_bytes());
        b.extend_from_slice(b"\",\"updated_at\":\"");
        ctx.clock.push_ts(b, at, Ts::Z);
        b.extend_from_slice(b"\"}");
    };
    for (i, d) in pop.devices.iter().enumerate() {
        let at = match d.listing {
            Listing::OnTime => Ts::Z.fit(d.registered),
            Listing::Late(at) => {
                inj.late_device_rows += 1;
                Ts::Z.fit(at)
            }
            Listing::Missing => {
                inj.missing_devices += 1;
                continue;
            }
        };
        lines.push(at, |b| render(b, i as u32, d.kind, at));
        if let Some((at, kind)) = d.retyped {
            lines.push(at, |b| render(b, i as u32, kind, at));
        }
    }
    if ctx.faults.malformed_records {
        let t = between(&mut r, ctx.start, ctx.end);
        let mut scratch = Vec::new();
        render(&mut scratch, 0, 0, t);
        lines.push_malformed(t, &corrupt(&scratch, &Bad::Remove("device_type")));
    }
    let mut out = FeedOut::create(dir, "devices")?;
    lines.write(&mut out)?;
    out.finish()
}
