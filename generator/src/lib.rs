//! placeholder (rewritten below once volumes are measured)

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
    pub late_cost_reports: u64,
    pub late_device_rows: u64,
    pub missing_devices: u64,
    pub malformed_records: u64,
    pub orphan_cancels: u64,
    pub orphan_plan_changes: u64,
    pub unknown_plan_events: u64,
    pub price_mismatches: u64,
    pub unlisted_titles: u64,
    pub fx_gap_days: u64,
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
            ("late_cost_reports", self.late_cost_reports),
            ("late_device_rows", self.late_device_rows),
            ("missing_devices", self.missing_devices),
            ("malformed_records", self.malformed_records),
            ("orphan_cancels", self.orphan_cancels),
            ("orphan_plan_changes", self.orphan_plan_changes),
            ("unknown_plan_events", self.unknown_plan_events),
            ("price_mismatches", self.price_mismatches),
            ("unlisted_titles", self.unlisted_titles),
            ("fx_gap_days", self.fx_gap_days),
        ]
    }
}
