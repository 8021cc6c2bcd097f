//! Playback heartbeats (`viewing`) and the ad revenue they earn
//! (`ad_revenue`).
//!
//! Viewing is generated one Central day at a time: every session that starts
//! on day d is generated (on all cores, each subscriber-day from its own
//! random stream), merged with what earlier days left pending, sorted by
//! file position, and everything before the next midnight is written. A
//! session that runs past midnight, a late event or a duplicate simply stays
//! pending until its turn.

use std::path::Path;

use rand::Rng;

use crate::clock::{DAY, HOUR, MIN, SEC, Ts};
use crate::corrupt::{Bad, corrupt};
use crate::population::{NS_DEVICE, Population, Role, Sub};
use crate::util::{
    FeedOut, FeedStats, Lines, Prng, between, chance, event_hex, exponential, mix64, push_hex,
    push_money, push_padded, push_u64, rng,
};
use crate::world::{ADDON_AD_FREE, Cur, DEVICE_MOBILE, DEVICE_TYPES, PLANS};
use crate::{Ctx, GenerateError, Injected};

const STREAM_VIEW: u64 = 50;
const STREAM_VIEW_BAD: u64 = 51;
const NS_VIEW: u64 = 52;
const NS_AD: u64 = 53;
const STREAM_AD: u64 = 54;

const DUP_BIT: u64 = 1 << 63;
const BAD_BIT: u64 = 1 << 62;
const NO_RECEIPT: i64 = i64::MIN;
const APP_VERSION: u8 = 1 << 2;
/// Events per subscriber-day are numbered in 12 bits.
const SEQ_CAP: u32 = 4000;
/// Ad revenue per hour watched on an ad-supported plan, in USD.
const AD_USD_PER_HOUR: f64 = 0.045;

#[derive(Clone, Copy)]
struct Ev {
    /// File position (milliseconds): the event time, or later for late and
    /// duplicated events.
    sort: i64,
    /// `sub << 24 | day << 12 | seq`, plus `DUP_BIT` on the repeat of a
    /// duplicate; unique, so sorting by `(sort, key)` is total.
    key: u64,
    time: i64,
    received: i64,
    sub: u32,
    device: u32,
    content: u32,
    watch: u32,
    position: u32,
    duration: u32,
    /// Bits 0-1: timestamp style; bit 2: app_version; bits 4-7: malformed
    /// kind + 1.
    flags: u8,
}

#[derive(Default)]
struct DayStats {
    late: u64,
    duplicates: u64,
    impossible_days: u64,
}

struct Ad {
    t: i64,
    sub: u32,
    day: i32,
    cur: Cur,
    units: i64,
}

struct Gen<'a> {
    ctx: &'a Ctx,
    pop: &'a Population,
    app_version_from: i32,
}

/// One subscriber-day in the making.
struct SubDay<'a> {
    r: Prng,
    out: &'a mut Vec<Ev>,
    stats: &'a mut DayStats,
    sub: u32,
    day: i32,
    seq: u32,
}

impl SubDay<'_> {
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        g: &Gen<'_>,
        device: u32,
        content: u32,
        t: i64,
        watch: u32,
        position: u32,
        duration: u32,
        late: Option<i64>,
        flags: u8,
    ) {
        let key = (u64::from(self.sub) << 24) | (self.day as u64) << 12 | u64::from(self.seq);
        self.seq += 1;
        let r = &mut self.r;
        // Most events reach the platform within seconds; mobile clients
        // sometimes buffer for minutes.
        let skew = match r.random_range(0..100) {
            0..80 => r.random_range(1_000..20_000),
            80..97 => r.random_range(20_000..300_000),
            _ => r.random_range(300_000..3_600_000),
        };
        let mut ev = Ev {
            sort: t,
            key,
            time: t,
            received: if r.random_range(0..100) < 3 {
                NO_RECEIPT
            } else {
                t + skew
            },
            sub: self.sub,
            device,
            content,
            watch,
            position,
            duration,
            flags,
        };
        let f = g.ctx.faults;
        let late = late.or_else(|| {
            (f.late_events && r.random_range(0..10_000) < 12).then(|| {
                if r.random_bool(0.7) {
                    between(r, HOUR, 6 * HOUR)
                } else {
                    between(r, DAY, 3 * DAY)
                }
            })
        });
        if let Some(delay) = late {
            ev.sort = t + delay;
            ev.received = ev.sort + r.random_range(1_000..30_000);
            self.stats.late += 1;
        }
        self.out.push(ev);
        if f.duplicates && r.random_range(0..10_000) < 40 {
            let mut dup = ev;
            dup.key |= DUP_BIT;
            dup.sort += if r.random_range(0..5) == 0 {
                between(r, DAY, 2 * DAY)
            } else {
                between(r, SEC, 2 * HOUR)
            };
            self.out.push(dup);
            self.stats.duplicates += 1;
        }
    }
}

