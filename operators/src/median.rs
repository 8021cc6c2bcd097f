//! Exact medians per key.
//!
//! The median of an even number of values is the mean of the middle two, so
//! the operator returns twice the median, which is always an integer: the
//! caller divides by two when it formats the figure. The work per update is
//! proportional to the number of distinct values under the key.

use differential_dataflow::{ExchangeData, Hashable, VecCollection};

use crate::Time;

/// For every key with values: the sum of its two middle values (the same
/// value twice when the count is odd), that is twice the median.
pub fn twice_median<'s, T, K>(
    values: VecCollection<'s, T, (K, i64)>,
) -> VecCollection<'s, T, (K, i128)>
where
    T: Time,
    K: ExchangeData + Hashable,
{
    values.reduce_named(
        "Median",
        |_key, sorted: &[(&i64, isize)], output: &mut Vec<(i128, isize)>| {
            let total: isize = sorted.iter().map(|(_, count)| *count).sum();
            if total <= 0 {
                return;
            }
            // 0-based ranks of the middle values.
            let low_rank = (total - 1) / 2;
            let high_rank = total / 2;
            let (mut low, mut high) = (None, None);
            let mut seen = 0isize;
            for (value, count) in sorted {
                let next = seen + count;
                if low.is_none() && low_rank < next {
                    low = Some(**value);
                }
                if high_rank < next {
                    high = Some(**value);
                    break;
                }
                seen = next;
            }
            if let (Some(low), Some(high)) = (low, high) {
                output.push((i128::from(low) + i128::from(high), 1));
            }
        },
    )
}
