//! How many timely workers, in how many processes.
//!
//! The same binary runs as one process with `-w` worker threads, or as `-n`
//! processes that find each other through a host file (one `host:port` line
//! per process; `-p` says which line is this process). Every worker runs
//! the whole dataflow on its share of the data, and the output is the same
//! for any number of workers.

use std::path::PathBuf;

use clap::Args;

/// The worker-cluster options shared by every command that runs a dataflow.
#[derive(Clone, Debug, Args)]
pub struct ClusterArgs {
    /// Worker threads per process.
    #[arg(
        short = 'w',
        long = "workers",
        default_value_t = 2,
        env = "STREAMFLIX_WORKERS"
    )]
    pub workers: usize,
    /// Number of processes in the cluster.
    #[arg(short = 'n', long = "processes", default_value_t = 1)]
    pub processes: usize,
    /// This process's index, 0-based.
    #[arg(short = 'p', long = "process", default_value_t = 0)]
    pub process: usize,
    /// A file with one `host:port` per process (default: timely's, localhost
    /// and consecutive ports from 2101).
    #[arg(long = "hostfile")]
    pub hostfile: Option<PathBuf>,
}

impl Default for ClusterArgs {
    fn default() -> Self {
        ClusterArgs {
            workers: 2,
            processes: 1,
            process: 0,
            hostfile: None,
        }
    }
}

/// Why the cluster options were refused.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("--workers must be at least 1")]
    NoWorkers,
    #[error("--process {process} is not below --processes {processes}")]
    ProcessOutOfRange { process: usize, processes: usize },
    #[error("timely refused the cluster configuration: {0}")]
    Timely(String),
}

impl ClusterArgs {
    pub fn single(workers: usize) -> ClusterArgs {
        ClusterArgs {
            workers,
            ..ClusterArgs::default()
        }
    }

    pub fn timely_config(&self) -> Result<timely::Config, ClusterError> {
        if self.workers == 0 {
            return Err(ClusterError::NoWorkers);
        }
        if self.process >= self.processes {
            return Err(ClusterError::ProcessOutOfRange {
                process: self.process,
                processes: self.processes,
            });
        }
        let mut args = vec![
            "-w".to_string(),
            self.workers.to_string(),
            "-n".to_string(),
            self.processes.to_string(),
            "-p".to_string(),
            self.process.to_string(),
        ];
        if let Some(hostfile) = &self.hostfile {
            args.push("-h".to_string());
            args.push(hostfile.display().to_string());
        }
        let mut config =
            timely::Config::from_args(args.into_iter()).map_err(ClusterError::Timely)?;
        let ratio = std::env::var("STREAMFLIX_MERGE_RATIO")
            .ok()
            .and_then(|value| value.parse::<usize>().ok())
            .unwrap_or(MERGE_RATIO);
        if ratio > 0 {
            config
                .worker
                .set::<differential_dataflow::trace::ExertionLogic>(
                    "differential/default_exert_logic".to_string(),
                    std::sync::Arc::new(move |layers| {
                        merge_when_small_layers_add_up(layers, ratio)
                    }),
                );
        }
        Ok(config)
    }
}

/// Spines merge every layer into one once the smaller layers hold this
/// fraction of the largest (`1 / MERGE_RATIO`); `STREAMFLIX_MERGE_RATIO`
/// overrides it, 0 leaves differential's own merging alone.
pub const MERGE_RATIO: usize = 16;

/// How much merge effort an arrangement's spine should spend without new
/// updates. `layers` is `(level, batches, updates)` from the largest level
/// down. An update and its retraction cancel only once they sit in the same
/// batch; left alone, the spine keeps a large old batch of since-retracted
/// updates until as many new updates have arrived. This merges every layer
/// into one as soon as the smaller layers hold `1 / ratio` of the largest,
/// so the spine holds little more than its live updates, at `ratio + 1`
/// copies per update.
pub fn merge_when_small_layers_add_up(
    layers: &[(usize, usize, usize)],
    ratio: usize,
) -> Option<usize> {
    if let Some((_, _, updates)) = layers.iter().find(|(_, batches, _)| *batches > 1) {
        return Some((*updates).max(1));
    }
    let mut filled = layers.iter().filter(|(_, _, updates)| *updates > 0);
    let (level, _, largest) = *filled.next()?;
    let rest: usize = filled.map(|(_, _, updates)| *updates).sum();
    (rest > 0 && rest.saturating_mul(ratio) >= largest).then_some(1usize << level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_are_asked_for_only_when_small_layers_add_up() {
        // Layers from the largest level down: (level, batches, updates).
        let quiet = [(10, 1, 1000), (4, 1, 10), (0, 1, 0)];
        assert_eq!(merge_when_small_layers_add_up(&quiet, 16), None);
        let due = [(10, 1, 1000), (6, 1, 50), (3, 1, 20)];
        assert_eq!(merge_when_small_layers_add_up(&due, 16), Some(1 << 10));
        // A merge in progress is finished first, whatever the sizes.
        let merging = [(10, 1, 1000), (4, 2, 12)];
        assert_eq!(merge_when_small_layers_add_up(&merging, 16), Some(12));
        // One batch, or none, needs nothing.
        assert_eq!(merge_when_small_layers_add_up(&[(10, 1, 1000)], 16), None);
        assert_eq!(merge_when_small_layers_add_up(&[], 16), None);
    }
}
