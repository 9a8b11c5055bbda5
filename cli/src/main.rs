//! `pulse`: the one command of Pulse. It parses flags, builds the configuration, and calls
//! the libraries: `pulse-ingest` for `gen` and `ingest`, `pulse-jobs` for `compact`, and
//! `pulse-lake` for `sql`.
//!
//! Exit codes: 0 success, 1 failure (the whole error chain is printed), 2 bad usage.

mod bench;
mod bench_cluster;
mod cluster;
mod config;
mod demo;
mod graph;
mod lake_cmd;
mod nightly;
mod profile;
mod sql;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use pulse_ingest::worker::{FlushPolicy, Worker, shutdown_signal};
use pulse_lake::Lake;
use pulse_lake::land::Lander;

use crate::config::{Config, Scheduling};

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
    /// Memory for embedded queries (e.g. 2GiB, or 50% of RAM); past it sorts, joins and
    /// aggregations spill to disk
    #[arg(long, global = true, default_value = "50%", value_parser = parse_memory)]
    memory_limit: u64,
    /// More log lines on stderr: -v for info, -vv for debug (RUST_LOG overrides both)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Generate a seeded Twitch + Twitter world into the lake.
    Gen(GenArgs),
    /// Run an ingest worker.
    #[command(subcommand)]
    Ingest(IngestCmd),
    /// Merge a day's small files into a few large ones, atomically.
    Compact {
        /// The day (UTC), YYYY-MM-DD.
        #[arg(long)]
        date: NaiveDate,
        /// Target file size, e.g. 128MiB.
        #[arg(long, default_value = "128MiB", value_parser = parse_bytes)]
        target_size: u64,
    },
    /// Run SQL over the lake: a query, a file, or an interactive prompt.
    Sql {
        /// The query (omit it, and -f, for the interactive prompt).
        query: Option<String>,
        /// Read statements from this file.
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: sql::OutFormat,
        /// Write the result to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// A value for $1, $2, ... in order (an integer, or text); bound, never pasted.
        #[arg(long = "param", value_name = "VALUE")]
        params: Vec<String>,
    },
    /// The seed's graph queries over the latest `graph` output (`pulse graph` lists them).
    Graph {
        /// The query (a file of sql/queries/graph/).
        query: Option<String>,
        /// Its arguments, in order (e.g. a limit, a streamer's name).
        args: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: sql::OutFormat,
    },
    /// The web app: pages and a JSON API (`/api/openapi.json`) over the lake's tables.
    Serve {
        /// HOST:PORT to listen on [default: 127.0.0.1:8080, or `listen` of pulse.toml's serve section].
        #[arg(long)]
        listen: Option<String>,
        /// The viewer every request must present, with the password in PULSE_SERVE_PASSWORD
        /// [default: `user` of pulse.toml's serve section]; required to listen beyond loopback.
        #[arg(long)]
        user: Option<String>,
        /// Listen beyond loopback without credentials (a network you trust).
        #[arg(long)]
        insecure: bool,
    },
    /// The streaming seeds in one process: a TCP socket ingest with live hashtag windows,
    /// landing to the lake, and the web app whose Trending page charts the windows live.
    Live {
        #[command(flatten)]
        flush: FlushArgs,
        /// Listen for frames on this address.
        #[arg(long, default_value = "127.0.0.1:5555")]
        listen: String,
        /// Framing: line or len5.
        #[arg(long, default_value = "line")]
        framing: String,
        /// The web app's address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        serve: String,
        /// Live windows (default size=20s,slide=10s,k=10), lateness and cap.
        #[command(flatten)]
        live: LiveArgs,
        #[command(flatten)]
        wal: WalArgs,
    },
    /// Run a windowed job over the logical interval [--from, --to) (whole UTC days).
    Run {
        #[command(flatten)]
        job: JobArgs,
        /// For `vacuum`: keep files no reader of a table's newest version needs this long, so
        /// running queries can finish reading them.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        retention: Duration,
    },
    /// Run the nightly DAG (compact, viewer-day, bots, profiles, verify, channels, categories,
    /// hashtags, graph, pagerank, betweenness, pipeline-stats, vacuum) for one date now.
    Nightly(nightly::NightlyArgs),
    /// Run the nightly DAG for a range of dates; dates without data are reported.
    Backfill(nightly::BackfillArgs),
    /// The run history: per date and job, status, attempt, times, rows, error.
    Runs(nightly::RunsArgs),
    /// A daemon running the nightly DAG on a cron schedule (UTC) until SIGTERM.
    Schedule(nightly::ScheduleArgs),
    /// Print a viewer's profile: schedules, favourite streamers and games, bot status.
    Profile {
        /// The viewer's login.
        viewer: String,
        /// The date the profile is as of [default: the latest profile date].
        #[arg(long)]
        date: Option<String>,
    },
    /// Generate a small world, land it, compact it and print a few answers: Pulse end to end.
    Demo(demo::DemoArgs),
    /// Run a cluster scheduler (Ballista, with Pulse's functions and lake). Flags override
    /// `[scheduler]` in pulse.toml.
    Scheduler {
        /// Address to bind [default: 127.0.0.1]; beyond loopback it needs credentials or
        /// --insecure.
        #[arg(long)]
        bind_host: Option<String>,
        /// Port for gRPC, the REST API (/api/executors, /api/jobs) and Flight SQL [default: 50050].
        #[arg(long)]
        port: Option<u16>,
        /// Host executors and clients reach this scheduler at [default: localhost].
        #[arg(long)]
        external_host: Option<String>,
        /// An executor silent this long is lost and its tasks rerun [default: 180s].
        #[arg(long, value_parser = humantime::parse_duration)]
        executor_timeout: Option<Duration>,
        /// Serve Flight SQL on the scheduler port, every lake table registered by name.
        #[arg(long)]
        flight_sql: bool,
        /// The user every client must present (Flight SQL, REST API, job submission), with
        /// the password in PULSE_CLUSTER_PASSWORD [default: [cluster] user].
        #[arg(long)]
        user: Option<String>,
        /// Serve beyond loopback without credentials (a warning is logged).
        #[arg(long)]
        insecure: bool,
        /// Also serve Flight SQL, the REST API and job submission over TLS on HOST:PORT
        /// (with --tls-cert and --tls-key).
        #[arg(long)]
        tls_listen: Option<String>,
        /// TLS certificate chain, PEM.
        #[arg(long)]
        tls_cert: Option<PathBuf>,
        /// TLS private key, PEM.
        #[arg(long)]
        tls_key: Option<PathBuf>,
        /// Task scheduling: pull (executors poll) or push; executors must use the same [default: pull].
        #[arg(long, value_enum)]
        scheduling: Option<Scheduling>,
    },
    /// Run a cluster executor; it waits for its scheduler if that is not up yet. Flags
    /// override `[executor]` in pulse.toml.
    Executor {
        /// Address to bind [default: 127.0.0.1]. Executor ports have no authentication:
        /// beyond loopback, keep them reachable only from the cluster's hosts.
        #[arg(long)]
        bind_host: Option<String>,
        /// Flight port (results and shuffle data) [default: 50051].
        #[arg(long)]
        port: Option<u16>,
        /// gRPC port [default: 50052].
        #[arg(long)]
        grpc_port: Option<u16>,
        /// Host the scheduler and clients reach this executor at [default: localhost].
        #[arg(long)]
        external_host: Option<String>,
        /// The scheduler, HOST:PORT [default: localhost:50050].
        #[arg(long)]
        scheduler: Option<String>,
        /// Concurrent tasks [default: the cores].
        #[arg(long)]
        vcores: Option<usize>,
        /// Shuffle and spill directory [default: a temp dir].
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Memory pool, e.g. 4GiB [default: a fraction of RAM].
        #[arg(long, value_parser = parse_bytes)]
        memory_limit: Option<u64>,
        /// How long to wait for the scheduler at start [default: 30s].
        #[arg(long, value_parser = humantime::parse_duration)]
        connect_timeout: Option<Duration>,
        /// Time between heartbeats to the scheduler [default: 60s].
        #[arg(long, value_parser = humantime::parse_duration)]
        heartbeat: Option<Duration>,
        /// Task scheduling, as the scheduler's: pull or push [default: pull].
        #[arg(long, value_enum)]
        scheduling: Option<Scheduling>,
    },
    /// Send SQL or a job to the cluster (--cluster or PULSE_CLUSTER) and wait for it.
    #[command(subcommand)]
    Submit(SubmitCmd),
    /// List the cluster's jobs with status and progress, or cancel one.
    Jobs {
        #[command(subcommand)]
        cmd: Option<JobsCmd>,
        /// Only jobs with this status (Queued, Running, Completed, Failed).
        #[arg(long)]
        status: Option<String>,
    },
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

