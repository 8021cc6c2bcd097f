//! Tests of [`decode`](super::decode): good records of every feed, then
//! every rule of the contract broken on every feed it applies to.

use serde_json::{Value, json};
use streamflix_model::records::*;
use streamflix_model::{Currency, Day, Feed, Instant, Micros, Month, Rate};

use super::{DecodeError, decode, field_names};

fn at(text: &str) -> Instant {
    Instant::parse_rfc3339(text).unwrap()
}

/// A valid record of every feed, with every field (optional ones included).
fn good(feed: Feed) -> Value {
    match feed {
        Feed::Viewing => json!({
            "event_id": "e1", "event_time": "2026-11-02T14:03:11Z", "subscriber_id": "s1",
            "device_id": "d1", "content_id": "c1", "watch_seconds": 30,
            "position_seconds": 120.5, "duration_seconds": 3600, "received_at": "2026-11-02T14:03:12Z"
        }),
        Feed::Subscriptions => json!({
            "event_id": "e1", "event_time": "2026-11-02T14:03:11Z", "subscriber_id": "s1",
            "type": "signup", "plan_id": "basic", "country": "US"
        }),
        Feed::Billing => json!({
            "event_id": "e1", "event_time": "2026-11-02T14:03:11Z", "subscriber_id": "s1",
            "billing_period": "2026-11", "plan_id": "basic", "currency": "USD", "plan_amount": 9.99,
            "addons": [{"addon_id": "sports", "amount": 5}], "refund_amount": 1.5
        }),
        Feed::AdRevenue => json!({
            "event_id": "e1", "event_time": "2026-11-02T14:03:11Z", "subscriber_id": "s1",
            "amount": 0.25, "currency": "EUR"
        }),
        Feed::ContentCosts => json!({
            "event_id": "e1", "partner_id": "p1", "period": "2026-11", "amount": 1000, "currency": "USD"
        }),
        Feed::OperationalCosts => json!({
            "event_id": "e1", "period": "2026-11", "category": "cdn", "amount": 12.5, "currency": "USD"
        }),
        Feed::ExperimentAssignments => json!({
            "event_id": "e1", "event_time": "2026-11-02T14:03:11Z", "subscriber_id": "s1",
            "experiment_id": "x1", "variant": "control"
        }),
        Feed::AccountFlags => json!({
            "event_id": "e1", "event_time": "2026-11-02T14:03:11Z", "subscriber_id": "s1", "flag": "bot"
        }),
        Feed::PaymentSettlements => json!({
            "event_id": "e1", "date": "2026-11-02", "currency": "USD", "amount": -10.5
        }),
        Feed::PlanCatalog => json!({
            "plan_id": "basic", "currency": "USD", "tier": 1, "monthly_price": 9.99,
            "updated_at": "2026-01-01T00:00:00Z"
        }),
        Feed::ContentCatalog => json!({
            "content_id": "c1", "partner_id": "p1", "updated_at": "2026-01-01T00:00:00Z"
        }),
        Feed::Devices => json!({
            "device_id": "d1", "device_type": "tv", "updated_at": "2026-01-01T00:00:00Z"
        }),
        Feed::FxRates => json!({ "date": "2026-11-02", "currency": "EUR", "usd_per_unit": 1.0834 }),
        Feed::FinanceGl => json!({
            "period": "2026-11", "account": "revenue", "amount_usd": -1234.56,
            "updated_at": "2026-12-01T00:00:00Z"
        }),
    }
}

fn decode_value(feed: Feed, value: &Value) -> Result<Record, DecodeError> {
    decode(feed, value.to_string().as_bytes())
}

fn with(feed: Feed, field: &str, value: Value) -> Value {
    let mut record = good(feed);
    record[field] = value;
    record
}

fn without(feed: Feed, field: &str) -> Value {
    let mut record = good(feed);
    record.as_object_mut().unwrap().remove(field);
    record
}

/// Decodes `record` and checks the refusal's kind and that its message
/// names `field`.
#[track_caller]
fn refused(feed: Feed, record: &Value, kind: &str, field: &str) -> DecodeError {
    let error =
        decode_value(feed, record).expect_err(&format!("{feed}: {record} should be refused"));
    assert_eq!(error.kind(), kind, "{feed}: {record}: {error}");
    assert!(
        error.to_string().contains(&format!("`{field}`")),
        "{feed}: message `{error}` should name `{field}`"
    );
    assert_eq!(error.field(), Some(field), "{feed}: {error}");
    assert!(!error.to_string().contains('\n'));
    error
}

