//! Who is on call for a pipeline at a given instant.
//!
//! * Sev-1: 24/7; the primary, the secondary on holidays or on a day the
//!   primary is marked unavailable.
//! * Sev-2: business hours only; the same rule for who. Outside business
//!   hours nobody is paged: the page waits for the next business hours.
//! * Sev-3: the ticket queue, never a page.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::{PipelineRunbook, Runbooks, Severity};

/// The answer to "who gets this now?".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OnCall {
    /// Page this contact (a key of `[contacts]`).
    Page { contact: String, role: Role },
    /// Nobody now: business hours resume at `from`, with this contact.
    AfterHours {
        from: Timestamp,
        contact: String,
        role: Role,
    },
    /// A ticket in this queue; nobody is paged.
    Ticket { queue: String },
}

/// The part a contact plays for a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Primary,
    Secondary,
    Manager,
}

impl Role {
    pub fn contact(self, pipeline: &PipelineRunbook) -> &str {
        match self {
            Role::Primary => &pipeline.primary,
            Role::Secondary => &pipeline.secondary,
            Role::Manager => &pipeline.manager,
        }
    }
}

impl Runbooks {
    /// Whether `contact` is marked unavailable on the day of `at`.
    pub fn is_unavailable(&self, contact: &str, at: Timestamp) -> bool {
        let day = self.local_date(at);
        self.contacts
            .get(contact)
            .is_some_and(|contact| contact.unavailable.contains(&day))
    }

    /// Which owner covers `pipeline` on the day of `at`: the secondary on
    /// holidays and when the primary is unavailable.
    pub fn covering_owner(&self, pipeline: &PipelineRunbook, at: Timestamp) -> Role {
        if self.is_holiday(at) || self.is_unavailable(&pipeline.primary, at) {
            Role::Secondary
        } else {
            Role::Primary
        }
    }

    /// Who is on call for `pipeline` at `at`.
    pub fn on_call(&self, pipeline: &PipelineRunbook, at: Timestamp) -> OnCall {
        match pipeline.severity {
            Severity::Sev1 => {
                let role = self.covering_owner(pipeline, at);
                OnCall::Page {
                    contact: role.contact(pipeline).to_string(),
                    role,
                }
            }
            Severity::Sev2 => {
                let from = self.next_business_start(at);
                let role = self.covering_owner(pipeline, from);
                let contact = role.contact(pipeline).to_string();
                if from == at {
                    OnCall::Page { contact, role }
                } else {
                    OnCall::AfterHours {
                        from,
                        contact,
                        role,
                    }
                }
            }
            Severity::Sev3 => OnCall::Ticket {
                queue: self.ticket_queue.clone(),
            },
        }
    }

    /// One line for a person: "Alice (A), primary" and the like.
    pub fn describe_on_call(&self, on_call: &OnCall) -> String {
        match on_call {
            OnCall::Page { contact, role } => format!("{}, {role}", self.person(contact)),
            OnCall::AfterHours {
                from,
                contact,
                role,
            } => format!(
                "nobody until business hours ({}), then {}, {role}",
                self.format_local(*from),
                self.person(contact)
            ),
            OnCall::Ticket { queue } => format!("ticket queue {queue}, no page"),
        }
    }

    /// `at` in the business zone, to the minute, with the zone's abbreviation.
    pub fn format_local(&self, at: Timestamp) -> String {
        at.to_zoned_datetime(self.zone.clone())
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
            Role::Manager => "engineering manager",
        })
    }
}
