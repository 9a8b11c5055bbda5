//! `pulse ingest replay`: files into raw tables.
//!
//! Formats: tweet JSON lines (Twitter v1.1 and v2), tweet CSV exports, TwitchProfiler samples
//! (one JSON file per 5-minute sample, mapping channel to its viewers, named by the sample's
//! time), the Memgraph demo CSVs (streamers, teams, vips, moderators, chatters), viewer event
//! logs (`time,login,channel`), category and stream snapshot CSVs, and hourly per-channel
//! viewer counts (`<date>/nodes/<HH>.json` of the Dream SMP tracker, as stream snapshots at
//! minute 15 UTC). `auto` picks the format from the file name and header.
//!
//! Every record's key is the file's content hash and its line, so replaying the same files
//! lands the same file names. A file is hashed in one streaming pass, then read again up to
//! the hashed length; tweet JSON lines, the format of big dumps, are read a few MiB of whole
//! lines at a time, so memory does not grow with the file (other formats are read whole). A
//! bad record (malformed JSON, invalid UTF-8, a wrong number of fields, an unparseable time)
//! is quarantined with its raw bytes and `file:line`; the good records around it land. With
//! `--speed N` records are paced at N times real time by their own timestamps, and the flush
//! clock follows input time, so even paced replays cut their files at the same places.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::parse::{Tweet, parse_count, parse_time, python_bytes_literal};
use crate::records::{
    CategoryRow, ChannelRow, MessageRef, MessageRow, PresenceRow, QuarantineRow, Record,
    RelationRow, StreamRow,
};
use crate::worker::{Stats, Worker};
use crate::{Error, Result};
use pulse_lake::schema::RawTable;

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Detect from the file name and header.
    Auto,
    /// One tweet JSON object per line.
    TweetsJsonl,
    /// A CSV export with a text column and a date column.
    TweetsCsv,
    /// A TwitchProfiler sample: `{channel: [viewer, ...]}`, named by its time.
    Profiler,
    /// A Memgraph demo CSV (streamers, teams, vips, moderators, chatters).
    Memgraph,
    /// Viewer events: `time,...,login,channel,...`.
    ViewerLog,
    /// Category snapshots: `ID,NAME,VIEWS,DATE` or `Timestamp,Category,Viewers,...`.
    CategoriesCsv,
    /// Stream snapshots: `Timestamp,Category,Stream Title,Channel,Viewers,Tags`.
    StreamsCsv,
    /// Hourly viewers per channel: `<YYYY-MM-DD>/nodes/<HH>.json` holding
    /// `[{"id": channel, "viewers": n}]`, collected at minute 15 of the hour.
    HourlyViewers,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Format> {
        Ok(match s {
            "auto" => Format::Auto,
            "tweets-jsonl" => Format::TweetsJsonl,
            "tweets-csv" => Format::TweetsCsv,
            "profiler" => Format::Profiler,
            "memgraph" => Format::Memgraph,
            "viewer-log" => Format::ViewerLog,
            "categories-csv" => Format::CategoriesCsv,
            "streams-csv" => Format::StreamsCsv,
            "hourly-viewers" => Format::HourlyViewers,
            _ => {
                return Err(Error::Usage(format!(
                    "unknown format {s:?}: auto, tweets-jsonl, tweets-csv, profiler, memgraph, viewer-log, categories-csv, streams-csv, hourly-viewers"
                )));
            }
        })
    }
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The format of every input, or [`Format::Auto`].
    pub format: Format,
    /// Replay at this many times real time; `None` is as fast as possible.
    pub speed: Option<f64>,
    /// The observation time of files without times of their own (the Memgraph CSVs); by
    /// default the file's modification time.
    pub as_of: Option<i64>,
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct ReplayReport {
    /// Files replayed.
    pub files: usize,
    /// Files skipped, with why (unrecognised format, unreadable), and files whose reading
    /// failed partway (the lines before the failure were replayed).
    pub skipped: Vec<(PathBuf, String)>,
    /// The worker's counters.
    pub stats: Stats,
}

/// One parsed input record: where it was, its time, and what it became.
struct Item<'a> {
    line: u64,
    time: Option<i64>,
    out: std::result::Result<Out<'a>, (String, Vec<u8>)>,
}

/// What an input record became: a message borrowing from the file (tweet JSON lines, the
/// hot path), or records of their own.
enum Out<'a> {
    Message(MessageRef<'a>),
    Records(Vec<Record>),
}

fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta =
            std::fs::metadata(p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(format!("listing {}", p.display()), e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            out.extend(collect_files(&entries)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Replays `paths` (files or directories, walked in name order) into `worker`. Stops early,
/// after flushing, when `shutdown` turns true. With `to`, the messages go to a socket worker
/// instead (files of other records are skipped); bad records are quarantined here as usual.
pub async fn replay(
    worker: &mut Worker,
    paths: &[PathBuf],
    opts: &ReplayOptions,
    shutdown: &tokio::sync::watch::Receiver<bool>,
    mut to: Option<&mut crate::socket::Sender>,
) -> Result<ReplayReport> {
    let mut report = ReplayReport::default();
    let mut pace = Pace {
        started: tokio::time::Instant::now(),
        first: None,
        speed: opts.speed,
    };
    for path in collect_files(paths)? {
        if *shutdown.borrow() {
            break;
        }
        let Opened {
            hash,
            len,
            mut chunks,
        } = match open_file(&path) {
            Ok(o) => o,
            Err(e) => {
                report.skipped.push((path, e.to_string()));
                continue;
            }
        };
        let format = match opts.format {
            Format::Auto => match detect(&path, chunks.head()) {
                Some(f) => f,
                None => {
                    tracing::warn!(file = %path.display(), "unrecognised file: skipped");
                    report.skipped.push((path, "unrecognised format".into()));
                    continue;
                }
            },
            f => f,
        };
        if to.is_some() && !matches!(format, Format::TweetsJsonl | Format::TweetsCsv) {
            tracing::warn!(file = %path.display(), ?format, "not messages: skipped");
            report.skipped.push((
                path,
                format!("{format:?} is not messages (a socket gets tweets)"),
            ));
            continue;
        }
        let file = FileKeys {
            as_of: opts.as_of.unwrap_or_else(|| mtime_micros(&path)),
            key_base: format!("replay-{}", &hash.to_hex()[..16]),
            origin_base: path.display().to_string(),
        };
        // Formats parsed as a whole are read before any of their records is played.
        let whole = match format {
            Format::TweetsJsonl => None,
            _ => match chunks.take_all() {
                Ok(b) => Some(b),
                Err(e) => {
                    report.skipped.push((path, e.to_string()));
                    continue;
                }
            },
        };
        report.files += 1;
        tracing::info!(file = %file.origin_base, ?format, bytes = len, "replaying");
        if let Some(bytes) = whole {
            for item in parse_file(format, &path, &bytes, file.as_of) {
                if !play(item, &file, &mut pace, worker, to.as_deref_mut(), shutdown).await? {
                    break;
                }
            }
            continue;
        }
        // Big files are tweet dumps: read a chunk of whole lines at a time.
        let mut first_line = 1;
        loop {
            let chunk = match chunks.next_lines() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    // What was read before stays played; the file is named as cut short.
                    tracing::warn!(file = %file.origin_base, error = %e, "read failed");
                    report
                        .skipped
                        .push((path, format!("read failed at line {first_line}: {e}")));
                    break;
                }
            };
            for item in parse_jsonl(chunk, first_line) {
                if !play(item, &file, &mut pace, worker, to.as_deref_mut(), shutdown).await? {
                    break;
                }
            }
            if *shutdown.borrow() {
                break;
            }
            first_line += memchr::memchr_iter(b'\n', chunk).count() as u64;
        }
    }
    if let Some(to) = to {
        to.flush().await?;
    }
    worker.flush().await?;
    report.stats = worker.stats();
    Ok(report)
}

/// What names a file's records: the key (content hash and line) and the `file:line` origin
/// of a quarantined one, and the time of records without their own.
struct FileKeys {
    as_of: i64,
    key_base: String,
    origin_base: String,
}

/// `--speed`: records are due at their own times' distance from the first one's.
struct Pace {
    started: tokio::time::Instant,
    first: Option<i64>,
    speed: Option<f64>,
}

/// Lands (or sends) one record, paced; `false` when the replay is to stop.
async fn play(
    item: Item<'_>,
    file: &FileKeys,
    pace: &mut Pace,
    worker: &mut Worker,
    mut to: Option<&mut crate::socket::Sender>,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> Result<bool> {
    // Only an atomic load per record unless the value changed.
    if shutdown.has_changed().unwrap_or(true) && *shutdown.borrow() {
        return Ok(false);
    }
    let clock = match (pace.speed, item.time) {
        (Some(speed), Some(t)) if speed > 0.0 => {
            let first = *pace.first.get_or_insert(t);
            let since = Duration::from_micros((t - first).max(0) as u64).div_f64(speed);
            if let Some(to) = to.as_deref_mut()
                && pace.started + since > tokio::time::Instant::now()
            {
                // What was sent is due before the pause.
                to.flush().await?;
            }
            tokio::time::sleep_until(pace.started + since).await;
            since
        }
        _ => Duration::ZERO,
    };
    let key = || format!("{}-{:09}", file.key_base, item.line);
    let origin = || format!("{}:{}", file.origin_base, item.line);
    match item.out {
        Ok(Out::Message(m)) => match to {
            Some(to) => send(to, worker, key, clock, &m, origin).await?,
            None => worker.push_message(key, clock, &m),
        },
        Ok(Out::Records(records)) => {
            for r in records {
                match (to.as_deref_mut(), r) {
                    (Some(to), Record::Message(m)) => {
                        send(to, worker, key, clock, &m.as_ref(), origin).await?
                    }
                    (_, r) => worker.push(key, clock, r),
                }
            }
        }
        Err((reason, raw)) => worker.quarantine(
            key,
            clock,
            QuarantineRow {
                received_at: item.time.unwrap_or(file.as_of),
                origin: origin(),
                reason,
                raw,
            },
        ),
    }
    worker.maybe_flush(clock).await?;
    Ok(true)
}

/// A file to replay: its BLAKE3 hash (which names its records), its length, and a reader of
/// exactly the bytes hashed. A regular file is hashed in one streaming pass and read again
/// from the same handle up to the hashed length; a pipe or device, which reads once, is
/// read whole and hashed in memory.
fn open_file(path: &Path) -> std::io::Result<Opened> {
    let mut file = std::fs::File::open(path)?;
    let (hash, len, reader): (_, _, Box<dyn Read>) = if file.metadata()?.is_file() {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(&file)?;
        let len = hasher.count();
        file.rewind()?;
        (hasher.finalize(), len, Box::new(file.take(len)))
    } else {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (hash, len) = (blake3::hash(&bytes), bytes.len() as u64);
        (hash, len, Box::new(std::io::Cursor::new(bytes)))
    };
    let chunks = LineChunks::open(reader, len, CHUNK)?;
    Ok(Opened { hash, len, chunks })
}

/// A file [`open_file`] opened.
struct Opened {
    hash: blake3::Hash,
    len: u64,
    chunks: LineChunks<Box<dyn Read>>,
}

/// Bytes of a chunk of JSON lines: big enough that the read of it costs little per line,
/// small enough to bound a replay's memory.
const CHUNK: usize = 4 << 20;

/// A file read a chunk of whole lines at a time, so a big JSON lines file is never held in
/// memory at once (a chunk grows only to fit a line longer than it).
struct LineChunks<R> {
    reader: R,
    buf: Vec<u8>,
    /// `buf[..len]` is read; `buf[..cut]` is the chunk last handed out.
    len: usize,
    cut: usize,
    /// Bytes the input has yet to give.
    left: u64,
    eof: bool,
}

impl<R: std::io::Read> LineChunks<R> {
    /// Starts reading an input of `len` bytes in chunks of `chunk` bytes: the first chunk
    /// is read at once.
    fn open(reader: R, len: u64, chunk: usize) -> std::io::Result<Self> {
        // One byte past a small input, so the read that finds its end fits.
        let size = usize::try_from(len).map_or(chunk, |l| l.saturating_add(1).min(chunk));
        let mut chunks = LineChunks {
            reader,
            buf: vec![0; size],
            len: 0,
            cut: 0,
            left: len,
            eof: false,
        };
        chunks.fill()?;
        Ok(chunks)
    }

    /// Reads until the buffer is full or the input ends.
    fn fill(&mut self) -> std::io::Result<()> {
        while self.len < self.buf.len() && !self.eof {
            match self.reader.read(&mut self.buf[self.len..]) {
                Ok(0) if self.left > 0 => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("the file shrank by {} bytes while replayed", self.left),
                    ));
                }
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.len += n;
                    self.left = self.left.saturating_sub(n as u64);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The first bytes (up to a chunk), to detect the format from.
    fn head(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// A buffer size with room for the rest of the input and for the read that finds its end.
    fn to_end(&self) -> usize {
        let rest = usize::try_from(self.left).unwrap_or(usize::MAX);
        self.len.saturating_add(rest).saturating_add(1)
    }

    /// Everything, for the formats parsed as a whole.
    fn take_all(&mut self) -> std::io::Result<Vec<u8>> {
        self.buf.resize(self.to_end(), 0);
        self.fill()?;
        self.buf.truncate(self.len);
        Ok(std::mem::take(&mut self.buf))
    }

    /// The next run of whole lines (the input's last line may lack its newline); `None` at
    /// the end.
    fn next_lines(&mut self) -> std::io::Result<Option<&[u8]>> {
        self.buf.copy_within(self.cut..self.len, 0);
        self.len -= self.cut;
        self.cut = 0;
        loop {
            self.fill()?;
            if let Some(nl) = memchr::memrchr(b'\n', &self.buf[..self.len]) {
                self.cut = nl + 1;
            } else if self.eof {
                self.cut = self.len;
            } else {
                // One line longer than the buffer: room for it, but not past the input's end.
                let grown = (self.buf.len() * 2)
                    .min(self.to_end())
                    .max(self.buf.len() + 1);
                self.buf.resize(grown, 0);
                continue;
            }
            return Ok((self.cut > 0).then(|| &self.buf[..self.cut]));
        }
    }
}

/// Sends a message to a socket worker, or quarantines it when it does not fit a frame.
async fn send(
    to: &mut crate::socket::Sender,
    worker: &mut Worker,
    key: impl FnOnce() -> String,
    clock: Duration,
    m: &MessageRef<'_>,
    origin: impl FnOnce() -> String,
) -> Result<()> {
    if !to.send(m).await? {
        worker.quarantine(
            key,
            clock,
            QuarantineRow {
                received_at: m.event_time,
                origin: origin(),
                reason: "message too long for a len5 frame".into(),
                raw: m.text.as_bytes().to_vec(),
            },
        );
    }
    Ok(())
}

fn mtime_micros(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64 * 1_000_000)
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}

fn first_line(b: &[u8]) -> String {
    let b = strip_bom(b);
    let end = b
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).to_lowercase()
}

/// Picks a format from the file name and first line.
pub fn detect(path: &Path, bytes: &[u8]) -> Option<Format> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jsonl" | "ndjson" => Some(Format::TweetsJsonl),
        "json" => {
            let stem = path.file_stem()?.to_string_lossy();
            if hourly_time(path).is_some() {
                return Some(Format::HourlyViewers);
            }
            // The same tracker's per-hour links and stats: not stream snapshots.
            let in_dated_dir = path
                .parent()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .and_then(|d| d.to_str())
                .is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
            if in_dated_dir {
                return None;
            }
            parse_time(&stem).map(|_| Format::Profiler)
        }
        "csv" => {
            let header = first_line(bytes);
            let cols: Vec<&str> = header.split(',').map(str::trim).collect();
            let has = |c: &str| cols.contains(&c);
            if has("user_login") && has("followers")
                || ["chatter_login", "moderator_login", "vip_login", "team_name"]
                    .iter()
                    .any(|c| has(c))
                || (name == "chatters.csv" && cols.len() == 2)
            {
                Some(Format::Memgraph)
            } else if has("time") && has("login") && has("channel") {
                Some(Format::ViewerLog)
            } else if has("text") && (has("date") || has("created_at") || has("timestamp")) {
                Some(Format::TweetsCsv)
            } else if has("timestamp") && has("category") && has("channel") && has("viewers") {
                Some(Format::StreamsCsv)
            } else if (has("name") && has("views") && has("date"))
                || (has("timestamp") && has("category") && has("viewers"))
                || (cols.len() >= 3 && parse_time(cols[0]).is_some())
            {
                Some(Format::CategoriesCsv)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The records of a file held whole, in order (a replay reads tweet JSON lines in chunks
/// instead, through [`parse_jsonl`]).
fn parse_file<'a>(
    format: Format,
    path: &Path,
    bytes: &'a [u8],
    as_of: i64,
) -> Box<dyn Iterator<Item = Item<'a>> + 'a> {
    match format {
        Format::Auto => Box::new(std::iter::empty()),
        Format::TweetsJsonl => Box::new(parse_jsonl(bytes, 1)),
        Format::Profiler => Box::new(parse_profiler(path, bytes).into_iter()),
        Format::HourlyViewers => Box::new(parse_hourly(path, bytes).into_iter()),
        _ => Box::new(parse_csv(format, path, bytes, as_of).into_iter()),
    }
}

fn bad(line: u64, time: Option<i64>, reason: impl Into<String>, raw: &[u8]) -> Item<'static> {
    Item {
        line,
        time,
        out: Err((reason.into(), raw.to_vec())),
    }
}

/// The records of JSON lines, numbered from `first_line`.
fn parse_jsonl(bytes: &[u8], first_line: u64) -> impl Iterator<Item = Item<'_>> {
    // A file valid as a whole (the usual case) is checked once and cut with `memchr`.
    let lines: Box<dyn Iterator<Item = &[u8]>> = match std::str::from_utf8(bytes) {
        Ok(text) => Box::new(text.split('\n').map(str::as_bytes)),
        Err(_) => Box::new(bytes.split(|&b| b == b'\n')),
    };
    lines.enumerate().filter_map(move |(i, raw)| {
        let line = first_line + i as u64;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            return Some(bad(line, None, "invalid UTF-8", raw));
        };
        Some(match Tweet::parse(text) {
            Err(e) => bad(line, None, format!("malformed JSON: {e}"), raw),
            Ok(t) => match t.message() {
                Ok(m) => Item {
                    line,
                    time: Some(m.event_time),
                    out: Ok(Out::Message(m)),
                },
                Err(reason) => bad(line, None, reason, raw),
            },
        })
    })
}