/// The feed's fields (other than `schema_version`) of the given type.
fn fields_where(feed: Feed, pick: impl Fn(&str) -> bool) -> Vec<&'static str> {
    field_names(feed)
        .iter()
        .copied()
        .filter(|name| *name != "schema_version" && pick(name))
        .collect()
}

fn is_id(name: &str) -> bool {
    matches!(
        name,
        "event_id"
            | "subscriber_id"
            | "device_id"
            | "content_id"
            | "plan_id"
            | "partner_id"
            | "experiment_id"
            | "variant"
    )
}

fn is_timestamp(name: &str) -> bool {
    matches!(name, "event_time" | "received_at" | "updated_at")
}

fn is_month(name: &str) -> bool {
    matches!(name, "billing_period" | "period")
}

fn is_number(name: &str) -> bool {
    matches!(
        name,
        "watch_seconds"
            | "position_seconds"
            | "duration_seconds"
            | "plan_amount"
            | "refund_amount"
            | "amount"
            | "tier"
            | "monthly_price"
            | "usd_per_unit"
            | "amount_usd"
    )
}

/// Fields that may be absent.
fn is_optional(feed: Feed, name: &str) -> bool {
    matches!(
        (feed, name),
        (Feed::Viewing, "received_at")
            | (Feed::Subscriptions, "country")
            | (Feed::Billing, "addons" | "refund_amount")
            | (Feed::ContentCatalog, "partner_id")
    )
}

// ---------------------------------------------------------------- good ---

#[test]
fn every_feed_decodes_its_good_record() {
    for feed in Feed::ALL {
        let record = decode_value(feed, &good(feed)).unwrap_or_else(|e| panic!("{feed}: {e}"));
        assert_eq!(record.feed(), feed);
    }
}

#[test]
fn viewing_decodes_to_exact_values() {
    let raw =
        br#"{"event_id":"ev-1","event_time":"2026-11-02T08:03:11.25-06:00","subscriber_id":"sub-1",
        "device_id":"dev-1","content_id":"con-1","watch_seconds":29.999999,"position_seconds":0,
        "duration_seconds":5400.5,"received_at":"2026-11-02T14:03:12.000000001Z"}"#;
    let raw: Vec<u8> = raw.iter().copied().filter(|&b| b != b'\n').collect();
    let Record::Viewing(v) = decode(Feed::Viewing, &raw).unwrap() else {
        panic!()
    };
    assert_eq!(
        v,
        Viewing {
            event_id: "ev-1".into(),
            event_time: Instant(at("2026-11-02T14:03:11Z").0 + 250_000_000),
            subscriber_id: "sub-1".into(),
            device_id: "dev-1".into(),
            content_id: "con-1".into(),
            watch_seconds: Micros(29_999_999),
            position_seconds: Micros(0),
            duration_seconds: Micros(5_400_500_000),
            received_at: Some(Instant(at("2026-11-02T14:03:12Z").0 + 1)),
        }
    );
}

#[test]
fn viewing_numbers_are_read_from_their_text_not_through_floats() {
    // 0.1 + 0.2 style values and exponents stay exact.
    let raw = r#"{"event_id":"e","event_time":"2026-01-01T00:00:00Z","subscriber_id":"s","device_id":"d",
        "content_id":"c","watch_seconds":0.3,"position_seconds":1.5e2,"duration_seconds":36E2}"#;
    let Record::Viewing(v) = decode(Feed::Viewing, raw.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(v.watch_seconds, Micros(300_000));
    assert_eq!(v.position_seconds, Micros(150_000_000));
    assert_eq!(v.duration_seconds, Micros(3_600_000_000));
    assert_eq!(v.received_at, None);
}

#[test]
fn watch_seconds_bounds_are_inclusive() {
    for ok in ["0", "3600", "3600.0", "0.000001"] {
        let raw = good(Feed::Viewing)
            .to_string()
            .replace("\"watch_seconds\":30", &format!("\"watch_seconds\":{ok}"));
        assert!(decode(Feed::Viewing, raw.as_bytes()).is_ok(), "{ok}");
    }
}

#[test]
fn strings_with_escapes_decode() {
    let raw = r#"{"event_id":"e\"1\\","event_time":"2026-11-02T14:03:11Z","subscriber_id":"s\u00e9\n",
        "type":"plan\u005fchange","plan_id":"p\/1","country":"C\u00f4te d'Ivoire \ud83c\udde8\ud83c\uddee"}"#;
    let Record::Subscription(s) = decode(Feed::Subscriptions, raw.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(s.event_id, "e\"1\\");
    assert_eq!(s.subscriber_id, "sé\n");
    assert_eq!(s.kind, SubscriptionType::PlanChange);
    assert_eq!(s.plan_id.as_deref(), Some("p/1"));
    assert_eq!(
        s.country.as_deref(),
        Some("Côte d'Ivoire \u{1F1E8}\u{1F1EE}")
    );
}

