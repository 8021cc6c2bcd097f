//! Notification sinks: where incidents are told.
//!
//! * [`jsonl::JsonlSink`]: an append-only incident log, one JSON object a line;
//! * [`webhook::WebhookSink`]: an HTTP POST shaped like PagerDuty's Events
//!   API v2, with a timeout;
//! * [`kafka::KafkaSink`]: the topic `streamflix.incidents`.
//!
//! The [`Dispatcher`] hands every notification to every sink, retries a
//! failing sink with a growing pause, and when it still fails logs it and
//! counts it in [`SinkHealth`]: a sink never stops the engine. The
//! [`DispatcherThread`] runs it beside the dataflow so that a slow webhook
//! never holds a worker.

pub mod jsonl;
pub mod kafka;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::Severity;
use crate::incident::{Action, Cause, IncidentState, Notification};

/// A sink that could not deliver, and why.
#[derive(Debug, thiserror::Error)]
#[error("{sink}: {message}")]
pub struct SinkError {
    pub sink: String,
    pub message: String,
}

/// Somewhere notifications go.
pub trait Sink: Send + std::fmt::Debug {
    fn name(&self) -> String;
    /// One attempt at delivering `notification`.
    fn deliver(&mut self, notification: &Notification) -> Result<(), SinkError>;
    /// Waits until what was delivered is durable, where that applies.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// One notification as the log and the topic carry it: the incident's
/// fields flat, without its history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub at: Timestamp,
    pub action: Action,
    pub id: u64,
    pub dedup_key: String,
    pub pipeline: String,
    pub severity: Severity,
    pub cause: Cause,
    pub period: String,
    pub value: Option<String>,
    pub threshold: Option<String>,
    pub summary: String,
    pub state: IncidentState,
    pub holder: Option<String>,
    pub paged: Option<String>,
    pub runbook: String,
    pub opened_at: Timestamp,
}

impl From<&Notification> for NotificationRecord {
    fn from(notification: &Notification) -> NotificationRecord {
        let incident = &notification.incident;
        NotificationRecord {
            at: notification.at,
            action: notification.action,
            id: incident.id,
            dedup_key: incident.dedup_key.clone(),
            pipeline: incident.pipeline.clone(),
            severity: incident.severity,
            cause: incident.cause.clone(),
            period: incident.period.clone(),
            value: incident.value.clone(),
            threshold: incident.threshold.clone(),
            summary: incident.summary.clone(),
            state: incident.state,
            holder: incident.holder.clone(),
            paged: notification.to.clone(),
            runbook: incident.runbook.clone(),
            opened_at: incident.opened_at,
        }
    }
}

/// How a sink has fared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkHealth {
    pub delivered: u64,
    /// Notifications given up after every retry.
    pub failed: u64,
    /// Attempts that failed, retried or not.
    pub failed_attempts: u64,
    pub last_error: Option<String>,
}

/// Hands notifications to sinks, with retries.
#[derive(Debug)]
pub struct Dispatcher {
    sinks: Vec<Box<dyn Sink>>,
    attempts: u32,
    backoff: Duration,
    health: Arc<Mutex<BTreeMap<String, SinkHealth>>>,
}

impl Dispatcher {
    /// `attempts` tries per notification and sink, pausing `backoff`,
    /// then twice that, and so on, between them.
    pub fn new(sinks: Vec<Box<dyn Sink>>, attempts: u32, backoff: Duration) -> Dispatcher {
        Dispatcher {
            sinks,
            attempts: attempts.max(1),
            backoff,
            health: Arc::default(),
        }
    }

    /// Each sink's record so far.
    pub fn health(&self) -> BTreeMap<String, SinkHealth> {
        self.health.lock().map(|h| h.clone()).unwrap_or_default()
    }

    fn record(&self, sink: &str, change: impl FnOnce(&mut SinkHealth)) {
        if let Ok(mut health) = self.health.lock() {
            change(health.entry(sink.to_string()).or_default());
        }
    }