fn collect<'a>(list: &'a Value, viewers: &mut Vec<&'a str>) -> bool {
    match list.as_array() {
        Some(a) if a.iter().all(Value::is_string) => {
            viewers.extend(a.iter().filter_map(Value::as_str));
            true
        }
        _ => false,
    }
}

/// A whole file as one JSON value.
fn json_file(bytes: &[u8]) -> std::result::Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// The time of an hourly viewers file, `.../<YYYY-MM-DD>/nodes/<HH>.json`: minute 15 of that
/// hour, UTC (the tracker's cron ran at minute 15; its time zone is not stated).
fn hourly_time(path: &Path) -> Option<i64> {
    let hour: u32 = path.file_stem()?.to_str()?.parse().ok()?;
    let dir = path.parent()?;
    if dir.file_name()? != "nodes" {
        return None;
    }
    let date =
        chrono::NaiveDate::parse_from_str(dir.parent()?.file_name()?.to_str()?, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(hour, 15, 0)?.and_utc().timestamp_micros())
}

fn parse_hourly(path: &Path, bytes: &[u8]) -> Vec<Item<'static>> {
    let Some(t) = hourly_time(path) else {
        return vec![bad(
            0,
            None,
            "not a <YYYY-MM-DD>/nodes/<HH>.json path",
            bytes,
        )];
    };
    let v = match json_file(bytes) {
        Ok(v) => v,
        Err(e) => return vec![bad(1, Some(t), format!("malformed JSON: {e}"), bytes)],
    };
    let Some(list) = v.as_array() else {
        return vec![bad(1, Some(t), "expected a list of {id, viewers}", bytes)];
    };
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let id = e
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let viewers = e.get("viewers").and_then(Value::as_i64);
            match (id, viewers) {
                (Some(id), Some(n)) => Item {
                    line: i as u64 + 1,
                    time: Some(t),
                    out: Ok(Out::Records(vec![Record::Stream(StreamRow {
                        snapshot_time: t,
                        channel_id: id.to_lowercase(),
                        channel_login: id.to_lowercase(),
                        title: None,
                        category_id: None,
                        category_name: None,
                        language: None,
                        viewers: Some(n),
                        started_at: None,
                        tags: None,
                    })])),
                },
                _ => bad(
                    i as u64 + 1,
                    Some(t),
                    "entry needs a string id and an integer viewers",
                    e.to_string().as_bytes(),
                ),
            }
        })
        .collect()
}

