//! The streamflix engine: runtime, time, outputs, and the commands of the
//! `streamflix` binary.
//!
//! * [`dataflow`] builds the timely/differential dataflow: one input per
//!   feed, every metric pipeline of `streamflix-operators`, one sink.
//! * [`clock`] holds event time, watermarks, epochs and the restatement
//!   horizon that keeps state bounded.
//! * [`output`] collects what the dataflow emits (table rows, data-quality
//!   counts, dead letters) on worker 0 and turns it into tables.
//! * [`cluster`] turns `-w/-n/-p/-h` into a timely configuration, so the
//!   same binary runs as one thread, many threads or many processes.
//! * [`replay`] runs every pipeline over a directory of JSONL feeds and
//!   writes the tables: the bounded, batch-like use of the engine.
//! * [`service`] is `streamflix run`: the long-running service that reads
//!   the feed topics, keeps every table current and publishes snapshots
//!   ([`snapshots`]: completeness, publication times, revisions), configured
//!   by [`config`].
//! * [`api`] builds the view the query API (`streamflix-api`) serves:
//!   every table with its rows marked provisional or published.
//! * [`memory`] runs the dataflow over records in memory, for tests.
//! * [`demo`] renders tables for the terminal.
//! * [`state_size`] counts the updates held in arrangements, in all or
//!   per arrangement.

pub mod api;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod dataflow;
pub mod demo;
pub mod error;
pub mod incidents;
pub mod memory;
pub mod operator_time;
pub mod output;
pub mod replay;
pub mod service;
pub mod snapshots;
pub mod state_size;