#[test]
fn escaped_field_names_are_the_same_fields() {
    let raw = good(Feed::Devices)
        .to_string()
        .replace("\"device_type\"", "\"device\\u005ftype\"");
    let Record::Device(d) = decode(Feed::Devices, raw.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(d.device_type, "tv");
}

#[test]
fn unknown_fields_are_ignored_whatever_they_hold() {
    for feed in Feed::ALL {
        let mut record = good(feed);
        record["producer_extra"] = json!({"nested": [1, 2, {"deep": null}], "type": "ignored"});
        record["another"] = json!("x");
        record["EVENT_ID"] = json!(12);
        assert_eq!(
            decode_value(feed, &record).unwrap(),
            decode_value(feed, &good(feed)).unwrap(),
            "{feed}"
        );
    }
}

#[test]
fn whitespace_around_and_inside_is_fine() {
    let raw = format!(
        " \t{}\r\n ",
        serde_json::to_string_pretty(&good(Feed::Billing)).unwrap()
    );
    assert!(decode(Feed::Billing, raw.as_bytes()).is_ok());
}

#[test]
fn schema_version_1_is_accepted_on_every_feed() {
    for feed in Feed::ALL {
        let expected = decode_value(feed, &good(feed)).unwrap();
        assert_eq!(
            decode_value(feed, &with(feed, "schema_version", json!(1))).unwrap(),
            expected,
            "{feed}"
        );
        assert_eq!(
            decode_value(feed, &with(feed, "schema_version", Value::Null)).unwrap(),
            expected,
            "{feed}"
        );
    }
}

#[test]
fn subscriptions_decode_every_type() {
    let Record::Subscription(s) =
        decode_value(Feed::Subscriptions, &good(Feed::Subscriptions)).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        s,
        Subscription {
            event_id: "e1".into(),
            event_time: at("2026-11-02T14:03:11Z"),
            subscriber_id: "s1".into(),
            kind: SubscriptionType::Signup,
            plan_id: Some("basic".into()),
            country: Some("US".into()),
        }
    );
    let change = with(Feed::Subscriptions, "type", json!("plan_change"));
    let Record::Subscription(s) = decode_value(Feed::Subscriptions, &change).unwrap() else {
        panic!()
    };
    assert_eq!(
        (s.kind, s.plan_id.as_deref()),
        (SubscriptionType::PlanChange, Some("basic"))
    );
}

#[test]
fn cancel_needs_no_plan_and_ignores_a_bad_one() {
    let mut cancel = without(Feed::Subscriptions, "plan_id");
    cancel["type"] = json!("cancel");
    cancel.as_object_mut().unwrap().remove("country");
    let Record::Subscription(s) = decode_value(Feed::Subscriptions, &cancel).unwrap() else {
        panic!()
    };
    assert_eq!(
        (s.kind, s.plan_id, s.country),
        (SubscriptionType::Cancel, None, None)
    );
    for plan in [json!("basic"), json!(""), json!(12)] {
        cancel["plan_id"] = plan;
        let Record::Subscription(s) = decode_value(Feed::Subscriptions, &cancel).unwrap() else {
            panic!()
        };
        assert_eq!(s.plan_id, None);
    }
}

#[test]
fn billing_decodes_addons_and_defaults() {
    let Record::Billing(b) = decode_value(Feed::Billing, &good(Feed::Billing)).unwrap() else {
        panic!()
    };
    assert_eq!(
        b,
        Billing {
            event_id: "e1".into(),
            event_time: at("2026-11-02T14:03:11Z"),
            subscriber_id: "s1".into(),
            billing_period: Month::parse("2026-11").unwrap(),
            plan_id: "basic".into(),
            currency: Currency::USD,
            plan_amount: Micros(9_990_000),
            addons: vec![Addon {
                addon_id: "sports".into(),
                amount: Micros(5_000_000)
            }],
            refund_amount: Micros(1_500_000),
        }
    );
    let mut bare = without(Feed::Billing, "addons");
    bare.as_object_mut().unwrap().remove("refund_amount");
    let Record::Billing(b) = decode_value(Feed::Billing, &bare).unwrap() else {
        panic!()
    };
    assert_eq!((b.addons, b.refund_amount), (vec![], Micros::ZERO));
    let Record::Billing(b) =
        decode_value(Feed::Billing, &with(Feed::Billing, "addons", json!([]))).unwrap()
    else {
        panic!()
    };
    assert!(b.addons.is_empty());
    let two = json!([{"addon_id": "ad_free", "amount": 0, "note": "x"}, {"amount": 2.5, "addon_id": "extra"}]);
    let Record::Billing(b) =
        decode_value(Feed::Billing, &with(Feed::Billing, "addons", two)).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        b.addons,
        vec![
            Addon {
                addon_id: "ad_free".into(),
                amount: Micros::ZERO
            },
            Addon {
                addon_id: "extra".into(),
                amount: Micros(2_500_000)
            }
        ]
    );
}

