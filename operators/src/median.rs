//! Exact medians per key.
//!
//! The median of an even number of values is the mean of the middle two, so
//! the operator returns twice the median, which is always an integer: the
//! caller divides by two when it formats the figure. The work per update,
//! and the state, are proportional to the number of distinct values under
//! the key.
//!
//! The weekly skew median is taken over a sketch of the skews: each is
//! rounded to three significant decimal digits ([`three_digits`]) before it
//! is counted. The spec allows a median within 1%; rounding moves each
//! value by at most 0.5%, and since rounding keeps the order of values, the
//! median of the rounded values is the rounded median (or, for an even
//! count, the mean of two rounded middle values). A week then holds a few
//! thousand distinct skews instead of one per event.

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

/// `value` rounded to three significant decimal digits, halves away from
/// zero: 1,234,567 becomes 1,230,000 and 5,000,000,000 stays. Values below
/// 1,000 in magnitude are already exact. Never further than 0.5% from
/// `value`, and rounding keeps the order of any two values.
pub fn three_digits(value: i64) -> i64 {
    let magnitude = i128::from(value).abs();
    let mut unit: i128 = 1;
    while magnitude >= 1_000 * unit {
        unit *= 10;
    }
    let rounded = (magnitude + unit / 2) / unit * unit;
    let signed = if value < 0 { -rounded } else { rounded };
    // Only magnitudes near i64::MAX could round past it, and they round down.
    signed.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::three_digits;

    #[test]
    fn keeps_three_significant_digits() {
        assert_eq!(three_digits(999), 999);
        assert_eq!(three_digits(1_234_567), 1_230_000);
        assert_eq!(three_digits(1_235_000), 1_240_000);
        assert_eq!(three_digits(-1_235_000), -1_240_000);
        assert_eq!(three_digits(5_000_000_000), 5_000_000_000);
        assert_eq!(three_digits(9_995), 10_000);
        assert_eq!(three_digits(i64::MAX), 9_220_000_000_000_000_000);
        assert_eq!(three_digits(i64::MIN), -9_220_000_000_000_000_000);
        assert_eq!(three_digits(-999_500), -1_000_000);
    }

    proptest! {
        #[test]
        fn within_half_a_percent_and_keeps_order(a in any::<i64>(), b in any::<i64>()) {
            for value in [a, b] {
                let error = (i128::from(three_digits(value)) - i128::from(value)).abs();
                prop_assert!(error * 200 <= i128::from(value).abs(), "{value}");
            }
            if a <= b {
                prop_assert!(three_digits(a) <= three_digits(b));
            }
        }

        #[test]
        fn median_of_rounded_skews_within_one_percent(
            mut skews in prop::collection::vec(0i64..3_600_000_000_000, 1..200),
        ) {
            let twice_median = |values: &mut Vec<i64>| {
                values.sort_unstable();
                i128::from(values[(values.len() - 1) / 2]) + i128::from(values[values.len() / 2])
            };
            let mut rounded: Vec<i64> = skews.iter().map(|s| three_digits(*s)).collect();
            let exact = twice_median(&mut skews);
            let sketched = twice_median(&mut rounded);
            prop_assert!((sketched - exact).abs() * 100 <= exact, "{sketched} against {exact}");
        }
    }
}