/// A windowed job and its logical interval.
#[derive(Args, Debug)]
pub struct JobArgs {
    /// hashtags, categories, channels, viewer-day, bots, profiles, profiles-rebuild, verify,
    /// pipeline-stats, graph, pagerank, betweenness, audience-overlap or compact.
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
    /// Set a job parameter, e.g. --set size=1h --set slide=5m (see docs/jobs.md).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum SubmitCmd {
    /// Run the statements of a SQL file on the cluster and print the last result.
    Sql {
        /// The file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: sql::OutFormat,
    },
    /// Run a windowed job on the cluster over [--from, --to).
    Job(JobArgs),
}

#[derive(Subcommand, Debug)]
enum JobsCmd {
    /// Cancel a running job.
    Cancel {
        /// The job id (from `pulse jobs`).
        id: String,
    },
}

#[derive(Args, Debug)]
struct GenArgs {
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

#[derive(Args, Debug, Clone)]
struct FlushArgs {
    /// Flush at least this often [default: 60s].
    #[arg(long, value_parser = humantime::parse_duration)]
    flush_interval: Option<Duration>,
    /// Flush when this many records are buffered [default: 500000].
    #[arg(long)]
    flush_rows: Option<usize>,
}

/// A socket worker's write-ahead log: every frame is in it before it counts as received, and
/// a restarted worker lands what the log holds.
#[derive(clap::Args, Debug, Clone)]
struct WalArgs {
    /// Keep the write-ahead log here [default: under the user's state directory, one per
    /// lake and address].
    #[arg(long, value_name = "DIR")]
    wal_dir: Option<PathBuf>,
    /// Run without a write-ahead log: frames received since the last flush are lost if the
    /// worker is killed.
    #[arg(long, conflicts_with = "wal_dir")]
    no_wal: bool,
}

impl WalArgs {
    /// Opens the log of a socket worker on `lake` at `addr` and lands what it holds.
    async fn recover(
        &self,
        cfg: &Config,
        lake: &Lake,
        addr: &str,
        w: &mut Worker,
    ) -> anyhow::Result<Option<pulse_ingest::wal::Wal>> {
        if self.no_wal {
            return Ok(None);
        }
        let dir = match &self.wal_dir {
            Some(d) => d.clone(),
            None => {
                let key = blake3::hash(format!("{lake}\n{addr}").as_bytes()).to_hex();
                cluster::state_home()?.join("wal").join(&key[..16])
            }
        };
        let opts = pulse_ingest::wal::WalOptions {
            dir: dir.clone(),
            sync_interval: cfg.ingest.wal_sync_interval,
            sync_bytes: cfg.ingest.wal_sync_bytes,
        };
        let wal = pulse_ingest::socket::recover(w, opts)
            .await
            .with_context(|| format!("recovering the write-ahead log {}", dir.display()))?;
        Ok(Some(wal))
    }
}

/// Live hashtag windows kept while ingesting messages.
#[derive(clap::Args, Debug, Clone)]
struct LiveArgs {
    /// Keep live sliding windows of the messages' hashtags, e.g. `size=20s,slide=10s,k=10`
    /// (repeat for several); each window's top k is printed on stdout as a JSON line when the
    /// watermark closes it.
    #[arg(long = "live", value_parser = pulse_ingest::live::Spec::parse)]
    specs: Vec<pulse_ingest::live::Spec>,
    /// How far behind the latest event time a message may come and still count.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    lateness: Duration,
    /// The most distinct tags a pane of a live window keeps (the rarest go first).
    #[arg(long, default_value_t = 100_000)]
    live_cap: usize,
}

impl LiveArgs {
    /// Adds the live windows to `w`, printing each closed one as a JSON line.
    fn attach(&self, w: Worker) -> Worker {
        if self.specs.is_empty() {
            return w;
        }
        let (windows, sink) = (self.windows(), Box::new(PrintClosed));
        w.with_live(windows, sink)
    }

