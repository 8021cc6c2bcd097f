//! A plain batch computation of the engagement tables, written from the
//! metric definitions without any dataflow, to check the engine against.

use std::collections::{BTreeMap, BTreeSet};

use streamflix_model::records::{AccountFlag, Viewing};
use streamflix_model::{Calendar, Day, Id, fingerprint};
use streamflix_operators::engagement::{EngagementDay, EngagementWeek};
use streamflix_operators::median::three_digits;

const GAP_NANOS: i64 = 1_800_000_000_000;
const DAY_MICROS: i64 = 86_400_000_000;

pub struct EngagementOracle {
    pub daily: Vec<EngagementDay>,
    pub weekly: Vec<EngagementWeek>,
    #[allow(dead_code)] // read by the replay tests once they compare data quality
    pub conflicting_duplicates: usize,
}

fn copy_order(event: &Viewing) -> impl Ord {
    (
        event.event_time,
        fingerprint(&event.subscriber_id),
        fingerprint(&event.content_id) as u64,
        event.watch_seconds,
        event.position_seconds,
        event.duration_seconds,
        event
            .received_at
            .map(|received| received.0 - event.event_time.0),
        fingerprint(&event.device_id) as u64,
    )
}

pub fn engagement(
    viewing: &[Viewing],
    flags: &[AccountFlag],
    calendar: &Calendar,
) -> EngagementOracle {
    // Dedup: of differing copies, the earliest wins; equal times are
    // settled by the rest of the payload in a fixed order (subscriber and
    // content by fingerprint, then the amounts, skew and device).
    let mut by_id: BTreeMap<&Id, Vec<&Viewing>> = BTreeMap::new();
    for event in viewing {
        by_id.entry(&event.event_id).or_default().push(event);
    }
    let mut conflicting_duplicates = 0;
    let mut events: Vec<&Viewing> = Vec::new();
    for copies in by_id.values() {
        let distinct: BTreeSet<&Viewing> = copies.iter().copied().collect();
        if distinct.len() > 1 {
            conflicting_duplicates += 1;
        }
        events.push(
            distinct
                .into_iter()
                .min_by_key(|event| copy_order(event))
                .unwrap(),
        );
    }
    let flagged: BTreeSet<&Id> = flags.iter().map(|flag| &flag.subscriber_id).collect();
    let day_of = |event: &Viewing| calendar.day_of(event.event_time);

    let mut day_watch: BTreeMap<(&Id, Day), i64> = BTreeMap::new();
    for event in &events {
        *day_watch
            .entry((&event.subscriber_id, day_of(event)))
            .or_default() += event.watch_seconds.0;
    }
    let impossible: BTreeSet<(&Id, Day)> = day_watch
        .iter()
        .filter(|(_, watch)| **watch > DAY_MICROS)
        .map(|(key, _)| *key)
        .collect();
    let counted: Vec<&Viewing> = events
        .iter()
        .copied()
        .filter(|e| {
            !flagged.contains(&e.subscriber_id)
                && !impossible.contains(&(&e.subscriber_id, day_of(e)))
        })
        .collect();

    let (Some(first), Some(last)) = (
        events.iter().map(|e| day_of(e)).min(),
        events.iter().map(|e| day_of(e)).max(),
    ) else {
        return EngagementOracle {
            daily: vec![],
            weekly: vec![],
            conflicting_duplicates,
        };
    };
    let active: BTreeSet<(Day, &Id)> = counted
        .iter()
        .filter(|e| e.watch_seconds.0 > 0)
        .map(|e| (day_of(e), &e.subscriber_id))
        .collect();
    let distinct_active = |from: Day, to: Day| -> i64 {
        active
            .iter()
            .filter(|(day, _)| *day >= from && *day <= to)
            .map(|(_, s)| *s)
            .collect::<BTreeSet<_>>()
            .len() as i64
    };

    // Sessions over each subscriber's whole history.
    let mut by_subscriber: BTreeMap<&Id, Vec<&Viewing>> = BTreeMap::new();
    for event in &counted {
        by_subscriber
            .entry(&event.subscriber_id)
            .or_default()
            .push(event);
    }
    #[derive(Default)]
    struct SessionDay {
        sessions: i64,
        watch: i64,
        plays: i64,
        completed: i64,
    }
    let mut session_days: BTreeMap<Day, SessionDay> = BTreeMap::new();
    for events in by_subscriber.values_mut() {
        events.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
        let mut sessions: Vec<Vec<&Viewing>> = Vec::new();
        for event in events.iter() {
            match sessions.last_mut() {
                Some(open)
                    if event.event_time.0 - open.last().unwrap().event_time.0 <= GAP_NANOS =>
                {
                    open.push(event)
                }
                _ => sessions.push(vec![event]),
            }
        }
        for session in sessions {
            let entry = session_days.entry(day_of(session[0])).or_default();
            entry.sessions += 1;
            entry.watch += session.iter().map(|e| e.watch_seconds.0).sum::<i64>();
            let contents: BTreeSet<&Id> = session.iter().map(|e| &e.content_id).collect();
            for content in contents {
                let play: Vec<&&Viewing> = session
                    .iter()
                    .filter(|e| e.content_id == *content)
                    .collect();
                let max_position = play.iter().map(|e| e.position_seconds.0).max().unwrap();
                let duration = play.last().unwrap().duration_seconds.0;
                entry.plays += 1;
                if i128::from(max_position) * 10 >= i128::from(duration) * 9 {
                    entry.completed += 1;
                }
            }
        }
    }

    let mut daily = Vec::new();
    for day in (first.0..=last.0).map(Day) {
        let sessions = session_days.get(&day);
        daily.push(EngagementDay {
            day,
            dau: distinct_active(day, day),
            wau: distinct_active(day.plus(-6), day),
            mau: distinct_active(day.plus(-29), day),
            sessions: sessions.map_or(0, |s| s.sessions),
            watch_micros: counted
                .iter()
                .filter(|e| day_of(e) == day)
                .map(|e| e.watch_seconds.0)
                .sum(),
            session_watch_micros: sessions.map_or(0, |s| s.watch),
            plays: sessions.map_or(0, |s| s.plays),
            completed_plays: sessions.map_or(0, |s| s.completed),
            bot_days: impossible
                .iter()
                .filter(|(s, d)| *d == day && !flagged.contains(s))
                .count() as i64,
        });
    }

    let weeks: BTreeSet<Day> = (first.0..=last.0).map(|d| Day(d).week()).collect();
    let mut weekly = Vec::new();
    for week in weeks {
        let sunday = week.plus(6);
        let in_week = |day: Day| day >= week && day <= sunday;
        let days: Vec<EngagementDay> = (week.0..=sunday.0)
            .map(|d| {
                let day = Day(d);
                let sessions = session_days.get(&day);
                EngagementDay {
                    day,
                    dau: distinct_active(day, day),
                    sessions: sessions.map_or(0, |s| s.sessions),
                    plays: sessions.map_or(0, |s| s.plays),
                    completed_plays: sessions.map_or(0, |s| s.completed),
                    ..EngagementDay::default()
                }
            })
            .collect();
        let mut skews: Vec<i64> = counted
            .iter()
            .filter(|e| in_week(day_of(e)))
            // The engine's median is over skews rounded to three digits (the
            // spec allows 1%); `three_digits`' own tests bound the error.
            .filter_map(|e| e.received_at.map(|r| three_digits(r.0 - e.event_time.0)))
            .collect();
        skews.sort();
        let skew_median_twice_nanos = (!skews.is_empty())
            .then(|| i128::from(skews[(skews.len() - 1) / 2]) + i128::from(skews[skews.len() / 2]));
        weekly.push(EngagementWeek {
            week,
            wau: distinct_active(week, sunday),
            dau_sum: days.iter().map(|d| d.dau).sum(),
            mau: distinct_active(sunday.plus(-29), sunday),
            sessions: days.iter().map(|d| d.sessions).sum(),
            watch_micros: counted
                .iter()
                .filter(|e| in_week(day_of(e)))
                .map(|e| e.watch_seconds.0)
                .sum(),
            plays: days.iter().map(|d| d.plays).sum(),
            completed_plays: days.iter().map(|d| d.completed_plays).sum(),
            skew_median_twice_nanos,
            excluded_subscribers: events
                .iter()
                .filter(|e| flagged.contains(&e.subscriber_id) && in_week(day_of(e)))
                .map(|e| &e.subscriber_id)
                .collect::<BTreeSet<_>>()
                .len() as i64,
            bot_days: impossible
                .iter()
                .filter(|(s, d)| in_week(*d) && !flagged.contains(s))
                .count() as i64,
        });
    }
    EngagementOracle {
        daily,
        weekly,
        conflicting_duplicates,
    }
}
