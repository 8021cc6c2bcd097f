//! One summary per (subscriber, day) of viewing.
//!
//! This is the only operator that looks at individual heartbeats, and it
//! looks at one subscriber-day at a time: a new event recomputes that
//! subscriber's day, never its history. It also keeps one copy of each
//! event: identical copies consolidate on their own, copies that differ
//! keep the first in session order (earliest `event_time`, then the rest of
//! the payload) and are reported, and events that [`crate::viewing_dedup`]
//! assigned to another subscriber-day are dropped. The summary holds what every
//! later figure needs:
//!
//! * whether the day is impossible (more than 86,400 watch seconds): then
//!   nothing else of it counts;
//! * whether the subscriber was active, and the day's watch time;
//! * the day's sessions split at gaps over 30 minutes. Sessions wholly
//!   inside the day are finished here ([`SessionTotals`]); the first and the
//!   last may continue across midnight, so they leave as [`Piece`]s for
//!   [`crate::sessions`] to stitch to the neighbouring days;
//! * the event-time skews of its events, each to three significant digits,
//!   for the weekly median ([`crate::median`]).

use std::collections::HashSet;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::{Day, Fingerprint, Id, Instant, fingerprint};

use crate::Time;
use crate::median::three_digits;
use crate::retention::SharedHorizons;
use crate::total_reduce::reduce_total_settling;

/// Gaps longer than this split sessions; exactly 30 minutes does not.
pub const SESSION_GAP_NANOS: i64 = 30 * 60 * 1_000_000_000;
/// More watch seconds than this in one day is bot activity.
pub const IMPOSSIBLE_DAY_MICROS: i64 = 86_400 * 1_000_000;

/// A content, by the low 64 bits of its fingerprint: only compared within
/// one session, where a collision is out of reach.
pub type ContentKey = u64;

/// One viewing event, reduced to what engagement needs. The field order is
/// the session order: `event_time`, then `event_id`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Heartbeat {
    pub time: Instant,
    pub event_id: Id,
    pub content: ContentKey,
    /// Watch seconds, in microseconds.
    pub watch: i64,
    pub position: i64,
    pub duration: i64,
    /// `received_at - event_time` in nanoseconds, when known.
    pub skew: Option<i64>,
    /// Only to tell copies that differ in their device apart.
    pub device: u64,
}

/// What a subscriber-day reduction receives. The state holds one per
/// event, so its size counts: the suppressed event's fingerprint is held
/// as two `u64` halves (high, then low: the same order), because a `u128`
/// would align the whole enum, heartbeats included, to 16 bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DayInput {
    /// This event belongs to another subscriber-day (sorted first).
    Suppress([u64; 2]),
    Beat(Heartbeat),
}

impl DayInput {
    /// A suppression of `event`.
    pub fn suppress(event: Fingerprint) -> DayInput {
        DayInput::Suppress([(event >> 64) as u64, event as u64])
    }
}

/// The fingerprint a suppression's halves came from.
fn joined([high, low]: [u64; 2]) -> Fingerprint {
    (u128::from(high) << 64) | u128::from(low)
}

/// What a subscriber-day reduction emits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DayOutput {
    Summary(SubscriberDay),
    /// Events of this day whose copies differ.
    Conflicts(Vec<Fingerprint>),
}

/// The state of one play (one content within one session).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Play {
    pub content: ContentKey,
    pub max_position: i64,
    /// The play's last event, by (`event_time`, `event_id`), and its duration.
    pub last: (Instant, Id),
    pub last_duration: i64,
}

impl Play {
    fn start(beat: &Heartbeat) -> Play {
        Play {
            content: beat.content,
            max_position: beat.position,
            last: (beat.time, beat.event_id.clone()),
            last_duration: beat.duration,
        }
    }

    /// Folds in another part of the same play.
    pub fn absorb(&mut self, other: &Play) {
        self.max_position = self.max_position.max(other.max_position);
        if other.last > self.last {
            self.last = other.last.clone();
            self.last_duration = other.last_duration;
        }
    }

