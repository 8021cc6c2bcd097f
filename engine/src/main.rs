//! The `streamflix` binary: generate, replay, demo, produce, run.

use std::path::PathBuf;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use streamflix_connectors::kafka::produce::produce_directory;
use streamflix_engine::api::RunbooksDesk;
use streamflix_engine::clock::{HorizonDays, Retention};
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::config::ServiceConfig;
use streamflix_engine::demo::{DemoPaths, failing_checks, render, render_transposed};
use streamflix_engine::incidents::{IncidentDesk, assess_replay, load_runbooks};
use streamflix_engine::replay::{ReplayOptions, ReplaySummary, TableFormat, replay};
use streamflix_engine::service;
use streamflix_generator::{GeneratorConfig, generate};
use streamflix_model::Calendar;
use streamflix_runbooks::store::StateFiles;
use streamflix_runbooks::{Cause, OperatorVerb, Runbooks};

#[derive(Debug, Parser)]
#[command(
    name = "streamflix",
    version,
    about = "Streamflix's core metrics, kept current by a streaming dataflow engine."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a deterministic synthetic Streamflix as JSONL feeds.
    Generate {
        /// Directory to write `<feed>.jsonl` files into.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 2_000)]
        subscribers: u64,
        #[arg(long, default_value_t = 28)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First day, YYYY-MM-DD (default 2026-10-05, a Monday).
        #[arg(long)]
        start: Option<String>,
        /// Generate clean data: no duplicates, flags, bots, late or malformed records, no FX gap.
        #[arg(long)]
        no_faults: bool,
    },
    /// Run every pipeline over a directory of JSONL feeds and write the tables.
    Replay {
        /// Directory holding `<feed>.jsonl` files (a missing file is an empty feed).
        #[arg(long)]
        input: PathBuf,
        /// Directory to write `<table>.csv` and `dead_letters.jsonl` into.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        common: RunArgs,
    },
    /// Generate a few weeks of Streamflix, replay it, and print the weekly engagement and growth snapshots, the month-to-date profit and the failing checks.
    Demo {
        /// Working directory for the generated feeds and the tables.
        #[arg(long, default_value = "streamflix-demo")]
        dir: PathBuf,
        #[arg(long, default_value_t = 2_000)]
        subscribers: u64,
        #[arg(long, default_value_t = 28)]
        days: u32,
        /// Inject a fault into the generated feeds, to see the incidents it opens.
        #[arg(long, value_enum)]
        fault: Option<Fault>,
        /// Then serve the query API and the dashboards until Ctrl-C.
        #[arg(long)]
        serve: bool,
        /// Where to serve with --serve (default: api.bind, 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// A service configuration whose [api] tokens to use with --serve
        /// (default: three fresh tokens, one per role, printed).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        common: RunArgs,
    },
    /// Show each pipeline: last publication, freshness, checks, open
    /// incidents and who is on call.
    Status {
        /// State directory: the service's snapshots directory, or a
        /// replay's output directory (default: snapshots.dir of the configuration).
        #[arg(long)]
        state: Option<PathBuf>,
        /// Service configuration, for snapshots.dir and [runbooks].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the view as JSON instead.
        #[arg(long)]
        json: bool,
        /// Evaluate at this instant (RFC 3339) instead of now (or, for a
        /// replay's state, the end of its data).
        #[arg(long)]
        now: Option<String>,
    },
    /// Acknowledge or resolve an incident.
    Incident {
        #[command(subcommand)]
        action: IncidentCommand,
    },
    /// Load the `<feed>.jsonl` files of a directory into their Kafka topics.
    Produce {
        /// Directory holding `<feed>.jsonl` files.
        #[arg(long)]
        input: PathBuf,
        /// Service configuration (for the broker, topic names and security).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the long-running service: consume every feed topic, keep every
    /// table current, publish snapshots. SIGTERM or Ctrl-C stops it cleanly.
    Run {
        /// A TOML file over the defaults (see engine/config/default.toml);
        /// STREAMFLIX_<SECTION>__<KEY> environment variables override both.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Stop once every partition has been read up to where it ended at
        /// start-up, after publishing what is due.
        #[arg(long)]
        until_caught_up: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Print the service's compiled-in default configuration.
    DefaultConfig,
}

#[derive(Debug, Subcommand)]
enum IncidentCommand {
    /// Acknowledge incident ID: its escalation stops.
    Ack(IncidentArgs),
    /// Resolve incident ID.
    Resolve(IncidentArgs),
}

#[derive(Debug, clap::Args)]
struct IncidentArgs {
    /// The incident's number, as `streamflix status` shows it.
    id: u64,
    /// Who acts (a contact key such as A, or a name; default $USER).
    #[arg(long)]
    by: Option<String>,
    /// State directory, as for `status`.
    #[arg(long)]
    state: Option<PathBuf>,
    #[arg(long)]
    config: Option<PathBuf>,
}

/// A fault `demo --fault` injects into the generated feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Fault {
    /// FX rates stop half-way through the viewing range.
    FxStopped,
    /// Billing stops half-way through the viewing range.
    BillingStopped,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Business time zone of days, weeks and months.
    #[arg(long, default_value = streamflix_model::calendar::DEFAULT_TIME_ZONE, env = "STREAMFLIX_TIME_ZONE")]
    time_zone: String,
    /// Table formats to write: csv, parquet, arrow (repeatable).
    #[arg(long = "format", value_enum, default_values_t = vec![TableFormat::Csv])]
    formats: Vec<TableFormat>,
    /// Freeze periods this many days after their end and drop their
    /// state, for every feed (default: keep everything, restate anything).
    #[arg(long)]
    retention_days: Option<u32>,
    /// Records a worker reads before it advances the epoch: larger batches
    /// cost less CPU, smaller ones less memory.
    #[arg(long, default_value_t = streamflix_engine::replay::DEFAULT_BATCH_RECORDS)]
    batch_records: usize,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    /// Runbooks to assess the result with (default: the compiled-in
    /// engine/config/pipelines.toml).
    #[arg(long)]
    pipelines: Option<PathBuf>,
}

