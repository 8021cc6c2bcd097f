//! The runbooks in the engine: what feeds the incident manager, and where
//! its notifications and state go.
//!
//! The incident manager itself (`streamflix-runbooks`) knows no dataflow.
//! This module gives it what the engine sees:
//!
//! * **check rows** of the `checks` table: from each published
//!   `checks/<pipeline>/<period>` snapshot in the service, from the final
//!   table in a replay;
//! * **publications**: every published revision; a revision after the
//!   first is a restatement;
//! * **feed progress**: per feed, its watermark (greatest event time minus
//!   the allowed lateness) for lateness, and when it last brought new data
//!   for stalls.
//!
//! Which clock is "now": the service uses the wall clock (pages,
//! escalation, lateness, a feed with no new message for the configured
//! time); a replay uses the data's clock, the greatest event time of the
//! input, so a replay over old files tells what the live service would
//! have seen at the end of that data. State goes to the service's
//! snapshots directory (or the replay's output directory): see
//! `streamflix_runbooks::store`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};

use jiff::Timestamp;
use streamflix_connectors::kafka::source::PartitionProgress;
use streamflix_model::Feed;
use streamflix_model::table::{Cell, Table};
use streamflix_runbooks::config::ConfigError;
use streamflix_runbooks::schedule::Period;
use streamflix_runbooks::sinks::jsonl::JsonlSink;
use streamflix_runbooks::sinks::kafka::KafkaSink;
use streamflix_runbooks::sinks::webhook::WebhookSink;
use streamflix_runbooks::sinks::{Dispatcher, DispatcherThread, Sink, SinkError};
use streamflix_runbooks::store::{StateFiles, StoreError};
use streamflix_runbooks::{
    CheckResult, FeedProgress, Incident, IncidentBook, IncidentManager, Known, Notification,
    OperatorAction, OperatorVerb, Publication, Runbooks, StatusView,
};

use crate::config::ServiceConfig;
use crate::snapshots::{PeriodKind, Snapshot, table_period};

/// The compiled-in runbooks, so a fresh clone works without any file.
pub const DEFAULT_PIPELINES_TOML: &str = include_str!("../config/pipelines.toml");

/// The checks of the metric contract, `(pipeline, check)`: the names a
/// runbook may list.
pub const CHECKS: [(&str, &str); 11] = [
    ("unit_profit", "pk_unique"),
    ("unit_profit", "plan_price_matches_catalog"),
    ("unit_profit", "no_negative_profit_without_refund"),
    ("aggregate_profit", "revenue_matches_processor"),
    ("aggregate_profit", "content_cost_coverage"),
    ("aggregate_profit", "gl_reconciles"),
    ("aggregate_profit", "fx_complete"),
    ("daily_growth", "experiment_coverage"),
    ("daily_growth", "signups_match_log"),
    ("aggregate_growth", "plans_known"),
    ("aggregate_engagement", "event_time_skew"),
];

/// The tables a pipeline publishes as snapshots.
pub const PUBLISHED_TABLES: [&str; 7] = [
    "engagement_daily",
    "engagement_weekly",
    "growth_daily",
    "growth_daily_by_variant",
    "growth_weekly",
    "profit_subscriber_monthly",
    "profit_monthly",
];

/// What can go wrong around incidents.
#[derive(Debug, thiserror::Error)]
pub enum IncidentsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read the runbooks {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("there is no incident {id} in {}: `streamflix status` lists the open ones", .book.display())]
    NoIncident { id: u64, book: PathBuf },
}

/// The feeds, tables and checks the engine knows.
pub fn known() -> Known {
    Known {
        feeds: Feed::ALL
            .iter()
            .map(|feed| feed.name().to_string())
            .collect(),
        tables: PUBLISHED_TABLES.iter().map(|t| t.to_string()).collect(),
        checks: CHECKS
            .iter()
            .map(|(pipeline, check)| (pipeline.to_string(), check.to_string()))
            .collect(),
    }
}

/// The runbooks of `file`, or the compiled-in ones; validated.
pub fn load_runbooks(file: Option<&Path>) -> Result<Arc<Runbooks>, IncidentsError> {
    let runbooks = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| IncidentsError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            Runbooks::parse(&text, &path.display().to_string(), &known())?
        }
        None => Runbooks::parse(
            DEFAULT_PIPELINES_TOML,
            "engine/config/pipelines.toml (compiled in)",
            &known(),
        )?,
    };
    Ok(Arc::new(runbooks))
}

