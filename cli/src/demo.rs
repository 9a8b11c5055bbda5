//! `pulse demo`: Pulse end to end on the embedded engine. It generates a small seeded world,
//! lands it through the ingest landing path, compacts each day, runs the windowed jobs and the
//! viewer pipeline, answers the questions in `sql/demo.sql` over the lake, and prints the
//! profile of the viewer who watched most. Rerunning it on the same lake gives
//! the same answers.

use anyhow::Context;
use clap::Args;
use pulse_lake::Lake;
use pulse_lake::land::Lander;

use crate::config::Config;

/// The demo's knobs.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Seed of the world.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Days to generate.
    #[arg(long, default_value_t = 2)]
    days: u32,
    /// Channels.
    #[arg(long, default_value_t = 15)]
    channels: usize,
    /// Viewer population.
    #[arg(long, default_value_t = 3000)]
    viewers: usize,
}

const DEMO_SQL: &str = include_str!("../../sql/demo.sql");

/// Runs the demo.
pub async fn run(cfg: &Config, a: DemoArgs) -> anyhow::Result<()> {
    let lake = Lake::open(&cfg.lake.url, &cfg.s3)
        .with_context(|| format!("opening lake {}", cfg.lake.url))?;
    println!("== Pulse demo: lake {lake}");
    let opts = pulse_ingest::generate::GenOptions {
        seed: a.seed,
        days: a.days,
        channels: a.channels,
        viewers: a.viewers,
        bots: 4,
        tweets_per_sec: 0.2,
        ..Default::default()
    };
    let report =
        pulse_ingest::generate::generate(&Lander::new(lake.clone()), &opts, &|_, _| {}).await?;
    println!(
        "1. generated and landed {} days: {} rows in {} files ({} bytes)",
        a.days,
        report.rows.values().sum::<u64>(),
        report.files,
        report.bytes
    );
    println!(
        "   planted truth: bots {:?}; hashtag bursts {:?}",
        report.bots, report.bursts
    );
    for d in 0..a.days {
        let date = opts.start + chrono::Days::new(d as u64);
        let c =
            pulse_jobs::compact::compact_day(&lake, date, 128 << 20, chrono::Duration::hours(1))
                .await?;
        let (fb, fa, bb, ba) = c.iter().fold((0, 0, 0, 0), |acc, (_, t)| {
            (
                acc.0 + t.files_before,
                acc.1 + t.files_after,
                acc.2 + t.bytes_before,
                acc.3 + t.bytes_after,
            )
        });
        println!("2. compacted {date}: {fb} files ({bb} bytes) -> {fa} files ({ba} bytes)");
    }
    let (from, to) = (
        opts.start.to_string(),
        (opts.start + chrono::Days::new(a.days as u64)).to_string(),
    );
    for (job, set) in [
        ("hashtags", &["size=1h", "slide=10m"][..]),
        ("categories", &["window=1d"][..]),
        ("channels", &[][..]),
        ("viewer-day", &[][..]),
        // A small world has few channels live at once: its bots sit in all of them.
        ("bots", &["min_channels=4"][..]),
        ("profiles", &[][..]),
    ] {
        let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        let ctx = pulse_lake::catalog::session(&lake).await?;
        let args = crate::JobArgs {
            job: job.to_string(),
            from: Some(from.clone()),
            to: Some(to.clone()),
            date: None,
            set,
        };
        let report =
            crate::run_job(&lake, &ctx, &args, std::time::Duration::from_secs(3600)).await?;
        let rows: usize = report.outputs.iter().map(|o| o.1).sum();
        println!(
            "3. ran {job} over [{from}, {to}): {rows} rows in {} tables",
            report.outputs.len()
        );
    }
    let ctx = pulse_lake::catalog::session(&lake).await?;
    println!("4. answers (sql/demo.sql):");
    for block in DEMO_SQL.split(";\n").filter(|b| {
        b.lines()
            .any(|l| !l.trim().is_empty() && !l.starts_with("--"))
    }) {
        // The comment just above the statement (after the last blank line) is its title.
        let title: Vec<&str> = block
            .rsplit("\n\n")
            .next()
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("-- "))
            .collect();
        let title = title.join(" ");
        let stmt: String = block
            .lines()
            .filter(|l| !l.starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        println!();
        println!("{title}");
        let batches = crate::sql::query(&ctx, &stmt)
            .await
            .with_context(|| format!("running: {stmt}"))?;
        crate::sql::write(
            &batches,
            crate::sql::OutFormat::Table,
            &mut std::io::stdout(),
        )?;
    }
    // The viewer who watched most, as `pulse profile` shows them.
    let top = crate::sql::query(
        &ctx,
        "SELECT viewer_login FROM viewer_channel_day \
         WHERE viewer_login NOT IN (SELECT viewer_login FROM bot_list) \
         GROUP BY viewer_login ORDER BY sum(minutes) DESC, viewer_login LIMIT 1",
    )
    .await?;
    if let Some(viewer) = pulse_jobs::scalar::first_string(&top) {
        let date = opts.start + chrono::Days::new(a.days as u64 - 1);
        if let Some(p) = pulse_jobs::profile::read(&ctx, &viewer, date).await? {
            println!();
            println!("5. the profile of the viewer who watched most (pulse profile {viewer}):");
            print!("{}", crate::profile::render(&p));
        }
    }
    Ok(())
}
