//! `pulse bench`: end-to-end ingest benchmarks over generated data of a stated size. Each one
//! checks its answer (every record landed) and reports throughput and peak memory; nothing
//! here asserts a time. Build with `--release`. Figures go in BENCHMARKS.md.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Subcommand;
use pulse_ingest::records::{Buffers, MessageRow, Record};
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

/// Peak resident memory of this process, in bytes (Linux).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
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

/// Runs a benchmark.
pub async fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; figures are only meaningful with --release");
    }
    match cmd {
        BenchCmd::Ingest { rows, flush_rows } => {
            tokio::task::block_in_place(|| bench_ingest(rows, flush_rows))
        }
        BenchCmd::Presence {
            channels,
            viewers,
            bots,
        } => bench_presence(channels, viewers, bots).await,
    }
}

fn bench_ingest(rows: usize, flush_rows: usize) -> anyhow::Result<()> {
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

    // 1. Tweet JSON lines -> landed Parquet.
    let (lake, path) = (open_temp(dir.path(), "replay")?, input.clone());
    let replay = one_core(move || {
        Box::pin(async move {
            let mut w = Worker::new(Lander::new(lake), "replay", policy);
            let (_tx, rx) = tokio::sync::watch::channel(false);
            let opts = ReplayOptions {
                format: Format::TweetsJsonl,
                speed: None,
                as_of: None,
            };
            let t = Instant::now();
            let r = pulse_ingest::replay::replay(&mut w, &[path], &opts, &rx).await?;
            Ok((t.elapsed(), r.stats))
        })
    })?;
    ensure!(
        replay.1.records == rows as u64,
        "replay landed {} of {rows}",
        replay.1.records
    );

    // 2. len5 frames over loopback TCP -> landed Parquet.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let lines: Vec<String> = (0..rows).map(tweet_line).collect();
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        let (s, _) = listener.accept()?;
        let mut s = std::io::BufWriter::with_capacity(1 << 20, s);
        for l in &lines {
            write!(s, "{:05}", l.len())?;
            s.write_all(l.as_bytes())?;
        }
        s.flush()
    });
    let lake = open_temp(dir.path(), "socket")?;
    let socket = one_core(move || {
        Box::pin(async move {
            let mut w = Worker::new(Lander::new(lake), "socket", policy);
            let (_tx, rx) = tokio::sync::watch::channel(false);
            let opts = SocketOptions {
                mode: Mode::Connect(addr),
                framing: Framing::Len5,
                max_frame: 1 << 20,
            };
            let t = Instant::now();
            let stats = pulse_ingest::socket::run(&mut w, &opts, rx, |_| {}).await?;
            Ok((t.elapsed(), stats))
        })
    })?;
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))??;
    ensure!(
        socket.1.records == rows as u64,
        "socket landed {} of {rows}",
        socket.1.records
    );

    // 3. The limit: the Parquet writer on the same rows as ready Arrow batches.
    let mut batches = Vec::new();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(flush_rows) {
        let mut b = Buffers::default();
        for &i in chunk {
            let v: serde_json::Value = serde_json::from_str(&tweet_line(i))?;
            let m: MessageRow =
                pulse_ingest::parse::tweet_from_json(&v).map_err(anyhow::Error::msg)?;
            b.push(Record::Message(m));
        }
        batches.extend(b.batches()?.into_iter().map(|(_, b)| b));
    }
    let lake = open_temp(dir.path(), "writer")?;
    let writer = one_core(move || {
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
    })?;
    let limit = rate(rows, writer);
    println!(
        "{:<40} {:>12} {:>14} {:>10}",
        "path", "seconds", "records/s", "of limit"
    );
    for (name, d) in [
        ("tweet JSON lines -> Parquet (replay)", replay.0),
        ("len5 socket -> Parquet", socket.0),
        ("Parquet writer on Arrow batches (limit)", writer),
    ] {
        let r = rate(rows, d);
        println!(
            "{name:<40} {:>12.3} {:>14.0} {:>9.0}%",
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
    let c =
        pulse_jobs::compact::compact_day(&lake, opts.start, 128 << 20, chrono::Duration::hours(1))
            .await?;
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
