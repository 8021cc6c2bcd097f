//! `pipelines.toml`: the runbooks as configuration.
//!
//! One file states the five pipelines (owners, engineering manager,
//! severity, schedule, upstream feeds, published tables, checks, runbook
//! link), the contacts, business hours, holidays, escalation delays and
//! when a feed counts as stalled. [`Runbooks::parse`] reads it and
//! validates every name against what the caller says exists ([`Known`]):
//! the crate knows no feed, table or check of its own, so the engine
//! passes its lists in and a new pipeline's tables are accepted as soon as
//! the engine knows them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// A runbook file that cannot be used, saying what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: not valid TOML or not the expected shape: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// How urgent a pipeline's incidents are (RUNBOOKS.md, "Severity Levels").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Severity {
    /// Investor-facing: 24/7, acknowledge within 15 minutes.
    Sev1,
    /// Experiments: business hours, acknowledge within 1 hour.
    Sev2,
    /// Backlog: a ticket, no page.
    Sev3,
}

impl TryFrom<u8> for Severity {
    type Error = String;
    fn try_from(level: u8) -> Result<Severity, String> {
        match level {
            1 => Ok(Severity::Sev1),
            2 => Ok(Severity::Sev2),
            3 => Ok(Severity::Sev3),
            other => Err(format!("severity {other} does not exist: use 1, 2 or 3")),
        }
    }
}

impl From<Severity> for u8 {
    fn from(severity: Severity) -> u8 {
        match severity {
            Severity::Sev1 => 1,
            Severity::Sev2 => 2,
            Severity::Sev3 => 3,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sev-{}", u8::from(*self))
    }
}

/// How a schedule cuts periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Day,
    Week,
    Month,
}

/// One publication schedule: every `period`, published `publish_after_hours`
/// after the period's end in the business time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub period: PeriodKind,
    pub publish_after_hours: i64,
}

/// A person who can be paged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    /// Days (business calendar) the person is away: the secondary covers.
    #[serde(default)]
    pub unavailable: Vec<Date>,
}

/// One pipeline's runbook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineRunbook {
    pub name: String,
    pub title: String,
    pub severity: Severity,
    pub primary: String,
    pub secondary: String,
    pub manager: String,
    pub schedules: Vec<Schedule>,
    /// Every upstream feed of the runbook: any of them stalling is an incident.
    pub upstream: Vec<String>,
    /// The upstream feeds whose watermarks decide that a period is complete.
    pub completeness: Vec<String>,
    pub publishes: Vec<String>,
    pub checks: Vec<String>,
    /// Where the on-call person finds the steps for this pipeline.
    pub runbook: String,
}

/// Business hours: when Sev-2 pipelines are covered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursConfig {
    pub zone: String,
    pub start: Time,
    pub end: Time,
    pub weekdays: Vec<String>,
}

/// A day off for the whole team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    pub date: Date,
    pub name: String,
}

/// Escalation delays (RUNBOOKS.md: 15 and 30 minutes for Sev-1, 1 hour of
/// business time for Sev-2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    pub sev1_secondary_after_minutes: i64,
    pub sev1_manager_after_minutes: i64,
    pub sev2_acknowledge_within_business_minutes: i64,
}

/// Which feeds are watched for stalls, and after how long without data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedWatch {
    /// Minutes without new data after which a feed counts as stalled; a
    /// feed that is not listed (sparse feeds: flags, catalogs) is never
    /// stalled.
    pub stall_after_minutes: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunbookFile {
    business_hours: BusinessHoursConfig,
    #[serde(default)]
    holidays: Vec<Holiday>,
    escalation: EscalationConfig,
    feeds: FeedWatch,
    ticket_queue: String,
    contacts: BTreeMap<String, Contact>,
    #[serde(rename = "pipeline")]
    pipelines: Vec<PipelineRunbook>,
}

/// What exists, as the caller (the engine) knows it.
#[derive(Clone, Debug, Default)]
pub struct Known {
    pub feeds: BTreeSet<String>,
    pub tables: BTreeSet<String>,
    /// `(pipeline, check)` pairs of the `checks` table.
    pub checks: BTreeSet<(String, String)>,
}

impl Known {
    /// The pipelines the checks mention.
    fn pipelines(&self) -> BTreeSet<&str> {
        self.checks.iter().map(|(p, _)| p.as_str()).collect()
    }
}

