//! State growth: whether the service's memory stays flat as history grows.
//!
//! # What it measures
//!
//! For each length of history (30, 60 and 120 days by default) a fresh
//! Streamflix of `STREAMFLIX_BENCH_SUBSCRIBERS` subscribers (10,000; all
//! faults on) is generated, ending yesterday, and produced to fresh topics
//! (`streamflix produce`'s code). Then [`streamflix_engine::service::run`]
//! reads every topic from the beginning, in this process, until it has
//! settled, with the compiled-in configuration (but a 2-second idle
//! timeout, so that it settles soon after the end): the default restatement horizons
//! (viewing 3 days, subscriptions 35, money 35 days after the month's end)
//! and event-time epochs. Records beyond a horizon (the generator's late
//! faults) become dead letters, as in production.
//!
//! Reported for each length:
//!
//! * **peak RSS**: `VmHWM` of this process after resetting it through
//!   `/proc/self/clear_refs` before the run (the timely workers and
//!   librdkafka's threads are threads of this process);
//! * **peak heap**: the most heap the run held at once above what the
//!   process held before it, sampled every 20 ms by counting this binary's
//!   allocations (`stats_alloc`): the state plus the batches in flight (a
//!   catch-up reads up to three batches of `batch_messages` per worker
//!   ahead of the dataflow);
//! * **state at rest**: the same count once the service has settled (its
//!   status file says every message was read, every partition is idle and
//!   nothing due is unpublished), the median of a second's samples. It is
//!   everything the dataflow keeps (arrangements, the per-event hash maps
//!   within the horizon, the compact facts, the output store), and leaves
//!   out librdkafka's own buffers (C allocations). Divided by the
//!   subscribers it is the **state per subscriber**.
//!
//! Caveats: `clear_refs` resets the peak to the RSS at the reset, which
//! includes what the allocator kept from generating the data and from
//! the shorter lengths before (the lengths run in increasing order), so
//! the growth ratio leans high; and "settled" says every partition is
//! idle and nothing is due, not that the last expiries have run, so the
//! state at rest may still hold the last day's facts.
//!
//! Targets: the longest history's peak RSS at most 1.2x the shortest's,
//! and state per subscriber at most 20 KB. Each is printed with `PASS` or
//! `ABOVE`; nothing asserts.
//!
//! # How to run
//!
//! ```text
//! cargo bench -p streamflix-benches --bench state_growth
//! STREAMFLIX_BENCH_SUBSCRIBERS=1000 STREAMFLIX_BENCH_LENGTHS=30,60 cargo bench -p streamflix-benches --bench state_growth
//! ```
//!
//! Knobs: `STREAMFLIX_BENCH_SUBSCRIBERS` (10000), `STREAMFLIX_BENCH_LENGTHS`
//! (`30,60,120`, days), `STREAMFLIX_BENCH_SEED` (42),
//! `STREAMFLIX_BENCH_WORKERS` (2). The broker is `KAFKA_BOOTSTRAP`, or
//! `scripts/kafka.sh start` (stopped at the end if this bench started it).
//! Results go to `benches/results/state_growth.{json,md}`. Without
//! `--bench` (as `cargo test --benches` runs it) it only prints how to run
//! it.

use std::alloc::System;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::json;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use streamflix_benches::{
    asked_to_run, broker, env_number, fresh_topics, machine, own_status_kb, reset_peak_rss,
    stop_broker, workspace,
};
use streamflix_connectors::kafka::produce::produce_directory;
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::config::ServiceConfig;
use streamflix_engine::service;
use streamflix_generator::{GeneratorConfig, generate};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes allocated and not yet freed, process-wide.
fn heap_held() -> i64 {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
}

/// What one length of history measured.
struct Length {
    days: u32,
    messages: u64,
    dead_letters: u64,
    seconds: f64,
    peak_rss_kb: u64,
    /// The most heap held above the run's start, in flight included.
    peak_heap_bytes: i64,
    /// Heap held above the run's start once the service had settled.
    state_bytes: i64,
}

