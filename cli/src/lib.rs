//! `pulse`: the one command of Pulse, as a library so that an own build can add jobs written
//! in Rust ([`main_with`]; `examples/native-job` is one). This file parses the flags, turns
//! the ones backed by the configuration into its top layer, builds the engine (`engine.rs`) and hands
//! each command to its module.
//!
//! Exit codes: 0 success, 1 failure (the whole error chain is printed), 2 bad usage.

mod bench;
mod cluster;
mod config;
mod demo;
mod engine;
mod gen_cmd;
mod graph;
mod ingest;
mod job;
mod lake_cmd;
mod log;
mod nightly;
mod node;
mod profile;
mod progress;
mod run;
mod serve;
mod sql;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
pub use pulse_jobs::registry::Job;

use crate::config::{Config, Flags};

#[derive(Parser, Debug)]
#[command(
    name = "pulse",
    version,
    about = "Analytics for live-streaming and social data on a Parquet lake"
)]
struct Cli {
    /// The lake: a path, file:// or s3://bucket/prefix URL [default: ./pulse-lake]
    #[arg(long, global = true, env = "PULSE_LAKE")]
    lake: Option<String>,
    /// Configuration file [default: pulse.toml if present]
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Run SQL and jobs on this Ballista cluster (df://HOST:PORT) instead of embedded
    #[arg(long, global = true, env = "PULSE_CLUSTER")]
    cluster: Option<String>,
    /// A folder of user jobs (a job's folder, or a folder of them); adds to `[jobs] dirs`
    #[arg(long = "jobs", global = true, value_name = "DIR")]
    jobs: Vec<PathBuf>,
    /// Memory for embedded queries (e.g. 2GiB, or 50% of RAM); past it sorts, joins and
    /// aggregations spill to disk
    #[arg(long, global = true, default_value = "50%", value_parser = config::parse_memory)]
    memory_limit: u64,
    /// More log lines on stderr: -v for info, -vv for debug (RUST_LOG overrides both)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log lines as text or as JSON objects (one per line, with their spans' fields)
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: log::Format,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Generate a seeded Twitch + Twitter world into the lake.
    Gen(gen_cmd::GenArgs),
    /// Run an ingest worker.
    #[command(subcommand)]
    Ingest(ingest::IngestCmd),
    /// Merge a day's small files into a few large ones, atomically.
    Compact(lake_cmd::CompactArgs),
    /// Run SQL over the lake: a query, a file, or an interactive prompt.
    Sql(sql::SqlArgs),
    /// The seed's graph queries over the latest `graph` output (`pulse graph` lists them).
    Graph(graph::GraphArgs),
    /// The web app: pages and a JSON API (`/api/openapi.json`) over the lake's tables.
    Serve(serve::ServeArgs),
    /// The streaming seeds in one process: a TCP socket ingest with live hashtag windows,
    /// landing to the lake, and the web app whose Trending page charts the windows live.
    Live(ingest::LiveCmd),
    /// Run a job over the logical interval [--from, --to) (whole UTC days): a job's name
    /// (`pulse job list`) or a job's folder.
    Run(run::RunArgs),
    /// Check, install or list jobs (the built-in ones and the user's).
    #[command(subcommand)]
    Job(job::JobCmd),
    /// Run the nightly DAG (its jobs and order: `pulse job list`) for one date now.
    Nightly(nightly::NightlyArgs),
    /// Run the nightly DAG for a range of dates; dates without data are reported.
    Backfill(nightly::BackfillArgs),
    /// The run history: per date and job, status, attempt, times, rows, error.
    Runs(nightly::RunsArgs),
    /// A daemon running the nightly DAG on a cron schedule (UTC) until SIGTERM.
    Schedule(nightly::ScheduleArgs),
    /// Print a viewer's profile: schedules, favourite streamers and games, bot status.
    Profile(profile::ProfileArgs),
    /// Generate a small world, land it, compact it and print a few answers: Pulse end to end.
    Demo(demo::DemoArgs),
    /// Run a cluster scheduler (Ballista, with Pulse's functions and lake). Flags override
    /// `[scheduler]` in pulse.toml.
    Scheduler(node::SchedulerArgs),
    /// Run a cluster executor; it waits for its scheduler if that is not up yet. Flags
    /// override `[executor]` in pulse.toml.
    Executor(node::ExecutorArgs),
    /// Send SQL or a job to the cluster (--cluster or PULSE_CLUSTER) and wait for it.
    #[command(subcommand)]
    Submit(run::SubmitCmd),
    /// List the cluster's jobs with status and progress, or cancel one.
    Jobs(cluster::JobsArgs),
    /// Start, stop or inspect a local cluster of background processes.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Check the lake's files; move unreadable ones out of the way.
    #[command(subcommand)]
    Lake(lake_cmd::LakeCmd),
    /// Benchmarks (build with --release).
    #[command(subcommand)]
    Bench(bench::BenchCmd),
}

impl Cli {
    /// The flags backed by the configuration, as its top layer.
    fn flags(&self) -> Flags {
        let mut f = Flags::default();
        f.set("lake.url", self.lake.clone())
            .set("cluster.url", self.cluster.clone())
            .set(
                "jobs.dirs",
                (!self.jobs.is_empty()).then(|| self.jobs.clone()),
            );
        match &self.cmd {
            Cmd::Ingest(c) => c.flags(&mut f),
            Cmd::Live(c) => c.flags(&mut f),
            Cmd::Serve(c) => c.flags(&mut f),
            Cmd::Scheduler(c) => c.flags(&mut f),
            Cmd::Executor(c) => c.flags(&mut f),
            Cmd::Nightly(c) => c.runner.flags(&mut f),
            Cmd::Backfill(c) => c.runner.flags(&mut f),
            Cmd::Schedule(c) => c.flags(&mut f),
            _ => {}
        }
        f
    }
}

/// Runs `pulse` with its built-in jobs.
pub fn main() -> std::process::ExitCode {
    main_with(Vec::new())
}

/// Runs `pulse` with `jobs` added to the built-in ones: an own build's jobs written in Rust
/// (each implements [`Job`]). They run embedded and on a cluster of executors of any build:
/// what a job sends to the cluster is plans.
pub fn main_with(jobs: Vec<Arc<dyn Job>>) -> std::process::ExitCode {
    let cli = Cli::parse();
    log::init(cli.verbose, cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli, jobs)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, jobs: Vec<Arc<dyn Job>>) -> anyhow::Result<()> {
    let cfg = Config::load_with(cli.config.as_deref(), &cli.flags())?;
    let e = engine::Engine::new(cfg, cli.memory_limit, jobs)?;
    match cli.cmd {
        Cmd::Gen(a) => gen_cmd::run(&e, a).await,
        Cmd::Ingest(c) => ingest::run(&e, c).await,
        Cmd::Compact(a) => lake_cmd::compact(&e, a).await,
        Cmd::Sql(a) => sql::command(&e, a).await,
        Cmd::Graph(a) => graph::command(&e, a).await,
        Cmd::Serve(a) => serve::run(&e, a).await,
        Cmd::Live(a) => ingest::live(&e, a).await,
        Cmd::Run(a) => run::run(&e, a).await,
        Cmd::Job(c) => job::run(&e, c).await,
        Cmd::Nightly(a) => nightly::nightly(&e, a).await,
        Cmd::Backfill(a) => nightly::backfill(&e, a).await,
        Cmd::Runs(a) => nightly::runs(&e.lake()?, a).await,
        Cmd::Schedule(a) => nightly::schedule(&e, a).await,
        Cmd::Profile(a) => profile::command(&e, a).await,
        Cmd::Demo(a) => demo::run(&e, a).await,
        Cmd::Scheduler(_) => node::scheduler(&e).await,
        Cmd::Executor(_) => node::executor(&e).await,
        Cmd::Submit(c) => run::submit(&e, c).await,
        Cmd::Jobs(a) => cluster::jobs(&e, a),
        Cmd::Cluster(c) => {
            let lake = e.lake()?.to_string();
            cluster::run(c, &lake, e.cfg.cluster.login(None)?.as_ref())
        }
        Cmd::Lake(c) => lake_cmd::run(&e.lake()?, c).await,
        Cmd::Bench(b) => bench::run(b, &e).await,
    }
}
