//! `pulse nightly`, `pulse backfill`, `pulse runs` and `pulse schedule`: the nightly DAG
//! (`pulse_jobs::nightly`) for one date, a range, on a cron schedule, and its run history.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{Days, NaiveDate, Utc};
use clap::Args;
use pulse_jobs::nightly::{self, Options, Reprocess, Summary, tokio_util_cancel::Token};
use pulse_lake::Lake;

use crate::config::{Flags, ScheduleSection};
use crate::engine::Engine;

/// Flags shared by the commands that run the DAG.
#[derive(Args, Debug, Clone)]
pub struct RunnerArgs {
    /// Jobs running at once [default: [schedule] max_concurrent, 1].
    #[arg(long)]
    pub max_concurrent: Option<usize>,
    /// Lease time to live [default: [schedule] lease_ttl, 60s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub lease_ttl: Option<Duration>,
}

impl RunnerArgs {
    /// Its flags, over `[schedule]`.
    pub fn flags(&self, f: &mut Flags) {
        f.set("schedule.max_concurrent", self.max_concurrent)
            .duration("schedule.lease_ttl", self.lease_ttl);
    }
}

/// `pulse nightly`.
#[derive(Args, Debug)]
pub struct NightlyArgs {
    /// The logical date (UTC), YYYY-MM-DD.
    #[arg(long)]
    pub date: NaiveDate,
    /// Which jobs: all (default), missing (not yet succeeded) or failed.
    #[arg(long, default_value = "all")]
    pub reprocess: String,
    #[command(flatten)]
    pub runner: RunnerArgs,
}

/// `pulse backfill`.
#[derive(Args, Debug)]
pub struct BackfillArgs {
    /// First date.
    #[arg(long)]
    pub from: NaiveDate,
    /// Last date, exclusive.
    #[arg(long)]
    pub to: NaiveDate,
    /// Which jobs: missing (never succeeded; default), failed (latest run failed) or all.
    #[arg(long, default_value = "missing")]
    pub reprocess: String,
    /// Print what would run, and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub runner: RunnerArgs,
}

/// `pulse runs`.
#[derive(Args, Debug)]
pub struct RunsArgs {
    /// Only runs of this logical date.
    #[arg(long)]
    pub date: Option<NaiveDate>,
    /// Only runs with this status: running, succeeded, failed.
    #[arg(long)]
    pub status: Option<String>,
    /// Only runs of this job.
    #[arg(long)]
    pub job: Option<String>,
}

/// `pulse schedule`.
#[derive(Args, Debug)]
pub struct ScheduleArgs {
    /// When to run, cron in UTC [default: [schedule] cron, "0 2 * * *"].
    #[arg(long)]
    pub cron: Option<String>,
    /// Run the dates missed while the daemon was down [default: [schedule] catch_up, off].
    #[arg(long)]
    pub catch_up: bool,
    /// The date a firing runs is this many days before it [default: 1].
    #[arg(long)]
    pub lag_days: Option<u32>,
    #[command(flatten)]
    pub runner: RunnerArgs,
}

impl ScheduleArgs {
    /// Its flags, over `[schedule]`.
    pub fn flags(&self, f: &mut Flags) {
        self.runner.flags(f);
        f.set("schedule.cron", self.cron.clone())
            .switch("schedule.catch_up", self.catch_up)
            .set("schedule.lag_days", self.lag_days);
    }
}

/// `[schedule.set]` as job parameter overrides.
pub fn overrides(cfg: &ScheduleSection) -> anyhow::Result<pulse_jobs::outputs::Overrides> {
    let mut set = std::collections::BTreeMap::new();
    for (job, kvs) in &cfg.set {
        set.insert(
            job.clone(),
            name_values(kvs, &format!("[schedule.set] {job}:"))?,
        );
    }
    Ok(set)
}

