//! The streamflix dataflow: one input per feed, every pipeline, one sink.
//!
//! ```text
//!  source (files, Kafka) ──decode──► Record ──► one input per feed ──► pipelines ──► Output ──► worker 0 ──► OutputStore
//!                          └───────► DeadLetterRow ─────────────────────────────────┘
//! ```
//!
//! Decoding happens in the source, before the dataflow; a record that
//! cannot be decoded still enters the dataflow, as a dead letter, so that
//! errors travel beside the data and are counted where the data is.
//!
//! The timestamp is an ingestion epoch (`u64`): a source advances it after
//! each batch it hands in. Event time is data: pipelines compute days,
//! weeks and sessions from `event_time`, so a late event lands in the
//! period it belongs to, at whatever epoch it arrives, and the rows it
//! changes are retracted and reinserted. That is what makes every change
//! to a published figure visible as a restatement.

use differential_dataflow::VecCollection;
use differential_dataflow::input::{Input, InputSession};
use timely::dataflow::channels::pact;
use timely::dataflow::operators::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::vec::Broadcast;
use timely::worker::Worker;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use streamflix_connectors::dead_letter::DeadLetter;
use streamflix_connectors::kafka::source::PartitionProgress;
use streamflix_model::records::*;

use streamflix_model::{Calendar, Feed};
use streamflix_operators::assignments::assignments_in_force;
use streamflix_operators::currency::PositionedRate;
use streamflix_operators::engagement::engagement;
use streamflix_operators::growth::{GrowthInputs, growth};
use streamflix_operators::profit::{ProfitInputs, profit};
use streamflix_operators::retention::{Horizons, SharedHorizons};
use streamflix_operators::viewing::prepare_viewing;

use crate::clock::Retention;
use crate::snapshots::Pipeline;

use crate::output::{DeadLetterRow, Output, QualityCount, SharedStore};

/// The ingestion epoch: the dataflow's timestamp.
pub type Epoch = u64;

macro_rules! feed_inputs {
    ($($field:ident: $record:ty => $variant:ident),* $(,)?) => {
        /// One input session per feed, plus one for dead letters.
        #[allow(missing_debug_implementations)] // input sessions have no Debug
        pub struct FeedInputs {
            $(pub $field: InputSession<Epoch, $record, isize>,)*
            /// FX rates with their read position: of two rows for one
            /// (date, currency), the one read later counts.
            pub fx_rates: InputSession<Epoch, PositionedRate, isize>,
            pub dead_letters: InputSession<Epoch, DeadLetterRow, isize>,
            /// What each Kafka partition's reader knows (watermark, idle,
            /// caught up); replay leaves it empty.
            pub progress: InputSession<Epoch, PartitionProgress, isize>,
            /// Every worker's partition reports, as they reach this worker.
            pub cluster: ClusterProgress,
        }

        impl FeedInputs {
            /// Hands a decoded record to its feed's input, at position 0.
            pub fn insert(&mut self, record: Record) {
                self.insert_at(record, 0);
            }

            /// Hands a decoded record to its feed's input; `position` (a
            /// line, an offset) orders the rows of feeds whose later rows
            /// replace earlier ones.
            pub fn insert_at(&mut self, record: Record, position: u64) {
                match record {
                    $(Record::$variant(record) => self.$field.insert(record),)*
                    Record::FxRate(rate) => self.fx_rates.insert((rate, position)),
                }
            }

            /// Moves every input to `epoch` and sends what is buffered.
            pub fn advance_to(&mut self, epoch: Epoch) {
                $(self.$field.advance_to(epoch); self.$field.flush();)*
                self.fx_rates.advance_to(epoch);
                self.fx_rates.flush();
                self.dead_letters.advance_to(epoch);
                self.dead_letters.flush();
                self.progress.advance_to(epoch);
                self.progress.flush();
            }

            pub fn epoch(&self) -> Epoch {
                *self.dead_letters.time()
            }
        }
    };
}

feed_inputs! {
    viewing: Viewing => Viewing,
    subscriptions: Subscription => Subscription,
    billing: Billing => Billing,
    ad_revenue: AdRevenue => AdRevenue,
    content_costs: ContentCost => ContentCost,
    operational_costs: OperationalCost => OperationalCost,
    experiment_assignments: ExperimentAssignment => ExperimentAssignment,
    account_flags: AccountFlag => AccountFlag,
    payment_settlements: PaymentSettlement => PaymentSettlement,
    plan_catalog: PlanCatalog => PlanCatalog,
    content_catalog: ContentCatalog => ContentCatalog,
    devices: Device => Device,
    finance_gl: FinanceGl => FinanceGl,
}

