//! Routing each record of a collection to one of several collections.
//!
//! Using a collection twice clones every record for each extra consumer.
//! When records are large and each consumer wants a different part of
//! them, it is cheaper to take each record apart once, into an enum of
//! parts, and route every part to the one collection that wants it.

use differential_dataflow::{AsCollection, Data, VecCollection};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::core::Partition;

use crate::Time;

/// Splits `records` into `parts` collections; `route` names the
/// collection (below `parts`) each record goes to.
pub fn split<'s, T, D, F>(
    records: VecCollection<'s, T, D>,
    parts: u64,
    route: F,
) -> Vec<VecCollection<'s, T, D>>
where
    T: Time,
    D: Data,
    F: Fn(&D) -> u64 + 'static,
{
    records
        .inner
        .partition::<CapacityContainerBuilder<Vec<(D, T, isize)>>, _, _>(
            parts,
            move |(record, time, diff)| (route(&record), (record, time, diff)),
        )
        .into_iter()
        .map(|stream| stream.as_collection())
        .collect()
}
