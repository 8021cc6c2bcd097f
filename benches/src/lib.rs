//! Shared helpers of the benchmarks in `benches/benches/`: the machine they
//! ran on, medians, knobs from the environment, and the process's memory
//! as the kernel reports it.

use anyhow::Result;

/// The CPU, its cores and the load average, for the results.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .and_then(|rest| rest.split_once(':'))
        })
        .map_or("unknown CPU".to_string(), |(_, name)| {
            name.trim().to_string()
        });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, load average {} at the end",
        load.split_whitespace().next().unwrap_or("?")
    )
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