/// The validated runbooks.
#[derive(Clone, Debug)]
pub struct Runbooks {
    pub zone: TimeZone,
    pub zone_name: String,
    pub business_start: Time,
    pub business_end: Time,
    pub business_weekdays: BTreeSet<i8>,
    pub holidays: BTreeMap<Date, String>,
    pub escalation: EscalationConfig,
    pub feeds: FeedWatch,
    pub ticket_queue: String,
    pub contacts: BTreeMap<String, Contact>,
    pub pipelines: Vec<PipelineRunbook>,
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

impl Runbooks {
    /// Parses and validates `text`; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str, known: &Known) -> Result<Runbooks, ConfigError> {
        let file: RunbookFile = toml::from_str(text).map_err(|error| ConfigError::Syntax {
            origin: origin.to_string(),
            message: error.to_string(),
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let zone = TimeZone::get(&file.business_hours.zone).map_err(|_| {
            invalid(format!(
                "business_hours.zone {:?} is not an IANA time zone (for example \"America/Chicago\")",
                file.business_hours.zone
            ))
        })?;
        if file.business_hours.start >= file.business_hours.end {
            return Err(invalid(format!(
                "business_hours.start {} must be before business_hours.end {}",
                file.business_hours.start, file.business_hours.end
            )));
        }
        let mut business_weekdays = BTreeSet::new();
        for name in &file.business_hours.weekdays {
            let day = weekday(name).ok_or_else(|| {
                invalid(format!(
                    "business_hours.weekdays: {name:?} is not a weekday (mon, tue, ... sun)"
                ))
            })?;
            business_weekdays.insert(day.to_monday_one_offset());
        }
        let escalation = &file.escalation;
        if escalation.sev1_secondary_after_minutes <= 0
            || escalation.sev1_manager_after_minutes <= escalation.sev1_secondary_after_minutes
            || escalation.sev2_acknowledge_within_business_minutes <= 0
        {
            return Err(invalid(
                "escalation: delays must be positive and the manager comes after the secondary"
                    .into(),
            ));
        }
        for (feed, minutes) in &file.feeds.stall_after_minutes {
            if !known.feeds.contains(feed) {
                return Err(invalid(format!(
                    "feeds.stall_after_minutes names an unknown feed {feed:?}; feeds are {}",
                    join(&known.feeds)
                )));
            }
            if *minutes <= 0 {
                return Err(invalid(format!(
                    "feeds.stall_after_minutes.{feed} must be more than 0"
                )));
            }
        }
        for (key, contact) in &file.contacts {
            if contact.name.trim().is_empty()
                || (contact.email.trim().is_empty() && contact.phone.trim().is_empty())
            {
                return Err(invalid(format!(
                    "contact {key:?} needs a name and an email or a phone"
                )));
            }
        }
        let mut names = BTreeSet::new();
        let known_pipelines = known.pipelines();
        for pipeline in &file.pipelines {
            let at = format!("pipeline {:?}", pipeline.name);
            if !names.insert(pipeline.name.clone()) {
                return Err(invalid(format!("{at} is defined twice")));
            }
            if !known_pipelines.is_empty() && !known_pipelines.contains(pipeline.name.as_str()) {
                return Err(invalid(format!(
                    "{at} is not a pipeline of the checks table; pipelines are {}",
                    known_pipelines
                        .iter()
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            for (role, person) in [
                ("primary", &pipeline.primary),
                ("secondary", &pipeline.secondary),
                ("manager", &pipeline.manager),
            ] {
                if !file.contacts.contains_key(person) {
                    return Err(invalid(format!(
                        "{at}: {role} {person:?} has no contact; add [contacts.{person}] with a name and an email or phone"
                    )));
                }
            }
            if pipeline.primary == pipeline.secondary {
                return Err(invalid(format!(
                    "{at}: the secondary must be someone else than the primary"
                )));
            }
            if pipeline.schedules.is_empty() {
                return Err(invalid(format!("{at} has no schedule")));
            }
            for schedule in &pipeline.schedules {
                if !(0..=24 * 31).contains(&schedule.publish_after_hours) {
                    return Err(invalid(format!(
                        "{at}: publish_after_hours must be between 0 and 744"
                    )));
                }
            }
            for feed in pipeline.upstream.iter().chain(&pipeline.completeness) {
                if !known.feeds.contains(feed) {
                    return Err(invalid(format!(
                        "{at}: unknown upstream feed {feed:?}; feeds are {}",
                        join(&known.feeds)
                    )));
                }
            }
            if let Some(feed) = pipeline
                .completeness
                .iter()
                .find(|feed| !pipeline.upstream.contains(feed))
            {
                return Err(invalid(format!(
                    "{at}: completeness feed {feed:?} is not one of its upstream feeds"
                )));
            }
            for table in &pipeline.publishes {
                if !known.tables.contains(table) {
                    return Err(invalid(format!(
                        "{at}: publishes unknown table {table:?}; tables are {}",
                        join(&known.tables)
                    )));
                }
            }
            for check in &pipeline.checks {
                if !known
                    .checks
                    .contains(&(pipeline.name.clone(), check.clone()))
                {
                    let of_pipeline: Vec<&str> = known
                        .checks
                        .iter()
                        .filter(|(p, _)| *p == pipeline.name)
                        .map(|(_, c)| c.as_str())
                        .collect();
                    return Err(invalid(format!(
                        "{at}: check {check:?} does not exist; its checks are {}",
                        if of_pipeline.is_empty() {
                            "none".to_string()
                        } else {
                            of_pipeline.join(", ")
                        }
                    )));
                }
            }
        }
        Ok(Runbooks {
            zone,
            zone_name: file.business_hours.zone.clone(),
            business_start: file.business_hours.start,
            business_end: file.business_hours.end,
            business_weekdays,
            holidays: file
                .holidays
                .into_iter()
                .map(|holiday| (holiday.date, holiday.name))
                .collect(),
            escalation: file.escalation,
            feeds: file.feeds,
            ticket_queue: file.ticket_queue,
            contacts: file.contacts,
            pipelines: file.pipelines,
        })
    }

    pub fn pipeline(&self, name: &str) -> Option<&PipelineRunbook> {
        self.pipelines.iter().find(|pipeline| pipeline.name == name)
    }

    /// The contact's display name, or the key itself.
    pub fn person(&self, key: &str) -> String {
        self.contacts
            .get(key)
            .map(|contact| format!("{} ({key})", contact.name))
            .unwrap_or_else(|| key.to_string())
    }
}

fn join(names: &BTreeSet<String>) -> String {
    names.iter().cloned().collect::<Vec<_>>().join(", ")
}