fn text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Empty => None,
        cell => Some(cell.to_string()),
    }
}

/// The rows of a `checks` table (or snapshot) as check results.
pub fn check_results(columns: &[String], rows: &[Vec<Cell>]) -> Vec<CheckResult> {
    let at = |name: &str| columns.iter().position(|column| column == name);
    let (Some(pipeline), Some(check), Some(period), Some(status)) =
        (at("pipeline"), at("check"), at("period"), at("status"))
    else {
        return Vec::new();
    };
    let (value, threshold) = (at("value"), at("threshold"));
    rows.iter()
        .map(|row| CheckResult {
            pipeline: row[pipeline].to_string(),
            check: row[check].to_string(),
            period: row[period].to_string(),
            passed: row[status].to_string() == "pass",
            value: value.and_then(|i| text(&row[i])),
            threshold: threshold.and_then(|i| text(&row[i])),
        })
        .collect()
}

/// An instant of the model as a jiff timestamp.
pub fn timestamp_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The sinks the configuration asks for: the JSONL log always, Kafka and
/// the webhook when configured.
pub fn sinks(
    config: &ServiceConfig,
    files: &StateFiles,
) -> Result<Vec<Box<dyn Sink>>, IncidentsError> {
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(JsonlSink::new(files.log_path()))];
    let runbooks = &config.runbooks;
    let timeout = Duration::from_millis(runbooks.webhook_timeout_ms);
    if !runbooks.incidents_topic.is_empty() {
        sinks.push(Box::new(KafkaSink::new(
            config.kafka.client_config(),
            &runbooks.incidents_topic,
            timeout,
        )?));
    }
    if !runbooks.webhook_url.is_empty() {
        sinks.push(Box::new(WebhookSink::new(
            &runbooks.webhook_url,
            &runbooks.webhook_routing_key,
            timeout,
        )));
    }
    Ok(sinks)
}

/// Worker 0's incident duty in the service.
#[derive(Debug)]
pub struct ServiceIncidents {
    manager: IncidentManager,
    files: StateFiles,
    sinks: DispatcherThread,
    lateness_ms: i64,
    /// Per feed: messages read so far and when that count last grew.
    activity: BTreeMap<Feed, (u64, Timestamp)>,
    last_saved: WallInstant,
}

impl ServiceIncidents {
    /// Loads the runbooks and the saved incidents, starts the sinks.
    pub fn start(config: &ServiceConfig) -> Result<ServiceIncidents, IncidentsError> {
        let runbooks = load_runbooks(config.runbooks.pipelines_file())?;
        let files = StateFiles::new(&config.snapshots.dir);
        let mut book = files.load_book()?;
        book.data_clock = false;
        let dispatcher = Dispatcher::new(
            sinks(config, &files)?,
            config.runbooks.sink_attempts,
            Duration::from_millis(config.runbooks.sink_backoff_ms),
        );
        tracing::info!(
            pipelines = runbooks.pipelines.len(),
            open = book.incidents.values().filter(|i| i.is_open()).count(),
            "runbooks loaded"
        );
        Ok(ServiceIncidents {
            manager: IncidentManager::new(runbooks, book),
            files,
            sinks: DispatcherThread::spawn(dispatcher),
            lateness_ms: config.lateness_ms(),
            activity: BTreeMap::new(),
            last_saved: WallInstant::now(),
        })
    }

    /// Snapshots just published: restatements and check results.
    pub fn published(&mut self, snapshots: &[Snapshot], now: Timestamp) {
        let mut said = Vec::new();
        for snapshot in snapshots {
            if snapshot.table == "checks" {
                for result in check_results(&snapshot.columns, &snapshot.rows) {
                    said.extend(self.manager.report_check(&result, now));
                }
            } else {
                said.extend(self.manager.report_publication(
                    &Publication {
                        pipeline: snapshot.pipeline.name().to_string(),
                        table: snapshot.table.clone(),
                        period: snapshot.period.clone(),
                        revision: snapshot.revision,
                        at: now,
                    },
                    now,
                ));
            }
        }
        self.tell(said);
    }