impl Gen<'_> {
    /// Generates the sessions subscriber `s` starts on day `d`; returns the
    /// seconds watched.
    fn sub_day(&self, s: u32, d: i32, out: &mut Vec<Ev>, stats: &mut DayStats) -> u64 {
        let ctx = self.ctx;
        let sub = &self.pop.subs[s as usize];
        let lo = ctx.clock.day_start(d);
        let hi = ctx.clock.day_start(d + 1);
        if !sub.active_during(lo, hi) {
            return 0;
        }
        let mut sd = SubDay {
            r: rng(ctx.seed, STREAM_VIEW, u64::from(s), d as u64),
            out,
            stats,
            sub: s,
            day: d,
            seq: 0,
        };
        if sub.role == Role::Bot {
            return self.bot_day(sub, &mut sd, lo, hi);
        }
        let weekend = ctx.clock.weekday(d) >= 5;
        let p = (f64::from(sub.p_active) * if weekend { 1.12 } else { 1.0 }).min(0.97);
        if !chance(&mut sd.r, p) {
            return 0;
        }
        let r = &mut sd.r;
        let n_sessions = match r.random_range(0..100) {
            0..72 => 1,
            72..94 => 2,
            _ => 3,
        };
        let mut starts = [0i64; 3];
        let pref = (sub.pref_min + r.random_range(-45..=45)).rem_euclid(24 * 60);
        starts[n_sessions - 1] = lo + i64::from(pref) * MIN + r.random_range(0..60) * SEC;
        for st in starts.iter_mut().take(n_sessions - 1) {
            *st = lo + between(r, 7 * HOUR, 18 * HOUR) / SEC * SEC;
        }
        starts[..n_sessions].sort_unstable();
        let mut watched = 0u64;
        let mut free = lo;
        for &st in &starts[..n_sessions] {
            let st = st.max(free);
            if st >= hi || !sub.active_at(st) || sd.seq >= SEQ_CAP {
                continue;
            }
            let k = if sd.r.random_bool(0.6) {
                0
            } else {
                sd.r.random_range(0..u32::from(sub.dev_n))
            };
            let end = self.session(sub, &mut sd, sub.dev_lo + k, st, &mut watched);
            free = end + between(&mut sd.r, 31 * MIN, 3 * HOUR) / SEC * SEC;
        }
        watched
    }

    fn session(
        &self,
        sub: &Sub,
        sd: &mut SubDay<'_>,
        device: u32,
        start: i64,
        watched: &mut u64,
    ) -> i64 {
        let ctx = self.ctx;
        let dev = &self.pop.devices[device as usize];
        let (hb_lo, hb_hi) = DEVICE_TYPES[dev.kind as usize].heartbeat;
        let mut flags = dev.style.to_bits();
        if dev.kind == DEVICE_MOBILE && sd.day >= self.app_version_from && sd.sub.is_multiple_of(3)
        {
            flags |= APP_VERSION;
        }
        // What is printed is what is sorted: whole seconds unless the device
        // prints milliseconds.
        let mut t = if dev.style.has_ms() {
            start + sd.r.random_range(0..1000)
        } else {
            start / SEC * SEC
        };
        let mut budget = (exponential(&mut sd.r, 18.0 * 60.0) as i64).clamp(180, 5 * 3600);
        // Watched offline on a phone and uploaded hours or days later.
        let offline =
            (ctx.faults.late_events && dev.kind == DEVICE_MOBILE && sd.r.random_range(0..1000) < 4)
                .then(|| between(&mut sd.r, 2 * HOUR, 2 * DAY));
        let mut first = true;
        loop {
            let r = &mut sd.r;
            let content = if r.random_bool(0.5) {
                sub.favorites[r.random_range(0..4)]
            } else {
                ctx.library.pick(r)
            };
            let duration = ctx.library.duration[content as usize];
            let mut position = if r.random_range(0..4) == 0 {
                r.random_range(0..duration * 8 / 10)
            } else {
                0
            };
            // Most plays run to the credits; some are abandoned.
            let stop = if r.random_range(0..100) < 90 {
                duration - r.random_range(0..=duration / 14)
            } else {
                r.random_range(duration / 10..duration)
            };
            let stop = stop.max(position + 60).min(duration);
            if first || r.random_range(0..10) < 4 {
                sd.emit(
                    self, device, content, t, 0, position, duration, offline, flags,
                );
            }
            first = false;
            loop {
                let r = &mut sd.r;
                let hb = r.random_range(hb_lo..=hb_hi);
                let (mut gap, mut watch) = match r.random_range(0..10_000) {
                    // Paused for exactly half an hour: still one session.
                    0..5 => (1800, hb),
                    5..250 => (hb + r.random_range(120..1500), hb),
                    250..550 => (hb, 0),
                    550..750 => (hb, r.random_range(1..hb)),
                    _ => (hb, hb),
                };
                let remaining = stop.saturating_sub(position);
                let finished = watch >= remaining;
                if finished {
                    watch = remaining;
                    if gap != 1800 {
                        gap = watch.max(1) + r.random_range(0..3);
                    }
                }
                t += i64::from(gap) * SEC;
                position += watch;
                budget -= i64::from(watch);
                *watched += u64::from(watch);
                sd.emit(
                    self, device, content, t, watch, position, duration, offline, flags,
                );
                // Out of time, a viewer still finishes a play that is nearly done.
                if finished || sd.seq >= SEQ_CAP || (budget <= 0 && stop - position > 1800) {
                    break;
                }
                if sd.r.random_range(0..100) == 0 {
                    position = sd.r.random_range(0..stop);
                }
            }
            if budget <= 0 || sd.seq >= SEQ_CAP {
                return t;
            }
            t += sd.r.random_range(5..45) * SEC;
        }
    }

    /// Three devices playing around the clock, each reporting an hour of
    /// playback every 20 to 25 minutes.
    fn bot_day(&self, sub: &Sub, sd: &mut SubDay<'_>, lo: i64, hi: i64) -> u64 {
        if sd.day != 0 && sd.r.random_range(0..100) >= 85 {
            return 0;
        }
        let content = sub.favorites[0];
        let duration = self.ctx.library.duration[content as usize];
        let mut watched = 0u64;
        for k in 0..u32::from(sub.dev_n) {
            let device = sub.dev_lo + k;
            let flags = self.pop.devices[device as usize].style.to_bits();
            let mut t = lo + between(&mut sd.r, 0, 20 * MIN) / SEC * SEC;
            if Ts::from_bits(flags).has_ms() {
                t += sd.r.random_range(0..1000);
            }
            let mut position = 0;
            while t < hi && sd.seq < SEQ_CAP {
                position = (position + 3600) % duration;
                sd.emit(
                    self, device, content, t, 3600, position, duration, None, flags,
                );
                watched += 3600;
                t += between(&mut sd.r, 1200, 1500) * SEC;
            }
        }
        if watched > 86_400 {
            sd.stats.impossible_days += 1;
        }
        watched
    }

    /// Subscribers `lo..hi` on day `d`: their events and ad impressions.
    fn chunk(&self, d: i32, lo: u32, hi: u32) -> (Vec<Ev>, Vec<Ad>, DayStats) {
        let ctx = self.ctx;
        let mut out = Vec::new();
        let mut ads = Vec::new();
        let mut stats = DayStats::default();
        let day_end = ctx.clock.day_start(d + 1);
        for s in lo..hi {
            let watched = self.sub_day(s, d, &mut out, &mut stats);
            let sub = &self.pop.subs[s as usize];
            if watched == 0 || sub.role == Role::Bot {
                continue;
            }
            let plan = sub.plan_at(ctx.clock.day_start(d));
            if PLANS[plan as usize].tier > 2 || sub.addons & ADDON_AD_FREE != 0 {
                continue;
            }
            let mut r = rng(ctx.seed, STREAM_AD, u64::from(s), d as u64);
            let cur = sub.cur();
            let usd = watched as f64 / 3600.0 * AD_USD_PER_HOUR * r.random_range(0.6..1.4);
            let units = ((usd / cur.base_usd() * 1e4).round() as i64).max(1);
            let t = day_end - between(&mut r, MIN, HOUR) / SEC * SEC;
            ads.push(Ad {
                t,
                sub: s,
                day: d,
                cur,
                units,
            });
        }
        (out, ads, stats)
    }

    fn render(&self, b: &mut Vec<u8>, e: &Ev, id_salt: u64, dev_salt: u64) {
        let clock = &self.ctx.clock;
        b.extend_from_slice(b"{\"event_id\":\"v-");
        push_hex(b, mix64((e.key & !DUP_BIT) ^ id_salt));
        b.extend_from_slice(b"\",\"event_time\":\"");
        clock.push_ts(b, e.time, Ts::from_bits(e.flags));
        b.extend_from_slice(b"\",\"subscriber_id\":\"sub-");
        push_padded(b, u64::from(e.sub), 8);
        b.extend_from_slice(b"\",\"device_id\":\"dev-");
        push_hex(b, mix64(u64::from(e.device) ^ dev_salt));
        b.extend_from_slice(b"\",\"content_id\":\"ct-");
        push_padded(b, u64::from(e.content), 6);
        b.extend_from_slice(b"\",\"watch_seconds\":");
        push_u64(b, u64::from(e.watch));
        b.extend_from_slice(b",\"position_seconds\":");
        push_u64(b, u64::from(e.position));
        b.extend_from_slice(b",\"duration_seconds\":");
        push_u64(b, u64::from(e.duration));
        if e.received != NO_RECEIPT {
            b.extend_from_slice(b",\"received_at\":\"");
            clock.push_ts(b, e.received, Ts::Z);
            b.push(b'"');
        }
        if e.flags & APP_VERSION != 0 {
            b.extend_from_slice(b",\"app_version\":\"8.2.0\"");
        }
        b.push(b'}');
    }
}