/// `NAME=VALUE` texts as pairs; `what` names where they come from in the error.
pub fn name_values(kvs: &[String], what: &str) -> anyhow::Result<Vec<(String, String)>> {
    kvs.iter()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("{what} {kv:?} is not NAME=VALUE"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The runner's options: `[schedule]` (flags included) and the jobs of `lake`.
async fn options(e: &Engine, lake: &Lake, reprocess: Reprocess) -> anyhow::Result<Options> {
    let cfg = &e.cfg.schedule;
    Ok(Options {
        reprocess,
        max_concurrent: cfg.max_concurrent.max(1),
        attempts: cfg.attempts.max(1),
        backoff: cfg.backoff,
        lease_ttl: cfg.lease_ttl,
        retention: chrono::Duration::hours(1),
        set: overrides(cfg)?,
        progress: None,
        registry: std::sync::Arc::new(e.registry(lake).await?),
    })
}

/// A progress bar over the runner's tasks (shown on a terminal only); finish it when done.
pub fn progress(o: &mut Options) -> indicatif::ProgressBar {
    let bar = crate::progress::bar(0, "jobs");
    let b = bar.clone();
    o.progress = Some(nightly::Progress(std::sync::Arc::new(
        move |done, total, what| {
            b.set_length(total as u64);
            b.set_position(done as u64);
            b.set_message(what.to_string());
        },
    )));
    bar
}

/// A cancel token set by SIGTERM or Ctrl-C.
fn on_signal() -> Token {
    let token = Token::default();
    let mut rx = pulse_ingest::worker::shutdown_signal();
    let t = token.clone();
    tokio::spawn(async move {
        if rx.wait_for(|stop| *stop).await.is_ok() {
            tracing::info!("stopping: the running job is abandoned (nothing of it is committed)");
            t.cancel();
        }
    });
    token
}

fn print_summary(s: &Summary) -> anyhow::Result<()> {
    if s.recovered > 0 {
        println!("{} interrupted run(s) found and marked failed", s.recovered);
    }
    for d in &s.no_input {
        println!("{d}: no raw data landed for this date; not run");
    }
    println!(
        "{} job(s) succeeded, {} failed, {} not run because a job they need failed",
        s.succeeded.len(),
        s.failed.len(),
        s.upstream_failed.len()
    );
    for (d, job, e) in &s.failed {
        println!("FAILED {job} for {d}: {e}");
    }
    for (d, job) in &s.upstream_failed {
        println!("not run: {job} for {d}");
    }
    anyhow::ensure!(s.ok(), "{} job(s) failed", s.failed.len());
    Ok(())
}

/// `pulse nightly --date D`.
pub async fn nightly(e: &Engine, a: NightlyArgs) -> anyhow::Result<()> {
    let lake = &e.lake()?;
    let mut o = options(e, lake, Reprocess::from_str(&a.reprocess)?).await?;
    let bar = progress(&mut o);
    let s = nightly::run_range(
        lake,
        e.task_sessions(lake),
        a.date,
        a.date + Days::new(1),
        &o,
        on_signal(),
    )
    .await;
    bar.finish_and_clear();
    print_summary(&s?)
}

/// `pulse backfill --from D1 --to D2`.
pub async fn backfill(e: &Engine, a: BackfillArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.from < a.to, "--from must be before --to");
    let lake = &e.lake()?;
    let mut o = options(e, lake, Reprocess::from_str(&a.reprocess)?).await?;
    if a.dry_run {
        let p = nightly::plan(lake, &o.registry, a.from, a.to, o.reprocess).await?;
        for d in &p.no_input {
            println!("{d}: no raw data landed for this date; would not run");
        }
        for (d, job) in &p.tasks {
            println!("would run {job} for {d}");
        }
        println!("{} job(s) to run, {} already done", p.tasks.len(), p.done);
        return Ok(());
    }
    let bar = progress(&mut o);
    let s = nightly::run_range(lake, e.task_sessions(lake), a.from, a.to, &o, on_signal()).await;
    bar.finish_and_clear();
    let s = s?;
    if s.succeeded.is_empty() && s.ok() {
        println!("nothing to do");
    }
    print_summary(&s)
}

/// `pulse runs`.
pub async fn runs(lake: &Lake, a: RunsArgs) -> anyhow::Result<()> {
    let mut runs = pulse_jobs::history::load(lake).await?;
    runs.retain(|r| {
        a.date.is_none_or(|d| r.from == d)
            && a.status.as_deref().is_none_or(|s| r.status == s)
            && a.job.as_deref().is_none_or(|j| r.job == j)
    });
    runs.sort_by(|x, y| (x.from, &x.job, x.started_at).cmp(&(y.from, &y.job, y.started_at)));
    println!(
        "{:<10} {:<10} {:<15} {:<9} {:>7} {:<19} {:<19} {:>9} {:>10} {:>10}  error",
        "date",
        "to",
        "job",
        "status",
        "attempt",
        "started",
        "ended",
        "duration",
        "rows_in",
        "rows_out"
    );
    for r in &runs {
        let t = |t: Option<chrono::DateTime<Utc>>| {
            t.map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        };
        println!(
            "{:<10} {:<10} {:<15} {:<9} {:>7} {:<19} {:<19} {:>8.1}s {:>10} {:>10}  {}",
            r.from.to_string(),
            r.to.to_string(),
            r.job,
            r.status,
            r.attempt,
            t(Some(r.started_at)),
            t(r.ended_at),
            r.duration_ms() as f64 / 1000.0,
            r.rows_in,
            r.rows_out,
            r.error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// `pulse schedule`: runs the DAG at each cron firing for the date `lag_days` before it,
/// until SIGTERM. A failed night is logged and the daemon goes on. The jobs are read again
/// for each run, so jobs installed into the lake meanwhile (`pulse job add`) run too.
pub async fn schedule(e: &Engine, _: ScheduleArgs) -> anyhow::Result<()> {
    let cfg = &e.cfg.schedule;
    let lake = &e.lake()?;
    let sessions = e.task_sessions(lake);
    let expr = cfg.cron.clone();
    let cron = croner::Cron::from_str(&expr)
        .with_context(|| format!("cron expression {expr:?} (UTC; 5 fields, or 6 with seconds)"))?;
    let lag = Days::new(u64::from(cfg.lag_days));
    let cancel = on_signal();
    tracing::info!(cron = %expr, "schedule started");
    if cfg.catch_up {
        let o = options(e, lake, Reprocess::Missing).await?;
        let today = Utc::now().date_naive();
        let to = today - lag + Days::new(1);
        let from = to - Days::new(u64::from(cfg.catch_up_days.max(1)));
        tracing::info!(%from, %to, "catching up");
        report(nightly::run_range(lake, sessions.clone(), from, to, &o, cancel.clone()).await);
    }
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let now = Utc::now();
        let next = cron
            .find_next_occurrence(&now, false)
            .with_context(|| format!("cron {expr:?} never fires"))?;
        let date = next.date_naive() - lag;
        tracing::info!(%next, %date, "next run");
        while Utc::now() < next {
            if cancel.is_cancelled() {
                tracing::info!("stopped");
                return Ok(());
            }
            let left = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(left.min(Duration::from_millis(200))).await;
        }
        let run = async {
            let o = options(e, lake, Reprocess::Missing)
                .await
                .map_err(|e| pulse_jobs::Error::Usage(format!("{e:#}")))?;
            nightly::run_range(
                lake,
                sessions.clone(),
                date,
                date + Days::new(1),
                &o,
                cancel.clone(),
            )
            .await
        };
        report(run.await);
    }
    tracing::info!("stopped");
    Ok(())
}

fn report(r: pulse_jobs::Result<Summary>) {
    match r {
        Ok(s) => {
            for d in &s.no_input {
                tracing::warn!(date = %d, "no raw data landed for this date; not run");
            }
            tracing::info!(
                succeeded = s.succeeded.len(),
                failed = s.failed.len(),
                upstream_failed = s.upstream_failed.len(),
                "nightly run done"
            );
        }
        Err(e) => tracing::error!(error = %pulse_jobs::error_chain(&e), "nightly run stopped"),
    }
}
