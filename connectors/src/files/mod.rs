//! The JSONL file source: a directory holding `<feed>.jsonl` per feed, one
//! JSON object per line.
//!
//! A feed without a file is an empty feed; a directory that does not exist
//! is an error (a mistyped path must not look like an empty input). Each
//! non-blank line is decoded on its own: a record, or a dead letter
//! positioned `<file name>:<line>` (1-based). Blank lines are skipped
//! without being counted. Workers split every file among themselves by
//! byte ranges ([`Share`], [`ShareReader`]), so `peers` workers read a file
//! in parallel without coordinating.

mod source;

pub use source::{DEFAULT_MAX_LINE_BYTES, Line, ReadStats, Share, ShareReader};

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use streamflix_model::Feed;
use streamflix_model::records::Record;

use crate::dead_letter::DeadLetter;

/// Where a feed's file is: `dir/<feed>.jsonl`.
pub fn feed_path(dir: &Path, feed: Feed) -> PathBuf {
    dir.join(format!("{}.jsonl", feed.name()))
}

/// Everything one reader decoded from a directory.
#[derive(Clone, Debug, Default)]
pub struct DirectoryContents {
    /// In feed order ([`Feed::ALL`]), then file order.
    pub records: Vec<Record>,
    pub dead_letters: Vec<DeadLetter>,
    /// Per feed, every feed present (0 for a missing file).
    pub stats: BTreeMap<Feed, ReadStats>,
}

impl DirectoryContents {
    /// Non-blank lines read per feed (records plus dead letters).
    pub fn lines(&self, feed: Feed) -> u64 {
        self.stats.get(&feed).map_or(0, |stats| stats.lines)
    }
}

/// Decodes a whole directory with one reader: every feed, every line.
pub fn read_directory(dir: &Path) -> io::Result<DirectoryContents> {
    read_directory_share(dir, Share::ALL)
}

