//! Reading one worker's share of one `<feed>.jsonl` file, line by line,
//! in bounded memory.
//!
//! A file of `size` bytes is cut into `peers` byte ranges of equal size; a
//! line belongs to the worker whose range holds the line's first byte. So
//! every line is read by exactly one worker, whatever the line lengths, and
//! no worker needs to talk to another. Worker `index` learns the 1-based
//! number of its first line by counting the line breaks before it (a
//! vectorised scan at several GB/s, far below the cost of decoding the
//! range itself).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use streamflix_model::Feed;
use streamflix_model::records::Record;

use crate::dead_letter::DeadLetter;
use crate::decode::{DecodeError, decode};

/// Read buffer size: the memory a reader holds apart from its longest line.
const BUFFER_BYTES: usize = 1 << 20;

/// Lines longer than this are dead letters (`too_large`) by default, so a
/// file without line breaks cannot exhaust memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;

/// Which part of the input a worker reads: worker `index` of `peers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub index: usize,
    pub peers: usize,
}

impl Share {
    /// The whole input, for a single reader.
    pub const ALL: Share = Share { index: 0, peers: 1 };

    /// # Panics
    /// If `peers` is 0 or `index >= peers`.
    pub fn new(index: usize, peers: usize) -> Share {
        assert!(index < peers, "worker {index} of {peers} does not exist");
        Share { index, peers }
    }

    /// The byte range `[start, end)` of a file of `size` bytes whose lines
    /// (by their first byte) belong to this share.
    pub fn byte_range(self, size: u64) -> (u64, u64) {
        let at = |i: usize| (u128::from(size) * i as u128 / self.peers as u128) as u64;
        (at(self.index), at(self.index + 1))
    }
}

/// What a reader has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Non-blank lines: records plus dead letters.
    pub lines: u64,
    pub records: u64,
    pub dead_letters: u64,
}

/// One line as read: its 1-based number and its bytes without the line
/// break (and without a `\r` before it).
#[derive(Debug)]
pub struct Line<'a> {
    pub number: u64,
    pub bytes: &'a [u8],
    /// The line's length when it was longer than the limit and `bytes`
    /// holds only its beginning.
    pub truncated_from: Option<u64>,
}

/// Reads the lines of one file that belong to one [`Share`], decoding each
/// into a [`Record`] or a [`DeadLetter`] positioned `<file name>:<line>`.
/// Memory: a 1 MiB read buffer plus the longest line, at most
/// [`ShareReader::with_max_line_bytes`] (16 MiB by default).
///
/// Lines holding only whitespace are skipped: they are neither records nor
/// dead letters and are not counted, but they do count for the line numbers
/// of the lines after them (so positions match what an editor shows).
#[derive(Debug)]
pub struct ShareReader {
    feed: Feed,
    file_name: String,
    reader: Option<BufReader<File>>,
    /// Offset of the next line to read.
    offset: u64,
    /// Lines starting at or after this offset belong to the next share.
    end: u64,
    /// Number of the next line to read.
    line_number: u64,
    line: Vec<u8>,
    max_line_bytes: usize,
    stats: ReadStats,
}

impl ShareReader {
    /// Opens `dir/<feed>.jsonl`. A missing file is an empty feed.
    pub fn open(dir: &Path, feed: Feed, share: Share) -> io::Result<ShareReader> {
        ShareReader::open_path(&super::feed_path(dir, feed), feed, share)
    }

