//! The vocabulary every other streamflix crate speaks.
//!
//! Data enters streamflix as JSON records on one of fourteen [`Feed`]s. The
//! connectors decode each record into one of the typed structs of
//! [`records`], checking every rule of the feed contract on the way; the
//! operators then compute metrics over those structs inside
//! differential dataflow, and the engine publishes the results as tables.
//!
//! This crate owns only the shared types and the arithmetic the rules need:
//!
//! * [`Feed`]: the fourteen input feeds and their names.
//! * [`Instant`]: an RFC 3339 timestamp held as UTC nanoseconds, parsed
//!   strictly.
//! * [`Calendar`], [`Day`], [`Month`]: the business calendar (America/Chicago
//!   by default, daylight saving included) that assigns instants to days,
//!   weeks and months.
//! * [`Micros`], [`Currency`], [`Rate`]: exact fixed-point amounts, so that
//!   sums never depend on the order in which records arrive.
//! * [`records`]: one struct per feed.
//!
//! Nothing here touches the dataflow, the network or the file system.

pub mod amount;
pub mod calendar;
pub mod feed;
pub mod fingerprint;
pub mod instant;
pub mod records;
pub mod table;

pub use amount::{Currency, Micros, Rate};
pub use calendar::{Calendar, Day, Month};
pub use feed::Feed;
pub use fingerprint::{Fingerprint, fingerprint};
pub use instant::Instant;

/// Identifiers (`event_id`, `subscriber_id`, ...): short strings kept inline
/// without a heap allocation up to 24 bytes, which keeps record clones cheap
/// inside the dataflow.
pub type Id = compact_str::CompactString;
