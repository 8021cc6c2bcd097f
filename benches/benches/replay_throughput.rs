//! Replay throughput: how fast `streamflix replay` turns a directory of
//! JSONL feeds into tables, beside a DuckDB batch job over the same files.
//!
//! # What it measures
//!
//! The synthetic Streamflix of `streamflix-generator` (all faults on) is
//! generated once and replayed `STREAMFLIX_BENCH_RUNS` times with
//! [`streamflix_engine::replay::replay`]: every pipeline, quiet, CSV tables
//! and dead letters written into a fresh temporary directory. For each run
//! and as the median over the runs it reports
//!
//! * **wall seconds** around the whole `replay` call: reading, JSON decoding,
//!   admission, the dataflow, and writing every table (the dataflow alone,
//!   `ReplaySummary::elapsed`, is shown beside it);
//! * **viewing events per second**: lines of `viewing.jsonl` (malformed,
//!   late and duplicate lines included) / wall seconds, so decoding counts:
//!   this is JSONL-to-tables throughput, not operator throughput;
//! * **records per second**: lines of all fourteen feeds / wall seconds;
//! * **peak memory**: the peak resident set size of the benchmark process
//!   during the replay. Before each run the process writes `5` to
//!   `/proc/self/clear_refs`, which resets the kernel's high-water mark
//!   (`VmHWM`) to the current RSS; after the run `VmHWM` is read from
//!   `/proc/self/status`. The timely workers are threads of this process,
//!   so they are included. The RSS at the reset (the "base": allocator pages
//!   kept from earlier runs or from generating the data) is a floor under
//!   the peak and is reported too; on a kernel without `clear_refs` the
//!   peak is the process's lifetime peak and is marked as such.
//!
//! The target is **500,000 viewing events per second with 2 workers**; the
//! median is printed with `PASS` or `BELOW` next to it. Nothing here asserts
//! on time: the benchmark reports, the tests assert correctness.
//!
//! # The peer
//!
//! In the same run, on the same files, `benches/peers/duckdb_engagement.py`
//! computes `engagement_daily` and `engagement_weekly` with DuckDB
//! (`python3 benches/peers/duckdb_engagement.py INPUT OUT --threads W`, W the
//! worker count), alternating with the streamflix runs. Its seconds are the
//! ones the script prints (connect to CSVs written; the interpreter's start
//! and `import duckdb` are in the process wall time, shown beside), its
//! peak memory is `VmHWM` of the python process sampled every 20 ms. The
//! ratio is streamflix's viewing events per second over DuckDB's. Note the
//! work is not the same: streamflix computes every table of every pipeline,
//! the peer only the two engagement tables. If `import duckdb` fails the
//! bench tries `python3 -m pip install --quiet duckdb` once; if that fails
//! too it says so and goes on without the peer. The DuckDB version used is
//! kept in the results.
//!
//! Afterwards the two `engagement_weekly.csv` are compared: the same weeks,
//! the same `wau`, `mau` and `sessions`, and `avg_dau` and `hours_watched`
//! within 0.1 %. The verdict and the differing rows are printed and kept in
//! the results; a disagreement never fails the bench.
//!
//! # Data sizes
//!
//! The default, 10,000 subscribers over 28 days (seed 42), is 3.24 M lines
//! and 840 MB, of which `viewing.jsonl` is 3.05 M lines and 815 MB. Viewing
//! scales with subscribers × days. The files are cached under
//! `target/bench-data/<subscribers>x<days>-seed<seed>/` of the workspace
//! and regenerated only when missing (a `bench-data.json` manifest, written
//! last, marks a complete set; delete the directory to regenerate).
//!
//! # How to run
//!
//! ```text
//! cargo bench -p streamflix-benches            # from anywhere in the workspace
//! cargo bench --workspace --bench replay_throughput
//! STREAMFLIX_BENCH_SUBSCRIBERS=2000 STREAMFLIX_BENCH_RUNS=1 cargo bench -p streamflix-benches
//! ```
//!
//! (A plain `cargo bench` at the root only runs the default member, the
//! engine, which has no benchmark.) Knobs, all environment variables:
//!
//! | variable | default | meaning |
//! |---|---:|---|
//! | `STREAMFLIX_BENCH_SUBSCRIBERS` | 10000 | generator subscribers |
//! | `STREAMFLIX_BENCH_DAYS` | 28 | generator days |
//! | `STREAMFLIX_BENCH_SEED` | 42 | generator seed |
//! | `STREAMFLIX_BENCH_WORKERS` | 2 | timely workers, and DuckDB threads |
//! | `STREAMFLIX_BENCH_RUNS` | 3 | runs of each engine; medians over them |
//! | `STREAMFLIX_BENCH_RETENTION_DAYS` | unset | restatement horizon; unset keeps every record, as `streamflix replay` does without `--retention-days` |
//! | `STREAMFLIX_BENCH_PEER` | 1 | `0` skips the DuckDB peer |
//! | `STREAMFLIX_BENCH_DATA` | `<workspace>/target/bench-data` | where the feeds are cached |
//!
//! Every run overwrites `benches/results/replay_throughput.json` (machine,
//! sizes, knobs, every run, medians, peer, comparison) and
//! `benches/results/replay_throughput.md` (a short table). A run at another
//! size than the default is labelled as such in both.
//!
//! Run without `--bench` (as `cargo test --benches` or `--all-targets` do)
//! the binary only smoke-tests itself: 50 subscribers over 2 days, one run,
//! no peer, no results written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use streamflix_benches::{cpu_model, env_number, median};
use streamflix_engine::clock::{HorizonDays, Retention};
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::replay::{ReplayOptions, replay};
use streamflix_generator::{FEEDS, GeneratorConfig, generate};
use streamflix_model::Feed;

