//! What the engine hands to the API, and the cell it is handed over in.
//!
//! Worker 0 builds a whole new [`ApiView`] whenever the output store has
//! changed (at most once per publisher tick) and [`Shared::replace`]s it;
//! a handler [`Shared::load`]s the current one, which clones an `Arc`
//! under a read lock held for nanoseconds, and then encodes from it
//! without any lock. Readers never slow the dataflow down by more than
//! that, and a reader sees one consistent view from start to end.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use streamflix_model::table::Table;

/// One table as it stands now, each row marked.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiTable {
    pub table: Table,
    /// Parallel to `table.rows`: the revision a row was published in, or
    /// `None` while it is provisional (its snapshot not yet published, or
    /// changed since its latest revision).
    pub revisions: Vec<Option<u32>>,
}

impl ApiTable {
    /// A table none of whose rows is published.
    pub fn provisional(table: Table) -> ApiTable {
        let revisions = vec![None; table.rows.len()];
        ApiTable { table, revisions }
    }
}

/// One published revision of one snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RevisionInfo {
    pub table: String,
    /// `<table>/<period>`, or `checks/<pipeline>/<period>`.
    pub snapshot: String,
    pub period: String,
    pub revision: u32,
    /// RFC 3339; `None` when read back without a time.
    pub published_at: Option<String>,
    /// A revision after the first restates its period.
    pub restated: bool,
}

/// The latest revision of one period of one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublishedPeriod {
    pub table: String,
    pub period: String,
    pub revision: u32,
}

/// Where a pipeline stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PipelineStatus {
    pub pipeline: String,
    /// RFC 3339 watermark: periods that ended before it are complete.
    pub watermark: Option<String>,
    /// RFC 3339: the greatest event time read on its upstream feeds.
    pub event_clock: Option<String>,
    /// The latest published period of each of its tables.
    pub last_published: Vec<PublishedPeriod>,
    /// Revisions published for this pipeline's snapshots in all.
    pub revisions: usize,
}

/// One feed's intake.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeedStatus {
    pub feed: String,
    /// Messages (or lines) read, dead letters included.
    pub events_in: u64,
    /// Milliseconds since the epoch: the least watermark of its partitions.
    pub watermark_ms: Option<i64>,
    /// Wall time minus the greatest event time read, in seconds: how far
    /// behind the feed's producers the service is reading.
    pub lag_seconds: Option<f64>,
    /// Every partition has been read up to its end at start-up.
    pub caught_up: Option<bool>,
}

/// Everything the API serves, as of one moment of the dataflow.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApiView {
    /// Bumped by every replacement.
    pub generation: u64,
    /// RFC 3339 wall time the view was built at.
    pub updated_at: Option<String>,
    pub tables: Vec<ApiTable>,
    /// Every published revision, oldest first.
    pub revisions: Vec<RevisionInfo>,
    pub pipelines: Vec<PipelineStatus>,
    pub feeds: Vec<FeedStatus>,
    /// Dead letters per (feed, reason kind).
    pub dead_letters: BTreeMap<(String, String), u64>,
}

impl ApiView {
    pub fn table(&self, name: &str) -> Option<&ApiTable> {
        self.tables.iter().find(|table| table.table.name == name)
    }
}

/// The highest publication latency recorded, in microseconds (10 minutes).
const MAX_LATENCY_US: u64 = 600_000_000;

/// The cell between the engine and the server.
#[derive(Debug)]
pub struct Shared {
    view: RwLock<Arc<ApiView>>,
    publication_latency: Mutex<Histogram<u64>>,
}

impl Default for Shared {
    fn default() -> Shared {
        Shared {
            view: RwLock::new(Arc::new(ApiView::default())),
            publication_latency: Mutex::new(
                Histogram::new_with_max(MAX_LATENCY_US, 3).expect("valid histogram bounds"),
            ),
        }
    }
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared::default())
    }

    /// Makes `view` the one every later request sees.
    pub fn replace(&self, mut view: ApiView) {
        let mut current = self.view.write().unwrap_or_else(|e| e.into_inner());
        view.generation = current.generation + 1;
        *current = Arc::new(view);
    }

    /// The current view.
    pub fn load(&self) -> Arc<ApiView> {
        self.view.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records how long publishing one snapshot revision took.
    pub fn record_publication(&self, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        self.publication_latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .saturating_record(micros);
    }

    /// A copy of the publication latency histogram, in microseconds.
    pub fn publication_latency(&self) -> Histogram<u64> {
        self.publication_latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
