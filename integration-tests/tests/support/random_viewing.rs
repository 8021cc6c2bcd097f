//! Random viewing histories with the awkward cases of the definitions:
//! daylight-saving days, sessions across midnight and across several days,
//! gaps of exactly 30 minutes, zero watch time, impossible days, identical
//! and conflicting duplicates, flags.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use streamflix_model::records::{AccountFlag, FlagKind, Record, Viewing};
use streamflix_model::{Calendar, Day, Id, Instant, Micros};

const SECOND: i64 = 1_000_000_000;

pub struct RandomViewing {
    pub viewing: Vec<Viewing>,
    pub flags: Vec<AccountFlag>,
}

impl RandomViewing {
    pub fn records(&self) -> Vec<Record> {
        self.viewing
            .iter()
            .cloned()
            .map(Record::Viewing)
            .chain(self.flags.iter().cloned().map(Record::AccountFlag))
            .collect()
    }
}

pub fn generate(seed: u64, calendar: &Calendar) -> RandomViewing {
    let mut rng = StdRng::seed_from_u64(seed);
    // Around the 2026 daylight-saving changes, or an ordinary week.
    let base = *["2026-03-06", "2026-10-29", "2026-06-15", "2026-12-28"]
        .choose(&mut rng)
        .unwrap();
    let base = Day::parse(base).unwrap();
    let subscribers = rng.random_range(1..=8);
    let mut viewing = Vec::new();
    let mut flags = Vec::new();
    let mut next_id = 0u64;
    for s in 0..subscribers {
        let subscriber: Id = format!("s{s}").into();
        for _ in 0..rng.random_range(1..=6) {
            let day = base.plus(rng.random_range(0..12));
            // Half the bursts start within an hour before midnight.
            let mut time = if rng.random_bool(0.5) {
                calendar.end_of(day).0 - rng.random_range(0..3600) * SECOND
            } else {
                calendar.start_of(day).0 + rng.random_range(0..86_400) * SECOND
            };
            let marathon = rng.random_bool(0.05);
            let bot = rng.random_bool(0.05);
            let events = if marathon {
                100
            } else if bot {
                30
            } else {
                rng.random_range(1..=12)
            };
            for _ in 0..events {
                next_id += 1;
                let duration = *[600i64, 1200, 3600].choose(&mut rng).unwrap();
                let watch = if bot {
                    3600
                } else if marathon {
                    60
                } else if rng.random_bool(0.15) {
                    0
                } else {
                    rng.random_range(1..=600)
                };
                let event_time = Instant(
                    time + if rng.random_bool(0.2) {
                        rng.random_range(0..SECOND)
                    } else {
                        0
                    },
                );
                let event = Viewing {
                    event_id: format!("e{next_id:06}").into(),
                    event_time,
                    subscriber_id: subscriber.clone(),
                    device_id: "d1".into(),
                    content_id: format!("c{}", rng.random_range(0..4)).into(),
                    watch_seconds: Micros::from_units(watch),
                    position_seconds: Micros(rng.random_range(0..=duration * 1_000_000)),
                    duration_seconds: Micros::from_units(duration),
                    received_at: rng
                        .random_bool(0.7)
                        .then(|| Instant(event_time.0 + rng.random_range(0..2_000) * SECOND)),
                };
                if rng.random_bool(0.1) {
                    viewing.push(event.clone());
                }
                if rng.random_bool(0.03) {
                    let mut conflicting = event.clone();
                    conflicting.watch_seconds = Micros::from_units(rng.random_range(0..=600));
                    viewing.push(conflicting);
                }
                viewing.push(event);
                let gap = if marathon {
                    20 * 60
                } else {
                    *[0i64, 60, 600, 1799, 1800, 1800, 1801, 3600, 7200]
                        .choose(&mut rng)
                        .unwrap()
                };
                time += gap * SECOND;
            }
        }
        if rng.random_bool(0.15) {
            next_id += 1;
            flags.push(AccountFlag {
                event_id: format!("f{next_id:06}").into(),
                event_time: Instant(calendar.start_of(base).0),
                subscriber_id: subscriber.clone(),
                flag: FlagKind::Bot,
            });
        }
    }
    RandomViewing { viewing, flags }
}
