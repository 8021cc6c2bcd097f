//! The fourteen input feeds.

use serde::{Deserialize, Serialize};

/// An input feed: a Kafka topic or a `<feed>.jsonl` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Feed {
    Viewing,
    Subscriptions,
    Billing,
    AdRevenue,
    ContentCosts,
    OperationalCosts,
    ExperimentAssignments,
    AccountFlags,
    PaymentSettlements,
    PlanCatalog,
    ContentCatalog,
    Devices,
    FxRates,
    FinanceGl,
}

impl Feed {
    /// Every feed, in the order of the feed contract.
    pub const ALL: [Feed; 14] = [
        Feed::Viewing,
        Feed::Subscriptions,
        Feed::Billing,
        Feed::AdRevenue,
        Feed::ContentCosts,
        Feed::OperationalCosts,
        Feed::ExperimentAssignments,
        Feed::AccountFlags,
        Feed::PaymentSettlements,
        Feed::PlanCatalog,
        Feed::ContentCatalog,
        Feed::Devices,
        Feed::FxRates,
        Feed::FinanceGl,
    ];

    /// The feed's name: its file stem and the suffix of its topic.
    pub fn name(self) -> &'static str {
        match self {
            Feed::Viewing => "viewing",
            Feed::Subscriptions => "subscriptions",
            Feed::Billing => "billing",
            Feed::AdRevenue => "ad_revenue",
            Feed::ContentCosts => "content_costs",
            Feed::OperationalCosts => "operational_costs",
            Feed::ExperimentAssignments => "experiment_assignments",
            Feed::AccountFlags => "account_flags",
            Feed::PaymentSettlements => "payment_settlements",
            Feed::PlanCatalog => "plan_catalog",
            Feed::ContentCatalog => "content_catalog",
            Feed::Devices => "devices",
            Feed::FxRates => "fx_rates",
            Feed::FinanceGl => "finance_gl",
        }
    }

    /// The feed with this name, if there is one.
    pub fn from_name(name: &str) -> Option<Feed> {
        Feed::ALL.into_iter().find(|feed| feed.name() == name)
    }

    /// Event feeds carry `event_id`; records sharing one are duplicates.
    pub fn is_event_feed(self) -> bool {
        !self.is_reference()
    }

    /// Reference feeds are tables keyed by their key columns.
    pub fn is_reference(self) -> bool {
        matches!(
            self,
            Feed::PlanCatalog
                | Feed::ContentCatalog
                | Feed::Devices
                | Feed::FxRates
                | Feed::FinanceGl
        )
    }
}

impl std::fmt::Display for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for feed in Feed::ALL {
            assert_eq!(Feed::from_name(feed.name()), Some(feed));
            assert!(seen.insert(feed.name()));
        }
        assert_eq!(Feed::from_name("viewings"), None);
        assert_eq!(Feed::ALL.iter().filter(|f| f.is_reference()).count(), 5);
    }
}
