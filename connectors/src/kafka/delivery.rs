//! Knowing that the broker took what a producer sent: a producer context
//! that counts refused messages, and a flush that notices the last
//! acknowledgement at once. Every streamflix producer (snapshots, dead
//! letters, `produce`, the incident sink of the runbooks) goes through it.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::Message;
use rdkafka::client::ClientContext;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};

/// A producer context counting the messages the broker did not take
/// since they were last taken stock of, with the first one's reason.
#[derive(Debug, Default)]
pub struct Deliveries {
    failures: Mutex<(usize, Option<String>)>,
}

impl Deliveries {
    /// The refused messages since the last call, and the first reason.
    pub fn take_failures(&self) -> (usize, Option<String>) {
        self.failures
            .lock()
            .map(|mut failures| std::mem::take(&mut *failures))
            .unwrap_or_default()
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((error, message)) = result
            && let Ok(mut failures) = self.failures.lock()
        {
            failures.0 += 1;
            failures.1.get_or_insert_with(|| {
                format!(
                    "{error} (topic {}, {} bytes)",
                    message.topic(),
                    message.payload_len()
                )
            });
        }
    }
}

/// Why a flush did not end with everything acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unacknowledged {
    /// The broker answered, and refused some messages.
    Refused { refused: usize, first: String },
    /// Messages were still waiting for an answer at the deadline.
    TimedOut { in_flight: i32 },
}

/// Waits at most `timeout` until every message `producer` queued is
/// answered, then reports the refused ones.
///
/// Not rdkafka's `flush`: in 0.39 it polls in rounds of 100 ms that do not
/// end when the last acknowledgement arrives, so every flush took at least
/// 100 ms (8 of the 11.8 s of a whole-service run, once per incident
/// notification). This one looks every millisecond.
pub fn wait_for_acknowledgements(
    producer: &BaseProducer<Deliveries>,
    timeout: Duration,
) -> Result<(), Unacknowledged> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        producer.poll(Duration::ZERO);
        let in_flight = producer.in_flight_count();
        if in_flight == 0 {
            return match producer.context().take_failures() {
                (0, _) => Ok(()),
                (refused, first) => Err(Unacknowledged::Refused {
                    refused,
                    first: first.unwrap_or_default(),
                }),
            };
        }
        if std::time::Instant::now() >= deadline {
            return Err(Unacknowledged::TimedOut { in_flight });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
