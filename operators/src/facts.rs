//! Rows assembled from facts.
//!
//! Every figure of a table row is either a sum or a count, so each
//! contributing operator emits `(key, fact)` with the amount carried in the
//! difference: an active subscriber-day is `(day, Dau)` with difference 1, a
//! day's watch time is `(day, Watch)` with difference equal to the
//! microseconds watched. Differential dataflow adds differences up as it
//! consolidates, so by the time a key's facts reach the reduction below each
//! fact already holds its total, whatever order the contributions arrived
//! in. One reduction per key then turns the totals into a row.

use differential_dataflow::{ExchangeData, Hashable, VecCollection};

use crate::Time;

/// A fact with its amount, before the amount moves into the difference.
pub type Contribution<K, F> = (K, F, i64);

/// Moves each contribution's amount into the difference.
pub fn as_facts<'s, T, K, F>(
    contributions: VecCollection<'s, T, Contribution<K, F>>,
) -> VecCollection<'s, T, (K, F)>
where
    T: Time,
    K: ExchangeData,
    F: ExchangeData,
{
    contributions
        .explode(|(key, fact, amount)| (amount != 0).then_some(((key, fact), amount as isize)))
}

/// Builds at most one row per key from the key's fact totals.
pub fn rows_from_facts<'s, T, K, F, Row, B>(
    name: &str,
    facts: VecCollection<'s, T, (K, F)>,
    mut build: B,
) -> VecCollection<'s, T, (K, Row)>
where
    T: Time,
    K: ExchangeData + Hashable,
    F: ExchangeData,
    Row: ExchangeData,
    B: FnMut(&K, &[(&F, isize)]) -> Option<Row> + 'static,
{
    facts.reduce_named(
        name,
        move |key, totals: &[(&F, isize)], output: &mut Vec<(Row, isize)>| {
            if let Some(row) = build(key, totals) {
                output.push((row, 1));
            }
        },
    )
}
