//! Escalation: who is paged when, exactly as the runbooks say.
//!
//! * **Sev-1**: the covering owner (primary; secondary on holidays or when
//!   the primary is unavailable) is paged at once. Unacknowledged after
//!   15 minutes, the other owner is paged; after 30 minutes, the
//!   engineering manager. Then nobody else.
//! * **Sev-2**: paged at once in business hours, else at the next start of
//!   business hours (a Friday-evening incident pages on Monday 09:00).
//!   Unacknowledged after 1 hour of business time, the other owner is
//!   paged (the runbooks name no one further for Sev-2).
//! * **Sev-3**: a ticket in the queue; no page, no escalation.
//!
//! Acknowledging stops escalation; the delays are configurable.

use jiff::{SignedDuration, Timestamp};

use crate::config::{PipelineRunbook, Runbooks, Severity};
use crate::incident::{Action, Incident, Notification};
use crate::oncall::Role;

fn other_owner(role: Role) -> Role {
    match role {
        Role::Primary => Role::Secondary,
        _ => Role::Primary,
    }
}

impl Runbooks {
    /// Sets up a new incident's first page and returns what to say.
    pub(crate) fn first_page(
        &self,
        pipeline: &PipelineRunbook,
        incident: &mut Incident,
        now: Timestamp,
    ) -> Notification {
        match pipeline.severity {
            Severity::Sev3 => {
                incident.holder = Some(self.ticket_queue.clone());
                incident.next_escalation_at = None;
                incident.note(now, format!("ticket filed in {}", self.ticket_queue));
                notification(Action::Ticket, now, None, incident)
            }
            Severity::Sev1 => self.page(pipeline, incident, now, now),
            Severity::Sev2 => {
                let from = self.next_business_start(now);
                if from <= now {
                    self.page(pipeline, incident, now, now)
                } else {
                    let role = self.covering_owner(pipeline, from);
                    incident.holder = Some(role.contact(pipeline).to_string());
                    incident.holder_role = Some(role);
                    incident.next_escalation_at = Some(from);
                    incident.note(
                        now,
                        format!(
                            "outside business hours: {} is paged at {}",
                            self.person(role.contact(pipeline)),
                            self.format_local(from)
                        ),
                    );
                    notification(Action::Opened, now, None, incident)
                }
            }
        }
    }

    /// Pages the covering owner at `at` (the first page).
    fn page(
        &self,
        pipeline: &PipelineRunbook,
        incident: &mut Incident,
        at: Timestamp,
        opened: Timestamp,
    ) -> Notification {
        let role = self.covering_owner(pipeline, at);
        let contact = role.contact(pipeline).to_string();
        incident.holder = Some(contact.clone());
        incident.holder_role = Some(role);
        incident.paged = true;
        incident.escalation_level = 1;
        incident.next_escalation_at = Some(match pipeline.severity {
            Severity::Sev2 => self
                .add_business_minutes(at, self.escalation.sev2_acknowledge_within_business_minutes),
            _ => opened + SignedDuration::from_mins(self.escalation.sev1_secondary_after_minutes),
        });
        incident.note(at, format!("paged {}, {role}", self.person(&contact)));
        notification(Action::Page, at, Some(contact), incident)
    }

    /// Every page and escalation due by `now`, in order.
    pub(crate) fn escalate_due(
        &self,
        pipeline: &PipelineRunbook,
        incident: &mut Incident,
        now: Timestamp,
    ) -> Vec<Notification> {
        let mut said = Vec::new();
        while let Some(due) = incident.next_escalation_at.filter(|due| *due <= now) {
            if incident.state != crate::incident::IncidentState::Open {
                incident.next_escalation_at = None;
                break;
            }
            if !incident.paged {
                said.push(self.page(pipeline, incident, due, due));
                continue;
            }
            // At level 1 the holder is the covering owner; the next is the other one.
            let other = other_owner(incident.holder_role.unwrap_or(Role::Primary));
            let (next_role, next_due) = match (pipeline.severity, incident.escalation_level) {
                (Severity::Sev1, 1) => (
                    other,
                    Some(
                        incident.opened_at
                            + SignedDuration::from_mins(self.escalation.sev1_manager_after_minutes),
                    ),
                ),
                (Severity::Sev1, 2) => (Role::Manager, None),
                (Severity::Sev2, 1) => (other, None),
                _ => {
                    incident.next_escalation_at = None;
                    break;
                }
            };
            let contact = next_role.contact(pipeline).to_string();
            incident.holder = Some(contact.clone());
            incident.holder_role = Some(next_role);
            incident.escalation_level += 1;
            incident.next_escalation_at = next_due;
            incident.note(
                due,
                format!(
                    "not acknowledged in time: escalated to {}, {next_role}",
                    self.person(&contact)
                ),
            );
            said.push(notification(Action::Escalate, due, Some(contact), incident));
        }
        said
    }
}

pub(crate) fn notification(
    action: Action,
    at: Timestamp,
    to: Option<String>,
    incident: &Incident,
) -> Notification {
    Notification {
        action,
        at,
        to,
        incident: incident.clone(),
    }
}