    /// The live windows these arguments ask for (a default 20 s / 10 s one when none).
    fn windows(&self) -> Vec<pulse_ingest::live::Windows> {
        let lateness = self.lateness.as_micros().min(i64::MAX as u128) as i64;
        let default = pulse_ingest::live::Spec {
            size_us: 20_000_000,
            slide_us: 10_000_000,
            k: 10,
        };
        let specs = if self.specs.is_empty() {
            vec![default]
        } else {
            self.specs.clone()
        };
        specs
            .iter()
            .map(|s| pulse_ingest::live::Windows::new(*s, lateness, self.live_cap))
            .collect()
    }
}

/// Continues the live windows from the lake (see `Worker::resume_live`); when the lake's
/// cannot be read, says so and starts afresh.
async fn resume_live(w: &mut Worker, keep: usize) {
    if let Err(e) = w.resume_live(keep).await {
        tracing::warn!(error = %format!("{e:#}"), "live windows start afresh: the lake's could not be read");
    }
}

/// Prints each closed live window as a JSON line on stdout.
struct PrintClosed;

impl pulse_ingest::worker::LiveSink for PrintClosed {
    fn window(&mut self, spec: pulse_ingest::live::Spec, top: pulse_ingest::live::Top) {
        if top.final_ {
            println!("{}", live_json(spec, &top));
        }
    }
}

/// Hands every live window to the web app's hub; publishes at each tick.
struct ToHub(std::sync::Arc<pulse_web::live::Hub>);

impl pulse_ingest::worker::LiveSink for ToHub {
    fn window(&mut self, spec: pulse_ingest::live::Spec, top: pulse_ingest::live::Top) {
        let v = live_json(spec, &top);
        self.0.update(&spec.name(), top.window_start, v);
    }
    fn history(&mut self, spec: pulse_ingest::live::Spec, top: pulse_ingest::live::Top) {
        self.window(spec, top);
    }
    fn tick(&mut self, _newest_event: Option<i64>) {
        self.0.publish();
    }
}

/// A live window as one JSON line.
fn live_json(spec: pulse_ingest::live::Spec, top: &pulse_ingest::live::Top) -> serde_json::Value {
    let time = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_default()
    };
    serde_json::json!({
        "live": spec.name(),
        "window_start": time(top.window_start),
        "window_end": time(top.window_end),
        "final": top.final_,
        "top": top.tags,
        "late": top.late,
        "evicted_tags": top.evicted,
    })
}