fn parse_profiler(path: &Path, bytes: &[u8]) -> Vec<Item<'static>> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(t) = parse_time(&stem) else {
        return vec![bad(0, None, "sample file name is not a time", bytes)];
    };
    let v = match json_file(bytes) {
        Ok(v) => v,
        Err(e) => return vec![bad(0, Some(t), format!("malformed sample: {e}"), bytes)],
    };
    let Some(map) = v.as_object() else {
        return vec![bad(
            0,
            Some(t),
            "sample is not an object of channels",
            bytes,
        )];
    };
    let mut out = Vec::new();
    for (i, (channel, entry)) in map.iter().enumerate() {
        let line = i as u64 + 1;
        let mut viewers: Vec<&str> = Vec::new();
        let ok;
        let mut meta: Option<&serde_json::Map<String, Value>> = None;
        match entry {
            Value::Array(_) => ok = collect(entry, &mut viewers),
            Value::Object(o) => {
                meta = Some(o);
                let lists: Vec<&Value> = match o.get("chatters").or_else(|| o.get("viewers")) {
                    Some(Value::Object(roles)) => roles.values().collect(),
                    Some(list) => vec![list],
                    None => Vec::new(),
                };
                ok = !lists.is_empty() && lists.into_iter().all(|l| collect(l, &mut viewers));
            }
            _ => ok = false,
        }
        if !ok {
            let raw =
                serde_json::to_vec(&serde_json::json!({ channel: entry })).unwrap_or_default();
            out.push(bad(
                line,
                Some(t),
                "channel entry is not a list of viewer logins",
                &raw,
            ));
            continue;
        }
        let channel = channel.to_lowercase();
        let mut records: Vec<Record> = viewers
            .into_iter()
            .map(|v| {
                Record::Presence(PresenceRow {
                    snapshot_time: t,
                    channel_login: channel.clone(),
                    viewer_login: v.to_lowercase(),
                })
            })
            .collect();
        if let Some(o) = meta {
            let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
            let n = |k: &str| o.get(k).and_then(Value::as_i64);
            if o.contains_key("viewer_count") || o.contains_key("game") || o.contains_key("title") {
                records.push(Record::Stream(StreamRow {
                    snapshot_time: t,
                    channel_id: s("user_id").unwrap_or_else(|| channel.clone()),
                    channel_login: channel.clone(),
                    title: s("title"),
                    category_id: s("game_id"),
                    category_name: s("game").or_else(|| s("game_name")),
                    language: s("language"),
                    viewers: n("viewer_count"),
                    started_at: s("started_at").and_then(|x| parse_time(&x)),
                    tags: None,
                }));
            }
        }
        out.push(Item {
            line,
            time: Some(t),
            out: Ok(Out::Records(records)),
        });
    }
    out
}

