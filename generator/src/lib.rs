//! A deterministic synthetic Streamflix: every input feed of the feed
//! contract as JSONL files, with the faults the runbooks warn about.
//!
//! [`generate`] writes `OUT/<feed>.jsonl` for each of the fourteen [`FEEDS`],
//! with exactly the field names and types of the feed contract. The same
//! [`GeneratorConfig`] always gives byte-identical files (every random draw
//! comes from a ChaCha stream keyed by the seed and by what is being
//! generated; nothing depends on hash order, thread count or the clock);
//! another seed gives other files. Lines are in event-time order within each
//! feed, except the late and duplicated records placed later on purpose.
//! Timestamps are RFC 3339, mostly `Z`, some with the Central offset
//! (`-05:00`/`-06:00`) and some with milliseconds; what is printed is
//! exactly the instant that was generated and sorted on.
//!
//! # The world
//!
//! Time runs over `days` Central (America/Chicago) days from `start`
//! (default Monday 2026-10-05); with 28 days the range ends on 2026-11-01,
//! the day daylight saving time ends.
//!
//! * **Subscribers** `sub-00000000 ..`: a base (about 86 % with 28 days)
//!   signs up over the 56 days before `start`, the rest during the range.
//!   Each has a country (US, CA, MX: USD; BR: BRL; GB: GBP; DE, FR, ES: EUR;
//!   JP: JPY), a plan, add-ons, one to four devices, favourite titles, a
//!   preferred evening hour in its local time and an activity level. They
//!   cancel (about 0.12 % a day), come back (a new `signup` after a
//!   `cancel`), upgrade and downgrade (`plan_change`, including monthly to
//!   annual of the same tier).
//! * **Plans** (`plan_catalog`): `basic_monthly` (tier 1),
//!   `standard_monthly` (2), `premium_monthly` (3), `standard_annual` (2)
//!   and `premium_annual` (3), whose monthly price is the year's price / 12,
//!   each in USD, EUR, GBP, BRL and JPY. `standard_monthly` USD has a later
//!   price row (15.49 to 16.99) and `premium_monthly` EUR a later row
//!   (19.99 to 20.99) that comes first in the file; billing uses the later
//!   prices.
//! * **Viewing**: on a day a subscriber is subscribed it is active with its
//!   own probability (about 55 % of subscribers a day), and plays one to
//!   three sessions, mostly in its local evening (so sessions cross Central
//!   midnight), on its devices (`tv`, `mobile`, `web`, `tablet`, `console`).
//!   A session is a run of plays; a play sends a `watch_seconds = 0` start
//!   event, then a heartbeat every 1 to 5 minutes (by device type) with the
//!   seconds played since the last one, an advancing `position_seconds` and
//!   the title's `duration_seconds`; some stretches are paused (0 or a few
//!   seconds played), some pauses last 2 to 25 minutes and a few exactly
//!   30 minutes (1800 s: one session). About half the plays reach 90 % of
//!   the title. `received_at` is 1 to 20 s after `event_time` for most
//!   events, up to an hour for some, and absent on 3 %. Mobile events from
//!   the second half of the range carry an extra `app_version` field.
//! * **Content** (`content_catalog`): `ct-000000 ..` (N/5 titles, 300 to
//!   20,000, Zipf popularity), 35 % originals (`partner_id: null`) and six
//!   partners; two titles changed partner before the range (two rows each).
//! * **Billing**: one charge per subscriber and billing period (calendar
//!   month) for every month holding a day of the range, from the first of
//!   the first month: in the nightly run on the subscriber's cycle day, or
//!   when it (re)subscribes in the month. Currency by country,
//!   `plan_amount` the catalog price, add-ons `live_sports`, `ad_free`,
//!   `extra_stream` at their prices, 0.6 % refunds (full, half, add-ons).
//!   `addons: []` and `refund_amount: 0` are sometimes written, sometimes
//!   left out.
//! * **Ad revenue**: one record per active day of a subscriber on an
//!   ad-supported plan (tier 1 or 2 without `ad_free`), a few cents per
//!   hour watched, in the subscriber's currency.
//! * **Content costs**: two to four lines (`line_item`) per partner and
//!   month, in the partner's currency, adding up to about 3.25 USD per
//!   subscriber and month; **operational costs**: `cdn`, `infra` and
//!   `support` lines per month (one in EUR), about 1.75 USD per subscriber.
//!   Both are scaled to the share of the month the output covers.
//! * **FX rates**: daily, for EUR, GBP, BRL and JPY (USD needs none), from
//!   a week before the first billed day to the last day, a random walk of
//!   six significant digits; one EUR rate is published wrong and corrected
//!   by a later row for the same date.
//! * **Settlements**: per day and currency, the day's charges net of
//!   refunds within ±0.12 % (fees, rounding), plus a small USD chargeback
//!   line after each month's 15th: reconciliation is close, not exact.
//! * **Finance GL**: `revenue`, `content_cost`, `operational_cost` per
//!   month in USD, within ±0.15 % of what the feeds hold at the true rates,
//!   posted after month close (month to date for an open month). The first
//!   month's revenue is first posted 3.1 % too high and corrected by a row
//!   two days later.
//! * **Experiments**: `exp_reco_v2` (control, treatment) for everyone,
//!   `exp_ad_format` (control, preroll, midroll) for ad-supported
//!   subscribers from `start`, `exp_playback_ui` (control, new_controls) for
//!   half of the subscribers from a third of the way in. 2 % of subscribers
//!   are never assigned (coverage about 98 %).
//!
//! # Volumes
//!
//! For `--subscribers 10000 --days 28` (seed 42): 3.24 M lines, 840 MB.
//!
//! | feed | lines | MB |
//! |---|---:|---:|
//! | viewing | 3,053,424 | 814.9 |
//! | ad_revenue | 116,908 | 15.8 |
//! | devices | 22,847 | 2.2 |
//! | experiment_assignments | 21,321 | 3.3 |
//! | subscriptions | 11,343 | 1.8 |
//! | billing | 10,143 | 2.2 |
//! | content_catalog | 1,998 | 0.2 |
//! | account_flags | 229 | 0.03 |
//! | payment_settlements | 164 | 0.01 |
//! | fx_rates | 151 | 0.01 |
//! | content_costs | 35 | |
//! | plan_catalog | 28 | |
//! | operational_costs | 12 | |
//! | finance_gl | 7 | |
//!
//! Viewing is about 11 lines per subscriber-day (18 per active
//! subscriber-day, 270 bytes a line) and scales with subscribers × days;
//! the other event feeds scale with subscribers (billing also with months).
//! Viewing is generated a day at a time on all cores and written by its own
//! thread: well over a million viewing lines a second in release builds.
//! Memory stays near 0.5 GB for 100,000 subscribers.
//!
//! # Faults
//!
//! Each switch of [`Faults`] (all on by default, [`Faults::NONE`] gives a
//! clean, consistent Streamflix) controls the following; the counts are
//! reported in [`GenerateSummary::injected`] under the names given.
//!
//! * `duplicates`: `duplicate_events`: lines repeated byte for byte (same
//!   `event_id`) seconds to two days later in the file: 0.4 % of viewing,
//!   0.6 % of subscriptions, 0.3 % of billing and ad revenue, 0.4 % of
//!   assignments, 3 % of flags, one content cost line, one settlement.
//!   `pk_violations`: 0.15 % of billing records get a second record (other
//!   `event_id`, same subscriber and period, 1 h to 3 days later, add-ons
//!   changed), which is the one in force. `duplicate_signups`: 0.4 % of
//!   subscribers sign up again while subscribed (sometimes another plan).
//!   `conflicting_assignments`: 0.3 % of assignments are followed by one to
//!   another variant.
//! * `flagged_accounts`: `account_flags` holds `flagged_subscribers`: about
//!   1.6 % of subscribers (spam, fraud, test; test accounts flagged at sign
//!   up, the rest after they have been watching; few enough that an
//!   ordinary day's sign-ups still match the log within 2 %), the bots (flag `bot`,
//!   except the first bot), and `fraud_signups`: a burst of sign-ups
//!   (0.4 % of subscribers, basic plan, charged back) at 02:00 on the middle
//!   day of the range, flagged `fraud` 3 to 6 days later. 5 % of flagged
//!   subscribers get a second flag of another kind.
//! * `impossible_days`: `bot_subscribers` (one per 2,500 subscribers, at
//!   least two) play on three devices at once around the clock, an hour of
//!   `watch_seconds` every 20 to 25 minutes per device (about 650,000 s a
//!   day), on 85 % of days and always on day 0: `impossible_days` counts
//!   those subscriber-days. Without `flagged_accounts` no bot is flagged;
//!   with it, `unflagged_bots` (one) stays unflagged.
//! * `late_events`: `late_events`: 0.12 % of viewing events and 0.4 % of
//!   mobile sessions (watched offline) are written 1 h to 3 days after
//!   their event time, with `received_at` then; 3 % of cancels, 1 % of
//!   assignments, 0.2 % of billing records, 0.5 % of ad revenue and the
//!   whole ad-revenue batch of the middle day arrive hours to days late.
//!   `late_viewing_events` and `duplicate_viewing_events` are the viewing
//!   shares of `late_events` and `duplicate_events`.
//!   `late_cost_reports`: one partner (`partner-dunmore`) has no cost lines
//!   for the month the range covers most. `late_device_rows`: 6 % of
//!   secondary devices have their `devices` row dated after their first
//!   plays; `missing_devices`: 0.3 % never get one.
//! * `malformed_records`: `malformed_records` lines a reader must
//!   dead-letter, in every feed but the reference tables `plan_catalog`,
//!   `content_catalog` and `finance_gl`: not JSON, cut-off lines, arrays,
//!   required fields missing or of the wrong type (strings for numbers),
//!   unknown `type`/`flag`, unparseable timestamps and dates, epoch numbers
//!   for timestamps, `schema_version: 2`, negative money, `watch_seconds`
//!   outside 0..=3600, zero durations, empty ids, lower-case currencies.
//!   Viewing gets every kind on day 0 and one per 5,000 subscribers a day
//!   after; per feed counts are in [`GenerateSummary::malformed_per_feed`].
//!   The switch also brings the valid records that contradict the rest:
//!   `orphan_cancels` (a second cancel while cancelled, and one cancel from
//!   a subscriber that never signed up), `orphan_plan_changes` (while
//!   cancelled), `same_time_events` (a plan change stamped at exactly the
//!   instant of a cancel, so that only the event ids order them),
//!   `tier_disagreements` (a `plan_catalog` row in force that gives
//!   `standard_annual` tier 1 in JPY, against 2 elsewhere: the highest
//!   counts), `unknown_plan_events` (sign-ups to `promo_holiday`, a plan
//!   with no catalog row, which is also billed), `price_mismatches` (0.2 %
//!   of charges at a grandfathered or discounted price) and
//!   `unlisted_titles` (four watched partner titles missing from the
//!   content catalog).
//! * `fx_gap`: `fx_gap_days`: BRL has no rates for ten consecutive days from
//!   a quarter of the way into the range, so the last three of them have no
//!   usable rate within the 7-day lookback.

