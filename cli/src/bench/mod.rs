//! `pulse bench`: end-to-end ingest benchmarks over generated data of a stated size. Each one
//! checks its answer (every record landed) and reports throughput and peak memory; nothing
//! here asserts a time. Build with `--release`. Figures go in BENCHMARKS.md.

mod cluster;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Subcommand;
use pulse_ingest::records::Buffers;
use pulse_ingest::replay::{Format, ReplayOptions};
use pulse_ingest::socket::{Framing, Mode, SocketOptions};
use pulse_ingest::worker::{FlushPolicy, Worker};
use pulse_lake::land::{Lander, encode_parquet};
use pulse_lake::schema::RawTable;
use pulse_lake::{Lake, S3Config};

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Records/s from tweet JSON lines and from the len5 socket to landed Parquet, on one
    /// core, beside the Parquet writer's own speed on the same rows (the limit).
    Ingest {
        /// Tweets to land.
        #[arg(long, default_value_t = 500_000)]
        rows: usize,
        /// Records per flushed file.
        #[arg(long, default_value_t = 100_000)]
        flush_rows: usize,
        /// Runs of each path; the best counts.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Planning time of `SELECT count(*) FROM presence WHERE dt = D` on a presence table of
    /// `commits` Delta commits (one small file each, over `days` days; checkpoints every
    /// 100): in a new process's first session (the log read from its last checkpoint), and
    /// in later sessions of the same process (the table already loaded).
    Planning {
        /// Commits to make.
        #[arg(long, default_value_t = 10_000)]
        commits: usize,
        /// Days they spread over.
        #[arg(long, default_value_t = 100)]
        days: usize,
        /// Plannings timed in each state; the median counts.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Time and peak memory to land a generated presence day, and its bytes before and after
    /// compaction. The defaults are TwitchProfiler's scale.
    Presence {
        /// Channels.
        #[arg(long, default_value_t = 100)]
        channels: usize,
        /// Viewer population (about 60% active on the day).
        #[arg(long, default_value_t = 1_500_000)]
        viewers: usize,
        /// Bot accounts.
        #[arg(long, default_value_t = 50)]
        bots: usize,
    },
    /// A full rebuild of the viewer profiles (`profiles-rebuild`) over a viewer-day history
    /// written straight into the lake (`--lake`): `days` days ending 2026-02-03 with
    /// `daily` viewers a day drawn from a population of `viewers`. Reports the time to
    /// write the history and to rebuild, and peak memory.
    Profiles {
        /// Viewer population (TwitchProfiler tracked 5.6 million).
        #[arg(long, default_value_t = 5_600_000)]
        viewers: u64,
        /// Viewers active on a day.
        #[arg(long, default_value_t = 900_000)]
        daily: u64,
        /// Days of history.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Reuse the history already in the lake (only rebuild).
        #[arg(long)]
        keep: bool,
    },
    /// Live trending on the ingest path: sustained tweets/s through a loopback socket with
    /// live windows (20 s / 10 s and 1 h / 5 min at once) to landed Parquet, on one core; then
    /// the latency from sending a frame to the first published update that includes it
    /// (p50, p99) with tweets paced at 50% and 90% of that rate, and the peak resident memory
    /// in the first and the last tenth of each paced run.
    Live {
        /// Tweets for the sustained rate.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Length of each paced run (10m shows whether memory stays flat).
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// The paced runs, as fractions of the sustained rate.
        #[arg(long, value_delimiter = ',', default_values_t = [0.5, 0.9])]
        loads: Vec<f64>,
    },
    /// The windowed job set (hashtags 1 h / 5 min, categories, channels) over generated days,
    /// embedded and on local clusters of each given number of executors (one vcore each), in
    /// fresh processes: wall time, the ratio to embedded, and the time the scheduler spent
    /// inside Ballista jobs. The defaults are the 7-day set; the larger one is `--days 30
    /// --tweets-per-sec 3.9` (10 M tweets).
    Cluster {
        /// Days to generate from 2026-01-05.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Channels to generate.
        #[arg(long, default_value_t = 50)]
        channels: usize,
        /// Viewers to generate.
        #[arg(long, default_value_t = 20_000)]
        viewers: usize,
        /// Tweets per second to generate.
        #[arg(long, default_value_t = 2.0)]
        tweets_per_sec: f64,
        /// Executor counts.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4])]
        executors: Vec<usize>,
        /// Runs of the set per mode; the fastest counts.
        #[arg(long, default_value_t = 2)]
        runs: usize,
        /// The clusters' task scheduling.
        #[arg(long, value_enum, default_value = "pull")]
        scheduling: crate::config::Scheduling,
    },
    /// Time to first byte and full load of every page of `pulse serve` over the lake
    /// (`--lake`), p50 and p99 over `loads` loads each with an HTTP client, after one warm-up
    /// load. The server runs in this process on a free loopback port.
    Serve {
        /// Loads per page.
        #[arg(long, default_value_t = 50)]
        loads: usize,
    },
}

fn tweet_line(i: usize) -> String {
    const WORDS: [&str; 12] = [
        "stream", "tonight", "gg", "what", "a", "play", "new", "video", "live", "now", "hype",
        "clip",
    ];
    const TAGS: [&str; 8] = [
        "twitch", "gaming", "esports", "valorant", "lol", "music", "chess", "speedrun",
    ];
    let text: Vec<&str> = (0..12)
        .map(|k| WORDS[(i * 7 + k * 3) % WORDS.len()])
        .collect();
    let secs = 1_767_571_200 + (i / 50) as i64; // 2026-01-05, 50 tweets a second
    let created = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%a %b %d %H:%M:%S +0000 %Y");
    format!(
        r##"{{"created_at":"{created}","id_str":"{}","text":"{} #{} #{}","user":{{"screen_name":"user{}"}},"lang":"en"}}"##,
        1_000_000_000 + i,
        text.join(" "),
        TAGS[i % 8],
        TAGS[(i / 8) % 8],
        i % 5000
    )
}

/// A size this process's `/proc/self/status` gives under `key` (Linux), in bytes.
fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Peak resident memory of this process, in bytes (Linux).
pub fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM:")
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn open_temp(dir: &Path, name: &str) -> anyhow::Result<Lake> {
    Ok(Lake::open(
        dir.join(name).to_str().context("temp path")?,
        &S3Config::default(),
    )?)
}

/// Runs the benchmark on one core: a current-thread runtime on its own thread.
fn one_core<F, T>(f: F) -> anyhow::Result<T>
where
    F: FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<T>>>>
        + Send
        + 'static,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(f())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("benchmark thread panicked"))?
}

