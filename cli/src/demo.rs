//! `pulse demo`: Pulse end to end on the embedded engine. It generates a small seeded world,
//! lands it through the ingest landing path, compacts each day, runs the windowed jobs and the
//! viewer pipeline, answers the questions in `sql/demo.sql` over the lake, and prints the
//! profile of the viewer who watched most. Rerunning it on the same lake gives
//! the same answers.

use anyhow::Context;
use clap::Args;

use pulse_lake::land::Lander;

use crate::engine::Engine;

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
pub async fn run(e: &Engine, a: DemoArgs) -> anyhow::Result<()> {
    let lake = e.lake()?;
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
    let report = {
        let bar = crate::progress::bar(opts.days as u64 * 24, "generating hours");
        let r = pulse_ingest::generate::generate(&Lander::new(lake.clone()), &opts, &|d, _| {
            bar.set_position(d)
        })
        .await;
        bar.finish_and_clear();
        r?
    };
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
    // The nightly DAG (as `pulse backfill` runs it) over the generated days.
    let (from, to) = (opts.start, opts.start + chrono::Days::new(a.days as u64));
    let mut o = pulse_jobs::nightly::Options {
        reprocess: pulse_jobs::nightly::Reprocess::All,
        max_concurrent: 2,
        registry: std::sync::Arc::new(e.registry(&lake).await?),
        ..Default::default()
    };
    // A small world has few channels live at once: its bots sit in all of them.
    o.set.insert(
        "bots".to_string(),
        vec![("min_channels".to_string(), "4".to_string())],
    );
    let sessions = e.task_sessions(&lake);
    let bar = crate::nightly::progress(&mut o);
    let summary = pulse_jobs::nightly::run_range(
        &lake,
        sessions,
        from,
        to,
        &o,
        pulse_jobs::nightly::tokio_util_cancel::Token::default(),
    )
    .await;
    bar.finish_and_clear();
    let summary = summary?;
    let mut d = from;
    while d < to {
        let jobs: Vec<&str> = summary
            .succeeded
            .iter()
            .filter(|(day, _)| *day == d)
            .map(|(_, j)| j.as_str())
            .collect();
        println!("2. ran the nightly DAG for {d}: {}", jobs.join(", "));
        d = d + chrono::Days::new(1);
    }
    for (d, job, e) in &summary.failed {
        println!("   FAILED {job} for {d}: {e}");
    }
    anyhow::ensure!(summary.ok(), "the nightly DAG failed");
    let ctx = e.session(&lake, None).await?;
    println!("3. answers (sql/demo.sql):");
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
            println!("4. the profile of the viewer who watched most (pulse profile {viewer}):");
            print!("{}", crate::profile::render(&p));
        }
    }
    println!();
    println!(
        "5. see it in a browser: pulse --lake {lake} serve   (then open http://127.0.0.1:8080/)"
    );
    Ok(())
}
