//! `pulse ingest` and `pulse live`: the ingest workers (Twitch Helix, TCP sockets, file
//! replay), their flush policy, write-ahead log and live hashtag windows.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use pulse_ingest::worker::{FlushPolicy, Worker, shutdown_signal};
use pulse_lake::Lake;
use pulse_lake::land::Lander;

use crate::config::{Config, Flags, parse_bytes};
use crate::engine::Engine;

/// When a worker flushes (over `[ingest]`).
#[derive(Args, Debug, Clone)]
pub struct FlushArgs {
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
pub struct WalArgs {
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
                crate::cluster::state_home()?.join("wal").join(&key[..16])
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
pub struct LiveArgs {
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

/// The ingest workers.
#[derive(Subcommand, Debug)]
pub enum IngestCmd {
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

impl FlushArgs {
    fn flags(&self, f: &mut Flags) {
        f.duration("ingest.flush_interval", self.flush_interval)
            .set("ingest.flush_rows", self.flush_rows);
    }
}

impl IngestCmd {
    /// Its flags backed by the configuration.
    pub fn flags(&self, f: &mut Flags) {
        match self {
            IngestCmd::Twitch {
                flush,
                top,
                language,
                interval,
                base_url,
                auth_url,
                ..
            } => {
                flush.flags(f);
                f.set("twitch.top", *top)
                    .set("twitch.language", language.clone())
                    .duration("twitch.interval", *interval)
                    .set("twitch.base_url", base_url.clone())
                    .set("twitch.auth_url", auth_url.clone());
            }
            IngestCmd::Socket {
                flush, max_frame, ..
            } => {
                flush.flags(f);
                f.set("ingest.max_frame", *max_frame);
            }
            IngestCmd::Replay { flush, .. } => flush.flags(f),
        }
    }
}

/// `pulse live`.
#[derive(Args, Debug)]
pub struct LiveCmd {
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
}

impl LiveCmd {
    /// Its flags backed by the configuration.
    pub fn flags(&self, f: &mut Flags) {
        self.flush.flags(f);
    }
}

fn policy(cfg: &Config) -> FlushPolicy {
    FlushPolicy {
        interval: cfg.ingest.flush_interval,
        rows: cfg.ingest.flush_rows.max(1),
    }
}

fn print_stats(source: &str, s: &pulse_ingest::worker::Stats) {
    println!(
        "{source}: {} records landed, {} quarantined, {} files, {} bytes",
        s.records, s.quarantined, s.files, s.bytes
    );
}

/// `pulse live`: a socket worker with live windows, and the web app charting them.
pub async fn live(e: &Engine, a: LiveCmd) -> anyhow::Result<()> {
    let LiveCmd {
        flush: _,
        listen,
        framing,
        serve,
        live,
        wal,
    } = a;
    let cfg = &e.cfg;
    let lake = e.lake()?;
    let registry = e.registry(&lake).await?;
    let hub = pulse_web::live::Hub::new();
    let o = pulse_web::Options {
        listen: serve,
        credentials: None,
        insecure: false,
        refresh: cfg.serve.refresh,
        live: Some(hub.clone()),
    };
    let sessions = e.web_sessions(&lake, &registry);
    let shutdown = pulse_ingest::worker::shutdown_signal();
    let mut stop = shutdown.clone();
    let web = tokio::spawn(pulse_web::serve(o, sessions, async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    let mut w = Worker::new(
        Lander::new(lake.clone()),
        pulse_lake::schema::source::SOCKET,
        policy(cfg),
    );
    let mut log = wal.recover(cfg, &lake, &listen, &mut w).await?;
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
    Ok(())
}

/// `pulse ingest ...`: runs the worker until its input ends or a signal stops it.
pub async fn run(e: &Engine, cmd: IngestCmd) -> anyhow::Result<()> {
    let (cfg, lake) = (&e.cfg, e.lake()?);
    let shutdown = shutdown_signal();
    match cmd {
        IngestCmd::Twitch { polls, .. } => {
            let t = cfg.twitch.clone();
            let mut w = Worker::new(
                Lander::new(lake),
                pulse_lake::schema::source::TWITCH,
                policy(cfg),
            );
            let stats = pulse_ingest::twitch::run(&mut w, t, polls, shutdown).await?;
            print_stats("twitch", &stats);
        }
        IngestCmd::Socket {
            listen,
            connect,
            framing,
            live,
            wal,
            ..
        } => {
            let (mode, addr) = match (listen, connect) {
                (Some(l), _) => (pulse_ingest::socket::Mode::Listen(l.clone()), l),
                (None, Some(c)) => (pulse_ingest::socket::Mode::Connect(c.clone()), c),
                (None, None) => anyhow::bail!("give --listen ADDR or --connect ADDR"),
            };
            let opts = pulse_ingest::socket::SocketOptions {
                mode,
                framing: framing.parse()?,
                max_frame: cfg.ingest.max_frame,
            };
            let mut w = Worker::new(
                Lander::new(lake.clone()),
                pulse_lake::schema::source::SOCKET,
                policy(cfg),
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
            paths,
            format,
            speed,
            as_of,
            to_socket,
            framing,
            live,
            ..
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
                policy(cfg),
            ));
            let spin = crate::progress::spinner("replaying");
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