/// A CSV record: its line, its raw bytes, and its fields or why they are unreadable.
type CsvRow = (u64, Vec<u8>, std::result::Result<Vec<String>, String>);

/// A CSV file as rows, header included.
fn csv_records(bytes: &[u8]) -> Vec<CsvRow> {
    let body = strip_bom(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut rows = Vec::new();
    let mut rec = csv::ByteRecord::new();
    let mut starts = Vec::new();
    loop {
        let start = rdr.position().clone();
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let line = rec.position().map_or(start.line(), |p| p.line());
                let begin = rec.position().map_or(start.byte(), |p| p.byte()) as usize;
                starts.push(begin);
                let fields: std::result::Result<Vec<String>, String> = rec
                    .iter()
                    .map(|f| {
                        std::str::from_utf8(f)
                            .map(str::to_string)
                            .map_err(|_| "invalid UTF-8".to_string())
                    })
                    .collect();
                rows.push((line, Vec::new(), fields));
            }
            Err(e) => {
                let line = start.line();
                starts.push(start.byte() as usize);
                rows.push((line, Vec::new(), Err(format!("unreadable CSV: {e}"))));
                break;
            }
        }
    }
    for i in 0..rows.len() {
        let begin = starts[i].min(body.len());
        let end = starts
            .get(i + 1)
            .copied()
            .unwrap_or(body.len())
            .clamp(begin, body.len());
        let raw = &body[begin..end];
        let trimmed = raw
            .iter()
            .rposition(|&c| c != b'\n' && c != b'\r')
            .map_or(&raw[..0], |p| &raw[..=p]);
        rows[i].1 = trimmed.to_vec();
    }
    rows
}