fn main() -> Result<()> {
    if !asked_to_run(
        "state_growth",
        "needs a broker; run with cargo bench -p streamflix-benches --bench state_growth",
    ) {
        return Ok(());
    }
    let subscribers: u64 = env_number("STREAMFLIX_BENCH_SUBSCRIBERS", 10_000)?;
    let seed: u64 = env_number("STREAMFLIX_BENCH_SEED", 42)?;
    let workers: usize = env_number("STREAMFLIX_BENCH_WORKERS", 2)?;
    let lengths = std::env::var("STREAMFLIX_BENCH_LENGTHS").unwrap_or_else(|_| "30,60,120".into());
    let lengths: Vec<u32> = lengths
        .split(',')
        .map(|days| days.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|error| anyhow::anyhow!("STREAMFLIX_BENCH_LENGTHS={lengths}: {error}"))?;
    let (bootstrap, started_broker) = broker()?;
    let mut measured = Vec::new();
    let mut result = Ok(());
    for days in &lengths {
        match measure(&bootstrap, subscribers, *days, seed, workers) {
            Ok(length) => measured.push(length),
            Err(error) => {
                result = Err(error);
                break;
            }
        }
    }
    if started_broker {
        stop_broker();
    }
    result?;
    report(&workspace(), &measured, subscribers, seed, workers)
}