    /// Opens a file holding records of `feed`. A missing file is empty.
    pub fn open_path(path: &Path, feed: Feed, share: Share) -> io::Result<ShareReader> {
        let file_name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut reader = ShareReader {
            feed,
            file_name,
            reader: None,
            offset: 0,
            end: 0,
            line_number: 1,
            line: Vec::new(),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            stats: ReadStats::default(),
        };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(reader),
            Err(error) => return Err(error),
        };
        let size = file.metadata()?.len();
        let (start, end) = share.byte_range(size);
        let mut file = BufReader::with_capacity(BUFFER_BYTES, file);
        let breaks_before = count_line_breaks(file.get_mut(), start)?;
        file.seek(SeekFrom::Start(start))?;
        reader.offset = start;
        reader.line_number = breaks_before.count + 1;
        if start > 0 && !breaks_before.ends_with_break {
            // `start` is inside a line that belongs to the previous share.
            let skipped = skip_line(&mut file)?;
            reader.offset += skipped;
            reader.line_number += 1;
        }
        reader.end = end;
        reader.reader = Some(file);
        Ok(reader)
    }

    /// Lines longer than `bytes` become `too_large` dead letters holding
    /// only their first `bytes` bytes.
    pub fn with_max_line_bytes(mut self, bytes: usize) -> ShareReader {
        self.max_line_bytes = bytes;
        self
    }

    pub fn feed(&self) -> Feed {
        self.feed
    }

    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// Bytes of the file consumed so far, for progress reporting.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True once a read has reached the end of the share (at once for a
    /// missing file).
    pub fn is_done(&self) -> bool {
        self.reader.is_none()
    }

    /// The next line of this share, blank lines included, or `None` at its
    /// end. Does not count or decode.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        Ok(self.advance()?.map(|meta| Line {
            number: meta.number,
            bytes: &self.line[..meta.len],
            truncated_from: meta.truncated_from,
        }))
    }

    /// Reads the next line into `self.line`.
    fn advance(&mut self) -> io::Result<Option<LineMeta>> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        if self.offset >= self.end {
            self.reader = None;
            return Ok(None);
        }
        self.line.clear();
        let mut length = 0u64;
        let mut saw_break = false;
        loop {
            let buffer = reader.fill_buf()?;
            if buffer.is_empty() {
                break;
            }
            let (take, consumed) = match memchr::memchr(b'\n', buffer) {
                Some(at) => {
                    saw_break = true;
                    (at, at + 1)
                }
                None => (buffer.len(), buffer.len()),
            };
            let room = self.max_line_bytes.saturating_sub(self.line.len());
            self.line.extend_from_slice(&buffer[..take.min(room)]);
            length += take as u64;
            reader.consume(consumed);
            if saw_break {
                break;
            }
        }
        if length == 0 && !saw_break {
            // End of file right at a line start: there is no further line.
            self.reader = None;
            return Ok(None);
        }
        self.offset += length + u64::from(saw_break);
        let number = self.line_number;
        self.line_number += 1;
        let truncated_from = (length > self.max_line_bytes as u64).then_some(length);
        let mut len = self.line.len();
        if truncated_from.is_none() && self.line.last() == Some(&b'\r') {
            len -= 1;
        }
        Ok(Some(LineMeta {
            number,
            len,
            truncated_from,
        }))
    }

    /// Reads up to `max_lines` non-blank lines, appending what they decode
    /// to. Returns how many were read: 0 means the share is finished.
    pub fn read_batch(
        &mut self,
        max_lines: usize,
        records: &mut Vec<Record>,
        dead_letters: &mut Vec<DeadLetter>,
    ) -> io::Result<usize> {
        self.read_batch_with(max_lines, |_, record| records.push(record), dead_letters)
    }

    /// As [`ShareReader::read_batch`], keeping each record's 1-based line
    /// number beside it.
    pub fn read_numbered_batch(
        &mut self,
        max_lines: usize,
        records: &mut Vec<(u64, Record)>,
        dead_letters: &mut Vec<DeadLetter>,
    ) -> io::Result<usize> {
        self.read_batch_with(
            max_lines,
            |number, record| records.push((number, record)),
            dead_letters,
        )
    }

    fn read_batch_with(
        &mut self,
        max_lines: usize,
        mut keep: impl FnMut(u64, Record),
        dead_letters: &mut Vec<DeadLetter>,
    ) -> io::Result<usize> {
        let mut read = 0;
        while read < max_lines {
            match self.next_outcome()? {
                None => break,
                Some(Outcome::Blank) => {}
                Some(Outcome::Record(number, record)) => {
                    read += 1;
                    keep(number, record);
                }
                Some(Outcome::Dead(letter)) => {
                    read += 1;
                    dead_letters.push(letter);
                }
            }
        }
        Ok(read)
    }

    fn next_outcome(&mut self) -> io::Result<Option<Outcome>> {
        let feed = self.feed;
        let limit = self.max_line_bytes as u64;
        let Some(meta) = self.advance()? else {
            return Ok(None);
        };
        let bytes = &self.line[..meta.len];
        let decoded = match meta.truncated_from {
            Some(length) => Err(DecodeError::TooLarge {
                bytes: length,
                limit,
            }),
            None if is_blank(bytes) => return Ok(Some(Outcome::Blank)),
            None => decode(feed, bytes),
        };
        let outcome = match decoded {
            Ok(record) => Outcome::Record(meta.number, record),
            Err(error) => {
                let position = format!("{}:{}", self.file_name, meta.number);
                Outcome::Dead(DeadLetter::new(feed, position, &error, bytes))
            }
        };
        self.stats.lines += 1;
        match outcome {
            Outcome::Record(..) => self.stats.records += 1,
            _ => self.stats.dead_letters += 1,
        }
        Ok(Some(outcome))
    }

    /// Reads the whole share, handing each record or dead letter to `sink`
    /// in file order.
    pub fn for_each(
        mut self,
        mut sink: impl FnMut(Result<Record, DeadLetter>),
    ) -> io::Result<ReadStats> {
        while let Some(outcome) = self.next_outcome()? {
            match outcome {
                Outcome::Blank => {}
                Outcome::Record(_, record) => sink(Ok(record)),
                Outcome::Dead(letter) => sink(Err(letter)),
            }
        }
        Ok(self.stats)
    }

    /// Reads the whole share into vectors.
    pub fn read_all(mut self) -> io::Result<(Vec<Record>, Vec<DeadLetter>, ReadStats)> {
        let mut records = Vec::new();
        let mut dead_letters = Vec::new();
        while self.read_batch(usize::MAX, &mut records, &mut dead_letters)? > 0 {}
        Ok((records, dead_letters, self.stats))
    }
}

