//! A small harness for the operators' unit tests: feed batches of input
//! into a one-worker dataflow and read back the final output.

use std::collections::BTreeMap;

use differential_dataflow::input::Input;
use differential_dataflow::{ExchangeData, VecCollection};
use timely::dataflow::operators::capture::{Capture, Extract};

/// Feeds each batch of `batches` at its own epoch through `build` and
/// returns the output as it stands at the end, with multiplicities (or
/// amounts, for outputs that carry them in the difference).
pub fn run<I, O, B>(batches: Vec<Vec<I>>, build: B) -> BTreeMap<O, isize>
where
    I: ExchangeData + Sync,
    O: ExchangeData + std::hash::Hash,
    B: for<'s> FnOnce(VecCollection<'s, u64, I>) -> VecCollection<'s, u64, O>
        + Send
        + Sync
        + 'static,
{
    let captured = timely::execute_directly(move |worker| {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut input = worker.dataflow::<u64, _, _>(|scope| {
            let (input, records) = scope.new_collection::<I, isize>();
            build(records).consolidate().inner.capture_into(tx);
            input
        });
        for (epoch, batch) in batches.into_iter().enumerate() {
            input.advance_to(epoch as u64);
            for record in batch {
                input.insert(record);
            }
        }
        input.close();
        while worker.step() {}
        rx
    });
    let mut totals = BTreeMap::new();
    for (record, _, diff) in captured.extract().into_iter().flat_map(|(_, v)| v) {
        *totals.entry(record).or_insert(0) += diff;
    }
    totals.retain(|_, total| *total != 0);
    totals
}

/// As [`run`], with all input in one batch.
pub fn run_once<I, O, B>(input: Vec<I>, build: B) -> BTreeMap<O, isize>
where
    I: ExchangeData + Sync,
    O: ExchangeData + std::hash::Hash,
    B: for<'s> FnOnce(VecCollection<'s, u64, I>) -> VecCollection<'s, u64, O>
        + Send
        + Sync
        + 'static,
{
    run(vec![input], build)
}

/// Every update a captured stream carried, as (data, time, diff), sorted:
/// for comparing the exact updates of two streams, epochs included.
pub fn sorted_updates<U: Ord + Clone + 'static>(
    captured: std::sync::mpsc::Receiver<timely::dataflow::operators::capture::Event<u64, Vec<U>>>,
) -> Vec<U> {
    let mut updates: Vec<U> = captured
        .extract()
        .into_iter()
        .flat_map(|(_, updates)| updates)
        .collect();
    updates.sort();
    updates
}

/// Schedules each record's retraction at `retire_at(record)` as it
/// arrives: updates of several epochs then travel in one message, which
/// the operators must handle (retention used to work this way).
pub fn retire<'s, T, D, F>(
    records: differential_dataflow::VecCollection<'s, T, D>,
    retire_at: F,
) -> differential_dataflow::VecCollection<'s, T, D>
where
    T: crate::Time,
    D: differential_dataflow::Data,
    F: Fn(&D) -> T + 'static,
{
    records.join_function(move |record| {
        let at = retire_at(&record);
        [(record.clone(), T::minimum(), 1isize), (record, at, -1)]
    })
}
