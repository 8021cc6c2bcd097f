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
//!
//! **Settling.** [`reduce_total_settling`] also asks, for each key it
//! recomputes, the epoch from which no update can reach the key any more
//! (its restatement horizon: the engine refuses records beyond it). Once
//! the frontier passes that epoch the key is forgotten, values and output
//! alike, *without* emitting anything: downstream keeps the last output
//! as a compact fact for as long as it needs it (see
//! [`crate::expire`]). An update that still reaches a forgotten key
//! starts it afresh from that update alone. Once at least half the slots
//! are free the live keys move to a dense new slab and index, so that the
//! state shrinks back after a burst (a catch-up reads days ahead of what
//! has settled).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash};

use differential_dataflow::consolidation::consolidate;
use differential_dataflow::hashable::Hashable;
use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use hashbrown::HashTable;
use smallvec::SmallVec;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use crate::Time;

/// One key's state: its values with their counts, sorted by value, and
/// the output `logic` last returned for them.
struct KeyState<K, V, O, T> {
    key: K,
    /// Most keys hold one value (one copy of an event): kept inline.
    values: SmallVec<[(V, isize); 1]>,
    output: Vec<(O, isize)>,
    /// Changed in the epoch being processed.
    touched: bool,
    /// The epoch from which the key settles, when it has one.
    settles: Option<T>,
}

impl<K, V: Ord, O, T> KeyState<K, V, O, T> {
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

    /// Gives back most of the values' doubling growth (a subscriber-day's
    /// heartbeats held a third more than they used), keeping an eighth to
    /// spare: a key that grows every epoch (a live day) is then copied at
    /// most once per eighth of its length added, not twice every epoch.
    fn trim(&mut self) {
        let (len, capacity) = (self.values.len(), self.values.capacity());
        if self.values.spilled() && capacity > len + len / 4 + 1 {
            self.values.grow(len + len / 8 + 1);
        }
    }
}

/// Slots per chunk of the slab: a chunk is allocated whole and never
/// moves, so a growing state is never copied to a larger allocation (a
/// flat vector of a million entries copied itself, 100 MB at a time, as
/// it doubled).
const CHUNK: usize = 4096;

/// Puts `state` in the next slot of `chunks`, opening a chunk when the
/// last is full (so every chunk but the last is full), and returns the slot.
fn append<S>(chunks: &mut Vec<Vec<S>>, state: S) -> usize {
    if chunks.last().is_none_or(|chunk| chunk.len() == CHUNK) {
        chunks.push(Vec::with_capacity(CHUNK));
    }
    let filled = (chunks.len() - 1) * CHUNK;
    let chunk = chunks
        .last_mut()
        .expect("a chunk with room was just ensured");
    chunk.push(state);
    filled + chunk.len() - 1
}

