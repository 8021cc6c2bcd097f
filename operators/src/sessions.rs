//! Sessions that cross midnight.
//!
//! [`crate::subscriber_day`] finishes every session that lies wholly inside
//! one day. What is left is the first and the last piece of each day, which
//! may belong to a session that started earlier or continues later. This
//! operator stitches them without ever looking at a subscriber's history:
//!
//! 1. A day is *linked* when its first event is at most 30 minutes after
//!    the previous calendar day's last event (no earlier day can be that
//!    close: a day lasts at least 23 hours). That is one join of each day
//!    with its predecessor.
//! 2. The session a linked day's first piece belongs to started in the
//!    previous day's closing piece, unless that previous day is itself a
//!    single linked piece, in which case it started further back. Finding
//!    the start is an iteration that walks back one day per round, so its
//!    work is the length of the chain, usually one day.
//! 3. All pieces are keyed by (subscriber, session start) and merged into
//!    one session, which belongs to the day it started.

use differential_dataflow::VecCollection;
use differential_dataflow::operators::Iterate;
use serde::{Deserialize, Serialize};
use streamflix_model::{Day, Fingerprint, Instant};

use crate::Time;
use crate::subscriber_day::{DaySummary, Piece, SESSION_GAP_NANOS, SessionTotals};

/// A (subscriber, day) key.
type DayKey = (Fingerprint, Day);

/// Where a session began: its first event and the day of that event.
type SessionStart = (Instant, Day);

/// The edges of one subscriber-day, for linking days.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Edges {
    first: Instant,
    last: Instant,
    closing_start: Instant,
    single: bool,
}

impl Edges {
    pub fn of(summary: &DaySummary) -> Edges {
        Edges {
            first: summary.first.start,
            last: summary.closing().end,
            closing_start: summary.closing().start,
            single: summary.last.is_none(),
        }
    }
}

/// The parts of counted subscriber-days that sessions are made of.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct SessionParts<'s, T: Time> {
    pub edges: VecCollection<'s, T, (DayKey, Edges)>,
    /// Each day's first piece.
    pub firsts: VecCollection<'s, T, (DayKey, Piece)>,
    /// Each day's last piece, where it is not also the first.
    pub lasts: VecCollection<'s, T, (DayKey, Piece)>,
}

/// The sessions that the first and last pieces of days make up: `(day the
/// session started, its figures)`, one record per session.
pub fn sessions<'s, T: Time>(
    parts: SessionParts<'s, T>,
) -> VecCollection<'s, T, (Day, SessionTotals)> {
    let SessionParts {
        edges,
        firsts,
        lasts,
    } = parts;
    let previous = edges.clone().map(|((subscriber, day), edges)| {
        (
            (subscriber, day.plus(1)),
            (edges.last, edges.closing_start, day),
        )
    });
    // Linked days, with the start of the previous day's closing piece as the
    // first guess of where their session began.
    let linked: VecCollection<'s, T, (DayKey, SessionStart)> =
        edges.clone().join(previous).flat_map(
            |(key, (edges, (previous_last, previous_start, previous_day)))| {
                (edges.first.0 - previous_last.0 <= SESSION_GAP_NANOS)
                    .then_some((key, (previous_start, previous_day)))
            },
        );
    let linked_days = linked.clone().map(|(key, _)| key);
    // Single-piece linked days pass their session on to the next day.
    let passing = edges
        .flat_map(|(key, edges)| edges.single.then_some(key))
        .semijoin_keys(linked_days.clone());

    let starts = linked.clone().iterate(|scope, starts| {
        let linked = linked.enter(scope);
        let linked_days = linked_days.enter(scope);
        let passing = passing.enter(scope);
        starts
            .semijoin(passing)
            .map(|((subscriber, day), start)| ((subscriber, day.plus(1)), start))
            .semijoin(linked_days)
            .concat(linked)
            .reduce_named("EarliestSessionStart", |_key, candidates, output| {
                output.push((*candidates[0].0, 1))
            })
    });

    let continued = firsts
        .clone()
        .join(starts.clone())
        .map(|((subscriber, _day), (piece, start))| ((subscriber, start), piece));
    let opening = firsts
        .antijoin(starts.map(|(key, _)| key))
        .map(|((subscriber, day), piece)| ((subscriber, (piece.start, day)), piece));
    let closing = lasts.map(|((subscriber, day), piece)| ((subscriber, (piece.start, day)), piece));

    opening
        .concat(continued)
        .concat(closing)
        .reduce_named(
            "StitchSession",
            |_key, pieces: &[(&Piece, isize)], output: &mut Vec<(SessionTotals, isize)>| {
                let mut session = pieces[0].0.clone();
                for (piece, _) in &pieces[1..] {
                    session.absorb(piece);
                }
                output.push((session.totals(), 1));
            },
        )
        .map(|((_subscriber, (_start, day)), totals)| (day, totals))
}

/// `semijoin` for a collection of bare keys.
trait SemijoinKeys<'s, T: Time, K> {
    fn semijoin_keys(self, keys: VecCollection<'s, T, K>) -> VecCollection<'s, T, K>;
}

impl<'s, T: Time, K: differential_dataflow::ExchangeData + differential_dataflow::Hashable>
    SemijoinKeys<'s, T, K> for VecCollection<'s, T, K>
{
    fn semijoin_keys(self, keys: VecCollection<'s, T, K>) -> VecCollection<'s, T, K> {
        self.map(|key| (key, ()))
            .semijoin(keys)
            .map(|(key, ())| key)
    }
}