/// Runs a benchmark on `engine` (the configured lake, for the benchmarks that write to it).
pub async fn run(cmd: BenchCmd, engine: &crate::engine::Engine) -> anyhow::Result<()> {
    let memory_limit = engine.memory_limit;
    let lake = || engine.lake();
    let web = || async {
        let lake = engine.lake()?;
        let registry = engine.registry(&lake).await?;
        Ok::<_, anyhow::Error>(engine.web_sessions(&lake, &registry))
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; figures are only meaningful with --release");
    }
    match cmd {
        BenchCmd::Ingest {
            rows,
            flush_rows,
            runs,
        } => tokio::task::block_in_place(|| bench_ingest(rows, flush_rows, runs)),
        BenchCmd::Presence {
            channels,
            viewers,
            bots,
        } => bench_presence(channels, viewers, bots).await,
        BenchCmd::Profiles {
            viewers,
            daily,
            days,
            keep,
        } => bench_profiles(&lake()?, viewers, daily, days, keep, memory_limit).await,
        BenchCmd::Serve { loads } => bench_serve(web().await?, loads).await,
        BenchCmd::Cluster {
            days,
            channels,
            viewers,
            tweets_per_sec,
            executors,
            runs,
            scheduling,
        } => {
            let opts = self::cluster::Options {
                days,
                gen_args: vec![
                    "--channels".into(),
                    channels.to_string(),
                    "--viewers".into(),
                    viewers.to_string(),
                    "--tweets-per-sec".into(),
                    tweets_per_sec.to_string(),
                ],
                executors,
                runs,
                scheduling,
            };
            tokio::task::block_in_place(|| self::cluster::run(&opts))
        }
        BenchCmd::Planning {
            commits,
            days,
            runs,
        } => bench_planning(commits, days, runs).await,
        BenchCmd::Live {
            rows,
            duration,
            loads,
        } => tokio::task::block_in_place(|| bench_live(rows, duration, &loads)),
    }
}

/// Appends a tweet line at `created` (RFC 3339) with two hashtags out of about a thousand,
/// skewed.
fn live_tweet(out: &mut Vec<u8>, i: usize, created: &str) {
    // Writing into a Vec cannot fail.
    let _ = writeln!(
        out,
        r##"{{"created_at":"{created}","id_str":"{}","text":"gg what a play #t{} #w{}","user":{{"screen_name":"user{}"}}}}"##,
        i,
        i % 13,
        (i * 7919) % ((i % 1000) + 1),
        i % 5000
    );
}

fn live_windows() -> anyhow::Result<Vec<pulse_ingest::live::Windows>> {
    ["size=20s,slide=10s,k=10", "size=1h,slide=5m,k=10"]
        .into_iter()
        .map(|s| {
            pulse_ingest::live::Spec::parse(s)
                .map(|spec| pulse_ingest::live::Windows::new(spec, 0, 100_000))
                .map_err(anyhow::Error::msg)
        })
        .collect()
}

/// Records each publish: wall time and newest event time counted (microseconds), and the
/// resident memory then.
#[derive(Clone, Default)]
struct Ticks(std::sync::Arc<std::sync::Mutex<Vec<(i64, i64, u64)>>>);

impl pulse_ingest::worker::LiveSink for Ticks {
    fn window(&mut self, _: pulse_ingest::live::Spec, top: pulse_ingest::live::Top) {
        std::hint::black_box(top);
    }
    fn tick(&mut self, newest: Option<i64>) {
        if let (Some(n), Ok(mut t)) = (newest, self.0.lock()) {
            t.push((chrono::Utc::now().timestamp_micros(), n, rss().unwrap_or(0)));
        }
    }
}

