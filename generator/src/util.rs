//! Seeding, byte formatting and the two ways lines reach a file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::GenerateError;

pub(crate) type Prng = ChaCha8Rng;

/// The splitmix64 finaliser. Every step is invertible, so distinct inputs
/// give distinct outputs: event ids built from it can never collide.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z ^= z >> 30;
    z = z.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^= z >> 27;
    z = z.wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An independent random stream per (purpose, a, b). Streams are keyed by
/// what they generate rather than drawn from one sequence, so a subscriber-day
/// comes out the same whatever is generated before it or on which thread.
pub(crate) fn rng(seed: u64, stream: u64, a: u64, b: u64) -> Prng {
    let key = mix64(seed ^ mix64(stream.wrapping_add(mix64(a.wrapping_add(mix64(b ^ 0x5eed))))));
    Prng::seed_from_u64(key)
}

/// A random-looking 64-bit id, unique per `key` within a namespace.
pub(crate) fn event_hex(seed: u64, namespace: u64, key: u64) -> u64 {
    mix64(key ^ mix64(seed.wrapping_add(namespace.wrapping_mul(0x9e37_79b9_7f4a_7c15))))
}

pub(crate) fn chance(rng: &mut Prng, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// Uniform in `lo..hi`, or `lo` when the range is empty.
pub(crate) fn between(rng: &mut Prng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..hi)
    }
}

pub(crate) fn exponential(rng: &mut Prng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

pub(crate) fn normal(rng: &mut Prng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Index of an item drawn with the given integer weights.
pub(crate) fn weighted<T>(rng: &mut Prng, items: &[T], weight: impl Fn(&T) -> u32) -> usize {
    let total: u32 = items.iter().map(&weight).sum();
    let mut roll = rng.random_range(0..total);
    for (i, item) in items.iter().enumerate() {
        let w = weight(item);
        if roll < w {
            return i;
        }
        roll -= w;
    }
    items.len() - 1
}

/// Decimal digits of `v` (at least one).
fn digit_count(v: u64) -> usize {
    let mut n = 1;
    let mut x = v;
    while x >= 10 {
        x /= 10;
        n += 1;
    }
    n
}

// The push_* helpers write into a fixed array and append it whole, then
// trim: a constant-size copy compiles to a few moves, where a
// variable-length one costs a call to memmove per field.

pub(crate) fn push_u64(buf: &mut Vec<u8>, v: u64) {
    push_padded(buf, v, 1);
}

/// Zero-padded to at least `width` (at most 20) digits.
pub(crate) fn push_padded(buf: &mut Vec<u8>, v: u64, width: usize) {
    let n = digit_count(v).max(width);
    let mut tmp = [b'0'; 20];
    let mut x = v;
    for slot in tmp[..n].iter_mut().rev() {
        *slot = b'0' + (x % 10) as u8;
        x /= 10;
    }
    let len = buf.len();
    buf.extend_from_slice(&tmp);
    buf.truncate(len + n);
}

pub(crate) fn push_2(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8]);
}

pub(crate) fn push_hex(buf: &mut Vec<u8>, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut tmp = [0u8; 16];
    for (i, slot) in tmp.iter_mut().enumerate() {
        *slot = HEX[((v >> ((15 - i) * 4)) & 0xf) as usize];
    }
    buf.extend_from_slice(&tmp);
}

/// `v / 10^decimals` as plain decimal text with trailing zeros trimmed, the
/// way a JSON producer would print a number.
pub(crate) fn push_fixed(buf: &mut Vec<u8>, v: i64, decimals: u32) {
    let scale = 10u64.pow(decimals);
    if v < 0 {
        buf.push(b'-');
    }
    let a = v.unsigned_abs();
    push_u64(buf, a / scale);
    let mut frac = a % scale;
    if frac == 0 {
        return;
    }
    let mut width = decimals as usize;
    while frac.is_multiple_of(10) {
        frac /= 10;
        width -= 1;
    }
    buf.push(b'.');
    push_padded(buf, frac, width);
}

/// Money is held in ten-thousandths of the currency unit.
pub(crate) fn push_money(buf: &mut Vec<u8>, units: i64) {
    push_fixed(buf, units, 4);
}

/// Counts of one output file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeedStats {
    pub name: &'static str,
    pub lines: u64,
    pub malformed: u64,
    pub bytes: u64,
}

/// One `<feed>.jsonl` being written.
pub(crate) struct FeedOut {
    stats: FeedStats,
    path: PathBuf,
    w: BufWriter<File>,
}

