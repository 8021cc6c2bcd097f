//! Kafka ingest: how fast `streamflix run` reads the viewing topic through
//! the engagement pipeline, beside Kafka's own consumer reading the same
//! topic on the same broker in the same run (and, for the record, the
//! whole service over all fourteen topics).
//!
//! # What it measures
//!
//! A generated Streamflix (all faults on) is produced once to fresh topics
//! (`streamflix produce`'s code). Then, alternating, `STREAMFLIX_BENCH_RUNS`
//! times each:
//!
//! * **streamflix, engagement** (the measure the target is about):
//!   [`streamflix_engine::service::run`] in this process with
//!   `kafka.feeds = ["viewing"]`, in catch-up mode (`until_caught_up`):
//!   every worker reads its share of the viewing topic's partitions from
//!   the beginning, decodes, runs the engagement pipeline, and stops once
//!   it has read everything and the dataflow has processed it (snapshots
//!   included). Reported: viewing events per second over the whole wall
//!   time (client start-up and metadata included; the run's fresh
//!   snapshot topic is created before the clock starts, as a restarted
//!   service finds it there).
//! * **streamflix, everything**: the same over all fourteen topics and
//!   every pipeline; messages per second over all topics.
//! * **kafka-consumer-perf-test** (`org.apache.kafka.tools.ConsumerPerformance`
//!   through `scripts/kafka.sh consumer-perf-test`): reads the viewing topic
//!   (the bulk of the data) and does nothing with it. Reported: its own
//!   `nMsg.sec` (which excludes its JVM start-up), and its process wall
//!   time.
//!
//! The ratio is streamflix's viewing events per second through engagement
//! over the consumer's messages per second on the same topic; the target is
//! at least 0.5. The whole service's ratio is printed beside it. Nothing
//! asserts on time.
//!
//! # The broker
//!
//! `KAFKA_BOOTSTRAP` if set; otherwise `scripts/kafka.sh start` (Apache
//! Kafka fetched with Maven, a single node on 127.0.0.1:9092), stopped at
//! the end if this bench started it.
//!
//! # How to run
//!
//! ```text
//! cargo bench -p streamflix-benches --bench kafka_ingest
//! STREAMFLIX_BENCH_SUBSCRIBERS=2000 STREAMFLIX_BENCH_RUNS=1 cargo bench -p streamflix-benches --bench kafka_ingest
//! ```
//!
//! Knobs: `STREAMFLIX_BENCH_SUBSCRIBERS` (default 3000), `_DAYS` (28),
//! `_SEED` (42), `_WORKERS` (2), `_RUNS` (3). Results go to
//! `benches/results/kafka_ingest.{json,md}`. Without `--bench` (as
//! `cargo test --benches` runs it) it only prints how to run it.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;
use streamflix_benches::{
    asked_to_run, broker, env_number, fresh_topics, machine, median, stop_broker, workspace,
};
use streamflix_connectors::kafka::KafkaSettings;
use streamflix_connectors::kafka::produce::produce_directory;
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::config::ServiceConfig;
use streamflix_engine::service;
use streamflix_generator::{GeneratorConfig, generate};
use streamflix_model::Feed;