/// The partition reports of every worker of the cluster, broadcast through
/// the dataflow: what lets each worker move its epoch with the cluster's
/// watermark rather than only its own partitions' (see the service). It
/// also keeps the latest epoch at which any worker sent a report: a worker
/// that has moved ahead (its view of the watermark was fresher) holds
/// batches the frontier must pass, so the others follow it there.
#[derive(Clone, Debug, Default)]
pub struct ClusterProgress(
    Rc<RefCell<HashMap<PartitionProgress, isize>>>,
    Rc<Cell<Epoch>>,
);

impl ClusterProgress {
    /// The latest epoch at which any worker has sent a report (0 before
    /// any).
    pub fn latest_epoch(&self) -> Epoch {
        self.1.get()
    }

    /// The latest report of every partition heard of.
    pub fn partitions(&self) -> Vec<PartitionProgress> {
        let mut latest: BTreeMap<(String, i32), PartitionProgress> = BTreeMap::new();
        for (report, count) in self.0.borrow().iter() {
            if *count <= 0 {
                continue;
            }
            let key = (report.topic.clone(), report.partition);
            // While a report is replaced both may be held: the later one
            // has read more, or as much and is further along.
            if latest.get(&key).is_none_or(|known| {
                (known.messages, known.max_event_ms) < (report.messages, report.max_event_ms)
            }) {
                latest.insert(key, report.clone());
            }
        }
        latest.into_values().collect()
    }

    fn update(&self, report: PartitionProgress, diff: isize) {
        let mut reports = self.0.borrow_mut();
        let count = reports.entry(report.clone()).or_insert(0);
        *count += diff;
        if *count == 0 {
            reports.remove(&report);
        }
    }
}

/// What every pipeline needs to know besides its input.
#[derive(Clone, Debug)]
pub struct Settings {
    pub calendar: Calendar,
    /// The restatement horizon; `None` keeps and restates everything.
    pub retention: Option<Retention>,
    /// The pipelines the dataflow computes: every one by default. A
    /// pipeline left out costs nothing and produces no rows.
    pub pipelines: Vec<Pipeline>,
}

impl Settings {
    pub fn new(calendar: Calendar) -> Settings {
        Settings {
            calendar,
            retention: None,
            pipelines: Pipeline::ALL.to_vec(),
        }
    }

    /// Only the pipelines built from `feeds`: those whose every upstream
    /// feed ([`Pipeline::upstream`]) is among them. Without one of those,
    /// a pipeline's tables would hold part of their inputs' figures, and
    /// they would never be complete enough to publish.
    pub fn with_feeds(mut self, feeds: &[Feed]) -> Settings {
        self.pipelines
            .retain(|pipeline| pipeline.upstream().iter().all(|feed| feeds.contains(feed)));
        self
    }

    fn computes(&self, pipelines: &[Pipeline]) -> bool {
        pipelines
            .iter()
            .any(|pipeline| self.pipelines.contains(pipeline))
    }
}

