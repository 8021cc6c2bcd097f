//! Generate a small synthetic Streamflix, replay it through every pipeline,
//! and print the weekly engagement table.
//!
//! This is `streamflix demo` written against the library: the generator
//! writes the fourteen JSONL feeds into a temporary directory, `replay`
//! runs the dataflow over them on two worker threads and writes the tables
//! beside them, and the weekly table is printed from the replay summary.
//!
//! ```text
//! cargo run --release -p streamflix-examples --example replay_generated [SUBSCRIBERS] [DAYS]
//! ```
//!
//! Defaults: 500 subscribers over 14 days from Monday 2026-10-05, every
//! fault of the generator switched on (duplicates, flags, bots, late and
//! malformed records), so the dead-letter count is not zero.

use anyhow::{Context, Result};
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::demo::render;
use streamflix_engine::replay::{ReplayOptions, replay};
use streamflix_generator::{GeneratorConfig, generate};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let subscribers: u64 = match args.next() {
        Some(text) => text.parse().context("SUBSCRIBERS must be a whole number")?,
        None => 500,
    };
    let days: u32 = match args.next() {
        Some(text) => text.parse().context("DAYS must be a whole number")?,
        None => 14,
    };

    let dir = std::env::temp_dir().join(format!("streamflix-example-{}", std::process::id()));
    let (input, out) = (dir.join("input"), dir.join("out"));
    let generated = generate(&GeneratorConfig::new(subscribers, days, 42), &input)?;
    println!(
        "generated {} lines ({} of them malformed) into {}",
        generated.total_lines(),
        generated
            .malformed_per_feed
            .iter()
            .map(|(_, n)| n)
            .sum::<u64>(),
        input.display()
    );

    let mut options = ReplayOptions::new(&input, &out);
    options.cluster = ClusterArgs::single(2);
    let summary = replay(&options)?;
    println!(
        "replayed {} records in {:.2?}: {} dead letters",
        summary.records_read(),
        summary.elapsed,
        summary.dead_letter_count()
    );
    let weekly = summary
        .table("engagement_weekly")
        .context("replay always writes engagement_weekly")?;
    println!("\n{}", render(weekly));

    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(())
}
