//! `pulse gen`: a seeded Twitch + Twitter world, landed into the lake.

use std::time::Duration;

use chrono::NaiveDate;
use clap::Args;
use pulse_lake::land::Lander;

use crate::engine::Engine;

/// `pulse gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    /// Seed of the world.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// First day (UTC).
    #[arg(long, default_value = "2026-01-05")]
    start: NaiveDate,
    /// Days to generate.
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// Channels.
    #[arg(long, default_value_t = 20)]
    channels: usize,
    /// Viewer population (about 60% active on a day).
    #[arg(long, default_value_t = 5000)]
    viewers: usize,
    /// Bot accounts.
    #[arg(long, default_value_t = 5)]
    bots: usize,
    /// Time between presence snapshots.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    snapshot_every: Duration,
    /// Average tweets per second.
    #[arg(long, default_value_t = 0.05)]
    tweets_per_sec: f64,
}

impl GenArgs {
    fn options(&self) -> pulse_ingest::generate::GenOptions {
        pulse_ingest::generate::GenOptions {
            seed: self.seed,
            start: self.start,
            days: self.days,
            channels: self.channels,
            viewers: self.viewers,
            bots: self.bots,
            snapshot_every_s: self.snapshot_every.as_secs() as u32,
            tweets_per_sec: self.tweets_per_sec,
        }
    }
}

/// Generates the world into the lake and prints what landed.
pub async fn run(e: &Engine, g: GenArgs) -> anyhow::Result<()> {
    let lake = e.lake()?;
    let lander = Lander::new(lake.clone());
    let bar = crate::progress::bar(g.days as u64 * 24, "generating hours");
    let report =
        pulse_ingest::generate::generate(&lander, &g.options(), &|d, _| bar.set_position(d))
            .await?;
    bar.finish_and_clear();
    println!(
        "generated into {lake}: {} files, {} bytes",
        report.files, report.bytes
    );
    for (t, n) in &report.rows {
        println!("  {t:<12} {n:>12} rows");
    }
    println!(
        "  distinct viewers per day: {:?}",
        report.distinct_viewers_per_day
    );
    Ok(())
}
