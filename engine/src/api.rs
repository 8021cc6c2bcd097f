//! The engine's side of the query API (`streamflix-api`): building the
//! [`ApiView`] from the output store and the publisher, and handing it
//! over.
//!
//! Worker 0 calls [`ApiFeed::refresh`] from the publisher's tick whenever
//! the store changed or a revision was published (and once at the end of
//! the demo's replay). A row is marked with the revision of its snapshot
//! when the snapshot's current rows have the digest of its latest
//! published revision, and is provisional otherwise: not yet due, not yet
//! published, or changed since (a restatement on its way).
//!
//! [`RunbooksDesk`] answers the API's pipeline status and incidents from
//! the runbooks' state files, through the same code as `streamflix status`
//! and `streamflix incident ack|resolve`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use streamflix_api::{
    ApiTable, ApiView, FeedStatus, Incident, IncidentError, PipelineStatus, PipelineStatusSource,
    Providers, PublishedPeriod, RevisionInfo, Shared,
};
use streamflix_connectors::kafka::source::PartitionProgress;
use streamflix_model::table::{Cell, Table};
use streamflix_model::{Feed, Instant};
use streamflix_runbooks::{IncidentState, OperatorVerb};

use crate::incidents::{IncidentDesk, IncidentsError};
use crate::output::DeadLetterRow;
use crate::snapshots::{
    Pipeline, PipelineTime, Published, Snapshot, SnapshotMessage, digest, row_snapshots,
};

/// One revision in the log, with the pipeline that published it.
#[derive(Clone, Debug)]
struct Logged {
    pipeline: String,
    info: RevisionInfo,
}

/// Builds views and keeps the log of published revisions.
#[derive(Debug)]
pub struct ApiFeed {
    shared: Arc<Shared>,
    log: Vec<Logged>,
}

/// What a view is built from besides the tables and the publisher.
#[derive(Clone, Debug, Default)]
pub struct Intake {
    pub feeds: Vec<FeedStatus>,
    pub dead_letters: BTreeMap<(String, String), u64>,
}

fn rfc3339_ms(ms: i64) -> String {
    Instant(ms.saturating_mul(1_000_000)).to_string()
}

