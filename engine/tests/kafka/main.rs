//! The service against a real Kafka broker: `scripts/kafka.sh` starts one
//! when `KAFKA_BOOTSTRAP` is not set (the test command starts it once for
//! every test). Each test uses topics of its own.

mod api;
mod cluster;
mod end_to_end;
mod incidents;
mod outage;
mod produce;
mod restart;
mod retention;
mod snapshot_topic;
mod support;