mod billing;
mod clock;
mod cohorts;
mod corrupt;
mod finance;
mod population;
mod util;
mod viewing;
mod world;

use std::path::{Path, PathBuf};

use jiff::civil::Date;

use crate::clock::{Clock, MonthId};
use crate::util::FeedStats;
use crate::world::{Fx, Library};

/// The feeds, in the order of the feed contract (EVENTS.md).
pub const FEEDS: [&str; 14] = [
    "viewing",
    "subscriptions",
    "billing",
    "ad_revenue",
    "content_costs",
    "operational_costs",
    "experiment_assignments",
    "account_flags",
    "payment_settlements",
    "plan_catalog",
    "content_catalog",
    "devices",
    "fx_rates",
    "finance_gl",
];

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Distinct subscribers over the whole history (at least 20).
    pub subscribers: u64,
    /// Days of viewing, starting at `start` (1 to 4000).
    pub days: u32,
    /// Same seed and settings, same bytes.
    pub seed: u64,
    /// The first day (America/Chicago) of the viewing range.
    pub start: Date,
    pub faults: Faults,
    /// Draw a progress bar on stderr (only for large outputs).
    pub progress: bool,
}

impl GeneratorConfig {
    pub fn new(subscribers: u64, days: u32, seed: u64) -> GeneratorConfig {
        GeneratorConfig {
            subscribers,
            days,
            seed,
            ..GeneratorConfig::default()
        }
    }