    /// Completed when the furthest position reaches 90% of the duration.
    pub fn completed(&self) -> bool {
        i128::from(self.max_position) * 10 >= i128::from(self.last_duration) * 9
    }
}

/// A session, or the part of one that lies within a single day.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Piece {
    pub start: Instant,
    pub end: Instant,
    pub watch: i64,
    /// Sorted by content, one entry per content.
    pub plays: Vec<Play>,
}

impl Piece {
    fn start(beat: &Heartbeat) -> Piece {
        Piece {
            start: beat.time,
            end: beat.time,
            watch: 0,
            plays: Vec::new(),
        }
    }

    fn add(&mut self, beat: &Heartbeat, plays: &mut Vec<Play>) {
        self.end = beat.time;
        self.watch += beat.watch;
        // Sessions hold a handful of contents: a scan beats a map.
        match plays.iter_mut().find(|play| play.content == beat.content) {
            Some(play) => play.absorb(&Play::start(beat)),
            None => plays.push(Play::start(beat)),
        }
    }

    fn close(&mut self, mut plays: Vec<Play>) {
        plays.sort_unstable_by_key(|play| play.content);
        self.plays = plays;
    }

    /// Joins a later piece of the same session.
    pub fn absorb(&mut self, later: &Piece) {
        self.start = self.start.min(later.start);
        self.end = self.end.max(later.end);
        self.watch += later.watch;
        for play in &later.plays {
            match self
                .plays
                .binary_search_by_key(&play.content, |p| p.content)
            {
                Ok(at) => self.plays[at].absorb(play),
                Err(at) => self.plays.insert(at, play.clone()),
            }
        }
    }

    /// The figures of this piece taken as a whole session.
    pub fn totals(&self) -> SessionTotals {
        SessionTotals {
            sessions: 1,
            watch: self.watch,
            plays: self.plays.len() as i64,
            completed: self.plays.iter().filter(|p| p.completed()).count() as i64,
        }
    }
}

/// Figures of finished sessions, added up.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct SessionTotals {
    pub sessions: i64,
    pub watch: i64,
    pub plays: i64,
    pub completed: i64,
}

impl SessionTotals {
    pub fn add(&mut self, other: SessionTotals) {
        self.sessions += other.sessions;
        self.watch += other.watch;
        self.plays += other.plays;
        self.completed += other.completed;
    }
}

/// What one subscriber did on one day.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SubscriberDay {
    /// Watch seconds add up to more than a day: bot activity, left out.
    Impossible,
    Counted(DaySummary),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DaySummary {
    /// Some event had `watch_seconds > 0`.
    pub active: bool,
    pub watch: i64,
    /// The day's first session (it may continue one from the previous day).
    pub first: Piece,
    /// The day's last session, when it is not also the first (it may
    /// continue into the next day).
    pub last: Option<Piece>,
    /// The sessions between the first and the last: finished here.
    pub inner: SessionTotals,
    /// Distinct skews in nanoseconds with how many events have each.
    pub skews: Vec<(i64, u32)>,
}

impl DaySummary {
    /// The piece that ends the day.
    pub fn closing(&self) -> &Piece {
        self.last.as_ref().unwrap_or(&self.first)
    }
}