fn parse_csv(format: Format, path: &Path, bytes: &[u8], as_of: i64) -> Vec<Item<'static>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut rows = csv_records(bytes).into_iter();
    let first = rows.next();
    let Some((_, _, Ok(first_fields))) = first.clone() else {
        return first
            .map(|(l, raw, f)| vec![bad(l, None, f.err().unwrap_or_default(), &raw)])
            .unwrap_or_default();
    };
    let lower: Vec<String> = first_fields
        .iter()
        .map(|f| f.trim().to_lowercase())
        .collect();
    // Files without a header line: the Memgraph demo's streamed chatters and the 2025
    // category scrape's first version.
    let headerless =
        (format == Format::Memgraph && lower.len() == 2 && lower[0].parse::<u64>().is_ok())
            || (format == Format::CategoriesCsv && parse_time(&lower[0]).is_some());
    let header: Vec<String> = if headerless {
        match format {
            Format::Memgraph => vec!["user_id".into(), "chatter_login".into()],
            _ => ["timestamp", "category", "viewers", "tags"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    } else {
        lower
    };
    let col = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| header.iter().position(|h| h == n))
    };
    let all: Vec<_> = if headerless {
        first.into_iter().chain(rows).collect()
    } else {
        rows.collect()
    };
    let mapper: Mapper = match format {
        Format::TweetsCsv => {
            let (text, time) = (col(&["text"]), col(&["date", "created_at", "timestamp"]));
            let (id, author, lang) = (
                col(&["id", "id_str"]),
                col(&["user_name", "author", "screen_name", "username"]),
                col(&["lang", "language"]),
            );
            let (Some(text), Some(time)) = (text, time) else {
                return vec![bad(1, None, "tweet CSV needs text and date columns", &[])];
            };
            Box::new(move |f| {
                let t = parse_time(&f[time])
                    .ok_or_else(|| format!("unparseable time {:?}", f[time]))?;
                let get = |c: Option<usize>| c.map(|c| f[c].clone()).filter(|s| !s.is_empty());
                Ok((
                    Some(t),
                    vec![Record::Message(MessageRow {
                        event_time: t,
                        source: "twitter".into(),
                        message_id: get(id),
                        channel: None,
                        author: get(author),
                        text: python_bytes_literal(&f[text]),
                        language: get(lang),
                    })],
                ))
            })
        }
        Format::ViewerLog => {
            let (Some(time), Some(login), Some(channel)) =
                (col(&["time"]), col(&["login"]), col(&["channel"]))
            else {
                return vec![bad(
                    1,
                    None,
                    "viewer log needs time, login and channel columns",
                    &[],
                )];
            };
            Box::new(move |f| {
                let t = parse_time(&f[time])
                    .ok_or_else(|| format!("unparseable time {:?}", f[time]))?;
                if f[login].is_empty() || f[channel].is_empty() {
                    return Err("empty login or channel".into());
                }
                Ok((
                    Some(t),
                    vec![Record::Presence(PresenceRow {
                        snapshot_time: t,
                        channel_login: f[channel].to_lowercase(),
                        viewer_login: f[login].to_lowercase(),
                    })],
                ))
            })
        }
        Format::CategoriesCsv => {
            let time = col(&["date", "timestamp"]);
            let name_c = col(&["name", "category"]);
            let views = col(&["views", "viewers"]);
            let rank = col(&["id", "rank"]);
            let (Some(time), Some(name_c)) = (time, name_c) else {
                return vec![bad(
                    1,
                    None,
                    "category CSV needs a time and a name column",
                    &[],
                )];
            };
            Box::new(move |f| {
                let t = parse_time(&f[time])
                    .ok_or_else(|| format!("unparseable time {:?}", f[time]))?;
                let v = match views {
                    Some(c) => Some(
                        parse_count(&f[c])
                            .ok_or_else(|| format!("unparseable viewers {:?}", f[c]))?,
                    ),
                    None => None,
                };
                Ok((
                    Some(t),
                    vec![Record::Category(CategoryRow {
                        snapshot_time: t,
                        category_id: None,
                        category_name: f[name_c].clone(),
                        viewers: v,
                        live_channels: None,
                        rank: rank.and_then(|c| f[c].parse().ok()),
                    })],
                ))
            })
        }
        Format::StreamsCsv => {
            let (Some(time), Some(channel), Some(viewers)) =
                (col(&["timestamp"]), col(&["channel"]), col(&["viewers"]))
            else {
                return vec![bad(
                    1,
                    None,
                    "stream CSV needs timestamp, channel and viewers columns",
                    &[],
                )];
            };
            let (cat, title, tags) = (
                col(&["category"]),
                col(&["stream title", "title"]),
                col(&["tags"]),
            );
            Box::new(move |f| {
                let t = parse_time(&f[time])
                    .ok_or_else(|| format!("unparseable time {:?}", f[time]))?;
                let login = f[channel].trim().to_lowercase();
                let get = |c: Option<usize>| c.map(|c| f[c].clone()).filter(|s| !s.is_empty());
                Ok((
                    Some(t),
                    vec![Record::Stream(StreamRow {
                        snapshot_time: t,
                        channel_id: login.clone(),
                        channel_login: login,
                        title: get(title),
                        category_id: None,
                        category_name: get(cat),
                        language: None,
                        viewers: Some(
                            parse_count(&f[viewers])
                                .ok_or_else(|| format!("unparseable viewers {:?}", f[viewers]))?,
                        ),
                        started_at: None,
                        tags: get(tags).map(|s| {
                            s.split(',')
                                .map(|t| t.trim().to_string())
                                .filter(|t| !t.is_empty())
                                .collect()
                        }),
                    })],
                ))
            })
        }
        Format::Memgraph => memgraph_mapper(&name, &header, as_of),
        _ => return Vec::new(),
    };
    let width = header.len();
    all.into_iter()
        .map(|(line, raw, fields)| match fields {
            Err(reason) => bad(line, None, reason, &raw),
            Ok(f) if f.len() != width => bad(
                line,
                None,
                format!("expected {width} fields, found {}", f.len()),
                &raw,
            ),
            Ok(f) => match mapper(&f) {
                Ok((time, records)) => Item {
                    line,
                    time,
                    out: Ok(Out::Records(records)),
                },
                Err(reason) => bad(line, None, reason, &raw),
            },
        })
        .collect()
}

type Mapper = Box<dyn Fn(&[String]) -> std::result::Result<(Option<i64>, Vec<Record>), String>>;

fn memgraph_mapper(name: &str, header: &[String], as_of: i64) -> Mapper {
    let col = |n: &str| header.iter().position(|h| h == n);
    if let (Some(id), Some(login)) = (col("user_id"), col("user_login")) {
        let (disp, game, lang, fol, desc, views, created) = (
            col("user_name"),
            col("game_name"),
            col("language"),
            col("followers"),
            col("description"),
            col("view_count"),
            col("created_at"),
        );
        return Box::new(move |f| {
            let get = |c: Option<usize>| c.map(|c| f[c].clone()).filter(|s| !s.is_empty());
            let num = |c: Option<usize>| -> std::result::Result<Option<i64>, String> {
                match get(c) {
                    None => Ok(None),
                    Some(s) => s
                        .parse()
                        .map(Some)
                        .map_err(|_| format!("not a number: {s:?}")),
                }
            };
            let login_v = f[login].to_lowercase();
            Ok((
                Some(as_of),
                vec![
                    Record::Channel(ChannelRow {
                        observed_at: as_of,
                        channel_id: f[id].clone(),
                        login: login_v.clone(),
                        display_name: get(disp),
                        followers: num(fol)?,
                        total_views: num(views)?,
                        created_at: get(created).and_then(|s| parse_time(&s)),
                        description: get(desc),
                        language: get(lang),
                        team: None,
                    }),
                    // The demo's streamers were live when scraped: a stream row keeps what they played.
                    Record::Stream(StreamRow {
                        snapshot_time: as_of,
                        channel_id: f[id].clone(),
                        channel_login: login_v,
                        title: None,
                        category_id: None,
                        category_name: get(game),
                        language: get(lang),
                        viewers: None,
                        started_at: None,
                        tags: None,
                    }),
                ],
            ))
        });
    }
    let relation = [
        ("chatter_login", RawTable::Chatters),
        ("moderator_login", RawTable::Moderators),
        ("vip_login", RawTable::Vips),
        ("team_name", RawTable::Teams),
    ]
    .into_iter()
    .find_map(|(c, t)| col(c).map(|i| (i, t)));
    let id = col("user_id");
    match (relation, id) {
        (Some((other, table)), Some(id)) => Box::new(move |f| {
            if f[id].is_empty() || f[other].is_empty() {
                return Err("empty channel id or value".into());
            }
            Ok((
                Some(as_of),
                vec![Record::Relation(
                    table,
                    RelationRow {
                        observed_at: as_of,
                        channel_id: f[id].clone(),
                        other: f[other].clone(),
                    },
                )],
            ))
        }),
        _ => {
            let name = name.to_string();
            Box::new(move |_| Err(format!("unrecognised Memgraph CSV {name}")))
        }
    }
}