#[derive(Subcommand, Debug)]
enum IngestCmd {
    /// Poll the Twitch Helix API (TWITCH_CLIENT_ID, TWITCH_CLIENT_SECRET).
    Twitch {
        #[command(flatten)]
        flush: FlushArgs,
        /// Top streams per poll.
        #[arg(long)]
        top: Option<usize>,
        /// Only streams in this language.
        #[arg(long)]
        language: Option<String>,
        /// Time between polls [default: 5m].
        #[arg(long, value_parser = humantime::parse_duration)]
        interval: Option<Duration>,
        /// Helix base URL.
        #[arg(long)]
        base_url: Option<String>,
        /// OAuth base URL.
        #[arg(long)]
        auth_url: Option<String>,
        /// Stop after this many polls (default: run until SIGINT/SIGTERM).
        #[arg(long)]
        polls: Option<u64>,
    },
    /// Read text frames from TCP peers into `messages`.
    Socket {
        #[command(flatten)]
        flush: FlushArgs,
        /// Listen on this address, e.g. 127.0.0.1:9999.
        #[arg(long, conflicts_with = "connect", required_unless_present = "connect")]
        listen: Option<String>,
        /// Connect to this address and read until it closes.
        #[arg(long)]
        connect: Option<String>,
        /// Framing: line or len5.
        #[arg(long, default_value = "line")]
        framing: String,
        /// Largest frame in bytes [default: 1 MiB].
        #[arg(long, value_parser = parse_bytes)]
        max_frame: Option<u64>,
        #[command(flatten)]
        live: LiveArgs,
        #[command(flatten)]
        wal: WalArgs,
    },
    /// Replay files into raw tables.
    Replay {
        #[command(flatten)]
        flush: FlushArgs,
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// auto, tweets-jsonl, tweets-csv, profiler, memgraph, viewer-log, categories-csv, streams-csv.
        #[arg(long, default_value = "auto")]
        format: String,
        /// Replay at N times real time (default: as fast as possible).
        #[arg(long)]
        speed: Option<f64>,
        /// Observation time for files without their own (RFC 3339); default: file mtime.
        #[arg(long)]
        as_of: Option<String>,
        /// Send the messages to a socket worker listening on ADDR (`pulse live`, `pulse
        /// ingest socket`) instead of landing them; bad records are still quarantined here.
        #[arg(long, value_name = "ADDR")]
        to_socket: Option<String>,
        /// The frames --to-socket sends: line or len5.
        #[arg(long, default_value = "line")]
        framing: String,
        #[command(flatten)]
        live: LiveArgs,
    },
}

/// A size, or a percentage of this machine's memory (its cgroup limit when lower).
fn parse_memory(s: &str) -> Result<u64, String> {
    match s.trim().strip_suffix('%') {
        Some(p) => {
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("not a percentage: {s:?}"))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(format!("{s:?} is not between 0 and 100%"));
            }
            Ok((total_memory() as f64 * p / 100.0) as u64)
        }
        None => parse_bytes(s),
    }
}

/// Physical memory, or the cgroup's limit when lower (containers).
fn total_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(8 << 30, |kb| kb * 1024);
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    cgroup.map_or(meminfo, |c| c.min(meminfo))
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        u => return Err(format!("unknown size unit {u:?}")),
    };
    Ok(n * mult)
}

/// Logs go to stderr: warnings and errors by default (results are on stdout), Pulse's info
/// lines with `-v`, debug with `-vv`; `RUST_LOG` overrides both.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let pulse = [
        "pulse",
        "pulse_ingest",
        "pulse_jobs",
        "pulse_lake",
        "pulse_scheduler",
    ];
    let default = match verbose {
        0 => "warn".to_string(),
        n => {
            let level = if n == 1 { "info" } else { "debug" };
            let crates: Vec<String> = pulse.iter().map(|c| format!("{c}={level}")).collect();
            format!("warn,{}", crates.join(","))
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Pulse's executors send no per-operator task metrics (scheduler::NoTaskMetrics); the
    // scheduler would warn about that for every stage.
    // delta-rs warns of every commit that found another writer's commit before it, which it
    // then checks and retries: routine for concurrent writers, not the user's to act on.
    let filter = [
        "ballista_scheduler::state::execution_stage=error",
        "deltalake_core::kernel::transaction=error",
    ]
    .into_iter()
    .fold(filter, |f, d| match d.parse() {
        Ok(d) => f.add_directive(d),
        Err(_) => f,
    });
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .init();
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
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
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn policy(cfg: &Config, f: &FlushArgs) -> FlushPolicy {
    FlushPolicy {
        interval: f.flush_interval.unwrap_or(cfg.ingest.flush_interval),
        rows: f.flush_rows.unwrap_or(cfg.ingest.flush_rows).max(1),
    }
}

fn print_stats(source: &str, s: &pulse_ingest::worker::Stats) {
    println!(
        "{source}: {} records landed, {} quarantined, {} files, {} bytes",
        s.records, s.quarantined, s.files, s.bytes
    );
}

/// A session over the lake: embedded, or on the cluster when one is given.
pub async fn session(
    lake: &Lake,
    cluster: Option<&cluster::Target>,
) -> anyhow::Result<datafusion::prelude::SessionContext> {
    session_with(lake, cluster, None).await
}

/// A session for queries ([`session`]) in which every job output exists, empty until its
/// job writes it (named as the nightly DAG names them, `[schedule.set]` included).
pub async fn query_session(
    lake: &Lake,
    cluster: Option<&cluster::Target>,
    memory_limit: Option<u64>,
    schedule: &config::ScheduleSection,
) -> anyhow::Result<datafusion::prelude::SessionContext> {
    let ctx = session_with(lake, cluster, memory_limit).await?;
    pulse_jobs::outputs::register_empty(&ctx, lake, &nightly::overrides(schedule)?).await?;
    Ok(ctx)
}

/// [`session`] with embedded queries' memory capped (see `--memory-limit`).
pub async fn session_with(
    lake: &Lake,
    cluster: Option<&cluster::Target>,
    memory_limit: Option<u64>,
) -> anyhow::Result<datafusion::prelude::SessionContext> {
    Ok(match cluster {
        Some(target) => {
            let url = target.url.as_str();
            // Fail fast, naming the address, when the scheduler is not there.
            let addr = cluster::rest_addr(url)?;
            let reach = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::net::TcpStream::connect(&addr),
            )
            .await;
            match reach {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    anyhow::bail!("cannot reach the cluster scheduler at {url} ({addr}): {e}")
                }
                Err(_) => anyhow::bail!(
                    "cannot reach the cluster scheduler at {url} ({addr}): no answer in 10s"
                ),
            }
            let login = target.login.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
            pulse_scheduler::remote_session(url, lake, login)
                .await
                .with_context(|| format!("connecting to cluster {url}"))?
        }
        None => {
            pulse_lake::catalog::session_limited(lake, memory_limit.map(|m| m as usize)).await?
        }
    })
}

