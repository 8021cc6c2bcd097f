//! Exact amounts: money and seconds as fixed-point integers.
//!
//! Binary floating point would make a sum depend on the order of its terms,
//! and the dataflow adds terms in whatever order batches arrive. Every
//! amount is therefore parsed from its decimal text straight into an
//! integer number of millionths ([`Micros`]), and rates into an integer
//! number of 10^-18 ([`Rate`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount in millionths of its unit (of a currency, or of a second).
///
/// Six decimals hold every cent and every playback microsecond exactly;
/// digits beyond the sixth are rounded half to even.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Micros(pub i64);

/// A conversion rate, in 10^-18 of a unit.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Rate(pub i128);

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Currency(pub [u8; 3]);

pub const MICROS_PER_UNIT: i64 = 1_000_000;

impl Micros {
    pub const ZERO: Micros = Micros(0);

    pub fn from_units(units: i64) -> Micros {
        Micros(units * MICROS_PER_UNIT)
    }

    /// Parses a JSON number's text (`12`, `-0.5`, `1.25e3`) exactly.
    pub fn parse_decimal(text: &str) -> Option<Micros> {
        let value = parse_scaled(text, 6)?;
        i64::try_from(value).ok().map(Micros)
    }

    /// The amount as a float, for display only.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_UNIT as f64
    }
}

impl Rate {
    pub const SCALE: i128 = 1_000_000_000_000_000_000;

    pub fn parse_decimal(text: &str) -> Option<Rate> {
        parse_scaled(text, 18).map(Rate)
    }
}

