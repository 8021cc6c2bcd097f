//! Dead letters: records that could not be used, kept with where they came
//! from and why, written as JSONL and counted per feed and reason kind.
//!
//! The contract forbids dropping a record silently, so every source turns
//! each refusal into a [`DeadLetter`]; the engine writes them with a
//! [`DeadLetterWriter`] and reports a [`DeadLetterCounts`], which workers
//! merge.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use streamflix_model::Feed;

use crate::decode::DecodeError;

/// One refused record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    pub feed: Feed,
    /// Where the record is in its source: `viewing.jsonl:17` (file name and
    /// 1-based line) or `topic/partition/offset`.
    pub position: String,
    /// One line saying which rule the record breaks.
    pub reason: String,
    /// The record's bytes as text (invalid UTF-8 replaced by U+FFFD).
    pub raw: String,
    /// The stable reason code ([`DecodeError::kind`]) the letter is counted
    /// by; not written to the JSONL output.
    pub kind: &'static str,
}

impl DeadLetter {
    pub fn new(
        feed: Feed,
        position: impl Into<String>,
        error: &DecodeError,
        raw: &[u8],
    ) -> DeadLetter {
        DeadLetter {
            feed,
            position: position.into(),
            reason: error.to_string(),
            raw: String::from_utf8_lossy(raw).into_owned(),
            kind: error.kind(),
        }
    }

    /// The letter as one line of JSON (no line break) with exactly the keys
    /// `feed`, `position`, `reason` and `raw`.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(&self.wire()).expect("strings always serialize")
    }

    fn wire(&self) -> Wire<'_> {
        Wire {
            feed: self.feed.name(),
            position: &self.position,
            reason: &self.reason,
            raw: &self.raw,
        }
    }
}

/// The JSONL shape of a dead letter.
#[derive(Serialize)]
struct Wire<'a> {
    feed: &'a str,
    position: &'a str,
    reason: &'a str,
    raw: &'a str,
}

/// Writes dead letters as JSONL, one object per line. serde_json escapes
/// every control character, so a raw record holding line breaks still
/// takes exactly one line.
#[derive(Debug)]
pub struct DeadLetterWriter<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> DeadLetterWriter<W> {
    pub fn new(out: W) -> DeadLetterWriter<W> {
        DeadLetterWriter { out, written: 0 }
    }

    pub fn write(&mut self, letter: &DeadLetter) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &letter.wire())?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    pub fn write_all<'a>(
        &mut self,
        letters: impl IntoIterator<Item = &'a DeadLetter>,
    ) -> io::Result<()> {
        letters
            .into_iter()
            .try_for_each(|letter| self.write(letter))
    }

    /// How many letters were written.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and hands back the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Dead letters counted per (feed, reason kind). Iterates in feed order
/// (the contract's, as [`Feed::ALL`]) and then by kind, alphabetically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeadLetterCounts {
    counts: BTreeMap<(Feed, &'static str), u64>,
}

impl DeadLetterCounts {
    pub fn new() -> DeadLetterCounts {
        DeadLetterCounts::default()
    }

    pub fn add(&mut self, letter: &DeadLetter) {
        self.add_kind(letter.feed, letter.kind, 1);
    }

    pub fn add_error(&mut self, feed: Feed, error: &DecodeError) {
        self.add_kind(feed, error.kind(), 1);
    }

    pub fn add_kind(&mut self, feed: Feed, kind: &'static str, count: u64) {
        if count > 0 {
            *self.counts.entry((feed, kind)).or_default() += count;
        }
    }

    /// Adds another worker's counts to these.
    pub fn merge(&mut self, other: &DeadLetterCounts) {
        for (&(feed, kind), &count) in &other.counts {
            self.add_kind(feed, kind, count);
        }
    }

    pub fn get(&self, feed: Feed, kind: &str) -> u64 {
        self.counts
            .iter()
            .find(|((f, k), _)| *f == feed && *k == kind)
            .map_or(0, |(_, &count)| count)
    }