    /// Delivers every notification to every sink; returns how many
    /// deliveries were given up.
    pub fn deliver(&mut self, notifications: &[Notification]) -> usize {
        let mut given_up = 0;
        for index in 0..self.sinks.len() {
            let name = self.sinks[index].name();
            let mut accepted = 0;
            for notification in notifications {
                if self.deliver_one(index, &name, notification) {
                    accepted += 1;
                } else {
                    given_up += 1;
                }
            }
            if accepted == 0 {
                continue;
            }
            if self.flush(index, &name, notifications) {
                self.record(&name, |h| h.delivered += accepted);
            } else {
                self.record(&name, |h| h.failed += accepted);
                given_up += accepted as usize;
            }
        }
        given_up
    }

    /// Hands one notification to one sink, retrying; false once given up.
    fn deliver_one(&mut self, index: usize, name: &str, notification: &Notification) -> bool {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Err(error) = self.sinks[index].deliver(notification) else {
                return true;
            };
            self.failed_attempt(name, &error);
            if attempt >= self.attempts {
                tracing::error!(
                    sink = name,
                    id = notification.incident.id,
                    attempts = attempt,
                    %error,
                    "notification given up"
                );
                self.record(name, |h| h.failed += 1);
                return false;
            }
            tracing::warn!(sink = name, attempt, %error, "notification failed, retrying");
            std::thread::sleep(self.backoff * attempt);
        }
    }

    /// Waits until the sink holds the batch durably. A sink that queues
    /// (Kafka) may lose part of a batch to a broker outage without saying
    /// which part: it is handed the whole batch again, so a reader may see
    /// a notification twice, never not at all.
    fn flush(&mut self, index: usize, name: &str, notifications: &[Notification]) -> bool {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Err(error) = self.sinks[index].flush() else {
                return true;
            };
            self.failed_attempt(name, &error);
            if attempt >= self.attempts {
                tracing::error!(sink = name, attempts = attempt, %error, "notifications given up");
                return false;
            }
            tracing::warn!(sink = name, attempt, %error, "sink flush failed, retrying");
            std::thread::sleep(self.backoff * attempt);
            for notification in notifications {
                if let Err(error) = self.sinks[index].deliver(notification) {
                    self.failed_attempt(name, &error);
                }
            }
        }
    }

    fn failed_attempt(&self, sink: &str, error: &SinkError) {
        let message = error.to_string();
        self.record(sink, |h| {
            h.failed_attempts += 1;
            h.last_error = Some(message);
        });
    }
}

/// A [`Dispatcher`] on a thread of its own.
#[derive(Debug)]
pub struct DispatcherThread {
    sender: Option<Sender<Vec<Notification>>>,
    health: Arc<Mutex<BTreeMap<String, SinkHealth>>>,
    thread: Option<JoinHandle<()>>,
}

impl DispatcherThread {
    pub fn spawn(mut dispatcher: Dispatcher) -> DispatcherThread {
        let (sender, receiver): (Sender<Vec<Notification>>, Receiver<Vec<Notification>>) =
            channel();
        let health = dispatcher.health.clone();
        let thread = std::thread::Builder::new()
            .name("incident-sinks".into())
            .spawn(move || {
                while let Ok(batch) = receiver.recv() {
                    dispatcher.deliver(&batch);
                }
            })
            .expect("the OS can start a thread");
        DispatcherThread {
            sender: Some(sender),
            health,
            thread: Some(thread),
        }
    }

    /// Queues notifications; never blocks.
    pub fn send(&self, notifications: Vec<Notification>) {
        if notifications.is_empty() {
            return;
        }
        if let Some(sender) = &self.sender
            && sender.send(notifications).is_err()
        {
            tracing::error!("incident sink thread is gone; notifications dropped");
        }
    }

    pub fn health(&self) -> BTreeMap<String, SinkHealth> {
        self.health.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Delivers what is queued, then stops the thread.
    pub fn finish(mut self) -> BTreeMap<String, SinkHealth> {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.health()
    }
}