/// The throughput target: viewing events per second with 2 workers.
const TARGET_VIEWING_PER_SECOND: f64 = 500_000.0;
/// `avg_dau` and `hours_watched` of the two weekly tables agree within this.
const RELATIVE_TOLERANCE: f64 = 1e-3;
const MANIFEST: &str = "bench-data.json";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--list") {
        // Test runners that list targets first (cargo test --list, nextest).
        println!("replay_throughput: bench");
        return Ok(());
    }
    let smoke = !args.iter().any(|arg| arg == "--bench");
    let knobs = if smoke {
        Knobs::smoke()
    } else {
        Knobs::from_env()?
    };
    let workspace = workspace_root();

    println!(
        "replay_throughput{}",
        if smoke {
            " (smoke test: run with cargo bench for numbers)"
        } else {
            ""
        }
    );
    let machine = Machine::read();
    machine.print();

    let data = prepare_data(&knobs)?;
    data.print();
    println!(
        "knobs: {} subscribers x {} days, seed {}, {} workers, {} run(s), retention {}",
        knobs.subscribers,
        knobs.days,
        knobs.seed,
        knobs.workers,
        knobs.runs,
        knobs.retention()
    );

    let mut peer = if knobs.peer {
        Peer::find(&workspace)
    } else {
        Peer::skipped(if smoke {
            "smoke test"
        } else {
            "STREAMFLIX_BENCH_PEER=0"
        })
    };
    println!("peer: {}", peer.describe());
    println!();

    let mut runs = Vec::new();
    let mut peer_runs = Vec::new();
    let mut last_streamflix_out = None;
    let mut last_peer_out = None;
    for number in 1..=knobs.runs {
        let (run, out) = run_streamflix(&knobs, &data)?;
        println!(
            "streamflix run {number}: {:>7.2} s wall ({:.2} s dataflow), {:>10} viewing ev/s, {:>10} records/s, peak RSS {} (base {})",
            run.wall_seconds,
            run.dataflow_seconds,
            thousands(run.viewing_per_second),
            thousands(run.records_per_second),
            megabytes(run.peak_rss_kb),
            megabytes(run.base_rss_kb),
        );
        runs.push(run);
        last_streamflix_out = Some(out);
        if peer.usable() {
            match peer.run(&data, knobs.workers) {
                Ok((run, out)) => {
                    println!(
                        "duckdb     run {number}: {:>7.2} s ({:.2} s process wall), {:>10} viewing ev/s, peak RSS {} (sampled)",
                        run.seconds,
                        run.process_seconds,
                        thousands(data.viewing_lines as f64 / run.seconds),
                        megabytes(run.peak_rss_kb),
                    );
                    peer_runs.push(run);
                    last_peer_out = Some(out);
                }
                Err(error) => {
                    println!("duckdb     run {number}: failed: {error:#}");
                    peer.status = PeerStatus::Failed(format!("{error:#}"));
                }
            }
        }
    }

    let medians = Medians::of(&runs, &data);
    let peer_medians = PeerMedians::of(&peer_runs, &data);
    let comparison = match (&last_streamflix_out, &last_peer_out) {
        (Some(ours), Some(theirs)) => Some(compare_weekly(
            &ours.path().join("engagement_weekly.csv"),
            &theirs.path().join("engagement_weekly.csv"),
        )),
        _ => None,
    };

    println!();
    let report = Report {
        knobs: &knobs,
        machine: &machine,
        data: &data,
        runs: &runs,
        medians: &medians,
        peer: &peer,
        peer_runs: &peer_runs,
        peer_medians: &peer_medians,
        comparison: comparison.as_ref(),
    };
    print!("{}", report.summary_text());

    if smoke {
        println!("\nsmoke test done; no results written");
        return Ok(());
    }
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&results).with_context(|| format!("creating {}", results.display()))?;
    let json_path = results.join("replay_throughput.json");
    let md_path = results.join("replay_throughput.md");
    // Asked before writing: the result files are tracked, so afterwards the
    // tree would always look changed.
    let commit = git_commit(&workspace);
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&report.json(commit.as_deref()))? + "\n",
    )
    .with_context(|| format!("writing {}", json_path.display()))?;
    std::fs::write(&md_path, report.markdown(commit.as_deref()))
        .with_context(|| format!("writing {}", md_path.display()))?;
    println!("\nwrote {} and {}", json_path.display(), md_path.display());
    Ok(())
}

// ---------------------------------------------------------------- knobs

#[derive(Debug)]
struct Knobs {
    subscribers: u64,
    days: u32,
    seed: u64,
    workers: usize,
    runs: usize,
    /// `--retention-days`; `None` keeps everything (the CLI's default).
    retention_days: Option<u32>,
    peer: bool,
    data_root: PathBuf,
}

