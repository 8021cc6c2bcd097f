//! A reduction for totally ordered time, its state in a hash map.
//!
//! Differential's `reduce` keeps its input in an arrangement: every update
//! is sorted by a merge batcher and merged into a spine of batches, which
//! is what lets it serve partially ordered times and share the arrangement
//! with other operators. The engine's timestamps are ingestion epochs,
//! totally ordered, and the two reductions that see every viewing event
//! (deduplication by event id and the subscriber-day summaries) share
//! their input with nothing. There the sorting and merging were most of
//! the dataflow's cost per event, so those two keep their state here
//! instead: one hash-map entry per key, holding the key's values (sorted,
//! consolidated) and its current output. An update costs a hash lookup and
//! an insertion into a short vector.
//!
//! The contract is `reduce`'s. Updates wait until the input frontier has
//! passed their epoch; then, epoch by epoch in order, every key that
//! changed is recomputed once, `logic` seeing its values sorted with their
//! non-zero accumulated counts (never an empty slice), and the difference
//! between the new output and the previous one is emitted at that epoch.
//! A key whose values and output are both empty is forgotten. The tests
//! compare it with `reduce` on random batches.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use differential_dataflow::consolidation::consolidate;
use differential_dataflow::hashable::Hashable;
use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use smallvec::SmallVec;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use crate::Time;

/// One key's state: its values with their counts, sorted by value, and
/// the output `logic` last returned for them.
struct KeyState<K, V, O> {
    key: K,
    /// Most keys hold one value (one copy of an event): kept inline.
    values: SmallVec<[(V, isize); 1]>,
    output: Vec<(O, isize)>,
    /// Changed in the epoch being processed.
    touched: bool,
}

impl<K, V: Ord, O> KeyState<K, V, O> {
    fn update(&mut self, value: V, diff: isize) {
        match self.values.binary_search_by(|(held, _)| held.cmp(&value)) {
            Ok(at) => {
                self.values[at].1 += diff;
                if self.values[at].1 == 0 {
                    self.values.remove(at);
                }
            }
            Err(at) => self.values.insert(at, (value, diff)),
        }
    }
}

/// Every key's state, in a slab indexed by a hash map: an update looks its
/// key up once, and the keys an epoch touched are then revisited by slot.
struct State<K, V, O> {
    slots: Vec<KeyState<K, V, O>>,
    free: Vec<usize>,
    index: HashMap<K, usize, foldhash::fast::RandomState>,
}

impl<K: Hash + Eq + Clone, V: Ord, O> State<K, V, O> {
    fn new() -> Self {
        State {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
        }
    }

    /// The slot of `key`, created empty if it has none.
    fn slot(&mut self, key: K) -> usize {
        if let Some(slot) = self.index.get(&key) {
            return *slot;
        }
        let state = KeyState {
            key: key.clone(),
            values: SmallVec::new(),
            output: Vec::new(),
            touched: false,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = state;
                slot
            }
            None => {
                self.slots.push(state);
                self.slots.len() - 1
            }
        };
        self.index.insert(key, slot);
        slot
    }

    fn forget(&mut self, slot: usize) {
        self.index.remove(&self.slots[slot].key);
        self.slots[slot].values = SmallVec::new();
        self.slots[slot].output = Vec::new();
        self.free.push(slot);
    }
}

/// Reduces each key's values with `logic`, as differential's `reduce`
/// does, for totally ordered time: `logic(key, values, output)` gets the
/// key's values, sorted, with their counts.
pub fn reduce_total<'s, T, K, V, O, L>(
    name: &str,
    input: VecCollection<'s, T, (K, V)>,
    mut logic: L,
) -> VecCollection<'s, T, (K, O)>
where
    T: Time,
    K: ExchangeData + Hash + Eq,
    V: ExchangeData + Ord,
    O: ExchangeData + Ord,
    L: FnMut(&K, &[(V, isize)], &mut Vec<(O, isize)>) + 'static,
{
    let exchange = Exchange::new(|((key, _), _, _): &((K, V), T, isize)| key.hashed());
    input
        .inner
        .unary_frontier::<CapacityContainerBuilder<Vec<((K, O), T, isize)>>, _, _, _>(
            exchange,
            name,
            |_capability, _info| {
                let mut pending: BTreeMap<T, Vec<(K, V, isize)>> = BTreeMap::new();
                // Covers every pending epoch: the least of them or earlier.
                let mut held: Option<Capability<T>> = None;
                let mut state: State<K, V, O> = State::new();
                let mut touched: Vec<usize> = Vec::new();
                let mut fresh: Vec<(O, isize)> = Vec::new();
                move |(input, frontier), output| {
                    input.for_each(|capability, updates| {
                        if let Some(capability) = capability.retain_least(0)
                            && held
                                .as_ref()
                                .is_none_or(|held| capability.time() < held.time())
                        {
                            held = Some(capability);
                        }
                        for ((key, value), time, diff) in updates.drain(..) {
                            pending.entry(time).or_default().push((key, value, diff));
                        }
                    });
                    // Epochs the input can no longer add to, oldest first.
                    while let Some(epoch) = pending.first_entry() {
                        if frontier.less_equal(epoch.key()) {
                            break;
                        }
                        let (time, updates) = epoch.remove_entry();
                        for (key, value, diff) in updates {
                            let slot = state.slot(key);
                            let entry = &mut state.slots[slot];
                            if !entry.touched {
                                entry.touched = true;
                                touched.push(slot);
                            }
                            entry.update(value, diff);
                        }
                        let capability = held
                            .as_ref()
                            .expect("a capability is held while epochs are pending")
                            .delayed(&time);
                        let mut session = output.session(&capability);
                        for slot in touched.drain(..) {
                            let entry = &mut state.slots[slot];
                            entry.touched = false;
                            fresh.clear();
                            if !entry.values.is_empty() {
                                logic(&entry.key, &entry.values, &mut fresh);
                                consolidate(&mut fresh);
                            }
                            for (record, diff) in changes(&entry.output, &fresh) {
                                session.give(((entry.key.clone(), record), time.clone(), diff));
                            }
                            std::mem::swap(&mut entry.output, &mut fresh);
                            if entry.values.is_empty() && entry.output.is_empty() {
                                state.forget(slot);
                            }
                        }
                    }
                    match pending.first_key_value() {
                        Some((time, _)) => {
                            if let Some(held) = held.as_mut() {
                                held.downgrade(time);
                            }
                        }
                        None => held = None,
                    }
                }
            },
        )
        .as_collection()
}