/// The ways a heartbeat arrives broken.
fn viewing_bad(kind: usize, e: &Ev) -> Bad {
    match kind {
        0 => Bad::NotJson("<html><head><title>502 Bad Gateway</title></head></html>"),
        1 => Bad::Truncate,
        2 => Bad::Replace("watch_seconds", format!("\"{}\"", e.watch)),
        3 => Bad::Remove("device_id"),
        4 => Bad::Replace("event_time", "\"2026-13-45T10:00:00Z\"".into()),
        5 => Bad::Add("\"schema_version\":2"),
        6 => Bad::Replace("watch_seconds", "5400".into()),
        7 => Bad::NotObject,
        8 => Bad::Replace("duration_seconds", "0".into()),
        9 => Bad::Replace("subscriber_id", "\"\"".into()),
        10 => Bad::Replace("position_seconds", "-30".into()),
        11 => Bad::Replace("event_time", "\"2026-10-05 14:03:11\"".into()),
        12 => Bad::Remove("event_id"),
        _ => Bad::Replace("watch_seconds", "-12".into()),
    }
}
const VIEWING_BAD_KINDS: usize = 14;

/// What finance needs from viewing.
pub(crate) struct AdTotals {
    /// Ad revenue by month (index into `ctx.months`), USD at true rates.
    pub usd: Vec<f64>,
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(16)
}