/// Builds the dataflow in `worker`; its outputs reach `store` on worker 0.
pub fn build(
    worker: &mut Worker,
    settings: &Settings,
    store: SharedStore,
) -> (FeedInputs, ProbeHandle<Epoch>) {
    let calendar = &settings.calendar;
    let horizons: SharedHorizons<Epoch> = settings
        .retention
        .clone()
        .map(|retention| Rc::new(retention) as Rc<dyn Horizons<Epoch>>);
    let freeze = settings.retention.clone();
    worker.dataflow::<Epoch, _, _>(|scope| {
        let (viewing_in, viewing) = scope.new_collection();
        let (subscriptions_in, subscriptions) = scope.new_collection();
        let (billing_in, billing) = scope.new_collection();
        let (ad_revenue_in, ad_revenue) = scope.new_collection();
        let (content_costs_in, content_costs) = scope.new_collection();
        let (operational_costs_in, operational_costs) = scope.new_collection();
        let (experiment_assignments_in, experiment_assignments) = scope.new_collection();
        let (flags_in, flags) = scope.new_collection();
        let (payment_settlements_in, payment_settlements) = scope.new_collection();
        let (plan_catalog_in, plan_catalog) = scope.new_collection();
        let (content_catalog_in, content_catalog) = scope.new_collection();
        let (devices, _) = scope.new_collection();
        let (fx_rates_in, fx_rates) = scope.new_collection();
        let (finance_gl_in, finance_gl) = scope.new_collection();
        let (dead_letters_in, dead_letters) = scope.new_collection::<DeadLetterRow, isize>();
        let (progress_in, progress) = scope.new_collection::<PartitionProgress, isize>();

        let engagement_on = settings.computes(&[Pipeline::AggregateEngagement]);
        let growth_on = settings.computes(&[Pipeline::DailyGrowth, Pipeline::AggregateGrowth]);
        let profit_on = settings.computes(&[Pipeline::UnitProfit, Pipeline::AggregateProfit]);
        let mut outputs: VecCollection<'_, Epoch, Output> = dead_letters
            .map(Output::DeadLetter)
            .concat(progress.clone().map(Output::Progress));

        // One settlement of the experiment variants feeds both growth and
        // profit, and reports its data-quality issues once.
        let mut variants = None;
        if growth_on || profit_on {
            let assignments = assignments_in_force(experiment_assignments);
            outputs = outputs
                .concat(quality_count(
                    assignments.conflicting_duplicates.map(|_| ()),
                    Feed::ExperimentAssignments,
                    "conflicting_duplicate",
                ))
                .concat(quality_count(
                    assignments.conflicting_assignments.map(|_| ()),
                    Feed::ExperimentAssignments,
                    "conflicting_assignment",
                ));
            variants = Some(assignments.in_force);
        }
        if let Some(variants) = variants.clone().filter(|_| growth_on) {
            outputs = outputs.concat(growth_outputs(
                GrowthInputs {
                    subscriptions,
                    variants,
                    flags: flags.clone(),
                    plan_catalog: plan_catalog.clone(),
                },
                calendar,
            ));
        }
        // Viewing is read once, for both engagement and profit.
        if engagement_on || profit_on {
            let viewing = prepare_viewing(viewing, calendar, horizons);
            if let Some(variants) = variants.filter(|_| profit_on) {
                outputs = outputs.concat(profit_outputs(
                    ProfitInputs {
                        viewing: viewing.copies,
                        billing,
                        ad_revenue,
                        content_costs,
                        operational_costs,
                        variants,
                        payment_settlements,
                        plan_catalog,
                        content_catalog,
                        fx_rates,
                        finance_gl,
                    },
                    settings,
                ));
            }
            if engagement_on {
                let engagement = engagement(viewing.days, flags);
                outputs = outputs
                    .concat(engagement.daily.map(Output::EngagementDaily))
                    .concat(engagement.weekly.map(Output::EngagementWeekly))
                    .concat(quality_count(
                        engagement.conflicting_duplicates.map(|_| ()),
                        Feed::Viewing,
                        "conflicting_duplicate",
                    ));
            }
        }
        let cluster = ClusterProgress::default();
        let heard = cluster.clone();
        progress.inner.clone().broadcast().sink(
            pact::Pipeline,
            "ClusterProgress",
            move |(input, _frontier)| {
                input.for_each(|_time, reports| {
                    for (report, at, diff) in reports.drain(..) {
                        heard.update(report, diff);
                        heard.1.set(heard.1.get().max(at));
                    }
                });
            },
        );
        let (probe, outputs) = outputs.probe();
        // Updates are held until the frontier passes their epoch, so that
        // the store always shows the outputs of whole epochs: what the
        // snapshot publisher reads is a consistent state, never half a batch.
        let mut pending: Vec<(Output, Epoch, isize)> = Vec::new();
        outputs.inner.exchange(|_| 0).sink(
            pact::Pipeline,
            "OutputStore",
            move |(input, frontier)| {
                input.for_each(|_time, updates| pending.append(updates));
                let frontier = frontier.frontier();
                let complete = |epoch: &Epoch| !frontier.less_equal(epoch);
                if !pending.iter().any(|(_, epoch, _)| complete(epoch))
                    && store_frontier_unchanged(&store, frontier.first().copied())
                {
                    return;
                }
                let mut store = store
                    .lock()
                    .expect("no thread panics while holding the output store");
                let mut kept = Vec::with_capacity(pending.len());
                for (row, epoch, diff) in pending.drain(..) {
                    if !complete(&epoch) {
                        kept.push((row, epoch, diff));
                        continue;
                    }
                    // A frozen period keeps its figures: changes after the
                    // horizon are its inputs being retired, not news.
                    let frozen = freeze
                        .as_ref()
                        .and_then(|retention| retention.frozen_from(&row))
                        .is_some_and(|frozen_from| epoch >= frozen_from);
                    if !frozen {
                        store.apply(row, diff as i64);
                    }
                }
                pending = kept;
                store.set_frontier(frontier.first().copied());
            },
        );

        let inputs = FeedInputs {
            viewing: viewing_in,
            subscriptions: subscriptions_in,
            billing: billing_in,
            ad_revenue: ad_revenue_in,
            content_costs: content_costs_in,
            operational_costs: operational_costs_in,
            experiment_assignments: experiment_assignments_in,
            account_flags: flags_in,
            payment_settlements: payment_settlements_in,
            plan_catalog: plan_catalog_in,
            content_catalog: content_catalog_in,
            devices,
            fx_rates: fx_rates_in,
            finance_gl: finance_gl_in,
            dead_letters: dead_letters_in,
            progress: progress_in,
            cluster,
        };
        (inputs, probe)
    })
}