impl RunArgs {
    fn options(&self, input: PathBuf, out: PathBuf) -> Result<ReplayOptions> {
        let mut options = ReplayOptions::new(input, out);
        options.cluster = self.cluster.clone();
        let calendar = Calendar::new(&self.time_zone)?;
        options.settings.retention = self
            .retention_days
            .map(|days| Retention::new(HorizonDays::uniform(days), calendar.clone()));
        options.settings.calendar = calendar;
        options.formats = self.formats.clone();
        options.batch_records = self.batch_records;
        options.progress = !self.quiet;
        Ok(options)
    }
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STREAMFLIX_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Generate {
            out,
            subscribers,
            days,
            seed,
            start,
            no_faults,
        } => {
            let config = generator_config(subscribers, days, seed, start.as_deref(), no_faults)?;
            let summary = generate(&config, &out)
                .with_context(|| format!("generating into {}", out.display()))?;
            eprintln!(
                "wrote {} feeds to {} ({} bytes)",
                summary.lines_per_feed.len(),
                out.display(),
                summary.bytes
            );
            for (feed, lines) in &summary.lines_per_feed {
                eprintln!("  {feed:<24} {lines:>10} lines");
            }
        }
        Command::Replay { input, out, common } => {
            let process = common.cluster.process;
            let runbooks = load_runbooks(common.pipelines.as_deref())?;
            let options = common.options(input.clone(), out.clone())?;
            let summary = replay(&options)?;
            print_summary(&summary);
            if process == 0 {
                assess(runbooks, &summary, &input, &out, &options)?;
            }
            if process != 0 {
                eprintln!(
                    "  (process {process}: outputs gather on process 0, which writes the tables)"
                );
            }
        }
        Command::Demo {
            dir,
            subscribers,
            days,
            fault,
            serve,
            bind,
            config: api_config,
            common,
        } => {
            let runbooks = load_runbooks(common.pipelines.as_deref())?;
            let paths = DemoPaths::under(&dir);
            let config = generator_config(subscribers, days, 1, None, false)?;
            eprintln!(
                "generating {subscribers} subscribers over {days} days into {}",
                paths.input.display()
            );
            generate(&config, &paths.input)
                .with_context(|| format!("generating into {}", paths.input.display()))?;
            if let Some(fault) = fault {
                inject(fault, &paths.input, &config)?;
            }
            let options = common.options(paths.input.clone(), paths.out.clone())?;
            let summary = replay(&options)?;
            print_summary(&summary);
            if let Some(weekly) = summary.table("engagement_weekly") {
                println!("\nWeekly engagement snapshot (engagement_weekly):\n");
                println!("{}", render(weekly));
            }
            if let Some(weekly) = summary.table("growth_weekly") {
                println!("Weekly growth snapshot (growth_weekly):\n");
                println!("{}", render(weekly));
            }
            if let Some(monthly) = summary.table("profit_monthly") {
                println!(
                    "Monthly profit snapshot (profit_monthly; the last month is month to date):\n"
                );
                println!("{}", render_transposed(monthly));
            }
            if let Some(checks) = summary.table("checks") {
                let failing = failing_checks(checks);
                if failing.rows.is_empty() {
                    println!("Failing checks: none\n");
                } else {
                    println!(
                        "Failing checks ({} of {}):\n",
                        failing.rows.len(),
                        checks.rows.len()
                    );
                    println!("{}", render(&failing));
                }
            }
            println!("All tables are in {}", paths.out.display());
            assess(
                runbooks.clone(),
                &summary,
                &paths.input,
                &paths.out,
                &options,
            )?;
            if serve {
                let mut api = ServiceConfig::load(api_config.as_deref())?.api;
                if let Some(bind) = bind {
                    api.bind = bind;
                }
                if api.tokens.is_empty() {
                    api.tokens = demo_tokens();
                }
                let shared = streamflix_api::Shared::new();
                let calendar = Calendar::new(&common.time_zone)?;
                let first = streamflix_model::Day::parse(&config.start.to_string())
                    .context("the generator's first day")?;
                let published = streamflix_engine::demo::publish_replayed(
                    &summary,
                    &calendar,
                    first.plus(days as i32 - 1),
                    shared.clone(),
                );
                let desk = IncidentDesk::new(runbooks, StateFiles::new(&paths.out));
                let server = streamflix_api::ApiServer::start(
                    &api,
                    shared.clone(),
                    RunbooksDesk::providers(desk),
                )?;
                print_api(&server.url(), &api, published);
                let stop = Arc::new(AtomicBool::new(false));
                for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
                    signal_hook::flag::register(signal, stop.clone())
                        .context("installing the signal handler")?;
                }
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                server.stop();
                eprintln!("stopped serving");
            }
        }
        Command::Produce { input, config } => {
            let config = ServiceConfig::load(config.as_deref())?;
            if !input.is_dir() {
                anyhow::bail!(
                    "input directory {} does not exist: pass the folder that holds <feed>.jsonl files (streamflix generate writes one)",
                    input.display()
                );
            }
            let started = std::time::Instant::now();
            let produced = produce_directory(&config.kafka, &input, |total| {
                tracing::info!(total, "produced");
            })
            .with_context(|| {
                format!(
                    "producing {} to {}",
                    input.display(),
                    config.kafka.bootstrap
                )
            })?;
            let total: u64 = produced.values().sum();
            eprintln!(
                "produced {total} messages to {} in {:.2?}",
                config.kafka.bootstrap,
                started.elapsed()
            );
            for (feed, count) in &produced {
                eprintln!(
                    "  {:<24} {count:>10}  -> {}",
                    feed.name(),
                    config.kafka.topic(*feed)
                );
            }
        }
        Command::Run {
            config,
            until_caught_up,
            cluster,
        } => {
            let mut config = ServiceConfig::load(config.as_deref())?;
            config.service.until_caught_up |= until_caught_up;
            let stop = Arc::new(AtomicBool::new(false));
            for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
                signal_hook::flag::register(signal, stop.clone())
                    .context("installing the signal handler")?;
            }
            eprintln!(
                "streamflix run: reading {} topics on {}, snapshots to {} and {}",
                streamflix_model::Feed::ALL.len(),
                config.kafka.bootstrap,
                config.kafka.snapshots_topic,
                config.snapshots.dir.display()
            );
            let (server, shared) = if config.api.enabled && cluster.process == 0 {
                let shared = streamflix_api::Shared::new();
                let desk = IncidentDesk::new(
                    load_runbooks(config.runbooks.pipelines_file())?,
                    StateFiles::new(&config.snapshots.dir),
                );
                let server = streamflix_api::ApiServer::start(
                    &config.api,
                    shared.clone(),
                    RunbooksDesk::providers(desk),
                )?;
                eprintln!(
                    "query API and dashboards on {} (openapi: {}/v1/openapi.json)",
                    server.url(),
                    server.url()
                );
                (Some(server), Some(shared))
            } else {
                (None, None)
            };
            let summary = service::run_with_api(&config, &cluster, stop, shared)?;
            drop(server);
            eprintln!(
                "streamflix run stopped: {} messages read, {} dead letters ({} more sent by an earlier run), {} snapshot revisions published",
                summary.messages,
                summary.dead_letters,
                summary.dead_letters_already_sent,
                summary.revisions_published
            );
        }
        Command::DefaultConfig => print!("{}", streamflix_engine::config::DEFAULT_TOML),
        Command::Status {
            state,
            config,
            json,
            now,
        } => {
            let desk = state_of(state, config.as_deref())?;
            let now = match now {
                Some(text) => Some(
                    text.parse::<jiff::Timestamp>()
                        .with_context(|| format!("--now {text} is not an RFC 3339 instant"))?,
                ),
                None => None,
            };
            let view = desk.status(now)?;
            let (runbooks, files) = (&desk.runbooks, &desk.files);
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print!("{}", view.render(runbooks));
                if !files.book_path().exists() {
                    println!(
                        "\n(no incident state in {} yet: run the service or a replay there)",
                        files.dir.display()
                    );
                }
            }
        }
        Command::Incident { action } => {
            let (verb, args) = match action {
                IncidentCommand::Ack(args) => (OperatorVerb::Ack, args),
                IncidentCommand::Resolve(args) => (OperatorVerb::Resolve, args),
            };
            let desk = state_of(args.state, args.config.as_deref())?;
            let by = args
                .by
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "operator".into());
            let incident = desk.act(args.id, verb, &by)?;
            eprintln!(
                "incident {} ({}) is now {:?}, held by {}",
                args.id,
                incident.dedup_key,
                incident.state,
                incident.holder.as_deref().unwrap_or("nobody")
            );
        }
    }
    Ok(())
}