impl ApiFeed {
    pub fn new(shared: Arc<Shared>) -> ApiFeed {
        ApiFeed {
            shared,
            log: Vec::new(),
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Takes the revisions already on the snapshot topic into the log.
    pub fn recovered(&mut self, messages: &[(String, Vec<u8>)]) {
        for (key, value) in messages {
            let Ok(message) = serde_json::from_slice::<SnapshotMessage>(value) else {
                continue;
            };
            let known = self
                .log
                .iter()
                .any(|l| l.info.snapshot == *key && l.info.revision == message.revision);
            if !known {
                self.log.push(Logged {
                    pipeline: message.pipeline,
                    info: RevisionInfo {
                        table: message.table,
                        snapshot: key.clone(),
                        period: message.period,
                        revision: message.revision,
                        published_at: Some(message.published_at),
                        restated: message.revision > 1,
                    },
                });
            }
        }
    }

    /// Logs a revision that reached the topic, `latency` after its
    /// publication started.
    pub fn published(&mut self, snapshot: &Snapshot, at: Instant, latency: Option<Duration>) {
        if let Some(latency) = latency {
            self.shared.record_publication(latency);
        }
        self.log.push(Logged {
            pipeline: snapshot.pipeline.name().to_string(),
            info: RevisionInfo {
                table: snapshot.table.clone(),
                snapshot: snapshot.key.clone(),
                period: snapshot.period.clone(),
                revision: snapshot.revision,
                published_at: Some(at.to_string()),
                restated: snapshot.revision > 1,
            },
        });
    }

    /// Builds the view of `tables` and makes it current.
    pub fn refresh(
        &self,
        tables: Vec<Table>,
        published: &BTreeMap<String, Published>,
        times: &BTreeMap<Pipeline, PipelineTime>,
        intake: Intake,
    ) {
        let view = ApiView {
            generation: 0,
            updated_at: Some(rfc3339_ms(wall_ms())),
            tables: tables
                .into_iter()
                .map(|table| mark(table, published))
                .collect(),
            revisions: self.log.iter().map(|l| l.info.clone()).collect(),
            pipelines: self.pipelines(times),
            feeds: intake.feeds,
            dead_letters: intake.dead_letters,
        };
        self.shared.replace(view);
    }

    fn pipelines(&self, times: &BTreeMap<Pipeline, PipelineTime>) -> Vec<PipelineStatus> {
        Pipeline::ALL
            .iter()
            .map(|pipeline| {
                let time = times.get(pipeline).copied().unwrap_or_default();
                let mine: Vec<&RevisionInfo> = self
                    .log
                    .iter()
                    .filter(|l| l.pipeline == pipeline.name())
                    .map(|l| &l.info)
                    .collect();
                // The latest period of each table, at its latest revision.
                let mut latest: BTreeMap<&str, (&str, u32)> = BTreeMap::new();
                for info in &mine {
                    let entry = latest
                        .entry(info.table.as_str())
                        .or_insert((info.period.as_str(), info.revision));
                    if (info.period.as_str(), info.revision) > *entry {
                        *entry = (info.period.as_str(), info.revision);
                    }
                }
                PipelineStatus {
                    pipeline: pipeline.name().to_string(),
                    watermark: time.watermark_ms.map(rfc3339_ms),
                    event_clock: time.clock_ms.map(rfc3339_ms),
                    last_published: latest
                        .into_iter()
                        .map(|(table, (period, revision))| PublishedPeriod {
                            table: table.to_string(),
                            period: period.to_string(),
                            revision,
                        })
                        .collect(),
                    revisions: mine.len(),
                }
            })
            .collect()
    }
}

/// Marks each row of `table` with the revision its snapshot was published
/// in, if the snapshot's rows are still those of that revision.
pub fn mark(table: Table, published: &BTreeMap<String, Published>) -> ApiTable {
    let snapshots = row_snapshots(&table);
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (at, snapshot) in snapshots.iter().enumerate() {
        if let Some((key, _, _)) = snapshot {
            groups.entry(key.as_str()).or_default().push(at);
        }
    }
    let mut revisions = vec![None; table.rows.len()];
    for (key, rows) in groups {
        let Some(latest) = published.get(key) else {
            continue;
        };
        let cells: Vec<Vec<Cell>> = rows.iter().map(|at| table.rows[*at].clone()).collect();
        if digest(&cells) == latest.digest {
            for at in rows {
                revisions[at] = Some(latest.revision);
            }
        }
    }
    ApiTable { table, revisions }
}

/// Per-feed intake of the service, from its partitions' reports.
pub fn feeds_from_progress(
    progress: &[PartitionProgress],
    lateness_ms: i64,
    now_ms: i64,
) -> Vec<FeedStatus> {
    Feed::ALL
        .iter()
        .filter_map(|feed| {
            let partitions: Vec<&PartitionProgress> =
                progress.iter().filter(|p| p.feed == *feed).collect();
            if partitions.is_empty() {
                return None;
            }
            let max_event = partitions.iter().filter_map(|p| p.max_event_ms).max();
            Some(FeedStatus {
                feed: feed.name().to_string(),
                events_in: partitions.iter().map(|p| p.messages).sum(),
                watermark_ms: partitions
                    .iter()
                    .filter_map(|p| p.max_event_ms)
                    .min()
                    .map(|least| least - lateness_ms),
                lag_seconds: max_event.map(|max| (now_ms - max) as f64 / 1000.0),
                caught_up: Some(partitions.iter().all(|p| p.caught_up)),
            })
        })
        .collect()
}

/// Per-feed intake of a replay: lines read, nothing about partitions.
pub fn feeds_from_counts(read: &BTreeMap<Feed, u64>) -> Vec<FeedStatus> {
    read.iter()
        .map(|(feed, count)| FeedStatus {
            feed: feed.name().to_string(),
            events_in: *count,
            watermark_ms: None,
            lag_seconds: None,
            caught_up: None,
        })
        .collect()
}

/// Dead letters per (feed, reason kind).
pub fn dead_letter_counts<'a>(
    letters: impl IntoIterator<Item = &'a DeadLetterRow>,
) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for letter in letters {
        *counts
            .entry((letter.feed.name().to_string(), letter.kind.clone()))
            .or_insert(0) += 1;
    }
    counts
}