/// Sorts events into file order: by `sort`, ties by `key`. A counting sort
/// on the second comes first because a day's events span about 90,000
/// seconds and are spread evenly over them, which leaves only a handful per
/// bucket to compare.
fn sort_events(events: &mut Vec<Ev>, scratch: &mut Vec<Ev>, counts: &mut Vec<u32>) {
    let Some(lo) = events.iter().map(|e| e.sort).min() else {
        return;
    };
    let hi = events.iter().map(|e| e.sort).max().unwrap_or(lo);
    let bucket = |e: &Ev| ((e.sort - lo) / SEC) as usize;
    counts.clear();
    counts.resize(((hi - lo) / SEC) as usize + 2, 0);
    for e in events.iter() {
        counts[bucket(e) + 1] += 1;
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    scratch.clear();
    scratch.resize(events.len(), events[0]);
    for e in events.iter() {
        let slot = &mut counts[bucket(e)];
        scratch[*slot as usize] = *e;
        *slot += 1;
    }
    // counts[b] is now the end of bucket b.
    let mut from = 0;
    for &to in counts.iter() {
        let to = to as usize;
        if to > from + 1 {
            scratch[from..to].sort_unstable_by_key(|e| (e.sort, e.key));
        }
        from = from.max(to);
    }
    std::mem::swap(events, scratch);
}

type Chunk = (Vec<u8>, u64, u64);

/// Events formatted per task; about 8 MB of text.
const RENDER_PIECE: usize = 32 * 1024;

/// Formats events as lines into `b`; returns how many are malformed.
fn render_piece(g: &Gen<'_>, slice: &[Ev], b: &mut Vec<u8>, id_salt: u64, dev_salt: u64) -> u64 {
    b.clear();
    b.reserve(slice.len() * 280);
    let mut bad = 0u64;
    let mut line = Vec::new();
    for e in slice {
        if e.flags >> 4 == 0 {
            g.render(b, e, id_salt, dev_salt);
        } else {
            line.clear();
            g.render(&mut line, e, id_salt, dev_salt);
            b.extend_from_slice(&corrupt(
                &line,
                &viewing_bad(usize::from(e.flags >> 4) - 1, e),
            ));
            bad += 1;
        }
        b.push(b'\n');
    }
    bad
}

pub(crate) fn write(
    ctx: &Ctx,
    pop: &Population,
    dir: &Path,
    inj: &mut Injected,
    bar: &indicatif::ProgressBar,
) -> Result<(Vec<FeedStats>, AdTotals), GenerateError> {
    let out = FeedOut::create(dir, "viewing")?;
    // The file is written on its own thread, so that the disk works while
    // the next day is generated.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(2 * threads());
    let (pool_tx, pool_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<FeedStats, GenerateError> {
            let mut out = out;
            for (bytes, lines, bad) in rx {
                out.chunk(&bytes, lines, bad)?;
                // The generator may be gone already; the buffer is then dropped.
                let _ = pool_tx.send(bytes);
            }
            out.finish()
        });
        let generated = generate_days(ctx, pop, dir, inj, bar, &tx, &pool_rx);
        drop(tx);
        let written = writer.join().expect("viewing file writer panicked");
        // A failed write shows up as a closed channel in the generator:
        // report the writer's error first.
        let viewing = written?;
        let (ad_stats, ads) = generated?;
        Ok((vec![viewing, ad_stats], ads))
    })
}