/// What turns `old` into `new` (both sorted and consolidated): each
/// record whose count differs, with the difference.
fn changes<O: Ord + Clone>(old: &[(O, isize)], new: &[(O, isize)]) -> Vec<(O, isize)> {
    let mut changes = Vec::new();
    let (mut old, mut new) = (old.iter().peekable(), new.iter().peekable());
    loop {
        match (old.peek(), new.peek()) {
            (Some((was, before)), Some((is, after))) => match was.cmp(is) {
                std::cmp::Ordering::Less => {
                    changes.push((was.clone(), -before));
                    old.next();
                }
                std::cmp::Ordering::Greater => {
                    changes.push((is.clone(), *after));
                    new.next();
                }
                std::cmp::Ordering::Equal => {
                    if before != after {
                        changes.push((is.clone(), after - before));
                    }
                    old.next();
                    new.next();
                }
            },
            (Some((was, before)), None) => {
                changes.push((was.clone(), -before));
                old.next();
            }
            (None, Some((is, after))) => {
                changes.push((is.clone(), *after));
                new.next();
            }
            (None, None) => return changes,
        }
    }
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::Input;
    use proptest::prelude::*;
    use timely::dataflow::operators::capture::{Capture, Extract};

    use super::*;

    /// Something of everything a reduction can do: outputs that come and
    /// go with the values (a count per parity, present only when odd),
    /// one that depends on all of them (the least value with its count),
    /// and several records per key.
    fn logic(key: &u8, values: &[(&u16, isize)], output: &mut Vec<(u32, isize)>) {
        let (least, count) = values[0];
        output.push((u32::from(*key) * 100_000 + u32::from(*least), count));
        let total: isize = values.iter().map(|(_, count)| count).sum();
        if total % 2 != 0 {
            output.push((1_000_000, 1));
        }
        for (value, count) in values {
            if **value % 3 == 0 {
                output.push((2_000_000 + u32::from(**value), *count));
            }
        }
    }

    /// An output update: ((key, record), epoch, difference).
    type Update = ((u8, u32), u64, isize);
    type Captured =
        std::sync::mpsc::Receiver<timely::dataflow::operators::capture::Event<u64, Vec<Update>>>;

    /// The output of `reduce_total` and of differential's `reduce` on the
    /// same batches (one epoch each), every update with its epoch, sorted.
    fn both(batches: Vec<Vec<((u8, u16), isize)>>) -> (Vec<Update>, Vec<Update>) {
        let (total, reference): (Captured, Captured) = timely::execute_directly(move |worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (reference_tx, reference_rx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, records) = scope.new_collection::<(u8, u16), isize>();
                reduce_total("Total", records.clone(), |key, values, output| {
                    let values: Vec<(&u16, isize)> = values
                        .iter()
                        .map(|(value, count)| (value, *count))
                        .collect();
                    logic(key, &values, output);
                })
                .consolidate()
                .inner
                .capture_into(tx);
                records
                    .reduce(logic)
                    .consolidate()
                    .inner
                    .capture_into(reference_tx);
                input
            });
            for (epoch, batch) in batches.into_iter().enumerate() {
                input.advance_to(epoch as u64);
                for (record, diff) in batch {
                    input.update(record, diff);
                }
            }
            input.close();
            while worker.step() {}
            (rx, reference_rx)
        });
        let sorted = |captured: Captured| {
            let mut updates: Vec<Update> = captured
                .extract()
                .into_iter()
                .flat_map(|(_, updates)| updates)
                .collect();
            updates.sort();
            updates
        };
        (sorted(total), sorted(reference))
    }

    #[test]
    fn changes_turn_the_old_output_into_the_new() {
        let old = [(1, 1), (3, 2), (5, 1)];
        let new = [(2, 1), (3, 1), (5, 1), (6, 4)];
        assert_eq!(changes(&old, &new), vec![(1, -1), (2, 1), (3, -1), (6, 4)]);
    }

    #[test]
    fn a_key_comes_changes_and_goes() {
        let (total, reference) = both(vec![
            vec![((1, 3), 1), ((1, 4), 1)],
            vec![((1, 3), -1)],
            vec![((1, 4), -1)],
        ]);
        assert!(!total.is_empty());
        assert_eq!(total, reference);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn agrees_with_differentials_reduce(
            batches in prop::collection::vec(
                prop::collection::vec(((0u8..6, 0u16..12), prop_oneof![Just(1isize), Just(1), Just(-1), Just(2)]), 0..30),
                1..6,
            )
        ) {
            let (total, reference) = both(batches);
            prop_assert_eq!(total, reference);
        }
    }
}
