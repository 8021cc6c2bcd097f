//! Decoding: the raw bytes of one record of one feed become a typed
//! [`Record`], or a [`DecodeError`] saying which rule of the feed contract
//! they break.
//!
//! Every source (files today, Kafka later) calls [`decode`]; nothing else
//! in streamflix interprets feed JSON, so this module is the single place
//! where the contract (`EVENTS.md`) is enforced:
//!
//! * the bytes must be UTF-8 JSON whose top level is an object with no key
//!   twice (nested addon objects included); unknown keys are ignored;
//! * `null` and an absent key mean the same thing: a required field that is
//!   `null` is missing, an optional one takes its default;
//! * `schema_version`, when present, must be an integer; above 1 the record
//!   is refused before any other field is looked at (a later schema may
//!   have changed them), and below 1 it is out of range;
//! * numbers are read from their JSON text, exactly, into millionths
//!   ([`Micros`]) or 10^-18 ([`Rate`](streamflix_model::Rate)); a number
//!   given as a string is the wrong type. Ranges are checked on the value
//!   rounded to millionths, which is the value the engine computes with;
//! * fields are checked in the order of the contract's tables, so a record
//!   breaking several rules always reports the same first one.

mod error;
mod json;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use error::{DecodeError, FieldPath};
pub use json::MAX_ID_BYTES;

use std::borrow::Cow;

use streamflix_model::Feed;
use streamflix_model::Micros;
use streamflix_model::records::{
    AccountFlag, AdRevenue, Addon, Billing, ContentCatalog, ContentCost, Device,
    ExperimentAssignment, FinanceGl, FlagKind, FxRate, GlAccount, OperationalCost,
    PaymentSettlement, PlanCatalog, Record, Subscription, SubscriptionType, Viewing,
};

use error::{Indexed, quote};
use json::{Field, ObjectProblem, fields, scan_object};

/// The highest `schema_version` this engine reads.
pub const SCHEMA_VERSION: i64 = 1;

/// Decodes one record of `feed` from its raw bytes (a file line without its
/// line break, or a Kafka message payload).
pub fn decode(feed: Feed, raw: &[u8]) -> Result<Record, DecodeError> {
    let text = std::str::from_utf8(raw).map_err(|error| {
        DecodeError::NotJson(format!(
            "invalid UTF-8 at byte {} (JSON text must be UTF-8)",
            error.valid_up_to()
        ))
    })?;
    decode_str(feed, text)
}

/// [`decode`] for text already known to be UTF-8.
pub fn decode_str(feed: Feed, text: &str) -> Result<Record, DecodeError> {
    match feed {
        Feed::Viewing => viewing(text),
        Feed::Subscriptions => subscriptions(text),
        Feed::Billing => billing(text),
        Feed::AdRevenue => ad_revenue(text),
        Feed::ContentCosts => content_costs(text),
        Feed::OperationalCosts => operational_costs(text),
        Feed::ExperimentAssignments => experiment_assignments(text),
        Feed::AccountFlags => account_flags(text),
        Feed::PaymentSettlements => payment_settlements(text),
        Feed::PlanCatalog => plan_catalog(text),
        Feed::ContentCatalog => content_catalog(text),
        Feed::Devices => devices(text),
        Feed::FxRates => fx_rates(text),
        Feed::FinanceGl => finance_gl(text),
    }
}

/// The top-level field names of a feed's records, in contract order, as
/// [`decode`] looks for them (`schema_version` included).
pub fn field_names(feed: Feed) -> &'static [&'static str] {
    match feed {
        Feed::Viewing => &VIEWING,
        Feed::Subscriptions => &SUBSCRIPTIONS,
        Feed::Billing => &BILLING,
        Feed::AdRevenue => &AD_REVENUE,
        Feed::ContentCosts => &CONTENT_COSTS,
        Feed::OperationalCosts => &OPERATIONAL_COSTS,
        Feed::ExperimentAssignments => &EXPERIMENT_ASSIGNMENTS,
        Feed::AccountFlags => &ACCOUNT_FLAGS,
        Feed::PaymentSettlements => &PAYMENT_SETTLEMENTS,
        Feed::PlanCatalog => &PLAN_CATALOG,
        Feed::ContentCatalog => &CONTENT_CATALOG,
        Feed::Devices => &DEVICES,
        Feed::FxRates => &FX_RATES,
        Feed::FinanceGl => &FINANCE_GL,
    }
}