/// The runbooks and the state files a `status` or `incident` command uses.
fn state_of(state: Option<PathBuf>, config: Option<&std::path::Path>) -> Result<IncidentDesk> {
    let config = ServiceConfig::load(config)?;
    let runbooks = load_runbooks(config.runbooks.pipelines_file())?;
    let dir = state.unwrap_or_else(|| config.snapshots.dir.clone());
    Ok(IncidentDesk::new(runbooks, StateFiles::new(dir)))
}

/// Assesses a finished replay against the runbooks and says what it found.
fn assess(
    runbooks: Arc<Runbooks>,
    summary: &ReplaySummary,
    input: &std::path::Path,
    out: &std::path::Path,
    options: &ReplayOptions,
) -> Result<()> {
    let refused = summary
        .dead_letters
        .iter()
        .filter(|((_, kind), _)| kind == streamflix_engine::incidents::BEYOND_RETENTION)
        .map(|((feed, _), count)| (*feed, *count))
        .collect();
    let Some(assessment) = assess_replay(
        runbooks,
        &summary.tables,
        &refused,
        input,
        out,
        &options.settings.calendar,
        streamflix_engine::clock::DEFAULT_LATENESS_MS,
    )?
    else {
        eprintln!("\nno event time in the input: runbooks not assessed (no data clock)");
        return Ok(());
    };
    let mut open: Vec<_> = assessment
        .book
        .incidents
        .values()
        .filter(|incident| incident.is_open())
        .collect();
    // Stalls, lateness and restatements first: a demo's injected fault
    // should not hide behind the checks its generated data fails anyway.
    open.sort_by_key(|incident| {
        (
            incident.severity,
            matches!(incident.cause, Cause::CheckFailed { .. }),
            incident.id,
        )
    });
    eprintln!(
        "\nrunbooks at the end of the data ({}): {} open incidents",
        assessment.runbooks.format_local(assessment.now),
        open.len()
    );
    for incident in open.iter().take(12) {
        eprintln!(
            "  #{:<3} {} {:<22} held by {:<24} {}",
            incident.id,
            incident.severity,
            incident.pipeline,
            incident
                .holder
                .as_deref()
                .map(|holder| assessment.runbooks.person(holder))
                .unwrap_or_else(|| "nobody".into()),
            incident.summary
        );
    }
    if open.len() > 12 {
        eprintln!("  ... and {} more", open.len() - 12);
    }
    eprintln!(
        "  incident log: {}; details: streamflix status --state {}",
        assessment.files.log_path().display(),
        out.display()
    );
    Ok(())
}

