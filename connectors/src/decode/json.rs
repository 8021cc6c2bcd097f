//! The JSON layer of decoding: one pass over a record's text that finds the
//! feed's fields as borrowed raw values, and the typed readers ([`Field`])
//! that turn one raw value into an id, an instant, an exact amount...
//!
//! Why not derive `Deserialize` for each feed: serde's derived structs also
//! accept a JSON array as a struct (by position), report duplicates and
//! type errors only as message text, and would read numbers through `f64`.
//! Here the object is walked by hand, every field value is kept as its raw
//! text (`&RawValue`, no allocation), and each reader checks exactly one
//! rule of the contract, so each refusal has a precise kind and message.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use streamflix_model::{Currency, Day, Id, Instant, Micros, Month, Rate};

use super::error::{DecodeError, FieldPath, excerpt, quote};

/// Ids longer than this many bytes are refused (feed contract).
pub const MAX_ID_BYTES: usize = 128;

/// Why text is not an object with distinct keys.
#[derive(Debug)]
pub(crate) enum ObjectProblem {
    NotJson(serde_json::Error),
    /// What the text is instead: "an array", "a string"...
    NotObject(&'static str),
    Duplicate(String),
}

/// Finds `names` among the top-level keys of the JSON object `text`,
/// returning each one's raw value in the order of `names`. Other keys are
/// skipped (after checking that their values are valid JSON).
pub(crate) fn scan_object<'de, const N: usize>(
    text: &'de str,
    names: &[&'static str; N],
) -> Result<[Option<&'de RawValue>; N], ObjectProblem> {
    let mut slots = [None; N];
    let mut problem = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = ObjectSeed {
        names,
        slots: &mut slots,
        problem: &mut problem,
    };
    // A syntax error anywhere outranks a problem seen before it: the text
    // is not JSON at all, which is the more fundamental refusal.
    seed.deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(ObjectProblem::NotJson)?;
    match problem {
        Some(problem) => Err(problem),
        None => Ok(slots),
    }
}

/// Scans a JSON object into fields carrying their names, mapping problems to
/// the record-level errors.
pub(crate) fn fields<'de, const N: usize>(
    text: &'de str,
    names: &[&'static str; N],
) -> Result<[Field<'de>; N], DecodeError> {
    let slots = scan_object(text, names).map_err(|problem| match problem {
        ObjectProblem::NotJson(error) => DecodeError::NotJson(error.to_string()),
        ObjectProblem::NotObject(what) => DecodeError::NotObject(what),
        ObjectProblem::Duplicate(name) => DecodeError::DuplicateField(name.into()),
    })?;
    let mut i = 0;
    Ok(slots.map(|raw| {
        let field = Field::new(FieldPath::Borrowed(names[i]), raw);
        i += 1;
        field
    }))
}

struct ObjectSeed<'a, 'de, const N: usize> {
    names: &'a [&'static str; N],
    slots: &'a mut [Option<&'de RawValue>; N],
    problem: &'a mut Option<ObjectProblem>,
}

impl<'de, const N: usize> ObjectSeed<'_, 'de, N> {
    fn not_object<E>(self, what: &'static str) -> Result<(), E> {
        *self.problem = Some(ObjectProblem::NotObject(what));
        Ok(())
    }
}

impl<'de, const N: usize> DeserializeSeed<'de> for ObjectSeed<'_, 'de, N> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for ObjectSeed<'_, 'de, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Unknown keys are remembered only to catch their duplicates; the
        // set is made only once an unknown key shows up.
        let mut unknown: Option<HashSet<Cow<'de, str>>> = None;
        // Producers mostly write the fields in contract order, so the name
        // after the last one found is tried first.
        let mut expected = 0;
        while let Some(key) = map.next_key_seed(KeySeed {
            names: self.names,
            expected,
        })? {
            match key {
                Key::Known(i) => {
                    expected = i + 1;
                    let value: &'de RawValue = map.next_value()?;
                    if self.slots[i].is_some() {
                        self.problem.get_or_insert_with(|| {
                            ObjectProblem::Duplicate(self.names[i].to_owned())
                        });
                    } else {
                        self.slots[i] = Some(value);
                    }
                }
                Key::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    let unknown = unknown.get_or_insert_with(HashSet::new);
                    if unknown.contains(&name) {
                        self.problem
                            .get_or_insert_with(|| ObjectProblem::Duplicate(name.into_owned()));
                    } else {
                        unknown.insert(name);
                    }
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Read to the end so that a syntax error later on still counts as
        // "not JSON".
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.not_object("an array")
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.not_object("a string")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.not_object("a boolean")
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.not_object("a number")
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.not_object("a number")
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.not_object("a number")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.not_object("null")
    }
}