fn schema_version(field: &Field<'_>) -> Result<(), DecodeError> {
    let Some(raw) = field.is_present().then(|| field.number()).transpose()? else {
        return Ok(());
    };
    if raw.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return Err(field.wrong_type("an integer", raw));
    }
    // Any integer too large for i64 is still a version from the future.
    let too_new = match raw.parse::<i64>() {
        Ok(version) => version > SCHEMA_VERSION,
        Err(_) => !raw.starts_with('-'),
    };
    if too_new {
        return Err(DecodeError::UnsupportedSchemaVersion(raw.to_owned()));
    }
    if raw.parse::<i64>().is_ok_and(|version| version >= 1) {
        Ok(())
    } else {
        Err(DecodeError::OutOfRange {
            field: field.name.clone(),
            value: raw.to_owned(),
            range: ">= 1",
        })
    }
}

const VIEWING: [&str; 10] = [
    "event_id",
    "event_time",
    "subscriber_id",
    "device_id",
    "content_id",
    "watch_seconds",
    "position_seconds",
    "duration_seconds",
    "received_at",
    "schema_version",
];

fn viewing(text: &str) -> Result<Record, DecodeError> {
    let [
        event_id,
        event_time,
        subscriber_id,
        device_id,
        content_id,
        watch_seconds,
        position_seconds,
        duration_seconds,
        received_at,
        version,
    ] = fields(text, &VIEWING)?;
    schema_version(&version)?;
    Ok(Record::Viewing(Viewing {
        event_id: event_id.id()?,
        event_time: event_time.instant()?,
        subscriber_id: subscriber_id.id()?,
        device_id: device_id.id()?,
        content_id: content_id.id()?,
        watch_seconds: watch_seconds.micros_where(
            |s| (Micros::ZERO..=Micros::from_units(3600)).contains(&s),
            "0..=3600",
        )?,
        position_seconds: position_seconds.micros_where(|s| s >= Micros::ZERO, ">= 0")?,
        duration_seconds: duration_seconds.micros_where(|s| s > Micros::ZERO, "> 0")?,
        received_at: received_at.opt_instant()?,
    }))
}

const SUBSCRIPTIONS: [&str; 7] = [
    "event_id",
    "event_time",
    "subscriber_id",
    "type",
    "plan_id",
    "country",
    "schema_version",
];

fn subscriptions(text: &str) -> Result<Record, DecodeError> {
    let [
        event_id,
        event_time,
        subscriber_id,
        kind,
        plan_id,
        country,
        version,
    ] = fields(text, &SUBSCRIPTIONS)?;
    schema_version(&version)?;
    let event_id = event_id.id()?;
    let event_time = event_time.instant()?;
    let subscriber_id = subscriber_id.id()?;
    let kind_text = kind.string()?;
    let kind = SubscriptionType::parse(&kind_text)
        .ok_or_else(|| DecodeError::UnknownType(quote(&kind_text)))?;
    let plan_id = match kind {
        SubscriptionType::Signup | SubscriptionType::PlanChange => Some(plan_id.id()?),
        // The contract ignores plan_id on cancel, so a malformed one must
        // not cost the event.
        SubscriptionType::Cancel => None,
    };
    Ok(Record::Subscription(Subscription {
        event_id,
        event_time,
        subscriber_id,
        kind,
        plan_id,
        country: country.opt_string()?.map(Cow::into_owned),
    }))
}

const BILLING: [&str; 10] = [
    "event_id",
    "event_time",
    "subscriber_id",
    "billing_period",
    "plan_id",
    "currency",
    "plan_amount",
    "addons",
    "refund_amount",
    "schema_version",
];

fn billing(text: &str) -> Result<Record, DecodeError> {
    let [
        event_id,
        event_time,
        subscriber_id,
        billing_period,
        plan_id,
        currency,
        plan_amount,
        addons,
        refund_amount,
        version,
    ] = fields(text, &BILLING)?;
    schema_version(&version)?;
    Ok(Record::Billing(Billing {
        event_id: event_id.id()?,
        event_time: event_time.instant()?,
        subscriber_id: subscriber_id.id()?,
        billing_period: billing_period.month()?,
        plan_id: plan_id.id()?,
        currency: currency.currency()?,
        plan_amount: plan_amount.money()?,
        addons: decode_addons(&addons)?,
        refund_amount: refund_amount.opt_money()?.unwrap_or(Micros::ZERO),
    }))
}

const ADDON: [&str; 2] = ["addon_id", "amount"];