impl Knobs {
    fn from_env() -> Result<Knobs> {
        let knobs = Knobs {
            subscribers: env_number("STREAMFLIX_BENCH_SUBSCRIBERS", 10_000)?,
            days: env_number("STREAMFLIX_BENCH_DAYS", 28)?,
            seed: env_number("STREAMFLIX_BENCH_SEED", 42)?,
            workers: env_number("STREAMFLIX_BENCH_WORKERS", 2)?,
            runs: env_number("STREAMFLIX_BENCH_RUNS", 3)?,
            retention_days: match std::env::var("STREAMFLIX_BENCH_RETENTION_DAYS") {
                Ok(text) if !text.trim().is_empty() => {
                    Some(env_number("STREAMFLIX_BENCH_RETENTION_DAYS", 0)?)
                }
                _ => None,
            },
            peer: env_number::<u8>("STREAMFLIX_BENCH_PEER", 1)? != 0,
            data_root: data_root(),
        };
        if knobs.workers == 0 || knobs.runs == 0 {
            bail!("STREAMFLIX_BENCH_WORKERS and STREAMFLIX_BENCH_RUNS must be at least 1");
        }
        Ok(knobs)
    }

    fn smoke() -> Knobs {
        Knobs {
            subscribers: 50,
            days: 2,
            seed: 42,
            workers: 2,
            runs: 1,
            retention_days: None,
            peer: false,
            data_root: data_root(),
        }
    }

    fn retention(&self) -> String {
        self.retention_days.map_or_else(
            || "none (every record kept)".to_string(),
            |days| format!("{days} days"),
        )
    }

    /// The reference size of the target; other sizes are labelled.
    fn is_reference(&self) -> bool {
        self.subscribers == 10_000 && self.days == 28 && self.workers == 2
    }

    fn label(&self) -> String {
        if self.is_reference() {
            "reference size (10000 subscribers x 28 days, 2 workers)".to_string()
        } else {
            format!(
                "SMALL/NON-REFERENCE RUN: {} subscribers x {} days, {} workers (the target is stated for 10000 x 28, 2 workers)",
                self.subscribers, self.days, self.workers
            )
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ sits in the workspace")
        .to_path_buf()
}

fn data_root() -> PathBuf {
    match std::env::var_os("STREAMFLIX_BENCH_DATA") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target").join("bench-data"),
    }
}

// -------------------------------------------------------------- machine

#[derive(Debug)]
struct Machine {
    cpu: String,
    cores: usize,
    memory_gb: f64,
    kernel: String,
}

impl Machine {
    fn read() -> Machine {
        let cpu = cpu_model();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let memory_kb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| field_kb(&text, "MemTotal:"))
            .unwrap_or(0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_string(), |k| k.trim().to_string());
        Machine {
            cpu,
            cores,
            memory_gb: memory_kb as f64 / 1024.0 / 1024.0,
            kernel,
        }
    }

    fn print(&self) {
        println!(
            "machine: {}, {} cores, {:.1} GiB memory, Linux {}",
            self.cpu, self.cores, self.memory_gb, self.kernel
        );
    }

    fn json(&self) -> Value {
        json!({ "cpu": self.cpu, "cores": self.cores, "memory_gib": round(self.memory_gb, 1), "kernel": self.kernel })
    }
}

// ----------------------------------------------------------------- data

#[derive(Debug)]
struct Data {
    dir: PathBuf,
    /// (feed, lines, bytes) in feed-contract order.
    feeds: Vec<(String, u64, u64)>,
    viewing_lines: u64,
    total_lines: u64,
    total_bytes: u64,
    generated_seconds: Option<f64>,
}

impl Data {
    fn print(&self) {
        let cached = match self.generated_seconds {
            Some(seconds) => format!("generated in {seconds:.1} s"),
            None => "cached".to_string(),
        };
        println!(
            "data: {} ({cached}): {} lines, {:.1} MB in {} feeds",
            self.dir.display(),
            thousands(self.total_lines as f64),
            mb(self.total_bytes),
            self.feeds.len()
        );
        for (feed, lines, bytes) in self.big_feeds() {
            println!(
                "  {feed:<24} {:>12} lines {:>9.1} MB",
                thousands(*lines as f64),
                mb(*bytes)
            );
        }
    }

    /// The feeds of at least 1 MB (or the largest one).
    fn big_feeds(&self) -> Vec<&(String, u64, u64)> {
        let mut big: Vec<_> = self
            .feeds
            .iter()
            .filter(|(_, _, bytes)| *bytes >= 1_000_000)
            .collect();
        if big.is_empty() {
            big.extend(self.feeds.iter().max_by_key(|(_, _, bytes)| *bytes));
        }
        big.sort_by_key(|(_, _, bytes)| std::cmp::Reverse(*bytes));
        big
    }

    fn json(&self) -> Value {
        let feeds: Vec<Value> = self
            .feeds
            .iter()
            .map(|(feed, lines, bytes)| json!({ "feed": feed, "lines": lines, "bytes": bytes }))
            .collect();
        json!({
            "dir": self.dir.display().to_string(),
            "viewing_lines": self.viewing_lines,
            "total_lines": self.total_lines,
            "total_bytes": self.total_bytes,
            "generated_seconds": self.generated_seconds,
            "feeds": feeds,
        })
    }
}

