//! Helpers shared by the test modules.

pub mod growth_oracle;
pub mod oracle;
pub mod profit;
pub mod profit_oracle;
pub mod random_growth;
pub mod random_profit;
pub mod random_viewing;
pub mod tables;

use streamflix_engine::output::{Output, OutputStore};
use streamflix_operators::engagement::{EngagementDay, EngagementWeek};
use streamflix_operators::growth::{GrowthDay, GrowthVariantDay, GrowthWeek};

/// The growth rows of a store, in key order.
pub type GrowthRows = (Vec<GrowthDay>, Vec<GrowthVariantDay>, Vec<GrowthWeek>);

pub fn growth_rows(store: &OutputStore) -> GrowthRows {
    let mut rows = GrowthRows::default();
    for row in store.rows().expect("every row has multiplicity 1") {
        match row {
            Output::GrowthDaily(day) => rows.0.push(day.clone()),
            Output::GrowthDailyByVariant(variant) => rows.1.push(variant.clone()),
            Output::GrowthWeekly(week) => rows.2.push(week.clone()),
            _ => {}
        }
    }
    rows
}

/// The data-quality counts of a store, by feed and issue.
pub fn quality_counts(
    store: &OutputStore,
) -> std::collections::BTreeMap<(streamflix_model::Feed, String), i64> {
    store
        .rows()
        .expect("every row has multiplicity 1")
        .into_iter()
        .filter_map(|row| match row {
            Output::Quality(count) => Some(((count.feed, count.issue.clone()), count.count)),
            _ => None,
        })
        .collect()
}

/// The engagement rows of a store, in key order.
pub fn engagement_rows(store: &OutputStore) -> (Vec<EngagementDay>, Vec<EngagementWeek>) {
    let mut daily = Vec::new();
    let mut weekly = Vec::new();
    for row in store.rows().expect("every row has multiplicity 1") {
        match row {
            Output::EngagementDaily(day) => daily.push(day.clone()),
            Output::EngagementWeekly(week) => weekly.push(week.clone()),
            _ => {}
        }
    }
    (daily, weekly)
}
