//! Rolling windows of distinct subscribers (WAU, MAU).
//!
//! A subscriber active on day `d` counts towards every window that ends on
//! `d .. d + width - 1`. Each active day is expanded into those window ends
//! once, and `distinct` keeps one entry per (window end, subscriber); when a
//! day's activity is retracted (a flag, a correction), its window ends are
//! retracted with it. The work per active day is bounded by `width`.

use differential_dataflow::VecCollection;
use streamflix_model::{Day, Id};

use crate::Time;

/// `(window end, subscriber)` for every window of `width` days in which the
/// subscriber was active, each pair once.
pub fn rolling_distinct<'s, T: Time>(
    active: VecCollection<'s, T, (Day, Id)>,
    width: i32,
) -> VecCollection<'s, T, (Day, Id)> {
    active
        .flat_map(move |(day, subscriber)| (0..width).map(move |offset| (day.plus(offset), subscriber.clone())))
        .distinct()
}