    pub fn total_for(&self, feed: Feed) -> u64 {
        self.counts
            .range((feed, "")..)
            .take_while(|((f, _), _)| *f == feed)
            .map(|(_, count)| count)
            .sum()
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// `(feed, kind, count)`, sorted; only non-zero counts.
    pub fn iter(&self) -> impl Iterator<Item = (Feed, &'static str, u64)> + '_ {
        self.counts
            .iter()
            .map(|(&(feed, kind), &count)| (feed, kind, count))
    }
}

impl<'a> Extend<&'a DeadLetter> for DeadLetterCounts {
    fn extend<I: IntoIterator<Item = &'a DeadLetter>>(&mut self, letters: I) {
        letters.into_iter().for_each(|letter| self.add(letter));
    }
}

impl<'a> FromIterator<&'a DeadLetter> for DeadLetterCounts {
    fn from_iter<I: IntoIterator<Item = &'a DeadLetter>>(letters: I) -> DeadLetterCounts {
        let mut counts = DeadLetterCounts::new();
        counts.extend(letters);
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;

    fn letter(feed: Feed, line: u32, raw: &[u8]) -> DeadLetter {
        let error = decode(feed, raw).expect_err("a bad record");
        DeadLetter::new(feed, format!("{}.jsonl:{line}", feed.name()), &error, raw)
    }

    #[test]
    fn letters_carry_reason_kind_and_lossy_raw() {
        let l = letter(Feed::Viewing, 3, b"{\"event_id\": \xff}");
        assert_eq!(l.kind, "not_json");
        assert_eq!(l.raw, "{\"event_id\": \u{FFFD}}");
        assert_eq!(l.position, "viewing.jsonl:3");
        assert!(l.reason.starts_with("not JSON"), "{}", l.reason);
    }

    #[test]
    fn jsonl_lines_have_exactly_the_four_keys_and_escape_everything() {
        let letters = [
            letter(Feed::Viewing, 1, b"[1]"),
            letter(Feed::FxRates, 2, b"{\"date\": \"x\n\",\r\t\"a\":1}"),
        ];
        let mut writer = DeadLetterWriter::new(Vec::new());
        writer.write_all(&letters).unwrap();
        assert_eq!(writer.written(), 2);
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with('\n'));
        for (line, letter) in lines.iter().zip(&letters) {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let object = value.as_object().unwrap();
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            assert_eq!(keys.len(), 4);
            for key in ["feed", "position", "reason", "raw"] {
                assert!(object.contains_key(key), "{key}");
            }
            assert_eq!(object["feed"], letter.feed.name());
            assert_eq!(object["position"], letter.position.as_str());
            assert_eq!(object["reason"], letter.reason.as_str());
            assert_eq!(object["raw"], letter.raw.as_str());
            assert_eq!(*line, letter.to_json_line());
        }
        assert_eq!(
            lines[0],
            r#"{"feed":"viewing","position":"viewing.jsonl:1","reason":"not a JSON object: the record is an array","raw":"[1]"}"#
        );
    }

    #[test]
    fn counts_merge_and_iterate_sorted() {
        let mut a: DeadLetterCounts = [
            letter(Feed::FxRates, 1, b"x"),
            letter(Feed::Viewing, 2, b"[]"),
            letter(Feed::Viewing, 3, b"x"),
        ]
        .iter()
        .collect();
        let mut b = DeadLetterCounts::new();
        b.add(&letter(Feed::Viewing, 4, b"x"));
        b.add_error(Feed::Billing, &decode(Feed::Billing, b"{}").unwrap_err());
        b.add_kind(Feed::Devices, "not_json", 0);
        a.merge(&b);
        let all: Vec<_> = a.iter().collect();
        assert_eq!(
            all,
            vec![
                (Feed::Viewing, "not_json", 2),
                (Feed::Viewing, "not_object", 1),
                (Feed::Billing, "missing_field", 1),
                (Feed::FxRates, "not_json", 1),
            ]
        );
        assert_eq!(a.total(), 5);
        assert_eq!(a.total_for(Feed::Viewing), 3);
        assert_eq!(a.total_for(Feed::Devices), 0);
        assert_eq!(a.get(Feed::Viewing, "not_json"), 2);
        assert_eq!(a.get(Feed::Viewing, "bad_id"), 0);
        assert!(!a.is_empty() && DeadLetterCounts::new().is_empty());
    }
}
