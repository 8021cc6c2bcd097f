//! Currency normalisation: every amount to US dollars, with the FX
//! look-back rule.
//!
//! An amount in currency `c` with reference date `d` converts with the
//! `fx_rates` row of `c` with the latest date on or before `d`, and at most
//! [`LOOKBACK_DAYS`] days before it: a rate published on `d - 7` still
//! serves, one from `d - 8` does not. USD needs no row (USD rows are
//! ignored). Of two rows for one (date, currency) the one read later
//! counts: rows carry their read position (file line or offset).
//!
//! Arithmetic is exact: amounts are millionths ([`Micros`]), rates 10^-18
//! ([`Rate`]); the product is rounded once, half to even, to a millionth
//! of a dollar ([`to_usd`]). Each rate row serves the eight dates it can
//! reach, so the usable rate of a (currency, date) is one reduction over at
//! most eight candidates, and an amount finds its rate by a join: a new
//! rate touches eight keys, a new amount one.

use differential_dataflow::{ExchangeData, VecCollection};
use streamflix_model::records::FxRate;
use streamflix_model::{Currency, Day, Micros, Rate};

use crate::Time;
use crate::reference::current_rows;

/// A rate serves reference dates up to this many days after its own date.
pub const LOOKBACK_DAYS: i32 = 7;

/// The rate of a dollar in dollars.
pub const ONE: Rate = Rate(Rate::SCALE);

/// An `fx_rates` row with its read position.
pub type PositionedRate = (FxRate, u64);

/// The usable rate of every (currency, reference date) that has one.
pub fn usable_rates<'s, T: Time>(
    fx_rates: VecCollection<'s, T, PositionedRate>,
) -> VecCollection<'s, T, ((Currency, Day), Rate)> {
    let rows = fx_rates.flat_map(|(row, position)| {
        (row.currency != Currency::USD)
            .then_some(((row.currency, row.date), (position, row.usd_per_unit)))
    });
    current_rows("CurrentFxRate", rows, |(position, _)| *position)
        .flat_map(|((currency, date), (_, rate))| {
            (0..=LOOKBACK_DAYS).map(move |back| ((currency, date.plus(back)), (date, rate)))
        })
        .reduce_named(
            "UsableFxRate",
            |_key, candidates: &[(&(Day, Rate), isize)], output: &mut Vec<(Rate, isize)>| {
                // Sorted by date: the last candidate is the latest.
                let (_, rate) = candidates[candidates.len() - 1].0;
                output.push((*rate, 1));
            },
        )
}

/// Prices amounts: each `((currency, reference date), payload)` meets its
/// usable rate (USD its own), and `convert` turns payload and rate into the
/// result. Returns the results, and the payloads with no usable rate or
/// whose conversion does not fit ([`to_usd`] gave `None`).
#[allow(clippy::type_complexity)] // two plain collections
pub fn convert<'s, T, P, Q, F>(
    amounts: VecCollection<'s, T, ((Currency, Day), P)>,
    rates: VecCollection<'s, T, ((Currency, Day), Rate)>,
    convert: F,
) -> (VecCollection<'s, T, Q>, VecCollection<'s, T, P>)
where
    T: Time,
    P: ExchangeData,
    Q: ExchangeData,
    F: Fn(&P, Rate) -> Option<Q> + 'static,
{
    let dollars = amounts
        .clone()
        .flat_map(|((currency, _), payload)| (currency == Currency::USD).then_some(payload));
    let foreign = amounts.filter(|((currency, _), _)| *currency != Currency::USD);
    let priced = foreign
        .clone()
        .join_map(rates, |_key, payload, rate| (payload.clone(), *rate));
    // Each key has at most one usable rate, so what did not join is the
    // amounts less those that did: no second arrangement of the amounts.
    let unpriced = foreign
        .map(|(_, payload)| payload)
        .concat(priced.clone().map(|(payload, _)| payload).negate());
    let outcomes =
        priced
            .concat(dollars.map(|payload| (payload, ONE)))
            .map(move |(payload, rate)| match convert(&payload, rate) {
                Some(result) => Ok(result),
                None => Err(payload),
            });
    let converted = outcomes.clone().flat_map(Result::ok);
    let failed = outcomes.flat_map(Result::err);
    (converted, unpriced.concat(failed))
}

