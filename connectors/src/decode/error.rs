//! Why a record was refused: [`DecodeError`], its stable reason kinds and
//! its one-line messages.
//!
//! The kind is what dead letters are counted by, so it must never change
//! once published; the message is for the person reading the dead-letter
//! file, so it names the field and quotes (a bounded prefix of) the value.

use std::borrow::Cow;
use std::fmt;

/// The path of a field inside a record: `watch_seconds`, or
/// `addons[2].amount` inside an array.
pub type FieldPath = Cow<'static, str>;

/// The longest value quoted in a message, in characters: a dead letter keeps
/// the whole raw record anyway, and a reason must stay one readable line.
const QUOTE_LIMIT: usize = 64;

/// Why a record cannot be used. Every variant is one rule of the feed
/// contract; [`DecodeError::kind`] is its stable counting code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Invalid UTF-8, a syntax error, trailing garbage, or nesting deeper
    /// than the parser's recursion limit (128).
    #[error("not JSON: {0}")]
    NotJson(String),
    /// Valid JSON whose top level is not an object.
    #[error("not a JSON object: the record is {0}")]
    NotObject(&'static str),
    /// A required field is absent or `null` (null means absent everywhere).
    #[error("field `{field}` is missing")]
    MissingField { field: FieldPath },
    #[error("field `{field}`: expected {expected}, found {found}")]
    WrongType {
        field: FieldPath,
        expected: &'static str,
        found: String,
    },
    #[error("field `{field}`: {value} is out of range {range}")]
    OutOfRange {
        field: FieldPath,
        value: String,
        range: &'static str,
    },
    /// An id that is empty or longer than 128 bytes.
    #[error(
        "field `{field}`: {value} is not an id (a string of 1 to 128 bytes, this one has {bytes})"
    )]
    BadId {
        field: FieldPath,
        value: String,
        bytes: usize,
    },
    #[error("field `type`: unknown subscription type {0} (expected signup, plan_change or cancel)")]
    UnknownType(String),
    #[error("field `flag`: unknown flag {0} (expected bot, spam, fraud or test)")]
    UnknownFlag(String),
    #[error(
        "field `account`: unknown GL account {0} (expected revenue, content_cost or operational_cost)"
    )]
    UnknownAccount(String),
    #[error("field `{field}`: {value} is {reason}")]
    BadTimestamp {
        field: FieldPath,
        value: String,
        reason: String,
    },
    #[error("field `{field}`: {value} is not a date (YYYY-MM-DD)")]
    BadDate { field: FieldPath, value: String },
    #[error("field `{field}`: {value} is not a month (YYYY-MM)")]
    BadMonth { field: FieldPath, value: String },
    #[error("field `{field}`: {value} is not a currency code (3 upper-case letters)")]
    BadCurrency { field: FieldPath, value: String },
    #[error("field `schema_version`: version {0} is not supported (this engine reads version 1)")]
    UnsupportedSchemaVersion(String),
    #[error("field `{0}` appears more than once in one object")]
    DuplicateField(FieldPath),
    /// A record longer than its source allows (a file line past the
    /// reader's limit); raised by sources, never by [`crate::decode::decode`].
    #[error("record of {bytes} bytes or more is larger than the limit of {limit} bytes")]
    TooLarge { bytes: u64, limit: u64 },
}

impl DecodeError {
    /// Every kind [`DecodeError::kind`] can return, sorted.
    pub const KINDS: [&'static str; 16] = [
        "bad_currency",
        "bad_date",
        "bad_id",
        "bad_month",
        "bad_timestamp",
        "duplicate_field",
        "missing_field",
        "not_json",
        "not_object",
        "out_of_range",
        "too_large",
        "unknown_account",
        "unknown_flag",
        "unknown_type",
        "unsupported_schema_version",
        "wrong_type",
    ];