fn host_port(s: &str) -> anyhow::Result<(String, u16)> {
    let (h, p) = s
        .rsplit_once(':')
        .with_context(|| format!("{s:?} is not HOST:PORT"))?;
    Ok((
        h.to_string(),
        p.parse().with_context(|| format!("bad port in {s:?}"))?,
    ))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut cfg = Config::load(cli.config.as_deref())?;
    if let Some(l) = &cli.lake {
        cfg.lake.url = l.clone();
    }
    let cluster = match cli.cluster.clone().or_else(|| cfg.cluster.url.clone()) {
        Some(url) => Some(cluster::Target {
            url,
            login: cfg.cluster.login(None)?,
        }),
        None => None,
    };
    let memory_limit = cli.memory_limit;
    let open = |cfg: &Config| {
        Lake::open(&cfg.lake.url, &cfg.s3).with_context(|| format!("opening lake {}", cfg.lake.url))
    };
    match cli.cmd {
        Cmd::Gen(g) => {
            let lake = open(&cfg)?;
            let lander = Lander::new(lake.clone());
            let bar = progress_bar(g.days as u64 * 24, "generating hours");
            let report = pulse_ingest::generate::generate(&lander, &g.options(), &|d, _| {
                bar.set_position(d)
            })
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
        }
        Cmd::Ingest(i) => ingest(&cfg, open(&cfg)?, i).await?,
        Cmd::Compact { date, target_size } => {
            let lake = open(&cfg)?;
            let spin = spinner(&format!("compacting {date}"));
            let report = pulse_jobs::compact::compact_day(&lake, date, target_size).await;
            spin.finish_and_clear();
            let report = report?;
            if report.is_empty() {
                println!("nothing landed on {date}");
            }
            println!(
                "{:<12} {:>8} {:>14} {:>8} {:>14} {:>12}",
                "table", "files", "bytes", "files'", "bytes'", "rows"
            );
            for (t, c) in report {
                println!(
                    "{:<12} {:>8} {:>14} {:>8} {:>14} {:>12}",
                    t.name(),
                    c.files_before,
                    c.bytes_before,
                    c.files_after,
                    c.bytes_after,
                    c.rows
                );
            }
        }
        Cmd::Graph {
            query,
            args,
            format,
        } => {
            let lake = open(&cfg)?;
            let ctx = query_session(&lake, cluster.as_ref(), None, &cfg.schedule).await?;
            graph::run(&ctx, query.as_deref(), &args, format).await?;
        }
        Cmd::Sql {
            query,
            file,
            format,
            output,
            params,
        } => {
            let params: Vec<_> = params.iter().map(|p| sql::param_value(p)).collect();
            let lake = open(&cfg)?;
            let ctx = query_session(&lake, cluster.as_ref(), None, &cfg.schedule).await?;
            let text = match (query, file) {
                (Some(q), None) => Some(q),
                (None, Some(f)) => Some(
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("reading {}", f.display()))?,
                ),
                (Some(_), Some(_)) => anyhow::bail!("give a query or -f FILE, not both"),
                (None, None) => None,
            };
            match text {
                Some(t) => {
                    if let Err(e) = sql::run(&ctx, &t, format, output.as_deref(), &params).await {
                        return Err(lake_cmd::name_unreadable(&lake, &t, e).await);
                    }
                }
                None => sql::repl(&ctx, format).await?,
            }
        }
        Cmd::Run { job, retention } => {
            let lake = open(&cfg)?;
            let ctx = session_with(&lake, cluster.as_ref(), Some(memory_limit)).await?;
            match run_job(&lake, &ctx, &job, retention).await {
                Ok(report) => print_report(&report),
                // A job reads many tables: name any unreadable file of the lake.
                Err(e) => return Err(lake_cmd::name_unreadable(&lake, "", e).await),
            }
        }
        Cmd::Nightly(a) => {
            let lake = open(&cfg)?;
            let sessions = sessions(&lake, cluster.clone(), memory_limit);
            nightly::nightly(&lake, sessions, &cfg.schedule, a).await?;
        }
        Cmd::Backfill(a) => {
            let lake = open(&cfg)?;
            let sessions = sessions(&lake, cluster.clone(), memory_limit);
            nightly::backfill(&lake, sessions, &cfg.schedule, a).await?;
        }
        Cmd::Runs(a) => nightly::runs(&open(&cfg)?, a).await?,
        Cmd::Schedule(a) => {
            let lake = open(&cfg)?;
            let sessions = sessions(&lake, cluster.clone(), memory_limit);
            nightly::schedule(&lake, sessions, &cfg.schedule, a).await?;
        }
        Cmd::Profile { viewer, date } => {
            let lake = open(&cfg)?;
            let ctx =
                query_session(&lake, cluster.as_ref(), Some(memory_limit), &cfg.schedule).await?;
            profile::print(&ctx, &viewer, date.as_deref()).await?;
        }
        Cmd::Demo(d) => demo::run(&cfg, d).await?,
        Cmd::Live {
            flush,
            listen,
            framing,
            serve,
            live,
            wal,
        } => {
            let lake = open(&cfg)?;
            let hub = pulse_web::live::Hub::new();
            let o = pulse_web::Options {
                listen: serve,
                credentials: None,
                insecure: false,
                refresh: cfg.serve.refresh,
                live: Some(hub.clone()),
            };
            let sessions = web_sessions(&lake, cluster.clone(), &cfg.schedule);
            let shutdown = pulse_ingest::worker::shutdown_signal();
            let mut stop = shutdown.clone();
            let web = tokio::spawn(pulse_web::serve(o, sessions, async move {
                let _ = stop.wait_for(|s| *s).await;
            }));
            let mut w = Worker::new(
                Lander::new(lake.clone()),
                pulse_lake::schema::source::SOCKET,
                policy(&cfg, &flush),
            );
            let mut log = wal.recover(&cfg, &lake, &listen, &mut w).await?;
            let mut w = w.with_live(live.windows(), Box::new(ToHub(hub)));
            resume_live(&mut w, pulse_web::live::KEEP).await;
            let opts = pulse_ingest::socket::SocketOptions {
                mode: pulse_ingest::socket::Mode::Listen(listen),
                framing: framing.parse()?,
                max_frame: cfg.ingest.max_frame,
            };
            let ingest = pulse_ingest::socket::run(&mut w, &opts, log.as_mut(), shutdown, |addr| {
                println!("listening on {addr}");
            })
            .await;
            w.end_live(false);
            let stats = ingest?;
            print_stats("socket", &stats);
            web.await??;
        }
        Cmd::Serve {
            listen,
            user,
            insecure,
        } => {
            let lake = open(&cfg)?;
            let credentials = cfg
                .serve
                .login(user.as_deref())?
                .map(|(u, p)| pulse_scheduler::Credentials::new(u, &p));
            let o = pulse_web::Options {
                listen: listen.unwrap_or_else(|| cfg.serve.listen.clone()),
                credentials,
                insecure: insecure || cfg.serve.insecure,
                refresh: cfg.serve.refresh,
                live: None,
            };
            let sessions = web_sessions(&lake, cluster.clone(), &cfg.schedule);
            let mut stop = pulse_ingest::worker::shutdown_signal();
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            pulse_web::serve(o, sessions, stopped).await?;
        }
        Cmd::Scheduler {
            bind_host,
            port,
            external_host,
            executor_timeout,
            flight_sql,
            user,
            insecure,
            tls_listen,
            tls_cert,
            tls_key,
            scheduling,
        } => {
            let lake = open(&cfg)?;
            let c = cfg.scheduler.clone();
            let tls = match (
                tls_listen.or(c.tls_listen),
                tls_cert.or(c.tls_cert),
                tls_key.or(c.tls_key),
            ) {
                (Some(listen), Some(cert), Some(key)) => {
                    Some(pulse_scheduler::TlsOptions { listen, cert, key })
                }
                (None, None, None) => None,
                _ => anyhow::bail!("TLS needs all of --tls-listen, --tls-cert and --tls-key"),
            };
            let credentials = cfg
                .cluster
                .login(user.as_deref())?
                .map(|(u, p)| pulse_scheduler::Credentials::new(u, &p));
            let opts = pulse_scheduler::SchedulerOptions {
                bind_host: bind_host.unwrap_or(c.bind_host),
                port: port.unwrap_or(c.port),
                external_host: external_host.unwrap_or(c.external_host),
                executor_timeout_s: executor_timeout
                    .unwrap_or(c.executor_timeout)
                    .as_secs()
                    .max(1),
                flight_sql: flight_sql || c.flight_sql,
                credentials,
                insecure: insecure || c.insecure,
                tls,
                push: scheduling.unwrap_or(c.scheduling) == Scheduling::Push,
            };
            println!("scheduler listening on {}:{}", opts.bind_host, opts.port);
            pulse_scheduler::run_scheduler(lake, opts).await?;
        }
        Cmd::Executor {
            bind_host,
            port,
            grpc_port,
            external_host,
            scheduler,
            vcores,
            work_dir,
            memory_limit,
            connect_timeout,
            heartbeat,
            scheduling,
        } => {
            let lake = open(&cfg)?;
            let c = cfg.executor.clone();
            let (scheduler_host, scheduler_port) = host_port(&scheduler.unwrap_or(c.scheduler))?;
            let tmp;
            let work_dir = match work_dir.or(c.work_dir) {
                Some(d) => d,
                None => {
                    tmp = tempfile::tempdir()?;
                    tmp.path().to_path_buf()
                }
            };
            std::fs::create_dir_all(&work_dir)
                .with_context(|| format!("creating {}", work_dir.display()))?;
            let vcores = match vcores.unwrap_or(c.vcores) {
                0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
                n => n,
            };
            pulse_scheduler::run_executor(
                lake,
                pulse_scheduler::ExecutorOptions {
                    bind_host: bind_host.unwrap_or(c.bind_host),
                    port: port.unwrap_or(c.port),
                    grpc_port: grpc_port.unwrap_or(c.grpc_port),
                    external_host: external_host.unwrap_or(c.external_host),
                    scheduler_host,
                    scheduler_port,
                    vcores,
                    work_dir: work_dir.display().to_string(),
                    memory_limit: memory_limit.or(c.memory_limit),
                    connect_timeout_s: connect_timeout
                        .unwrap_or(c.connect_timeout)
                        .as_secs()
                        .min(u16::MAX as u64) as u16,
                    heartbeat_s: heartbeat.unwrap_or(c.heartbeat).as_secs().max(1),
                    push: scheduling.unwrap_or(c.scheduling) == Scheduling::Push,
                },
            )
            .await?;
        }
        Cmd::Bench(b) => {
            let web = || Ok(web_sessions(&open(&cfg)?, cluster.clone(), &cfg.schedule));
            bench::run(b, || open(&cfg), web, memory_limit).await?
        }
        Cmd::Lake(c) => lake_cmd::run(&open(&cfg)?, c).await?,
        Cmd::Cluster(c) => {
            let lake = open(&cfg)?.to_string();
            cluster::run(c, &lake, cfg.cluster.login(None)?.as_ref())?
        }
        Cmd::Submit(cmd) => {
            let target = cluster
                .as_ref()
                .context("submit needs a cluster: --cluster df://HOST:PORT or PULSE_CLUSTER")?;
            let lake = open(&cfg)?;
            let ctx = session(&lake, Some(target)).await?;
            match cmd {
                SubmitCmd::Sql { file, format } => {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    ctx.sql(&format!(
                        "SET ballista.job.name = 'pulse-sql {}'",
                        file.display().to_string().replace('\'', "")
                    ))
                    .await?;
                    sql::run(&ctx, &text, format, None, &[]).await?;
                }
                SubmitCmd::Job(job) => {
                    print_report(&run_job(&lake, &ctx, &job, Duration::from_secs(3600)).await?);
                }
            }
        }
        Cmd::Jobs { cmd, status } => {
            let target = cluster
                .as_ref()
                .context("jobs needs a cluster: --cluster df://HOST:PORT or PULSE_CLUSTER")?;
            match cmd {
                None => cluster::list_jobs(target, status.as_deref())?,
                Some(JobsCmd::Cancel { id }) => cluster::cancel_job(target, &id)?,
            }
        }
    }
    Ok(())
}