enum Key<'de> {
    Known(usize),
    Unknown(Cow<'de, str>),
}

struct KeySeed<'a, const N: usize> {
    names: &'a [&'static str; N],
    /// The index to try first.
    expected: usize,
}

impl<const N: usize> KeySeed<'_, N> {
    fn lookup(&self, key: &str) -> Option<usize> {
        if self
            .names
            .get(self.expected)
            .is_some_and(|name| *name == key)
        {
            return Some(self.expected);
        }
        self.names.iter().position(|name| *name == key)
    }
}

impl<'de, const N: usize> DeserializeSeed<'de> for KeySeed<'_, N> {
    type Value = Key<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key<'de>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for KeySeed<'_, N> {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
        Ok(self
            .lookup(key)
            .map_or(Key::Unknown(Cow::Borrowed(key)), Key::Known))
    }

    // Keys with escapes arrive unescaped in a scratch buffer.
    fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
        Ok(self
            .lookup(key)
            .map_or_else(|| Key::Unknown(Cow::Owned(key.to_owned())), Key::Known))
    }
}

/// What a raw JSON value is, for "expected X, found Y" messages.
fn describe(raw: &str) -> String {
    let what = match raw.as_bytes().first() {
        Some(b'"') => return format!("a string ({})", excerpt(raw)),
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    };
    format!("{what} ({})", excerpt(raw))
}

/// One field of a record: its name and its raw JSON text, `None` when the
/// key is absent or its value is `null` (the two mean the same here).
#[derive(Clone, Debug)]
pub(crate) struct Field<'de> {
    pub name: FieldPath,
    raw: Option<&'de str>,
}

impl<'de> Field<'de> {
    pub fn new(name: FieldPath, raw: Option<&'de RawValue>) -> Field<'de> {
        Field {
            name,
            raw: raw.map(RawValue::get).filter(|text| *text != "null"),
        }
    }

    pub fn is_present(&self) -> bool {
        self.raw.is_some()
    }

    /// The raw text, or `missing_field`.
    pub fn required(&self) -> Result<&'de str, DecodeError> {
        self.raw.ok_or_else(|| DecodeError::MissingField {
            field: self.name.clone(),
        })
    }

    pub fn wrong_type(&self, expected: &'static str, raw: &str) -> DecodeError {
        DecodeError::WrongType {
            field: self.name.clone(),
            expected,
            found: describe(raw),
        }
    }

    fn out_of_range(&self, raw: &str, range: &'static str) -> DecodeError {
        DecodeError::OutOfRange {
            field: self.name.clone(),
            value: excerpt(raw),
            range,
        }
    }