/// Generates the feeds unless a complete set is cached.
fn prepare_data(knobs: &Knobs) -> Result<Data> {
    let dir = knobs.data_root.join(format!(
        "{}x{}-seed{}",
        knobs.subscribers, knobs.days, knobs.seed
    ));
    let manifest = dir.join(MANIFEST);
    let mut generated_seconds = None;
    let lines: BTreeMap<String, u64> = match read_manifest(&manifest) {
        Some(lines) => lines,
        None => {
            println!(
                "generating {} subscribers x {} days (seed {}) into {} ...",
                knobs.subscribers,
                knobs.days,
                knobs.seed,
                dir.display()
            );
            let _ = std::fs::remove_file(&manifest);
            let started = Instant::now();
            let config = GeneratorConfig::new(knobs.subscribers, knobs.days, knobs.seed);
            let summary = generate(&config, &dir)
                .with_context(|| format!("generating into {}", dir.display()))?;
            generated_seconds = Some(started.elapsed().as_secs_f64());
            let lines: BTreeMap<String, u64> = summary
                .lines_per_feed
                .iter()
                .map(|(feed, n)| (feed.to_string(), *n))
                .collect();
            let text = serde_json::to_string_pretty(&json!({
                "subscribers": knobs.subscribers, "days": knobs.days, "seed": knobs.seed, "lines": lines,
            }))?;
            std::fs::write(&manifest, text)
                .with_context(|| format!("writing {}", manifest.display()))?;
            lines
        }
    };
    let mut feeds = Vec::new();
    for feed in FEEDS {
        let path = dir.join(format!("{feed}.jsonl"));
        let bytes = std::fs::metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        let count = *lines
            .get(feed)
            .with_context(|| format!("{} has no line count for {feed}", manifest.display()))?;
        feeds.push((feed.to_string(), count, bytes));
    }
    Ok(Data {
        dir,
        viewing_lines: lines.get("viewing").copied().unwrap_or(0),
        total_lines: feeds.iter().map(|(_, lines, _)| lines).sum(),
        total_bytes: feeds.iter().map(|(_, _, bytes)| bytes).sum(),
        feeds,
        generated_seconds,
    })
}

fn read_manifest(path: &Path) -> Option<BTreeMap<String, u64>> {
    let value: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let lines = value.get("lines")?.as_object()?;
    let lines: BTreeMap<String, u64> = lines
        .iter()
        .filter_map(|(feed, n)| Some((feed.clone(), n.as_u64()?)))
        .collect();
    let dir = path.parent()?;
    FEEDS
        .iter()
        .all(|feed| lines.contains_key(*feed) && dir.join(format!("{feed}.jsonl")).is_file())
        .then_some(lines)
}

// ----------------------------------------------------------- streamflix

#[derive(Debug)]
struct Run {
    wall_seconds: f64,
    dataflow_seconds: f64,
    viewing_per_second: f64,
    records_per_second: f64,
    peak_rss_kb: Option<u64>,
    base_rss_kb: Option<u64>,
    /// Whether the high-water mark was reset before the run.
    peak_reset: bool,
    viewing_read: u64,
    records_read: u64,
    dead_letters: u64,
    tables: usize,
}

impl Run {
    fn json(&self) -> Value {
        json!({
            "wall_seconds": round(self.wall_seconds, 3),
            "dataflow_seconds": round(self.dataflow_seconds, 3),
            "viewing_events_per_second": self.viewing_per_second.round(),
            "records_per_second": self.records_per_second.round(),
            "peak_rss_mb": self.peak_rss_kb.map(|kb| round(kb as f64 / 1024.0, 1)),
            "base_rss_mb": self.base_rss_kb.map(|kb| round(kb as f64 / 1024.0, 1)),
            "peak_is_per_run": self.peak_reset,
            "viewing_lines_read": self.viewing_read,
            "records_read": self.records_read,
            "dead_letters": self.dead_letters,
            "tables": self.tables,
        })
    }
}

fn run_streamflix(knobs: &Knobs, data: &Data) -> Result<(Run, tempfile::TempDir)> {
    let out = tempfile::Builder::new()
        .prefix("streamflix-bench-out")
        .tempdir()?;
    let mut options = ReplayOptions::new(&data.dir, out.path());
    options.cluster = ClusterArgs::single(knobs.workers);
    options.progress = false;
    options.settings.retention = knobs.retention_days.map(|days| {
        Retention::new(
            HorizonDays::uniform(days),
            options.settings.calendar.clone(),
        )
    });

    let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let base_rss_kb = own_status_kb("VmRSS:");
    let started = Instant::now();
    let summary = replay(&options).with_context(|| format!("replaying {}", data.dir.display()))?;
    let wall = started.elapsed().as_secs_f64();
    let peak_rss_kb = own_status_kb("VmHWM:");

    let viewing_read = summary.read.get(&Feed::Viewing).copied().unwrap_or(0);
    if viewing_read != data.viewing_lines {
        println!(
            "  note: replay read {viewing_read} viewing lines, the generator wrote {}",
            data.viewing_lines
        );
    }
    let run = Run {
        wall_seconds: wall,
        dataflow_seconds: summary.elapsed.as_secs_f64(),
        viewing_per_second: data.viewing_lines as f64 / wall,
        records_per_second: data.total_lines as f64 / wall,
        peak_rss_kb,
        base_rss_kb,
        peak_reset,
        viewing_read,
        records_read: summary.records_read(),
        dead_letters: summary.dead_letter_count(),
        tables: summary.tables.len(),
    };
    Ok((run, out))
}

