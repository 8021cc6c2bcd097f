//! Bad input never stops a replay: every unusable line is a dead letter
//! with its feed, its `file:line` position and a reason naming the rule it
//! breaks, and the good lines around it count as usual.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use streamflix_connectors::decode;
use streamflix_connectors::files::DEFAULT_MAX_LINE_BYTES;
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::replay::{ReplayError, ReplayOptions, ReplaySummary, replay};
use streamflix_model::{Calendar, Feed};

use crate::support::tables::{TABLE_FILES, assert_file_eq, expected};

/// One line of a feed file as the test writes it.
enum Line {
    Good(String),
    /// A line that must become a dead letter whose reason contains `needle`.
    Bad(Vec<u8>, &'static str),
    /// Whitespace only: skipped, not counted, but it takes a line number.
    Blank(&'static str),
}

use Line::{Bad, Blank, Good};

fn bad(text: &str, needle: &'static str) -> Line {
    Bad(text.as_bytes().to_vec(), needle)
}

#[allow(clippy::too_many_arguments)]
fn viewing(
    id: &str,
    time: &str,
    subscriber: &str,
    content: &str,
    watch: u32,
    position: u32,
    duration: u32,
    received: Option<&str>,
) -> String {
    let received = received
        .map(|at| format!(r#","received_at":"{at}""#))
        .unwrap_or_default();
    format!(
        r#"{{"event_id":"{id}","event_time":"{time}","subscriber_id":"{subscriber}","device_id":"tv-1","content_id":"{content}","watch_seconds":{watch},"position_seconds":{position},"duration_seconds":{duration}{received}}}"#
    )
}

/// A valid viewing line whose field `field` is replaced by the raw JSON
/// `value` (or left out when `value` is `None`).
fn viewing_with(field: &str, value: Option<&str>) -> String {
    let line = viewing(
        "bad-1",
        "2026-11-02T16:00:00Z",
        "s9",
        "c1",
        60,
        60,
        600,
        None,
    );
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&line).unwrap();
    let mut text = String::from("{");
    for (key, original) in object.iter() {
        let rendered = if key == field {
            match value {
                Some(value) => value.to_string(),
                None => continue,
            }
        } else {
            original.to_string()
        };
        if text.len() > 1 {
            text.push(',');
        }
        text.push_str(&format!("{key:?}:{rendered}"));
    }
    if let (false, Some(value)) = (object.contains_key(field), value) {
        text.push_str(&format!(",{field:?}:{value}"));
    }
    text.push('}');
    text
}

/// Every kind of bad record the feed contract names, and a few more,
/// among good records, in several feeds.
fn bad_feeds() -> Vec<(Feed, Vec<Line>)> {
    let mut huge = br#"{"event_id":"huge","pad":""#.to_vec();
    huge.resize(DEFAULT_MAX_LINE_BYTES + 1024, b'x');
    huge.extend_from_slice(br#""}"#);
    let mut invalid_utf8 = viewing_with("content_id", Some("\"c\u{e9}\"")).into_bytes();
    let at = invalid_utf8.iter().position(|&b| b == 0xc3).unwrap();
    invalid_utf8[at] = 0xff;
    let viewing_lines = vec![
        Good(viewing(
            "v1",
            "2026-11-02T14:00:00Z",
            "s1",
            "c1",
            600,
            600,
            1200,
            Some("2026-11-02T14:00:05Z"),
        )),
        bad("this is not json", "not JSON"),
        Good(viewing(
            "v2",
            "2026-11-02T14:10:00Z",
            "s1",
            "c1",
            600,
            1200,
            1200,
            Some("2026-11-02T14:10:15Z"),
        )),
        bad("[1,2,3]", "not a JSON object"),
        bad("\"just a string\"", "not a JSON object"),
        Blank(""),
        bad(&viewing_with("content_id", None), "`content_id` is missing"),
        bad(
            &viewing_with("subscriber_id", Some("null")),
            "`subscriber_id` is missing",
        ),
        bad(
            &viewing_with("watch_seconds", Some("\"600\"")),
            "`watch_seconds`",
        ),
        bad(
            &viewing_with("watch_seconds", Some("3600.5")),
            "`watch_seconds`",
        ),
        bad(
            &viewing_with("watch_seconds", Some("-1")),
            "`watch_seconds`",
        ),
        bad(
            &viewing_with("duration_seconds", Some("0")),
            "`duration_seconds`",
        ),
        bad(
            &viewing_with("position_seconds", Some("true")),
            "`position_seconds`",
        ),
        Blank("   \t"),
        bad(
            &viewing_with("event_time", Some("\"2026-11-02 25:61\"")),
            "`event_time`",
        ),
        bad(
            &viewing_with("event_time", Some("\"2026-11-02T14:00:00\"")),
            "`event_time`",
        ),
        bad(
            &viewing_with("event_time", Some("1793023200")),
            "`event_time`",
        ),
        bad(
            &viewing_with("received_at", Some("\"yesterday\"")),
            "`received_at`",
        ),
        bad(
            &viewing_with("schema_version", Some("2")),
            "`schema_version`",
        ),
        bad(&viewing_with("event_id", Some("\"\"")), "`event_id`"),
        bad(
            &viewing("v7", "2026-11-02T14:00:00Z", "s1", "c1", 1, 1, 10, None)
                .replace("}", ",\"watch_seconds\":2}"),
            "`watch_seconds` appears more than once",
        ),
        Bad(invalid_utf8, "UTF-8"),
        bad(r#"{"event_id":"v9","event_time":"2026-11-02T1"#, "not JSON"),
        Good(viewing(
            "v3",
            "2026-11-03T02:00:00Z",
            "s2",
            "c2",
            300,
            300,
            3000,
            None,
        )),
        Good(viewing(
            "v4",
            "2026-11-02T15:00:00Z",
            "s3",
            "c1",
            100,
            100,
            1200,
            None,
        )),
        Blank("\r"),
        Bad(huge, "larger than the limit"),
        // An identical copy of v1: one event.
        Good(viewing(
            "v1",
            "2026-11-02T14:00:00Z",
            "s1",
            "c1",
            600,
            600,
            1200,
            Some("2026-11-02T14:00:05Z"),
        )),
        Good(
            viewing_with("schema_version", Some("1"))
                .replace("bad-1", "v6")
                .replace("\"s9\"", "\"s4\""),
        ),
        Good(viewing(
            "v5",
            "2026-11-04T14:00:00Z",
            "s2",
            "c3",
            0,
            0,
            100,
            None,
        )),
    ];
    let subscriptions = vec![
        Good(r#"{"event_id":"u1","event_time":"2026-11-01T10:00:00Z","subscriber_id":"s1","type":"signup","plan_id":"basic_monthly"}"#.into()),
        bad(r#"{"event_id":"u2","event_time":"2026-11-01T10:00:00Z","subscriber_id":"s2","type":"upgrade","plan_id":"basic_monthly"}"#, "`type`"),
        bad(r#"{"event_id":"u3","event_time":"2026-11-01T10:00:00Z","subscriber_id":"s2","type":"signup"}"#, "`plan_id`"),
        bad(r#"{"event_id":"u4","event_time":"2026-11-01T10:00:00Z","subscriber_id":"s2","type":7}"#, "`type`"),
    ];
    let flags = vec![
        bad(r#"{"event_id":"f1","event_time":"2026-11-02T10:00:00Z","subscriber_id":"s2","flag":"suspicious"}"#, "`flag`"),
        Good(r#"{"event_id":"f2","event_time":"2026-11-05T10:00:00Z","subscriber_id":"s3","flag":"spam"}"#.into()),
        bad(r#"{"event_id":"f3","event_time":"2026-11-02","subscriber_id":"s1","flag":"bot"}"#, "`event_time`"),
        bad(r#"{"event_id":"f4","event_time":"2026-11-02T10:00:00Z","flag":"bot"}"#, "`subscriber_id`"),
    ];
    let billing = vec![
        bad(r#"{"event_id":"b1","event_time":"2026-11-01T10:00:00Z","subscriber_id":"s1","billing_period":"2026-11","plan_id":"p","currency":"USD","plan_amount":-1}"#, "`plan_amount`"),
        bad(r#"{"event_id":"b2","event_time":"2026-11-01T10:00:00Z","subscriber_id":"s1","billing_period":"2026-11","plan_id":"p","currency":"usd","plan_amount":1}"#, "`currency`"),
        bad(r#"{"event_id":"b3","event_time":"2026-11-01T10:00:00Z","subscriber_id":"s1","billing_period":"2026-13","plan_id":"p","currency":"USD","plan_amount":1}"#, "`billing_period`"),
        bad(r#"{"event_id":"b4","event_time":"2026-11-01T10:00:00Z","subscriber_id":"s1","billing_period":"2026-11","plan_id":"p","currency":"USD","plan_amount":1,"addons":[{"addon_id":"x","amount":"1"}]}"#, "`addons[0].amount`"),
        Good(r#"{"event_id":"b5","event_time":"2026-11-01T10:00:00Z","subscriber_id":"s1","billing_period":"2026-11","plan_id":"p","currency":"USD","plan_amount":9.99}"#.into()),
    ];
    let fx = vec![
        bad(
            r#"{"date":"2026-11-02","currency":"EUR","usd_per_unit":0}"#,
            "`usd_per_unit`",
        ),
        bad(
            r#"{"date":"02/11/2026","currency":"EUR","usd_per_unit":1.1}"#,
            "`date`",
        ),
        Good(r#"{"date":"2026-11-02","currency":"EUR","usd_per_unit":1.1}"#.into()),
    ];
    let gl = vec![bad(
        r#"{"period":"2026-11","account":"assets","amount_usd":5,"updated_at":"2026-12-02T00:00:00Z"}"#,
        "`account`",
    )];
    let settlements = vec![
        bad(
            r#"{"event_id":"p1","date":"2026-11-02","currency":"USD","amount":"12.5"}"#,
            "`amount`",
        ),
        Good(r#"{"event_id":"p2","date":"2026-11-02","currency":"USD","amount":-12.5}"#.into()),
    ];
    vec![
        (Feed::Viewing, viewing_lines),
        (Feed::Subscriptions, subscriptions),
        (Feed::Billing, billing),
        (Feed::AccountFlags, flags),
        (Feed::PaymentSettlements, settlements),
        (Feed::FxRates, fx),
        (Feed::FinanceGl, gl),
    ]
}

fn write_feeds(dir: &Path, feeds: &[(Feed, Vec<Line>)]) {
    for (feed, lines) in feeds {
        let mut bytes = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            match line {
                Good(text) => bytes.extend_from_slice(text.as_bytes()),
                Bad(raw, _) => bytes.extend_from_slice(raw),
                Blank(text) => bytes.extend_from_slice(text.as_bytes()),
            }
            // Mixed line ends, and no line break after the last line.
            if i + 1 < lines.len() {
                bytes.extend_from_slice(if i % 3 == 1 { b"\r\n" } else { b"\n" });
            }
        }
        std::fs::write(dir.join(format!("{}.jsonl", feed.name())), bytes).unwrap();
    }
}

fn run(input: &Path, out: &Path, workers: usize) -> ReplaySummary {
    let mut options = ReplayOptions::new(input, out);
    options.cluster = ClusterArgs::single(workers);
    replay(&options).expect("replay returns Ok whatever the input holds")
}

/// A CSV file's lines after the header.
fn data_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().skip(1).map(str::to_string).collect()
}

#[test]
fn every_bad_line_is_a_dead_letter_and_good_lines_count() {
    let input = tempfile::tempdir().unwrap();
    let feeds = bad_feeds();
    write_feeds(input.path(), &feeds);
    let oracle = expected(input.path(), &Calendar::central());
    for workers in [1, 2] {
        let out = tempfile::tempdir().unwrap();
        let summary = run(input.path(), out.path(), workers);
        let context = format!("{workers} worker(s)");

        // Dead letters: feed, position, reason, raw, one per bad line.
        let text = std::fs::read_to_string(out.path().join("dead_letters.jsonl")).unwrap();
        let mut letters: BTreeMap<(String, String), serde_json::Value> = BTreeMap::new();
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let key = (
                value["feed"].as_str().unwrap().to_string(),
                value["position"].as_str().unwrap().to_string(),
            );
            assert!(
                letters.insert(key, value).is_none(),
                "{context}: two dead letters for one line"
            );
        }
        let mut expected_letters = 0;
        for (feed, lines) in &feeds {
            let mut non_blank = 0;
            for (i, line) in lines.iter().enumerate() {
                let position = format!("{}.jsonl:{}", feed.name(), i + 1);
                let key = (feed.name().to_string(), position.clone());
                match line {
                    Bad(raw, needle) => {
                        non_blank += 1;
                        expected_letters += 1;
                        let letter = letters
                            .remove(&key)
                            .unwrap_or_else(|| panic!("{context}: no dead letter for {position}"));
                        let reason = letter["reason"].as_str().unwrap();
                        assert!(
                            reason.contains(needle),
                            "{context}: {position}: reason {reason:?} does not mention {needle:?}"
                        );
                        assert!(
                            !reason.contains('\n'),
                            "{context}: {position}: reason on several lines"
                        );
                        let written = letter["raw"].as_str().unwrap();
                        if raw.len() > DEFAULT_MAX_LINE_BYTES {
                            assert_eq!(
                                written.len(),
                                DEFAULT_MAX_LINE_BYTES,
                                "{context}: {position}"
                            );
                            assert!(raw.starts_with(written.as_bytes()), "{context}: {position}");
                        } else {
                            assert_eq!(
                                written,
                                String::from_utf8_lossy(raw),
                                "{context}: {position}"
                            );
                        }
                    }
                    Good(_) => non_blank += 1,
                    Blank(_) => assert!(
                        !letters.contains_key(&key),
                        "{context}: blank line {position} is a dead letter"
                    ),
                }
            }
            assert_eq!(
                summary.read.get(feed).copied(),
                Some(non_blank),
                "{context}: lines read of {feed}"
            );
        }
        assert!(
            letters.is_empty(),
            "{context}: unexpected dead letters {letters:?}"
        );
        assert_eq!(summary.dead_letter_count(), expected_letters, "{context}");
        for feed in [Feed::Devices, Feed::PlanCatalog] {
            assert_eq!(
                summary.read.get(&feed).copied().unwrap_or(0),
                0,
                "{context}: {feed} has no file"
            );
        }

        // The good viewing lines count, as the definitions say (worked out
        // by hand): s1 and s2 active on 2026-11-02 (s2 at 20:00 CST), s3
        // flagged, v1 counted once, v6 a valid record with schema_version 1.
        let f = |x: f64| x.to_string();
        let daily = data_lines(&out.path().join("engagement_daily.csv"));
        let expected_daily = [
            // day, dau, wau, mau, sessions, hours_watched, avg_session_minutes,
            // plays, completed_plays, completion_rate, bot_days
            format!(
                "2026-11-02,3,3,3,3,{},{},3,1,{},0",
                f(1560.0 / 3600.0),
                f(1560.0 / 180.0),
                f(1.0 / 3.0)
            ),
            "2026-11-03,0,3,3,0,0,,0,0,,0".to_string(),
            "2026-11-04,0,3,3,1,0,0,1,0,0,0".to_string(),
        ];
        assert_eq!(daily, expected_daily, "{context}: engagement_daily");
        let weekly = data_lines(&out.path().join("engagement_weekly.csv"));
        // week, wau, avg_dau, mau, sessions, hours_watched, hours_per_active,
        // completion_rate, skew_median_seconds (5 s and 15 s), excluded, bot_days
        let expected_weekly = format!(
            "2026-11-02,3,{},3,4,{},{},0.25,10,1,0",
            f(3.0 / 7.0),
            f(1560.0 / 3600.0),
            f(1560.0 / 10800.0)
        );
        assert_eq!(weekly, [expected_weekly], "{context}: engagement_weekly");
        // Growth: the one good subscription line, u1, is s1's sign-up on
        // Sunday 2026-11-01 (05:00 CST) to a plan the (absent) catalog does
        // not know, and s1 has no experiment assignment. The profit checks
        // of the good money lines are compared with the oracle below.
        let checks: Vec<String> = data_lines(&out.path().join("checks.csv"))
            .into_iter()
            .filter(|line| line.contains("_engagement,") || line.contains("_growth,"))
            .collect();
        assert_eq!(
            checks,
            [
                "aggregate_engagement,event_time_skew,2026-11-02,pass,10,600",
                "aggregate_growth,plans_known,2026-10-26,fail,1,0",
                "daily_growth,experiment_coverage,2026-11-01,fail,0,0.97",
                "daily_growth,signups_match_log,2026-11-01,pass,0,0.02",
            ],
            "{context}: checks"
        );
        let growth = data_lines(&out.path().join("growth_weekly.csv"));
        assert_eq!(
            growth,
            ["2026-10-26,1,0,0,0,0,1,1,0"],
            "{context}: growth_weekly"
        );

        // And everything equals the batch oracle over the same directory.
        for name in TABLE_FILES {
            assert_file_eq(out.path(), name, &oracle.files[name], &context);
        }
    }
}

#[test]
fn a_missing_input_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("no-such-feeds");
    let out = dir.path().join("out");
    let error =
        replay(&ReplayOptions::new(&input, &out)).expect_err("a missing directory is an error");
    assert!(matches!(error, ReplayError::NoInput { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&input.display().to_string()), "{message}");
    assert!(message.contains("does not exist"), "{message}");
    assert!(
        !out.exists(),
        "nothing is written when the input is missing"
    );
}

#[test]
fn an_empty_directory_gives_empty_tables() {
    let input = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = run(input.path(), out.path(), 2);
    assert_eq!(summary.records_read(), 0);
    assert_eq!(summary.read.len(), Feed::ALL.len());
    for (name, header) in [
        (
            "engagement_daily.csv",
            "day,dau,wau,mau,sessions,hours_watched,avg_session_minutes,plays,completed_plays,completion_rate,bot_days\n",
        ),
        (
            "engagement_weekly.csv",
            "week,wau,avg_dau,mau,sessions,hours_watched,hours_per_active,completion_rate,skew_median_seconds,excluded_subscribers,bot_days\n",
        ),
        (
            "checks.csv",
            "pipeline,check,period,status,value,threshold\n",
        ),
        ("data_quality.csv", "feed,issue,count\n"),
        ("dead_letters.jsonl", ""),
    ] {
        assert_eq!(
            std::fs::read_to_string(out.path().join(name)).unwrap(),
            header,
            "{name}"
        );
    }
}

// ---- random input ----

/// A line for `feed`: random bytes, random JSON, or a valid record with
/// random fields (some of them out of range).
fn line(feed: Feed) -> impl Strategy<Value = Vec<u8>> {
    let bytes = prop::collection::vec(any::<u8>(), 0..60);
    let json = json_object(feed).prop_map(|value| value.to_string().into_bytes());
    let record = match feed {
        Feed::Viewing => viewing_record().boxed(),
        _ => flag_record().boxed(),
    };
    prop_oneof![1 => bytes, 2 => json, 3 => record]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|x| json!(x)),
        "[a-z0-9:TZ .-]{0,24}".prop_map(Value::String),
        Just(json!("2026-11-02T14:00:00Z")),
        Just(json!("bot")),
        Just(json!("s1")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

/// An object whose keys are mostly the feed's own fields.
fn json_object(feed: Feed) -> impl Strategy<Value = serde_json::Value> {
    let names: Vec<String> = decode::field_names(feed)
        .iter()
        .map(|name| name.to_string())
        .chain(["extra".to_string()])
        .collect();
    prop::collection::btree_map(prop::sample::select(names), json_value(), 0..10)
        .prop_map(|map| serde_json::Value::Object(map.into_iter().collect()))
}

fn viewing_record() -> impl Strategy<Value = Vec<u8>> {
    (
        0u32..400,
        0u32..4,
        0u32..3,
        0i64..4000,
        0u32..4000,
        0u32..4000,
        0u64..200_000,
        any::<bool>(),
    )
        .prop_map(
            |(id, subscriber, content, watch, position, duration, offset, received)| {
                let time = 1_793_000_000 + offset as i64 * 7;
                let stamp = |seconds: i64| {
                    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
                    // 2026-10-26 is day 20_752 since 1970; the range stays in 2026-10/11.
                    let day = days - 20_752;
                    let (month, date) = if day < 6 {
                        (10, 26 + day)
                    } else {
                        (11, day - 5)
                    };
                    format!(
                        "2026-{month:02}-{date:02}T{:02}:{:02}:{:02}Z",
                        rest / 3600,
                        rest % 3600 / 60,
                        rest % 60
                    )
                };
                let received = received.then(|| stamp(time + 30));
                viewing(
                    &format!("r{id}"),
                    &stamp(time),
                    &format!("s{subscriber}"),
                    &format!("c{content}"),
                    watch as u32,
                    position,
                    duration,
                    received.as_deref(),
                )
                .into_bytes()
            },
        )
}

fn flag_record() -> impl Strategy<Value = Vec<u8>> {
    (0u32..100, 0u32..6, prop::sample::select(vec!["bot", "spam", "fraud", "test", "Bot", ""])).prop_map(
        |(id, subscriber, flag)| {
            format!(r#"{{"event_id":"f{id}","event_time":"2026-11-01T12:00:00Z","subscriber_id":"s{subscriber}","flag":"{flag}"}}"#)
                .into_bytes()
        },
    )
}

/// Lines joined by random line ends, blank lines among them.
fn file(feed: Feed) -> impl Strategy<Value = Vec<u8>> {
    let end = prop::sample::select(vec![&b"\n"[..], b"\r\n", b"\n\n", b"\n \t\n"]);
    prop::collection::vec((line(feed), end), 0..40).prop_map(|lines| {
        let mut bytes = Vec::new();
        for (line, end) in lines {
            bytes.extend_from_slice(&line);
            bytes.extend_from_slice(end);
        }
        bytes
    })
}

/// What the contract says a reader must see in `bytes`: the non-blank
/// lines, and how many of them decode.
fn count_lines(feed: Feed, bytes: &[u8]) -> (u64, u64) {
    let (mut lines, mut records) = (0, 0);
    for line in bytes.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            continue;
        }
        lines += 1;
        if decode::decode(feed, line).is_ok() {
            records += 1;
        }
    }
    (lines, records)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_lines_never_stop_a_replay(viewing in file(Feed::Viewing), flags in file(Feed::AccountFlags), workers in 1usize..=2) {
        let input = tempfile::tempdir().unwrap();
        std::fs::write(input.path().join("viewing.jsonl"), &viewing).unwrap();
        std::fs::write(input.path().join("account_flags.jsonl"), &flags).unwrap();
        let out = tempfile::tempdir().unwrap();
        let summary = run(input.path(), out.path(), workers);
        let letters = std::fs::read_to_string(out.path().join("dead_letters.jsonl")).unwrap();
        let mut letters_per_feed: BTreeMap<String, u64> = BTreeMap::new();
        for line in letters.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            *letters_per_feed.entry(value["feed"].as_str().unwrap().to_string()).or_insert(0) += 1;
        }
        for (feed, bytes) in [(Feed::Viewing, &viewing), (Feed::AccountFlags, &flags)] {
            let (lines, records) = count_lines(feed, bytes);
            let dead = letters_per_feed.get(feed.name()).copied().unwrap_or(0);
            prop_assert_eq!(summary.read.get(&feed).copied().unwrap_or(0), lines, "lines read of {}", feed);
            prop_assert_eq!(lines, records + dead, "records + dead letters of {}", feed);
        }
        let expected = expected(input.path(), &Calendar::central());
        for name in TABLE_FILES {
            let written = std::fs::read(out.path().join(name)).unwrap();
            prop_assert!(written == expected.files[name], "{} differs from the oracle", name);
        }
    }
}
