//! The status view: one screen per pipeline, serialisable for an HTTP API.
//!
//! For each pipeline: its last published period and revision, freshness
//! against each schedule (the latest period due by now and whether its
//! upstream was complete), the latest result of each check, its open
//! incidents with their age and holder, and who is on call now.

use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use crate::config::{Runbooks, Severity};
use crate::incident::{Cause, IncidentState};
use crate::incidents::{CheckResult, IncidentBook, Publication};
use crate::oncall::OnCall;
use crate::sinks::SinkHealth;

/// The whole screen.
#[derive(Clone, Debug, Serialize)]
pub struct StatusView {
    pub now: Timestamp,
    pub now_local: String,
    /// `now` is the data's clock (a replay), not the wall clock.
    pub data_clock: bool,
    pub pipelines: Vec<PipelineStatus>,
    pub sinks: Vec<(String, SinkHealth)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PipelineStatus {
    pub name: String,
    pub title: String,
    pub severity: Severity,
    pub primary: String,
    pub secondary: String,
    pub manager: String,
    pub last_published: Option<Publication>,
    pub freshness: Vec<Freshness>,
    pub checks: Vec<CheckResult>,
    pub open_incidents: Vec<IncidentLine>,
    pub on_call: OnCall,
    pub on_call_text: String,
    pub runbook: String,
}

/// Where a pipeline stands against one schedule.
#[derive(Clone, Debug, Serialize)]
pub struct Freshness {
    pub period_kind: String,
    /// The latest period whose publication time has come.
    pub latest_due: String,
    pub due_at: Timestamp,
    pub next_due_at: Timestamp,
    pub complete_until: Option<Timestamp>,
    pub on_time: bool,
}

/// An open incident, short.
#[derive(Clone, Debug, Serialize)]
pub struct IncidentLine {
    pub id: u64,
    pub severity: Severity,
    pub cause: Cause,
    pub period: String,
    pub state: IncidentState,
    pub summary: String,
    pub age_minutes: i64,
    pub holder: Option<String>,
    pub next_escalation_at: Option<Timestamp>,
}

impl StatusView {
    /// The view of `book` at `now`.
    pub fn build(runbooks: &Runbooks, book: &IncidentBook, now: Timestamp) -> StatusView {
        let pipelines = runbooks
            .pipelines
            .iter()
            .map(|pipeline| {
                let observed = book
                    .pipelines
                    .get(&pipeline.name)
                    .cloned()
                    .unwrap_or_default();
                let freshness = pipeline
                    .schedules
                    .iter()
                    .map(|schedule| {
                        let period = runbooks.latest_due_period(schedule, now);
                        let end = runbooks.period_end(&period);
                        Freshness {
                            period_kind: format!("{:?}", schedule.period).to_lowercase(),
                            latest_due: period.label.clone(),
                            due_at: runbooks.due_at(schedule, &period),
                            next_due_at: runbooks.next_due_at(schedule, now),
                            complete_until: observed.complete_until,
                            on_time: observed.complete_until.is_some_and(|until| until >= end),
                        }
                    })
                    .collect();
                let open_incidents = book
                    .incidents
                    .values()
                    .filter(|incident| incident.is_open() && incident.pipeline == pipeline.name)
                    .map(|incident| IncidentLine {
                        id: incident.id,
                        severity: incident.severity,
                        cause: incident.cause.clone(),
                        period: incident.period.clone(),
                        state: incident.state,
                        summary: incident.summary.clone(),
                        age_minutes: now.duration_since(incident.opened_at).as_mins(),
                        holder: incident.holder.clone(),
                        next_escalation_at: incident.next_escalation_at,
                    })
                    .collect();
                let on_call = runbooks.on_call(pipeline, now);
                PipelineStatus {
                    name: pipeline.name.clone(),
                    title: pipeline.title.clone(),
                    severity: pipeline.severity,
                    primary: runbooks.person(&pipeline.primary),
                    secondary: runbooks.person(&pipeline.secondary),
                    manager: runbooks.person(&pipeline.manager),
                    last_published: observed.last_published.clone(),
                    freshness,
                    checks: observed.checks.values().cloned().collect(),
                    open_incidents,
                    on_call_text: runbooks.describe_on_call(&on_call),
                    on_call,
                    runbook: pipeline.runbook.clone(),
                }
            })
            .collect();
        StatusView {
            now,
            now_local: runbooks.format_local(now),
            data_clock: book.data_clock,
            pipelines,
            sinks: book.sinks.clone().into_iter().collect(),
        }
    }