fn own_status_kb(key: &str) -> Option<u64> {
    field_kb(&std::fs::read_to_string("/proc/self/status").ok()?, key)
}

/// The number of kB after `key` in a /proc file of `Key:   123 kB` lines.
fn field_kb(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        line.strip_prefix(key)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

#[derive(Debug)]
struct Medians {
    wall_seconds: f64,
    dataflow_seconds: f64,
    viewing_per_second: f64,
    records_per_second: f64,
    peak_rss_kb: Option<u64>,
}

impl Medians {
    fn of(runs: &[Run], data: &Data) -> Medians {
        let wall = median(runs.iter().map(|run| run.wall_seconds));
        Medians {
            wall_seconds: wall,
            dataflow_seconds: median(runs.iter().map(|run| run.dataflow_seconds)),
            viewing_per_second: data.viewing_lines as f64 / wall,
            records_per_second: data.total_lines as f64 / wall,
            peak_rss_kb: median_kb(runs.iter().map(|run| run.peak_rss_kb)),
        }
    }

    fn verdict(&self) -> &'static str {
        if self.viewing_per_second >= TARGET_VIEWING_PER_SECOND {
            "PASS"
        } else {
            "BELOW"
        }
    }
}

// ----------------------------------------------------------------- peer

#[derive(Debug)]
enum PeerStatus {
    Ready,
    Skipped(String),
    Unavailable(String),
    Failed(String),
}

#[derive(Debug)]
struct Peer {
    script: PathBuf,
    status: PeerStatus,
    version: Option<String>,
}

#[derive(Debug)]
struct PeerRun {
    seconds: f64,
    process_seconds: f64,
    peak_rss_kb: Option<u64>,
}

impl Peer {
    fn skipped(why: &str) -> Peer {
        Peer {
            script: PathBuf::new(),
            status: PeerStatus::Skipped(why.to_string()),
            version: None,
        }
    }

    /// Finds python3 with duckdb, installing duckdb once if it is missing.
    fn find(workspace: &Path) -> Peer {
        let script = workspace.join("benches/peers/duckdb_engagement.py");
        let mut peer = Peer {
            script,
            status: PeerStatus::Ready,
            version: None,
        };
        if !peer.script.is_file() {
            peer.status = PeerStatus::Unavailable(format!("{} is missing", peer.script.display()));
            return peer;
        }
        match duckdb_version() {
            Ok(version) => peer.version = Some(version),
            Err(first) => {
                println!(
                    "peer: python3 cannot import duckdb ({first}); trying python3 -m pip install --quiet duckdb"
                );
                let installed = Command::new("python3")
                    .args(["-m", "pip", "install", "--quiet", "duckdb"])
                    .stdin(Stdio::null())
                    .status();
                match (installed, duckdb_version()) {
                    (_, Ok(version)) => peer.version = Some(version),
                    (Ok(status), Err(error)) => {
                        peer.status = PeerStatus::Unavailable(format!(
                            "pip install duckdb exited with {status}; import still fails: {error}"
                        ))
                    }
                    (Err(spawn), Err(_)) => {
                        peer.status =
                            PeerStatus::Unavailable(format!("cannot run python3 -m pip: {spawn}"))
                    }
                }
            }
        }
        peer
    }

    fn usable(&self) -> bool {
        matches!(self.status, PeerStatus::Ready)
    }

    fn describe(&self) -> String {
        match &self.status {
            PeerStatus::Ready => format!(
                "DuckDB {} via {}",
                self.version.as_deref().unwrap_or("?"),
                self.script.display()
            ),
            PeerStatus::Skipped(why) => format!("skipped ({why})"),
            PeerStatus::Unavailable(why) => format!("UNAVAILABLE, continuing without it: {why}"),
            PeerStatus::Failed(why) => format!("FAILED: {why}"),
        }
    }

