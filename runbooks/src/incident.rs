//! What an incident is: its cause, its state and what is said about it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::Severity;
use crate::oncall::Role;

/// Why an incident was opened.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// A check of the `checks` table failed for the period.
    CheckFailed { check: String },
    /// The period's publication time came before its upstream was complete.
    Late,
    /// An upstream feed brought no new data for longer than allowed.
    FeedStalled { feed: String },
    /// A published snapshot of the period changed: a new revision.
    Restated { table: String },
    /// Records of an upstream feed came after their restatement horizon
    /// and were refused (dead letters `beyond_retention`).
    BeyondRetention { feed: String },
}

impl Cause {
    /// The cause's part of the dedup key.
    pub fn key(&self) -> String {
        match self {
            Cause::CheckFailed { check } => format!("check:{check}"),
            Cause::Late => "late".to_string(),
            Cause::FeedStalled { feed } => format!("stalled:{feed}"),
            Cause::Restated { table } => format!("restated:{table}"),
            Cause::BeyondRetention { feed } => format!("beyond_retention:{feed}"),
        }
    }
}

/// Where an incident stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    Open,
    Acknowledged,
    Resolved,
}

/// One entry of an incident's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: Timestamp,
    pub what: String,
}

/// One incident: a pipeline, a cause and a period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: u64,
    /// `pipeline/cause/period`: one incident per key while it is not resolved.
    pub dedup_key: String,
    pub pipeline: String,
    pub severity: Severity,
    pub cause: Cause,
    pub period: String,
    /// The measured value, as the source states it.
    pub value: Option<String>,
    pub threshold: Option<String>,
    pub summary: String,
    /// The runbook steps for the pipeline.
    pub runbook: String,
    pub state: IncidentState,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    /// How many times the cause was reported (1 when opened).
    pub occurrences: u32,
    /// The contact key (or queue) that holds the incident now.
    pub holder: Option<String>,
    pub holder_role: Option<Role>,
    /// Whether anyone has been paged yet (Sev-2 waits for business hours).
    pub paged: bool,
    /// When the next page or escalation is due, if unacknowledged.
    pub next_escalation_at: Option<Timestamp>,
    /// Pages sent so far: 0 before the first.
    pub escalation_level: u8,
    /// End of the late period, to resolve the incident once it is complete.
    #[serde(default)]
    pub period_end: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
    pub history: Vec<HistoryEntry>,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.state != IncidentState::Resolved
    }

    pub(crate) fn note(&mut self, at: Timestamp, what: impl Into<String>) {
        self.updated_at = self.updated_at.max(at);
        self.history.push(HistoryEntry {
            at,
            what: what.into(),
        });
    }
}

/// What happened to an incident, for the sinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Recorded; nobody is paged yet (a Sev-2 outside business hours).
    Opened,
    /// Page the holder (first page).
    Page,
    /// Page the next person: the previous one did not acknowledge in time.
    Escalate,
    /// A Sev-3: a ticket, no page.
    Ticket,
    /// The cause was reported again with another value.
    Update,
    Acknowledge,
    Resolve,
}

/// One notification: an action on an incident, as it stands after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub action: Action,
    pub at: Timestamp,
    /// The contact key paged, for pages and escalations.
    pub to: Option<String>,
    pub incident: Incident,
}
