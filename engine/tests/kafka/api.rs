//! The query API of the running service (`streamflix run` over Kafka):
//! a change that enters the dataflow is visible in `GET /v1/tables/...`
//! within one second, marked provisional, and the same row carries its
//! revision once its (weekly) snapshot is published.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use streamflix_connectors::kafka::produce::produce_directory;

use crate::support::*;

const EXPERIMENT: &str = "experiment-token-for-the-api-test";

/// `GET url` with the experiment token: status and JSON body.
fn get(url: &str) -> Result<(u16, serde_json::Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(url)
        .header("Authorization", format!("Bearer {EXPERIMENT}"))
        .call()
        .with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string()?;
    let json = serde_json::from_str(&body).with_context(|| format!("GET {url}: {body}"))?;
    Ok((status, json))
}

/// The `engagement_daily` rows of `day` the API serves now.
fn rows_of_day(api: &str, day: &str) -> Result<Vec<serde_json::Value>> {
    let (status, body) = get(&format!(
        "{api}/v1/tables/engagement_daily?from={day}&to={day}"
    ))?;
    if status != 200 {
        bail!("GET engagement_daily answered {status}: {body}");
    }
    Ok(body["rows"].as_array().cloned().unwrap_or_default())
}

/// The snapshot an `engagement_daily` row of `day` is published in: the
/// aggregate engagement pipeline publishes weekly.
fn snapshot_of_day(day: &str) -> Result<String> {
    let day = streamflix_model::Day::parse(day).with_context(|| format!("day {day}"))?;
    Ok(format!("engagement_daily/{}", day.week()))
}

/// The API's base URL, from the line the service logs when it listens.
fn api_url(service: &Service) -> Option<String> {
    service.log_text().lines().find_map(|line| {
        let rest = line.split("query API and dashboards on ").nth(1)?;
        Some(rest.split_whitespace().next()?.to_string())
    })
}

/// A viewing event of `subscriber` at noon UTC on `day` (the calendar's
/// zone is behind UTC, so noon UTC is on the same local day).
fn viewing_event(id: &str, subscriber: &str, day: jiff::civil::Date) -> String {
    serde_json::json!({
        "event_id": id,
        "event_time": format!("{day}T12:00:00Z"),
        "subscriber_id": subscriber,
        "device_id": "dev-api-visibility-test",
        "content_id": "ct-000001",
        "watch_seconds": 600,
        "position_seconds": 600,
        "duration_seconds": 5400,
        "received_at": format!("{day}T12:00:05Z"),
    })
    .to_string()
}

/// Produces `lines` to the viewing topic.
fn produce_viewing(
    kafka: &streamflix_connectors::kafka::KafkaSettings,
    lines: &[String],
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("viewing.jsonl"), lines.join("\n") + "\n")?;
    let produced = produce_directory(kafka, dir.path(), |_| {})?;
    assert_eq!(produced.values().sum::<u64>(), lines.len() as u64);
    Ok(())
}