/// `amount x rate` in millionths of a dollar, rounded half to even; `None`
/// if the result does not fit.
pub fn to_usd(amount: Micros, rate: Rate) -> Option<Micros> {
    // amount x rate / 10^18, split so that no product overflows: the whole
    // units of the rate multiply exactly, the fraction (< 10^18) times an
    // i64 fits an i128, and only that part needs rounding.
    let whole = rate.0.div_euclid(Rate::SCALE);
    let fraction = rate.0.rem_euclid(Rate::SCALE);
    let amount = i128::from(amount.0);
    let exact = amount.checked_mul(whole)?;
    let rounded = div_half_even(amount * fraction, Rate::SCALE);
    i64::try_from(exact.checked_add(rounded)?).ok().map(Micros)
}

/// `numerator / denominator` rounded half to even; `denominator > 0`.
pub fn div_half_even(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator.div_euclid(denominator);
    let twice_remainder = 2 * numerator.rem_euclid(denominator);
    if twice_remainder > denominator
        || (twice_remainder == denominator && quotient.rem_euclid(2) == 1)
    {
        quotient + 1
    } else {
        quotient
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, run_once};

    fn rate(text: &str) -> Rate {
        Rate::parse_decimal(text).unwrap()
    }

    fn day(text: &str) -> Day {
        Day::parse(text).unwrap()
    }

    fn row(date: &str, currency: &str, usd_per_unit: &str, position: u64) -> PositionedRate {
        (
            FxRate {
                date: day(date),
                currency: Currency::parse(currency).unwrap(),
                usd_per_unit: rate(usd_per_unit),
            },
            position,
        )
    }

    fn usable(
        batches: Vec<Vec<PositionedRate>>,
    ) -> std::collections::BTreeMap<((Currency, Day), Rate), isize> {
        run(batches, usable_rates)
    }

    #[test]
    fn a_rate_serves_seven_days_after_its_date_and_not_eight() {
        let eur = Currency::parse("EUR").unwrap();
        let rates = usable(vec![vec![row("2026-10-01", "EUR", "1.08", 1)]]);
        for (date, expected) in [
            ("2026-09-30", None),
            ("2026-10-01", Some("1.08")),
            ("2026-10-08", Some("1.08")), // a gap of 7 days
            ("2026-10-09", None),         // a gap of 8 days
        ] {
            let found = rates
                .keys()
                .find(|((currency, d), _)| *currency == eur && *d == day(date))
                .map(|(_, r)| *r);
            assert_eq!(found, expected.map(rate), "{date}");
        }
        assert_eq!(rates.len(), 8);
    }

    #[test]
    fn the_latest_date_wins_and_a_later_row_replaces_an_earlier_one() {
        let rates = usable(vec![
            vec![
                row("2026-10-01", "EUR", "1.00", 1),
                row("2026-10-03", "EUR", "1.30", 2), // corrected below
                row("2026-10-03", "GBP", "1.25", 3),
                row("2026-10-03", "USD", "2", 4), // ignored
            ],
            vec![row("2026-10-03", "EUR", "1.03", 9)],
        ]);
        let eur = Currency::parse("EUR").unwrap();
        let at = |date: &str| {
            rates
                .keys()
                .find(|((c, d), _)| *c == eur && *d == day(date))
                .map(|(_, r)| *r)
        };
        assert_eq!(at("2026-10-02"), Some(rate("1.00")));
        assert_eq!(at("2026-10-03"), Some(rate("1.03")));
        assert_eq!(at("2026-10-10"), Some(rate("1.03")));
        assert_eq!(at("2026-10-11"), None);
        assert!(rates.keys().all(|((c, _), _)| *c != Currency::USD));
        // The same rows in the opposite order of arrival: the position, not
        // the arrival, decides.
        let reordered = usable(vec![
            vec![row("2026-10-03", "EUR", "1.03", 9)],
            vec![row("2026-10-03", "EUR", "1.30", 2)],
        ]);
        assert!(reordered.contains_key(&((eur, day("2026-10-03")), rate("1.03"))));
    }

    #[test]
    fn amounts_convert_or_are_reported_missing() {
        #[derive(
            Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
        )]
        enum In {
            Rate(PositionedRate),
            Amount((Currency, Day), (u32, Micros)),
        }
        let input = vec![
            In::Rate(row("2026-10-01", "EUR", "1.5", 1)),
            // A gap of 7 days: converts.
            In::Amount(
                (Currency::parse("EUR").unwrap(), day("2026-10-08")),
                (1, Micros(2_000_000)),
            ),
            // A gap of 8 days: missing.
            In::Amount(
                (Currency::parse("EUR").unwrap(), day("2026-10-09")),
                (2, Micros(2_000_000)),
            ),
            // No rate at all.
            In::Amount(
                (Currency::parse("JPY").unwrap(), day("2026-10-02")),
                (3, Micros(100)),
            ),
            // Dollars need no rate.
            In::Amount((Currency::USD, day("2020-01-01")), (4, Micros(7))),
        ];
        let out = run_once(input, |records| {
            let rates = usable_rates(records.clone().flat_map(|r| match r {
                In::Rate(rate) => Some(rate),
                In::Amount(..) => None,
            }));
            let amounts = records.flat_map(|r| match r {
                In::Amount(key, payload) => Some((key, payload)),
                In::Rate(_) => None,
            });
            let (converted, missing) = convert(amounts, rates, |(id, amount), rate| {
                to_usd(*amount, rate).map(|usd| (*id, Some(usd)))
            });
            converted.concat(missing.map(|(id, _)| (id, None)))
        });
        let out: Vec<_> = out.into_keys().collect();
        assert_eq!(
            out,
            vec![
                (1, Some(Micros(3_000_000))),
                (2, None),
                (3, None),
                (4, Some(Micros(7)))
            ]
        );
    }

    #[test]
    fn conversion_rounds_half_to_even_once() {
        // 0.000001 x 0.5 = 0.0000005: half, to the even 0.
        assert_eq!(to_usd(Micros(1), rate("0.5")), Some(Micros(0)));
        // 0.000003 x 0.5 = 0.0000015: half, to the even 0.000002.
        assert_eq!(to_usd(Micros(3), rate("0.5")), Some(Micros(2)));
        assert_eq!(to_usd(Micros(-3), rate("0.5")), Some(Micros(-2)));
        assert_eq!(to_usd(Micros(-1), rate("0.5")), Some(Micros(0)));
        // 12.34 EUR at 1.083417 = 13.36936578 -> 13.369366.
        assert_eq!(
            to_usd(Micros(12_340_000), rate("1.083417")),
            Some(Micros(13_369_366))
        );
        // 1000 JPY at 0.006712345678901234 = 6.712345678901234 -> 6.712346.
        assert_eq!(
            to_usd(Micros(1_000_000_000), rate("0.006712345678901234")),
            Some(Micros(6_712_346))
        );
        // Huge amounts at huge rates do not fit, and say so.
        assert_eq!(to_usd(Micros(i64::MAX), rate("1000000000")), None);
        assert_eq!(
            to_usd(Micros(i64::MAX), ONE),
            Some(Micros(i64::MAX)),
            "a dollar is a dollar"
        );
    }

    #[test]
    fn half_even_division() {
        for (n, d, q) in [
            (5, 2, 2),
            (7, 2, 4),
            (-5, 2, -2),
            (-7, 2, -4),
            (1, 3, 0),
            (2, 3, 1),
            (-2, 3, -1),
            (0, 9, 0),
        ] {
            assert_eq!(div_half_even(n, d), q, "{n}/{d}");
        }
    }

    proptest::proptest! {
        /// Rounding to even agrees with exact rational arithmetic: the
        /// error is at most half a unit, and exactly half only towards an
        /// even result.
        #[test]
        fn half_even_is_within_half_a_unit(n in -1_000_000_000i128..1_000_000_000, d in 1i128..100_000) {
            let q = div_half_even(n, d);
            let error = 2 * (n - q * d); // twice (n/d - q), in units of 1/d
            proptest::prop_assert!(error.abs() <= d);
            if error.abs() == d {
                proptest::prop_assert_eq!(q.rem_euclid(2), 0);
            }
        }
    }
}
