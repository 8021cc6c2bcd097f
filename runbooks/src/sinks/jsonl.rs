//! The incident log: one [`NotificationRecord`] a line, appended.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{NotificationRecord, Sink, SinkError};
use crate::incident::Notification;

/// Appends notifications to a JSONL file.
#[derive(Debug)]
pub struct JsonlSink {
    path: PathBuf,
    file: Option<File>,
}

impl JsonlSink {
    pub fn new(path: impl AsRef<Path>) -> JsonlSink {
        JsonlSink {
            path: path.as_ref().to_path_buf(),
            file: None,
        }
    }

    fn error(&self, error: std::io::Error) -> SinkError {
        SinkError {
            sink: self.name(),
            message: format!("cannot append to {}: {error}", self.path.display()),
        }
    }
}

impl Sink for JsonlSink {
    fn name(&self) -> String {
        format!("jsonl {}", self.path.display())
    }

    fn deliver(&mut self, notification: &Notification) -> Result<(), SinkError> {
        if self.file.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| self.error(e))?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| self.error(e))?;
            self.file = Some(file);
        }
        let mut line = serde_json::to_vec(&NotificationRecord::from(notification))
            .expect("notifications always serialize");
        line.push(b'\n');
        let written = self.file.as_mut().expect("opened above").write_all(&line);
        written.map_err(|e| {
            // Reopen next time: the file may have been moved away.
            self.file = None;
            self.error(e)
        })
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let flushed = match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        };
        flushed.map_err(|e| self.error(e))
    }
}
