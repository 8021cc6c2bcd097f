//! Where pipeline status and incidents come from.
//!
//! The server asks two small traits. The engine implements both over the
//! runbooks' incident state (`streamflix_engine::api::RunbooksDesk`), the
//! same files `streamflix status` and `streamflix incident ack|resolve`
//! use. The defaults here, for a server without runbooks (the crate's own
//! tests), answer from the engine's view (pipelines) and say there is no
//! incident.

use std::sync::Arc;

use serde::Serialize;

use crate::state::Shared;

/// The status of every pipeline, as `streamflix status --json` prints it:
/// a JSON object with at least `pipelines`.
pub trait PipelineStatusSource: Send + Sync {
    fn status(&self) -> Result<serde_json::Value, IncidentError>;
}

/// An incident as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub id: u64,
    /// `Sev-1`, `Sev-2` or `Sev-3` (RUNBOOKS.md, "Severity Levels").
    pub severity: String,
    pub pipeline: String,
    /// `pipeline/cause/period`: one incident per key while not resolved.
    pub dedup_key: String,
    /// The period it is about (`2026-10-12`, `2026-W41`, `2026-10`).
    pub period: String,
    pub title: String,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    /// The contact key (or name) that holds it now.
    pub holder: Option<String>,
    /// RFC 3339.
    pub opened_at: String,
    pub updated_at: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<String>,
}

impl Incident {
    /// Not yet resolved.
    pub fn is_open(&self) -> bool {
        self.state != "resolved"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("no incident {0}: GET /v1/incidents lists them")]
    NotFound(String),
    #[error("incident {id} cannot be changed: {reason}")]
    Conflict { id: String, reason: String },
    /// The incident state cannot be read or written (a file, a disk).
    #[error("incident state unavailable: {0}")]
    Unavailable(String),
}

/// The incidents, and what an operator may do to them.
pub trait IncidentDesk: Send + Sync {
    fn list(&self) -> Result<Vec<Incident>, IncidentError>;
    /// `by` is the token holder's name.
    fn acknowledge(&self, id: &str, by: &str) -> Result<Incident, IncidentError>;
    fn resolve(&self, id: &str, by: &str) -> Result<Incident, IncidentError>;
}

/// Pipeline status from the engine's view: watermarks, event clocks and
/// the latest published period per table.
#[derive(Debug)]
pub struct ViewPipelines(pub Arc<Shared>);

impl PipelineStatusSource for ViewPipelines {
    fn status(&self) -> Result<serde_json::Value, IncidentError> {
        Ok(serde_json::json!({ "pipelines": self.0.load().pipelines }))
    }
}

/// No runbooks: nothing is open, and nothing can be changed.
#[derive(Debug, Default)]
pub struct NoIncidents;

impl IncidentDesk for NoIncidents {
    fn list(&self) -> Result<Vec<Incident>, IncidentError> {
        Ok(Vec::new())
    }

    fn acknowledge(&self, id: &str, _by: &str) -> Result<Incident, IncidentError> {
        Err(IncidentError::NotFound(id.to_string()))
    }

    fn resolve(&self, id: &str, _by: &str) -> Result<Incident, IncidentError> {
        Err(IncidentError::NotFound(id.to_string()))
    }
}

/// What the server asks besides the view.
#[derive(Clone)]
pub struct Providers {
    pub pipelines: Arc<dyn PipelineStatusSource>,
    pub incidents: Arc<dyn IncidentDesk>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers").finish_non_exhaustive()
    }
}

impl Providers {
    /// The defaults: pipelines from the view, no incidents.
    pub fn defaults(shared: &Arc<Shared>) -> Providers {
        Providers {
            pipelines: Arc::new(ViewPipelines(shared.clone())),
            incidents: Arc::new(NoIncidents),
        }
    }
}
