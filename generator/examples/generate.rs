//! `cargo run --release -p streamflix-generator --example generate -- OUT [SUBSCRIBERS] [DAYS] [SEED]`

use std::time::Instant;

use streamflix_generator::{GeneratorConfig, generate};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).map_or("generated", String::as_str);
    let number = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let mut config = GeneratorConfig::new(number(2, 10_000), number(3, 28) as u32, number(4, 42));
    config.progress = true;
    let started = Instant::now();
    let summary = generate(&config, out.as_ref()).expect("generation failed");
    let secs = started.elapsed().as_secs_f64();
    for ((feed, lines), (_, bad)) in summary
        .lines_per_feed
        .iter()
        .zip(&summary.malformed_per_feed)
    {
        let bytes = std::fs::metadata(std::path::Path::new(out).join(format!("{feed}.jsonl")))
            .map_or(0, |m| m.len());
        println!(
            "{feed:<24} {lines:>10} lines {:>9.2} MB {bad:>5} malformed",
            bytes as f64 / 1e6
        );
    }
    for (fault, n) in &summary.injected {
        println!("  {fault:<24} {n:>8}");
    }
    let viewing = summary.lines("viewing");
    println!(
        "{} lines, {:.1} MB in {secs:.2} s: {:.2} M viewing lines/s, {:.1} MB/s",
        summary.total_lines(),
        summary.bytes as f64 / 1e6,
        viewing as f64 / secs / 1e6,
        summary.bytes as f64 / secs / 1e6
    );
}
