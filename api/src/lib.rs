//! The streamflix query API: tables, revisions, pipeline status and
//! incidents over HTTP, two dashboards, and Prometheus metrics.
//!
//! ```text
//!  engine (worker 0, every publisher tick) ──ApiView──► Shared (RwLock<Arc<ApiView>>)
//!                                                          │ load(): an Arc clone, no copy
//!  HTTP (axum on its own tokio runtime) ──bearer token──► role check ──► handlers
//!     /v1/tables[/{table}[/revisions]]   JSON | CSV | Arrow IPC stream
//!     /v1/pipelines, /v1/incidents[/{id}/acknowledge|resolve]   (providers)
//!     /v1/openapi.json, /dashboards/{investor,experiment}, /metrics
//! ```
//!
//! * [`state`]: the view the engine hands over ([`ApiView`]): every table
//!   with each row marked provisional or with the revision it was
//!   published in, the revisions with their times, per-feed counters; and
//!   [`Shared`], the cell the engine replaces it in and the handlers read.
//! * [`access`]: bearer tokens, roles, and which role sees which table,
//!   the one place the mapping lives.
//! * [`tables`]: table metadata (keys, period column), filters, and the
//!   JSON, CSV and Arrow IPC encodings.
//! * [`providers`]: where pipeline status and incidents come from, as
//!   traits, with the defaults used until the incident manager is wired.
//! * [`metrics`]: the Prometheus text exposition.
//! * [`server`]: the router, the auth middleware, the dashboards and the
//!   runtime the server runs on ([`ApiServer`]).
//!
//! The crate depends on the model and the sinks only, never on the engine:
//! the engine depends on it and builds the [`ApiView`].

pub mod access;
pub mod config;
pub mod metrics;
pub mod providers;
pub mod server;
pub mod state;
pub mod tables;

pub use access::Role;
pub use config::{ApiConfig, TokenConfig};
pub use providers::{Incident, IncidentDesk, IncidentError, PipelineStatusSource, Providers};
pub use server::{ApiServer, ServerError};
pub use state::{
    ApiTable, ApiView, FeedStatus, PipelineStatus, PublishedPeriod, RevisionInfo, Shared,
};