#[test]
fn other_event_feeds_decode_to_the_right_values() {
    assert_eq!(
        decode_value(Feed::AdRevenue, &good(Feed::AdRevenue)).unwrap(),
        Record::AdRevenue(AdRevenue {
            event_id: "e1".into(),
            event_time: at("2026-11-02T14:03:11Z"),
            subscriber_id: "s1".into(),
            amount: Micros(250_000),
            currency: Currency(*b"EUR"),
        })
    );
    assert_eq!(
        decode_value(Feed::ContentCosts, &good(Feed::ContentCosts)).unwrap(),
        Record::ContentCost(ContentCost {
            event_id: "e1".into(),
            partner_id: "p1".into(),
            period: Month::parse("2026-11").unwrap(),
            amount: Micros::from_units(1000),
            currency: Currency::USD,
        })
    );
    assert_eq!(
        decode_value(Feed::OperationalCosts, &good(Feed::OperationalCosts)).unwrap(),
        Record::OperationalCost(OperationalCost {
            event_id: "e1".into(),
            period: Month::parse("2026-11").unwrap(),
            category: "cdn".into(),
            amount: Micros(12_500_000),
            currency: Currency::USD,
        })
    );
    assert_eq!(
        decode_value(
            Feed::ExperimentAssignments,
            &good(Feed::ExperimentAssignments)
        )
        .unwrap(),
        Record::ExperimentAssignment(ExperimentAssignment {
            event_id: "e1".into(),
            event_time: at("2026-11-02T14:03:11Z"),
            subscriber_id: "s1".into(),
            experiment_id: "x1".into(),
            variant: "control".into(),
        })
    );
    for (text, flag) in [
        ("bot", FlagKind::Bot),
        ("spam", FlagKind::Spam),
        ("fraud", FlagKind::Fraud),
        ("test", FlagKind::Test),
    ] {
        assert_eq!(
            decode_value(
                Feed::AccountFlags,
                &with(Feed::AccountFlags, "flag", json!(text))
            )
            .unwrap(),
            Record::AccountFlag(AccountFlag {
                event_id: "e1".into(),
                event_time: at("2026-11-02T14:03:11Z"),
                subscriber_id: "s1".into(),
                flag,
            })
        );
    }
    assert_eq!(
        decode_value(Feed::PaymentSettlements, &good(Feed::PaymentSettlements)).unwrap(),
        Record::PaymentSettlement(PaymentSettlement {
            event_id: "e1".into(),
            date: Day::from_ymd(2026, 11, 2),
            currency: Currency::USD,
            amount: Micros(-10_500_000),
        })
    );
}

#[test]
fn reference_feeds_decode_to_the_right_values() {
    assert_eq!(
        decode_value(Feed::PlanCatalog, &good(Feed::PlanCatalog)).unwrap(),
        Record::PlanCatalog(PlanCatalog {
            plan_id: "basic".into(),
            currency: Currency::USD,
            tier: 1,
            monthly_price: Micros(9_990_000),
            updated_at: at("2026-01-01T00:00:00Z"),
        })
    );
    assert_eq!(
        decode_value(Feed::ContentCatalog, &good(Feed::ContentCatalog)).unwrap(),
        Record::ContentCatalog(ContentCatalog {
            content_id: "c1".into(),
            partner_id: Some("p1".into()),
            updated_at: at("2026-01-01T00:00:00Z"),
        })
    );
    assert_eq!(
        decode_value(Feed::Devices, &good(Feed::Devices)).unwrap(),
        Record::Device(Device {
            device_id: "d1".into(),
            device_type: "tv".into(),
            updated_at: at("2026-01-01T00:00:00Z"),
        })
    );
    assert_eq!(
        decode_value(Feed::FxRates, &good(Feed::FxRates)).unwrap(),
        Record::FxRate(FxRate {
            date: Day::from_ymd(2026, 11, 2),
            currency: Currency(*b"EUR"),
            usd_per_unit: Rate(1_083_400_000_000_000_000),
        })
    );
    for (text, account) in [
        ("revenue", GlAccount::Revenue),
        ("content_cost", GlAccount::ContentCost),
        ("operational_cost", GlAccount::OperationalCost),
    ] {
        assert_eq!(
            decode_value(
                Feed::FinanceGl,
                &with(Feed::FinanceGl, "account", json!(text))
            )
            .unwrap(),
            Record::FinanceGl(FinanceGl {
                period: Month::parse("2026-11").unwrap(),
                account,
                amount_usd: Micros(-1_234_560_000),
                updated_at: at("2026-12-01T00:00:00Z"),
            })
        );
    }
}

