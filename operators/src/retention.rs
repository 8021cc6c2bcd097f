//! The restatement horizons, as the operators see them.
//!
//! The engine decides how long each feed may restate its periods (see its
//! retention policy) and refuses records that arrive beyond that. The
//! operators only need to know, in epochs, when each piece of their state
//! stops being needed:
//!
//! * a day's raw viewing events settle when no event of that day can be
//!   admitted any more: the deduplication and subscriber-day state forget
//!   them then, without a word ([`crate::total_reduce`]);
//! * the compact facts built from them (one summary per subscriber-day)
//!   stay until the last engagement figure they feed is frozen, and are
//!   retracted then ([`crate::expire`]);
//! * watch time per (content, subscriber, month), billing records and ad
//!   revenue stay until the month's profit is frozen.
//!
//! Without horizons (`None`, replay's default) everything is kept and can
//! be restated for ever.

use std::rc::Rc;

use streamflix_model::{Day, Month};

/// When each piece of viewing-derived state may go, in epochs.
pub trait Horizons<T> {
    /// From this epoch no viewing event of `day` is admitted.
    fn viewing_settles(&self, day: Day) -> T;
    /// From this epoch no engagement figure fed by the viewing of `day`
    /// can change.
    fn engagement_expires(&self, day: Day) -> T;
    /// From this epoch the profit figures of `month` cannot change.
    fn profit_expires(&self, month: Month) -> T;
}

/// The horizons an operator is given: none keeps everything.
pub type SharedHorizons<T> = Option<Rc<dyn Horizons<T>>>;