/// Generates, produces and reads `days` of history; measures the read.
fn measure(
    bootstrap: &str,
    subscribers: u64,
    days: u32,
    seed: u64,
    workers: usize,
) -> Result<Length> {
    let data = tempfile::tempdir()?;
    let unix_days = jiff::Timestamp::now().as_second().div_euclid(86_400);
    let today = jiff::civil::date(1970, 1, 1).checked_add(jiff::Span::new().days(unix_days))?;
    let start = today.checked_sub(jiff::Span::new().days(i64::from(days)))?;
    println!("state_growth: generating {subscribers} subscribers x {days} days from {start}");
    generate(
        &GeneratorConfig {
            subscribers,
            days,
            seed,
            start,
            ..GeneratorConfig::default()
        },
        data.path(),
    )?;
    let kafka = fresh_topics(bootstrap, &format!("growth-{days}"))?;
    let produced: u64 = produce_directory(&kafka, data.path(), |_| {})?
        .values()
        .sum();
    drop(data);
    println!("state_growth: produced {produced} messages; reading them");

    let snapshots = tempfile::tempdir()?;
    let mut config = ServiceConfig::load_from(None, Vec::<(String, String)>::new())?;
    config.kafka = kafka;
    config.snapshots.dir = snapshots.path().to_path_buf();
    // Partitions count as idle soon after their end, so that the service
    // settles (and its epochs reach the end of the history) within seconds.
    config.time.idle_timeout_seconds = 2.0;
    service::ensure_service_topics(&config)?;

    let base = heap_held();
    let peak = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(heap_held() - base, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    if !reset_peak_rss() {
        println!(
            "state_growth: /proc/self/clear_refs refused: peak RSS is the process's lifetime peak"
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let service = {
        let (config, stop) = (config.clone(), stop.clone());
        std::thread::spawn(move || service::run(&config, &ClusterArgs::single(workers), stop))
    };
    let settled = wait_until_settled(&snapshots.path().join("status.json"), produced, &service);
    let seconds = started.elapsed().as_secs_f64();
    // At rest: everything read and processed, nothing in flight. What the
    // heap holds now is the state; the median of a second's samples.
    let mut at_rest: Vec<i64> = (0..25)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(40));
            heap_held() - base
        })
        .collect();
    at_rest.sort_unstable();
    let peak_rss_kb = own_status_kb("VmHWM:").unwrap_or(0);
    // Both peaks cover the run up to rest, not the shutdown.
    done.store(true, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let summary = service
        .join()
        .map_err(|_| anyhow::anyhow!("the service thread panicked"))?;
    let _ = sampler.join();
    settled?;
    let summary = summary?;
    if summary.messages != produced {
        bail!(
            "the service read {} messages, {produced} were produced",
            summary.messages
        );
    }
    let length = Length {
        days,
        messages: produced,
        dead_letters: summary.dead_letters,
        seconds,
        peak_rss_kb,
        peak_heap_bytes: peak.load(Ordering::Relaxed),
        state_bytes: at_rest[at_rest.len() / 2],
    };
    println!(
        "state_growth: {days} days, {produced} messages ({} dead letters), settled after {seconds:.1} s: peak RSS {:.0} MB, peak heap {:.1} MB, state at rest {:.1} MB, {:.1} KB per subscriber",
        length.dead_letters,
        peak_rss_kb as f64 / 1024.0,
        length.peak_heap_bytes as f64 / 1e6,
        length.state_bytes as f64 / 1e6,
        length.state_bytes as f64 / subscribers as f64 / 1e3,
    );
    Ok(length)
}

fn report(
    workspace: &Path,
    measured: &[Length],
    subscribers: u64,
    seed: u64,
    workers: usize,
) -> Result<()> {
    let (Some(first), Some(last)) = (measured.first(), measured.last()) else {
        bail!("no length of history was measured");
    };
    let growth = last.peak_rss_kb as f64 / first.peak_rss_kb as f64;
    let per_subscriber_kb = last.state_bytes as f64 / subscribers as f64 / 1e3;
    let verdict = |pass: bool| if pass { "PASS" } else { "ABOVE" };
    let machine = machine();
    let mut table = String::from(
        "| days | messages | dead letters | seconds to settle | peak RSS | peak heap | state at rest | state per subscriber |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for length in measured {
        table.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.0} MB | {:.1} MB | {:.1} MB | {:.1} KB |\n",
            length.days,
            length.messages,
            length.dead_letters,
            length.seconds,
            length.peak_rss_kb as f64 / 1024.0,
            length.peak_heap_bytes as f64 / 1e6,
            length.state_bytes as f64 / 1e6,
            length.state_bytes as f64 / subscribers as f64 / 1e3,
        ));
    }
    let growth_line = if measured.len() < 2 {
        "One length only: no growth to compare.".to_string()
    } else {
        format!(
            "Peak RSS at {} days over {} days: **{growth:.2}x** (target at most 1.2x: {}).",
            last.days,
            first.days,
            verdict(growth <= 1.2),
        )
    };
    let summary = format!(
        "{growth_line} State per subscriber at {} days: **{per_subscriber_kb:.1} KB** (target at most 20 KB: {}).",
        last.days,
        verdict(per_subscriber_kb <= 20.0),
    );
    println!("\n{table}\n{summary}");
    let results = workspace.join("benches/results");
    std::fs::create_dir_all(&results)?;
    let record = json!({
        "bench": "state_growth",
        "machine": machine,
        "subscribers": subscribers,
        "seed": seed,
        "workers": workers,
        "lengths": measured.iter().map(|l| json!({
            "days": l.days,
            "messages": l.messages,
            "dead_letters": l.dead_letters,
            "seconds": l.seconds,
            "peak_rss_kb": l.peak_rss_kb,
            "peak_heap_bytes": l.peak_heap_bytes,
            "state_bytes": l.state_bytes,
        })).collect::<Vec<_>>(),
        "peak_rss_growth": growth,
        "state_per_subscriber_kb": per_subscriber_kb,
    });
    std::fs::write(
        results.join("state_growth.json"),
        serde_json::to_string_pretty(&record)?,
    )?;
    let markdown = format!(
        "# state_growth\n\nWritten by `cargo bench -p streamflix-benches --bench state_growth` on {machine}.\n\n\
         The service (`streamflix run`, {workers} workers, default horizons) reading, from the beginning until it has settled, a generated Streamflix of {subscribers} subscribers (seed {seed}) ending the day before the run, over each length of history. Peak heap is the most heap held at once above the run's start, the batches in flight of the catch-up included; state at rest is the heap held once everything was read and processed (Rust allocations; librdkafka's buffers are not in it).\n\n{table}\n{summary}\n"
    );
    std::fs::write(results.join("state_growth.md"), markdown)?;
    println!("wrote {}", results.join("state_growth.md").display());
    Ok(())
}

/// Waits until the service's status file says it has read `messages` and
/// settled (every partition idle, nothing due unpublished).
fn wait_until_settled(
    status: &Path,
    messages: u64,
    service: &std::thread::JoinHandle<Result<service::ServiceSummary, service::ServiceError>>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        if service.is_finished() {
            bail!("the service stopped before it had settled");
        }
        if Instant::now() > deadline {
            bail!("the service had not settled after an hour");
        }
        let settled = std::fs::read(status)
            .ok()
            .and_then(|text| serde_json::from_slice::<serde_json::Value>(&text).ok())
            .is_some_and(|status| {
                status["settled"] == true && status["messages"].as_u64() == Some(messages)
            });
        if settled {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
