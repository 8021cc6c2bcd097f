//! The incident manager: opens, updates, escalates, acknowledges and
//! resolves incidents from what the engine observes.
//!
//! Every call takes `now`: the manager has no clock of its own, so tests
//! run it on a simulated clock and the service on the wall clock. One
//! incident exists per dedup key `pipeline/cause/period` until it is
//! resolved: a check that keeps failing updates its incident, one that
//! passes again resolves it. Everything the manager knows is an
//! [`IncidentBook`], which serialises whole (the service keeps it in its
//! state directory for `streamflix status` and `streamflix incident`).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::config::{PipelineRunbook, Runbooks, Severity};
use crate::escalation::notification;
use crate::incident::{Action, Cause, Incident, IncidentState, Notification};
use crate::schedule::Period;

/// A row of the `checks` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub pipeline: String,
    pub check: String,
    pub period: String,
    pub passed: bool,
    pub value: Option<String>,
    pub threshold: Option<String>,
}

/// A snapshot revision that was published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    pub pipeline: String,
    pub table: String,
    pub period: String,
    pub revision: u32,
    pub at: Timestamp,
}

/// What is known of one feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedProgress {
    pub feed: String,
    /// Up to when the feed is complete (event time minus lateness).
    pub watermark: Option<Timestamp>,
    /// When the feed last brought new data, on the same clock as `now`.
    pub last_data_at: Option<Timestamp>,
}

/// What the manager remembers of a pipeline, for the status screen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineObservation {
    /// Latest published period: (period, revision, table, at).
    pub last_published: Option<Publication>,
    /// Latest result per check (the latest period reported).
    pub checks: BTreeMap<String, CheckResult>,
    /// Least watermark of its completeness feeds.
    pub complete_until: Option<Timestamp>,
}

/// Everything the manager knows, serialisable whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentBook {
    pub next_id: u64,
    pub incidents: BTreeMap<u64, Incident>,
    pub pipelines: BTreeMap<String, PipelineObservation>,
    pub feeds: BTreeMap<String, FeedProgress>,
    /// Operator actions of the actions file already applied.
    pub actions_applied: usize,
    /// The `now` of the last update, and whether it is the data's clock.
    pub as_of: Option<Timestamp>,
    pub data_clock: bool,
    /// How each notification sink has fared (set by the caller).
    #[serde(default)]
    pub sinks: BTreeMap<String, crate::sinks::SinkHealth>,
}

/// An operator's request that cannot be carried out.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("there is no incident {0}; `streamflix status` lists the open ones")]
    Unknown(u64),
}

/// An acknowledgement or resolution by a person, as the actions file holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorAction {
    pub id: u64,
    pub action: OperatorVerb,
    pub by: String,
    pub at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorVerb {
    Ack,
    Resolve,
}

/// The incident manager.
#[derive(Debug)]
pub struct IncidentManager {
    runbooks: Arc<Runbooks>,
    book: IncidentBook,
}

impl IncidentManager {
    pub fn new(runbooks: Arc<Runbooks>, book: IncidentBook) -> IncidentManager {
        IncidentManager { runbooks, book }
    }

    pub fn runbooks(&self) -> &Runbooks {
        &self.runbooks
    }

    pub fn book(&self) -> &IncidentBook {
        &self.book
    }

    /// Records how the sinks fare, for the status screen.
    pub fn set_sink_health(&mut self, sinks: BTreeMap<String, crate::sinks::SinkHealth>) {
        self.book.sinks = sinks;
    }

    /// Incidents not resolved, oldest first.
    pub fn open_incidents(&self) -> Vec<&Incident> {
        self.book
            .incidents
            .values()
            .filter(|i| i.is_open())
            .collect()
    }

    pub fn incident(&self, id: u64) -> Option<&Incident> {
        self.book.incidents.get(&id)
    }

    fn touch(&mut self, now: Timestamp) {
        self.book.as_of = Some(self.book.as_of.map_or(now, |known| known.max(now)));
    }

    /// Records which clock `now` is: the data's (replay) or the wall's.
    pub fn set_data_clock(&mut self, data_clock: bool) {
        self.book.data_clock = data_clock;
    }