/// `addons`: absent or null is `[]`; otherwise an array of objects
/// `{addon_id: id, amount: money}`, each held to the same rules as a
/// record (distinct keys, unknown keys ignored).
fn decode_addons(field: &Field<'_>) -> Result<Vec<Addon>, DecodeError> {
    let Some(raw) = field.is_present().then(|| field.required()).transpose()? else {
        return Ok(Vec::new());
    };
    if !raw.starts_with('[') {
        return Err(field.wrong_type("an array of {addon_id, amount} objects", raw));
    }
    let elements: Vec<&serde_json::value::RawValue> =
        serde_json::from_str(raw).map_err(|error| DecodeError::NotJson(error.to_string()))?;
    let mut addons = Vec::with_capacity(elements.len());
    for (index, element) in elements.into_iter().enumerate() {
        let path = |name: Option<&str>| -> FieldPath {
            Indexed {
                array: &field.name,
                index,
                field: name,
            }
            .to_string()
            .into()
        };
        let [addon_id, amount] = match scan_object(element.get(), &ADDON) {
            Ok(slots) => {
                let mut names = ADDON.iter();
                slots.map(|raw| Field::new(path(names.next().copied()), raw))
            }
            Err(ObjectProblem::NotObject(_)) => {
                return Err(Field::new(path(None), Some(element))
                    .wrong_type("an {addon_id, amount} object", element.get()));
            }
            Err(ObjectProblem::Duplicate(name)) => {
                return Err(DecodeError::DuplicateField(path(Some(&name))));
            }
            Err(ObjectProblem::NotJson(error)) => {
                return Err(DecodeError::NotJson(error.to_string()));
            }
        };
        addons.push(Addon {
            addon_id: addon_id.id()?,
            amount: amount.money()?,
        });
    }
    Ok(addons)
}

const AD_REVENUE: [&str; 6] = [
    "event_id",
    "event_time",
    "subscriber_id",
    "amount",
    "currency",
    "schema_version",
];

fn ad_revenue(text: &str) -> Result<Record, DecodeError> {
    let [
        event_id,
        event_time,
        subscriber_id,
        amount,
        currency,
        version,
    ] = fields(text, &AD_REVENUE)?;
    schema_version(&version)?;
    Ok(Record::AdRevenue(AdRevenue {
        event_id: event_id.id()?,
        event_time: event_time.instant()?,
        subscriber_id: subscriber_id.id()?,
        amount: amount.money()?,
        currency: currency.currency()?,
    }))
}

const CONTENT_COSTS: [&str; 6] = [
    "event_id",
    "partner_id",
    "period",
    "amount",
    "currency",
    "schema_version",
];

fn content_costs(text: &str) -> Result<Record, DecodeError> {
    let [event_id, partner_id, period, amount, currency, version] = fields(text, &CONTENT_COSTS)?;
    schema_version(&version)?;
    Ok(Record::ContentCost(ContentCost {
        event_id: event_id.id()?,
        partner_id: partner_id.id()?,
        period: period.month()?,
        amount: amount.money()?,
        currency: currency.currency()?,
    }))
}

const OPERATIONAL_COSTS: [&str; 6] = [
    "event_id",
    "period",
    "category",
    "amount",
    "currency",
    "schema_version",
];

fn operational_costs(text: &str) -> Result<Record, DecodeError> {
    let [event_id, period, category, amount, currency, version] = fields(text, &OPERATIONAL_COSTS)?;
    schema_version(&version)?;
    Ok(Record::OperationalCost(OperationalCost {
        event_id: event_id.id()?,
        period: period.month()?,
        category: category.string()?.into_owned(),
        amount: amount.money()?,
        currency: currency.currency()?,
    }))
}

const EXPERIMENT_ASSIGNMENTS: [&str; 6] = [
    "event_id",
    "event_time",
    "subscriber_id",
    "experiment_id",
    "variant",
    "schema_version",
];

fn experiment_assignments(text: &str) -> Result<Record, DecodeError> {
    let [
        event_id,
        event_time,
        subscriber_id,
        experiment_id,
        variant,
        version,
    ] = fields(text, &EXPERIMENT_ASSIGNMENTS)?;
    schema_version(&version)?;
    Ok(Record::ExperimentAssignment(ExperimentAssignment {
        event_id: event_id.id()?,
        event_time: event_time.instant()?,
        subscriber_id: subscriber_id.id()?,
        experiment_id: experiment_id.id()?,
        variant: variant.id()?,
    }))
}