pub(crate) fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// The runbooks' incident state behind the API: `GET /v1/pipelines` and
/// `/v1/incidents`, acknowledge and resolve, and the incident gauge of
/// `/metrics`, all through [`IncidentDesk`], the code behind `streamflix
/// status` and `streamflix incident ack|resolve`. The actor of an action
/// is the token's name.
#[derive(Debug)]
pub struct RunbooksDesk {
    desk: IncidentDesk,
    /// One action at a time: each reads, appends and saves the files.
    acting: Mutex<()>,
}

impl RunbooksDesk {
    pub fn new(desk: IncidentDesk) -> RunbooksDesk {
        RunbooksDesk {
            desk,
            acting: Mutex::new(()),
        }
    }

    /// The providers of a server over this state: pipelines and incidents
    /// from the runbooks.
    pub fn providers(desk: IncidentDesk) -> Providers {
        let desk = Arc::new(RunbooksDesk::new(desk));
        Providers {
            pipelines: desk.clone(),
            incidents: desk,
        }
    }

    fn act(&self, id: &str, verb: OperatorVerb, by: &str) -> Result<Incident, IncidentError> {
        let Ok(number) = id.parse::<u64>() else {
            return Err(IncidentError::NotFound(id.to_string()));
        };
        let _acting = self.acting.lock().unwrap_or_else(|e| e.into_inner());
        match self.desk.act(number, verb, by) {
            Ok(incident) => Ok(incident_of(&incident)),
            Err(IncidentsError::NoIncident { .. }) => Err(IncidentError::NotFound(id.to_string())),
            Err(other) => Err(unavailable(other)),
        }
    }
}

fn unavailable(error: IncidentsError) -> IncidentError {
    IncidentError::Unavailable(error.to_string())
}

fn rfc3339(at: jiff::Timestamp) -> String {
    at.to_string()
}

/// A runbooks incident as the API shows it.
pub fn incident_of(incident: &streamflix_runbooks::Incident) -> Incident {
    let state = match incident.state {
        IncidentState::Open => "open",
        IncidentState::Acknowledged => "acknowledged",
        IncidentState::Resolved => "resolved",
    };
    Incident {
        id: incident.id,
        severity: incident.severity.to_string(),
        pipeline: incident.pipeline.clone(),
        dedup_key: incident.dedup_key.clone(),
        period: incident.period.clone(),
        title: incident.summary.clone(),
        state: state.to_string(),
        holder: incident.holder.clone(),
        opened_at: rfc3339(incident.opened_at),
        updated_at: rfc3339(incident.updated_at),
        acknowledged_by: incident.acknowledged_by.clone(),
        acknowledged_at: incident.acknowledged_at.map(rfc3339),
        resolved_by: incident.resolved_by.clone(),
        resolved_at: incident.resolved_at.map(rfc3339),
    }
}

impl PipelineStatusSource for RunbooksDesk {
    fn status(&self) -> Result<serde_json::Value, IncidentError> {
        let view = self.desk.status(None).map_err(unavailable)?;
        serde_json::to_value(&view).map_err(|e| IncidentError::Unavailable(e.to_string()))
    }
}

impl streamflix_api::IncidentDesk for RunbooksDesk {
    fn list(&self) -> Result<Vec<Incident>, IncidentError> {
        let incidents = self.desk.incidents().map_err(unavailable)?;
        Ok(incidents.iter().map(incident_of).collect())
    }

    fn acknowledge(&self, id: &str, by: &str) -> Result<Incident, IncidentError> {
        self.act(id, OperatorVerb::Ack, by)
    }

    fn resolve(&self, id: &str, by: &str) -> Result<Incident, IncidentError> {
        self.act(id, OperatorVerb::Resolve, by)
    }
}
