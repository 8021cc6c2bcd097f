//! Creating the topics streamflix reads and writes, when they are missing.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use super::{KafkaError, KafkaSettings, METADATA_TIMEOUT};

/// Creates every topic in `topics` that does not exist yet, with the
/// configured partitions and replication; an existing topic is left as it
/// is. Blocks until the broker answers.
pub fn ensure_topics(settings: &KafkaSettings, topics: &[String]) -> Result<(), KafkaError> {
    let plain: Vec<(&str, &[(&str, &str)])> = topics
        .iter()
        .map(|topic| (topic.as_str(), &[][..]))
        .collect();
    ensure_topics_with(settings, &plain)
}

/// [`ensure_topics`], each missing topic created with its own topic
/// settings (an existing topic keeps its own). One metadata request says
/// which are missing, and one request creates them all: at start-up every
/// round trip is time the service is not reading.
pub fn ensure_topics_with(
    settings: &KafkaSettings,
    topics: &[(&str, &[(&str, &str)])],
) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config()
        .create()
        .map_err(settings.error("creating an admin client"))?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, METADATA_TIMEOUT)
        .map_err(settings.error("listing topics"))?;
    let existing: std::collections::HashSet<&str> = metadata
        .topics()
        .iter()
        .filter(|topic| topic.error().is_none())
        .map(|topic| topic.name())
        .collect();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .filter(|(topic, _)| !existing.contains(topic))
        .map(|(topic, configs)| {
            configs.iter().fold(
                NewTopic::new(
                    topic,
                    settings.partitions,
                    TopicReplication::Fixed(settings.replication),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
    let results =
        block_on(admin.create_topics(&new, &options)).map_err(settings.error("creating topics"))?;
    for result in results {
        match result {
            Ok(_) => {}
            // Created meanwhile by another process of the cluster.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::Topic {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Runs an admin future to completion on this thread: librdkafka answers
/// admin requests on its own background thread, so no async runtime is
/// needed, only a waker.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