/// Cuts a feed file off half-way through the viewing range.
fn inject(fault: Fault, input: &std::path::Path, config: &GeneratorConfig) -> Result<()> {
    let (feed, field) = match fault {
        Fault::FxStopped => ("fx_rates", "\"date\":\""),
        Fault::BillingStopped => ("billing", "\"event_time\":\""),
    };
    let cutoff = config
        .start
        .checked_add(jiff::Span::new().days(i64::from(config.days / 2)))
        .context("the fault's date is out of range")?
        .to_string();
    let path = input.join(format!("{feed}.jsonl"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut kept = String::with_capacity(text.len());
    let mut dropped = 0;
    for line in text.lines() {
        let date = line
            .find(field)
            .and_then(|at| line.get(at + field.len()..at + field.len() + 10));
        if date.is_some_and(|date| date >= cutoff.as_str()) {
            dropped += 1;
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    std::fs::write(&path, kept).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("fault {fault:?}: {feed} stops at {cutoff} ({dropped} records removed)");
    Ok(())
}

/// One fresh token per role for the demo, 128 random bits each.
fn demo_tokens() -> Vec<streamflix_api::TokenConfig> {
    use rand::Rng;
    streamflix_api::Role::ALL
        .iter()
        .map(|role| {
            let bits: u128 = rand::rng().random();
            streamflix_api::TokenConfig {
                name: format!("demo-{}", role.name()),
                role: *role,
                token: format!("{}-{bits:032x}", role.name()),
            }
        })
        .collect()
}

/// The URLs and tokens a demo user needs: printed to the terminal of the
/// person who started the demo (never logged).
fn print_api(url: &str, api: &streamflix_api::ApiConfig, published: usize) {
    let token = |role: streamflix_api::Role| {
        api.tokens
            .iter()
            .find(|t| t.role == role)
            .map(|t| t.token.clone())
            .unwrap_or_else(|| "<none configured>".into())
    };
    let investor = token(streamflix_api::Role::Investor);
    let experiment = token(streamflix_api::Role::Experiment);
    let operator = token(streamflix_api::Role::Operator);
    println!(
        "\nQuery API and dashboards on {url} ({published} snapshots published; later periods provisional)\n"
    );
    println!("  investor dashboard:   {url}/dashboards/investor#token={investor}");
    println!("  experiment dashboard: {url}/dashboards/experiment#token={experiment}");
    println!("  OpenAPI:              {url}/v1/openapi.json");
    println!(
        "\n  tokens: investor {investor}\n          experiment {experiment}\n          operator {operator}\n"
    );
    println!(
        "  curl -H 'Authorization: Bearer {investor}' '{url}/v1/tables/growth_weekly?format=csv'"
    );
    println!("  curl -H 'Authorization: Bearer {operator}' {url}/v1/incidents");
    println!("  curl -H 'Authorization: Bearer {operator}' {url}/metrics");
    println!("\nServing until Ctrl-C.");
}

fn generator_config(
    subscribers: u64,
    days: u32,
    seed: u64,
    start: Option<&str>,
    no_faults: bool,
) -> Result<GeneratorConfig> {
    let mut config = GeneratorConfig {
        subscribers,
        days,
        seed,
        progress: true,
        ..GeneratorConfig::default()
    };
    if let Some(start) = start {
        config.start = start
            .parse()
            .with_context(|| format!("--start {start} is not a date: use YYYY-MM-DD"))?;
    }
    if no_faults {
        config.faults = streamflix_generator::Faults::NONE;
    }
    Ok(config)
}

fn print_summary(summary: &ReplaySummary) {
    eprintln!("\nreplay finished in {:.2?}", summary.elapsed);
    eprintln!("  {:<24} {:>10}", "records read", summary.records_read());
    for (feed, count) in &summary.read {
        eprintln!("    {:<22} {count:>10}", feed.name());
    }
    eprintln!(
        "  {:<24} {:>10}  ({})",
        "dead letters",
        summary.dead_letter_count(),
        summary.dead_letters_path.display()
    );
    for ((feed, kind), count) in &summary.dead_letters {
        eprintln!("    {:<22} {count:>10}  {kind}", feed.name());
    }
    eprintln!(
        "  {:<24} {:>10.0}",
        "records per second",
        summary.records_per_second()
    );
    eprintln!("  tables written:");
    for (name, rows, path) in &summary.written {
        eprintln!("    {name:<22} {rows:>10} rows  {}", path.display());
    }
}
