//! A real broker, topics of one's own, the service as a child process, and
//! the replay to compare it with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use streamflix_connectors::kafka::KafkaSettings;
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::replay::{ReplayOptions, replay};
use streamflix_engine::snapshots::SnapshotMessage;
use streamflix_generator::{Faults, GeneratorConfig, generate};
use streamflix_model::Feed;
use streamflix_model::table::Table;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Holds the other Kafka tests back while one runs. Each starts services
/// of two workers and some stop or restart a broker: run side by side on
/// two cores they starved the shared broker (a controller event of 7.6 s,
/// topic creation timing out), and a test that measures visibility within
/// a second measured the machine instead.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A failed test must not fail the ones after it.
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The shared broker: `KAFKA_BOOTSTRAP` if set (the test command sets it
/// after starting one), else the project's own, started once.
pub fn bootstrap() -> String {
    static BOOTSTRAP: OnceLock<String> = OnceLock::new();
    BOOTSTRAP
        .get_or_init(|| match std::env::var("KAFKA_BOOTSTRAP") {
            Ok(bootstrap) if !bootstrap.is_empty() => bootstrap,
            _ => {
                let status = Command::new("bash")
                    .arg(repo_root().join("scripts/kafka.sh"))
                    .arg("start")
                    .status()
                    .expect("bash runs scripts/kafka.sh");
                assert!(
                    status.success(),
                    "scripts/kafka.sh start failed; see target/kafka/broker.log"
                );
                "127.0.0.1:9092".to_string()
            }
        })
        .clone()
}

/// A broker of the test's own, on its own ports and log dir, that the
/// test may stop and start.
pub struct PrivateBroker {
    pub port: u16,
    pub state: tempfile::TempDir,
}

impl PrivateBroker {
    pub fn start(port: u16) -> PrivateBroker {
        let broker = PrivateBroker {
            port,
            state: tempfile::tempdir().unwrap(),
        };
        broker.script(&["start"]);
        broker
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&self) {
        self.script(&["stop"]);
    }

    pub fn restart_keeping_data(&self) {
        self.script(&["start", "--keep-data"]);
    }

    fn script(&self, args: &[&str]) {
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/kafka.sh"))
            .args(args)
            .env("STREAMFLIX_KAFKA_PORT", self.port.to_string())
            .env(
                "STREAMFLIX_KAFKA_CONTROLLER_PORT",
                (self.port + 1).to_string(),
            )
            .env("STREAMFLIX_KAFKA_STATE", self.state.path())
            .status()
            .expect("bash runs scripts/kafka.sh");
        assert!(
            status.success(),
            "scripts/kafka.sh {args:?} failed for the private broker"
        );
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("scripts/kafka.sh"))
            .arg("stop")
            .env("STREAMFLIX_KAFKA_PORT", self.port.to_string())
            .env("STREAMFLIX_KAFKA_STATE", self.state.path())
            .status();
    }
}

/// Topic names no other test uses.
pub fn kafka_settings(bootstrap: &str, test: &str) -> KafkaSettings {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("t-{test}-{}-{nanos}.", std::process::id());
    KafkaSettings {
        bootstrap: bootstrap.to_string(),
        snapshots_topic: format!("{prefix}snapshots"),
        topic_prefix: prefix,
        ..KafkaSettings::default()
    }
}

/// A small generated Streamflix with every fault.
pub fn generated(subscribers: u64, days: u32, seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = GeneratorConfig {
        subscribers,
        days,
        seed,
        faults: Faults::ALL,
        ..GeneratorConfig::default()
    };
    generate(&config, dir.path()).expect("the generator runs");
    dir
}

/// Splits every feed file of `input` into a first and second part.
pub fn halves(input: &Path) -> (tempfile::TempDir, tempfile::TempDir) {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for entry in std::fs::read_dir(input).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let middle = lines.len() / 2;
        let name = path.file_name().unwrap();
        let join = |part: &[&str]| {
            part.iter()
                .map(|line| format!("{line}\n"))
                .collect::<String>()
        };
        std::fs::write(first.path().join(name), join(&lines[..middle])).unwrap();
        std::fs::write(second.path().join(name), join(&lines[middle..])).unwrap();
    }
    (first, second)
}

/// What `streamflix replay` makes of `input`.
pub struct Replayed {
    /// The tables it writes.
    pub tables: Vec<Table>,
    /// How many dead letters it finds, per feed.
    pub dead_letters: BTreeMap<Feed, u64>,
}

