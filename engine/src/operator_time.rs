//! Where the workers spend their time, operator by operator.
//!
//! Timely logs when each operator is scheduled and descheduled; adding up
//! those intervals per operator name says which part of the dataflow
//! costs what. Enabled by `STREAMFLIX_PROFILE=1` on `replay`, printed on
//! stderr at the end; off by default because logging costs a little.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};
use timely::worker::Worker;

/// Time per operator name, summed over the attached workers.
#[derive(Clone, Debug, Default)]
pub struct OperatorTime(Arc<Mutex<HashMap<String, Duration>>>);

impl OperatorTime {
    /// True when `STREAMFLIX_PROFILE` asks for it.
    pub fn requested() -> bool {
        std::env::var("STREAMFLIX_PROFILE").is_ok_and(|value| value == "1")
    }

    /// Starts timing the operators of `worker` (call before building
    /// dataflows).
    pub fn attach(&self, worker: &mut Worker) {
        let totals = self.0.clone();
        let mut names: HashMap<usize, String> = HashMap::new();
        let mut started: HashMap<usize, Duration> = HashMap::new();
        if let Some(mut register) = worker.log_register() {
            register.insert::<TimelyEventBuilder, _>(
                "timely",
                move |_time: &Duration, events: &mut Option<Vec<(Duration, TimelyEvent)>>| {
                    let Some(events) = events else { return };
                    let mut totals = totals
                        .lock()
                        .expect("no thread panics while holding the totals");
                    for (at, event) in events.iter() {
                        match event {
                            TimelyEvent::Operates(operator) => {
                                names.insert(operator.id, operator.name.clone());
                            }
                            TimelyEvent::Schedule(schedule) => match schedule.start_stop {
                                StartStop::Start => {
                                    started.insert(schedule.id, *at);
                                }
                                StartStop::Stop => {
                                    if let Some(start) = started.remove(&schedule.id) {
                                        let name = names
                                            .get(&schedule.id)
                                            .cloned()
                                            .unwrap_or_else(|| format!("#{}", schedule.id));
                                        *totals.entry(name).or_default() +=
                                            at.saturating_sub(start);
                                    }
                                }
                            },
                            _ => {}
                        }
                    }
                },
            );
        }
    }

    /// The `count` costliest operators, most expensive first. Nested
    /// operators count inside the region or loop that holds them too.
    pub fn top(&self, count: usize) -> Vec<(String, Duration)> {
        let totals = self
            .0
            .lock()
            .expect("no thread panics while holding the totals");
        let mut rows: Vec<(String, Duration)> = totals
            .iter()
            .map(|(name, time)| (name.clone(), *time))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows.truncate(count);
        rows
    }
}