fn generate_days(
    ctx: &Ctx,
    pop: &Population,
    dir: &Path,
    inj: &mut Injected,
    bar: &indicatif::ProgressBar,
    tx: &std::sync::mpsc::SyncSender<Chunk>,
    pool: &std::sync::mpsc::Receiver<Vec<u8>>,
) -> Result<(FeedStats, AdTotals), GenerateError> {
    let g = Gen {
        ctx,
        pop,
        app_version_from: ctx.days / 2,
    };
    let id_salt = mix64(
        ctx.seed
            .wrapping_add(NS_VIEW.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
    );
    let dev_salt = mix64(
        ctx.seed
            .wrapping_add(NS_DEVICE.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
    );
    debug_assert_eq!(mix64(5 ^ dev_salt), event_hex(ctx.seed, NS_DEVICE, 5));
    let closed = || GenerateError::Io {
        path: Path::new("viewing.jsonl").to_path_buf(),
        source: std::io::Error::other("the viewing writer stopped"),
    };
    let mut ad_lines = Lines::new();
    let mut ad_usd = vec![0.0; ctx.months.len()];
    let mut ad_r = rng(ctx.seed, STREAM_AD, u64::MAX, 0);
    let late_ad_day = ctx.days / 2;
    let n_threads = threads();
    let n = ctx.n;
    let mut pending: Vec<Ev> = Vec::new();
    let mut flush: Vec<Ev> = Vec::new();
    let mut sorted: Vec<Ev> = Vec::new();
    let mut counts: Vec<u32> = Vec::new();
    let mut bad_counter = 0u64;
    let mut scratch = Vec::new();
    for d in 0..ctx.days {
        let per = n.div_ceil(n_threads as u32).max(1);
        let parts: Vec<(Vec<Ev>, Vec<Ad>, DayStats)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n_threads as u32)
                .map(|k| {
                    let g = &g;
                    scope.spawn(move || g.chunk(d, (k * per).min(n), ((k + 1) * per).min(n)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("viewing worker panicked"))
                .collect()
        });
        for (evs, ads, stats) in parts {
            pending.extend_from_slice(&evs);
            inj.late_events += stats.late;
            inj.late_viewing_events += stats.late;
            inj.duplicate_events += stats.duplicates;
            inj.duplicate_viewing_events += stats.duplicates;
            inj.impossible_days += stats.impossible_days;
            for ad in ads {
                let id = event_hex(ctx.seed, NS_AD, (u64::from(ad.sub) << 16) | ad.day as u64);
                let mi = ctx
                    .month_index(ad.day)
                    .expect("a viewing day lies in a month of the range");
                ad_usd[mi] += ad.units as f64 / 1e4 * ctx.fx.usd(ad.cur, ad.day);
                let h = ad_lines.push(ad.t, |b| render_ad(ctx, b, id, &ad));
                // The ad server's batch for one day lands two days late.
                if ctx.faults.late_events && (ad.day == late_ad_day || chance(&mut ad_r, 0.005)) {
                    ad_lines.set_key(h, ad.t + 2 * DAY + between(&mut ad_r, 0, HOUR));
                    inj.late_events += 1;
                }
                if ctx.faults.duplicates && chance(&mut ad_r, 0.003) {
                    ad_lines.repeat(h, ad.t + between(&mut ad_r, MIN, 6 * HOUR));
                    inj.duplicate_events += 1;
                }
            }
        }
        if ctx.faults.malformed_records {
            let mut r = rng(ctx.seed, STREAM_VIEW_BAD, d as u64, 0);
            let k = if d == 0 {
                VIEWING_BAD_KINDS
            } else {
                (1 + n as usize / 5000).min(40)
            };
            let lo = ctx.clock.day_start(d);
            let hi = ctx.clock.day_start(d + 1);
            for _ in 0..k {
                let s = r.random_range(0..n);
                let sub = &pop.subs[s as usize];
                let content = ctx.library.pick(&mut r);
                let duration = ctx.library.duration[content as usize];
                let t = between(&mut r, lo, hi) / SEC * SEC;
                let kind = (bad_counter % VIEWING_BAD_KINDS as u64) as u8;
                pending.push(Ev {
                    sort: t,
                    key: BAD_BIT | bad_counter,
                    time: t,
                    received: t + 4 * SEC,
                    sub: s,
                    device: sub.dev_lo,
                    content,
                    watch: r.random_range(30..300),
                    position: r.random_range(0..duration),
                    duration,
                    flags: (kind + 1) << 4,
                });
                bad_counter += 1;
            }
        }
        // Everything before the next midnight can be written: later days
        // only add sessions that start after it.
        let limit = if d + 1 == ctx.days {
            i64::MAX
        } else {
            ctx.clock.day_start(d + 1)
        };
        flush.clear();
        pending.retain(|e| {
            let now = e.sort < limit;
            if now {
                flush.push(*e);
            }
            !now
        });
        sort_events(&mut flush, &mut sorted, &mut counts);
        // Formatting is the hot loop: split it across threads, in pieces
        // small enough that the writer's queue holds little memory.
        for wave in flush.chunks(RENDER_PIECE * n_threads) {
            let slices: Vec<&[Ev]> = wave.chunks(RENDER_PIECE).collect();
            let mut bufs: Vec<Vec<u8>> = slices
                .iter()
                .map(|_| pool.try_recv().unwrap_or_default())
                .collect();
            let bad: Vec<u64> = std::thread::scope(|scope| {
                let handles: Vec<_> = slices
                    .iter()
                    .zip(bufs.iter_mut())
                    .map(|(slice, b)| {
                        let g = &g;
                        scope.spawn(move || render_piece(g, slice, b, id_salt, dev_salt))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("viewing formatter panicked"))
                    .collect()
            });
            for ((slice, bytes), bad) in slices.iter().zip(bufs).zip(bad) {
                tx.send((bytes, slice.len() as u64, bad))
                    .map_err(|_| closed())?;
            }
        }
        bar.inc(1);
    }
    let mut ad_out = FeedOut::create(dir, "ad_revenue")?;
    if ctx.faults.malformed_records {
        let kinds = [
            Bad::Replace("amount", "-0.05".into()),
            Bad::Replace("amount", "\"0.12\"".into()),
            Bad::Replace("currency", "\"usd\"".into()),
            Bad::Remove("subscriber_id"),
        ];
        for (j, bad) in kinds.iter().enumerate() {
            let day = ad_r.random_range(0..ctx.days);
            let ad = Ad {
                t: ctx.clock.day_start(day) + 20 * HOUR,
                sub: j as u32,
                day,
                cur: Cur::Usd,
                units: 1200,
            };
            scratch.clear();
            render_ad(
                ctx,
                &mut scratch,
                event_hex(ctx.seed, NS_AD, (1 << 62) | j as u64),
                &ad,
            );
            ad_lines.push_malformed(ad.t, &corrupt(&scratch, bad));
        }
    }
    ad_lines.write(&mut ad_out)?;
    Ok((ad_out.finish()?, AdTotals { usd: ad_usd }))
}

fn render_ad(ctx: &Ctx, b: &mut Vec<u8>, id: u64, ad: &Ad) {
    b.extend_from_slice(b"{\"event_id\":\"ad-");
    push_hex(b, id);
    b.extend_from_slice(b"\",\"event_time\":\"");
    ctx.clock.push_ts(b, ad.t, Ts::Z);
    b.extend_from_slice(b"\",\"subscriber_id\":\"sub-");
    push_padded(b, u64::from(ad.sub), 8);
    b.extend_from_slice(b"\",\"amount\":");
    push_money(b, ad.units);
    b.extend_from_slice(b",\"currency\":\"");
    b.extend_from_slice(ad.cur.code().as_bytes());
    b.extend_from_slice(b"\"}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_sort_matches_a_full_sort() {
        let mut r = rng(7, 0, 0, 0);
        let mut events: Vec<Ev> = (0..20_000u64)
            .map(|k| {
                let t = 1_790_000_000_000 + r.random_range(0..3 * DAY);
                Ev {
                    sort: if k % 7 == 0 { t } else { t / SEC * SEC },
                    key: r.random::<u64>(),
                    time: t,
                    received: NO_RECEIPT,
                    sub: 0,
                    device: 0,
                    content: 0,
                    watch: 0,
                    position: 0,
                    duration: 1,
                    flags: 0,
                }
            })
            .collect();
        let mut expected: Vec<(i64, u64)> = events.iter().map(|e| (e.sort, e.key)).collect();
        expected.sort_unstable();
        sort_events(&mut events, &mut Vec::new(), &mut Vec::new());
        let got: Vec<(i64, u64)> = events.iter().map(|e| (e.sort, e.key)).collect();
        assert_eq!(got, expected);
    }
}
