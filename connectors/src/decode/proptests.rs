//! Property tests of [`decode`](super::decode): whatever the bytes, it
//! returns a record of the right feed or a well-formed [`DecodeError`], and
//! never panics.

use proptest::prelude::*;
use streamflix_model::records::Record;
use streamflix_model::{Feed, Micros};

use super::{DecodeError, decode, field_names};

fn any_feed() -> impl Strategy<Value = Feed> {
    (0..Feed::ALL.len()).prop_map(|i| Feed::ALL[i])
}

/// Checks the one promise every input gets.
fn check_outcome(feed: Feed, outcome: Result<Record, DecodeError>) -> Result<(), TestCaseError> {
    match outcome {
        Ok(record) => prop_assert_eq!(record.feed(), feed),
        Err(error) => {
            prop_assert!(
                DecodeError::KINDS.contains(&error.kind()),
                "kind {}",
                error.kind()
            );
            prop_assert_ne!(error.kind(), "too_large");
            let message = error.to_string();
            prop_assert!(
                !message.is_empty() && !message.contains('\n'),
                "message {:?}",
                message
            );
        }
    }
    Ok(())
}

/// JSON string literals, some of them valid timestamps, dates, months,
/// currencies and enum values, some with escapes.
fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"2026-11-02T14:03:11Z\"".to_owned()),
        Just("\"2026-11-02T08:03:11.5-06:00\"".to_owned()),
        Just("\"2026-11-02\"".to_owned()),
        Just("\"2026-11\"".to_owned()),
        Just("\"USD\"".to_owned()),
        prop::sample::select(vec![
            "signup",
            "plan_change",
            "cancel",
            "bot",
            "fraud",
            "revenue",
            "content_cost"
        ])
        .prop_map(|s| format!("\"{s}\"")),
        ".{0,140}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("\"\\u00e9\\n\\\"x\"".to_owned()),
        Just("\"\"".to_owned()),
    ]
}

/// JSON number literals, including ones that do not fit and ones with more
/// than six decimals.
fn json_number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..5000, 0u32..1_000_000).prop_map(|(whole, frac)| format!("{whole}.{frac:06}")),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        (-30i32..30, 1u32..99).prop_map(|(e, m)| format!("{m}e{e}")),
        prop::sample::select(vec![
            "0",
            "-0",
            "3600",
            "1e400",
            "-1e400",
            "0.0000005",
            "99999999999999999999",
            "1E+2"
        ])
        .prop_map(str::to_owned),
    ]
}

fn json_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => json_string(),
        4 => json_number(),
        1 => Just("true".to_owned()),
        1 => Just("null".to_owned()),
    ]
}

fn json_value() -> impl Strategy<Value = String> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec(("[a-z_]{1,10}", inner), 0..4).prop_map(|entries| {
                let body: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
            // Addon-shaped arrays, so billing gets past its first checks.
            prop::collection::vec((json_leaf(), json_number()), 0..3).prop_map(|items| {
                let objects: Vec<String> = items
                    .iter()
                    .map(|(id, amount)| format!("{{\"addon_id\":{id},\"amount\":{amount}}}"))
                    .collect();
                format!("[{}]", objects.join(","))
            }),
        ]
    })
}

/// An object whose keys are mostly the feed's field names (sometimes
/// repeated), with random values.
fn feed_object() -> impl Strategy<Value = (Feed, String)> {
    any_feed().prop_flat_map(|feed| {
        let names: Vec<&'static str> = field_names(feed)
            .iter()
            .copied()
            .chain(["extra", "type"])
            .collect();
        let entry = (prop::sample::select(names), json_value());
        prop::collection::vec(entry, 0..14).prop_map(move |entries| {
            let body: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            (feed, format!("{{{}}}", body.join(",")))
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(feed in any_feed(), raw in prop::collection::vec(any::<u8>(), 0..300)) {
        check_outcome(feed, decode(feed, &raw))?;
    }

    #[test]
    fn random_json_text_never_panics(feed in any_feed(), raw in json_value()) {
        check_outcome(feed, decode(feed, raw.as_bytes()))?;
    }

    #[test]
    fn random_objects_of_feed_fields_never_panic((feed, raw) in feed_object()) {
        check_outcome(feed, decode(feed, raw.as_bytes()))?;
    }

    #[test]
    fn truncated_objects_are_not_json((feed, raw) in feed_object(), cut in 0usize..1000) {
        let cut = cut % raw.len().max(1);
        let outcome = decode(feed, &raw.as_bytes()[..cut]);
        prop_assert_eq!(outcome.map_err(|e| e.kind()), Err("not_json"));
    }

    /// Valid viewing heartbeats decode to exactly the numbers written.
    #[test]
    fn valid_viewing_numbers_are_exact(
        watch in 0i64..=3_600_000_000,
        position in 0i64..i64::MAX / 2,
        duration in 1i64..i64::MAX / 2,
        id in "[A-Za-z0-9_-]{1,128}",
        junk in json_value(),
    ) {
        let text = |micros: i64| Micros(micros).to_string();
        let raw = format!(
            r#"{{"event_id":"{id}","event_time":"2026-01-01T00:00:00Z","subscriber_id":"s","device_id":"d","content_id":"c","watch_seconds":{},"position_seconds":{},"duration_seconds":{},"junk":{junk}}}"#,
            text(watch), text(position), text(duration)
        );
        let Ok(Record::Viewing(v)) = decode(Feed::Viewing, raw.as_bytes()) else {
            return Err(TestCaseError::fail(format!("refused {raw}")));
        };
        prop_assert_eq!(v.event_id.as_str(), id.as_str());
        prop_assert_eq!(v.watch_seconds, Micros(watch));
        prop_assert_eq!(v.position_seconds, Micros(position));
        prop_assert_eq!(v.duration_seconds, Micros(duration));
    }
}