/// Every key's state, in a slab indexed by a hash table of slot numbers:
/// an update looks its key up once, and the keys an epoch touched are then
/// revisited by slot. The table holds only the 4-byte slot, hashed and
/// compared through the key in the slab, so a key is stored once (a map
/// from key to slot held every key twice, and an entry of 32 bytes for a
/// 16-byte fingerprint).
struct State<K, V, O, T> {
    chunks: Vec<Vec<KeyState<K, V, O, T>>>,
    free: Vec<usize>,
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

/// The state of `slot` in `chunks`.
fn at<S>(chunks: &[Vec<S>], slot: u32) -> &S {
    let slot = slot as usize;
    &chunks[slot / CHUNK][slot % CHUNK]
}

/// A slot as the index stores it. More than 2^32 keys on one worker would
/// take hundreds of gigabytes before this fails.
fn narrow(slot: usize) -> u32 {
    u32::try_from(slot).expect("fewer than 2^32 keys per worker")
}

impl<K: Hash + Eq, V: Ord, O, T> State<K, V, O, T> {
    fn new() -> Self {
        State {
            chunks: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn get(&mut self, slot: usize) -> &mut KeyState<K, V, O, T> {
        &mut self.chunks[slot / CHUNK][slot % CHUNK]
    }

    /// The slot of `key`, whose hash is `hash`, if it has one.
    fn lookup(&self, hash: u64, key: &K) -> Option<usize> {
        let chunks = &self.chunks;
        self.index
            .find(hash, |&slot| at(chunks, slot).key == *key)
            .map(|&slot| slot as usize)
    }

    /// The slot of `key`, if it has one.
    #[cfg(test)]
    fn find(&self, key: &K) -> Option<usize> {
        self.lookup(self.hasher.hash_one(key), key)
    }

    /// The slot of `key`, created empty if it has none.
    fn slot(&mut self, key: K) -> usize {
        let hash = self.hasher.hash_one(&key);
        if let Some(slot) = self.lookup(hash, &key) {
            return slot;
        }
        let state = KeyState {
            key,
            values: SmallVec::new(),
            output: Vec::new(),
            touched: false,
            settles: None,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                *self.get(slot) = state;
                slot
            }
            None => append(&mut self.chunks, state),
        };
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.insert_unique(hash, narrow(slot), |&slot| {
            hasher.hash_one(&at(chunks, slot).key)
        });
        slot
    }

    /// Moves the live keys into dense new chunks and a new index once at
    /// least half the slots (and a chunk's worth) are free: after a
    /// catch-up, when most keys have settled, the slab and the index
    /// otherwise keep the size of their busiest moment. Every live key
    /// gets a new slot; returns whether it happened. Each compaction
    /// follows as many forgets as it moves keys, so its cost is amortized.
    fn compact(&mut self) -> bool {
        let slots: usize = self.chunks.iter().map(Vec::len).sum();
        if self.free.len() < CHUNK || self.free.len() * 2 < slots {
            return false;
        }
        let live = slots - self.free.len();
        let mut is_free = vec![false; slots];
        for slot in self.free.drain(..) {
            is_free[slot] = true;
        }
        let mut chunks: Vec<Vec<KeyState<K, V, O, T>>> = Vec::new();
        // Every chunk but the last is full, so the position in the
        // flattened chunks is the old slot.
        for (old_slot, entry) in std::mem::take(&mut self.chunks)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if !is_free[old_slot] {
                append(&mut chunks, entry);
            }
        }
        let mut index = HashTable::with_capacity(live);
        for (slot, entry) in chunks.iter().flatten().enumerate() {
            let hasher = &self.hasher;
            index.insert_unique(hasher.hash_one(&entry.key), narrow(slot), |&slot| {
                hasher.hash_one(&at(&chunks, slot).key)
            });
        }
        self.chunks = chunks;
        self.index = index;
        self.free = Vec::new();
        true
    }

    /// The slots of the keys that have a settling epoch, with it.
    fn settling(&self) -> impl Iterator<Item = (usize, &T)> {
        self.chunks
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(slot, entry)| entry.settles.as_ref().map(|at| (slot, at)))
    }

    fn forget(&mut self, slot: usize) {
        let hash = self.hasher.hash_one(&at(&self.chunks, narrow(slot)).key);
        if let Ok(found) = self.index.find_entry(hash, |&held| held as usize == slot) {
            found.remove();
        }
        let entry = &mut self.chunks[slot / CHUNK][slot % CHUNK];
        entry.values = SmallVec::new();
        entry.output = Vec::new();
        entry.settles = None;
        self.free.push(slot);
    }
}

/// Reduces each key's values with `logic`, as differential's `reduce`
/// does, for totally ordered time: `logic(key, values, output)` gets the
/// key's values, sorted, with their counts.
pub fn reduce_total<'s, T, K, V, O, L>(
    name: &str,
    input: VecCollection<'s, T, (K, V)>,
    logic: L,
) -> VecCollection<'s, T, (K, O)>
where
    T: Time,
    K: ExchangeData + Hash + Eq,
    V: ExchangeData + Ord,
    O: ExchangeData + Ord,
    L: FnMut(&K, &[(V, isize)], &mut Vec<(O, isize)>) + 'static,
{
    reduce_total_settling(name, input, logic, |_: &K, _: &[(V, isize)]| None)
}