    /// Opens an incident for `pipeline`, `cause` and `period`, or updates
    /// the one already open.
    // Each argument is one field of the incident; a struct for them would
    // only be built to be taken apart here.
    #[allow(clippy::too_many_arguments)]
    fn raise(
        &mut self,
        pipeline: &PipelineRunbook,
        cause: Cause,
        period: &str,
        value: Option<String>,
        threshold: Option<String>,
        summary: String,
        now: Timestamp,
    ) -> Vec<Notification> {
        let key = format!("{}/{}/{period}", pipeline.name, cause.key());
        if let Some(incident) = self
            .book
            .incidents
            .values_mut()
            .find(|incident| incident.is_open() && incident.dedup_key == key)
        {
            incident.occurrences += 1;
            if incident.value == value && incident.threshold == threshold {
                return Vec::new();
            }
            incident.value = value;
            incident.threshold = threshold;
            incident.summary = summary;
            incident.note(now, "reported again with another value");
            return vec![notification(Action::Update, now, None, incident)];
        }
        self.book.next_id += 1;
        let id = self.book.next_id;
        let mut incident = Incident {
            id,
            dedup_key: key,
            pipeline: pipeline.name.clone(),
            severity: pipeline.severity,
            cause,
            period: period.to_string(),
            value,
            threshold,
            summary,
            runbook: pipeline.runbook.clone(),
            state: IncidentState::Open,
            opened_at: now,
            updated_at: now,
            occurrences: 1,
            holder: None,
            holder_role: None,
            paged: false,
            next_escalation_at: None,
            escalation_level: 0,
            period_end: None,
            acknowledged_by: None,
            acknowledged_at: None,
            resolved_by: None,
            resolved_at: None,
            history: Vec::new(),
        };
        incident.note(now, "opened");
        tracing::warn!(
            id,
            pipeline = incident.pipeline,
            key = incident.dedup_key,
            severity = %incident.severity,
            "incident opened"
        );
        let said = self.runbooks.first_page(pipeline, &mut incident, now);
        self.book.incidents.insert(id, incident);
        vec![said]
    }

    /// Resolves the open incidents `matches` selects, as the engine saw
    /// their cause go away.
    fn clear(
        &mut self,
        matches: impl Fn(&Incident) -> bool,
        why: &str,
        now: Timestamp,
    ) -> Vec<Notification> {
        let mut said = Vec::new();
        for incident in self.book.incidents.values_mut() {
            if incident.is_open() && matches(incident) {
                close(incident, "streamflix", why, now);
                said.push(notification(Action::Resolve, now, None, incident));
            }
        }
        said
    }

    /// A row of the `checks` table: a failure opens or updates, a pass resolves.
    pub fn report_check(&mut self, result: &CheckResult, now: Timestamp) -> Vec<Notification> {
        self.touch(now);
        let Some(pipeline) = self.runbooks.pipeline(&result.pipeline).cloned() else {
            return Vec::new();
        };
        if !pipeline.checks.contains(&result.check) {
            return Vec::new();
        }
        let observation = self
            .book
            .pipelines
            .entry(pipeline.name.clone())
            .or_default();
        let newer = observation
            .checks
            .get(&result.check)
            .is_none_or(|known| known.period <= result.period);
        if newer {
            observation
                .checks
                .insert(result.check.clone(), result.clone());
        }
        let cause = Cause::CheckFailed {
            check: result.check.clone(),
        };
        if result.passed {
            let key = format!("{}/{}/{}", pipeline.name, cause.key(), result.period);
            return self.clear(
                |incident| incident.dedup_key == key,
                "check passes again",
                now,
            );
        }
        let summary = format!(
            "{}: check {} fails for {} (value {}, threshold {})",
            pipeline.name,
            result.check,
            result.period,
            result.value.as_deref().unwrap_or("none"),
            result.threshold.as_deref().unwrap_or("none")
        );
        self.raise(
            &pipeline,
            cause,
            &result.period,
            result.value.clone(),
            result.threshold.clone(),
            summary,
            now,
        )
    }

    /// Records of `feed` refused as beyond their restatement horizon,
    /// `count` so far: a Sev-3 data-quality ticket, whatever the
    /// pipeline's own severity, for every pipeline that reads the feed.
    /// The incident's period is the business day they were seen on: one
    /// ticket per pipeline, feed and day, updated as the count grows.
    /// Never resolved by itself: the records are in the dead-letter topic
    /// for a person to look at.
    pub fn report_beyond_retention(
        &mut self,
        feed: &str,
        count: u64,
        now: Timestamp,
    ) -> Vec<Notification> {
        self.touch(now);
        let period = now
            .to_zoned_datetime(self.runbooks.zone.clone())
            .strftime("%Y-%m-%d")
            .to_string();
        let readers: Vec<PipelineRunbook> = self
            .runbooks
            .pipelines
            .iter()
            .filter(|pipeline| pipeline.upstream.iter().any(|upstream| upstream == feed))
            .cloned()
            .collect();
        let mut said = Vec::new();
        for mut ticket in readers {
            ticket.severity = Severity::Sev3;
            let summary = format!(
                "{}: {count} {feed} records came after their restatement horizon and were refused (dead letters beyond_retention); the frozen figures do not include them",
                ticket.name
            );
            said.extend(self.raise(
                &ticket,
                Cause::BeyondRetention {
                    feed: feed.to_string(),
                },
                &period,
                Some(count.to_string()),
                None,
                summary,
                now,
            ));
        }
        said
    }

