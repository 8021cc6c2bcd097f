//! Who is flagged and who is in which experiment: `account_flags` and
//! `experiment_assignments`.

use std::path::Path;

use rand::Rng;
use rand::seq::index;

use crate::clock::{DAY, HOUR, MIN, SEC, Ts};
use crate::corrupt::{Bad, corrupt};
use crate::population::{Population, Role, push_sub_id};
use crate::util::{FeedOut, FeedStats, Lines, Prng, between, chance, event_hex, push_hex, rng};
use crate::world::{ADDON_AD_FREE, plan_tier};
use crate::{Ctx, GenerateError, Injected};

const STREAM_FLAGS: u64 = 20;
const STREAM_EXP: u64 = 21;
const NS_FLAG: u64 = 30;
const NS_ASSIGN: u64 = 31;

const FLAGS: [&str; 4] = ["bot", "spam", "fraud", "test"];

fn render_flag(ctx: &Ctx, b: &mut Vec<u8>, id: u64, sub: u32, t: i64, style: Ts, flag: &str) {
    b.extend_from_slice(b"{\"event_id\":\"af-");
    push_hex(b, id);
    b.extend_from_slice(b"\",\"event_time\":\"");
    ctx.clock.push_ts(b, t, style);
    b.extend_from_slice(b"\",\"subscriber_id\":\"");
    push_sub_id(b, sub);
    b.extend_from_slice(b"\",\"flag\":\"");
    b.extend_from_slice(flag.as_bytes());
    b.extend_from_slice(b"\"}");
}

/// A flag time in `[lo, ctx.end)`, or just before the end when `lo` is past it.
fn flag_time(r: &mut Prng, ctx: &Ctx, lo: i64, hi: i64) -> i64 {
    let hi = hi.min(ctx.end - MIN);
    if lo >= hi {
        hi.max(lo.min(ctx.end - MIN))
    } else {
        between(r, lo, hi)
    }
}

pub(crate) fn write_flags(
    ctx: &Ctx,
    pop: &Population,
    dir: &Path,
    inj: &mut Injected,
) -> Result<FeedStats, GenerateError> {
    let mut out = FeedOut::create(dir, "account_flags")?;
    if !ctx.faults.flagged_accounts {
        // Bots stay, unflagged: impossible days are their only trace.
        inj.unflagged_bots = pop.bots.len() as u64;
        return out.finish();
    }
    let mut r = rng(ctx.seed, STREAM_FLAGS, 0, 0);
    // (subscriber, time, flag)
    let mut flags: Vec<(u32, i64, usize)> = Vec::new();
    for (j, &b) in pop.bots.iter().enumerate() {
        if j == 0 {
            inj.unflagged_bots += 1;
            continue;
        }
        let t = flag_time(&mut r, ctx, ctx.start + DAY, ctx.end);
        flags.push((b, t, 0));
    }
    for &f in &pop.fraud {
        let signup = pop.subs[f as usize].signup;
        let t = flag_time(&mut r, ctx, signup + 3 * DAY, signup + 6 * DAY).max(signup + MIN);
        flags.push((f, t, 2));
    }
    let n = pop.subs.len();
    for i in index::sample(&mut r, n, n * 16 / 1000).into_vec() {
        let sub = &pop.subs[i];
        if sub.role != Role::Normal {
            continue;
        }
        let flag = [1, 1, 1, 2, 2, 3][r.random_range(0..6)];
        let t = if flag == 3 {
            sub.signup + between(&mut r, 2 * MIN, 30 * MIN)
        } else {
            // Trust and safety catches up after the account has been used.
            flag_time(&mut r, ctx, sub.signup.max(ctx.start) + HOUR, ctx.end)
        };
        flags.push((i as u32, t, flag));
    }
    let first_pass = flags.len();
    for k in 0..first_pass {
        if chance(&mut r, 0.05) {
            let (s, t, flag) = flags[k];
            let later = t + between(&mut r, HOUR, 5 * DAY);
            if later < ctx.end {
                flags.push((s, later, (flag + 1 + r.random_range(0..3)) % 4));
            }
        }
    }
    let mut flagged: Vec<u32> = flags.iter().map(|f| f.0).collect();
    flagged.sort_unstable();
    flagged.dedup();
    inj.flagged_subscribers = flagged.len() as u64;

    let mut lines = Lines::new();
    for (k, &(s, t, flag)) in flags.iter().enumerate() {
        let style = Ts::pick(&mut r);
        let t = style.fit(t / SEC * SEC + r.random_range(0..1000));
        let id = event_hex(ctx.seed, NS_FLAG, k as u64);
        let h = lines.push(t, |b| render_flag(ctx, b, id, s, t, style, FLAGS[flag]));
        if ctx.faults.duplicates && (k == 0 || chance(&mut r, 0.03)) {
            lines.repeat(h, t + between(&mut r, MIN, 12 * HOUR));
            inj.duplicate_events += 1;
        }
    }
    if ctx.faults.malformed_records {
        let kinds = [
            Bad::Replace("flag", "\"robot\"".into()),
            Bad::Remove("subscriber_id"),
            Bad::Replace("event_time", "1760000000".into()),
        ];
        let mut scratch = Vec::new();
        for (j, bad) in kinds.iter().enumerate() {
            let t = between(&mut r, ctx.start, ctx.end);
            scratch.clear();
            let id = event_hex(ctx.seed, NS_FLAG, (1 << 62) | j as u64);
            render_flag(
                ctx,
                &mut scratch,
                id,
                r.random_range(0..ctx.n),
                t,
                Ts::Z,
                "spam",
            );
            lines.push_malformed(t, &corrupt(&scratch, bad));
        }
    }
    lines.write(&mut out)?;
    out.finish()
}