impl fmt::Display for Micros {
    /// Plain decimal text, trailing zeros trimmed: `12.5`, `-0.000001`, `3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let whole = magnitude / MICROS_PER_UNIT as u64;
        let fraction = magnitude % MICROS_PER_UNIT as u64;
        if fraction == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let digits = format!("{fraction:06}");
            write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl Currency {
    pub const USD: Currency = Currency(*b"USD");

    /// Three upper-case ASCII letters, or nothing.
    pub fn parse(text: &str) -> Option<Currency> {
        let b = text.as_bytes();
        (b.len() == 3 && b.iter().all(u8::is_ascii_uppercase)).then(|| Currency([b[0], b[1], b[2]]))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("validated as ASCII")
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses JSON number text into an integer of 10^-`scale` units, rounding
/// half to even past `scale` decimals. `None` for anything that is not a
/// JSON number or does not fit.
fn parse_scaled(text: &str, scale: i32) -> Option<i128> {
    let b = text.as_bytes();
    let mut pos = 0;
    let negative = b.first() == Some(&b'-');
    if negative {
        pos += 1;
    }
    // The digits are read in place (integer part, then fraction) rather
    // than collected, so that parsing allocates nothing: decoding calls this
    // several times per record.
    let mut fraction_len: i32 = 0;
    let int_start = pos;
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let int_digits = &b[int_start..pos];
    let mut fraction_digits: &[u8] = &[];
    let int_len = pos - int_start;
    if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
        return None;
    }
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == start {
            return None;
        }
        fraction_digits = &b[start..pos];
        fraction_len = (pos - start) as i32;
    }
    let mut exponent: i32 = 0;
    if pos < b.len() && (b[pos] == b'e' || b[pos] == b'E') {
        pos += 1;
        let exp_negative = match b.get(pos) {
            Some(b'-') => {
                pos += 1;
                true
            }
            Some(b'+') => {
                pos += 1;
                false
            }
            _ => false,
        };
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            exponent = exponent
                .saturating_mul(10)
                .saturating_add(i32::from(b[pos] - b'0'));
            pos += 1;
        }
        if pos == start {
            return None;
        }
        if exp_negative {
            exponent = -exponent;
        }
    }
    if pos != b.len() {
        return None;
    }
    // value = digits * 10^(exponent - fraction_len); we want value * 10^scale.
    let shift = exponent.saturating_sub(fraction_len).saturating_add(scale);
    let digit = |k: usize| -> u8 {
        let byte = if k < int_digits.len() {
            int_digits[k]
        } else {
            fraction_digits[k - int_digits.len()]
        };
        byte - b'0'
    };
    let digit_count = int_digits.len() + fraction_digits.len();
    let mut value: i128 = 0;
    if shift >= 0 && digit_count <= 18 && shift <= 18 {
        // The common case, in cheap u64 arithmetic: fewer than 10^18 times
        // at most 10^18 always fits an i128.
        let mut small: u64 = 0;
        for k in 0..digit_count {
            small = small * 10 + u64::from(digit(k));
        }
        value = i128::from(small) * 10i128.pow(shift as u32);
    } else if shift >= 0 {
        for k in 0..digit_count {
            value = value.checked_mul(10)?.checked_add(i128::from(digit(k)))?;
        }
        for _ in 0..shift {
            if value == 0 {
                break;
            }
            value = value.checked_mul(10)?;
        }
    } else {
        let drop = (-shift) as usize;
        if drop > digit_count {
            // Everything is below half a unit unless the digits are large:
            // the value is < 10^(len - drop) <= 0.1 units, so it rounds to 0.
            return Some(0);
        }
        let keep = digit_count - drop;
        for k in 0..keep {
            value = value.checked_mul(10)?.checked_add(i128::from(digit(k)))?;
        }
        let first = digit(keep);
        let tail_nonzero = (keep + 1..digit_count).any(|k| digit(k) != 0);
        let round_up = first > 5 || (first == 5 && (tail_nonzero || value % 2 == 1));
        if round_up {
            value = value.checked_add(1)?;
        }
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_text_exactly() {
        assert_eq!(Micros::parse_decimal("12"), Some(Micros(12_000_000)));
        assert_eq!(Micros::parse_decimal("0.1"), Some(Micros(100_000)));
        assert_eq!(Micros::parse_decimal("-0.000001"), Some(Micros(-1)));
        assert_eq!(Micros::parse_decimal("1.25e3"), Some(Micros(1_250_000_000)));
        assert_eq!(Micros::parse_decimal("125E-2"), Some(Micros(1_250_000)));
        assert_eq!(
            Micros::parse_decimal("1234567890123.456789"),
            Some(Micros(1_234_567_890_123_456_789))
        );
        assert_eq!(Micros::parse_decimal("0"), Some(Micros(0)));
        assert_eq!(Micros::parse_decimal("0e5"), Some(Micros(0)));
    }

    #[test]
    fn rounds_half_to_even_past_six_decimals() {
        assert_eq!(Micros::parse_decimal("0.0000005"), Some(Micros(0)));
        assert_eq!(Micros::parse_decimal("0.0000015"), Some(Micros(2)));
        assert_eq!(Micros::parse_decimal("0.00000051"), Some(Micros(1)));
        assert_eq!(Micros::parse_decimal("1e-30"), Some(Micros(0)));
    }

    #[test]
    fn refuses_what_is_not_a_json_number_or_does_not_fit() {
        for bad in [
            "",
            "-",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "1,5",
            "NaN",
            "1e400",
            "99999999999999999999",
        ] {
            assert_eq!(Micros::parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn displays_plain_decimals() {
        assert_eq!(Micros(12_500_000).to_string(), "12.5");
        assert_eq!(Micros(-1).to_string(), "-0.000001");
        assert_eq!(Micros(3_000_000).to_string(), "3");
    }

    #[test]
    fn rates_keep_eighteen_decimals() {
        assert_eq!(
            Rate::parse_decimal("1.0834"),
            Some(Rate(1_083_400_000_000_000_000))
        );
        assert_eq!(
            Rate::parse_decimal("0.000039370078740157"),
            Some(Rate(39_370_078_740_157))
        );
    }

    #[test]
    fn currencies_are_three_upper_case_letters() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        for bad in ["eur", "EURO", "E1R", ""] {
            assert!(Currency::parse(bad).is_none(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Micros and rates parse through different paths (small numbers in
        /// u64, others in i128); rounding the 18-decimal rate to 6 decimals,
        /// half to even, must give the same millionths.
        #[test]
        fn micros_agree_with_rates_rounded(
            negative: bool,
            int in 0u64..10_000_000_000,
            fraction in proptest::collection::vec(0u8..10, 0..12),
            exponent in proptest::option::of(-12i32..8),
        ) {
            let mut text = format!("{}{int}", if negative { "-" } else { "" });
            if !fraction.is_empty() {
                text.push('.');
                text.extend(fraction.iter().map(|d| char::from(b'0' + d)));
            }
            if let Some(e) = exponent {
                text.push_str(&format!("e{e}"));
            }
            let rate = Rate::parse_decimal(&text).unwrap().0;
            let (quotient, remainder) = (rate.div_euclid(1_000_000_000_000), rate.rem_euclid(1_000_000_000_000));
            let half = 500_000_000_000;
            let rounded = if remainder > half || (remainder == half && quotient % 2 != 0) { quotient + 1 } else { quotient };
            // Rate rounds at 18 decimals first; only inputs exact at 18
            // decimals compare cleanly.
            proptest::prop_assume!(fraction.len() as i32 - exponent.unwrap_or(0) <= 18);
            let expected = i64::try_from(rounded).ok().map(Micros);
            proptest::prop_assert_eq!(Micros::parse_decimal(&text), expected, "{}", text);
        }
    }
}