/// [`reduce_total`], forgetting each key silently once the frontier has
/// passed `settles(key, values)` (evaluated whenever the key changes;
/// `None` keeps it).
pub fn reduce_total_settling<'s, T, K, V, O, L, S>(
    name: &str,
    input: VecCollection<'s, T, (K, V)>,
    mut logic: L,
    mut settles: S,
) -> VecCollection<'s, T, (K, O)>
where
    T: Time,
    K: ExchangeData + Hash + Eq,
    V: ExchangeData + Ord,
    O: ExchangeData + Ord,
    L: FnMut(&K, &[(V, isize)], &mut Vec<(O, isize)>) + 'static,
    S: FnMut(&K, &[(V, isize)]) -> Option<T> + 'static,
{
    let exchange = Exchange::new(|((key, _), _, _): &((K, V), T, isize)| key.hashed());
    input
        .inner
        .unary_frontier::<CapacityContainerBuilder<Vec<((K, O), T, isize)>>, _, _, _>(
            exchange,
            name,
            |_capability, _info| {
                let mut pending: BTreeMap<T, Epoch<K, V, T>> = BTreeMap::new();
                // Covers every pending epoch: the least of them or earlier.
                let mut held: Option<Capability<T>> = None;
                let mut state: State<K, V, O, T> = State::new();
                // Slots by the epoch they settle at; a slot is checked
                // against its key's own `settles` when the time comes.
                let mut settling: BTreeMap<T, Vec<usize>> = BTreeMap::new();
                let mut touched: Vec<usize> = Vec::new();
                let mut fresh: Vec<(O, isize)> = Vec::new();
                move |(input, frontier), output| {
                    input.for_each(|capability, updates| {
                        let least = capability.least().cloned();
                        if let Some(capability) = capability.retain_least(0)
                            && held
                                .as_ref()
                                .is_none_or(|held| capability.time() < held.time())
                        {
                            held = Some(capability);
                        }
                        // Updates mostly come at their container's time: the
                        // container is kept whole, not copied update by update.
                        if let Some(time) = least
                            && updates.iter().all(|(_, at, _)| *at == time)
                        {
                            let updates = std::mem::take(updates);
                            pending.entry(time).or_default().containers.push(updates);
                        } else {
                            for update in updates.drain(..) {
                                pending
                                    .entry(update.1.clone())
                                    .or_default()
                                    .loose
                                    .push(update);
                            }
                        }
                    });
                    // Epochs the input can no longer add to, oldest first.
                    while let Some(epoch) = pending.first_entry() {
                        if frontier.less_equal(epoch.key()) {
                            break;
                        }
                        let (time, updates) = epoch.remove_entry();
                        for ((key, value), _, diff) in updates.into_iter() {
                            let slot = state.slot(key);
                            let entry = state.get(slot);
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
                            let entry = state.get(slot);
                            entry.touched = false;
                            fresh.clear();
                            if !entry.values.is_empty() {
                                logic(&entry.key, &entry.values, &mut fresh);
                                consolidate(&mut fresh);
                            }
                            // The new output replaces the old, whose records
                            // are moved out as retractions, not cloned.
                            let mut old =
                                std::mem::replace(&mut entry.output, std::mem::take(&mut fresh));
                            changes(&mut old, &entry.output, |record, diff| {
                                session.give(((entry.key.clone(), record), time.clone(), diff));
                            });
                            fresh = old;
                            if entry.values.is_empty() && entry.output.is_empty() {
                                state.forget(slot);
                                continue;
                            }
                            entry.trim();
                            let at = settles(&entry.key, &entry.values);
                            if at != entry.settles {
                                if let Some(at) = &at {
                                    settling.entry(at.clone()).or_default().push(slot);
                                }
                                entry.settles = at;
                            }
                        }
                    }
                    // Keys past their horizon leave without a word.
                    while let Some(due) = settling.first_entry() {
                        if frontier.less_equal(due.key()) {
                            break;
                        }
                        let (at, slots) = due.remove_entry();
                        for slot in slots {
                            if state.get(slot).settles.as_ref() == Some(&at) {
                                state.forget(slot);
                            }
                        }
                    }
                    if state.compact() {
                        settling.clear();
                        for (slot, at) in state.settling() {
                            settling.entry(at.clone()).or_default().push(slot);
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

/// An update of the input: `((key, value), time, diff)`.
type Update<K, V, T> = ((K, V), T, isize);

/// The updates of one epoch waiting for the frontier to pass it.
struct Epoch<K, V, T> {
    /// Containers whose every update is at this epoch, as received.
    containers: Vec<Vec<Update<K, V, T>>>,
    /// Updates of this epoch from containers of mixed times.
    loose: Vec<Update<K, V, T>>,
}

impl<K, V, T> Default for Epoch<K, V, T> {
    fn default() -> Self {
        Epoch {
            containers: Vec::new(),
            loose: Vec::new(),
        }
    }
}

impl<K, V, T> IntoIterator for Epoch<K, V, T> {
    type Item = Update<K, V, T>;
    type IntoIter = std::iter::Chain<
        std::iter::Flatten<std::vec::IntoIter<Vec<Update<K, V, T>>>>,
        std::vec::IntoIter<Update<K, V, T>>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.containers.into_iter().flatten().chain(self.loose)
    }
}

/// Emits what turns `old` into `new` (both sorted and consolidated): each
/// record whose count differs, with the difference. `old` is drained:
/// its records leave as retractions without a copy.
fn changes<O: Ord + Clone>(
    old: &mut Vec<(O, isize)>,
    new: &[(O, isize)],
    mut emit: impl FnMut(O, isize),
) {
    let mut old = old.drain(..).peekable();
    let mut new = new.iter().peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (Some((was, _)), Some((is, _))) => was.cmp(is),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => return,
        };
        match order {
            Ordering::Less => {
                let (was, before) = old.next().expect("peeked");
                emit(was, -before);
            }
            Ordering::Greater => {
                let (is, after) = new.next().expect("peeked");
                emit(is.clone(), *after);
            }
            Ordering::Equal => {
                // The old record is owned already: it carries the change.
                let (was, before) = old.next().expect("peeked");
                let (_, after) = new.next().expect("peeked");
                if before != *after {
                    emit(was, after - before);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::Input;
    use proptest::prelude::*;
    use timely::dataflow::operators::capture::Capture;

    use super::*;
    use crate::testing::sorted_updates;

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
    /// With `retire`, each record is also retracted at epoch `value % 7`,
    /// as retention does: updates of several epochs then share a message.
    fn both(batches: Vec<Vec<((u8, u16), isize)>>, retire: bool) -> (Vec<Update>, Vec<Update>) {
        let (total, reference): (Captured, Captured) = timely::execute_directly(move |worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (reference_tx, reference_rx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, records) = scope.new_collection::<(u8, u16), isize>();
                let records = if retire {
                    crate::testing::retire(records, |(_, value)| u64::from(*value % 7))
                } else {
                    records
                };
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
        (sorted_updates(total), sorted_updates(reference))
    }

    #[test]
    fn changes_turn_the_old_output_into_the_new() {
        let mut old = vec![(1, 1), (3, 2), (5, 1)];
        let new = [(2, 1), (3, 1), (5, 1), (6, 4)];
        let mut emitted = Vec::new();
        changes(&mut old, &new, |record, diff| emitted.push((record, diff)));
        assert_eq!(emitted, vec![(1, -1), (2, 1), (3, -1), (6, 4)]);
        assert!(old.is_empty());
    }

    #[test]
    fn a_key_comes_changes_and_goes() {
        let (total, reference) = both(
            vec![
                vec![((1, 3), 1), ((1, 4), 1)],
                vec![((1, 3), -1)],
                vec![((1, 4), -1)],
            ],
            false,
        );
        assert!(!total.is_empty());
        assert_eq!(total, reference);
    }

    /// A key settles at epoch `key` here: once the frontier has passed it,
    /// it is forgotten without a retraction, and a later value starts it
    /// afresh.
    #[test]
    fn a_settled_key_is_forgotten_silently() {
        let captured: Captured = timely::execute_directly(|worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, records) = scope.new_collection::<(u8, u16), isize>();
                reduce_total_settling(
                    "Settling",
                    records,
                    |_key, values: &[(u16, isize)], output: &mut Vec<(u32, isize)>| {
                        let total: u32 = values.iter().map(|(value, _)| u32::from(*value)).sum();
                        output.push((total, 1));
                    },
                    |key: &u8, _: &[(u16, isize)]| Some(u64::from(*key)),
                )
                .inner
                .capture_into(tx);
                input
            });
            input.insert((2, 10)); // epoch 0
            input.insert((9, 1));
            input.advance_to(1);
            input.insert((2, 5)); // key 2 now holds 15
            input.advance_to(3);
            input.flush();
            for _ in 0..10 {
                worker.step();
            }
            // Key 2 has settled (the frontier is past 2): this value
            // meets no state. Key 9 has not: its value adds up.
            input.insert((2, 7));
            input.insert((9, 2));
            input.advance_to(4);
            input.close();
            while worker.step() {}
            rx
        });
        assert_eq!(
            sorted_updates(captured),
            vec![
                ((2, 7), 3, 1),
                ((2, 10), 0, 1),
                ((2, 10), 1, -1),
                ((2, 15), 1, 1),
                ((9, 1), 0, 1),
                ((9, 1), 3, -1),
                ((9, 3), 3, 1),
            ]
        );
    }

    #[test]
    fn compaction_keeps_every_live_key_and_its_settling() {
        let mut state: State<u32, u16, u32, u64> = State::new();
        let keys = 3 * CHUNK as u32;
        for key in 0..keys {
            let slot = state.slot(key);
            let entry = state.get(slot);
            entry.update(key as u16, 1);
            entry.output.push((key, 1));
            entry.settles = (key % 2 == 0).then_some(u64::from(key % 5));
        }
        assert!(!state.compact(), "no slot is free yet");
        for key in (0..keys).filter(|key| key % 3 != 0) {
            let slot = state.find(&key).expect("a live key");
            state.forget(slot);
        }
        assert!(state.compact(), "two thirds of the slots are free");
        assert_eq!(state.chunks.iter().map(Vec::len).sum::<usize>(), CHUNK);
        assert_eq!(state.index.len(), CHUNK);
        for key in (0..keys).filter(|key| key % 3 == 0) {
            let slot = state.find(&key).expect("a live key");
            let entry = state.get(slot);
            assert_eq!(entry.key, key);
            assert_eq!(entry.values.as_slice(), &[(key as u16, 1)]);
            assert_eq!(entry.output, vec![(key, 1)]);
        }
        let settling: Vec<(u32, u64)> = state
            .settling()
            .map(|(slot, at)| (state.chunks[slot / CHUNK][slot % CHUNK].key, *at))
            .collect();
        let expected: Vec<(u32, u64)> = (0..keys)
            .filter(|key| key % 6 == 0)
            .map(|key| (key, u64::from(key % 5)))
            .collect();
        assert_eq!(settling, expected);
        // A new key takes the next slot, after the live ones.
        assert_eq!(state.slot(u32::MAX), CHUNK);
    }

    /// A forgotten key's slot goes to the next new key; the index then
    /// finds the new key there and no longer the old one, and forgetting
    /// the new key leaves the other keys where they were.
    #[test]
    fn a_freed_slot_serves_another_key() {
        let mut state: State<u32, u16, u32, u64> = State::new();
        for key in 0..10 {
            let slot = state.slot(key);
            state.get(slot).update(1, 1);
        }
        let freed = state.find(&3).expect("a live key");
        state.forget(freed);
        assert_eq!(state.find(&3), None);
        let reused = state.slot(42);
        assert_eq!(reused, freed);
        assert_eq!(state.get(reused).key, 42);
        assert!(
            state.get(reused).values.is_empty(),
            "a new key starts empty"
        );
        assert_eq!(state.find(&42), Some(reused));
        assert_eq!(state.find(&3), None);
        state.forget(reused);
        assert_eq!(state.find(&42), None);
        for key in (0..10).filter(|key| *key != 3) {
            let slot = state.find(&key).expect("still live");
            assert_eq!(state.get(slot).key, key);
        }
        // A forgotten key that comes back starts afresh in a new slot.
        let back = state.slot(3);
        assert!(state.get(back).values.is_empty());
        assert_eq!(state.index.len(), 10);
    }

    /// A key whose values grow one by one, trimmed after each as after an
    /// epoch, keeps every value and at most a quarter (plus one) to spare,
    /// and is copied far less often than once per value.
    #[test]
    fn a_growing_key_keeps_its_values_and_little_spare_room() {
        let mut entry: KeyState<u8, u16, u32, u64> = KeyState {
            key: 0,
            values: SmallVec::new(),
            output: Vec::new(),
            touched: false,
            settles: None,
        };
        let mut reallocations = 0;
        for value in 0..5000u16 {
            entry.update(value, 1);
            let before = entry.values.capacity();
            entry.trim();
            if entry.values.capacity() != before {
                reallocations += 1;
            }
            let len = entry.values.len();
            assert!(entry.values.capacity() <= (len + len / 4 + 1).max(1));
        }
        assert!(entry.values.iter().map(|(value, _)| *value).eq(0..5000u16));
        assert!(
            reallocations < 100,
            "{reallocations} trims for 5,000 values"
        );
    }

    /// Two thirds of many keys settle and the state is compacted; the
    /// live keys' next updates still meet their values, the settled ones
    /// start afresh.
    #[test]
    fn after_a_compaction_live_keys_still_add_up() {
        let keys = 3 * CHUNK as u32;
        let captured = timely::execute_directly(move |worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, records) = scope.new_collection::<(u32, u16), isize>();
                reduce_total_settling(
                    "Compacting",
                    records,
                    |_key, values: &[(u16, isize)], output: &mut Vec<(u32, isize)>| {
                        let total: u32 = values.iter().map(|(value, _)| u32::from(*value)).sum();
                        output.push((total, 1));
                    },
                    |key: &u32, _: &[(u16, isize)]| (!key.is_multiple_of(3)).then_some(1),
                )
                .inner
                .capture_into(tx);
                input
            });
            for key in 0..keys {
                input.insert((key, 1));
            }
            input.advance_to(2);
            input.flush();
            for _ in 0..10 {
                worker.step();
            }
            for key in 0..keys {
                input.insert((key, 2));
            }
            input.advance_to(3);
            input.close();
            while worker.step() {}
            rx
        });
        let mut expected: Vec<((u32, u32), u64, isize)> = Vec::new();
        for key in 0..keys {
            expected.push(((key, 1), 0, 1));
            if key % 3 == 0 {
                expected.extend([((key, 1), 2, -1), ((key, 3), 2, 1)]);
            } else {
                expected.push(((key, 2), 2, 1));
            }
        }
        expected.sort();
        assert_eq!(sorted_updates(captured), expected);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn agrees_with_differentials_reduce(
            batches in prop::collection::vec(
                prop::collection::vec(((0u8..6, 0u16..12), prop_oneof![Just(1isize), Just(1), Just(-1), Just(2)]), 0..30),
                1..6,
            ),
            retire in any::<bool>(),
        ) {
            let (total, reference) = both(batches, retire);
            prop_assert_eq!(total, reference);
        }
    }
}
