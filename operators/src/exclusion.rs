//! Excluded subscribers: anyone with an `account_flags` record.
//!
//! A flag removes a subscriber from engagement and growth for every period,
//! also those before the flag arrived. Because the split below is a join
//! against the flagged set, a flag that arrives late retracts everything the
//! subscriber had contributed, and the affected periods are restated.

use differential_dataflow::{ExchangeData, VecCollection};
use streamflix_model::records::AccountFlag;
use streamflix_model::{Fingerprint, fingerprint};

use crate::Time;

/// The fingerprints of the subscribers with at least one flag, each once.
pub fn flagged_subscribers<'s, T: Time>(
    flags: VecCollection<'s, T, AccountFlag>,
) -> VecCollection<'s, T, Fingerprint> {
    flags
        .map(|flag| fingerprint(&flag.subscriber_id))
        .distinct()
}

/// Splits records keyed by subscriber into those that count and those of
/// excluded subscribers.
#[allow(clippy::type_complexity)] // two plain collections
pub fn split_excluded<'s, T, V>(
    records: VecCollection<'s, T, (Fingerprint, V)>,
    flagged: VecCollection<'s, T, Fingerprint>,
) -> (
    VecCollection<'s, T, (Fingerprint, V)>,
    VecCollection<'s, T, (Fingerprint, V)>,
)
where
    T: Time,
    V: ExchangeData,
{
    let excluded = records.clone().semijoin(flagged);
    let counted = records.concat(excluded.clone().negate());
    (counted, excluded)
}