    /// A stable snake_case code for counting dead letters by reason.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::NotJson(_) => "not_json",
            DecodeError::NotObject(_) => "not_object",
            DecodeError::MissingField { .. } => "missing_field",
            DecodeError::WrongType { .. } => "wrong_type",
            DecodeError::OutOfRange { .. } => "out_of_range",
            DecodeError::BadId { .. } => "bad_id",
            DecodeError::UnknownType(_) => "unknown_type",
            DecodeError::UnknownFlag(_) => "unknown_flag",
            DecodeError::UnknownAccount(_) => "unknown_account",
            DecodeError::BadTimestamp { .. } => "bad_timestamp",
            DecodeError::BadDate { .. } => "bad_date",
            DecodeError::BadMonth { .. } => "bad_month",
            DecodeError::BadCurrency { .. } => "bad_currency",
            DecodeError::UnsupportedSchemaVersion(_) => "unsupported_schema_version",
            DecodeError::DuplicateField(_) => "duplicate_field",
            DecodeError::TooLarge { .. } => "too_large",
        }
    }

    /// The field the error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            DecodeError::MissingField { field }
            | DecodeError::WrongType { field, .. }
            | DecodeError::OutOfRange { field, .. }
            | DecodeError::BadId { field, .. }
            | DecodeError::BadTimestamp { field, .. }
            | DecodeError::BadDate { field, .. }
            | DecodeError::BadMonth { field, .. }
            | DecodeError::BadCurrency { field, .. }
            | DecodeError::DuplicateField(field) => Some(field),
            DecodeError::UnknownType(_) => Some("type"),
            DecodeError::UnknownFlag(_) => Some("flag"),
            DecodeError::UnknownAccount(_) => Some("account"),
            DecodeError::UnsupportedSchemaVersion(_) => Some("schema_version"),
            DecodeError::NotJson(_) | DecodeError::NotObject(_) | DecodeError::TooLarge { .. } => {
                None
            }
        }
    }
}

/// A string value as it appears in a message: quoted and escaped (so the
/// message stays on one line) and cut after [`QUOTE_LIMIT`] characters.
pub(crate) fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
    }
}

/// Raw JSON text of a non-string value (a number, an object...) for a
/// message: kept on one line and cut like [`quote`].
pub(crate) fn excerpt(raw: &str) -> String {
    let one_line = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(QUOTE_LIMIT) {
        None => one_line,
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
    }
}

/// Formats a path inside an array: `addons[2].amount`.
pub(crate) struct Indexed<'a> {
    pub array: &'a str,
    pub index: usize,
    pub field: Option<&'a str>,
}

impl fmt::Display for Indexed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.array, self.index)?;
        if let Some(field) = self.field {
            write!(f, ".{field}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_list_is_sorted_and_complete() {
        let mut sorted = DecodeError::KINDS;
        sorted.sort_unstable();
        assert_eq!(sorted, DecodeError::KINDS);
        let samples = [
            DecodeError::NotJson(String::new()),
            DecodeError::NotObject("an array"),
            DecodeError::MissingField { field: "x".into() },
            DecodeError::WrongType {
                field: "x".into(),
                expected: "a number",
                found: String::new(),
            },
            DecodeError::OutOfRange {
                field: "x".into(),
                value: String::new(),
                range: ">= 0",
            },
            DecodeError::BadId {
                field: "x".into(),
                value: String::new(),
                bytes: 0,
            },
            DecodeError::UnknownType(String::new()),
            DecodeError::UnknownFlag(String::new()),
            DecodeError::UnknownAccount(String::new()),
            DecodeError::BadTimestamp {
                field: "x".into(),
                value: String::new(),
                reason: String::new(),
            },
            DecodeError::BadDate {
                field: "x".into(),
                value: String::new(),
            },
            DecodeError::BadMonth {
                field: "x".into(),
                value: String::new(),
            },
            DecodeError::BadCurrency {
                field: "x".into(),
                value: String::new(),
            },
            DecodeError::UnsupportedSchemaVersion(String::new()),
            DecodeError::DuplicateField("x".into()),
            DecodeError::TooLarge { bytes: 2, limit: 1 },
        ];
        let mut kinds: Vec<_> = samples.iter().map(DecodeError::kind).collect();
        kinds.sort_unstable();
        assert_eq!(kinds, DecodeError::KINDS);
    }

    #[test]
    fn quotes_stay_on_one_line_and_short() {
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        let long = "é".repeat(100);
        let quoted = quote(&long);
        assert!(quoted.ends_with('…'));
        assert_eq!(quoted.chars().filter(|&c| c == 'é').count(), QUOTE_LIMIT);
        assert_eq!(excerpt("{\n  \"a\": 1\n}"), "{ \"a\": 1 }");
    }
}