    fn run(&self, data: &Data, threads: usize) -> Result<(PeerRun, tempfile::TempDir)> {
        let out = tempfile::Builder::new()
            .prefix("duckdb-bench-out")
            .tempdir()?;
        let started = Instant::now();
        let mut child = Command::new("python3")
            .arg(&self.script)
            .arg(&data.dir)
            .arg(out.path())
            .args(["--threads", &threads.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting python3")?;
        // Read the pipes on their own threads so a chatty child never blocks.
        let stdout = child.stdout.take().map(read_in_background);
        let stderr = child.stderr.take().map(read_in_background);
        let status_path = format!("/proc/{}/status", child.id());
        let mut peak_rss_kb = None;
        let status = loop {
            if let Some(kb) = std::fs::read_to_string(&status_path)
                .ok()
                .and_then(|text| field_kb(&text, "VmHWM:"))
            {
                peak_rss_kb = Some(kb.max(peak_rss_kb.unwrap_or(0)));
            }
            if let Some(status) = child.try_wait()? {
                break status;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let process_seconds = started.elapsed().as_secs_f64();
        let stdout = stdout
            .map(|handle| handle.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = stderr
            .map(|handle| handle.join().unwrap_or_default())
            .unwrap_or_default();
        if !status.success() {
            bail!(
                "{} exited with {status}: {}",
                self.script.display(),
                last_lines(&stderr, 5)
            );
        }
        let seconds = stdout
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .and_then(|line| line.trim().parse::<f64>().ok())
            .with_context(|| {
                format!(
                    "the peer printed no seconds on its last line: {}",
                    last_lines(&stdout, 3)
                )
            })?;
        Ok((
            PeerRun {
                seconds,
                process_seconds,
                peak_rss_kb,
            },
            out,
        ))
    }
}

fn duckdb_version() -> Result<String, String> {
    let output = Command::new("python3")
        .args(["-c", "import duckdb; print(duckdb.__version__)"])
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run python3: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(last_lines(&String::from_utf8_lossy(&output.stderr), 1))
    }
}

fn read_in_background(
    mut pipe: impl std::io::Read + Send + 'static,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[derive(Debug)]
struct PeerMedians {
    seconds: f64,
    process_seconds: f64,
    viewing_per_second: f64,
    peak_rss_kb: Option<u64>,
}

impl PeerMedians {
    fn of(runs: &[PeerRun], data: &Data) -> Option<PeerMedians> {
        if runs.is_empty() {
            return None;
        }
        let seconds = median(runs.iter().map(|run| run.seconds));
        Some(PeerMedians {
            seconds,
            process_seconds: median(runs.iter().map(|run| run.process_seconds)),
            viewing_per_second: data.viewing_lines as f64 / seconds,
            peak_rss_kb: median_kb(runs.iter().map(|run| run.peak_rss_kb)),
        })
    }
}

// ----------------------------------------------------------- comparison

#[derive(Debug)]
struct Comparison {
    agree: bool,
    weeks_ours: Vec<String>,
    weeks_theirs: Vec<String>,
    /// One line per difference.
    differences: Vec<String>,
    error: Option<String>,
}

/// Compares the weekly engagement of streamflix (`ours`) and the peer.
fn compare_weekly(ours: &Path, theirs: &Path) -> Comparison {
    let (ours, theirs) = match (read_csv(ours), read_csv(theirs)) {
        (Ok(ours), Ok(theirs)) => (ours, theirs),
        (ours, theirs) => {
            let error = [ours.err(), theirs.err()]
                .into_iter()
                .flatten()
                .map(|e| format!("{e:#}"))
                .collect::<Vec<_>>()
                .join("; ");
            return Comparison {
                agree: false,
                weeks_ours: vec![],
                weeks_theirs: vec![],
                differences: vec![],
                error: Some(error),
            };
        }
    };
    let mut differences = Vec::new();
    let weeks_ours: Vec<String> = ours.keys().cloned().collect();
    let weeks_theirs: Vec<String> = theirs.keys().cloned().collect();
    for week in weeks_ours.iter().filter(|week| !theirs.contains_key(*week)) {
        differences.push(format!("week {week}: only in streamflix"));
    }
    for week in weeks_theirs.iter().filter(|week| !ours.contains_key(*week)) {
        differences.push(format!("week {week}: only in duckdb"));
    }
    let mut agree = differences.is_empty();
    for (week, row) in &ours {
        let Some(other) = theirs.get(week) else {
            continue;
        };
        for column in ["wau", "mau", "sessions", "avg_dau", "hours_watched"] {
            let exact = matches!(column, "wau" | "mau" | "sessions");
            let (a, b) = (number(row, column), number(other, column));
            let same = match (a, b) {
                (Some(a), Some(b)) if exact => a == b,
                (Some(a), Some(b)) => {
                    (a - b).abs() <= RELATIVE_TOLERANCE * a.abs().max(b.abs()).max(1e-9)
                }
                (None, None) => true,
                _ => false,
            };
            if !same {
                agree = false;
                differences.push(format!(
                    "week {week}: {column} streamflix {} duckdb {}",
                    row.get(column).map_or("(missing)", String::as_str),
                    other.get(column).map_or("(missing)", String::as_str)
                ));
            }
        }
    }
    Comparison {
        agree,
        weeks_ours,
        weeks_theirs,
        differences,
        error: None,
    }
}

/// A small CSV reader for the two weekly tables (no quoted fields there).
fn read_csv(path: &Path) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .context("empty file")?
        .split(',')
        .map(|h| h.trim().trim_matches('"').to_string())
        .collect();
    let key = header.first().cloned().context("no columns")?;
    let mut rows = BTreeMap::new();
    for line in lines.filter(|line| !line.trim().is_empty()) {
        let row: BTreeMap<String, String> = header
            .iter()
            .cloned()
            .zip(
                line.split(',')
                    .map(|cell| cell.trim().trim_matches('"').to_string()),
            )
            .collect();
        let week = row.get(&key).cloned().unwrap_or_default();
        // Dates only: a timestamp week (2026-10-05 00:00:00) counts as its date.
        rows.insert(week.chars().take(10).collect(), row);
    }
    Ok(rows)
}

fn number(row: &BTreeMap<String, String>, column: &str) -> Option<f64> {
    row.get(column).and_then(|cell| cell.parse::<f64>().ok())
}

impl Comparison {
    fn verdict(&self) -> String {
        match (&self.error, self.agree) {
            (Some(error), _) => format!("could not compare: {error}"),
            (None, true) => format!(
                "AGREE ({} weeks; wau, mau, sessions equal; avg_dau, hours_watched within 0.1 %)",
                self.weeks_ours.len()
            ),
            (None, false) => format!("DISAGREE ({} differences)", self.differences.len()),
        }
    }

    fn json(&self) -> Value {
        json!({
            "agree": self.agree,
            "weeks_streamflix": self.weeks_ours,
            "weeks_duckdb": self.weeks_theirs,
            "differences": self.differences,
            "error": self.error,
        })
    }
}

// --------------------------------------------------------------- report

struct Report<'a> {
    knobs: &'a Knobs,
    machine: &'a Machine,
    data: &'a Data,
    runs: &'a [Run],
    medians: &'a Medians,
    peer: &'a Peer,
    peer_runs: &'a [PeerRun],
    peer_medians: &'a Option<PeerMedians>,
    comparison: Option<&'a Comparison>,
}

impl Report<'_> {
    fn ratio(&self) -> Option<f64> {
        self.peer_medians
            .as_ref()
            .map(|peer| self.medians.viewing_per_second / peer.viewing_per_second)
    }

    fn summary_text(&self) -> String {
        let m = self.medians;
        let mut text = String::new();
        let _ = writeln!(text, "{}", self.knobs.label());
        let _ = writeln!(
            text,
            "streamflix median of {}: {:.2} s wall ({:.2} s dataflow), {} viewing ev/s, {} records/s, peak RSS {}",
            self.runs.len(),
            m.wall_seconds,
            m.dataflow_seconds,
            thousands(m.viewing_per_second),
            thousands(m.records_per_second),
            megabytes(m.peak_rss_kb)
        );
        let _ = writeln!(
            text,
            "target: {} viewing ev/s with 2 workers: {} {} ({:.0} % of target, {} workers)",
            thousands(TARGET_VIEWING_PER_SECOND),
            thousands(m.viewing_per_second),
            m.verdict(),
            100.0 * m.viewing_per_second / TARGET_VIEWING_PER_SECOND,
            self.knobs.workers
        );
        match self.peer_medians {
            Some(peer) => {
                let _ = writeln!(
                    text,
                    "duckdb median of {}: {:.2} s ({:.2} s process wall), {} viewing ev/s, peak RSS {}",
                    self.peer_runs.len(),
                    peer.seconds,
                    peer.process_seconds,
                    thousands(peer.viewing_per_second),
                    megabytes(peer.peak_rss_kb)
                );
                let _ = writeln!(
                    text,
                    "streamflix / duckdb viewing ev/s: {:.2}x (streamflix computes every table, duckdb only engagement)",
                    self.ratio().unwrap_or(f64::NAN)
                );
            }
            None => {
                let _ = writeln!(text, "duckdb: no runs ({})", self.peer.describe());
            }
        }
        if let Some(comparison) = self.comparison {
            let _ = writeln!(
                text,
                "engagement_weekly streamflix vs duckdb: {}",
                comparison.verdict()
            );
            for difference in comparison.differences.iter().take(20) {
                let _ = writeln!(text, "  {difference}");
            }
            if comparison.differences.len() > 20 {
                let _ = writeln!(
                    text,
                    "  ... {} more in the JSON results",
                    comparison.differences.len() - 20
                );
            }
        }
        text
    }

    fn json(&self, commit: Option<&str>) -> Value {
        let m = self.medians;
        json!({
            "benchmark": "replay_throughput",
            "label": self.knobs.label(),
            "reference_size": self.knobs.is_reference(),
            "when": jiff::Timestamp::now().to_string(),
            "commit": commit,
            "machine": self.machine.json(),
            "knobs": {
                "subscribers": self.knobs.subscribers,
                "days": self.knobs.days,
                "seed": self.knobs.seed,
                "workers": self.knobs.workers,
                "runs": self.knobs.runs,
                "retention_days": self.knobs.retention_days,
            },
            "data": self.data.json(),
            "target": {
                "viewing_events_per_second": TARGET_VIEWING_PER_SECOND,
                "workers": 2,
                "verdict": m.verdict(),
            },
            "streamflix": {
                "runs": self.runs.iter().map(Run::json).collect::<Vec<_>>(),
                "median": {
                    "wall_seconds": round(m.wall_seconds, 3),
                    "dataflow_seconds": round(m.dataflow_seconds, 3),
                    "viewing_events_per_second": m.viewing_per_second.round(),
                    "records_per_second": m.records_per_second.round(),
                    "peak_rss_mb": m.peak_rss_kb.map(|kb| round(kb as f64 / 1024.0, 1)),
                },
                "peak_memory_method": "VmHWM of /proc/self/status after writing 5 to /proc/self/clear_refs before each run; the base is VmRSS at the reset",
            },
            "peer": {
                "engine": "duckdb",
                "status": self.peer.describe(),
                "version": self.peer.version,
                "threads": self.knobs.workers,
                "runs": self.peer_runs.iter().map(|run| json!({
                    "seconds": round(run.seconds, 3),
                    "process_seconds": round(run.process_seconds, 3),
                    "viewing_events_per_second": (self.data.viewing_lines as f64 / run.seconds).round(),
                    "peak_rss_mb": run.peak_rss_kb.map(|kb| round(kb as f64 / 1024.0, 1)),
                })).collect::<Vec<_>>(),
                "median": self.peer_medians.as_ref().map(|peer| json!({
                    "seconds": round(peer.seconds, 3),
                    "process_seconds": round(peer.process_seconds, 3),
                    "viewing_events_per_second": peer.viewing_per_second.round(),
                    "peak_rss_mb": peer.peak_rss_kb.map(|kb| round(kb as f64 / 1024.0, 1)),
                })),
                "streamflix_over_duckdb_viewing_per_second": self.ratio().map(|r| round(r, 3)),
                "weekly_comparison": self.comparison.map(Comparison::json),
            },
        })
    }

    fn markdown(&self, commit: Option<&str>) -> String {
        let m = self.medians;
        let mut md = String::new();
        let _ = writeln!(md, "# replay_throughput\n");
        let _ = writeln!(md, "**{}**\n", self.knobs.label());
        let _ = writeln!(
            md,
            "Written by `cargo bench -p streamflix-benches` (benches/benches/replay_throughput.rs) on {}, commit {}.\n",
            jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
            commit.unwrap_or("unknown")
        );
        let _ = writeln!(
            md,
            "Machine: {}, {} cores, {:.1} GiB.\n",
            self.machine.cpu, self.machine.cores, self.machine.memory_gb
        );
        let _ = writeln!(
            md,
            "Data: {} subscribers x {} days, seed {}: {} lines, {:.1} MB; viewing {} lines, {:.1} MB. Retention: {}.\n",
            self.knobs.subscribers,
            self.knobs.days,
            self.knobs.seed,
            thousands(self.data.total_lines as f64),
            mb(self.data.total_bytes),
            thousands(self.data.viewing_lines as f64),
            self.data
                .feeds
                .iter()
                .find(|(feed, _, _)| feed == "viewing")
                .map_or(0.0, |(_, _, bytes)| mb(*bytes)),
            self.knobs.retention(),
        );
        let _ = writeln!(
            md,
            "| engine | runs | median s | viewing ev/s | records/s | peak RSS |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            md,
            "| streamflix ({} workers) | {} | {:.2} | {} | {} | {} |",
            self.knobs.workers,
            self.runs.len(),
            m.wall_seconds,
            thousands(m.viewing_per_second),
            thousands(m.records_per_second),
            megabytes(m.peak_rss_kb)
        );
        match self.peer_medians {
            Some(peer) => {
                let _ = writeln!(
                    md,
                    "| duckdb ({} threads, engagement only) | {} | {:.2} | {} | | {} |",
                    self.knobs.workers,
                    self.peer_runs.len(),
                    peer.seconds,
                    thousands(peer.viewing_per_second),
                    megabytes(peer.peak_rss_kb)
                );
            }
            None => {
                let _ = writeln!(md, "| duckdb | 0 | | | | |");
            }
        }
        let _ = writeln!(
            md,
            "\nTarget {} viewing ev/s with 2 workers: **{}** ({:.0} %).",
            thousands(TARGET_VIEWING_PER_SECOND),
            m.verdict(),
            100.0 * m.viewing_per_second / TARGET_VIEWING_PER_SECOND
        );
        if let Some(ratio) = self.ratio() {
            let _ = writeln!(md, "streamflix / duckdb viewing ev/s: {ratio:.2}x.");
        } else {
            let _ = writeln!(md, "Peer: {}.", self.peer.describe());
        }
        if let Some(comparison) = self.comparison {
            let _ = writeln!(md, "engagement_weekly vs duckdb: {}.", comparison.verdict());
            for difference in comparison.differences.iter().take(10) {
                let _ = writeln!(md, "- {difference}");
            }
        }
        let _ = writeln!(
            md,
            "\nWall seconds include decoding the JSONL and writing every table; peak RSS is VmHWM after resetting it via /proc/self/clear_refs (duckdb: sampled VmHWM of the python process). Every run is in replay_throughput.json."
        );
        md
    }
}

/// The commit measured, marked when tracked files differ from it.
fn git_commit(workspace: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .arg("-C")
            .arg(workspace)
            .args(args)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|changes| !changes.is_empty());
    Some(if dirty {
        format!("{commit} + uncommitted changes")
    } else {
        commit
    })
}

// -------------------------------------------------------------- numbers

fn median_kb(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    let values: Vec<f64> = values.flatten().map(|kb| kb as f64).collect();
    (!values.is_empty()).then(|| median(values.into_iter()).round() as u64)
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn megabytes(kb: Option<u64>) -> String {
    kb.map_or_else(
        || "n/a".to_string(),
        |kb| format!("{:.0} MiB", kb as f64 / 1024.0),
    )
}

/// 1234567.8 as "1,234,568".
fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".to_string();
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}