#[test]
fn content_catalog_partner_may_be_null_or_absent() {
    for record in [
        with(Feed::ContentCatalog, "partner_id", Value::Null),
        without(Feed::ContentCatalog, "partner_id"),
    ] {
        let Record::ContentCatalog(c) = decode_value(Feed::ContentCatalog, &record).unwrap() else {
            panic!()
        };
        assert_eq!(c.partner_id, None);
    }
    refused(
        Feed::ContentCatalog,
        &with(Feed::ContentCatalog, "partner_id", json!("")),
        "bad_id",
        "partner_id",
    );
    refused(
        Feed::ContentCatalog,
        &with(Feed::ContentCatalog, "partner_id", json!(7)),
        "wrong_type",
        "partner_id",
    );
}

#[test]
fn timestamps_with_offsets_and_fractions_are_the_same_instants() {
    let record = with(
        Feed::Devices,
        "updated_at",
        json!("2026-01-01T06:00:00.000-06:00"),
    );
    let Record::Device(d) = decode_value(Feed::Devices, &record).unwrap() else {
        panic!()
    };
    assert_eq!(d.updated_at, at("2026-01-01T12:00:00Z"));
}

// ----------------------------------------------------------------- bad ---

#[test]
fn not_json_is_refused_on_every_feed() {
    for feed in Feed::ALL {
        for raw in [
            &b""[..],
            b"   ",
            b"{",
            b"{\"event_id\": }",
            b"not json",
            b"{} {}",
            b"{\"a\":1,}",
            b"\xff\xfe{}",
        ] {
            let error = decode(feed, raw).expect_err("refused");
            assert_eq!(error.kind(), "not_json", "{feed} {raw:?}: {error}");
            assert_eq!(error.field(), None);
        }
    }
    let error = decode(Feed::Viewing, b"{\"event_id\": \"\xc3\x28\"}").unwrap_err();
    assert!(error.to_string().contains("UTF-8"), "{error}");
}

#[test]
fn non_objects_are_refused_on_every_feed() {
    for feed in Feed::ALL {
        for raw in [
            "[]",
            "[{\"event_id\": \"e\"}]",
            "\"text\"",
            "12",
            "true",
            "null",
        ] {
            let error = decode(feed, raw.as_bytes()).expect_err("refused");
            assert_eq!(error.kind(), "not_object", "{feed} {raw}: {error}");
        }
    }
    assert_eq!(
        decode(Feed::Viewing, b"[1]").unwrap_err().to_string(),
        "not a JSON object: the record is an array"
    );
}

#[test]
fn every_required_field_missing_or_null_is_refused() {
    for feed in Feed::ALL {
        for name in fields_where(feed, |name| !is_optional(feed, name)) {
            refused(feed, &without(feed, name), "missing_field", name);
            refused(feed, &with(feed, name, Value::Null), "missing_field", name);
        }
    }
    let error = decode_value(Feed::Viewing, &without(Feed::Viewing, "content_id")).unwrap_err();
    assert_eq!(error.to_string(), "field `content_id` is missing");
}

#[test]
fn empty_object_reports_the_first_field_missing() {
    for feed in Feed::ALL {
        let error = decode(feed, b"{}").unwrap_err();
        assert_eq!(error.kind(), "missing_field");
        assert_eq!(error.field(), Some(field_names(feed)[0]), "{feed}");
    }
}

#[test]
fn plan_id_is_required_for_signup_and_plan_change() {
    for kind in ["signup", "plan_change"] {
        let mut record = without(Feed::Subscriptions, "plan_id");
        record["type"] = json!(kind);
        refused(Feed::Subscriptions, &record, "missing_field", "plan_id");
        record["plan_id"] = json!("");
        refused(Feed::Subscriptions, &record, "bad_id", "plan_id");
    }
}

#[test]
fn ids_of_the_wrong_type_are_refused() {
    for feed in Feed::ALL {
        for name in fields_where(feed, is_id) {
            for value in [json!(12), json!(true), json!(["a"]), json!({"id": "a"})] {
                refused(feed, &with(feed, name, value), "wrong_type", name);
            }
        }
    }
}