/// Summarizes each subscriber-day of heartbeats. With `horizons`, a
/// subscriber-day's heartbeats are forgotten once its day settles; its
/// summary lives on downstream.
pub fn subscriber_days<'s, T: Time>(
    inputs: VecCollection<'s, T, ((Fingerprint, Day), DayInput)>,
    horizons: SharedHorizons<T>,
) -> VecCollection<'s, T, ((Fingerprint, Day), DayOutput)> {
    // Scratch space reused across calls: this runs once per subscriber-day.
    let mut by_id: Vec<usize> = Vec::new();
    let mut dropped: Vec<bool> = Vec::new();
    let settles = move |(_, day): &(Fingerprint, Day), _: &[(DayInput, isize)]| {
        horizons
            .as_ref()
            .map(|horizons| horizons.viewing_settles(*day))
    };
    reduce_total_settling(
        "SubscriberDay",
        inputs,
        move |_key, inputs: &[(DayInput, isize)], output: &mut Vec<(DayOutput, isize)>| {
            let beat = |at: usize| match &inputs[at].0 {
                DayInput::Beat(beat) => beat,
                DayInput::Suppress(_) => unreachable!("suppressions sort first and are skipped"),
            };
            let suppressed: HashSet<Fingerprint> = inputs
                .iter()
                .map_while(|(input, _)| match input {
                    DayInput::Suppress(event) => Some(joined(*event)),
                    DayInput::Beat(_) => None,
                })
                .collect();
            dropped.clear();
            dropped.resize(inputs.len(), false);
            by_id.clear();
            for (at, drop) in dropped.iter_mut().enumerate().skip(suppressed.len()) {
                if !suppressed.is_empty() && suppressed.contains(&fingerprint(&beat(at).event_id)) {
                    *drop = true;
                } else {
                    by_id.push(at);
                }
            }
            // Identical copies arrive as one value; two values with one id are
            // copies with different payloads: the first in session order stays.
            by_id.sort_by(|a, b| beat(*a).event_id.cmp(&beat(*b).event_id).then(a.cmp(b)));
            let mut conflicts = Vec::new();
            for pair in by_id.windows(2) {
                if beat(pair[0]).event_id == beat(pair[1]).event_id {
                    dropped[pair[1]] = true;
                    conflicts.push(fingerprint(&beat(pair[1]).event_id));
                }
            }
            if !conflicts.is_empty() {
                conflicts.sort();
                conflicts.dedup();
                output.push((DayOutput::Conflicts(conflicts), 1));
            }
            let dropped = &dropped;
            let kept = (suppressed.len()..inputs.len())
                .filter(move |at| !dropped[*at])
                .map(beat);
            if kept.clone().next().is_some() {
                output.push((DayOutput::Summary(summarize(kept)), 1));
            }
        },
        settles,
    )
}

