//! How many updates the dataflow's arrangements hold: the engine's state.
//!
//! Differential dataflow logs every batch an arrangement adds, every merge
//! and every batch it drops. Adding those up gives the number of updates
//! held, per process, which is what retention must keep bounded and what
//! operators watch. [`StateBreakdown`] keeps the same count per
//! arrangement, with each operator's address and name, to find where the
//! state goes (`STREAMFLIX_PROFILE=1` on `run`).

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
                    let change: i64 = events
                        .iter()
                        .filter_map(|(_, event)| held_change(event))
                        .map(|(_, change)| change)
                        .sum();
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

/// How `event` changes the updates its arrangement holds: a new batch
/// adds its length, a completed merge removes what cancelled, a dropped
/// batch removes its length. `None` for events that hold nothing.
fn held_change(event: &DifferentialEvent) -> Option<(usize, i64)> {
    match event {
        DifferentialEvent::Batch(batch) => Some((batch.operator, batch.length as i64)),
        DifferentialEvent::Merge(merge) => Some((
            merge.operator,
            merge.complete.map_or(0, |merged| {
                merged as i64 - merge.length1 as i64 - merge.length2 as i64
            }),
        )),
        DifferentialEvent::Drop(dropped) => Some((dropped.operator, -(dropped.length as i64))),
        _ => None,
    }
}

/// Updates held per arrangement and bytes held per batcher, operator by
/// operator, for finding where the state goes. Enabled by
/// `STREAMFLIX_PROFILE=1` on `run`; printed on stderr when the service
/// stops.
#[derive(Clone, Debug, Default)]
pub struct StateBreakdown(Arc<std::sync::Mutex<BreakdownTable>>);

#[derive(Debug, Default)]
struct BreakdownTable {
    /// `(worker, operator id)` to its address and name.
    names: std::collections::HashMap<(usize, usize), (Vec<usize>, String)>,
    /// `(worker, operator id)` to (updates in batches, bytes in batchers).
    held: std::collections::HashMap<(usize, usize), (i64, i64)>,
    /// Updates held over every arrangement, now and at most.
    total: i64,
    peak: i64,
    /// `held` as it was at the peak.
    at_peak: std::collections::HashMap<(usize, usize), (i64, i64)>,
}

impl StateBreakdown {
    /// Starts recording `worker`'s operators and arrangements (call before
    /// building dataflows). Replaces [`StateSize::attach`] and
    /// [`crate::operator_time::OperatorTime::attach`] on that worker.
    pub fn attach(&self, worker: &mut Worker) {
        let index = worker.index();
        let Some(mut register) = worker.log_register() else {
            return;
        };
        let table = self.0.clone();
        register.insert::<timely::logging::TimelyEventBuilder, _>(
            "timely",
            move |_time: &Duration,
                  events: &mut Option<Vec<(Duration, timely::logging::TimelyEvent)>>| {
                let Some(events) = events else { return };
                let mut table = table.lock().expect("no thread panics while recording");
                for (_, event) in events.iter() {
                    if let timely::logging::TimelyEvent::Operates(operator) = event {
                        table.names.insert(
                            (index, operator.id),
                            (operator.addr.clone(), operator.name.clone()),
                        );
                    }
                }
            },
        );
        let table = self.0.clone();
        register.insert::<DifferentialEventBuilder, _>(
            "differential/arrange",
            move |_time: &Duration, events: &mut Option<Vec<(Duration, DifferentialEvent)>>| {
                let Some(events) = events else { return };
                let mut table = table.lock().expect("no thread panics while recording");
                for (_, event) in events.iter() {
                    let (operator, updates, bytes) = match event {
                        DifferentialEvent::Batcher(batcher) => {
                            (batcher.operator, 0, batcher.capacity_diff as i64)
                        }
                        event => match held_change(event) {
                            Some((operator, updates)) => (operator, updates, 0),
                            None => continue,
                        },
                    };
                    let held = table.held.entry((index, operator)).or_default();
                    held.0 += updates;
                    held.1 += bytes;
                    table.total += updates;
                }
                if table.total > table.peak + table.peak / 20 {
                    table.peak = table.total;
                    table.at_peak = table.held.clone();
                }
            },
        );
    }

    /// One line per operator holding anything, summed over workers, most
    /// updates first (held updates, batcher bytes, address and name), now
    /// and when the most updates were held; then every operator.
    pub fn report(&self) -> String {
        let table = self.0.lock().expect("no thread panics while recording");
        let mut out = Self::rows(&table, &table.held);
        out.push_str(&format!(
            "at the peak ({} updates held, within 5%):\n",
            table.peak
        ));
        out.push_str(&Self::rows(&table, &table.at_peak));
        out.push_str("every operator (address, name):\n");
        let mut all: Vec<_> = table
            .names
            .iter()
            .filter(|((worker, _), _)| *worker == 0)
            .map(|(_, v)| v.clone())
            .collect();
        all.sort();
        for (addr, name) in all {
            out.push_str(&format!("{addr:?}\t{name}\n"));
        }
        out
    }

    fn rows(
        table: &BreakdownTable,
        held: &std::collections::HashMap<(usize, usize), (i64, i64)>,
    ) -> String {
        let mut rows: std::collections::BTreeMap<(Vec<usize>, String), (i64, i64)> =
            std::collections::BTreeMap::new();
        for ((worker, operator), (updates, bytes)) in held {
            let (addr, name) = table
                .names
                .get(&(*worker, *operator))
                .cloned()
                .unwrap_or_else(|| (vec![*operator], "?".into()));
            let row = rows.entry((addr, name)).or_default();
            row.0 += updates;
            row.1 += bytes;
        }
        let mut rows: Vec<_> = rows
            .into_iter()
            .filter(|(_, (u, b))| *u != 0 || *b != 0)
            .collect();
        rows.sort_by_key(|row| std::cmp::Reverse(row.1.0));
        let mut out = String::from("updates held\tbatcher bytes\taddress\tname\n");
        for ((addr, name), (updates, bytes)) in rows {
            out.push_str(&format!("{updates}\t{bytes}\t{addr:?}\t{name}\n"));
        }
        out
    }
}