    /// A required string, unescaped (borrowed unless it had escapes).
    pub fn string(&self) -> Result<Cow<'de, str>, DecodeError> {
        let raw = self.required()?;
        match raw.as_bytes() {
            [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
                Ok(Cow::Borrowed(&raw[1..raw.len() - 1]))
            }
            [b'"', ..] => serde_json::from_str::<String>(raw)
                .map(Cow::Owned)
                // The scanner already validated the string; this is unreachable
                // in practice but must not panic.
                .map_err(|_| self.wrong_type("a string", raw)),
            _ => Err(self.wrong_type("a string", raw)),
        }
    }

    pub fn opt_string(&self) -> Result<Option<Cow<'de, str>>, DecodeError> {
        if self.is_present() {
            self.string().map(Some)
        } else {
            Ok(None)
        }
    }

    /// A required id: a string of 1 to [`MAX_ID_BYTES`] bytes.
    pub fn id(&self) -> Result<Id, DecodeError> {
        let text = self.string()?;
        if text.is_empty() || text.len() > MAX_ID_BYTES {
            return Err(DecodeError::BadId {
                field: self.name.clone(),
                value: quote(&text),
                bytes: text.len(),
            });
        }
        Ok(Id::new(&text))
    }

    pub fn opt_id(&self) -> Result<Option<Id>, DecodeError> {
        if self.is_present() {
            self.id().map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn instant(&self) -> Result<Instant, DecodeError> {
        let text = self.string()?;
        Instant::parse_rfc3339(&text).map_err(|error| DecodeError::BadTimestamp {
            field: self.name.clone(),
            value: quote(&text),
            reason: error.to_string(),
        })
    }

    pub fn opt_instant(&self) -> Result<Option<Instant>, DecodeError> {
        if self.is_present() {
            self.instant().map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn day(&self) -> Result<Day, DecodeError> {
        let text = self.string()?;
        Day::parse(&text).ok_or_else(|| DecodeError::BadDate {
            field: self.name.clone(),
            value: quote(&text),
        })
    }

    pub fn month(&self) -> Result<Month, DecodeError> {
        let text = self.string()?;
        Month::parse(&text).ok_or_else(|| DecodeError::BadMonth {
            field: self.name.clone(),
            value: quote(&text),
        })
    }

    pub fn currency(&self) -> Result<Currency, DecodeError> {
        let text = self.string()?;
        Currency::parse(&text).ok_or_else(|| DecodeError::BadCurrency {
            field: self.name.clone(),
            value: quote(&text),
        })
    }

    /// The text of a required JSON number (never a string holding one).
    pub fn number(&self) -> Result<&'de str, DecodeError> {
        let raw = self.required()?;
        match raw.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => Ok(raw),
            _ => Err(self.wrong_type("a number", raw)),
        }
    }

    /// Any number, exactly, in millionths. Range checks apply to this
    /// value, i.e. after rounding to six decimals, the value the engine uses.
    pub fn micros(&self) -> Result<Micros, DecodeError> {
        let raw = self.number()?;
        Micros::parse_decimal(raw)
            .ok_or_else(|| self.out_of_range(raw, "-9223372036854.775808..=9223372036854.775807"))
    }

    /// A number for which `accept` holds; `range` describes it in messages.
    pub fn micros_where(
        &self,
        accept: impl Fn(Micros) -> bool,
        range: &'static str,
    ) -> Result<Micros, DecodeError> {
        let value = self.micros()?;
        if accept(value) {
            Ok(value)
        } else {
            Err(self.out_of_range(self.raw.unwrap_or_default(), range))
        }
    }

    /// Money: >= 0.
    pub fn money(&self) -> Result<Micros, DecodeError> {
        self.micros_where(|value| value >= Micros::ZERO, ">= 0")
    }

    pub fn opt_money(&self) -> Result<Option<Micros>, DecodeError> {
        if self.is_present() {
            self.money().map(Some)
        } else {
            Ok(None)
        }
    }

    /// A rate > 0, to 18 decimals.
    pub fn positive_rate(&self) -> Result<Rate, DecodeError> {
        let raw = self.number()?;
        match Rate::parse_decimal(raw) {
            Some(rate) if rate.0 > 0 => Ok(rate),
            Some(_) => Err(self.out_of_range(raw, "> 0")),
            None => Err(self.out_of_range(raw, "> 0 and at most 1.7e20")),
        }
    }

    /// A JSON integer: digits only, no fraction or exponent.
    pub fn integer(&self) -> Result<i64, DecodeError> {
        let raw = self.number()?;
        if raw.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            return Err(self.wrong_type("an integer", raw));
        }
        raw.parse::<i64>()
            .map_err(|_| self.out_of_range(raw, "-9223372036854775808..=9223372036854775807"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan<const N: usize>(
        text: &str,
        names: &[&'static str; N],
    ) -> Result<Vec<Option<String>>, String> {
        match scan_object(text, names) {
            Ok(slots) => Ok(slots
                .iter()
                .map(|slot| slot.map(|raw| raw.get().to_owned()))
                .collect()),
            Err(ObjectProblem::NotJson(_)) => Err("not_json".into()),
            Err(ObjectProblem::NotObject(what)) => Err(format!("not_object {what}")),
            Err(ObjectProblem::Duplicate(name)) => Err(format!("duplicate {name}")),
        }
    }

    #[test]
    fn finds_known_keys_and_skips_others() {
        let got = scan(
            r#" {"b": [1, {"x": 2}], "a" : "s", "c": 1.5e3 } "#,
            &["a", "c", "z"],
        )
        .unwrap();
        assert_eq!(got, vec![Some("\"s\"".into()), Some("1.5e3".into()), None]);
    }

    #[test]
    fn escaped_keys_match_their_unescaped_names() {
        let got = scan(r#"{"\u0061": 1}"#, &["a"]).unwrap();
        assert_eq!(got, vec![Some("1".into())]);
    }

    #[test]
    fn classifies_non_objects_and_bad_json() {
        assert_eq!(scan("[1, 2]", &["a"]), Err("not_object an array".into()));
        assert_eq!(scan("\"x\"", &["a"]), Err("not_object a string".into()));
        assert_eq!(scan("12", &["a"]), Err("not_object a number".into()));
        assert_eq!(scan("-1.5", &["a"]), Err("not_object a number".into()));
        assert_eq!(scan("true", &["a"]), Err("not_object a boolean".into()));
        assert_eq!(scan("null", &["a"]), Err("not_object null".into()));
        assert_eq!(scan("[1, 2", &["a"]), Err("not_json".into()));
        assert_eq!(scan("{\"a\": 1} x", &["a"]), Err("not_json".into()));
        assert_eq!(scan("{\"a\": 1,}", &["a"]), Err("not_json".into()));
        assert_eq!(scan("", &["a"]), Err("not_json".into()));
        assert_eq!(scan("{\"a\": 01}", &["a"]), Err("not_json".into()));
        assert_eq!(scan("{\"a\": NaN}", &["a"]), Err("not_json".into()));
    }

    #[test]
    fn syntax_errors_outrank_earlier_duplicates() {
        assert_eq!(scan("{\"a\": 1, \"a\": 2", &["a"]), Err("not_json".into()));
    }

    #[test]
    fn duplicates_are_caught_for_known_and_unknown_keys() {
        assert_eq!(
            scan(r#"{"a": 1, "a": 1}"#, &["a"]),
            Err("duplicate a".into())
        );
        assert_eq!(
            scan(r#"{"x": 1, "y": 2, "x": 3}"#, &["a"]),
            Err("duplicate x".into())
        );
        assert_eq!(
            scan(r#"{"x": 1, "\u0078": 3}"#, &["a"]),
            Err("duplicate x".into())
        );
        // The same key in different nested objects is fine.
        assert!(scan(r#"{"x": {"k": 1}, "y": {"k": 2}}"#, &["a"]).is_ok());
    }

    fn field(raw: &'static str) -> Field<'static> {
        let value: &'static RawValue = serde_json::from_str(raw).unwrap();
        Field::new("f".into(), Some(value))
    }

    #[test]
    fn strings_are_unescaped_and_borrowed_when_possible() {
        assert!(matches!(
            field(r#""plain""#).string().unwrap(),
            Cow::Borrowed("plain")
        ));
        assert_eq!(
            field(r#""a\"b\\c\u00e9\n""#).string().unwrap(),
            "a\"b\\c\u{e9}\n"
        );
        assert_eq!(field(r#""\ud83d\ude00""#).string().unwrap(), "\u{1F600}");
        assert_eq!(field("12").string().unwrap_err().kind(), "wrong_type");
    }

    #[test]
    fn null_reads_as_absent() {
        let null = field("null");
        assert!(!null.is_present());
        assert_eq!(null.id().unwrap_err().to_string(), "field `f` is missing");
        assert_eq!(null.opt_id().unwrap(), None);
    }

    #[test]
    fn ids_are_counted_in_bytes_after_unescaping() {
        assert_eq!(field(r#""\u00e9""#).id().unwrap(), "é");
        let at_limit: &'static str = format!("\"{}\"", "é".repeat(64)).leak();
        assert_eq!(field(at_limit).id().unwrap().len(), 128);
        let over: &'static str = format!("\"{}x\"", "é".repeat(64)).leak();
        let error = field(over).id().unwrap_err();
        assert_eq!(error.kind(), "bad_id");
        assert!(error.to_string().contains("129"), "{error}");
        assert_eq!(field(r#""""#).id().unwrap_err().kind(), "bad_id");
    }

    #[test]
    fn numbers_are_exact_and_never_strings() {
        assert_eq!(field("0.1").micros().unwrap(), Micros(100_000));
        assert_eq!(field("1e-6").micros().unwrap(), Micros(1));
        assert_eq!(field("-2.5E1").micros().unwrap(), Micros(-25_000_000));
        assert_eq!(field("\"1\"").micros().unwrap_err().kind(), "wrong_type");
        assert_eq!(field("true").micros().unwrap_err().kind(), "wrong_type");
        assert_eq!(field("[1]").micros().unwrap_err().kind(), "wrong_type");
        assert_eq!(field("1e400").micros().unwrap_err().kind(), "out_of_range");
        assert_eq!(
            field("-1").money().unwrap_err().to_string(),
            "field `f`: -1 is out of range >= 0"
        );
    }

    #[test]
    fn integers_refuse_fractions_and_overflow() {
        assert_eq!(field("-3").integer().unwrap(), -3);
        assert_eq!(field("2.0").integer().unwrap_err().kind(), "wrong_type");
        assert_eq!(field("2e0").integer().unwrap_err().kind(), "wrong_type");
        assert_eq!(
            field("99999999999999999999").integer().unwrap_err().kind(),
            "out_of_range"
        );
    }

    #[test]
    fn rates_must_be_positive() {
        assert_eq!(
            field("1.08").positive_rate().unwrap(),
            Rate(1_080_000_000_000_000_000)
        );
        assert_eq!(
            field("0").positive_rate().unwrap_err().kind(),
            "out_of_range"
        );
        assert_eq!(
            field("-1").positive_rate().unwrap_err().kind(),
            "out_of_range"
        );
    }
}