#[test]
fn a_new_event_is_served_provisional_within_a_second_and_published_later_with_its_revision()
-> Result<()> {
    let _turn = crate::support::one_at_a_time();
    let input = generated(100, 14, 23);
    let viewing = std::fs::read_to_string(input.path().join("viewing.jsonl"))?;
    let events: Vec<serde_json::Value> = viewing
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let last_day: jiff::civil::Date = events
        .iter()
        .filter_map(|event| event["event_time"].as_str()?.get(..10)?.parse().ok())
        .max()
        .context("the generated viewing feed has events")?;
    let new_day = last_day.tomorrow()?;
    // Two weeks on: the new day's week is then complete and due.
    let later_day = new_day.checked_add(jiff::Span::new().days(14))?;
    // A subscriber that watched with an unflagged account: the replay of
    // the data plus one event on the new day has a row for it, with DAU 1.
    let mut chosen = None;
    let mut tried = Vec::new();
    for event in events
        .iter()
        .filter(|e| e["watch_seconds"].as_i64() > Some(0))
    {
        let subscriber = event["subscriber_id"].as_str().unwrap_or_default();
        if tried.contains(&subscriber) {
            continue;
        }
        tried.push(subscriber);
        let with = tempfile::tempdir()?;
        for entry in std::fs::read_dir(input.path())? {
            let path = entry?.path();
            std::fs::copy(&path, with.path().join(path.file_name().unwrap()))?;
        }
        let line = viewing_event("v-api-visibility-1", subscriber, new_day);
        std::fs::write(
            with.path().join("viewing.jsonl"),
            format!("{viewing}{line}\n"),
        )?;
        let tables = replayed(with.path()).tables;
        let daily = tables
            .iter()
            .find(|t| t.name == "engagement_daily")
            .context("replay writes engagement_daily")?;
        let day_at = daily.columns.iter().position(|c| c.name == "day").unwrap();
        let dau_at = daily.columns.iter().position(|c| c.name == "dau").unwrap();
        let row = daily
            .rows
            .iter()
            .find(|row| row[day_at].to_string() == new_day.to_string());
        if let Some(row) = row
            && row[dau_at].to_string() == "1"
        {
            chosen = Some((subscriber.to_string(), line));
            break;
        }
        if tried.len() >= 5 {
            break;
        }
    }
    let (subscriber, first_event) =
        chosen.with_context(|| format!("no subscriber of {tried:?} counts on {new_day}"))?;

    let kafka = kafka_settings(&bootstrap(), "api");
    let total: u64 = produce_directory(&kafka, input.path(), |_| {})?
        .values()
        .sum();
    let work = tempfile::tempdir()?;
    let config = write_config(work.path(), &kafka);
    let mut text = std::fs::read_to_string(&config)?;
    text.push_str(&format!(
        "\n[[api.tokens]]\nname = \"experiments\"\nrole = \"experiment\"\ntoken = \"{EXPERIMENT}\"\n"
    ));
    std::fs::write(&config, text)?;
    let mut service = Service::start(&config, &["-w", "2"], "service.log");
    service.wait_settled(total);
    let api = api_url(&service)
        .with_context(|| format!("no API URL in the log:\n{}", service.log_text()))?;

    // What is published is served with its revision, as the snapshot
    // files hold it; the rest is provisional.
    let snapshots = latest_snapshots(&work.path().join("snapshots"));
    let (status, all) = get(&format!("{api}/v1/tables/engagement_daily"))?;
    assert_eq!(status, 200, "{all}");
    let rows = all["rows"].as_array().context("rows")?;
    let published: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["provisional"] == false).collect();
    assert!(
        !published.is_empty(),
        "complete days are published: {rows:#?}"
    );
    for row in &published {
        let key = snapshot_of_day(row["day"].as_str().unwrap_or_default())?;
        let snapshot = snapshots.get(&key).with_context(|| {
            format!(
                "{key} is served as published but has no snapshot; the snapshots: {:?}",
                snapshots.keys().collect::<Vec<_>>()
            )
        })?;
        assert_eq!(row["revision"].as_u64(), Some(u64::from(snapshot.revision)));
    }
    for row in rows.iter().filter(|r| r["provisional"] == true) {
        assert!(row["revision"].is_null(), "{row}");
    }
    assert!(rows_of_day(&api, &new_day.to_string())?.is_empty());

    // One event on a new day: served within a second of reaching the topic.
    produce_viewing(&kafka, &[first_event])?;
    let produced = Instant::now();
    let row = loop {
        let rows = rows_of_day(&api, &new_day.to_string())?;
        if let Some(row) = rows.into_iter().next() {
            break row;
        }
        if produced.elapsed() > Duration::from_secs(10) {
            bail!(
                "the event of {new_day} was not served within 10 s:\n{}",
                service.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let visible_after = produced.elapsed();
    assert!(
        visible_after < Duration::from_secs(1),
        "the new event was served {visible_after:?} after it reached the topic (contract: within 1 s)"
    );
    assert_eq!(row["provisional"], true, "{row}");
    assert!(row["revision"].is_null(), "{row}");
    assert_eq!(row["dau"].as_i64(), Some(1), "{row}");

    // A later event completes the new day's week: its snapshot is
    // published and the same row is then served with revision 1.
    produce_viewing(
        &kafka,
        &[viewing_event("v-api-visibility-2", &subscriber, later_day)],
    )?;
    let started = Instant::now();
    let row = loop {
        let rows = rows_of_day(&api, &new_day.to_string())?;
        if let Some(row) = rows.into_iter().find(|r| r["provisional"] == false) {
            break row;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "{new_day} was not published within 60 s:\n{}",
                service.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(row["revision"].as_u64(), Some(1), "{row}");
    assert_eq!(row["dau"].as_i64(), Some(1), "{row}");
    let key = snapshot_of_day(&new_day.to_string())?;
    let snapshots = latest_snapshots(&work.path().join("snapshots"));
    assert_eq!(snapshots.get(&key).map(|s| s.revision), Some(1), "{key}");
    let (_, revisions) = get(&format!("{api}/v1/tables/engagement_daily/revisions"))?;
    assert!(
        revisions["revisions"].as_array().is_some_and(|all| all
            .iter()
            .any(|r| r["snapshot"] == key.as_str()
                && r["revision"] == 1
                && r["published_at"].is_string())),
        "{revisions:#}"
    );
    eprintln!("a new event was served {visible_after:?} after it reached the topic");
    service.terminate();
    Ok(())
}
