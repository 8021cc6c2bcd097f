//! Streamflix's edges: everything that turns outside bytes into typed
//! records, and typed tables back into outside bytes.
//!
//! ```text
//!  <feed>.jsonl ──files──┐                       ┌─> Record ──> operators (engine)
//!  streamflix.<feed> ────┼─> raw bytes ─decode──┤
//!                        │                       └─> DecodeError ─> DeadLetter ─> dead_letter JSONL
//!                        │                                              └──────> DeadLetterCounts
//!  engine tables (model::table::Table) ──sinks──> CSV | Parquet | Arrow IPC
//! ```
//!
//! * [`decode`](mod@decode): the feed contract. One function, [`decode::decode`], turns
//!   the bytes of one record of one feed into a
//!   [`Record`](streamflix_model::records::Record) or a
//!   [`DecodeError`] with a stable reason kind. Every
//!   source goes through it, so the contract is enforced in one place.
//! * [`dead_letter`]: a refused record is never dropped silently. It
//!   becomes a [`DeadLetter`] (feed, source
//!   position, one-line reason, raw text), written one JSON object per line
//!   and counted per feed and reason kind.
//! * [`files`]: the JSONL file source. A directory holds `<feed>.jsonl`;
//!   each of `peers` workers reads only the lines starting in its own byte
//!   range of each file, with exact 1-based line numbers.
//! * [`sinks`]: writers for the engine's output tables: CSV, Parquet and
//!   Arrow IPC files.
//!
//! * [`kafka`]: the feed topics (partitions spread over the workers, a
//!   watermark per partition), dead-letter topics, the snapshot topic and
//!   loading feed files into topics.
//!
//! Each connector owns a folder, with its source and its sink apart and its
//! tests beside them.

pub mod dead_letter;
pub mod decode;
pub mod files;
pub mod kafka;
pub mod sinks;

pub use dead_letter::{DeadLetter, DeadLetterCounts, DeadLetterWriter};
pub use decode::{DecodeError, decode};
