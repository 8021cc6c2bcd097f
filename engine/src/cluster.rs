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
        timely::Config::from_args(args.into_iter()).map_err(ClusterError::Timely)
    }
}