    /// Records refused beyond their restatement horizon so far, per feed:
    /// a Sev-3 ticket for every pipeline that reads the feed.
    pub fn refused(&mut self, counts: &BTreeMap<Feed, u64>, now: Timestamp) {
        let mut said = Vec::new();
        for (feed, count) in counts {
            said.extend(
                self.manager
                    .report_beyond_retention(feed.name(), *count, now),
            );
        }
        self.tell(said);
    }

    /// Feed progress, escalations and operator actions, once caught up
    /// (before that every period looks late and every feed busy).
    pub fn tick(&mut self, progress: &[PartitionProgress], caught_up: bool, now: Timestamp) {
        let mut said = Vec::new();
        let mut counts: BTreeMap<Feed, u64> = BTreeMap::new();
        for partition in progress {
            *counts.entry(partition.feed).or_default() += partition.messages;
        }
        for (feed, count) in counts {
            let entry = self.activity.entry(feed).or_insert((0, now));
            if count > entry.0 {
                *entry = (count, now);
            }
        }
        if caught_up {
            let feeds = self.feed_progress(progress);
            said.extend(self.manager.report_feeds(&feeds, now));
        }
        said.extend(self.manager.escalate(now));
        match self.files.read_actions() {
            Ok(actions) => said.extend(self.manager.apply_actions(&actions)),
            Err(error) => tracing::warn!(%error, "cannot read incident actions"),
        }
        let changed = !said.is_empty();
        self.tell(said);
        if changed || self.last_saved.elapsed() > Duration::from_secs(5) {
            self.save();
        }
    }

    fn feed_progress(&self, progress: &[PartitionProgress]) -> Vec<FeedProgress> {
        Feed::ALL
            .iter()
            .map(|feed| {
                let partitions: Vec<&PartitionProgress> =
                    progress.iter().filter(|p| p.feed == *feed).collect();
                FeedProgress {
                    feed: feed.name().to_string(),
                    watermark: feed_watermark(&partitions, self.lateness_ms).map(timestamp_ms),
                    last_data_at: self
                        .activity
                        .get(feed)
                        .filter(|(count, _)| *count > 0)
                        .map(|(_, at)| *at),
                }
            })
            .collect()
    }

    fn tell(&mut self, said: Vec<Notification>) {
        if !said.is_empty() {
            self.sinks.send(said);
        }
    }

    fn save(&mut self) {
        self.manager.set_sink_health(self.sinks.health());
        if let Err(error) = self.files.save_book(self.manager.book()) {
            tracing::error!(%error, "cannot save incidents");
        }
        self.last_saved = WallInstant::now();
    }

    /// Delivers what is queued and saves the state.
    pub fn finish(mut self) {
        self.save();
        let health = self.sinks.finish();
        self.manager.set_sink_health(health);
        if let Err(error) = self.files.save_book(self.manager.book()) {
            tracing::error!(%error, "cannot save incidents");
        }
    }
}

/// A state directory's incidents as the operators see and change them:
/// `streamflix status`, `streamflix incident ack|resolve` and the query
/// API all go through here, so they agree.
///
/// Nothing is held in memory: every call reads `incidents.json` and the
/// actions file afresh, so a running service (which writes the book and
/// applies the actions file on its next tick) and any number of commands
/// can share the directory.
#[derive(Clone, Debug)]
pub struct IncidentDesk {
    pub runbooks: Arc<Runbooks>,
    pub files: StateFiles,
}

impl IncidentDesk {
    pub fn new(runbooks: Arc<Runbooks>, files: StateFiles) -> IncidentDesk {
        IncidentDesk { runbooks, files }
    }

    /// The saved book, with the operator actions the engine has not
    /// picked up yet applied, so they show at once.
    pub fn manager(&self) -> Result<IncidentManager, IncidentsError> {
        let book = self.files.load_book()?;
        let mut manager = IncidentManager::new(self.runbooks.clone(), book);
        manager.apply_actions(&self.files.read_actions()?);
        Ok(manager)
    }

    /// When things happen for this state: the end of the data for a
    /// replay's state (it runs on the data's clock), else the wall clock.
    pub fn now(manager: &IncidentManager) -> Timestamp {
        if manager.book().data_clock {
            manager.book().as_of.unwrap_or_else(Timestamp::now)
        } else {
            Timestamp::now()
        }
    }

