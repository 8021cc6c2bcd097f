//! How many updates the dataflow's arrangements hold: the engine's state.
//!
//! Differential dataflow logs every batch an arrangement adds, every merge
//! and every batch it drops. Adding those up gives the number of updates
//! held, per process, which is what retention must keep bounded and what
//! operators watch.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use differential_dataflow::logging::{DifferentialEvent, DifferentialEventBuilder};
use timely::worker::Worker;

/// A running count of updates held in arrangements, shared by workers.
#[derive(Clone, Debug, Default)]
pub struct StateSize(Arc<AtomicI64>);

impl StateSize {
    /// Starts counting the arrangements of `worker` (call before building
    /// dataflows).
    pub fn attach(&self, worker: &mut Worker) {
        let total = self.0.clone();
        if let Some(mut register) = worker.log_register() {
            register.insert::<DifferentialEventBuilder, _>(
                "differential/arrange",
                move |_time: &Duration, events: &mut Option<Vec<(Duration, DifferentialEvent)>>| {
                    let Some(events) = events else { return };
                    let mut change = 0i64;
                    for (_, event) in events.iter() {
                        change += match event {
                            DifferentialEvent::Batch(batch) => batch.length as i64,
                            DifferentialEvent::Merge(merge) => merge.complete.map_or(0, |merged| {
                                merged as i64 - merge.length1 as i64 - merge.length2 as i64
                            }),
                            DifferentialEvent::Drop(dropped) => -(dropped.length as i64),
                            _ => 0,
                        };
                    }
                    total.fetch_add(change, Ordering::Relaxed);
                },
            );
        }
    }

    /// Updates held now, over every attached worker.
    pub fn updates(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}