struct Experiment {
    id: &'static str,
    variants: &'static [&'static str],
}

const EXPERIMENTS: [Experiment; 3] = [
    Experiment {
        id: "exp_reco_v2",
        variants: &["control", "treatment"],
    },
    Experiment {
        id: "exp_ad_format",
        variants: &["control", "preroll", "midroll"],
    },
    Experiment {
        id: "exp_playback_ui",
        variants: &["control", "new_controls"],
    },
];

fn render_assignment(
    ctx: &Ctx,
    b: &mut Vec<u8>,
    id: u64,
    sub: u32,
    t: i64,
    style: Ts,
    (exp, variant): (usize, usize),
) {
    b.extend_from_slice(b"{\"event_id\":\"ea-");
    push_hex(b, id);
    b.extend_from_slice(b"\",\"event_time\":\"");
    ctx.clock.push_ts(b, t, style);
    b.extend_from_slice(b"\",\"subscriber_id\":\"");
    push_sub_id(b, sub);
    b.extend_from_slice(b"\",\"experiment_id\":\"");
    b.extend_from_slice(EXPERIMENTS[exp].id.as_bytes());
    b.extend_from_slice(b"\",\"variant\":\"");
    b.extend_from_slice(EXPERIMENTS[exp].variants[variant].as_bytes());
    b.extend_from_slice(b"\"}");
}

pub(crate) fn write_experiments(
    ctx: &Ctx,
    pop: &Population,
    dir: &Path,
    inj: &mut Injected,
) -> Result<FeedStats, GenerateError> {
    let f = ctx.faults;
    // The recommendation test has run for two weeks and backfilled everyone;
    // the ad test starts with the range; the player test a third of the way in.
    let launch = [
        ctx.start - 14 * DAY,
        ctx.start,
        ctx.clock.day_start(ctx.days / 3),
    ];
    let mut lines = Lines::new();
    let mut scratch = Vec::new();
    for (i, sub) in pop.subs.iter().enumerate() {
        let mut r = rng(ctx.seed, STREAM_EXP, i as u64, 0);
        // Never reach the assignment service: coverage stays near 98 %.
        if chance(&mut r, 0.02) {
            continue;
        }
        for (e, exp) in EXPERIMENTS.iter().enumerate() {
            let t = if sub.signup < launch[e] {
                launch[e] + between(&mut r, 0, 8 * HOUR)
            } else {
                sub.signup + between(&mut r, SEC, 300 * SEC)
            };
            let eligible = match e {
                0 => true,
                1 => {
                    sub.active_at(t)
                        && plan_tier(sub.plan_at(t)) <= 2
                        && sub.addons & ADDON_AD_FREE == 0
                }
                _ => sub.active_at(t) && r.random_bool(0.5),
            };
            if !eligible || t >= ctx.end {
                continue;
            }
            let style = Ts::pick(&mut r);
            let t = style.fit(t);
            let variant = (event_hex(ctx.seed, NS_ASSIGN + 1 + e as u64, i as u64)
                % exp.variants.len() as u64) as usize;
            let key = ((i as u64) << 4) | (e as u64) << 1;
            let id = event_hex(ctx.seed, NS_ASSIGN, key);
            let h = lines.push(t, |b| {
                render_assignment(ctx, b, id, i as u32, t, style, (e, variant))
            });
            // Delayed experiment logs.
            if f.late_events && chance(&mut r, 0.01) {
                lines.set_key(h, t + between(&mut r, 2 * HOUR, 2 * DAY));
                inj.late_events += 1;
            }
            if f.duplicates && chance(&mut r, 0.004) {
                lines.repeat(h, t + between(&mut r, SEC, 6 * HOUR));
                inj.duplicate_events += 1;
            }
            // A later assignment to another variant, which must be ignored.
            if f.duplicates && (inj.conflicting_assignments == 0 || chance(&mut r, 0.003)) {
                let later = (t + between(&mut r, HOUR, 5 * DAY))
                    .min(ctx.end - SEC)
                    .max(t + SEC);
                let other =
                    (variant + 1 + r.random_range(0..exp.variants.len() - 1)) % exp.variants.len();
                let id = event_hex(ctx.seed, NS_ASSIGN, key | 1);
                lines.push(later, |b| {
                    render_assignment(ctx, b, id, i as u32, later, Ts::Z, (e, other))
                });
                inj.conflicting_assignments += 1;
            }
        }
    }
    if f.malformed_records {
        let mut r = rng(ctx.seed, STREAM_EXP, u64::MAX, 0);
        let kinds = [
            Bad::Remove("variant"),
            Bad::Replace("experiment_id", "7".into()),
            Bad::Replace("event_time", "\"2026-10-05T24:10:00Z\"".into()),
            Bad::NotObject,
        ];
        for (j, bad) in kinds.iter().enumerate() {
            let t = between(&mut r, ctx.start, ctx.end);
            scratch.clear();
            let id = event_hex(ctx.seed, NS_ASSIGN, (1 << 62) | j as u64);
            render_assignment(
                ctx,
                &mut scratch,
                id,
                r.random_range(0..ctx.n),
                t,
                Ts::Z,
                (0, 0),
            );
            lines.push_malformed(t, &corrupt(&scratch, bad));
        }
    }
    let mut out = FeedOut::create(dir, "experiment_assignments")?;
    lines.write(&mut out)?;
    out.finish()
}
