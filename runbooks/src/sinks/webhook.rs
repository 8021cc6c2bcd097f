//! The webhook: an HTTP POST of a JSON body shaped like PagerDuty's
//! Events API v2 (`https://events.pagerduty.com/v2/enqueue`).
//!
//! Pages and escalations are `trigger` events (an escalation is a trigger
//! with the same dedup key, naming the person paged in the custom
//! details), acknowledgements `acknowledge`, resolutions `resolve`.
//! Opening a Sev-2 outside business hours, updates and Sev-3 tickets page
//! nobody, so they are not sent; a resolution of an incident that never
//! paged anyone is not sent either.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Sink, SinkError};
use crate::config::Severity;
use crate::incident::{Action, Notification};

/// Posts PagerDuty-shaped events to a URL.
#[derive(Debug)]
pub struct WebhookSink {
    url: String,
    routing_key: String,
    agent: ureq::Agent,
}

impl WebhookSink {
    /// A sink posting to `url`, each request given at most `timeout`.
    pub fn new(url: &str, routing_key: &str, timeout: Duration) -> WebhookSink {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(true)
            .build()
            .into();
        WebhookSink {
            url: url.to_string(),
            routing_key: routing_key.to_string(),
            agent,
        }
    }
}

/// The Events API v2 body for `notification`, or `None` if it pages nobody.
pub fn pagerduty_event(routing_key: &str, notification: &Notification) -> Option<Value> {
    let incident = &notification.incident;
    let event_action = match notification.action {
        Action::Page | Action::Escalate => "trigger",
        Action::Acknowledge if incident.paged => "acknowledge",
        Action::Resolve if incident.paged => "resolve",
        _ => return None,
    };
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": event_action,
        "dedup_key": incident.dedup_key,
    });
    if event_action == "trigger" {
        event["payload"] = json!({
            "summary": incident.summary,
            "source": "streamflix",
            "severity": match incident.severity {
                Severity::Sev1 => "critical",
                Severity::Sev2 => "error",
                Severity::Sev3 => "warning",
            },
            "timestamp": notification.at.to_string(),
            "component": incident.pipeline,
            "group": incident.severity.to_string(),
            "class": incident.cause.key(),
            "custom_details": {
                "incident_id": incident.id,
                "pipeline": incident.pipeline,
                "severity": incident.severity.to_string(),
                "cause": incident.cause,
                "period": incident.period,
                "value": incident.value,
                "threshold": incident.threshold,
                "page": notification.to,
                "escalation_level": incident.escalation_level,
                "runbook": incident.runbook,
                "opened_at": incident.opened_at.to_string(),
            },
        });
        event["links"] = json!([{ "href": incident.runbook, "text": "runbook steps" }]);
    }
    Some(event)
}

impl Sink for WebhookSink {
    fn name(&self) -> String {
        format!("webhook {}", self.url)
    }

    fn deliver(&mut self, notification: &Notification) -> Result<(), SinkError> {
        let Some(event) = pagerduty_event(&self.routing_key, notification) else {
            return Ok(());
        };
        let body = serde_json::to_string(&event).expect("events always serialize");
        self.agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body.as_str())
            .map(|_| ())
            .map_err(|error| SinkError {
                sink: self.name(),
                message: error.to_string(),
            })
    }
}