    /// A published snapshot: remembered, and a revision after the first
    /// is a restatement incident.
    pub fn report_publication(
        &mut self,
        publication: &Publication,
        now: Timestamp,
    ) -> Vec<Notification> {
        self.touch(now);
        let Some(pipeline) = self.runbooks.pipeline(&publication.pipeline).cloned() else {
            return Vec::new();
        };
        let observation = self
            .book
            .pipelines
            .entry(pipeline.name.clone())
            .or_default();
        let newer = observation.last_published.as_ref().is_none_or(|known| {
            (known.period.as_str(), known.revision)
                <= (publication.period.as_str(), publication.revision)
        });
        if newer {
            observation.last_published = Some(publication.clone());
        }
        if publication.revision <= 1 {
            return Vec::new();
        }
        let summary = format!(
            "{}: {} for {} was restated after publication (revision {})",
            pipeline.name, publication.table, publication.period, publication.revision
        );
        self.raise(
            &pipeline,
            Cause::Restated {
                table: publication.table.clone(),
            },
            &publication.period,
            Some(format!("revision {}", publication.revision)),
            Some("revision 1".to_string()),
            summary,
            now,
        )
    }

    /// Feed progress: lateness of every pipeline's latest due period, and
    /// stalled feeds. Resolves what is no longer true.
    pub fn report_feeds(&mut self, feeds: &[FeedProgress], now: Timestamp) -> Vec<Notification> {
        self.touch(now);
        for feed in feeds {
            self.book.feeds.insert(feed.feed.clone(), feed.clone());
        }
        let mut said = Vec::new();
        let pipelines = self.runbooks.pipelines.clone();
        for pipeline in &pipelines {
            said.extend(self.check_lateness(pipeline, now));
            said.extend(self.check_stalls(pipeline, now));
        }
        said
    }

    fn check_lateness(&mut self, pipeline: &PipelineRunbook, now: Timestamp) -> Vec<Notification> {
        let watermarks: Vec<(String, Option<Timestamp>)> = pipeline
            .completeness
            .iter()
            .map(|feed| {
                (
                    feed.clone(),
                    self.book.feeds.get(feed).and_then(|known| known.watermark),
                )
            })
            .collect();
        let complete_until = watermarks
            .iter()
            .map(|(_, watermark)| *watermark)
            .min()
            .flatten();
        self.book
            .pipelines
            .entry(pipeline.name.clone())
            .or_default()
            .complete_until = complete_until;
        let mut said = self.clear(
            |incident| {
                incident.pipeline == pipeline.name
                    && incident.cause == Cause::Late
                    && incident
                        .period_end
                        .is_some_and(|end| complete_until.is_some_and(|until| until >= end))
            },
            "upstream complete: the period can be published",
            now,
        );
        for schedule in &pipeline.schedules {
            let period: Period = self.runbooks.latest_due_period(schedule, now);
            let end = self.runbooks.period_end(&period);
            if complete_until.is_some_and(|until| until >= end) {
                continue;
            }
            let lagging: Vec<String> = watermarks
                .iter()
                .filter(|(_, watermark)| watermark.is_none_or(|w| w < end))
                .map(|(feed, watermark)| match watermark {
                    Some(w) => format!("{feed} until {}", self.runbooks.format_local(*w)),
                    None => format!("{feed} (no data)"),
                })
                .collect();
            let due = self.runbooks.due_at(schedule, &period);
            let summary = format!(
                "{}: late: {} was due at {} but its upstream is incomplete ({})",
                pipeline.name,
                period.label,
                self.runbooks.format_local(due),
                lagging.join(", ")
            );
            let value = complete_until.map(|until| format!("complete until {until}"));
            let threshold = Some(format!("complete until {end} by {due}"));
            let notes = self.raise(
                pipeline,
                Cause::Late,
                &period.label,
                value,
                threshold,
                summary,
                now,
            );
            if let Some(incident) = self.book.incidents.values_mut().find(|incident| {
                incident.is_open()
                    && incident.pipeline == pipeline.name
                    && incident.cause == Cause::Late
                    && incident.period == period.label
            }) {
                incident.period_end = Some(end);
            }
            said.extend(notes);
        }
        said
    }

