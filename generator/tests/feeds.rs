//! The generated files against the feed contract, and the faults they must
//! carry.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use streamflix_generator::{FEEDS, Faults, GenerateSummary, GeneratorConfig, generate};

fn run(config: &GeneratorConfig) -> (tempfile::TempDir, GenerateSummary) {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(config, dir.path()).unwrap();
    (dir, summary)
}

fn lines(dir: &Path, feed: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(format!("{feed}.jsonl"))).unwrap();
    text.lines().map(str::to_owned).collect()
}

// ---- the contract of EVENTS.md, checked field by field ----

fn id(o: &Map<String, Value>, f: &str) -> Result<(), String> {
    match o.get(f) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => Ok(()),
        other => Err(format!("{f}: not an id: {other:?}")),
    }
}

fn ts(o: &Map<String, Value>, f: &str) -> Result<Timestamp, String> {
    match o.get(f) {
        Some(Value::String(s)) => {
            // RFC 3339 requires an offset and a `T` (or space) separator;
            // jiff parses exactly that into a timestamp.
            s.parse::<Timestamp>().map_err(|e| format!("{f}: {s}: {e}"))
        }
        other => Err(format!("{f}: not a timestamp: {other:?}")),
    }
}

fn opt_ts(o: &Map<String, Value>, f: &str) -> Result<(), String> {
    if o.contains_key(f) {
        ts(o, f).map(|_| ())
    } else {
        Ok(())
    }
}

fn number(o: &Map<String, Value>, f: &str) -> Result<f64, String> {
    o.get(f)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("{f}: not a number: {:?}", o.get(f)))
}

fn money(o: &Map<String, Value>, f: &str) -> Result<(), String> {
    let v = number(o, f)?;
    if v >= 0.0 {
        Ok(())
    } else {
        Err(format!("{f}: negative money {v}"))
    }
}

fn currency(o: &Map<String, Value>, f: &str) -> Result<(), String> {
    match o.get(f) {
        Some(Value::String(s)) if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) => {
            Ok(())
        }
        other => Err(format!("{f}: not a currency: {other:?}")),
    }
}

fn month(o: &Map<String, Value>, f: &str) -> Result<(), String> {
    let s = o
        .get(f)
        .and_then(Value::as_str)
        .ok_or(format!("{f}: missing"))?;
    let ok = s.len() == 7
        && s.as_bytes()[4] == b'-'
        && s[..4].parse::<u32>().is_ok()
        && s[5..].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m));
    if ok {
        Ok(())
    } else {
        Err(format!("{f}: not a month: {s}"))
    }
}

fn date(o: &Map<String, Value>, f: &str) -> Result<(), String> {
    let s = o
        .get(f)
        .and_then(Value::as_str)
        .ok_or(format!("{f}: missing"))?;
    s.parse::<jiff::civil::Date>()
        .map(|_| ())
        .map_err(|e| format!("{f}: {s}: {e}"))
}

fn one_of(o: &Map<String, Value>, f: &str, allowed: &[&str]) -> Result<(), String> {
    match o.get(f).and_then(Value::as_str) {
        Some(s) if allowed.contains(&s) => Ok(()),
        other => Err(format!("{f}: {other:?} is not one of {allowed:?}")),
    }
}

