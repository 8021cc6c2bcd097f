//! Streamflix's metric logic, written as differential-dataflow operators.
//!
//! Every function here takes collections of decoded records (see
//! `streamflix-model`) and returns collections of table rows. Nothing is
//! computed in batch: each operator keeps just enough state to update its
//! output when records arrive, are corrected or are retracted, so a late
//! event restates exactly the figures it touches.
//!
//! The timestamp is left generic ([`Time`]: a totally ordered `Timestamp +
//! Lattice`): the engine drives these operators with ingestion epochs,
//! while every event-time notion (days, weeks, sessions, windows) is
//! computed from the data itself. Total order is what lets the two
//! reductions that see every viewing event keep their state in a hash map
//! ([`total_reduce`]) instead of an arrangement, and lets watch time be
//! summed before it is exchanged ([`presum`]).
//!
//! Viewing, the largest feed, is read once for both pipelines that need
//! it ([`viewing`]): each event is fingerprinted and placed on its business
//! day once, and deduplicated by `event_id` once ([`viewing_dedup`]), which
//! only emits corrections for events with more than one copy.
//!
//! How viewing data flows through the engagement pipeline:
//!
//! ```text
//! viewing ──prepare──┬─► heartbeats per (subscriber, day) ──► subscriber_day ──► one summary per (subscriber, day)
//!                    └─► copies by event_id ──viewing_dedup──┬─► suppressions ──┘          │ (impossible days marked)
//!                                                            └─► surplus ──► profit's watch time
//! account_flags ──flagged set──► exclusion ◄────────────────────────────────────────────┘
//!                                   │ counted summaries
//!        ┌──────────────┬───────────┼─────────────┬───────────────┐
//!   active days     day totals   day edges     session pieces   skews
//!        │              │           └──sessions (stitch across midnight)
//!   rolling windows     │                │                       median
//!        └──────────────┴──── facts ─────┴───────────────────────┘
//!                               │
//!                       rows per day and week ──► engagement tables, checks
//! ```
//!
//! One operator per file: [`viewing_dedup`], [`exclusion`],
//! [`subscriber_day`], [`sessions`], [`rolling`], [`median`], [`facts`];
//! [`engagement`] wires them into the pipeline and defines its rows.
//!
//! Under restatement horizons ([`retention`]) state leaves by eviction:
//! the per-event reductions forget a day's raw events once it settles
//! ([`total_reduce::reduce_total_settling`]), and [`expire`] retracts the
//! compact facts built from them once the last figure they feed is
//! frozen. Nothing is retracted in advance.
//!
//! The growth pipelines ([`growth`]) reuse [`exclusion`] and [`facts`] and
//! add [`event_dedup`] (dedup of the smaller event feeds), [`plan_tiers`],
//! [`lifecycle`] (each subscriber's events replayed in order),
//! [`assignments`] (experiment variants) and [`active_days`] (subscribers
//! active at each day's end).
//!
//! The profit pipelines ([`profit`]) share [`assignments`] and
//! [`event_dedup`] with growth and add [`watch`] (watch time per content,
//! subscriber and month), [`currency`] (the FX look-back rule, exact
//! money), [`billing`] (the billing record in force), [`reference`]
//! (catalog rows in force) and [`allocation`] (content cost by watch
//! share).

pub mod active_days;
pub mod allocation;
pub mod assignments;
pub mod billing;
pub mod currency;
pub mod engagement;
pub mod event_dedup;
pub mod exclusion;
pub mod expire;
pub mod facts;
pub mod growth;
pub mod lifecycle;
pub mod median;
pub mod plan_tiers;
pub mod presum;
pub mod profit;
pub mod reference;
pub mod retention;
pub mod rolling;
pub mod sessions;
pub mod split;
pub mod subscriber_day;
#[cfg(test)]
mod testing;
pub mod total_reduce;
pub mod viewing;
pub mod viewing_dedup;
pub mod watch;

/// The bound every generic operator here places on its timestamp.
pub trait Time:
    timely::progress::Timestamp
    + differential_dataflow::lattice::Lattice
    + timely::order::TotalOrder
    + Ord
{
}
impl<
    T: timely::progress::Timestamp
        + differential_dataflow::lattice::Lattice
        + timely::order::TotalOrder
        + Ord,
> Time for T
{
}
