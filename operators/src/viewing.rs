//! The viewing feed, read once for every pipeline that needs it.
//!
//! Viewing is by far the largest feed, and both engagement and profit read
//! every event of it. Each event is therefore taken apart here once: its
//! ids fingerprinted, its business day found, its copies settled by one
//! deduplication ([`crate::viewing_dedup`]). Engagement receives
//! heartbeats per (subscriber, day) with the suppressions that
//! deduplication rules; profit receives a compact copy of each event with
//! the surplus copies to subtract.
//!
//! With restatement horizons ([`crate::retention`]), raw events leave the
//! state once their day can no longer receive events, and what was built
//! from them stays as compact facts for as long as a figure may change:
//! nothing is retracted in advance.

use differential_dataflow::VecCollection;
use streamflix_model::records::Viewing;
use streamflix_model::{Calendar, Day, Fingerprint, fingerprint};

use crate::Time;
use crate::retention::SharedHorizons;
use crate::split::fork;
use crate::subscriber_day::{ContentKey, DayInput, Heartbeat};
use crate::viewing_dedup::{ViewCopy, dedup_viewing};

/// What engagement reads of viewing.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct ViewingDays<'s, T: Time> {
    /// Heartbeats and suppressions per (subscriber, day).
    pub inputs: VecCollection<'s, T, ((Fingerprint, Day), DayInput)>,
    /// Events whose copies fall in different subscriber-days.
    pub cross_day_conflicts: VecCollection<'s, T, Fingerprint>,
    pub horizons: SharedHorizons<T>,
}

/// What profit reads of viewing: every copy, and the copies that do not
/// count.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct ViewingCopies<'s, T: Time> {
    /// `(event, copy)`.
    pub copies: VecCollection<'s, T, (Fingerprint, ViewCopy)>,
    pub surplus: VecCollection<'s, T, ViewCopy>,
    pub horizons: SharedHorizons<T>,
}

/// The viewing feed, prepared for both pipelines.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct PreparedViewing<'s, T: Time> {
    pub days: ViewingDays<'s, T>,
    pub copies: ViewingCopies<'s, T>,
}

/// Prepares decoded viewing events for engagement and profit.
pub fn prepare_viewing<'s, T: Time>(
    viewing: VecCollection<'s, T, Viewing>,
    calendar: &Calendar,
    horizons: SharedHorizons<T>,
) -> PreparedViewing<'s, T> {
    let day_of = calendar.clone();
    let (keyed_copies, beats) = fork("PrepareViewing", viewing, move |event: Viewing| {
        let day = day_of.day_of(event.event_time);
        let subscriber = fingerprint(&event.subscriber_id);
        let content = fingerprint(&event.content_id);
        let copy = ViewCopy {
            time: event.event_time,
            subscriber,
            content,
            watch: event.watch_seconds.0,
        };
        let beat = Heartbeat {
            time: event.event_time,
            content: content as ContentKey,
            watch: event.watch_seconds.0,
            position: event.position_seconds.0,
            duration: event.duration_seconds.0,
            skew: event
                .received_at
                .map(|received| received.0 - event.event_time.0),
            device: fingerprint(&event.device_id) as u64,
            event_id: event.event_id,
        };
        (
            (fingerprint(&beat.event_id), copy),
            ((subscriber, day), DayInput::Beat(beat)),
        )
    });
    let corrections = dedup_viewing(keyed_copies.clone(), calendar, horizons.clone());
    let inputs = beats.concat(
        corrections
            .suppressions
            .map(|(group, event)| (group, DayInput::suppress(event))),
    );
    PreparedViewing {
        days: ViewingDays {
            inputs,
            cross_day_conflicts: corrections.conflicts,
            horizons: horizons.clone(),
        },
        copies: ViewingCopies {
            copies: keyed_copies,
            surplus: corrections.surplus,
            horizons,
        },
    }
}
