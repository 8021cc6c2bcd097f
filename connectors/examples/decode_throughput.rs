//! Measures single-thread decode throughput of the viewing feed, from
//! memory and from a JSONL file: `cargo run --release -p
//! streamflix-connectors --example decode_throughput [records]`.

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use streamflix_connectors::decode::decode;
use streamflix_connectors::files::{Share, ShareReader};
use streamflix_model::Feed;

fn line(i: u64) -> String {
    format!(
        r#"{{"event_id":"evt-{i:012}","event_time":"2026-11-02T14:{:02}:{:02}.{:03}Z","subscriber_id":"sub-{:08}","device_id":"dev-{:08}","content_id":"content-{:06}","watch_seconds":{}.{:03},"position_seconds":{}.5,"duration_seconds":{},"received_at":"2026-11-02T08:03:11-06:00"}}"#,
        i % 60,
        (i / 60) % 60,
        i % 1000,
        i % 1_000_003,
        i % 2_000_029,
        i % 50_021,
        i % 3600,
        i % 997,
        i % 10_000,
        1 + i % 7200
    )
}

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000_000);
    let lines: Vec<String> = (0..count).map(line).collect();
    let bytes: usize = lines.iter().map(String::len).sum();
    for round in 0..3 {
        let start = Instant::now();
        let mut ok = 0u64;
        for text in &lines {
            ok += u64::from(black_box(decode(Feed::Viewing, text.as_bytes())).is_ok());
        }
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!(ok, count);
        println!(
            "memory round {round}: {count} records in {seconds:.3} s: {:.0} records/s, {:.0} MB/s",
            count as f64 / seconds,
            bytes as f64 / seconds / 1e6
        );
    }
    let dir = tempfile_dir();
    let path = dir.join("viewing.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for text in &lines {
        writeln!(file, "{text}").unwrap();
    }
    file.flush().unwrap();
    drop(file);
    for round in 0..2 {
        let start = Instant::now();
        let mut records = 0u64;
        let stats = ShareReader::open(&dir, Feed::Viewing, Share::ALL)
            .unwrap()
            .for_each(|outcome| records += u64::from(outcome.is_ok()))
            .unwrap();
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!((records, stats.lines), (count, count));
        println!(
            "file round {round}: {:.0} records/s",
            count as f64 / seconds
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "streamflix-decode-throughput-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