    fn check_stalls(&mut self, pipeline: &PipelineRunbook, now: Timestamp) -> Vec<Notification> {
        let mut said = Vec::new();
        for feed in &pipeline.upstream {
            let Some(minutes) = self.runbooks.feeds.stall_after_minutes.get(feed).copied() else {
                continue;
            };
            let Some(last) = self
                .book
                .feeds
                .get(feed)
                .and_then(|known| known.last_data_at)
            else {
                continue;
            };
            let quiet = now.duration_since(last);
            let cause = Cause::FeedStalled { feed: feed.clone() };
            if quiet <= SignedDuration::from_mins(minutes) {
                said.extend(self.clear(
                    |incident| incident.pipeline == pipeline.name && incident.cause == cause,
                    "the feed brings data again",
                    now,
                ));
                continue;
            }
            let period = self.runbooks.local_date(last).to_string();
            let summary = format!(
                "{}: upstream feed {feed} stalled: no new data since {} ({} minutes, allowed {minutes})",
                pipeline.name,
                self.runbooks.format_local(last),
                quiet.as_mins()
            );
            said.extend(self.raise(
                pipeline,
                cause,
                &period,
                Some(format!("last data at {last}")),
                Some(format!("{minutes} minutes without data")),
                summary,
                now,
            ));
        }
        said
    }

    /// Pages and escalations due by `now`.
    pub fn escalate(&mut self, now: Timestamp) -> Vec<Notification> {
        self.touch(now);
        let mut said = Vec::new();
        for incident in self.book.incidents.values_mut() {
            if incident.state != IncidentState::Open {
                continue;
            }
            if let Some(pipeline) = self.runbooks.pipeline(&incident.pipeline) {
                said.extend(self.runbooks.escalate_due(pipeline, incident, now));
            }
        }
        said.sort_by_key(|notification| notification.at);
        said
    }

    /// `by` acknowledges incident `id`: escalation stops.
    pub fn acknowledge(
        &mut self,
        id: u64,
        by: &str,
        now: Timestamp,
    ) -> Result<Vec<Notification>, IncidentError> {
        self.touch(now);
        let incident = self
            .book
            .incidents
            .get_mut(&id)
            .ok_or(IncidentError::Unknown(id))?;
        if incident.state != IncidentState::Open {
            return Ok(Vec::new());
        }
        incident.state = IncidentState::Acknowledged;
        incident.acknowledged_by = Some(by.to_string());
        incident.acknowledged_at = Some(now);
        incident.holder = Some(by.to_string());
        incident.next_escalation_at = None;
        incident.note(now, format!("acknowledged by {by}"));
        tracing::info!(id, by, "incident acknowledged");
        Ok(vec![notification(Action::Acknowledge, now, None, incident)])
    }

    /// `by` resolves incident `id`.
    pub fn resolve(
        &mut self,
        id: u64,
        by: &str,
        now: Timestamp,
    ) -> Result<Vec<Notification>, IncidentError> {
        self.touch(now);
        let incident = self
            .book
            .incidents
            .get_mut(&id)
            .ok_or(IncidentError::Unknown(id))?;
        if !incident.is_open() {
            return Ok(Vec::new());
        }
        close(incident, by, "resolved by hand", now);
        Ok(vec![notification(Action::Resolve, now, None, incident)])
    }

    /// Applies the operator actions not applied yet (`actions` is the
    /// whole actions file, in order); unknown ids are logged and skipped.
    pub fn apply_actions(&mut self, actions: &[OperatorAction]) -> Vec<Notification> {
        let mut said = Vec::new();
        for action in actions.iter().skip(self.book.actions_applied) {
            let done = match action.action {
                OperatorVerb::Ack => self.acknowledge(action.id, &action.by, action.at),
                OperatorVerb::Resolve => self.resolve(action.id, &action.by, action.at),
            };
            match done {
                Ok(notes) => said.extend(notes),
                Err(error) => tracing::warn!(%error, id = action.id, "operator action skipped"),
            }
        }
        self.book.actions_applied = self.book.actions_applied.max(actions.len());
        said
    }
}

fn close(incident: &mut Incident, by: &str, why: &str, now: Timestamp) {
    incident.state = IncidentState::Resolved;
    incident.resolved_by = Some(by.to_string());
    incident.resolved_at = Some(now);
    incident.next_escalation_at = None;
    incident.note(now, format!("resolved by {by}: {why}"));
    tracing::info!(id = incident.id, by, why, "incident resolved");
}
