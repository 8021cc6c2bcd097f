//! Retiring records when they leave the restatement horizon.
//!
//! Every record is inserted when it arrives and, in the same breath,
//! scheduled for retraction at the epoch its data can no longer change a
//! figure anyone may restate (see the engine's retention policy). When the
//! frontier passes that epoch, the record's insertion and retraction cancel
//! and differential dataflow compacts it out of every arrangement it
//! reached: windows, sessions, dedup state. State then holds only the
//! horizon, however long the engine runs. A record that arrives after its
//! own retirement epoch cancels at once.

use differential_dataflow::{Data, VecCollection};

use crate::Time;

/// Schedules each record's retraction at `retire_at(record)`.
pub fn retire<'s, T, D, F>(
    records: VecCollection<'s, T, D>,
    retire_at: F,
) -> VecCollection<'s, T, D>
where
    T: Time,
    D: Data,
    F: Fn(&D) -> T + 'static,
{
    records.join_function(move |record| {
        let at = retire_at(&record);
        [(record.clone(), T::minimum(), 1isize), (record, at, -1)]
    })
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::Input;
    use timely::dataflow::operators::capture::Capture;

    use super::*;
    use crate::testing::sorted_updates;

    #[test]
    fn records_leave_at_their_retirement_epoch() {
        let captured = timely::execute_directly(|worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, records) = scope.new_collection::<u64, isize>();
                retire(records, |value| value + 10)
                    .consolidate()
                    .inner
                    .capture_into(tx);
                input
            });
            input.advance_to(5);
            input.insert(3); // retires at 13
            input.insert(1); // retires at 11
            input.advance_to(12);
            input.insert(0); // retires at 10, already past: never visible
            input.advance_to(20);
            input.close();
            while worker.step() {}
            rx
        });
        assert_eq!(
            sorted_updates(captured),
            vec![(1, 5, 1), (1, 11, -1), (3, 5, 1), (3, 13, -1)]
        );
    }
}