    fn validate(&self) -> Result<(), GenerateError> {
        if !(20..=100_000_000).contains(&self.subscribers) {
            return Err(GenerateError::Config(format!(
                "subscribers must be between 20 and 100000000, not {}",
                self.subscribers
            )));
        }
        if !(1..=4000).contains(&self.days) {
            return Err(GenerateError::Config(format!(
                "days must be between 1 and 4000, not {}",
                self.days
            )));
        }
        if !(1900..=2200).contains(&self.start.year()) {
            return Err(GenerateError::Config(format!(
                "start {} is out of range",
                self.start
            )));
        }
        Ok(())
    }
}

impl Default for GeneratorConfig {
    fn default() -> GeneratorConfig {
        GeneratorConfig {
            subscribers: 10_000,
            days: 28,
            seed: 42,
            start: jiff::civil::date(2026, 10, 5),
            faults: Faults::default(),
            progress: false,
        }
    }
}

/// Which runbook faults to inject. Each switch also governs the valid but
/// contradictory records of its kind; see the crate documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    /// Exact duplicates (same `event_id`, same bytes) in every event feed,
    /// billing primary-key violations, duplicate sign-ups and conflicting
    /// experiment re-assignments.
    pub duplicates: bool,
    /// `account_flags` records (bot, spam, fraud, test) and a burst of
    /// fraudulent sign-ups.
    pub flagged_accounts: bool,
    /// Bot subscribers whose days add up to more than 86,400 watch seconds.
    pub impossible_days: bool,
    /// Records written hours or days after their neighbours in event time,
    /// a partner's cost report that never arrives, device rows that lag.
    pub late_events: bool,
    /// Unusable lines in most feeds, and valid records that contradict the
    /// rest: orphan cancels and plan changes, a plan missing from the
    /// catalog, billed prices off the catalog, titles missing from the
    /// content catalog.
    pub malformed_records: bool,
    /// One currency without FX rates for ten consecutive days.
    pub fx_gap: bool,
}