/// Resident memory of this process now, in bytes (Linux).
fn rss() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// One run of a socket worker with live windows on one core, fed by `send` (given the
/// listener's connection) from another thread; returns the worker's time and counters.
fn live_run<S>(
    lake: Lake,
    ticks: Ticks,
    send: S,
) -> anyhow::Result<(Duration, pulse_ingest::worker::Stats, S::Output)>
where
    S: SendFn,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let sender = std::thread::spawn(move || -> std::io::Result<S::Output> {
        let (s, _) = listener.accept()?;
        send.send(std::io::BufWriter::with_capacity(1 << 16, s))
    });
    let policy = FlushPolicy {
        interval: Duration::from_secs(10),
        rows: 100_000,
    };
    let (elapsed, stats) = one_core(move || {
        Box::pin(async move {
            let mut w = Worker::new(
                Lander::new(lake),
                pulse_lake::schema::source::SOCKET,
                policy,
            )
            .with_live(live_windows()?, Box::new(ticks));
            let (_tx, rx) = tokio::sync::watch::channel(false);
            let opts = SocketOptions {
                mode: Mode::Connect(addr),
                framing: Framing::Line,
                max_frame: 1 << 20,
            };
            let t = Instant::now();
            let stats = pulse_ingest::socket::run(&mut w, &opts, None, rx, |_| {}).await?;
            w.end_live(false);
            Ok((t.elapsed(), stats))
        })
    })?;
    let out = sender
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))??;
    Ok((elapsed, stats, out))
}

/// What feeds a [`live_run`].
trait SendFn: Send + 'static {
    type Output: Send + 'static;
    fn send(self, out: std::io::BufWriter<std::net::TcpStream>) -> std::io::Result<Self::Output>;
}

/// Sends ready lines as fast as the worker takes them.
struct Flat(Vec<Vec<u8>>);

impl SendFn for Flat {
    type Output = ();
    fn send(self, mut out: std::io::BufWriter<std::net::TcpStream>) -> std::io::Result<()> {
        for l in &self.0 {
            out.write_all(l)?;
        }
        out.flush()
    }
}

/// Sends `rate` tweets a second for `duration`, each stamped with its send time; returns
/// (the last tweet's stamp, tweets) per batch.
struct Paced {
    rate: f64,
    duration: Duration,
}