#[cfg(test)]
mod tests {
    //! Property tests of the replay decoders (the issue's fuzz targets): random and mutated
    //! files of every format. Invariants: no panic, every record of a line format lands or
    //! is quarantined with its own bytes, quarantined bytes come from the input.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    /// Valid samples of each format, under a file name that selects it.
    fn samples() -> Vec<(Format, &'static str, &'static [u8])> {
        vec![
            (
                Format::TweetsJsonl,
                "t.jsonl",
                br##"{"created_at":"Wed Jul 18 21:33:26 +0000 2018","id_str":"1","full_text":"v1 #Rust","user":{"screen_name":"ann"}}
{"data":{"id":"2","text":"#a","created_at":"2018-07-18T22:10:00.000Z","author_id":"77"}}
"##,
            ),
            (
                Format::TweetsCsv,
                "tweets.csv",
                b"id,date,text\n1,2020-01-01 10:00:00,hello #x\n2,2020-01-01 11:00:00,\"a, #b\"\n",
            ),
            (
                Format::Profiler,
                "2021-02-01T10:05:00Z.json",
                br#"{"chan": ["v1", "v2"], "other": {"chatters": {"viewers": ["v3"]}}}"#,
            ),
            (
                Format::HourlyViewers,
                "2021-02-01/nodes/10.json",
                br#"[{"id": "dream", "viewers": 1000}, {"id": "x", "viewers": "12"}]"#,
            ),
            (
                Format::Memgraph,
                "streamers.csv",
                b"user_id,user_name,user_login,game_name,language,followers,view_count\n1,A,a,Minecraft,en,10,100\n2,B,b,Chess,de,x,5\n",
            ),
            (
                Format::Memgraph,
                "chatters.csv",
                b"chatter_login,user_login\nann,a\nbob\n",
            ),
            (
                Format::Memgraph,
                "vips.csv",
                b"vip_login,user_login\nann,a\n",
            ),
            (
                Format::ViewerLog,
                "log.csv",
                b"time,event,login,channel\n2021-01-01T00:00:00Z,join,ann,chan\nbad,join,bob\n",
            ),
            (
                Format::CategoriesCsv,
                "cats.csv",
                b"ID,NAME,VIEWS,DATE\n1,Just Chatting,100,2021-01-01 00:00\n2,Chess,,2021-01-01\n",
            ),
            (
                Format::StreamsCsv,
                "streams.csv",
                b"Timestamp,Category,Stream Title,Channel,Viewers,Tags\n2021-01-01 00:00,Chess,t,c1,5,\"a,b\"\n",
            ),
        ]
    }

    fn path_for(name: &str) -> PathBuf {
        PathBuf::from("/in").join(name)
    }

