//! One typed record per feed, as the feed contract defines it.
//!
//! A record here has passed every rule of its feed: required fields are
//! present and of the right type, values are in range, timestamps parse.
//! Optional fields have their defaults filled in. Unknown fields are gone.

use serde::{Deserialize, Serialize};

use crate::{Currency, Day, Id, Instant, Micros, Month, Rate};

/// A playback heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Viewing {
    pub event_id: Id,
    pub event_time: Instant,
    pub subscriber_id: Id,
    pub device_id: Id,
    pub content_id: Id,
    /// Playback seconds in this stretch, 0 to 3600.
    pub watch_seconds: Micros,
    /// Playhead position at `event_time`, >= 0.
    pub position_seconds: Micros,
    /// Length of the content, > 0.
    pub duration_seconds: Micros,
    /// When the platform received it; for Kafka, the message timestamp
    /// stands in when the field is absent.
    pub received_at: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SubscriptionType {
    Signup,
    PlanChange,
    Cancel,
}

impl SubscriptionType {
    pub fn parse(text: &str) -> Option<SubscriptionType> {
        match text {
            "signup" => Some(SubscriptionType::Signup),
            "plan_change" => Some(SubscriptionType::PlanChange),
            "cancel" => Some(SubscriptionType::Cancel),
            _ => None,
        }
    }
}

/// A subscriber lifecycle event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Subscription {
    pub event_id: Id,
    pub event_time: Instant,
    pub subscriber_id: Id,
    pub kind: SubscriptionType,
    /// Present for `signup` and `plan_change`; ignored on `cancel`.
    pub plan_id: Option<Id>,
    pub country: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Addon {
    pub addon_id: Id,
    pub amount: Micros,
}

/// One monthly charge per subscriber and billing period.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Billing {
    pub event_id: Id,
    pub event_time: Instant,
    pub subscriber_id: Id,
    pub billing_period: Month,
    pub plan_id: Id,
    pub currency: Currency,
    pub plan_amount: Micros,
    pub addons: Vec<Addon>,
    pub refund_amount: Micros,
}

/// Ad revenue attributed to a subscriber in the month of `event_time`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AdRevenue {
    pub event_id: Id,
    pub event_time: Instant,
    pub subscriber_id: Id,
    pub amount: Micros,
    pub currency: Currency,
}

/// A licensing cost line from a content partner.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContentCost {
    pub event_id: Id,
    pub partner_id: Id,
    pub period: Month,
    pub amount: Micros,
    pub currency: Currency,
}

/// An operational cost line (cdn, infra, support, ...).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OperationalCost {
    pub event_id: Id,
    pub period: Month,
    pub category: String,
    pub amount: Micros,
    pub currency: Currency,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExperimentAssignment {
    pub event_id: Id,
    pub event_time: Instant,
    pub subscriber_id: Id,
    pub experiment_id: Id,
    pub variant: Id,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FlagKind {
    Bot,
    Spam,
    Fraud,
    Test,
}

impl FlagKind {
    pub fn parse(text: &str) -> Option<FlagKind> {
        match text {
            "bot" => Some(FlagKind::Bot),
            "spam" => Some(FlagKind::Spam),
            "fraud" => Some(FlagKind::Fraud),
            "test" => Some(FlagKind::Test),
            _ => None,
        }
    }
}

/// A trust-and-safety flag: the subscriber leaves engagement and growth.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountFlag {
    pub event_id: Id,
    pub event_time: Instant,
    pub subscriber_id: Id,
    pub flag: FlagKind,
}

/// The payment processor's net settled amount for one day and currency.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PaymentSettlement {
    pub event_id: Id,
    pub date: Day,
    pub currency: Currency,
    /// May be negative: refunds can exceed charges.
    pub amount: Micros,
}

/// Reference row, key `(plan_id, currency)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PlanCatalog {
    pub plan_id: Id,
    pub currency: Currency,
    pub tier: i64,
    pub monthly_price: Micros,
    pub updated_at: Instant,
}

/// Reference row, key `content_id`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContentCatalog {
    pub content_id: Id,
    /// `None` for originals.
    pub partner_id: Option<Id>,
    pub updated_at: Instant,
}

/// Reference row, key `device_id`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Device {
    pub device_id: Id,
    pub device_type: String,
    pub updated_at: Instant,
}

/// Reference row, key `(date, currency)`; a later record replaces an
/// earlier one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FxRate {
    pub date: Day,
    pub currency: Currency,
    pub usd_per_unit: Rate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GlAccount {
    Revenue,
    ContentCost,
    OperationalCost,
}

impl GlAccount {
    pub fn parse(text: &str) -> Option<GlAccount> {
        match text {
            "revenue" => Some(GlAccount::Revenue),
            "content_cost" => Some(GlAccount::ContentCost),
            "operational_cost" => Some(GlAccount::OperationalCost),
            _ => None,
        }
    }
}

/// Reference row, key `(period, account)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FinanceGl {
    pub period: Month,
    pub account: GlAccount,
    /// Any sign.
    pub amount_usd: Micros,
    pub updated_at: Instant,
}

/// A decoded record of any feed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Record {
    Viewing(Viewing),
    Subscription(Subscription),
    Billing(Billing),
    AdRevenue(AdRevenue),
    ContentCost(ContentCost),
    OperationalCost(OperationalCost),
    ExperimentAssignment(ExperimentAssignment),
    AccountFlag(AccountFlag),
    PaymentSettlement(PaymentSettlement),
    PlanCatalog(PlanCatalog),
    ContentCatalog(ContentCatalog),
    Device(Device),
    FxRate(FxRate),
    FinanceGl(FinanceGl),
}

impl Record {
    /// The record's `event_time`, for the feeds that have one: what
    /// advances a source's watermark.
    pub fn event_time(&self) -> Option<crate::Instant> {
        match self {
            Record::Viewing(r) => Some(r.event_time),
            Record::Subscription(r) => Some(r.event_time),
            Record::Billing(r) => Some(r.event_time),
            Record::AdRevenue(r) => Some(r.event_time),
            Record::ExperimentAssignment(r) => Some(r.event_time),
            Record::AccountFlag(r) => Some(r.event_time),
            _ => None,
        }
    }

    pub fn feed(&self) -> crate::Feed {
        use crate::Feed;
        match self {
            Record::Viewing(_) => Feed::Viewing,
            Record::Subscription(_) => Feed::Subscriptions,
            Record::Billing(_) => Feed::Billing,
            Record::AdRevenue(_) => Feed::AdRevenue,
            Record::ContentCost(_) => Feed::ContentCosts,
            Record::OperationalCost(_) => Feed::OperationalCosts,
            Record::ExperimentAssignment(_) => Feed::ExperimentAssignments,
            Record::AccountFlag(_) => Feed::AccountFlags,
            Record::PaymentSettlement(_) => Feed::PaymentSettlements,
            Record::PlanCatalog(_) => Feed::PlanCatalog,
            Record::ContentCatalog(_) => Feed::ContentCatalog,
            Record::Device(_) => Feed::Devices,
            Record::FxRate(_) => Feed::FxRates,
            Record::FinanceGl(_) => Feed::FinanceGl,
        }
    }
}