/// `Ok` when the line is a usable record of the feed, else the reason a
/// reader must give when dead-lettering it.
fn validate(feed: &str, line: &str) -> Result<Map<String, Value>, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(o) = v else {
        return Err("not an object".into());
    };
    if let Some(version) = o.get("schema_version")
        && version.as_u64() != Some(1)
    {
        return Err(format!("schema_version {version}"));
    }
    let event = |o: &Map<String, Value>| -> Result<(), String> {
        id(o, "event_id")?;
        ts(o, "event_time")?;
        id(o, "subscriber_id")
    };
    match feed {
        "viewing" => {
            event(&o)?;
            id(&o, "device_id")?;
            id(&o, "content_id")?;
            let w = number(&o, "watch_seconds")?;
            if !(0.0..=3600.0).contains(&w) {
                return Err(format!("watch_seconds {w} out of range"));
            }
            if number(&o, "position_seconds")? < 0.0 {
                return Err("negative position".into());
            }
            if number(&o, "duration_seconds")? <= 0.0 {
                return Err("duration not positive".into());
            }
            opt_ts(&o, "received_at")?;
        }
        "subscriptions" => {
            event(&o)?;
            one_of(&o, "type", &["signup", "plan_change", "cancel"])?;
            if o["type"] != "cancel" {
                id(&o, "plan_id")?;
            }
        }
        "billing" => {
            event(&o)?;
            month(&o, "billing_period")?;
            id(&o, "plan_id")?;
            currency(&o, "currency")?;
            money(&o, "plan_amount")?;
            if let Some(addons) = o.get("addons") {
                let addons = addons.as_array().ok_or("addons: not an array")?;
                for a in addons {
                    let a = a.as_object().ok_or("addon: not an object")?;
                    id(a, "addon_id")?;
                    money(a, "amount")?;
                }
            }
            if o.contains_key("refund_amount") {
                money(&o, "refund_amount")?;
            }
        }
        "ad_revenue" => {
            event(&o)?;
            money(&o, "amount")?;
            currency(&o, "currency")?;
        }
        "content_costs" => {
            id(&o, "event_id")?;
            id(&o, "partner_id")?;
            month(&o, "period")?;
            money(&o, "amount")?;
            currency(&o, "currency")?;
        }
        "operational_costs" => {
            id(&o, "event_id")?;
            month(&o, "period")?;
            o.get("category")
                .and_then(Value::as_str)
                .ok_or("category missing")?;
            money(&o, "amount")?;
            currency(&o, "currency")?;
        }
        "experiment_assignments" => {
            event(&o)?;
            id(&o, "experiment_id")?;
            id(&o, "variant")?;
        }
        "account_flags" => {
            event(&o)?;
            one_of(&o, "flag", &["bot", "spam", "fraud", "test"])?;
        }
        "payment_settlements" => {
            id(&o, "event_id")?;
            date(&o, "date")?;
            currency(&o, "currency")?;
            number(&o, "amount")?;
        }
        "plan_catalog" => {
            id(&o, "plan_id")?;
            currency(&o, "currency")?;
            o.get("tier")
                .and_then(Value::as_i64)
                .ok_or("tier: not an integer")?;
            money(&o, "monthly_price")?;
            ts(&o, "updated_at")?;
        }
        "content_catalog" => {
            id(&o, "content_id")?;
            if o.get("partner_id") != Some(&Value::Null) {
                id(&o, "partner_id")?;
            }
            ts(&o, "updated_at")?;
        }
        "devices" => {
            id(&o, "device_id")?;
            o.get("device_type")
                .and_then(Value::as_str)
                .ok_or("device_type missing")?;
            ts(&o, "updated_at")?;
        }
        "fx_rates" => {
            date(&o, "date")?;
            currency(&o, "currency")?;
            if number(&o, "usd_per_unit")? <= 0.0 {
                return Err("usd_per_unit not positive".into());
            }
        }
        "finance_gl" => {
            month(&o, "period")?;
            one_of(
                &o,
                "account",
                &["revenue", "content_cost", "operational_cost"],
            )?;
            number(&o, "amount_usd")?;
            ts(&o, "updated_at")?;
        }
        _ => return Err(format!("unknown feed {feed}")),
    }
    Ok(o)
}

/// The valid records of a feed, first occurrence of each `event_id` only.
fn records(dir: &Path, feed: &str) -> Vec<Map<String, Value>> {
    let mut seen = BTreeSet::new();
    lines(dir, feed)
        .iter()
        .filter_map(|l| validate(feed, l).ok())
        .filter(|o| match o.get("event_id").and_then(Value::as_str) {
            Some(id) => seen.insert(id.to_owned()),
            None => true,
        })
        .collect()
}

fn text<'a>(o: &'a Map<String, Value>, f: &str) -> &'a str {
    o[f].as_str().unwrap()
}

fn time(o: &Map<String, Value>, f: &str) -> Timestamp {
    text(o, f).parse().unwrap()
}