/// Runs `streamflix replay` on `input` (2 workers).
pub fn replayed(input: &Path) -> Replayed {
    let out = tempfile::tempdir().unwrap();
    let mut options = ReplayOptions::new(input, out.path());
    options.cluster = ClusterArgs::single(2);
    let summary = replay(&options).expect("replay runs");
    let mut dead_letters: BTreeMap<Feed, u64> = BTreeMap::new();
    for ((feed, _), count) in &summary.dead_letters {
        *dead_letters.entry(*feed).or_default() += count;
    }
    Replayed {
        tables: summary.tables,
        dead_letters,
    }
}

/// The service, running as a child process.
pub struct Service {
    pub child: Child,
    pub snapshots: PathBuf,
    pub log: PathBuf,
}

/// Writes a service configuration for `kafka` under `dir`.
pub fn write_config(dir: &Path, kafka: &KafkaSettings) -> PathBuf {
    let config = dir.join("service.toml");
    let text = format!(
        "[kafka]\nbootstrap = \"{}\"\ntopic_prefix = \"{}\"\nsnapshots_topic = \"{}\"\n\n[time]\nidle_timeout_seconds = 1.5\n\n[snapshots]\ndir = \"{}\"\ncheck_interval_ms = 200\n\n[api]\nbind = \"127.0.0.1:0\"\n",
        kafka.bootstrap,
        kafka.topic_prefix,
        kafka.snapshots_topic,
        dir.join("snapshots").display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

impl Service {
    /// Starts `streamflix run` with `config` and the extra `args`.
    pub fn start(config: &Path, args: &[&str], log_name: &str) -> Service {
        let dir = config.parent().unwrap();
        let log = dir.join(log_name);
        let child = Command::new(env!("CARGO_BIN_EXE_streamflix"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(args)
            .env_remove("KAFKA_BOOTSTRAP")
            .env_remove("STREAMFLIX_WORKERS")
            .env("STREAMFLIX_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the streamflix binary starts");
        Service {
            child,
            snapshots: dir.join("snapshots"),
            log,
        }
    }

    pub fn status(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.snapshots.join("status.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Waits until `ready(status)` holds, failing after `limit`.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.status()
                && ready(&status)
            {
                return;
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!(
                    "the service exited with {exit} while waiting for {what}:\n{}",
                    self.log_text()
                );
            }
            assert!(
                started.elapsed() < limit,
                "the service did not reach '{what}' within {limit:?}; status: {:?}\nlog:\n{}",
                self.status(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until every message has been read and every due snapshot published.
    pub fn wait_settled(&mut self, messages: u64) {
        self.wait_for("settled", Duration::from_secs(180), |status| {
            status["settled"] == true && status["messages"].as_u64() == Some(messages)
        });
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and the exit must be clean.
    pub fn terminate(self) -> String {
        self.send_terminate();
        self.wait_clean_exit()
    }

    pub fn send_terminate(&self) {
        signal(&self.child, "TERM");
    }

    /// Waits for the exit after a SIGTERM; it must be clean.
    pub fn wait_clean_exit(mut self) -> String {
        let started = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                assert!(
                    exit.success(),
                    "the service exited with {exit} after SIGTERM:\n{}",
                    self.log_text()
                );
                return self.log_text();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the service did not stop within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill(mut self) {
        signal(&self.child, "KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} failed");
}

/// The latest revision of every snapshot written under `dir`, by key.
pub fn latest_snapshots(dir: &Path) -> BTreeMap<String, SnapshotMessage> {
    let mut latest: BTreeMap<String, SnapshotMessage> = BTreeMap::new();
    for message in all_snapshot_files(dir) {
        let key = snapshot_key(&message);
        if latest
            .get(&key)
            .is_none_or(|known| known.revision < message.revision)
        {
            latest.insert(key, message);
        }
    }
    latest
}

pub fn snapshot_key(message: &SnapshotMessage) -> String {
    if message.table == "checks" {
        format!("checks/{}/{}", message.pipeline, message.period)
    } else {
        format!("{}/{}", message.table, message.period)
    }
}

fn all_snapshot_files(dir: &Path) -> Vec<SnapshotMessage> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "json")
                // The status and the incident state live beside the snapshots.
                && path
                    .file_name()
                    .is_some_and(|name| name != "status.json" && name != "incidents.json")
            {
                let text = std::fs::read(&path).unwrap();
                found.push(serde_json::from_slice(&text).unwrap());
            }
        }
    }
    found
}

/// Columns whose values come from `received_at`, which the Kafka path
/// fills from the message timestamp when a record has none, and replay
/// cannot: they are compared apart.
pub fn skew_dependent(table: &str, column: &str) -> bool {
    table == "engagement_weekly" && column == "skew_median_seconds"
}

/// Asserts that every published snapshot (month-to-date ones aside) equals
/// the replay's rows for its period, and that every period `expected_keys`
/// names was published.
pub fn assert_snapshots_match_replay(
    snapshots: &BTreeMap<String, SnapshotMessage>,
    tables: &[Table],
    expected_keys: &[String],
) {
    for key in expected_keys {
        assert!(
            snapshots.contains_key(key),
            "snapshot {key} was not published; published: {:?}",
            snapshots.keys().collect::<Vec<_>>()
        );
    }
    for (key, message) in snapshots {
        if message.period.contains("/to-") {
            // A month to date says what was known on its Monday, mid-stream:
            // no final table holds it (the publisher's unit test checks it).
            continue;
        }
        let table = tables
            .iter()
            .find(|table| table.name == message.table)
            .unwrap_or_else(|| panic!("replay has no table {}", message.table));
        let columns: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        let replay_rows: Vec<BTreeMap<String, Option<String>>> = table
            .rows
            .iter()
            .map(|row| {
                columns
                    .iter()
                    .zip(row)
                    .map(|(column, cell)| {
                        let text = cell.to_string();
                        (column.to_string(), (!text.is_empty()).then_some(text))
                    })
                    .collect::<BTreeMap<_, _>>()
            })
            .filter(|row| belongs(row, message))
            .collect();
        let published: Vec<BTreeMap<String, Option<String>>> = message.rows.clone();
        let strip =
            |rows: &[BTreeMap<String, Option<String>>]| -> Vec<BTreeMap<String, Option<String>>> {
                rows.iter()
                    .map(|row| {
                        row.iter()
                            .filter(|(column, _)| !skew_dependent(&message.table, column))
                            .filter(|_| {
                                !(message.table == "checks"
                                    && row.get("check").cloned().flatten().as_deref()
                                        == Some("event_time_skew"))
                            })
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    })
                    .collect()
            };
        assert_eq!(
            strip(&published),
            strip(&replay_rows),
            "snapshot {key} (revision {}) differs from replay",
            message.revision
        );
    }
}

/// Whether a replay row falls in a snapshot's period.
fn belongs(row: &BTreeMap<String, Option<String>>, message: &SnapshotMessage) -> bool {
    let text = |column: &str| row.get(column).cloned().flatten().unwrap_or_default();
    match message.table.as_str() {
        "checks" => text("pipeline") == message.pipeline && text("period") == message.period,
        "engagement_daily" => {
            let day = streamflix_model::Day::parse(&text("day")).unwrap();
            day.week().to_string() == message.period
        }
        "engagement_weekly" | "growth_weekly" => text("week") == message.period,
        "growth_daily" | "growth_daily_by_variant" => text("day") == message.period,
        "profit_subscriber_monthly" => text("billing_period") == message.period,
        "profit_monthly" => text("month") == message.period,
        other => panic!("unexpected snapshot table {other}"),
    }
}

/// Lines in all feed files of `input`: what the service must read.
pub fn line_count(input: &Path) -> u64 {
    std::fs::read_dir(input)
        .unwrap()
        .map(|entry| {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            text.lines().filter(|line| !line.trim().is_empty()).count() as u64
        })
        .sum()
}

/// The engagement weeks that must be published: complete (the last
/// viewing event minus the hour of lateness is past the week's end) and
/// due (Monday 06:00 after it has passed on the event clock).
pub fn due_engagement_weeks(input: &Path, tables: &[Table]) -> Vec<String> {
    use streamflix_model::records::Record;
    let calendar = streamflix_model::Calendar::central();
    let text = std::fs::read(input.join("viewing.jsonl")).unwrap();
    let last_event = text
        .split(|byte| *byte == b'\n')
        .filter_map(|line| {
            streamflix_connectors::decode(streamflix_model::Feed::Viewing, line).ok()
        })
        .filter_map(|record| match record {
            Record::Viewing(viewing) => Some(viewing.event_time.0),
            _ => None,
        })
        .max()
        .unwrap();
    let hour = 3_600_000_000_000i64;
    let weekly = tables
        .iter()
        .find(|table| table.name == "engagement_weekly")
        .unwrap();
    weekly
        .rows
        .iter()
        .map(|row| row[0].to_string())
        .filter(|week| {
            let monday = streamflix_model::Day::parse(week).unwrap();
            let end = calendar.start_of(monday.plus(7)).0;
            last_event - hour >= end && last_event >= end + 6 * hour
        })
        .map(|week| format!("engagement_weekly/{week}"))
        .collect()
}