fn main() -> Result<()> {
    if !asked_to_run(
        "kafka_ingest",
        "needs a broker; run with cargo bench -p streamflix-benches --bench kafka_ingest",
    ) {
        return Ok(());
    }
    let subscribers: u64 = env_number("STREAMFLIX_BENCH_SUBSCRIBERS", 3000)?;
    let days: u32 = env_number("STREAMFLIX_BENCH_DAYS", 28)?;
    let seed: u64 = env_number("STREAMFLIX_BENCH_SEED", 42)?;
    let workers: usize = env_number("STREAMFLIX_BENCH_WORKERS", 2)?;
    let runs: usize = env_number("STREAMFLIX_BENCH_RUNS", 3)?;
    let workspace = workspace();
    let script = workspace.join("scripts/kafka.sh");
    let (bootstrap, started_broker) = broker()?;
    let result = bench(
        &workspace,
        &script,
        &bootstrap,
        subscribers,
        days,
        seed,
        workers,
        runs,
    );
    if started_broker {
        stop_broker();
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn bench(
    workspace: &Path,
    script: &Path,
    bootstrap: &str,
    subscribers: u64,
    days: u32,
    seed: u64,
    workers: usize,
    runs: usize,
) -> Result<()> {
    let data = tempfile::tempdir()?;
    println!("kafka_ingest: generating {subscribers} subscribers x {days} days (seed {seed})");
    generate(
        &GeneratorConfig {
            subscribers,
            days,
            seed,
            ..GeneratorConfig::default()
        },
        data.path(),
    )?;
    let kafka = fresh_topics(bootstrap, "bench")?;
    let prefix = kafka.topic_prefix.clone();
    let started = Instant::now();
    let produced = produce_directory(&kafka, data.path(), |_| {})?;
    let total: u64 = produced.values().sum();
    let viewing = produced.get(&Feed::Viewing).copied().unwrap_or(0);
    println!(
        "kafka_ingest: produced {total} messages ({viewing} viewing) to {bootstrap} in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The issue's measure: events per second through the engagement
    // pipeline, reading the topic the Java consumer reads. The whole service
    // (every topic, every pipeline) is measured beside it for the record.
    let mut engagement = Vec::new();
    let mut everything = Vec::new();
    let mut theirs = Vec::new();
    for run in 1..=runs {
        let viewing_only = KafkaSettings {
            feeds: vec![Feed::Viewing.name().to_string()],
            ..kafka.clone()
        };
        let (seconds, revisions) = run_service(
            &viewing_only,
            &format!("{prefix}snapshots-viewing-{run}"),
            workers,
            viewing,
        )?;
        let rate = viewing as f64 / seconds;
        println!(
            "streamflix run {run}, viewing topic through engagement: {seconds:.2} s, {rate:.0} viewing events/s, {revisions} revisions published"
        );
        engagement.push((seconds, rate));

        let (seconds, revisions) = run_service(
            &kafka,
            &format!("{prefix}snapshots-all-{run}"),
            workers,
            total,
        )?;
        let rate = total as f64 / seconds;
        println!(
            "streamflix run {run}, all 14 topics through every pipeline: {seconds:.2} s, {rate:.0} messages/s, {revisions} revisions published"
        );
        everything.push((seconds, rate));

        let started = Instant::now();
        let output = Command::new("bash")
            .arg(script)
            .arg("consumer-perf-test")
            .args(["--bootstrap-server", bootstrap])
            .args(["--topic", &kafka.topic(Feed::Viewing)])
            .args(["--messages", &viewing.to_string()])
            .args(["--group", &format!("{prefix}perf-{run}")])
            .output()
            .context("running kafka-consumer-perf-test")?;
        let wall = started.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let rate = consumer_rate(&text).with_context(|| {
            format!(
                "reading kafka-consumer-perf-test's output:\n{text}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
        println!(
            "kafka-consumer-perf-test run {run}: {rate:.0} messages/s ({wall:.2} s process wall)"
        );
        theirs.push((wall, rate));
    }
    let our_rate = median(engagement.iter().map(|(_, rate)| *rate));
    let our_seconds = median(engagement.iter().map(|(seconds, _)| *seconds));
    let all_rate = median(everything.iter().map(|(_, rate)| *rate));
    let all_seconds = median(everything.iter().map(|(seconds, _)| *seconds));
    let their_rate = median(theirs.iter().map(|(_, rate)| *rate));
    let ratio = our_rate / their_rate;
    let all_ratio = all_rate / their_rate;
    let machine = machine();
    println!();
    println!(
        "streamflix median of {runs}, viewing topic through engagement: {our_seconds:.2} s, {our_rate:.0} viewing events/s ({workers} workers)"
    );
    println!(
        "streamflix median of {runs}, all 14 topics through every pipeline: {all_seconds:.2} s, {all_rate:.0} messages/s"
    );
    println!(
        "kafka-consumer-perf-test median: {their_rate:.0} messages/s (viewing topic, consume only)"
    );
    println!(
        "ratio {ratio:.2} (target at least 0.5: {}); whole service {all_ratio:.2}",
        if ratio >= 0.5 { "PASS" } else { "BELOW" }
    );

    let results = workspace.join("benches/results");
    std::fs::create_dir_all(&results)?;
    let record = json!({
        "bench": "kafka_ingest",
        "machine": machine,
        "data": {"subscribers": subscribers, "days": days, "seed": seed, "messages": total, "viewing": viewing},
        "workers": workers,
        "streamflix_engagement": engagement.iter().map(|(s, r)| json!({"seconds": s, "viewing_per_second": r})).collect::<Vec<_>>(),
        "streamflix_all_topics": everything.iter().map(|(s, r)| json!({"seconds": s, "messages_per_second": r})).collect::<Vec<_>>(),
        "consumer_perf_test": theirs.iter().map(|(s, r)| json!({"process_seconds": s, "messages_per_second": r})).collect::<Vec<_>>(),
        "median_messages_per_second": {"streamflix_engagement": our_rate, "streamflix_all_topics": all_rate, "consumer_perf_test": their_rate},
        "ratio": ratio,
        "ratio_all_topics": all_ratio,
    });
    std::fs::write(
        results.join("kafka_ingest.json"),
        serde_json::to_string_pretty(&record)?,
    )?;
    let markdown = format!(
        "# kafka_ingest\n\nWritten by `cargo bench -p streamflix-benches --bench kafka_ingest` on {machine}.\n\n\
         Data: {subscribers} subscribers x {days} days, seed {seed}: {total} messages over 14 topics of 4 partitions, {viewing} of them viewing; one broker on this machine.\n\n\
         | reader | runs | median messages/s |\n|---|---:|---:|\n\
         | streamflix run ({workers} workers, viewing topic through the engagement pipeline, from the beginning until caught up) | {runs} | {our_rate:.0} |\n\
         | kafka-consumer-perf-test (viewing topic, consume only) | {runs} | {their_rate:.0} |\n\
         | streamflix run ({workers} workers, all 14 topics through every pipeline, for the record) | {runs} | {all_rate:.0} |\n\n\
         Ratio (engagement over the Java consumer, same topic): **{ratio:.2}** (target at least 0.5). The whole service over all topics: {all_ratio:.2}.\n"
    );
    std::fs::write(results.join("kafka_ingest.md"), markdown)?;
    println!("wrote {}", results.join("kafka_ingest.md").display());
    Ok(())
}

/// Runs the service in catch-up mode over `kafka`'s feeds; returns its
/// wall seconds and the revisions it published, after checking that it
/// read all `expected` messages.
fn run_service(
    kafka: &KafkaSettings,
    snapshots_topic: &str,
    workers: usize,
    expected: u64,
) -> Result<(f64, u64)> {
    let snapshots = tempfile::tempdir()?;
    let mut config = ServiceConfig::load_from(None, Vec::<(String, String)>::new())?;
    config.kafka = kafka.clone();
    config.kafka.snapshots_topic = snapshots_topic.to_string();
    config.snapshots.dir = snapshots.path().to_path_buf();
    config.service.until_caught_up = true;
    // Each run publishes to a fresh snapshot topic, which a service that
    // restarts finds already there: its creation (0.15 to 0.3 s on the
    // broker) is not ingest, so it happens before the clock starts.
    service::ensure_service_topics(&config)?;
    let started = Instant::now();
    let summary = service::run(
        &config,
        &ClusterArgs::single(workers),
        Arc::new(AtomicBool::new(false)),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    if summary.messages != expected {
        bail!(
            "streamflix read {} messages, {expected} were produced",
            summary.messages
        );
    }
    Ok((seconds, summary.revisions_published))
}

/// `nMsg.sec` from ConsumerPerformance's CSV-like report.
fn consumer_rate(output: &str) -> Option<f64> {
    let mut lines = output.lines().filter(|line| line.contains(','));
    let header: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let column = header.iter().position(|name| *name == "nMsg.sec")?;
    let values: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    values.get(column)?.parse().ok()
}
