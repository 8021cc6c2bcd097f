//! Incident state on disk, shared by the running engine and the
//! `streamflix status` / `streamflix incident` commands.
//!
//! In the state directory (the service's snapshots directory, or a
//! replay's output directory):
//!
//! * `incidents.json`: the whole [`IncidentBook`], replaced atomically;
//! * `incidents.jsonl`: the incident log (the JSONL sink);
//! * `incident-actions.jsonl`: acknowledgements and resolutions, appended
//!   by `streamflix incident ack|resolve`. The running engine applies the
//!   lines it has not applied yet on its next tick; the command also
//!   applies them to `incidents.json` itself so that the state is right
//!   when no engine runs. Applying twice is harmless: acknowledging an
//!   acknowledged incident does nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::incidents::{IncidentBook, OperatorAction};

/// An I/O problem with the state files.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct StoreError {
    pub path: PathBuf,
    pub message: String,
}

/// The incident files of one state directory.
#[derive(Clone, Debug)]
pub struct StateFiles {
    pub dir: PathBuf,
}

impl StateFiles {
    pub fn new(dir: impl AsRef<Path>) -> StateFiles {
        StateFiles {
            dir: dir.as_ref().to_path_buf(),
        }
    }

    pub fn book_path(&self) -> PathBuf {
        self.dir.join("incidents.json")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("incidents.jsonl")
    }

    pub fn actions_path(&self) -> PathBuf {
        self.dir.join("incident-actions.jsonl")
    }

    fn error(path: &Path, message: impl ToString) -> StoreError {
        StoreError {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    /// The saved book, or an empty one if there is none yet.
    pub fn load_book(&self) -> Result<IncidentBook, StoreError> {
        let path = self.book_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Self::error(&path, e)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Ok(IncidentBook::default())
            }
            Err(error) => Err(Self::error(&path, error)),
        }
    }

    /// Replaces the saved book (write then rename: readers never see half).
    pub fn save_book(&self, book: &IncidentBook) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Self::error(&self.dir, e))?;
        let path = self.book_path();
        let temporary = self.dir.join("incidents.json.tmp");
        let text = serde_json::to_vec_pretty(book).expect("books always serialize");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| Self::error(&path, e))
    }

    /// Appends one operator action.
    pub fn append_action(&self, action: &OperatorAction) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Self::error(&self.dir, e))?;
        let path = self.actions_path();
        let mut line = serde_json::to_vec(action).expect("actions always serialize");
        line.push(b'\n');
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(&line))
            .map_err(|e| Self::error(&path, e))
    }

    /// Every operator action so far, in order (none if there is no file).
    /// A line that cannot be read is skipped with a warning but keeps its
    /// place, so the count of applied actions stays right.
    pub fn read_actions(&self) -> Result<Vec<OperatorAction>, StoreError> {
        let path = self.actions_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(Self::error(&path, error)),
        };
        let mut actions = Vec::new();
        for (number, line) in text.lines().enumerate() {
            match serde_json::from_str::<OperatorAction>(line) {
                Ok(action) => actions.push(action),
                Err(error) => {
                    tracing::warn!(line = number + 1, %error, "unreadable incident action skipped");
                    actions.push(OperatorAction {
                        id: 0,
                        action: crate::incidents::OperatorVerb::Ack,
                        by: String::new(),
                        at: jiff::Timestamp::UNIX_EPOCH,
                    });
                }
            }
        }
        Ok(actions)
    }
}