#[test]
fn empty_and_overlong_ids_are_refused() {
    for feed in Feed::ALL {
        for name in fields_where(feed, is_id) {
            refused(feed, &with(feed, name, json!("")), "bad_id", name);
            refused(
                feed,
                &with(feed, name, json!("x".repeat(129))),
                "bad_id",
                name,
            );
            assert!(
                decode_value(feed, &with(feed, name, json!("x".repeat(128)))).is_ok(),
                "{feed} {name}"
            );
        }
    }
}

#[test]
fn timestamps_of_the_wrong_type_or_unparseable_are_refused() {
    for feed in Feed::ALL {
        for name in fields_where(feed, is_timestamp) {
            refused(
                feed,
                &with(feed, name, json!(1_793_628_191)),
                "wrong_type",
                name,
            );
            for bad in [
                "2026-11-02",
                "2026-11-02T14:03:11",
                "2026-11-02 14:03:11Z",
                "2026-02-30T00:00:00Z",
                "yesterday",
            ] {
                let error = refused(feed, &with(feed, name, json!(bad)), "bad_timestamp", name);
                assert!(error.to_string().contains(bad), "{error}");
            }
        }
    }
}

#[test]
fn dates_and_months_of_the_wrong_type_or_unparseable_are_refused() {
    for feed in [Feed::PaymentSettlements, Feed::FxRates] {
        refused(
            feed,
            &with(feed, "date", json!(20261102)),
            "wrong_type",
            "date",
        );
        for bad in [
            "2026-11-31",
            "2026-11",
            "02/11/2026",
            "2026-11-02T00:00:00Z",
        ] {
            refused(feed, &with(feed, "date", json!(bad)), "bad_date", "date");
        }
    }
    for feed in Feed::ALL {
        for name in fields_where(feed, is_month) {
            refused(feed, &with(feed, name, json!(202611)), "wrong_type", name);
            for bad in ["2026-13", "2026-11-01", "Nov 2026", "2026-1"] {
                refused(feed, &with(feed, name, json!(bad)), "bad_month", name);
            }
        }
    }
}

#[test]
fn currencies_must_be_three_upper_case_letters() {
    for feed in Feed::ALL {
        for name in fields_where(feed, |name| name == "currency") {
            refused(feed, &with(feed, name, json!(840)), "wrong_type", name);
            for bad in ["usd", "US", "USDD", "U$D", ""] {
                refused(feed, &with(feed, name, json!(bad)), "bad_currency", name);
            }
        }
    }
}

#[test]
fn numbers_given_as_strings_or_other_types_are_refused() {
    for feed in Feed::ALL {
        for name in fields_where(feed, is_number) {
            for value in [json!("12"), json!(true), json!([1]), json!({"value": 1})] {
                let error = refused(feed, &with(feed, name, value), "wrong_type", name);
                assert!(error.to_string().contains("expected"), "{error}");
            }
        }
    }
    let error = decode_value(
        Feed::Billing,
        &with(Feed::Billing, "plan_amount", json!("9.99")),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "field `plan_amount`: expected a number, found a string (\"9.99\")"
    );
}

#[test]
fn numbers_too_large_to_hold_are_out_of_range() {
    for feed in Feed::ALL {
        for name in fields_where(feed, is_number) {
            let raw = good(feed).to_string();
            let record: Value = serde_json::from_str(&raw).unwrap();
            let old = record[name].to_string();
            let huge = if name == "tier" {
                "99999999999999999999"
            } else {
                "1e400"
            };
            let raw = raw.replace(&format!("\"{name}\":{old}"), &format!("\"{name}\":{huge}"));
            let error = decode(feed, raw.as_bytes()).expect_err(&raw);
            assert_eq!(error.kind(), "out_of_range", "{feed} {name}: {error}");
        }
    }
}

#[test]
fn viewing_seconds_out_of_range_are_refused() {
    let v = Feed::Viewing;
    let error = refused(
        v,
        &with(v, "watch_seconds", json!(4000)),
        "out_of_range",
        "watch_seconds",
    );
    assert_eq!(
        error.to_string(),
        "field `watch_seconds`: 4000 is out of range 0..=3600"
    );
    refused(
        v,
        &with(v, "watch_seconds", json!(-1)),
        "out_of_range",
        "watch_seconds",
    );
    refused(
        v,
        &with(v, "watch_seconds", json!(3600.000001)),
        "out_of_range",
        "watch_seconds",
    );
    refused(
        v,
        &with(v, "position_seconds", json!(-0.5)),
        "out_of_range",
        "position_seconds",
    );
    refused(
        v,
        &with(v, "duration_seconds", json!(0)),
        "out_of_range",
        "duration_seconds",
    );
    refused(
        v,
        &with(v, "duration_seconds", json!(-10)),
        "out_of_range",
        "duration_seconds",
    );
    assert!(decode_value(v, &with(v, "position_seconds", json!(0))).is_ok());
    assert!(decode_value(v, &with(v, "duration_seconds", json!(0.000001))).is_ok());
}