/// The summary of one subscriber-day's heartbeats, given in session order.
pub fn summarize<'a>(beats: impl Iterator<Item = &'a Heartbeat> + Clone) -> SubscriberDay {
    let total: i64 = beats.clone().map(|beat| beat.watch).sum();
    if total > IMPOSSIBLE_DAY_MICROS {
        return SubscriberDay::Impossible;
    }
    let mut active = false;
    let mut skews: Vec<i64> = Vec::new();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut plays: Vec<Play> = Vec::new();
    for beat in beats {
        active |= beat.watch > 0;
        skews.extend(beat.skew.map(three_digits));
        let split = match pieces.last() {
            Some(open) => beat.time.0 - open.end.0 > SESSION_GAP_NANOS,
            None => true,
        };
        if split {
            if let Some(open) = pieces.last_mut() {
                open.close(std::mem::take(&mut plays));
            }
            pieces.push(Piece::start(beat));
        }
        pieces
            .last_mut()
            .expect("a piece was just opened")
            .add(beat, &mut plays);
    }
    if let Some(open) = pieces.last_mut() {
        open.close(plays);
    }
    let mut pieces = pieces.into_iter();
    let first = pieces
        .next()
        .expect("reduce never calls with no heartbeats");
    let last = pieces.next_back();
    let mut inner = SessionTotals::default();
    for piece in pieces {
        inner.add(piece.totals());
    }
    skews.sort_unstable();
    let mut counted_skews: Vec<(i64, u32)> = Vec::new();
    for skew in skews {
        match counted_skews.last_mut() {
            Some((last, count)) if *last == skew => *count += 1,
            _ => counted_skews.push((skew, 1)),
        }
    }
    SubscriberDay::Counted(DaySummary {
        active,
        watch: total,
        first,
        last,
        inner,
        skews: counted_skews,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(
        minute: i64,
        content: &str,
        watch_s: i64,
        position_s: i64,
        duration_s: i64,
    ) -> Heartbeat {
        Heartbeat {
            time: Instant::from_seconds(minute * 60),
            event_id: format!("e{minute:05}").into(),
            content: streamflix_model::fingerprint(content) as u64,
            watch: watch_s * 1_000_000,
            position: position_s * 1_000_000,
            duration: duration_s * 1_000_000,
            skew: Some(minute % 3),
            device: 0,
        }
    }

    fn counted(day: SubscriberDay) -> DaySummary {
        match day {
            SubscriberDay::Counted(summary) => summary,
            SubscriberDay::Impossible => panic!("expected a counted day"),
        }
    }

    /// The subscriber-day state holds one `(DayInput, isize)` per event:
    /// a heartbeat and its count, with no alignment padding.
    #[test]
    fn an_event_in_the_state_is_a_heartbeat_and_a_count() {
        assert_eq!(
            std::mem::size_of::<(DayInput, isize)>(),
            std::mem::size_of::<Heartbeat>() + std::mem::size_of::<isize>()
        );
    }

    #[test]
    fn suppressions_keep_the_fingerprint_and_its_order() {
        let events: [Fingerprint; 4] = [0, 1, u128::from(u64::MAX), u128::MAX - 5];
        for event in events {
            let DayInput::Suppress(halves) = DayInput::suppress(event) else {
                panic!("a suppression");
            };
            assert_eq!(joined(halves), event);
        }
        for pair in events.windows(2) {
            assert!(DayInput::suppress(pair[0]) < DayInput::suppress(pair[1]));
        }
        assert!(DayInput::suppress(u128::MAX) < DayInput::Beat(beat(0, "c", 1, 1, 10)));
    }

    #[test]
    fn splits_only_at_gaps_over_thirty_minutes() {
        // 0 -> 30 (exactly 30 min: same session) -> 61 (31 min: new) ->
        // 100 (new) -> 200 (new).
        let beats = [
            beat(0, "a", 60, 60, 100),
            beat(30, "a", 30, 95, 100),
            beat(61, "b", 10, 10, 1000),
            beat(100, "c", 10, 10, 1000),
            beat(200, "d", 0, 0, 10),
        ];
        let day = counted(summarize(beats.iter()));
        assert_eq!(
            (day.first.start.seconds(), day.first.end.seconds()),
            (0, 1800)
        );
        assert_eq!(
            day.first.totals(),
            SessionTotals {
                sessions: 1,
                watch: 90_000_000,
                plays: 1,
                completed: 1
            }
        );
        assert_eq!(
            day.inner,
            SessionTotals {
                sessions: 2,
                watch: 20_000_000,
                plays: 2,
                completed: 0
            }
        );
        assert_eq!(day.last.as_ref().unwrap().start.seconds(), 12_000);
        assert!(day.active);
        assert_eq!(day.skews, vec![(0, 2), (1, 2), (2, 1)]);
    }

    #[test]
    fn completion_uses_the_duration_of_the_last_event_and_the_largest_position() {
        // Position 95 of a duration that was 100 and is 200 at the last event.
        let beats = [beat(0, "a", 10, 95, 100), beat(1, "a", 10, 20, 200)];
        assert_eq!(counted(summarize(beats.iter())).first.totals().completed, 0);
        let beats = [beat(0, "a", 10, 90, 200), beat(1, "a", 10, 180, 200)];
        assert_eq!(counted(summarize(beats.iter())).first.totals().completed, 1);
    }

    #[test]
    fn more_than_a_day_of_watching_is_impossible() {
        let beats: Vec<_> = (0..24)
            .map(|hour| beat(hour * 60, "a", 3600, 0, 10))
            .collect();
        assert!(matches!(summarize(beats.iter()), SubscriberDay::Counted(_)));
        let mut beats = beats;
        beats.push(beat(24 * 60 - 1, "a", 1, 0, 10));
        assert_eq!(summarize(beats.iter()), SubscriberDay::Impossible);
    }

    #[test]
    fn zero_watch_days_are_not_active_but_have_sessions() {
        let beats = [beat(0, "a", 0, 0, 10)];
        let day = counted(summarize(beats.iter()));
        assert!(!day.active);
        assert_eq!(day.first.totals().sessions, 1);
        assert!(day.last.is_none());
    }
}