fn print_report(report: &pulse_jobs::runner::RunReport) {
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

/// Query sessions for the web app: embedded or on the cluster, every job output registered.
pub fn web_sessions(
    lake: &Lake,
    cluster: Option<cluster::Target>,
    schedule: &config::ScheduleSection,
) -> pulse_web::Sessions {
    let (lake, schedule) = (lake.clone(), schedule.clone());
    // The outputs' shapes are planned once; every refresh registers them.
    let shapes = std::sync::Arc::new(tokio::sync::OnceCell::new());
    let caches = pulse_lake::catalog::ReaderCaches::default();
    std::sync::Arc::new(move || {
        let (lake, cluster, schedule) = (lake.clone(), cluster.clone(), schedule.clone());
        let (shapes, caches) = (shapes.clone(), caches.clone());
        Box::pin(async move {
            let failed = |e: anyhow::Error| pulse_web::Error::Session(format!("{e:#}"));
            let ctx = match &cluster {
                Some(c) => session_with(&lake, Some(c), None).await.map_err(failed)?,
                None => pulse_lake::catalog::reader_session(&lake, &caches)
                    .await
                    .map_err(|e| failed(e.into()))?,
            };
            let set = nightly::overrides(&schedule).map_err(failed)?;
            let outputs = shapes
                .get_or_try_init(|| pulse_jobs::outputs::shapes(&ctx, &set))
                .await?
                .clone();
            pulse_jobs::outputs::register(&ctx, &lake, &outputs)?;
            if cluster.is_none() {
                // The run history is many small files (one per run start and end): read once
                // per refresh, not per request. (A cluster cannot be sent in-memory tables.)
                let runs = ctx.table("runs").await?;
                let schema = std::sync::Arc::new(runs.schema().as_arrow().clone());
                let batches = runs.collect().await?;
                let mem = datafusion::datasource::MemTable::try_new(schema, vec![batches])?;
                ctx.deregister_table("runs")?;
                ctx.register_table("runs", std::sync::Arc::new(mem))?;
                // The job outputs' Delta logs (what the pages read) are brought up to date
                // here, in the background, not by a request; raw tables' when asked.
                let names: Vec<&str> = outputs.iter().map(|o| o.table.as_str()).collect();
                let tables = pulse_lake::catalog::warm(&ctx, &names)
                    .await
                    .map_err(|e| failed(e.into()))?;
                tracing::debug!(tables, "web session warmed");
            }
            Ok((ctx, outputs))
        })
    })
}

/// A fresh session per nightly task, embedded or on the cluster.
fn sessions(
    lake: &Lake,
    cluster: Option<cluster::Target>,
    memory_limit: u64,
) -> pulse_jobs::nightly::Sessions {
    let lake = lake.clone();
    std::sync::Arc::new(move || {
        let (lake, cluster) = (lake.clone(), cluster.clone());
        Box::pin(async move {
            session_with(&lake, cluster.as_ref(), Some(memory_limit))
                .await
                .map_err(|e| pulse_jobs::Error::Usage(format!("{e:#}")))
        })
    })
}

/// Runs a windowed job by name over [from, to) with `NAME=VALUE` overrides.
pub async fn run_job(
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
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
    if ctx
        .state()
        .config()
        .options()
        .extensions
        .get::<ballista_core::config::BallistaConfig>()
        .is_some()
    {
        // On a cluster, name the queries so `pulse jobs` shows what they are.
        let name: String = job
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        ctx.sql(&format!("SET ballista.job.name = 'pulse run {name}'"))
            .await?;
    }
    let mut overrides = Vec::new();
    for kv in set {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv:?} is not NAME=VALUE"))?;
        overrides.push((k.trim().to_string(), v.trim().to_string()));
    }
    let retention = chrono::Duration::from_std(retention).context("--retention is too long")?;
    let report = pulse_jobs::run_named(lake, ctx, job, start, end, &overrides, retention)
        .await
        .with_context(|| format!("job {job} over [{from}, {to})"))?;
    Ok(report)
}

