//! Runbooks as configuration: which pipelines exist, who owns them, when
//! they are due, who is on call, and the incidents that follow when a
//! check fails, a pipeline is late, a feed stalls or a snapshot is
//! restated.
//!
//! Everything here is pure and clock-injected: every operation takes
//! `now`, so tests run on a simulated clock and the engine on the wall
//! clock (or, in a replay, on the data's clock). Nothing here knows the
//! dataflow; the engine feeds it check rows, publications and feed
//! progress.
//!
//! * [`config`]: `pipelines.toml`, parsed and validated against the feeds,
//!   tables and checks the caller knows;
//! * [`hours`]: business hours, holidays and daylight saving;
//! * [`oncall`]: who is on call for a pipeline now;
//! * [`schedule`]: periods and publication times;
//! * [`incidents`]: the incident manager (open, update, acknowledge,
//!   resolve), with [`escalation`] deciding pages and escalations and
//!   [`incident`] the incident itself;
//! * [`sinks`]: the JSONL log, the PagerDuty-shaped webhook, Kafka;
//! * [`status`]: the per-pipeline status view;
//! * [`store`]: incident state on disk, shared with the CLI.

pub mod config;
pub mod escalation;
pub mod hours;
pub mod incident;
pub mod incidents;
pub mod oncall;
pub mod schedule;
pub mod sinks;
pub mod status;
pub mod store;

pub use config::{ConfigError, Known, Runbooks, Severity};
pub use incident::{Action, Cause, Incident, IncidentState, Notification};
pub use incidents::{
    CheckResult, FeedProgress, IncidentBook, IncidentError, IncidentManager, OperatorAction,
    OperatorVerb, Publication,
};
pub use oncall::{OnCall, Role};
pub use status::StatusView;
