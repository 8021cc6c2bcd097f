//! Shared helpers of the benchmarks in `benches/benches/`: the machine they
//! ran on, medians, knobs from the environment, and the process's memory
//! as the kernel reports it.

use anyhow::Result;

/// The CPU's model name, from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .and_then(|rest| rest.split_once(':'))
        })
        .map_or("unknown CPU".to_string(), |(_, name)| {
            name.trim().to_string()
        })
}

/// The CPU, its cores and the load average, for the results.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{}, {cores} cores, load average {} at the end",
        cpu_model(),
        load.split_whitespace().next().unwrap_or("?")
    )
}

/// Kafka settings for a fresh set of topics on `bootstrap`, named
/// `<label>-<unix seconds>.<feed>`, so that runs never read each other's.
pub fn fresh_topics(
    bootstrap: &str,
    label: &str,
) -> Result<streamflix_connectors::kafka::KafkaSettings> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let prefix = format!("{label}-{stamp}.");
    Ok(streamflix_connectors::kafka::KafkaSettings {
        bootstrap: bootstrap.to_string(),
        topic_prefix: prefix.clone(),
        snapshots_topic: format!("{prefix}snapshots"),
        ..streamflix_connectors::kafka::KafkaSettings::default()
    })
}

/// The median (the mean of the middle two for an even count; NaN for none).
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// A number from the environment variable `name`, or `default` when unset.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map_err(|error| anyhow::anyhow!("{name}={text} is not a number: {error}")),
        _ => Ok(default),
    }
}

/// A `Key:   123 kB` field of `/proc/self/status`, in kB.
pub fn own_status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        line.strip_prefix(key)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// Resets the kernel's high-water mark of this process's RSS (`VmHWM`) to
/// its current RSS; false where the kernel does not allow it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Whether `cargo bench` asked this benchmark to run. `--list` prints its
/// name; without `--bench` (as `cargo test --benches` runs it) it prints
/// `how` (how to run it) and does nothing.
pub fn asked_to_run(name: &str, how: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--list") {
        println!("{name}: bench");
        return false;
    }
    if !args.iter().any(|arg| arg == "--bench") {
        println!("{name}: {how}");
        return false;
    }
    true
}

/// The workspace's root directory.
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is inside the workspace")
        .to_path_buf()
}

/// A Kafka broker: `KAFKA_BOOTSTRAP` when set, otherwise one started with
/// `scripts/kafka.sh start`. Returns its bootstrap address and whether it
/// was started here (then [`stop_broker`] it at the end).
pub fn broker() -> Result<(String, bool)> {
    match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(bootstrap) if !bootstrap.is_empty() => Ok((bootstrap, false)),
        _ => {
            let script = workspace().join("scripts/kafka.sh");
            let status = std::process::Command::new("bash")
                .arg(&script)
                .arg("start")
                .status()?;
            if !status.success() {
                anyhow::bail!("scripts/kafka.sh start failed; see target/kafka/broker.log");
            }
            Ok(("127.0.0.1:9092".to_string(), true))
        }
    }
}

/// Stops the broker [`broker`] started.
pub fn stop_broker() {
    let script = workspace().join("scripts/kafka.sh");
    let _ = std::process::Command::new("bash")
        .arg(&script)
        .arg("stop")
        .status();
}
