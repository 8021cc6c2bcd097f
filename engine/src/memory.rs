//! Runs the dataflow over records held in memory, batch by batch.
//!
//! Tests and examples use this to drive the engine without files: each
//! batch enters at its own epoch, spread over the workers, and the store
//! holds the outputs once every batch has been processed. Feeding the same
//! records in different batches and orders must give the same final store.

use std::sync::{Arc, Mutex};

use streamflix_model::records::Record;

use crate::clock::{DEFAULT_LATENESS_MS, EpochClock};
use crate::cluster::ClusterArgs;
use crate::dataflow::{Settings, admit, build};
use crate::error::EngineError;
use crate::output::{DeadLetterRow, OutputStore};
use crate::state_size::StateSize;

/// One batch of input: decoded records and dead letters.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub dead_letters: Vec<DeadLetterRow>,
}

/// Feeds `batches` in order, one epoch each, and returns the final outputs.
pub fn run_batches(
    batches: Vec<Batch>,
    cluster: &ClusterArgs,
    settings: &Settings,
) -> Result<OutputStore, EngineError> {
    run_batches_observed(batches, cluster, settings, &StateSize::default(), |_, _| {})
}

/// As [`run_batches`], calling `after_batch(batch number, state)` on worker
/// 0 once each batch has been fully processed.
pub fn run_batches_observed(
    batches: Vec<Batch>,
    cluster: &ClusterArgs,
    settings: &Settings,
    state: &StateSize,
    after_batch: impl Fn(usize, &StateSize) + Send + Sync + 'static,
) -> Result<OutputStore, EngineError> {
    let config = cluster.timely_config()?;
    let store = Arc::new(Mutex::new(OutputStore::default()));
    let batches = Arc::new(batches);
    let (worker_store, settings, state) = (store.clone(), settings.clone(), state.clone());
    let guards = timely::execute(config, move |worker| {
        state.attach(worker);
        let (mut inputs, probe) = build(worker, &settings, worker_store.clone());
        let (index, peers) = (worker.index(), worker.peers());
        // Every worker sees every batch's event times, so all workers keep
        // the same clock and the frontier moves with the whole input.
        let mut clock = EpochClock::new(DEFAULT_LATENESS_MS);
        for (number, batch) in batches.iter().enumerate() {
            for record in batch.records.iter() {
                if let Some(time) = record.event_time() {
                    clock.observe(time);
                }
            }
            for (position, record) in batch.records.iter().enumerate().skip(index).step_by(peers) {
                match admit(&settings, record, clock.epoch()) {
                    // Later batches, then later records of a batch, are
                    // read later.
                    Ok(()) => {
                        inputs.insert_at(record.clone(), ((number as u64) << 32) | position as u64)
                    }
                    Err(letter) => inputs
                        .dead_letters
                        .insert(letter.at("memory", position as u64 + 1)),
                }
            }
            for letter in batch.dead_letters.iter().skip(index).step_by(peers) {
                inputs.dead_letters.insert(letter.clone());
            }
            let epoch = clock.tick();
            inputs.advance_to(epoch);
            crate::dataflow::step_until(worker, || !probe.less_than(&epoch));
            if index == 0 {
                after_batch(number, &state);
            }
        }
        drop(inputs);
        crate::dataflow::step_until(worker, || probe.done());
    })
    .map_err(EngineError::Worker)?;
    for result in guards.join() {
        result.map_err(EngineError::Worker)?;
    }
    let store = Arc::try_unwrap(store)
        .map(|m| m.into_inner().expect("workers are done"))
        .unwrap_or_default();
    Ok(store)
}
