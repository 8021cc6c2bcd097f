//! Runs the dataflow over records held in memory, batch by batch.
//!
//! Tests and examples use this to drive the engine without files: each
//! batch enters at its own epoch, spread over the workers, and the store
//! holds the outputs once every batch has been processed. Feeding the same
//! records in different batches and orders must give the same final store.

use std::sync::{Arc, Mutex};

use streamflix_model::records::Record;
use streamflix_model::Calendar;

use crate::cluster::ClusterArgs;
use crate::dataflow::{build, Epoch};
use crate::output::{DeadLetterRow, OutputStore};
use crate::error::EngineError;

/// One batch of input: decoded records and dead letters.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub dead_letters: Vec<DeadLetterRow>,
}

/// Feeds `batches` in order, one epoch each, and returns the final outputs.
pub fn run_batches(batches: Vec<Batch>, cluster: &ClusterArgs, calendar: &Calendar) -> Result<OutputStore, EngineError> {
    let config = cluster.timely_config()?;
    let store = Arc::new(Mutex::new(OutputStore::default()));
    let batches = Arc::new(batches);
    let (worker_store, calendar) = (store.clone(), calendar.clone());
    let guards = timely::execute(config, move |worker| {
        let (mut inputs, probe) = build(worker, &calendar, worker_store.clone());
        let (index, peers) = (worker.index(), worker.peers());
        for (number, batch) in batches.iter().enumerate() {
            for record in batch.records.iter().skip(index).step_by(peers) {
                inputs.insert(record.clone());
            }
            for letter in batch.dead_letters.iter().skip(index).step_by(peers) {
                inputs.dead_letters.insert(letter.clone());
            }
            let epoch = number as Epoch + 1;
            inputs.advance_to(epoch);
            worker.step_while(|| probe.less_than(&epoch));
        }
        drop(inputs);
        while !probe.done() {
            worker.step();
        }
    })
    .map_err(EngineError::Worker)?;
    for result in guards.join() {
        result.map_err(EngineError::Worker)?;
    }
    let store = Arc::try_unwrap(store).map(|m| m.into_inner().expect("workers are done")).unwrap_or_default();
    Ok(store)
}
