//! `pulse run` and `pulse submit`: one job over a logical interval, embedded or on the
//! cluster, and SQL files sent to the cluster. A job is named (`pulse job list`) or given as
//! its folder: its definition travels with the submission as the plans of its steps, so the
//! cluster needs nothing installed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use datafusion::prelude::SessionContext;
use pulse_jobs::registry::{Registry, SqlJob};
use pulse_lake::Lake;

use crate::engine::Engine;

/// A job and its logical interval.
#[derive(Args, Debug)]
pub struct JobArgs {
    /// The job: a name (`pulse job list`) or the folder of a user job.
    pub job: String,
    /// Start of the interval (a date or RFC 3339 time, midnight UTC).
    #[arg(long, required_unless_present = "date", requires = "to")]
    pub from: Option<String>,
    /// End of the interval, exclusive.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// One day: the same as --from D --to D+1.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub date: Option<String>,
    /// Set a job parameter, e.g. --set size=1h --set slide=5m (`pulse job list JOB`).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

/// `pulse run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    job: JobArgs,
    /// For `vacuum`: keep files no reader of a table's newest version needs this long, so
    /// running queries can finish reading them.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    retention: Duration,
}

/// `pulse submit`.
#[derive(Subcommand, Debug)]
pub enum SubmitCmd {
    /// Run the statements of a SQL file on the cluster and print the last result.
    Sql {
        /// The file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: crate::sql::OutFormat,
    },
    /// Run a job on the cluster over [--from, --to): a name or a user job's folder.
    Job(JobArgs),
}

/// `pulse run`: the job, embedded or on the cluster.
pub async fn run(e: &Engine, a: RunArgs) -> anyhow::Result<()> {
    let lake = e.lake()?;
    let ctx = e.job_session(&lake).await?;
    match run_job(e, &lake, &ctx, &a.job, a.retention).await {
        Ok(report) => print_report(&report),
        // A job reads many tables: name any unreadable file of the lake.
        Err(err) => return Err(crate::lake_cmd::name_unreadable(&lake, "", err).await),
    }
    Ok(())
}

/// `pulse submit`: SQL or a job, on the cluster.
pub async fn submit(e: &Engine, cmd: SubmitCmd) -> anyhow::Result<()> {
    let target = e
        .cluster
        .as_ref()
        .context("submit needs a cluster: --cluster df://HOST:PORT or PULSE_CLUSTER")?;
    let lake = e.lake()?;
    let ctx = crate::engine::connect(&lake, Some(target), None).await?;
    match cmd {
        SubmitCmd::Sql { file, format } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            ctx.sql(&format!(
                "SET ballista.job.name = 'pulse-sql {}'",
                file.display().to_string().replace('\'', "")
            ))
            .await?;
            crate::sql::run(&ctx, &text, format, None, &[]).await?;
        }
        SubmitCmd::Job(job) => {
            print_report(&run_job(e, &lake, &ctx, &job, Duration::from_secs(3600)).await?);
        }
    }
    Ok(())
}

/// Prints what a run wrote.
pub fn print_report(report: &pulse_jobs::runner::RunReport) {
    for (table, rows, days) in &report.outputs {
        println!("{table:<32} {rows:>10} rows in {days} day partition(s)");
    }
    if report.spilled_bytes > 0 {
        println!(
            "spilled {} to disk (raise --memory-limit to avoid it)",
            indicatif::HumanBytes(report.spilled_bytes)
        );
    }
}

/// True when `job` names a folder (a user job's) rather than a job.
pub fn is_folder(job: &str) -> bool {
    job.contains('/') || Path::new(job).join("job.toml").exists()
}

/// The registry, with the job folder `job` added when it is one; and the job's name.
pub async fn registry_with(
    e: &Engine,
    lake: &Lake,
    job: &str,
) -> anyhow::Result<(Registry, String)> {
    let mut registry = e.registry(lake).await?;
    if !is_folder(job) {
        return Ok((registry, job.to_string()));
    }
    let j = SqlJob::from_dir(Path::new(job))?;
    let name = j.manifest.name.clone();
    registry.add_or_replace(Arc::new(j))?;
    Ok((registry, name))
}

/// Runs a job by name or folder over [from, to) with `NAME=VALUE` overrides.
pub async fn run_job(
    e: &Engine,
    lake: &Lake,
    ctx: &SessionContext,
    args: &JobArgs,
    retention: Duration,
) -> anyhow::Result<pulse_jobs::runner::RunReport> {
    use pulse_jobs::params::parse_time;
    let JobArgs {
        job,
        from,
        to,
        date,
        set,
    } = args;
    let (from, to) = match (date, from, to) {
        (Some(d), _, _) => {
            let day = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .with_context(|| format!("--date {d:?} is not a date (YYYY-MM-DD)"))?;
            (d.clone(), (day + chrono::Days::new(1)).to_string())
        }
        (None, Some(f), Some(t)) => (f.clone(), t.clone()),
        _ => anyhow::bail!("give --date D, or --from and --to"),
    };
    let (from, to) = (&from, &to);
    let start =
        parse_time(from).with_context(|| format!("--from {from:?} is not a date or time"))?;
    let end = parse_time(to).with_context(|| format!("--to {to:?} is not a date or time"))?;
    let (registry, name) = registry_with(e, lake, job).await?;
    if ctx
        .state()
        .config()
        .options()
        .extensions
        .get::<ballista_core::config::BallistaConfig>()
        .is_some()
    {
        // On a cluster, name the queries so `pulse jobs` shows what they are.
        let shown: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        ctx.sql(&format!("SET ballista.job.name = 'pulse run {shown}'"))
            .await?;
    }
    let overrides = crate::nightly::name_values(set, "--set")?;
    let o = pulse_jobs::RunOptions {
        retention: chrono::Duration::from_std(retention).context("--retention is too long")?,
        ..Default::default()
    };
    let report = pulse_jobs::run_with(lake, ctx, &registry, &name, start, end, &overrides, &o)
        .await
        .with_context(|| format!("job {name} over [{from}, {to})"))?;
    Ok(report)
}
