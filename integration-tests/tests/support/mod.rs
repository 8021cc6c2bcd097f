//! Helpers shared by the test modules.

pub mod oracle;
pub mod profit;
pub mod profit_oracle;
pub mod random_profit;
pub mod random_viewing;
pub mod tables;

use streamflix_engine::output::{Output, OutputStore};
use streamflix_operators::engagement::{EngagementDay, EngagementWeek};

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