    /// The view as text for a terminal.
    pub fn render(&self, runbooks: &Runbooks) -> String {
        let mut text = String::new();
        let clock = if self.data_clock {
            "the data's clock (end of the replayed data)"
        } else {
            "wall clock"
        };
        let _ = writeln!(text, "streamflix status at {} ({clock})", self.now_local);
        for pipeline in &self.pipelines {
            let _ = writeln!(
                text,
                "\n== {} ({}), {} ==",
                pipeline.name, pipeline.title, pipeline.severity
            );
            let _ = writeln!(
                text,
                "  owners:     {} primary, {} secondary, {} manager",
                pipeline.primary, pipeline.secondary, pipeline.manager
            );
            let _ = writeln!(text, "  on call:    {}", pipeline.on_call_text);
            match &pipeline.last_published {
                Some(published) => {
                    let _ = writeln!(
                        text,
                        "  published:  {} {} revision {} at {}",
                        published.table,
                        published.period,
                        published.revision,
                        runbooks.format_local(published.at)
                    );
                }
                None => {
                    let _ = writeln!(text, "  published:  nothing yet");
                }
            }
            for fresh in &pipeline.freshness {
                let _ = writeln!(
                    text,
                    "  freshness:  {} {} due {}: {}; next due {}",
                    fresh.period_kind,
                    fresh.latest_due,
                    runbooks.format_local(fresh.due_at),
                    if fresh.on_time {
                        "upstream complete".to_string()
                    } else {
                        format!(
                            "LATE, upstream complete only until {}",
                            fresh
                                .complete_until
                                .map(|t| runbooks.format_local(t))
                                .unwrap_or_else(|| "never".into())
                        )
                    },
                    runbooks.format_local(fresh.next_due_at)
                );
            }
            if pipeline.checks.is_empty() {
                let _ = writeln!(text, "  checks:     no result yet");
            }
            for check in &pipeline.checks {
                let _ = writeln!(
                    text,
                    "  check:      {:<34} {:<10} {} (value {}, threshold {})",
                    check.check,
                    check.period,
                    if check.passed { "pass" } else { "FAIL" },
                    check.value.as_deref().unwrap_or("-"),
                    check.threshold.as_deref().unwrap_or("-")
                );
            }
            if pipeline.open_incidents.is_empty() {
                let _ = writeln!(text, "  incidents:  none open");
            }
            for incident in &pipeline.open_incidents {
                let _ = writeln!(
                    text,
                    "  incident #{} {} {:?}, {} old, held by {}{}: {}",
                    incident.id,
                    incident.severity,
                    incident.state,
                    age(incident.age_minutes),
                    incident
                        .holder
                        .as_deref()
                        .map(|holder| runbooks.person(holder))
                        .unwrap_or_else(|| "nobody".into()),
                    incident
                        .next_escalation_at
                        .map(|at| format!(", next page {}", runbooks.format_local(at)))
                        .unwrap_or_default(),
                    incident.summary
                );
            }
            let _ = writeln!(text, "  runbook:    {}", pipeline.runbook);
        }
        if !self.sinks.is_empty() {
            let _ = writeln!(text, "\nnotification sinks:");
            for (name, health) in &self.sinks {
                let _ = writeln!(
                    text,
                    "  {name}: {} delivered, {} given up{}",
                    health.delivered,
                    health.failed,
                    health
                        .last_error
                        .as_deref()
                        .map(|e| format!(", last error: {e}"))
                        .unwrap_or_default()
                );
            }
        }
        text
    }
}

fn age(minutes: i64) -> String {
    if minutes < 120 {
        format!("{minutes} min")
    } else if minutes < 48 * 60 {
        format!("{} h", minutes / 60)
    } else {
        format!("{} days", minutes / (24 * 60))
    }
}