    /// A mutation of a sample: (position, operation, byte).
    fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
        let mut b = base.to_vec();
        for &(pos, op, byte) in edits {
            let at = if b.is_empty() { 0 } else { pos % (b.len() + 1) };
            match op % 4 {
                0 => b.insert(at, byte),
                1 if at < b.len() => b[at] = byte,
                2 if at < b.len() => {
                    b.remove(at);
                }
                _ => b.truncate(at),
            }
        }
        b
    }

    /// Items name a line of the input in line formats (in JSON files they number entries),
    /// and quarantined bytes come from the input (a JSON file's entry: its JSON text).
    fn check_items(format: Format, items: &[Item], input: &[u8]) {
        let lines = input.iter().filter(|&&c| c == b'\n').count() as u64 + 1;
        let line_based = !matches!(format, Format::Profiler | Format::HourlyViewers);
        for it in items {
            assert!(
                !line_based || it.line <= lines,
                "line {} of {lines}",
                it.line
            );
            if let Err((reason, raw)) = &it.out {
                assert!(!reason.is_empty());
                // A JSON file's bad entry is kept as that entry's JSON text.
                let from_input =
                    raw.is_empty() || input.windows(raw.len()).any(|w| w == raw.as_slice());
                let entry = serde_json::from_slice::<Value>(raw).is_ok();
                assert!(
                    from_input || (!line_based && entry),
                    "quarantined bytes not from the input"
                );
            }
        }
    }

    #[test]
    fn files_and_pipes_are_hashed_as_they_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"{\"a\":1}\nline two\n".repeat(1000);
        let read_all = |path: &Path| {
            let Opened {
                hash,
                len,
                mut chunks,
            } = open_file(path).unwrap();
            let mut seen = Vec::new();
            while let Some(c) = chunks.next_lines().unwrap() {
                seen.extend_from_slice(c);
            }
            (hash, len, seen)
        };
        let file = dir.path().join("file.jsonl");
        std::fs::write(&file, &body).unwrap();
        assert_eq!(
            read_all(&file),
            (blake3::hash(&body), body.len() as u64, body.clone())
        );
        // A pipe reads once: it is read whole, and hashed as read.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped the pipe: mkfifo failed");
            return;
        }
        let writer = {
            let (fifo, body) = (fifo.clone(), body.clone());
            std::thread::spawn(move || std::fs::write(fifo, body).unwrap())
        };
        let got = read_all(&fifo);
        writer.join().unwrap();
        assert_eq!(got, (blake3::hash(&body), body.len() as u64, body));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn mutated_samples_of_every_format_never_panic(
            which in 0usize..10,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..12),
        ) {
            let all = samples();
            let (format, name, base) = all[which % all.len()];
            let bytes = mutate(base, &edits);
            let items: Vec<Item> = parse_file(format, &path_for(name), &bytes, 0).collect();
            check_items(format, &items, &bytes);
        }

        #[test]
        fn random_bytes_in_every_format_never_panic(
            which in 0usize..10,
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let all = samples();
            let (format, name, _) = all[which % all.len()];
            let items: Vec<Item> = parse_file(format, &path_for(name), &bytes, 0).collect();
            check_items(format, &items, &bytes);
            // Detection never panics either.
            let _ = detect(&path_for(name), &bytes);
        }

        #[test]
        fn line_chunks_cut_at_newlines_and_number_lines_as_the_whole(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just(br#"{"created_at":"2018-07-18T22:00:00Z","text":"ok #t"}"#.to_vec()),
                    Just(b"{not json".to_vec()),
                    Just(b"".to_vec()),
                    proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..90),
                ],
                0..20,
            ),
            final_newline in any::<bool>(),
            chunk in 1usize..64,
            most in 1usize..9,
            shrank in prop_oneof![3 => Just(0u64), 1 => 1u64..4],
        ) {
            let mut bytes = lines.join(&b'\n');
            if final_newline {
                bytes.push(b'\n');
            }
            // A reader that hands out at most `most` bytes a call.
            struct Trickle<'a>(&'a [u8], usize);
            impl std::io::Read for Trickle<'_> {
                fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                    let n = self.0.len().min(buf.len()).min(self.1);
                    buf[..n].copy_from_slice(&self.0[..n]);
                    self.0 = &self.0[n..];
                    Ok(n)
                }
            }
            // A file that shrank after it was hashed (read as `shrank` bytes short) is an
            // error, never a silently short replay.
            let expected = bytes.len() as u64 + shrank;
            let open = LineChunks::open(Trickle(&bytes, most), expected, chunk);
            if shrank > 0 {
                prop_assert!(open.and_then(|mut c| c.take_all()).is_err());
                let mut chunks = LineChunks::open(Trickle(&bytes, most), expected, chunk);
                let failed = loop {
                    match chunks.as_mut().map(|c| c.next_lines()) {
                        Err(_) | Ok(Err(_)) => break true,
                        Ok(Ok(Some(_))) => {}
                        Ok(Ok(None)) => break false,
                    }
                };
                prop_assert!(failed);
                return Ok(());
            }
            let mut chunks = open.unwrap();
            prop_assert_eq!(chunks.head(), &bytes[..bytes.len().min(chunk)]);
            prop_assert_eq!(
                LineChunks::open(Trickle(&bytes, most), expected, chunk).unwrap().take_all().unwrap(),
                bytes.clone()
            );
            let (mut seen, mut items, mut first_line) = (Vec::new(), Vec::new(), 1);
            while let Some(c) = chunks.next_lines().unwrap() {
                // Every chunk but the input's last ends a line.
                prop_assert!(c.ends_with(b"\n") || seen.len() + c.len() == bytes.len());
                prop_assert!(!c.is_empty());
                seen.extend_from_slice(c);
                items.extend(parse_jsonl(c, first_line).map(|i| (i.line, i.out.is_ok())));
                first_line += c.iter().filter(|&&b| b == b'\n').count() as u64;
            }
            prop_assert_eq!(&seen, &bytes);
            let whole: Vec<(u64, bool)> = parse_jsonl(&bytes, 1).map(|i| (i.line, i.out.is_ok())).collect();
            prop_assert_eq!(items, whole);
        }

        #[test]
        fn every_jsonl_line_lands_or_is_quarantined_with_its_bytes(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just(br#"{"created_at":"2018-07-18T22:00:00Z","text":"ok #t"}"#.to_vec()),
                    Just(b"{not json".to_vec()),
                    Just(b"\xff\xfe".to_vec()),
                    Just(br#"{"text":"no time"}"#.to_vec()),
                    Just(b"   ".to_vec()),
                    proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..40),
                ],
                0..30,
            ),
        ) {
            let bytes = lines.join(&b'\n');
            let items: Vec<Item> = parse_jsonl(&bytes, 1).collect();
            let expected: Vec<(u64, &[u8])> = lines
                .iter()
                .enumerate()
                .map(|(i, l)| (i as u64 + 1, l.strip_suffix(b"\r").unwrap_or(l)))
                .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
                .collect();
            prop_assert_eq!(items.len(), expected.len());
            for (it, (line, raw)) in items.iter().zip(&expected) {
                prop_assert_eq!(it.line, *line);
                match &it.out {
                    Ok(out) => prop_assert!(matches!(out, Out::Message(_))),
                    Err((_, kept)) => prop_assert_eq!(kept.as_slice(), *raw),
                }
            }
        }
    }
}
