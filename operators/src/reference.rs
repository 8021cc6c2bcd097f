//! The current row of a reference feed, per key.
//!
//! Reference feeds (`plan_catalog`, `content_catalog`, `fx_rates`,
//! `finance_gl`, ...) are tables sent as rows: several rows for one key are
//! versions of it, and one of them is current. Which one is given by the
//! feed's `order` (the greatest `updated_at`, or for `fx_rates` the read
//! position). Rows that tie on the order are settled by the row itself,
//! the greatest in field order, so the choice never depends on the order in
//! which rows reach the operator.
//!
//! The reduction is keyed by the table key: a new version recomputes that
//! key only.

use differential_dataflow::{ExchangeData, Hashable, VecCollection};

use crate::Time;

/// One row per key: the greatest by `(order(row), row)`.
pub fn current_rows<'s, T, K, V, O, F>(
    name: &str,
    rows: VecCollection<'s, T, (K, V)>,
    order: F,
) -> VecCollection<'s, T, (K, V)>
where
    T: Time,
    K: ExchangeData + Hashable,
    V: ExchangeData,
    O: Ord,
    F: Fn(&V) -> O + 'static,
{
    rows.reduce_named(
        name,
        move |_key, versions: &[(&V, isize)], output: &mut Vec<(V, isize)>| {
            // Versions whose count fell to zero or below are not there.
            let current = versions
                .iter()
                .filter(|(_, count)| *count > 0)
                .map(|(row, _)| *row)
                .max_by(|a, b| (order(a), *a).cmp(&(order(b), *b)));
            if let Some(row) = current {
                output.push((row.clone(), 1));
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn the_greatest_order_wins_and_ties_go_to_the_greatest_row() {
        // (key, (updated_at, payload)), in two batches: a later version
        // arriving first must still win.
        let batches = vec![
            vec![(1u32, (20u32, 'b')), (2, (5, 'x')), (3, (7, 'a'))],
            vec![(1, (10, 'z')), (2, (6, 'y')), (3, (7, 'c'))],
        ];
        let out = run(batches, |rows| {
            current_rows("Test", rows, |(updated_at, _): &(u32, char)| *updated_at)
        });
        let rows: Vec<_> = out.into_iter().collect();
        assert_eq!(
            rows,
            vec![((1, (20, 'b')), 1), ((2, (6, 'y')), 1), ((3, (7, 'c')), 1)]
        );
    }
}