fn config(subscribers: u64, days: u32, seed: u64) -> GeneratorConfig {
    GeneratorConfig::new(subscribers, days, seed)
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, _) = run(&config(150, 5, 7));
    let (b, _) = run(&config(150, 5, 7));
    let (c, _) = run(&config(150, 5, 8));
    let mut differing = 0;
    for feed in FEEDS {
        let read =
            |d: &tempfile::TempDir| std::fs::read(d.path().join(format!("{feed}.jsonl"))).unwrap();
        assert_eq!(
            read(&a),
            read(&b),
            "{feed} differs between two runs of one seed"
        );
        if read(&a) != read(&c) {
            differing += 1;
        }
    }
    // The plan catalog is the same for every seed; the rest is not.
    assert!(differing >= 12, "only {differing} feeds depend on the seed");
}

#[test]
fn every_line_is_valid_unless_counted_malformed() {
    let (dir, summary) = run(&config(300, 10, 1));
    let mut feeds_with_bad = 0;
    for feed in FEEDS {
        let all = lines(dir.path(), feed);
        assert_eq!(all.len() as u64, summary.lines(feed), "{feed}: line count");
        let invalid: Vec<String> = all
            .iter()
            .filter_map(|l| validate(feed, l).err().map(|e| format!("{e} in {l}")))
            .collect();
        assert_eq!(
            invalid.len() as u64,
            summary.malformed(feed),
            "{feed}: {invalid:#?}"
        );
        assert!(all.len() > invalid.len(), "{feed} has no valid record");
        // A broken record never reuses the event_id of a good one.
        let good: BTreeSet<String> = all
            .iter()
            .filter_map(|l| validate(feed, l).ok())
            .filter_map(|o| o.get("event_id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        for l in all.iter().filter(|l| validate(feed, l).is_err()) {
            if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(l)
                && let Some(id) = o.get("event_id").and_then(Value::as_str)
            {
                assert!(!good.contains(id), "{feed}: malformed line reuses {id}");
            }
        }
        if !invalid.is_empty() {
            feeds_with_bad += 1;
        }
    }
    assert!(
        feeds_with_bad >= 10,
        "malformed lines in only {feeds_with_bad} feeds"
    );
    assert_eq!(
        summary.injected("malformed_records"),
        summary
            .malformed_per_feed
            .iter()
            .map(|(_, n)| n)
            .sum::<u64>()
    );
    // Every kind of breakage the contract names shows up in viewing.
    let reasons: BTreeSet<String> = lines(dir.path(), "viewing")
        .iter()
        .filter_map(|l| validate("viewing", l).err())
        .map(|e| e.split([':', ' ']).next().unwrap().to_owned())
        .collect();
    assert!(reasons.len() >= 8, "{reasons:?}");
}

/// One subscriber's valid, de-duplicated heartbeats in event-time order.
fn viewing_by_subscriber(dir: &Path) -> BTreeMap<String, Vec<(Timestamp, u64)>> {
    let mut by: BTreeMap<String, Vec<(Timestamp, u64)>> = BTreeMap::new();
    for o in records(dir, "viewing") {
        by.entry(text(&o, "subscriber_id").to_owned())
            .or_default()
            .push((time(&o, "event_time"), o["watch_seconds"].as_u64().unwrap()));
    }
    for events in by.values_mut() {
        events.sort();
    }
    by
}

#[test]
fn faults_are_injected() {
    let (dir, summary) = run(&config(400, 14, 3));
    let dir = dir.path();
    let ct = TimeZone::get("America/Chicago").unwrap();
    let ct_day = |t: Timestamp| t.to_zoned_datetime(ct.clone()).date();

    // Exact duplicates, repeated later in the file, in every event feed.
    for feed in [
        "viewing",
        "subscriptions",
        "billing",
        "ad_revenue",
        "experiment_assignments",
        "account_flags",
    ] {
        let mut first: HashMap<String, (usize, String)> = HashMap::new();
        let mut repeats = 0;
        for (i, l) in lines(dir, feed).iter().enumerate() {
            let Ok(o) = validate(feed, l) else { continue };
            let id = text(&o, "event_id").to_owned();
            if let Some((j, earlier)) = first.get(&id) {
                assert_eq!(earlier, l, "{feed}: duplicate {id} with another payload");
                assert!(*j < i);
                repeats += 1;
            } else {
                first.insert(id, (i, l.clone()));
            }
        }
        assert!(repeats > 0, "no duplicates in {feed}");
    }
    assert!(summary.injected("duplicate_events") > 0);

    // Billing primary-key violations: another event_id, same key, later.
    let mut by_key: BTreeMap<(String, String), Vec<Timestamp>> = BTreeMap::new();
    for o in records(dir, "billing") {
        by_key
            .entry((
                text(&o, "subscriber_id").into(),
                text(&o, "billing_period").into(),
            ))
            .or_default()
            .push(time(&o, "event_time"));
    }
    let violations = by_key.values().filter(|v| v.len() > 1).count() as u64;
    assert!(violations > 0);
    assert_eq!(violations, summary.injected("pk_violations"));

    // An FX gap of at least 8 consecutive days in one currency.
    let mut dates: BTreeMap<String, BTreeSet<jiff::civil::Date>> = BTreeMap::new();
    for o in records(dir, "fx_rates") {
        dates
            .entry(text(&o, "currency").into())
            .or_default()
            .insert(text(&o, "date").parse().unwrap());
    }
    let longest_gap = |set: &BTreeSet<jiff::civil::Date>| {
        let v: Vec<_> = set.iter().collect();
        v.windows(2)
            .map(|w| (*w[1] - *w[0]).get_days() - 1)
            .max()
            .unwrap_or(0)
    };
    let gaps: BTreeMap<&String, i32> = dates.iter().map(|(c, s)| (c, longest_gap(s))).collect();
    assert_eq!(gaps.values().filter(|g| **g >= 8).count(), 1, "{gaps:?}");
    assert!(gaps.values().filter(|g| **g == 0).count() >= 3, "{gaps:?}");

    // Impossible days, exact half-hour gaps and sessions across midnight.
    let by = viewing_by_subscriber(dir);
    let mut impossible = 0;
    let mut half_hours = 0;
    let mut across_midnight = 0;
    for events in by.values() {
        let mut per_day: BTreeMap<jiff::civil::Date, u64> = BTreeMap::new();
        for (t, w) in events {
            *per_day.entry(ct_day(*t)).or_default() += w;
        }
        impossible += per_day.values().filter(|s| **s > 86_400).count();
        let mut session_start = events[0].0;
        for pair in events.windows(2) {
            let gap = pair[1].0.as_millisecond() - pair[0].0.as_millisecond();
            if gap == 1_800_000 {
                half_hours += 1;
            }
            if gap > 1_800_000 {
                session_start = pair[1].0;
            } else if ct_day(session_start) != ct_day(pair[1].0)
                && ct_day(pair[0].0) != ct_day(pair[1].0)
            {
                across_midnight += 1;
            }
        }
    }
    assert!(impossible > 0, "no subscriber-day above 86,400 s");
    assert_eq!(impossible as u64, summary.injected("impossible_days"));
    assert!(half_hours > 0, "no gap of exactly 1800 s");
    assert!(across_midnight > 0, "no session crosses Central midnight");

    // Late events: hours behind what the file already showed.
    let mut latest = i64::MIN;
    let mut late = 0;
    let mut seen = BTreeSet::new();
    for l in lines(dir, "viewing") {
        let Ok(o) = validate("viewing", &l) else {
            continue;
        };
        if !seen.insert(text(&o, "event_id").to_owned()) {
            continue;
        }
        let t = time(&o, "event_time").as_millisecond();
        if t < latest.saturating_sub(3_600_000) {
            late += 1;
            let received = time(&o, "received_at").as_millisecond();
            assert!(
                received - t >= 3_600_000,
                "a late event was received on time"
            );
        }
        latest = latest.max(t);
    }
    assert!(late > 0, "no late viewing events");

    // Flags of several kinds, some after the subscriber's viewing.
    let flags = records(dir, "account_flags");
    let kinds: BTreeSet<&str> = flags.iter().map(|o| text(o, "flag")).collect();
    assert!(kinds.len() >= 3, "{kinds:?}");
    let flagged_after_viewing = flags
        .iter()
        .filter(|o| {
            by.get(text(o, "subscriber_id"))
                .is_some_and(|v| v[0].0 < time(o, "event_time"))
        })
        .count();
    assert!(flagged_after_viewing > 0);

    // Growth anomalies: a plan missing from the catalog, conflicting
    // experiment assignments, cancels while not subscribed.
    let catalog: BTreeSet<String> = records(dir, "plan_catalog")
        .iter()
        .map(|o| text(o, "plan_id").into())
        .collect();
    let subs = records(dir, "subscriptions");
    assert!(subs.iter().any(|o| {
        o.get("plan_id")
            .and_then(Value::as_str)
            .is_some_and(|p| !catalog.contains(p))
    }));
    let mut variants: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for o in records(dir, "experiment_assignments") {
        variants
            .entry((
                text(&o, "subscriber_id").into(),
                text(&o, "experiment_id").into(),
            ))
            .or_default()
            .insert(text(&o, "variant").into());
    }
    assert!(variants.values().any(|v| v.len() > 1));
    let assigned: BTreeSet<&str> = variants.keys().map(|(s, _)| s.as_str()).collect();
    let subscribers: BTreeSet<&str> = subs.iter().map(|o| text(o, "subscriber_id")).collect();
    let coverage = subscribers.iter().filter(|s| assigned.contains(*s)).count() as f64
        / subscribers.len() as f64;
    assert!(
        (0.95..0.995).contains(&coverage),
        "experiment coverage {coverage}"
    );
    assert!(summary.injected("orphan_cancels") > 0);
}

#[test]
fn a_clean_streamflix_without_faults() {
    let mut cfg = config(300, 10, 5);
    cfg.faults = Faults::NONE;
    let (dir, summary) = run(&cfg);
    let dir = dir.path();
    for feed in FEEDS {
        assert_eq!(summary.malformed(feed), 0, "{feed}");
        let all = lines(dir, feed);
        let mut ids = BTreeSet::new();
        for l in &all {
            let o = validate(feed, l).unwrap_or_else(|e| panic!("{feed}: {e}: {l}"));
            if let Some(id) = o.get("event_id").and_then(Value::as_str) {
                assert!(ids.insert(id.to_owned()), "{feed}: duplicate {id}");
            }
        }
    }
    assert_eq!(summary.lines("account_flags"), 0);
    for events in viewing_by_subscriber(dir).values() {
        let total: u64 = events.iter().map(|(_, w)| w).sum();
        assert!(total < 86_400 * 11);
    }
    for (fault, n) in &summary.injected {
        assert_eq!(*n, 0, "{fault}");
    }
    // Event files are in event-time order.
    for feed in [
        "viewing",
        "subscriptions",
        "billing",
        "ad_revenue",
        "experiment_assignments",
    ] {
        let times: Vec<i64> = lines(dir, feed)
            .iter()
            .map(|l| time(&validate(feed, l).unwrap(), "event_time").as_millisecond())
            .collect();
        let bad = times.windows(2).position(|w| w[0] > w[1]);
        assert!(bad.is_none(), "{feed} out of order at line {bad:?}");
    }
}

#[test]
fn volumes_follow_subscribers_times_days() {
    let (_a, small) = run(&config(200, 7, 11));
    let (_b, wide) = run(&config(400, 7, 11));
    let (_c, long) = run(&config(200, 14, 11));
    let viewing = |s: &GenerateSummary| s.lines("viewing") as f64;
    let per_subscriber_day = viewing(&small) / (200.0 * 7.0);
    assert!(
        (6.0..16.0).contains(&per_subscriber_day),
        "{per_subscriber_day} viewing events per subscriber-day"
    );
    for (other, name) in [(&wide, "twice the subscribers"), (&long, "twice the days")] {
        let ratio = viewing(other) / viewing(&small);
        assert!((1.7..2.3).contains(&ratio), "{name}: viewing grew {ratio}x");
    }
    let ratio = wide.lines("subscriptions") as f64 / small.lines("subscriptions") as f64;
    assert!((1.7..2.3).contains(&ratio), "subscriptions grew {ratio}x");
}

#[test]
fn rejects_impossible_configurations() {
    let dir = tempfile::tempdir().unwrap();
    assert!(generate(&config(5, 7, 1), dir.path()).is_err());
    assert!(generate(&config(100, 0, 1), dir.path()).is_err());
}