    /// The status view at `at`, or at [`IncidentDesk::now`].
    pub fn status(&self, at: Option<Timestamp>) -> Result<StatusView, IncidentsError> {
        let manager = self.manager()?;
        let now = at.unwrap_or_else(|| Self::now(&manager));
        Ok(StatusView::build(&self.runbooks, manager.book(), now))
    }

    /// Every incident of the book, open or not, oldest first.
    pub fn incidents(&self) -> Result<Vec<Incident>, IncidentsError> {
        Ok(self.manager()?.book().incidents.values().cloned().collect())
    }

    /// `by` acknowledges or resolves incident `id`: the action is appended
    /// to the actions file (which a running engine applies on its next
    /// tick) and applied to the saved book at once. Returns the incident
    /// as it stands after.
    pub fn act(&self, id: u64, verb: OperatorVerb, by: &str) -> Result<Incident, IncidentsError> {
        let mut manager = self.manager()?;
        if manager.incident(id).is_none() {
            return Err(IncidentsError::NoIncident {
                id,
                book: self.files.book_path(),
            });
        }
        self.files.append_action(&OperatorAction {
            id,
            action: verb,
            by: by.to_string(),
            at: Self::now(&manager),
        })?;
        manager.apply_actions(&self.files.read_actions()?);
        self.files.save_book(manager.book())?;
        let incident = manager
            .incident(id)
            .cloned()
            .ok_or(IncidentsError::NoIncident {
                id,
                book: self.files.book_path(),
            })?;
        tracing::info!(
            id,
            by,
            action = ?verb,
            state = ?incident.state,
            "operator action recorded"
        );
        Ok(incident)
    }
}

/// A feed's watermark: the least `max event time - lateness` over its
/// flowing partitions, or over all of them when every one is idle (the
/// feed stopped where it stopped).
pub fn feed_watermark(partitions: &[&PartitionProgress], lateness_ms: i64) -> Option<i64> {
    let flowing = partitions
        .iter()
        .filter(|p| !p.idle)
        .filter_map(|p| p.max_event_ms)
        .min();
    flowing
        .or_else(|| partitions.iter().filter_map(|p| p.max_event_ms).min())
        .map(|max| max - lateness_ms)
}

/// The greatest data time of each feed file of `input`: `event_time` for
/// event feeds, the end of the `date` for dated reference feeds (FX rates,
/// settlements); feeds with neither are left out.
pub fn feed_data_times(input: &Path, calendar: &streamflix_model::Calendar) -> BTreeMap<Feed, i64> {
    let mut times = BTreeMap::new();
    for feed in Feed::ALL {
        let Ok(text) = std::fs::read_to_string(input.join(format!("{}.jsonl", feed.name()))) else {
            continue;
        };
        let mut greatest: Option<i64> = None;
        for line in text.lines() {
            let time = if let Some(value) = field(line, "event_time") {
                streamflix_model::Instant::parse_rfc3339(value)
                    .ok()
                    .map(|i| i.0.div_euclid(1_000_000))
            } else if let Some(value) = field(line, "date") {
                streamflix_model::Day::parse(value)
                    .map(|day| calendar.end_of(day).0.div_euclid(1_000_000))
            } else {
                None
            };
            if let Some(time) = time {
                greatest = Some(greatest.map_or(time, |known| known.max(time)));
            }
        }
        if let Some(time) = greatest {
            times.insert(feed, time);
        }
    }
    times
}