#[test]
fn negative_money_is_refused_except_where_allowed() {
    let money = [
        (Feed::Billing, "plan_amount"),
        (Feed::Billing, "refund_amount"),
        (Feed::AdRevenue, "amount"),
        (Feed::ContentCosts, "amount"),
        (Feed::OperationalCosts, "amount"),
        (Feed::PlanCatalog, "monthly_price"),
    ];
    for (feed, name) in money {
        let error = refused(feed, &with(feed, name, json!(-0.01)), "out_of_range", name);
        assert!(error.to_string().ends_with(">= 0"), "{error}");
        assert!(decode_value(feed, &with(feed, name, json!(0))).is_ok());
    }
    assert!(
        decode_value(
            Feed::PaymentSettlements,
            &with(Feed::PaymentSettlements, "amount", json!(-5))
        )
        .is_ok()
    );
    assert!(
        decode_value(
            Feed::FinanceGl,
            &with(Feed::FinanceGl, "amount_usd", json!(-5))
        )
        .is_ok()
    );
}

#[test]
fn fx_rates_must_be_positive() {
    let fx = Feed::FxRates;
    refused(
        fx,
        &with(fx, "usd_per_unit", json!(0)),
        "out_of_range",
        "usd_per_unit",
    );
    refused(
        fx,
        &with(fx, "usd_per_unit", json!(-1.2)),
        "out_of_range",
        "usd_per_unit",
    );
    refused(
        fx,
        &with(fx, "usd_per_unit", json!("1.2")),
        "wrong_type",
        "usd_per_unit",
    );
    let Record::FxRate(r) = decode(
        fx,
        br#"{"date":"2026-11-02","currency":"JPY","usd_per_unit":0.0066}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(r.usd_per_unit, Rate(6_600_000_000_000_000));
}

#[test]
fn tier_must_be_an_integer() {
    let plans = Feed::PlanCatalog;
    refused(
        plans,
        &with(plans, "tier", json!(1.5)),
        "wrong_type",
        "tier",
    );
    refused(
        plans,
        &with(plans, "tier", json!("1")),
        "wrong_type",
        "tier",
    );
    let raw = good(plans)
        .to_string()
        .replace("\"tier\":1", "\"tier\":2.0");
    assert_eq!(
        decode(plans, raw.as_bytes()).unwrap_err().kind(),
        "wrong_type"
    );
    let Record::PlanCatalog(p) = decode_value(plans, &with(plans, "tier", json!(3))).unwrap()
    else {
        panic!()
    };
    assert_eq!(p.tier, 3);
}

#[test]
fn unknown_subscription_types_are_refused() {
    let subs = Feed::Subscriptions;
    for bad in ["Signup", "upgrade", ""] {
        let error = refused(
            subs,
            &with(subs, "type", json!(bad)),
            "unknown_type",
            "type",
        );
        assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
    }
    refused(subs, &with(subs, "type", json!(1)), "wrong_type", "type");
    refused(subs, &without(subs, "type"), "missing_field", "type");
}

#[test]
fn unknown_flags_are_refused() {
    let flags = Feed::AccountFlags;
    for bad in ["Bot", "abuse", ""] {
        refused(
            flags,
            &with(flags, "flag", json!(bad)),
            "unknown_flag",
            "flag",
        );
    }
    refused(
        flags,
        &with(flags, "flag", json!(["bot"])),
        "wrong_type",
        "flag",
    );
}

#[test]
fn unknown_gl_accounts_are_refused() {
    let gl = Feed::FinanceGl;
    for bad in ["Revenue", "cost", ""] {
        refused(
            gl,
            &with(gl, "account", json!(bad)),
            "unknown_account",
            "account",
        );
    }
    refused(gl, &with(gl, "account", json!(1)), "wrong_type", "account");
}

#[test]
fn plain_strings_must_be_strings() {
    refused(
        Feed::Subscriptions,
        &with(Feed::Subscriptions, "country", json!(1)),
        "wrong_type",
        "country",
    );
    refused(
        Feed::OperationalCosts,
        &with(Feed::OperationalCosts, "category", json!(1)),
        "wrong_type",
        "category",
    );
    refused(
        Feed::Devices,
        &with(Feed::Devices, "device_type", json!({})),
        "wrong_type",
        "device_type",
    );
}

#[test]
fn addons_must_be_an_array_of_addon_objects() {
    let b = Feed::Billing;
    for value in [json!({"addon_id": "a", "amount": 1}), json!("a"), json!(1)] {
        refused(b, &with(b, "addons", value), "wrong_type", "addons");
    }
    refused(
        b,
        &with(b, "addons", json!(["sports"])),
        "wrong_type",
        "addons[0]",
    );
    refused(
        b,
        &with(b, "addons", json!([{"addon_id": "a", "amount": 1}, 5])),
        "wrong_type",
        "addons[1]",
    );
    refused(
        b,
        &with(b, "addons", json!([{"amount": 1}])),
        "missing_field",
        "addons[0].addon_id",
    );
    refused(
        b,
        &with(b, "addons", json!([{"addon_id": "a"}])),
        "missing_field",
        "addons[0].amount",
    );
    refused(
        b,
        &with(b, "addons", json!([{"addon_id": "", "amount": 1}])),
        "bad_id",
        "addons[0].addon_id",
    );
    refused(
        b,
        &with(b, "addons", json!([{"addon_id": 1, "amount": 1}])),
        "wrong_type",
        "addons[0].addon_id",
    );
    refused(
        b,
        &with(b, "addons", json!([{"addon_id": "a", "amount": "1"}])),
        "wrong_type",
        "addons[0].amount",
    );
    let error = refused(
        b,
        &with(b, "addons", json!([{"addon_id": "a", "amount": -1}])),
        "out_of_range",
        "addons[0].amount",
    );
    assert_eq!(
        error.to_string(),
        "field `addons[0].amount`: -1 is out of range >= 0"
    );
    let raw = good(b).to_string().replace(
        r#""addon_id":"sports""#,
        r#""addon_id":"sports","addon_id":"x""#,
    );
    let error = decode(b, raw.as_bytes()).unwrap_err();
    assert_eq!(
        (error.kind(), error.field()),
        ("duplicate_field", Some("addons[0].addon_id"))
    );
}

#[test]
fn duplicate_keys_are_refused_on_every_feed() {
    for feed in Feed::ALL {
        let raw = good(feed).to_string();
        let body = &raw[..raw.len() - 1];
        for name in fields_where(feed, |_| true) {
            let value = good(feed)[name].to_string();
            // Even an identical repeat is ambiguous to other readers.
            let doubled = format!("{body},\"{name}\":{value}}}");
            let error = decode(feed, doubled.as_bytes()).expect_err(&doubled);
            assert_eq!(
                (error.kind(), error.field()),
                ("duplicate_field", Some(name)),
                "{feed}: {error}"
            );
        }
        let unknown = format!("{body},\"extra\":1,\"extra\":2}}");
        let error = decode(feed, unknown.as_bytes()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "field `extra` appears more than once in one object"
        );
        let version = format!("{body},\"schema_version\":1,\"schema_version\":1}}");
        assert_eq!(
            decode(feed, version.as_bytes()).unwrap_err().kind(),
            "duplicate_field"
        );
    }
}

#[test]
fn schema_versions_above_1_are_refused_first() {
    for feed in Feed::ALL {
        for version in ["2", "17", "99999999999999999999"] {
            // Even a record that breaks other rules: a newer schema may have
            // changed them.
            let raw = format!("{{\"schema_version\": {version}}}");
            let error = decode(feed, raw.as_bytes()).unwrap_err();
            assert_eq!(
                error.kind(),
                "unsupported_schema_version",
                "{feed}: {error}"
            );
            assert_eq!(error.field(), Some("schema_version"));
        }
        let error = decode_value(feed, &with(feed, "schema_version", json!(2))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "field `schema_version`: version 2 is not supported (this engine reads version 1)"
        );
        refused(
            feed,
            &with(feed, "schema_version", json!(0)),
            "out_of_range",
            "schema_version",
        );
        refused(
            feed,
            &with(feed, "schema_version", json!(-3)),
            "out_of_range",
            "schema_version",
        );
        refused(
            feed,
            &with(feed, "schema_version", json!("1")),
            "wrong_type",
            "schema_version",
        );
        refused(
            feed,
            &with(feed, "schema_version", json!(1.5)),
            "wrong_type",
            "schema_version",
        );
    }
}

#[test]
fn the_first_broken_rule_in_contract_order_is_reported() {
    let mut record = good(Feed::Viewing);
    record["event_time"] = json!("later");
    record["watch_seconds"] = json!(-1);
    refused(Feed::Viewing, &record, "bad_timestamp", "event_time");
}