struct LineMeta {
    number: u64,
    /// Bytes of the line in `ShareReader::line`, without a final `\r`.
    len: usize,
    truncated_from: Option<u64>,
}

enum Outcome {
    Blank,
    Record(u64, Record),
    Dead(DeadLetter),
}

/// JSON whitespace only (the `\n` is already gone).
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

struct Breaks {
    count: u64,
    ends_with_break: bool,
}

/// Counts `\n` in the first `limit` bytes of `file`, reading from its start.
fn count_line_breaks(file: &mut File, limit: u64) -> io::Result<Breaks> {
    let mut breaks = Breaks {
        count: 0,
        ends_with_break: false,
    };
    if limit == 0 {
        return Ok(breaks);
    }
    file.seek(SeekFrom::Start(0))?;
    let mut buffer = vec![0u8; BUFFER_BYTES];
    let mut remaining = limit;
    while remaining > 0 {
        let want = buffer
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let got = file.read(&mut buffer[..want])?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being read",
            ));
        }
        breaks.count += memchr::memchr_iter(b'\n', &buffer[..got]).count() as u64;
        breaks.ends_with_break = buffer[got - 1] == b'\n';
        remaining -= got as u64;
    }
    Ok(breaks)
}

/// Consumes the rest of the current line, its `\n` included; returns how
/// many bytes that was.
fn skip_line(reader: &mut BufReader<File>) -> io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(skipped);
        }
        match memchr::memchr(b'\n', buffer) {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(skipped + at as u64 + 1);
            }
            None => {
                let len = buffer.len();
                reader.consume(len);
                skipped += len as u64;
            }
        }
    }
}