fn store_frontier_unchanged(store: &SharedStore, frontier: Option<Epoch>) -> bool {
    store
        .lock()
        .map(|store| store.frontier() == frontier)
        .unwrap_or(true)
}

/// The profit pipelines' rows and data-quality counts.
fn profit_outputs<'s>(
    inputs: ProfitInputs<'s, Epoch>,
    settings: &Settings,
) -> VecCollection<'s, Epoch, Output> {
    let profit = profit(inputs, &settings.calendar);
    let mut outputs = profit
        .subscriber_monthly
        .map(Output::ProfitSubscriberMonthly)
        .concat(profit.monthly.map(Output::ProfitMonthly));
    for (feed, issue, occurrences) in profit.issues {
        outputs = outputs.concat(quality_count(occurrences, feed, issue));
    }
    outputs
}

/// Steps `worker` until `done()` holds, parking it (instead of spinning)
/// while it waits for other workers: on a machine with as many cores as
/// workers a spinning worker takes CPU from the busy ones.
pub fn step_until(worker: &mut Worker, mut done: impl FnMut() -> bool) {
    while !done() {
        worker.step_or_park(Some(std::time::Duration::from_millis(1)));
    }
}

/// A refusal by [`admit`]: a dead letter still to be given its position.
#[derive(Debug)]
pub struct Refused {
    pub feed: Feed,
    pub kind: &'static str,
    pub reason: String,
    pub raw: String,
}

impl Refused {
    /// The dead letter of a record read from a Kafka partition.
    pub fn letter(self, topic: &str, partition: i32, offset: u64) -> DeadLetter {
        DeadLetter {
            feed: self.feed,
            position: format!("{topic}/{partition}:{offset}"),
            reason: self.reason,
            raw: self.raw,
            kind: self.kind,
        }
    }

    pub fn at(self, source: &str, line: u64) -> DeadLetterRow {
        DeadLetterRow {
            feed: self.feed,
            source: source.to_string(),
            line,
            kind: self.kind.to_string(),
            reason: self.reason,
            raw: self.raw,
        }
    }
}

/// Whether a decoded record may enter the dataflow at `epoch`: one that
/// arrives for a frozen period is refused.
pub fn admit(settings: &Settings, record: &Record, epoch: Epoch) -> Result<(), Refused> {
    match &settings.retention {
        Some(retention) => retention.admit(record, epoch).map_err(|reason| Refused {
            feed: record.feed(),
            kind: crate::incidents::BEYOND_RETENTION,
            reason,
            // The bytes were valid: the record as decoded stands for them.
            raw: serde_json::to_string(record).unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

/// The growth pipelines' rows and data-quality counts.
fn growth_outputs<'s>(
    inputs: GrowthInputs<'s, Epoch>,
    calendar: &Calendar,
) -> VecCollection<'s, Epoch, Output> {
    let growth = growth(inputs, calendar);
    let quality = growth.issues.count().map(|(issue, count)| {
        Output::Quality(QualityCount {
            feed: issue.feed(),
            issue: issue.name().to_string(),
            count: count as i64,
        })
    });
    growth
        .daily
        .map(Output::GrowthDaily)
        .concat(growth.by_variant.map(Output::GrowthDailyByVariant))
        .concat(growth.weekly.map(Output::GrowthWeekly))
        .concat(quality)
}

/// Counts the records of `issues` as one data-quality row.
fn quality_count<'s>(
    issues: VecCollection<'s, Epoch, ()>,
    feed: Feed,
    issue: &'static str,
) -> VecCollection<'s, Epoch, Output> {
    issues.count().map(move |((), count)| {
        Output::Quality(QualityCount {
            feed,
            issue: issue.to_string(),
            count: count as i64,
        })
    })
}