impl FeedOut {
    pub(crate) fn create(dir: &Path, name: &'static str) -> Result<FeedOut, GenerateError> {
        let path = dir.join(format!("{name}.jsonl"));
        let file = File::create(&path).map_err(|source| GenerateError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(FeedOut {
            stats: FeedStats {
                name,
                lines: 0,
                malformed: 0,
                bytes: 0,
            },
            path,
            w: BufWriter::with_capacity(1 << 20, file),
        })
    }

    fn io(&self, source: std::io::Error) -> GenerateError {
        GenerateError::Io {
            path: self.path.clone(),
            source,
        }
    }

    pub(crate) fn line(&mut self, bytes: &[u8], malformed: bool) -> Result<(), GenerateError> {
        self.w.write_all(bytes).map_err(|e| self.io(e))?;
        self.w.write_all(b"\n").map_err(|e| self.io(e))?;
        self.stats.lines += 1;
        self.stats.malformed += u64::from(malformed);
        self.stats.bytes += bytes.len() as u64 + 1;
        Ok(())
    }

    /// Already newline-terminated lines, counted by the caller.
    pub(crate) fn chunk(
        &mut self,
        bytes: &[u8],
        lines: u64,
        malformed: u64,
    ) -> Result<(), GenerateError> {
        self.w.write_all(bytes).map_err(|e| self.io(e))?;
        self.stats.lines += lines;
        self.stats.malformed += malformed;
        self.stats.bytes += bytes.len() as u64;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<FeedStats, GenerateError> {
        self.w.flush().map_err(|e| self.io(e))?;
        Ok(self.stats)
    }
}

#[derive(Clone, Copy)]
struct LineRef {
    key: i64,
    start: usize,
    len: u32,
    malformed: bool,
}

/// The lines of a small feed, kept in one arena until they are sorted into
/// file order. The sort is stable, so equal keys keep the order they were
/// pushed in and the output stays deterministic.
pub(crate) struct Lines {
    arena: Vec<u8>,
    index: Vec<LineRef>,
}

impl Lines {
    pub(crate) fn new() -> Lines {
        Lines {
            arena: Vec::new(),
            index: Vec::new(),
        }
    }

    /// Appends a line, rendered by `render`, that goes to file position `key`
    /// (milliseconds). Returns its handle for [`Lines::repeat`].
    pub(crate) fn push(&mut self, key: i64, render: impl FnOnce(&mut Vec<u8>)) -> usize {
        let start = self.arena.len();
        render(&mut self.arena);
        self.index.push(LineRef {
            key,
            start,
            len: (self.arena.len() - start) as u32,
            malformed: false,
        });
        self.index.len() - 1
    }

    pub(crate) fn push_malformed(&mut self, key: i64, bytes: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        self.index.push(LineRef {
            key,
            start,
            len: bytes.len() as u32,
            malformed: true,
        });
    }

    /// The same bytes once more, at another file position: an exact duplicate.
    pub(crate) fn repeat(&mut self, handle: usize, key: i64) {
        let r = self.index[handle];
        let start = self.arena.len();
        self.arena
            .extend_from_within(r.start..r.start + r.len as usize);
        self.index.push(LineRef { key, start, ..r });
    }

    /// Moves a line to another file position (a late arrival).
    pub(crate) fn set_key(&mut self, handle: usize, key: i64) {
        self.index[handle].key = key;
    }

    pub(crate) fn write(mut self, out: &mut FeedOut) -> Result<(), GenerateError> {
        self.index.sort_by_key(|r| r.key);
        for r in &self.index {
            out.line(&self.arena[r.start..r.start + r.len as usize], r.malformed)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_text_is_trimmed() {
        let text = |v: i64, d: u32| {
            let mut b = Vec::new();
            push_fixed(&mut b, v, d);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(text(169_900, 4), "16.99");
        assert_eq!(text(14_900_000, 4), "1490");
        assert_eq!(text(345, 4), "0.0345");
        assert_eq!(text(-50_000, 4), "-5");
        assert_eq!(text(108_451_234, 8), "1.08451234");
        assert_eq!(text(670_000, 8), "0.0067");
    }

    #[test]
    fn padding_and_hex() {
        let mut b = Vec::new();
        push_padded(&mut b, 42, 8);
        b.push(b' ');
        push_padded(&mut b, 123_456_789, 8);
        b.push(b' ');
        push_hex(&mut b, 0xab);
        assert_eq!(b, b"00000042 123456789 00000000000000ab");
    }
}