impl SendFn for Paced {
    type Output = Vec<(i64, usize)>;
    fn send(
        self,
        mut out: std::io::BufWriter<std::net::TcpStream>,
    ) -> std::io::Result<Self::Output> {
        use std::fmt::Write as _;
        let start = Instant::now();
        let (mut sent, mut batches) = (0usize, Vec::new());
        let (mut line, mut created, mut second) =
            (Vec::new(), String::new(), (i64::MIN, String::new()));
        while start.elapsed() < self.duration {
            let due = (start.elapsed().as_secs_f64() * self.rate) as usize;
            if due > sent {
                // Each tweet its own microsecond, so a publish that includes a batch's last
                // tweet includes all of it. The sender shares the machine with the worker:
                // a second's RFC 3339 prefix is formatted once, the microseconds per tweet.
                let now = chrono::Utc::now().timestamp_micros();
                let last = now + (due - sent - 1) as i64;
                line.clear();
                for (k, i) in (sent..due).enumerate() {
                    let t = now + k as i64;
                    let (secs, us) = (t.div_euclid(1_000_000), t.rem_euclid(1_000_000));
                    if second.0 != secs {
                        let at = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
                        second = (secs, at.format("%Y-%m-%dT%H:%M:%S").to_string());
                    }
                    created.clear();
                    let _ = write!(created, "{}.{us:06}Z", second.1);
                    live_tweet(&mut line, i, &created);
                }
                out.write_all(&line)?;
                out.flush()?;
                batches.push((last, due - sent));
                sent = due;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        out.flush()?;
        Ok(batches)
    }
}

/// Latency percentiles (ms) of the batches sent: the first publish whose newest event time
/// reaches a batch's last stamp includes all of it (frames of one connection are counted in
/// order).
fn latencies(batches: &[(i64, usize)], ticks: &[(i64, i64, u64)]) -> Option<(f64, f64, usize)> {
    let mut lat: Vec<(i64, usize)> = Vec::new();
    let mut missed = 0;
    for &(sent, n) in batches {
        // Ticks are in time order and their newest event time only grows.
        let k = ticks.partition_point(|t| t.1 < sent);
        match ticks.get(k) {
            Some(t) => lat.push((t.0 - sent, n)),
            None => missed += n,
        }
    }
    lat.sort_unstable();
    let total: usize = lat.iter().map(|l| l.1).sum();
    let at = |q: f64| {
        let want = (q * total as f64).ceil() as usize;
        let mut seen = 0;
        for (l, n) in &lat {
            seen += n;
            if seen >= want {
                return *l as f64 / 1000.0;
            }
        }
        f64::NAN
    };
    (total > 0).then(|| (at(0.5), at(0.99), missed))
}

/// `pulse bench live`: see [`BenchCmd::Live`].
fn bench_live(rows: usize, duration: Duration, loads: &[f64]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!(
        "live benchmark: socket (line framing, JSON tweets) -> live windows 20s/10s and 1h/5m -> landed Parquet, one core"
    );
    // 1. The sustained rate: ready lines, 50 tweets a second of event time.
    let lines: Vec<Vec<u8>> = (0..rows)
        .map(|i| {
            let t = chrono::DateTime::from_timestamp(1_767_571_200 + (i / 50) as i64, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let mut line = Vec::new();
            live_tweet(&mut line, i, &t);
            line
        })
        .collect();
    let (elapsed, stats, ()) = live_run(
        open_temp(dir.path(), "flat")?,
        Ticks::default(),
        Flat(lines),
    )?;
    ensure!(
        stats.records == rows as u64,
        "the worker landed {} of {rows}",
        stats.records
    );
    let full = rate(rows, elapsed);
    println!(
        "sustained: {rows} tweets in {:.3} s = {full:.0} tweets/s",
        elapsed.as_secs_f64()
    );
    // 2. Latency at 50% and 90% of it.
    println!(
        "{:>6} {:>12} {:>10} {:>10} {:>12} {:>12}",
        "load", "tweets/s", "p50 ms", "p99 ms", "RSS 1st 10%", "RSS last 10%"
    );
    for &load in loads {
        ensure!(
            load > 0.0,
            "--loads are fractions of the sustained rate, above 0"
        );
        let ticks = Ticks::default();
        let paced = Paced {
            rate: full * load,
            duration,
        };
        let name = format!("paced{}", (load * 100.0) as u32);
        let (_, stats, batches) = live_run(open_temp(dir.path(), &name)?, ticks.clone(), paced)?;
        let sent: usize = batches.iter().map(|b| b.1).sum();
        ensure!(
            stats.records == sent as u64,
            "the worker landed {} of {sent}",
            stats.records
        );
        let ticks = ticks.0.lock().map(|t| t.clone()).unwrap_or_default();
        let (p50, p99, missed) = latencies(&batches, &ticks)
            .ok_or_else(|| anyhow::anyhow!("no update included a tweet"))?;
        // The largest resident set in the run's first and last tenth: flat if equal.
        let tenth = (ticks.len() / 10).max(1);
        let peak = |t: &[(i64, i64, u64)]| t.iter().map(|t| t.2).max().unwrap_or(0);
        let before = peak(&ticks[..tenth.min(ticks.len())]);
        let after = peak(&ticks[ticks.len().saturating_sub(tenth)..]);
        println!(
            "{:>5.0}% {:>12.0} {p50:>10.1} {p99:>10.1} {:>9.1} MiB {:>9.1} MiB{}",
            load * 100.0,
            rate(sent, duration),
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            if missed > 0 {
                format!("  ({missed} tweets after the last update)")
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// `pulse bench serve`: see [`BenchCmd::Serve`].
async fn bench_serve(sessions: pulse_web::Sessions, loads: usize) -> anyhow::Result<()> {
    ensure!(loads > 0, "--loads must be at least 1");
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    let o = pulse_web::Options {
        listen: addr.to_string(),
        credentials: None,
        insecure: false,
        refresh: Duration::from_secs(3600),
        live: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pulse_web::serve(o, sessions, async move {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..600 {
        if client
            .get(format!("{base}/api/openapi.json"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        if server.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !up {
        return match server.await? {
            Err(e) => Err(e.into()),
            Ok(()) => anyhow::bail!("the server did not come up at {base}"),
        };
    }
    // The pages, with the busiest channel and viewer for the pages about one.
    let first = |path: &'static str, col: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let v: serde_json::Value = client
                .get(format!("{base}{path}"))
                .send()
                .await?
                .json()
                .await?;
            Ok::<_, anyhow::Error>(v[0][col].as_str().map(str::to_string))
        }
    };
    let channel = first("/api/channels/leaderboard?limit=1", "channel_login").await?;
    let viewer = first("/api/viewers/top?limit=1", "viewer_login").await?;
    let mut pages: Vec<String> = pulse_web::pages::PAGES
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    if let Some(c) = channel {
        pages.push(format!("/channel?name={c}"));
    }
    if let Some(v) = viewer {
        pages.push(format!("/viewer?name={v}"));
    }
    println!(
        "{:<32} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "page", "ttfb p50", "ttfb p99", "full p50", "full p99", "bytes"
    );
    for page in pages {
        let url = format!("{base}{page}");
        let mut ttfb = Vec::with_capacity(loads);
        let mut full = Vec::with_capacity(loads);
        let mut bytes = 0;
        for i in 0..=loads {
            let t = Instant::now();
            let r = client.get(&url).send().await?;
            let first = t.elapsed();
            let status = r.status();
            let body = r.bytes().await?;
            let all = t.elapsed();
            ensure!(status.is_success(), "{page}: HTTP {status}");
            bytes = body.len();
            if i > 0 {
                ttfb.push(first);
                full.push(all);
            }
        }
        let q = |v: &mut Vec<Duration>, p: f64| {
            v.sort();
            let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
            format!("{:.1} ms", v[i].as_secs_f64() * 1000.0)
        };
        println!(
            "{page:<32} {:>9} {:>9} {:>9} {:>9} {bytes:>9}",
            q(&mut ttfb, 0.5),
            q(&mut ttfb, 0.99),
            q(&mut full, 0.5),
            q(&mut full, 0.99)
        );
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// `pulse bench planning`: see [`BenchCmd::Planning`].
async fn bench_planning(commits: usize, days: usize, runs: usize) -> anyhow::Result<()> {
    use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
    use deltalake_core::kernel::{Action, Add};
    use pulse_lake::delta::{DataFile, LakeTable};
    use std::sync::Arc;
    let dir = tempfile::tempdir()?;
    let at = dir.path().to_str().context("temporary directory")?;
    let lake = Lake::open(at, &Default::default())?;
    let shape = RawTable::Presence.shape();
    let days = days.max(1);
    let day0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).context("date")?;
    let table = LakeTable::new(&lake, "raw/presence");
    table.ensure(&shape).await?;
    let bar = crate::progress::bar(commits as u64, "committing");
    let t = Instant::now();
    for i in 0..commits {
        let day = day0 + chrono::Duration::days((i % days) as i64);
        let time = day.and_hms_opt(12, 0, 0).context("time")?.and_utc();
        let batch = RecordBatch::try_new(
            shape.schema.clone(),
            vec![
                Arc::new(
                    TimestampMicrosecondArray::from(vec![time.timestamp_micros()])
                        .with_timezone("UTC"),
                ),
                Arc::new(StringArray::from(vec!["channel"])),
                Arc::new(StringArray::from(vec![format!("viewer{i}")])),
            ],
        )?;
        let bytes = encode_parquet(&shape.schema, &[batch])?;
        let path = format!("dt={day}/hour=12/commit-{i}.parquet");
        lake.raw_store()
            .put_opts(
                &lake.path(&format!("raw/presence/{path}")),
                bytes.clone().into(),
                Default::default(),
            )
            .await?;
        let parts = pulse_lake::delta::partitions_of(&path, &shape.partitions);
        let file = DataFile::from_bytes(path, &bytes, parts, &shape.schema)?;
        // The commit file itself, as an append writes it: through delta-rs one at a time,
        // each commit rebuilds the table's file list (3,900 took 6 minutes, each slower).
        let now = chrono::Utc::now().timestamp_millis();
        let add = Action::Add(Add {
            path: file.path.clone(),
            partition_values: file
                .partitions
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
            size: file.size as i64,
            modification_time: now,
            data_change: true,
            stats: Some(file.stats.clone()),
            ..Default::default()
        });
        let info = serde_json::json!({"commitInfo": {"timestamp": now, "operation": "WRITE",
            "operationParameters": {"mode": "Append"}}});
        let body = format!("{}\n{info}\n", serde_json::to_string(&add)?);
        let log = lake.path(&format!("raw/presence/_delta_log/{:020}.json", i + 1));
        let create = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        lake.raw_store().put_opts(&log, body.into(), create).await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Checkpoints on: one at the newest version, as every 100th commit would leave it.
    let loaded = LakeTable::new(&Lake::open(at, &Default::default())?, "raw/presence")
        .load()
        .await?
        .context("the table has no log")?;
    deltalake_core::checkpoints::create_checkpoint(&loaded, None).await?;
    println!(
        "planning benchmark: presence with {commits} commits over {days} days (made in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let day = day0 + chrono::Duration::days((days / 2) as i64);
    let q = format!("SELECT count(*) FROM presence WHERE dt = '{day}'");
    // Commit i lands on day i % days.
    let d = days / 2;
    let want = if commits > d {
        ((commits - 1 - d) / days + 1) as i64
    } else {
        0
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    // A new lake handle has no table loaded: its first session reads the log from the last
    // checkpoint, as a new process does.
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let warm_lake = Lake::open(at, &Default::default())?;
    for _ in 0..runs.max(1) {
        let fresh = Lake::open(at, &Default::default())?;
        for (lake, out) in [(&fresh, &mut cold), (&warm_lake, &mut warm)] {
            let t = Instant::now();
            let ctx = pulse_lake::catalog::session(lake).await?;
            let plan = ctx.sql(&q).await?.create_physical_plan().await?;
            out.push(t.elapsed().as_secs_f64() * 1000.0);
            let got = datafusion::physical_plan::collect(plan, ctx.task_ctx()).await?;
            let n = got
                .first()
                .and_then(|b| {
                    b.column(0)
                        .as_any()
                        .downcast_ref::<arrow::array::Int64Array>()
                })
                .map(|a| a.value(0));
            anyhow::ensure!(n == Some(want), "{q} gave {n:?}, not {want}");
        }
    }
    println!(
        "session + planning, nothing loaded yet: {:.1} ms (median of {})",
        median(cold),
        runs.max(1)
    );
    println!(
        "session + planning, table already loaded: {:.1} ms (median of {})",
        median(warm),
        runs.max(1)
    );
    Ok(())
}

/// `pulse bench profiles`: see [`BenchCmd::Profiles`].
async fn bench_profiles(
    lake: &Lake,
    viewers: u64,
    daily: u64,
    days: u32,
    keep: bool,
    memory_limit: u64,
) -> anyhow::Result<()> {
    ensure!(
        daily <= viewers && days > 0,
        "need daily <= viewers and at least a day"
    );
    let last = chrono::NaiveDate::from_ymd_opt(2026, 2, 3).context("date")?;
    let first = last - chrono::Days::new(days as u64 - 1);
    if !keep {
        let t = Instant::now();
        let rows = write_history(lake, viewers, daily, first, days).await?;
        println!(
            "history: {days} days x {daily} viewers of {viewers}: {rows} viewer-day rows written in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let ctx = pulse_lake::catalog::session_limited(lake, Some(memory_limit as usize)).await?;
    let start = last.and_hms_opt(0, 0, 0).context("time")?.and_utc();
    let t = Instant::now();
    let report = pulse_jobs::run_with(
        lake,
        &ctx,
        &pulse_jobs::registry::Registry::builtin()?,
        "profiles-rebuild",
        start,
        start + chrono::Duration::days(1),
        &[],
        &pulse_jobs::RunOptions::default(),
    )
    .await?;
    let took = t.elapsed();
    let distinct = ctx
        .sql("SELECT count(DISTINCT viewer_login) FROM profile_scores WHERE dt = '2026-02-03'")
        .await?
        .collect()
        .await?;
    println!(
        "profiles-rebuild as of {last}: {} score rows, {} viewers, {} rows read, in {:.1} s; spilled {}; peak RSS {}",
        report.rows_out(),
        pulse_jobs::scalar::first_i64(&distinct).unwrap_or(0),
        report.rows_in,
        took.as_secs_f64(),
        indicatif::HumanBytes(report.spilled_bytes),
        indicatif::HumanBytes(peak_rss().unwrap_or(0)),
    );
    Ok(())
}

/// Writes a synthetic viewer-day history (the three `viewer_*_day` tables) with the same
/// schemas viewer-day writes: each day `daily` viewers, spread so the days cover the whole
/// population, each watching one or two of 100 channels for 5 to 180 minutes.
async fn write_history(
    lake: &Lake,
    viewers: u64,
    daily: u64,
    first: chrono::NaiveDate,
    days: u32,
) -> anyhow::Result<u64> {
    use arrow::array::{
        Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
        TimestampMicrosecondBuilder,
    };
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use pulse_ingest::rng::Rng;
    use std::sync::Arc;
    const GAMES: [&str; 8] = [
        "Just Chatting",
        "League of Legends",
        "Valorant",
        "Minecraft",
        "Fortnite",
        "Chess",
        "Music",
        "Dota 2",
    ];
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let ch_schema = Arc::new(Schema::new(vec![
        Field::new("viewer_login", DataType::Utf8, false),
        Field::new("channel_login", DataType::Utf8, false),
        Field::new("minutes", DataType::Float64, true),
        Field::new("first_seen", ts.clone(), true),
        Field::new("last_seen", ts, true),
        Field::new("sessions", DataType::Int64, true),
    ]));
    let hour_schema = Arc::new(Schema::new(vec![
        Field::new("viewer_login", DataType::Utf8, false),
        Field::new("hour", DataType::Int32, true),
        Field::new("minutes", DataType::Float64, true),
    ]));
    let cat_schema = Arc::new(Schema::new(vec![
        Field::new("viewer_login", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, false),
        Field::new("minutes", DataType::Float64, true),
    ]));
    let mut rows = 0u64;
    let bar = crate::progress::bar(days as u64, "writing the viewer-day history");
    for d in 0..days {
        let date = first + chrono::Days::new(d as u64);
        let day0 = date
            .and_hms_opt(0, 0, 0)
            .context("date")?
            .and_utc()
            .timestamp_micros();
        let mut r = Rng::derive(99, d as u64);
        let (mut cv, mut cc, mut cm, mut cf, mut cl, mut cs) = (
            StringBuilder::new(),
            StringBuilder::new(),
            Float64Builder::new(),
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            Int64Builder::new(),
        );
        let (mut hv, mut hh, mut hm) = (
            StringBuilder::new(),
            Int32Builder::new(),
            Float64Builder::new(),
        );
        let (mut gv, mut gc, mut gm) = (
            StringBuilder::new(),
            StringBuilder::new(),
            Float64Builder::new(),
        );
        // A day's viewers: a stride through the population from a day-dependent offset, so
        // the days together cover it.
        let offset = d as u64 * daily % viewers;
        for k in 0..daily {
            let v = (offset + k) % viewers;
            let name = format!("viewer{v}");
            let channels = 1 + r.below(2);
            let mut hours = std::collections::BTreeMap::new();
            for _ in 0..channels {
                let c = r.zipf(100, 1.1);
                let minutes = (1 + r.below(36)) as f64 * 5.0;
                let start_min = r.below(24 * 60 - minutes as u64) as i64;
                cv.append_value(&name);
                cc.append_value(format!("channel{c}"));
                cm.append_value(minutes);
                cf.append_value(day0 + start_min * 60_000_000);
                cl.append_value(day0 + (start_min + minutes as i64 - 5) * 60_000_000);
                cs.append_value(1);
                gv.append_value(&name);
                gc.append_value(GAMES[c % GAMES.len()]);
                gm.append_value(minutes);
                let mut m = start_min;
                while m < start_min + minutes as i64 {
                    *hours.entry((m / 60) as i32).or_insert(0.0) += 5.0;
                    m += 5;
                }
            }
            for (h, m) in hours {
                hv.append_value(&name);
                hh.append_value(h);
                hm.append_value(m);
            }
        }
        let batches = [
            (
                "viewer_channel_day",
                RecordBatch::try_new(
                    ch_schema.clone(),
                    vec![
                        Arc::new(cv.finish()),
                        Arc::new(cc.finish()),
                        Arc::new(cm.finish()),
                        Arc::new(cf.finish()),
                        Arc::new(cl.finish()),
                        Arc::new(cs.finish()),
                    ],
                )?,
            ),
            (
                "viewer_hour_day",
                RecordBatch::try_new(
                    hour_schema.clone(),
                    vec![
                        Arc::new(hv.finish()),
                        Arc::new(hh.finish()),
                        Arc::new(hm.finish()),
                    ],
                )?,
            ),
            (
                "viewer_category_day",
                RecordBatch::try_new(
                    cat_schema.clone(),
                    vec![
                        Arc::new(gv.finish()),
                        Arc::new(gc.finish()),
                        Arc::new(gm.finish()),
                    ],
                )?,
            ),
        ];
        for (table, batch) in batches {
            rows += batch.num_rows() as u64;
            let schema = batch.schema();
            let body = encode_parquet(&schema, &[batch])?;
            let rel = format!("agg/{table}");
            let shape = pulse_lake::delta::Shape::daily(schema.clone());
            let t = pulse_lake::delta::LakeTable::new(lake, &rel);
            t.ensure(&shape).await?;
            let path = format!("dt={date}/c-bench-0000.parquet");
            lake.raw_store()
                .put_opts(
                    &lake.path(&format!("{rel}/{path}")),
                    body.clone().into(),
                    Default::default(),
                )
                .await?;
            let parts = vec![("dt".to_string(), date.to_string())];
            let file = pulse_lake::delta::DataFile::from_bytes(path, &body, parts, &schema)?;
            t.commit(
                &shape,
                &[file],
                pulse_lake::delta::Change::ReplaceDays(vec![date.to_string()]),
            )
            .await?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(rows)
}

/// A tweet line as a `messages` row, as the ingest paths read it.
fn tweet_message(line: &str) -> anyhow::Result<pulse_ingest::records::MessageRef<'_>> {
    pulse_ingest::parse::Tweet::parse(line)?
        .message()
        .map_err(anyhow::Error::msg)
}

/// One flush's tweet lines in the `messages` columns (encoded to Parquet as they fill).
fn message_columns(lines: &[String]) -> anyhow::Result<Buffers> {
    let mut b = Buffers::default();
    for l in lines {
        b.messages.push(&tweet_message(l)?);
    }
    Ok(b)
}

fn bench_ingest(rows: usize, flush_rows: usize, runs: usize) -> anyhow::Result<()> {
    ensure!(flush_rows > 0, "--flush-rows must be at least 1");
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("tweets.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input)?);
        for i in 0..rows {
            writeln!(f, "{}", tweet_line(i))?;
        }
    }
    let input_bytes = std::fs::metadata(&input)?.len();
    println!(
        "ingest benchmark: {rows} tweets ({input_bytes} bytes of JSON lines), one core, flush every {flush_rows} records"
    );
    let policy = FlushPolicy {
        interval: Duration::from_secs(3600),
        rows: flush_rows,
    };

    // Each path runs `runs` times on a fresh lake; its best time counts (the limit's too).
    let best = |name: &str, run: &dyn Fn(&str) -> anyhow::Result<Duration>| {
        (0..runs.max(1))
            .map(|i| run(&format!("{name}-{i}")))
            .try_fold(Duration::MAX, |b, t| t.map(|t| b.min(t)))
    };

    // 1. Tweet JSON lines -> landed Parquet.
    let replay_run = |name: &str| -> anyhow::Result<Duration> {
        let (lake, path) = (open_temp(dir.path(), name)?, input.clone());
        let replay = one_core(move || {
            Box::pin(async move {
                let mut w = Worker::new(
                    Lander::new(lake),
                    pulse_lake::schema::source::REPLAY,
                    policy,
                );
                let (_tx, rx) = tokio::sync::watch::channel(false);
                let opts = ReplayOptions {
                    format: Format::TweetsJsonl,
                    speed: None,
                    as_of: None,
                };
                let t = Instant::now();
                let r = pulse_ingest::replay::replay(&mut w, &[path], &opts, &rx, None).await?;
                Ok((t.elapsed(), r.stats))
            })
        })?;
        ensure!(
            replay.1.records == rows as u64,
            "replay landed {} of {rows}",
            replay.1.records
        );
        Ok(replay.0)
    };
    let replay = best("replay", &replay_run)?;

    // 2. len5 frames over loopback TCP -> landed Parquet, without and with the
    // write-ahead log (synced as `pulse ingest socket` syncs it by default).
    let lines: std::sync::Arc<Vec<String>> =
        std::sync::Arc::new((0..rows).map(tweet_line).collect());
    let socket_run = |name: &str, wal: bool| -> anyhow::Result<Duration> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let lines = lines.clone();
        let sender = std::thread::spawn(move || -> std::io::Result<()> {
            let (s, _) = listener.accept()?;
            let mut s = std::io::BufWriter::with_capacity(1 << 20, s);
            for l in lines.iter() {
                write!(s, "{:05}", l.len())?;
                s.write_all(l.as_bytes())?;
            }
            s.flush()
        });
        let lake = open_temp(dir.path(), name)?;
        let wal_dir = dir.path().join(format!("{name}-wal"));
        let defaults = crate::config::IngestSection::default();
        let out = one_core(move || {
            Box::pin(async move {
                let mut w = Worker::new(
                    Lander::new(lake),
                    pulse_lake::schema::source::SOCKET,
                    policy,
                );
                let mut log = match wal {
                    true => Some(
                        pulse_ingest::socket::recover(
                            &mut w,
                            pulse_ingest::wal::WalOptions {
                                dir: wal_dir,
                                sync_interval: defaults.wal_sync_interval,
                                sync_bytes: defaults.wal_sync_bytes,
                            },
                        )
                        .await?,
                    ),
                    false => None,
                };
                let (_tx, rx) = tokio::sync::watch::channel(false);
                let opts = SocketOptions {
                    mode: Mode::Connect(addr),
                    framing: Framing::Len5,
                    max_frame: 1 << 20,
                };
                let t = Instant::now();
                let stats =
                    pulse_ingest::socket::run(&mut w, &opts, log.as_mut(), rx, |_| {}).await?;
                Ok((t.elapsed(), stats.records))
            })
        })?;
        sender
            .join()
            .map_err(|_| anyhow::anyhow!("sender panicked"))??;
        ensure!(out.1 == rows as u64, "{name} landed {} of {rows}", out.1);
        Ok(out.0)
    };
    let socket = best("socket", &|n| socket_run(n, false))?;
    let socket_wal = best("socket-wal", &|n| socket_run(n, true))?;

    // 3. The limit: the Parquet writer on the same rows as ready Arrow batches.
    let mut batches = Vec::new();
    for chunk in lines.chunks(flush_rows) {
        let mut b = message_columns(chunk)?;
        batches.extend(b.batches()?.into_iter().map(|(_, b)| b));
    }
    let batches = std::sync::Arc::new(batches);
    let writer_run = |name: &str| -> anyhow::Result<Duration> {
        let (lake, batches) = (open_temp(dir.path(), name)?, batches.clone());
        one_core(move || {
            Box::pin(async move {
                use object_store::ObjectStoreExt;
                let schema = RawTable::Messages.schema();
                let t = Instant::now();
                for (i, b) in batches.iter().enumerate() {
                    let bytes = encode_parquet(&schema, std::slice::from_ref(b))?;
                    lake.store()
                        .put(&lake.path(&format!("w/{i}.parquet")), bytes.into())
                        .await?;
                }
                Ok(t.elapsed())
            })
        })
    };
    let writer = best("writer", &writer_run)?;
    let limit = rate(rows, writer);

    // Where the time goes: parsing alone (each line to a message; nothing appended or landed).
    let parse_run = |_: &str| -> anyhow::Result<Duration> {
        let t = Instant::now();
        let mut text_bytes = 0usize;
        for l in lines.iter() {
            text_bytes += tweet_message(l)?.text.len();
        }
        std::hint::black_box(text_bytes);
        Ok(t.elapsed())
    };
    let parse = best("parse", &parse_run)?;
    // ... and parsing, appending and encoding each flush's Parquet files in memory (nothing
    // landed): the path less the worker and the lake's writes.
    let columns_run = |_: &str| -> anyhow::Result<Duration> {
        let t = Instant::now();
        let mut rows_out = 0;
        for chunk in lines.chunks(flush_rows) {
            let mut b = message_columns(chunk)?;
            rows_out += b.messages.len();
            std::hint::black_box(b.messages.encode()?);
        }
        ensure!(rows_out == rows, "columns held {rows_out} of {rows}");
        Ok(t.elapsed())
    };
    let columns = best("columns", &columns_run)?;
    println!(
        "{:<42} {:>10} {:>14} {:>10}",
        "path", "seconds", "records/s", "of limit"
    );
    for (name, d) in [
        ("tweet JSON lines -> Parquet (replay)", replay),
        ("len5 socket -> Parquet", socket),
        ("len5 socket + write-ahead log -> Parquet", socket_wal),
        ("Parquet writer on Arrow batches (limit)", writer),
        ("JSON parse alone (nothing appended)", parse),
        ("parse and encode Parquet (nothing landed)", columns),
    ] {
        let r = rate(rows, d);
        println!(
            "{name:<42} {:>10.3} {:>14.0} {:>9.0}%",
            d.as_secs_f64(),
            r,
            100.0 * r / limit
        );
    }
    if let Some(p) = peak_rss() {
        println!("peak RSS: {:.1} MiB", p as f64 / 1048576.0);
    }
    Ok(())
}

async fn bench_presence(channels: usize, viewers: usize, bots: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let lake = open_temp(dir.path(), "lake")?;
    let opts = pulse_ingest::generate::GenOptions {
        channels,
        viewers,
        bots,
        tweets_per_sec: 0.0,
        ..Default::default()
    };
    println!(
        "presence benchmark: {channels} channels, {viewers} viewer population, {bots} bots, 288 snapshots"
    );
    let t = Instant::now();
    let report =
        pulse_ingest::generate::generate(&Lander::new(lake.clone()), &opts, &|_, _| {}).await?;
    let land = t.elapsed();
    let presence_rows = report.rows.get("presence").copied().unwrap_or(0);
    let files = pulse_lake::catalog::list_files(&lake, "raw/presence").await?;
    let landed_bytes: u64 = files.iter().map(|f| f.1).sum();
    let peak = peak_rss();
    let t = Instant::now();
    let c = pulse_jobs::compact::compact_day(&lake, opts.start, 128 << 20).await?;
    let compact = t.elapsed();
    let p = c
        .iter()
        .find(|(t, _)| *t == RawTable::Presence)
        .map(|(_, c)| *c)
        .unwrap_or_default();
    ensure!(
        p.rows == presence_rows,
        "compaction kept {} of {presence_rows} rows",
        p.rows
    );
    println!(
        "distinct viewers on the day: {:?}",
        report.distinct_viewers_per_day
    );
    println!("presence rows: {presence_rows}");
    println!(
        "generate + land: {:.1} s ({:.0} rows/s), {} files, {:.1} MiB",
        land.as_secs_f64(),
        rate(presence_rows as usize, land),
        files.len(),
        landed_bytes as f64 / 1048576.0
    );
    if let Some(p) = peak {
        println!("peak RSS while landing: {:.0} MiB", p as f64 / 1048576.0);
    }
    println!(
        "compact: {:.1} s, {} files {:.1} MiB -> {} files {:.1} MiB",
        compact.as_secs_f64(),
        p.files_before,
        p.bytes_before as f64 / 1048576.0,
        p.files_after,
        p.bytes_after as f64 / 1048576.0
    );
    Ok(())
}
