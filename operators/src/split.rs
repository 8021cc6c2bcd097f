//! Routing each record of a collection to one of several collections.
//!
//! Using a collection twice clones every record for each extra consumer.
//! When records are large and each consumer wants a different part of
//! them, it is cheaper to take each record apart once and hand every part
//! to the one collection that wants it: [`split`] routes each record (an
//! enum of parts) to one collection, [`fork`] makes two parts of each
//! record, one for each of two collections.

use differential_dataflow::{AsCollection, Data, VecCollection};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::Partition;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

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

/// Takes each record of `records` apart into two, in one pass: `logic`
/// returns the part for each of the two collections. Cheaper than mapping
/// a collection of pairs twice, which first copies every pair whole.
#[allow(clippy::type_complexity)] // two plain collections
pub fn fork<'s, T, D, A, B, F>(
    name: &str,
    records: VecCollection<'s, T, D>,
    mut logic: F,
) -> (VecCollection<'s, T, A>, VecCollection<'s, T, B>)
where
    T: Time,
    D: Data,
    A: Data,
    B: Data,
    F: FnMut(D) -> (A, B) + 'static,
{
    let mut builder = OperatorBuilder::new(name.to_owned(), records.inner.scope());
    let mut input = builder.new_input(records.inner, Pipeline);
    let (first, first_stream) = builder.new_output::<Vec<(A, T, isize)>>();
    let (second, second_stream) = builder.new_output::<Vec<(B, T, isize)>>();
    let mut first = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(first);
    let mut second = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(second);
    builder.build(move |_capabilities| {
        move |_frontiers| {
            let mut first = first.activate();
            let mut second = second.activate();
            input.for_each(|capability, records| {
                let mut firsts = first.session(&capability);
                let mut seconds = second.session(&capability);
                for (record, time, diff) in records.drain(..) {
                    let (a, b) = logic(record);
                    firsts.give((a, time.clone(), diff));
                    seconds.give((b, time, diff));
                }
            });
        }
    });
    (first_stream.as_collection(), second_stream.as_collection())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn fork_hands_each_part_to_its_collection() {
        let out = run(vec![vec![1u32, 2, 2], vec![3]], |numbers| {
            let (same, squares) = fork("Test", numbers, |n| (n, n * n));
            same.map(|n| (1u8, n)).concat(squares.map(|n| (2u8, n)))
        });
        let out: Vec<_> = out.into_iter().collect();
        assert_eq!(
            out,
            vec![
                ((1, 1), 1),
                ((1, 2), 2),
                ((1, 3), 1),
                ((2, 1), 1),
                ((2, 4), 2),
                ((2, 9), 1),
            ]
        );
    }
}
