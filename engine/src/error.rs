//! What can stop the engine, and what the user should do about it.

use std::path::PathBuf;

use crate::cluster::ClusterError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "input directory {path} does not exist or is not a directory: pass the folder that holds <feed>.jsonl files"
    )]
    NoInput { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("a dataflow worker failed: {0}")]
    Worker(String),
    #[error(transparent)]
    Output(#[from] crate::output::InconsistentOutput),
    #[error("cannot write table {table}: {message}")]
    Table { table: String, message: String },
}
