//! The tier of each plan, from the `plan_catalog` reference feed.
//!
//! The catalog is keyed by `(plan_id, currency)`; the current row of a key
//! is the one with the greatest `updated_at`. A plan's tier is meant to be
//! the same in every currency; when the current rows disagree, the highest
//! tier counts. Two rows of one key with the same `updated_at` and
//! different tiers leave "the one read last" undefined in a parallel
//! engine, so the higher tier counts there too, in keeping with the rule
//! above. A plan with no row has no tier.

use differential_dataflow::VecCollection;
use streamflix_model::records::PlanCatalog;
use streamflix_model::{Currency, Id, Instant};

use crate::Time;

/// `(plan_id, tier)`, one per plan with at least one catalog row.
pub fn plan_tiers<'s, T: Time>(
    catalog: VecCollection<'s, T, PlanCatalog>,
) -> VecCollection<'s, T, (Id, i64)> {
    catalog
        .map(|row| (row.plan_id, (row.currency, row.updated_at, row.tier)))
        .reduce_named(
            "PlanTiers",
            |_plan, rows: &[(&(Currency, Instant, i64), isize)], output: &mut Vec<(i64, isize)>| {
                if let Some(tier) = tier_of(rows.iter().map(|(row, _)| *row)) {
                    output.push((tier, 1));
                }
            },
        )
}

/// The tier of a plan from its catalog rows, each `(currency, updated_at,
/// tier)`, in any order.
pub fn tier_of<'a>(rows: impl Iterator<Item = &'a (Currency, Instant, i64)>) -> Option<i64> {
    let mut current: std::collections::BTreeMap<&Currency, (Instant, i64)> = Default::default();
    for (currency, updated_at, tier) in rows {
        let entry = current.entry(currency).or_insert((*updated_at, *tier));
        *entry = (*entry).max((*updated_at, *tier));
    }
    current.values().map(|(_, tier)| *tier).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn the_latest_row_per_currency_then_the_highest_tier() {
        let (usd, eur) = (currency("USD"), currency("EUR"));
        let at = Instant::from_seconds;
        // USD: tier 2 replaced by a later tier 1; EUR: tier 2.
        let rows = [(usd, at(10), 2), (usd, at(20), 1), (eur, at(5), 2)];
        assert_eq!(tier_of(rows.iter()), Some(2));
        // Without the EUR row, the USD row in force says 1.
        assert_eq!(tier_of(rows[..2].iter()), Some(1));
        // Rows of one key at the same time: the higher tier.
        let tied = [(usd, at(10), 1), (usd, at(10), 3)];
        assert_eq!(tier_of(tied.iter()), Some(3));
        assert_eq!(tier_of([].iter()), None);
    }
}