/// Decodes one worker's share of every feed file of a directory.
pub fn read_directory_share(dir: &Path, share: Share) -> io::Result<DirectoryContents> {
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no input directory {}", dir.display()),
        ));
    }
    let mut contents = DirectoryContents::default();
    for feed in Feed::ALL {
        let reader = ShareReader::open(dir, feed, share)?;
        let stats = reader.for_each(|outcome| match outcome {
            Ok(record) => contents.records.push(record),
            Err(letter) => contents.dead_letters.push(letter),
        })?;
        contents.stats.insert(feed, stats);
    }
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::decode::DecodeError;

    fn viewing_line(id: usize) -> String {
        format!(
            r#"{{"event_id":"e{id}","event_time":"2026-11-02T14:03:11Z","subscriber_id":"s{}","device_id":"d","content_id":"c","watch_seconds":{},"position_seconds":0,"duration_seconds":60}}"#,
            id % 7,
            id % 60
        )
    }

    fn event_id(record: &Record) -> String {
        match record {
            Record::Viewing(v) => v.event_id.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_every_feed_file_and_treats_missing_ones_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            feed_path(dir.path(), Feed::Viewing),
            format!("{}\n{}\n", viewing_line(1), viewing_line(2)),
        )
        .unwrap();
        fs::write(
            feed_path(dir.path(), Feed::FxRates),
            "{\"date\":\"2026-11-02\",\"currency\":\"EUR\",\"usd_per_unit\":1.08}\n{\"date\":\"bad\"}\n",
        )
        .unwrap();
        let contents = read_directory(dir.path()).unwrap();
        assert_eq!(contents.records.len(), 3);
        assert_eq!(contents.records[0].feed(), Feed::Viewing);
        assert_eq!(contents.records[2].feed(), Feed::FxRates);
        assert_eq!(contents.lines(Feed::Viewing), 2);
        assert_eq!(contents.lines(Feed::FxRates), 2);
        assert_eq!(contents.stats.len(), Feed::ALL.len());
        assert_eq!(contents.lines(Feed::Billing), 0);
        let [letter] = &contents.dead_letters[..] else {
            panic!("{:?}", contents.dead_letters)
        };
        assert_eq!(
            (
                letter.feed,
                letter.position.as_str(),
                letter.kind,
                letter.raw.as_str()
            ),
            (
                Feed::FxRates,
                "fx_rates.jsonl:2",
                "bad_date",
                "{\"date\":\"bad\"}"
            )
        );
        assert_eq!(
            contents.stats[&Feed::FxRates],
            ReadStats {
                lines: 2,
                records: 1,
                dead_letters: 1
            }
        );
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_directory(&dir.path().join("nope")).is_err());
    }

    #[test]
    fn blank_lines_are_skipped_but_keep_line_numbers_right() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "\n{}\r\n  \t\n\r\n[1]\r\n{}\n\n\nnot json",
            viewing_line(1),
            viewing_line(2)
        );
        fs::write(feed_path(dir.path(), Feed::Viewing), text).unwrap();
        let contents = read_directory(dir.path()).unwrap();
        assert_eq!(contents.records.len(), 2);
        let letters: Vec<(&str, &str, &str)> = contents
            .dead_letters
            .iter()
            .map(|l| (l.position.as_str(), l.kind, l.raw.as_str()))
            .collect();
        assert_eq!(
            letters,
            vec![
                ("viewing.jsonl:5", "not_object", "[1]"),
                ("viewing.jsonl:9", "not_json", "not json")
            ]
        );
        assert_eq!(contents.lines(Feed::Viewing), 4);
    }

    #[test]
    fn invalid_utf8_lines_are_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = viewing_line(1).into_bytes();
        bytes.extend_from_slice(b"\n{\"event_id\":\"\xff\"}\n");
        fs::write(feed_path(dir.path(), Feed::Viewing), bytes).unwrap();
        let contents = read_directory(dir.path()).unwrap();
        assert_eq!(contents.records.len(), 1);
        let letter = &contents.dead_letters[0];
        assert_eq!(
            (letter.position.as_str(), letter.kind),
            ("viewing.jsonl:2", "not_json")
        );
        assert_eq!(letter.raw, "{\"event_id\":\"\u{FFFD}\"}");
    }

    #[test]
    fn overlong_lines_are_dead_letters_and_do_not_derail_the_next_line() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("{{\"event_id\":\"{}\"}}", "x".repeat(5000));
        fs::write(
            feed_path(dir.path(), Feed::Viewing),
            format!("{long}\n{}\n", viewing_line(1)),
        )
        .unwrap();
        let reader = ShareReader::open(dir.path(), Feed::Viewing, Share::ALL)
            .unwrap()
            .with_max_line_bytes(1000);
        let (records, letters, stats) = reader.read_all().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(
            stats,
            ReadStats {
                lines: 2,
                records: 1,
                dead_letters: 1
            }
        );
        assert_eq!(letters[0].kind, "too_large");
        assert_eq!(letters[0].raw.len(), 1000);
        assert_eq!(letters[0].position, "viewing.jsonl:1");
        assert_eq!(
            letters[0].reason,
            DecodeError::TooLarge {
                bytes: long.len() as u64,
                limit: 1000
            }
            .to_string()
        );
    }

    /// Every split of a file among workers reads each line exactly once,
    /// with the same line numbers as a single reader.
    #[test]
    fn shares_partition_the_lines_whatever_the_number_of_workers() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        let mut expected = Vec::new();
        for i in 0..200 {
            match i % 11 {
                3 => text.push('\n'),
                5 => text.push_str("{\"broken\n"),
                _ => {
                    text.push_str(&viewing_line(i));
                    text.push_str(if i % 2 == 0 { "\n" } else { "\r\n" });
                    expected.push(format!("e{i}"));
                }
            }
        }
        // No line break after the last line.
        text.push_str(&viewing_line(999));
        expected.push("e999".into());
        fs::write(feed_path(dir.path(), Feed::Viewing), &text).unwrap();
        let single = read_directory(dir.path()).unwrap();
        let mut single_positions: Vec<String> = single
            .dead_letters
            .iter()
            .map(|l| l.position.clone())
            .collect();
        single_positions.sort();
        assert_eq!(
            single.records.iter().map(event_id).collect::<Vec<_>>(),
            expected
        );
        for peers in 1..=9 {
            let mut ids = Vec::new();
            let mut positions = Vec::new();
            let mut lines = 0;
            for index in 0..peers {
                let share = read_directory_share(dir.path(), Share::new(index, peers)).unwrap();
                ids.extend(share.records.iter().map(event_id));
                positions.extend(share.dead_letters.iter().map(|l| l.position.clone()));
                lines += share.lines(Feed::Viewing);
            }
            positions.sort();
            assert_eq!(ids, expected, "{peers} workers");
            assert_eq!(positions, single_positions, "{peers} workers");
            assert_eq!(lines, single.lines(Feed::Viewing));
        }
    }

    #[test]
    fn more_workers_than_lines_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            feed_path(dir.path(), Feed::Viewing),
            format!("{}\n", viewing_line(1)),
        )
        .unwrap();
        let total: usize = (0..64)
            .map(|index| {
                read_directory_share(dir.path(), Share::new(index, 64))
                    .unwrap()
                    .records
                    .len()
            })
            .sum();
        assert_eq!(total, 1);
    }

    #[test]
    fn batches_are_bounded_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..10).map(|i| viewing_line(i) + "\n\n").collect();
        fs::write(feed_path(dir.path(), Feed::Viewing), text).unwrap();
        let mut reader = ShareReader::open(dir.path(), Feed::Viewing, Share::ALL).unwrap();
        let (mut records, mut letters) = (Vec::new(), Vec::new());
        let mut sizes = Vec::new();
        loop {
            let read = reader.read_batch(4, &mut records, &mut letters).unwrap();
            sizes.push(read);
            if read == 0 {
                break;
            }
        }
        assert_eq!(sizes, vec![4, 4, 2, 0]);
        assert!(reader.is_done());
        assert_eq!(records.len(), 10);
        assert_eq!(reader.stats().lines, 10);
    }

    #[test]
    fn byte_ranges_cover_the_file() {
        for size in [0u64, 1, 7, 100, u64::MAX] {
            for peers in 1..6 {
                let mut next = 0;
                for index in 0..peers {
                    let (start, end) = Share::new(index, peers).byte_range(size);
                    assert_eq!(start, next);
                    assert!(end >= start);
                    next = end;
                }
                assert_eq!(next, size);
            }
        }
    }
}