/// The string value of `"name": "..."` in a JSON line, without parsing it all.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\"");
    let rest = &line[line.find(&key)? + key.len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// What a replay tells the runbooks, on the data's clock.
#[derive(Debug)]
pub struct ReplayAssessment {
    pub now: Timestamp,
    pub files: StateFiles,
    pub runbooks: Arc<Runbooks>,
    pub book: IncidentBook,
}

/// Dead letters refused as beyond their restatement horizon, per feed.
pub fn beyond_retention(letters: &[crate::output::DeadLetterRow]) -> BTreeMap<Feed, u64> {
    let mut counts = BTreeMap::new();
    for letter in letters
        .iter()
        .filter(|letter| letter.kind == BEYOND_RETENTION)
    {
        *counts.entry(letter.feed).or_default() += 1;
    }
    counts
}

/// The reason kind of a record refused beyond its horizon.
pub const BEYOND_RETENTION: &str = "beyond_retention";

/// Runs the runbooks over a finished replay: check rows, the latest
/// complete period of each table, feed lateness and stalls, records
/// refused beyond their horizon (`refused`, per feed), escalations up
/// to the end of the data. Starts afresh in `out` (a replay is a new
/// assessment) and writes `incidents.json` and `incidents.jsonl` there.
/// An input with no valid event time has no data clock: nothing is
/// assessed (`None`), and no incident opened.
pub fn assess_replay(
    runbooks: Arc<Runbooks>,
    tables: &[Table],
    refused: &BTreeMap<Feed, u64>,
    input: &Path,
    out: &Path,
    calendar: &streamflix_model::Calendar,
    lateness_ms: i64,
) -> Result<Option<ReplayAssessment>, IncidentsError> {
    let files = StateFiles::new(out);
    for stale in [files.book_path(), files.log_path(), files.actions_path()] {
        let _ = std::fs::remove_file(stale);
    }
    let times = feed_data_times(input, calendar);
    // The data's clock is its greatest event time: without one there is
    // no clock, and nothing can be judged late or stalled.
    let Some(now) = times
        .iter()
        .filter(|(feed, _)| feed.is_event_feed())
        .map(|(_, ms)| *ms)
        .max()
        .map(timestamp_ms)
    else {
        return Ok(None);
    };
    let mut manager = IncidentManager::new(runbooks.clone(), IncidentBook::default());
    manager.set_data_clock(true);
    let mut said = Vec::new();
    for table in tables {
        let columns: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
        if table.name == "checks" {
            for result in check_results(&columns, &table.rows) {
                said.extend(manager.report_check(&result, now));
            }
        } else if let Some(publication) = latest_complete_period(&runbooks, table, &columns, now) {
            said.extend(manager.report_publication(&publication, now));
        }
    }
    let feeds: Vec<FeedProgress> = Feed::ALL
        .iter()
        .map(|feed| {
            let time = times.get(feed).copied();
            FeedProgress {
                feed: feed.name().to_string(),
                watermark: time
                    .filter(|_| feed.is_event_feed())
                    .map(|ms| timestamp_ms(ms - lateness_ms)),
                last_data_at: time.map(timestamp_ms),
            }
        })
        .collect();
    said.extend(manager.report_feeds(&feeds, now));
    for (feed, count) in refused {
        said.extend(manager.report_beyond_retention(feed.name(), *count, now));
    }
    said.extend(manager.escalate(now));
    let mut dispatcher = Dispatcher::new(
        vec![Box::new(JsonlSink::new(files.log_path()))],
        3,
        Duration::from_millis(100),
    );
    dispatcher.deliver(&said);
    manager.set_sink_health(dispatcher.health());
    files.save_book(manager.book())?;
    Ok(Some(ReplayAssessment {
        now,
        files,
        runbooks,
        book: manager.book().clone(),
    }))
}

/// The latest period of `table` that has ended by `now`, as if published
/// (revision 1): a replay publishes nothing, but the status screen shows
/// how far the tables reach.
fn latest_complete_period(
    runbooks: &Runbooks,
    table: &Table,
    columns: &[String],
    now: Timestamp,
) -> Option<Publication> {
    let (pipeline, column) = table_period(&table.name)?;
    let at = columns.iter().position(|c| c == column)?;
    let kind = match pipeline.period_kind() {
        PeriodKind::Day => streamflix_runbooks::config::PeriodKind::Day,
        PeriodKind::Week => streamflix_runbooks::config::PeriodKind::Week,
        PeriodKind::Month => streamflix_runbooks::config::PeriodKind::Month,
    };
    let latest = table
        .rows
        .iter()
        .filter_map(|row| {
            let label = row[at].to_string();
            let date: jiff::civil::Date = if label.len() == 7 {
                format!("{label}-01").parse().ok()?
            } else {
                label.parse().ok()?
            };
            let period = Period::containing(kind, date);
            (runbooks.period_end(&period) <= now).then_some(period.label)
        })
        .max()?;
    Some(Publication {
        pipeline: pipeline.name().to_string(),
        table: table.name.clone(),
        period: latest,
        revision: 1,
        at: now,
    })
}