const ACCOUNT_FLAGS: [&str; 5] = [
    "event_id",
    "event_time",
    "subscriber_id",
    "flag",
    "schema_version",
];

fn account_flags(text: &str) -> Result<Record, DecodeError> {
    let [event_id, event_time, subscriber_id, flag, version] = fields(text, &ACCOUNT_FLAGS)?;
    schema_version(&version)?;
    let event_id = event_id.id()?;
    let event_time = event_time.instant()?;
    let subscriber_id = subscriber_id.id()?;
    let flag_text = flag.string()?;
    let flag =
        FlagKind::parse(&flag_text).ok_or_else(|| DecodeError::UnknownFlag(quote(&flag_text)))?;
    Ok(Record::AccountFlag(AccountFlag {
        event_id,
        event_time,
        subscriber_id,
        flag,
    }))
}

const PAYMENT_SETTLEMENTS: [&str; 5] = ["event_id", "date", "currency", "amount", "schema_version"];

fn payment_settlements(text: &str) -> Result<Record, DecodeError> {
    let [event_id, date, currency, amount, version] = fields(text, &PAYMENT_SETTLEMENTS)?;
    schema_version(&version)?;
    Ok(Record::PaymentSettlement(PaymentSettlement {
        event_id: event_id.id()?,
        date: date.day()?,
        currency: currency.currency()?,
        // Net of refunds: any sign.
        amount: amount.micros()?,
    }))
}

const PLAN_CATALOG: [&str; 6] = [
    "plan_id",
    "currency",
    "tier",
    "monthly_price",
    "updated_at",
    "schema_version",
];

fn plan_catalog(text: &str) -> Result<Record, DecodeError> {
    let [plan_id, currency, tier, monthly_price, updated_at, version] =
        fields(text, &PLAN_CATALOG)?;
    schema_version(&version)?;
    Ok(Record::PlanCatalog(PlanCatalog {
        plan_id: plan_id.id()?,
        currency: currency.currency()?,
        tier: tier.integer()?,
        monthly_price: monthly_price.money()?,
        updated_at: updated_at.instant()?,
    }))
}

const CONTENT_CATALOG: [&str; 4] = ["content_id", "partner_id", "updated_at", "schema_version"];

fn content_catalog(text: &str) -> Result<Record, DecodeError> {
    let [content_id, partner_id, updated_at, version] = fields(text, &CONTENT_CATALOG)?;
    schema_version(&version)?;
    Ok(Record::ContentCatalog(ContentCatalog {
        content_id: content_id.id()?,
        // Null or absent: an original.
        partner_id: partner_id.opt_id()?,
        updated_at: updated_at.instant()?,
    }))
}

const DEVICES: [&str; 4] = ["device_id", "device_type", "updated_at", "schema_version"];

fn devices(text: &str) -> Result<Record, DecodeError> {
    let [device_id, device_type, updated_at, version] = fields(text, &DEVICES)?;
    schema_version(&version)?;
    Ok(Record::Device(Device {
        device_id: device_id.id()?,
        device_type: device_type.string()?.into_owned(),
        updated_at: updated_at.instant()?,
    }))
}

const FX_RATES: [&str; 4] = ["date", "currency", "usd_per_unit", "schema_version"];

fn fx_rates(text: &str) -> Result<Record, DecodeError> {
    let [date, currency, usd_per_unit, version] = fields(text, &FX_RATES)?;
    schema_version(&version)?;
    Ok(Record::FxRate(FxRate {
        date: date.day()?,
        currency: currency.currency()?,
        usd_per_unit: usd_per_unit.positive_rate()?,
    }))
}

const FINANCE_GL: [&str; 5] = [
    "period",
    "account",
    "amount_usd",
    "updated_at",
    "schema_version",
];

fn finance_gl(text: &str) -> Result<Record, DecodeError> {
    let [period, account, amount_usd, updated_at, version] = fields(text, &FINANCE_GL)?;
    schema_version(&version)?;
    let period = period.month()?;
    let account_text = account.string()?;
    let account = GlAccount::parse(&account_text)
        .ok_or_else(|| DecodeError::UnknownAccount(quote(&account_text)))?;
    Ok(Record::FinanceGl(FinanceGl {
        period,
        account,
        // Any sign: a GL line can be a credit.
        amount_usd: amount_usd.micros()?,
        updated_at: updated_at.instant()?,
    }))
}