async fn ingest(cfg: &Config, lake: Lake, cmd: IngestCmd) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    match cmd {
        IngestCmd::Twitch {
            flush,
            top,
            language,
            interval,
            base_url,
            auth_url,
            polls,
        } => {
            let mut t = cfg.twitch.clone();
            if let Some(v) = top {
                t.top = v;
            }
            if language.is_some() {
                t.language = language;
            }
            if let Some(v) = interval {
                t.interval = v;
            }
            if let Some(v) = base_url {
                t.base_url = v;
            }
            if let Some(v) = auth_url {
                t.auth_url = v;
            }
            let mut w = Worker::new(
                Lander::new(lake),
                pulse_lake::schema::source::TWITCH,
                policy(cfg, &flush),
            );
            let stats = pulse_ingest::twitch::run(&mut w, t, polls, shutdown).await?;
            print_stats("twitch", &stats);
        }
        IngestCmd::Socket {
            flush,
            listen,
            connect,
            framing,
            max_frame,
            live,
            wal,
        } => {
            let (mode, addr) = match (listen, connect) {
                (Some(l), _) => (pulse_ingest::socket::Mode::Listen(l.clone()), l),
                (None, Some(c)) => (pulse_ingest::socket::Mode::Connect(c.clone()), c),
                (None, None) => anyhow::bail!("give --listen ADDR or --connect ADDR"),
            };
            let opts = pulse_ingest::socket::SocketOptions {
                mode,
                framing: framing.parse()?,
                max_frame: max_frame.map_or(cfg.ingest.max_frame, |m| m as usize),
            };
            let mut w = Worker::new(
                Lander::new(lake.clone()),
                pulse_lake::schema::source::SOCKET,
                policy(cfg, &flush),
            );
            let mut log = wal.recover(cfg, &lake, &addr, &mut w).await?;
            let mut w = live.attach(w);
            resume_live(&mut w, 0).await;
            let stats = pulse_ingest::socket::run(&mut w, &opts, log.as_mut(), shutdown, |addr| {
                // Tests and scripts read the bound address from here (useful with port 0).
                println!("listening on {addr}");
            })
            .await?;
            w.end_live(false);
            print_stats("socket", &stats);
        }
        IngestCmd::Replay {
            flush,
            paths,
            format,
            speed,
            as_of,
            to_socket,
            framing,
            live,
        } => {
            let framing: pulse_ingest::socket::Framing = framing.parse()?;
            let mut to = match &to_socket {
                Some(addr) => Some(pulse_ingest::socket::Sender::connect(addr, framing).await?),
                None => None,
            };
            let as_of = match as_of {
                Some(s) => Some(
                    pulse_ingest::parse::parse_time(&s)
                        .with_context(|| format!("--as-of {s:?} is not a time"))?,
                ),
                None => None,
            };
            let opts = pulse_ingest::replay::ReplayOptions {
                format: format.parse()?,
                speed,
                as_of,
            };
            let mut w = live.attach(Worker::new(
                Lander::new(lake),
                pulse_lake::schema::source::REPLAY,
                policy(cfg, &flush),
            ));
            let spin = spinner("replaying");
            let report =
                pulse_ingest::replay::replay(&mut w, &paths, &opts, &shutdown, to.as_mut()).await;
            spin.finish_and_clear();
            // The input ended unless a signal stopped the replay.
            let stopped = *shutdown.borrow();
            w.end_live(!stopped);
            let report = report?;
            // The windows the end of the input closed land too.
            w.flush().await?;
            print_stats("replay", &report.stats);
            if let (Some(to), Some(addr)) = (&to, &to_socket) {
                println!("{} messages sent to {addr}", to.sent);
            }
            println!(
                "{} files replayed, {} skipped",
                report.files,
                report.skipped.len()
            );
            for (p, why) in &report.skipped {
                println!("  skipped {}: {why}", p.display());
            }
            if report.files == 0 {
                anyhow::bail!(
                    "every input was skipped ({} path(s)); nothing was replayed",
                    report.skipped.len()
                );
            }
            let sent = to.as_ref().map_or(0, |t| t.sent);
            if report.stats.records + report.stats.quarantined + sent == 0 {
                anyhow::bail!(
                    "nothing landed: the {} replayed file(s) held no records",
                    report.files
                );
            }
        }
    }
    Ok(())
}

/// A spinner saying what runs, on a terminal only; finish it when done.
pub fn spinner(what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A progress bar on a terminal, nothing otherwise (`-v` logs say what happens).
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}