impl Faults {
    pub const ALL: Faults = Faults {
        duplicates: true,
        flagged_accounts: true,
        impossible_days: true,
        late_events: true,
        malformed_records: true,
        fx_gap: true,
    };

    /// A clean Streamflix: every record valid, consistent and on time.
    pub const NONE: Faults = Faults {
        duplicates: false,
        flagged_accounts: false,
        impossible_days: false,
        late_events: false,
        malformed_records: false,
        fx_gap: false,
    };
}

impl Default for Faults {
    fn default() -> Faults {
        Faults::ALL
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSummary {
    /// Lines per feed (malformed and duplicate lines included), in [`FEEDS`] order.
    pub lines_per_feed: Vec<(&'static str, u64)>,
    /// Of those, the lines a reader must dead-letter.
    pub malformed_per_feed: Vec<(&'static str, u64)>,
    /// Bytes written over all files.
    pub bytes: u64,
    /// How many of each injected fault, by name (see the crate documentation).
    pub injected: Vec<(&'static str, u64)>,
}

impl GenerateSummary {
    /// Lines written to one feed (0 for an unknown name).
    pub fn lines(&self, feed: &str) -> u64 {
        self.lines_per_feed
            .iter()
            .find(|(f, _)| *f == feed)
            .map_or(0, |(_, n)| *n)
    }

    pub fn malformed(&self, feed: &str) -> u64 {
        self.malformed_per_feed
            .iter()
            .find(|(f, _)| *f == feed)
            .map_or(0, |(_, n)| *n)
    }

    /// The count of one injected fault (0 for an unknown name).
    pub fn injected(&self, fault: &str) -> u64 {
        self.injected
            .iter()
            .find(|(f, _)| *f == fault)
            .map_or(0, |(_, n)| *n)
    }

    pub fn total_lines(&self) -> u64 {
        self.lines_per_feed.iter().map(|(_, n)| n).sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("invalid generator configuration: {0}")]
    Config(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes every feed as `out/<feed>.jsonl`, creating `out` if needed and
/// replacing files of the same names.
pub fn generate(config: &GeneratorConfig, out: &Path) -> Result<GenerateSummary, GenerateError> {
    config.validate()?;
    std::fs::create_dir_all(out).map_err(|source| GenerateError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let ctx = Ctx::new(config)?;
    let mut inj = Injected::default();
    let work = config.subscribers.saturating_mul(u64::from(config.days));
    let bar = if config.progress && work >= 100_000 {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(u64::from(config.days) + 2),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} generating [{bar:40}] {pos}/{len} {msg} ({elapsed})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    bar.set_message("subscribers");
    let pop = population::build(&ctx, &mut inj);
    let mut stats = vec![
        population::write_subscriptions(&ctx, &pop, out, &mut inj)?,
        population::write_devices(&ctx, &pop, out, &mut inj)?,
        cohorts::write_flags(&ctx, &pop, out, &mut inj)?,
        cohorts::write_experiments(&ctx, &pop, out, &mut inj)?,
    ];
    let (billing_stats, billing) = billing::write(&ctx, &pop, out, &mut inj)?;
    stats.push(billing_stats);
    bar.inc(1);

    bar.set_message("viewing");
    let (viewing_stats, ads) = viewing::write(&ctx, &pop, out, &mut inj, &bar)?;
    stats.extend(viewing_stats);

    bar.set_message("finance");
    stats.extend(finance::write(&ctx, &billing, &ads, out, &mut inj)?);
    bar.inc(1);
    bar.finish_and_clear();

    inj.malformed_records = stats.iter().map(|s| s.malformed).sum();
    let find = |name: &str| stats.iter().find(|s| s.name == name).copied();
    let mut summary = GenerateSummary {
        lines_per_feed: Vec::new(),
        malformed_per_feed: Vec::new(),
        bytes: 0,
        injected: inj.list(),
    };
    for feed in FEEDS {
        let s = find(feed).unwrap_or(FeedStats {
            name: feed,
            lines: 0,
            malformed: 0,
            bytes: 0,
        });
        summary.lines_per_feed.push((feed, s.lines));
        summary.malformed_per_feed.push((feed, s.malformed));
        summary.bytes += s.bytes;
    }
    Ok(summary)
}

/// Calendar months that hold a day of the viewing range.
pub(crate) struct Month {
    pub id: MonthId,
    /// Day index of its first day (may be before day 0).
    pub first_day: i32,
    /// Day index of the next month's first day.
    pub end_day: i32,
    /// Share of the month's days that the output covers (billing runs from
    /// the first of the first month to the end of the range).
    pub frac: f64,
}

/// Everything the feed writers share.
pub(crate) struct Ctx {
    pub seed: u64,
    pub n: u32,
    pub days: i32,
    pub faults: Faults,
    pub clock: Clock,
    /// Central midnight of day 0, and of the day after the range.
    pub start: i64,
    pub end: i64,
    /// Start of the sign-up history before day 0.
    pub t0: i64,
    pub months: Vec<Month>,
    pub library: Library,
    pub fx: Fx,
}

pub(crate) const HISTORY_DAYS: i32 = 56;

impl Ctx {
    fn new(config: &GeneratorConfig) -> Result<Ctx, GenerateError> {
        let days = config.days as i32;
        let clock = Clock::new(config.start, -HISTORY_DAYS - 20, days + 45)?;
        let mut months = Vec::new();
        let mut id = clock.month_of_day(0);
        let last = clock.month_of_day(days - 1);
        while id <= last {
            let first_day = clock.month_first_day(id);
            let end_day = clock.month_first_day(id.next());
            let frac = f64::from(end_day.min(days) - first_day) / f64::from(end_day - first_day);
            months.push(Month {
                id,
                first_day,
                end_day,
                frac,
            });
            id = id.next();
        }
        let fx_first = months[0].first_day.min(0) - 7;
        let gap = config.faults.fx_gap.then_some(days / 4);
        let n = config.subscribers as u32;
        Ok(Ctx {
            seed: config.seed,
            n,
            days,
            faults: config.faults,
            start: clock.day_start(0),
            end: clock.day_start(days),
            t0: clock.day_start(-HISTORY_DAYS),
            months,
            library: Library::new(config.seed, n, config.faults.malformed_records),
            fx: Fx::new(config.seed, fx_first, days - 1, gap),
            clock,
        })
    }

    /// Index into `months` of the month holding day `d`.
    pub(crate) fn month_index(&self, d: i32) -> Option<usize> {
        self.months
            .iter()
            .position(|m| (m.first_day..m.end_day).contains(&d))
    }
}

/// Counts of what was injected, reported in the summary.
#[derive(Default)]
pub(crate) struct Injected {
    pub duplicate_events: u64,
    pub pk_violations: u64,
    pub duplicate_signups: u64,
    pub conflicting_assignments: u64,
    pub flagged_subscribers: u64,
    pub fraud_signups: u64,
    pub bot_subscribers: u64,
    pub unflagged_bots: u64,
    pub impossible_days: u64,
    pub late_events: u64,
    pub late_viewing_events: u64,
    pub duplicate_viewing_events: u64,
    pub late_cost_reports: u64,
    pub late_device_rows: u64,
    pub missing_devices: u64,
    pub malformed_records: u64,
    pub orphan_cancels: u64,
    pub orphan_plan_changes: u64,
    pub same_time_events: u64,
    pub unknown_plan_events: u64,
    pub price_mismatches: u64,
    pub unlisted_titles: u64,
    pub fx_gap_days: u64,
    pub tier_disagreements: u64,
}

impl Injected {
    fn list(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("duplicate_events", self.duplicate_events),
            ("pk_violations", self.pk_violations),
            ("duplicate_signups", self.duplicate_signups),
            ("conflicting_assignments", self.conflicting_assignments),
            ("flagged_subscribers", self.flagged_subscribers),
            ("fraud_signups", self.fraud_signups),
            ("bot_subscribers", self.bot_subscribers),
            ("unflagged_bots", self.unflagged_bots),
            ("impossible_days", self.impossible_days),
            ("late_events", self.late_events),
            ("late_viewing_events", self.late_viewing_events),
            ("duplicate_viewing_events", self.duplicate_viewing_events),
            ("late_cost_reports", self.late_cost_reports),
            ("late_device_rows", self.late_device_rows),
            ("missing_devices", self.missing_devices),
            ("malformed_records", self.malformed_records),
            ("orphan_cancels", self.orphan_cancels),
            ("orphan_plan_changes", self.orphan_plan_changes),
            ("same_time_events", self.same_time_events),
            ("tier_disagreements", self.tier_disagreements),
            ("unknown_plan_events", self.unknown_plan_events),
            ("price_mismatches", self.price_mismatches),
            ("unlisted_titles", self.unlisted_titles),
            ("fx_gap_days", self.fx_gap_days),
        ]
    }
}
