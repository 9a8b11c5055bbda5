//! `pulse ingest socket`: a TCP text source, listening for peers or connecting to one.
//!
//! Two framings: `line` (newline-delimited, like Spark's `socketTextStream`) and `len5` (a
//! five-ASCII-digit length, then that many bytes, like the Wallaroo example). Each frame
//! becomes a `messages` row: a JSON tweet keeps its own `created_at`, anything else gets its
//! arrival time. A frame over `max_frame`, invalid UTF-8, a frame cut off by a disconnect, or a
//! bad length header is quarantined with its bytes (up to `max_frame`) and `peer#frame`; a bad
//! length header also ends that connection, since no frame boundary can be trusted after it.
//! Memory per connection is bounded by `max_frame`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use std::borrow::Cow;

use crate::parse::Tweet;
use crate::records::{MessageRef, QuarantineRow};
use crate::wal::{Wal, WalOptions};
use crate::worker::{Stats, Worker};
use crate::{Error, Result};

/// How frames are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Newline-delimited text.
    Line,
    /// A five-digit ASCII length prefix, then the payload.
    Len5,
}

impl std::str::FromStr for Framing {
    type Err = Error;
    fn from_str(s: &str) -> Result<Framing> {
        match s {
            "line" => Ok(Framing::Line),
            "len5" => Ok(Framing::Len5),
            _ => Err(Error::Usage(format!("unknown framing {s:?}: line or len5"))),
        }
    }
}

/// Listen for peers or connect to one.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Accept any number of peers on this address until shutdown.
    Listen(String),
    /// Connect to this address and read until it closes.
    Connect(String),
}

/// The socket source's settings.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// Listen or connect.
    pub mode: Mode,
    /// Line or len5.
    pub framing: Framing,
    /// Largest frame accepted, in bytes.
    pub max_frame: usize,
}

/// One frame read from a peer, or why it is bad.
#[derive(Debug)]
struct Frame {
    /// The peer it came from, and its number there (`peer#n` names it in quarantine).
    peer: std::sync::Arc<str>,
    n: u64,
    arrival: i64,
    body: std::result::Result<Vec<u8>, (String, Vec<u8>)>,
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Frames a reader sends on at most this many at a time.
const BATCH: usize = 1024;

/// Reads frames from one peer into `tx` until EOF or a fatal framing error. Frames go in
/// batches: whatever the read buffer held, so one channel hop serves many frames and none
/// waits for the next read from the peer.
async fn read_frames<R: AsyncRead + Unpin>(
    reader: R,
    peer: String,
    framing: Framing,
    max_frame: usize,
    tx: mpsc::Sender<Vec<Frame>>,
) {
    let mut r = BufReader::with_capacity(256 * 1024, reader);
    let peer: std::sync::Arc<str> = peer.into();
    let mut n: u64 = 0;
    let mut batch = Vec::new();
    // Set by the first read: the buffer starts empty.
    let mut arrival = 0;
    loop {
        n += 1;
        // Frames taken from one fill of the read buffer arrived together: one clock read,
        // once the read that fills it has returned.
        let refill = r.buffer().is_empty();
        let read = match framing {
            Framing::Line => read_line(&mut r, max_frame)
                .await
                .map(|b| b.map(|b| (b, false))),
            Framing::Len5 => read_len5(&mut r, max_frame).await,
        };
        if refill {
            arrival = now_micros();
        }
        let (body, stop) = match read {
            Ok(None) => break,
            Ok(Some(frame)) => frame,
            // The next read says whether the connection goes on.
            Err(e) => (Err((format!("read error: {e}"), Vec::new())), false),
        };
        batch.push(Frame {
            peer: peer.clone(),
            n,
            arrival,
            body,
        });
        if (stop || batch.len() >= BATCH || r.buffer().is_empty())
            && (tx.send(std::mem::take(&mut batch)).await.is_err() || stop)
        {
            return;
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch).await;
    }
}

type FrameBody = std::result::Result<Vec<u8>, (String, Vec<u8>)>;

/// One line (without `\n` or `\r\n`), `None` at a clean EOF.
async fn read_line<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    max: usize,
) -> std::io::Result<Option<FrameBody>> {
    let mut buf: Vec<u8> = Vec::new();
    let mut over = false;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            if buf.is_empty() && !over {
                return Ok(None);
            }
            return Ok(Some(Err(("frame cut off by disconnect".into(), buf))));
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(p) => (p + 1, true),
            None => (chunk.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        let payload = if done {
            &chunk[..take - 1]
        } else {
            &chunk[..take]
        };
        if payload.len() > room {
            over = true;
        }
        buf.extend_from_slice(&payload[..payload.len().min(room)]);
        r.consume(take);
        if done {
            if buf.last() == Some(&b'\r') && !over {
                buf.pop();
            }
            if over {
                return Ok(Some(Err((
                    format!("frame over max-frame ({max} bytes)"),
                    buf,
                ))));
            }
            return Ok(Some(Ok(buf)));
        }
    }
}

/// One length-prefixed frame; the flag says the connection cannot continue.
async fn read_len5<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    max: usize,
) -> std::io::Result<Option<(FrameBody, bool)>> {
    // A whole frame in the buffer is taken from it at once.
    let buffered = r.buffer();
    if let Some(len) = buffered.get(..5).and_then(header_len)
        && len <= max
        && let Some(body) = buffered.get(5..5 + len)
    {
        let body = body.to_vec();
        r.consume(5 + len);
        return Ok(Some((Ok(body), false)));
    }
    let mut header = [0u8; 5];
    let mut got = 0;
    while got < 5 {
        let n = r.read(&mut header[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Ok(Some((
                Err((
                    "length header cut off by disconnect".into(),
                    header[..got].to_vec(),
                )),
                true,
            )));
        }
        got += n;
    }
    let Some(len) = header_len(&header) else {
        // Keep what follows (up to max) as evidence; framing is lost for this connection.
        let mut raw = header.to_vec();
        let mut rest = vec![0u8; max.min(64 * 1024)];
        if let Ok(n) = tokio::time::timeout(Duration::from_millis(50), r.read(&mut rest))
            .await
            .unwrap_or(Ok(0))
        {
            raw.extend_from_slice(&rest[..n]);
        }
        return Ok(Some((
            Err(("bad length header (not 5 ASCII digits)".into(), raw)),
            true,
        )));
    };
    let keep = len.min(max);
    let mut buf = vec![0u8; keep];
    let mut filled = 0;
    while filled < keep {
        let n = r.read(&mut buf[filled..]).await?;
        if n == 0 {
            buf.truncate(filled);
            return Ok(Some((
                Err((
                    format!("frame cut off by disconnect ({filled} of {len} bytes)"),
                    buf,
                )),
                true,
            )));
        }
        filled += n;
    }
    if len > max {
        // Skip the rest of the oversized frame without holding it.
        let mut left = (len - max) as u64;
        let mut sink = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = left.min(sink.len() as u64) as usize;
            let n = r.read(&mut sink[..want]).await?;
            if n == 0 {
                return Ok(Some((
                    Err((
                        format!("oversized frame cut off by disconnect ({len} bytes)"),
                        buf,
                    )),
                    true,
                )));
            }
            left -= n as u64;
        }
        return Ok(Some((
            Err((format!("frame over max-frame ({len} > {max} bytes)"), buf)),
            false,
        )));
    }
    Ok(Some((Ok(buf), false)))
}

/// The length a `len5` header gives: five ASCII digits.
fn header_len(h: &[u8]) -> Option<usize> {
    h.iter().try_fold(0usize, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + usize::from(c - b'0'))
    })
}

/// Turns a good frame into a message (or a reason it is bad): a JSON tweet keeps its own
/// time, any other text is a message at its arrival time.
fn to_message(body: &[u8], arrival: i64) -> std::result::Result<Option<MessageRef<'_>>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "invalid UTF-8".to_string())?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        && let Ok(t) = Tweet::parse(trimmed)
        && t.looks_like_tweet()
    {
        let mut m = t.message()?;
        m.source = Cow::Borrowed("socket");
        return Ok(Some(m));
    }
    Ok(Some(MessageRef {
        event_time: arrival,
        source: Cow::Borrowed("socket"),
        message_id: None,
        channel: None,
        author: None,
        text: Cow::Borrowed(text),
        language: None,
    }))
}

/// Buffers one frame: a message row, or a quarantine record with why it is bad. The file
/// key is the event time and a hash of the frame, so the same stream lands the same names.
fn accept(worker: &mut Worker, frame: &Frame, clock: Duration) {
    let (reason, raw) = match &frame.body {
        Ok(bytes) => match to_message(bytes, frame.arrival) {
            Ok(Some(m)) => {
                let t = m.event_time;
                // The key is needed (and hashed) only for a buffer's first record.
                let key = || {
                    let h = blake3::hash(bytes).to_hex();
                    format!("socket-{t}-{}", &h[..12])
                };
                worker.push_message(key, clock, &m);
                return;
            }
            Ok(None) => return,
            Err(reason) => (reason, bytes.clone()),
        },
        Err((reason, raw)) => (reason.clone(), raw.clone()),
    };
    let origin = format!("{}#{}", frame.peer, frame.n);
    quarantine(worker, "socket", frame.arrival, origin, reason, raw, clock);
}

/// Buffers a quarantine record; its key names the record's kind, time and a hash of it.
fn quarantine(
    worker: &mut Worker,
    kind: &str,
    received_at: i64,
    origin: String,
    reason: String,
    raw: Vec<u8>,
    clock: Duration,
) {
    let h = blake3::hash(&raw).to_hex();
    let row = QuarantineRow {
        received_at,
        origin,
        reason,
        raw,
    };
    worker.quarantine(|| format!("{kind}-{received_at}-{}", &h[..12]), clock, row);
}

/// Frames as write-ahead log records: one record per run of frames from the same peer (a
/// read batch is one run, see [`record_runs`]), so the record's header, checksum and the
/// peer's name are paid once a batch, not once a frame. A record is the peer (`u32` length,
/// bytes), then each frame: arrival (`i64`), number (`u64`), and either `0`, the body's
/// length (`u32`) and the body, or `1`, the reason it is bad and its bytes (each a `u32`
/// length and the bytes).
fn log_frames(frames: &[Frame], mut record: impl FnMut(&mut dyn FnMut(&mut Vec<u8>))) {
    for run in record_runs(frames) {
        record(&mut |b: &mut Vec<u8>| {
            let peer = run[0].peer.as_bytes();
            put_bytes(b, peer);
            for f in run {
                b.extend_from_slice(&f.arrival.to_le_bytes());
                b.extend_from_slice(&f.n.to_le_bytes());
                match &f.body {
                    Ok(body) => {
                        b.push(0);
                        put_bytes(b, body);
                    }
                    Err((reason, raw)) => {
                        b.push(1);
                        put_bytes(b, reason.as_bytes());
                        put_bytes(b, raw);
                    }
                }
            }
        });
    }
}

/// Frames cut into the runs [`log_frames`] writes as records: consecutive frames of one peer,
/// of at most `RECORD_BYTES` of bodies unless one frame alone is more (a record's length
/// is a `u32`).
fn record_runs(frames: &[Frame]) -> Vec<&[Frame]> {
    const RECORD_BYTES: usize = 64 << 20;
    let size = |f: &Frame| match &f.body {
        Ok(b) => b.len(),
        Err((reason, raw)) => reason.len() + raw.len(),
    };
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, f) in frames.iter().enumerate() {
        if i > start && (f.peer != frames[start].peer || bytes + size(f) > RECORD_BYTES) {
            runs.push(&frames[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size(f);
    }
    if start < frames.len() {
        runs.push(&frames[start..]);
    }
    runs
}

fn put_bytes(b: &mut Vec<u8>, bytes: &[u8]) {
    b.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    b.extend_from_slice(bytes);
}

/// The frames of a write-ahead log record, `None` when it is not one.
fn frames_from_log(p: &[u8]) -> Option<Vec<Frame>> {
    fn take<'a>(p: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = p.split_at_checked(n)?;
        *p = rest;
        Some(head)
    }
    fn bytes<'a>(p: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(take(p, 4)?.try_into().ok()?) as usize;
        take(p, len)
    }
    let mut p = p;
    let peer: std::sync::Arc<str> = std::str::from_utf8(bytes(&mut p)?).ok()?.into();
    let mut frames = Vec::new();
    while !p.is_empty() {
        let arrival = i64::from_le_bytes(take(&mut p, 8)?.try_into().ok()?);
        let n = u64::from_le_bytes(take(&mut p, 8)?.try_into().ok()?);
        let body = match take(&mut p, 1)?[0] {
            0 => Ok(bytes(&mut p)?.to_vec()),
            1 => {
                let reason = std::str::from_utf8(bytes(&mut p)?).ok()?.to_string();
                Err((reason, bytes(&mut p)?.to_vec()))
            }
            _ => return None,
        };
        frames.push(Frame {
            peer: peer.clone(),
            n,
            arrival,
            body,
        });
    }
    Some(frames)
}

/// Lands the worker's buffer when due; then the log keeps only `rest` (records logged but
/// not yet counted).
async fn flush_if_due(
    worker: &mut Worker,
    wal: &mut Option<&mut Wal>,
    clock: Duration,
    rest: impl FnOnce() -> Vec<Vec<u8>>,
) -> Result<()> {
    if worker.due(clock) {
        worker.flush().await?;
        if let Some(w) = wal.as_deref_mut() {
            w.reset(&rest())?;
        }
    }
    Ok(())
}

/// Opens the socket worker's write-ahead log and lands what an earlier worker left in it
/// (before any live windows are attached: the lake then holds those messages, and resuming
/// live windows from it counts them once). A record torn by a crash is quarantined.
pub async fn recover(worker: &mut Worker, opts: WalOptions) -> Result<Wal> {
    let (mut wal, recovered) = Wal::open(opts)?;
    let torn = recovered.torn.len();
    let mut n = 0;
    let mut log = Some(&mut wal);
    for (i, p) in recovered.payloads.iter().enumerate() {
        let Some(frames) = frames_from_log(p) else {
            quarantine_log_record(worker, "unreadable write-ahead log record", p, "wal");
            flush_if_due(worker, &mut log, Duration::ZERO, || {
                recovered.payloads[i + 1..].to_vec()
            })
            .await?;
            continue;
        };
        n += frames.len();
        for (j, f) in frames.iter().enumerate() {
            accept(worker, f, Duration::ZERO);
            flush_if_due(worker, &mut log, Duration::ZERO, || {
                let mut rest = encode(&frames[j + 1..]);
                rest.extend_from_slice(&recovered.payloads[i + 1..]);
                rest
            })
            .await?;
        }
    }
    for t in &recovered.torn {
        let name = t
            .segment
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let origin = format!("wal:{name}@{}", t.offset);
        quarantine_log_record(
            worker,
            &format!("torn write-ahead log record: {}", t.reason),
            &t.bytes,
            &origin,
        );
    }
    if recovered.payloads.len() + torn > 0 {
        worker.flush().await?;
        wal.reset(&[])?;
        tracing::warn!(frames = n, torn, "landed what the write-ahead log held");
    }
    Ok(wal)
}

fn quarantine_log_record(worker: &mut Worker, reason: &str, raw: &[u8], origin: &str) {
    let (origin, reason) = (origin.to_string(), reason.to_string());
    quarantine(
        worker,
        "wal",
        now_micros(),
        origin,
        reason,
        raw.to_vec(),
        Duration::ZERO,
    );
}

/// Sends messages to a socket worker as frames of JSON tweets (`created_at`, `text`, ...),
/// which the socket reader takes back with their own event time: `pulse ingest replay
/// --to-socket`, a tiny sender for a live dashboard.
pub struct Sender {
    out: tokio::io::BufWriter<TcpStream>,
    framing: Framing,
    addr: String,
    /// Messages sent.
    pub sent: u64,
}

impl Sender {
    /// Connects to a socket worker listening on `addr`.
    pub async fn connect(addr: &str, framing: Framing) -> Result<Sender> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
        Ok(Sender {
            out: tokio::io::BufWriter::new(stream),
            framing,
            addr: addr.to_string(),
            sent: 0,
        })
    }

    /// Sends one message (buffered; see [`Sender::flush`]). False when it does not fit a
    /// frame (over 99,999 bytes for `len5`).
    pub async fn send(&mut self, m: &MessageRef<'_>) -> Result<bool> {
        use tokio::io::AsyncWriteExt;
        let Some(frame) = encode_frame(self.framing, m) else {
            return Ok(false);
        };
        self.out
            .write_all(&frame)
            .await
            .map_err(|e| Error::io(format!("sending to {}", self.addr), e))?;
        self.sent += 1;
        Ok(true)
    }

    /// Sends what is buffered.
    pub async fn flush(&mut self) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        self.out
            .flush()
            .await
            .map_err(|e| Error::io(format!("sending to {}", self.addr), e))
    }
}

/// The frame of one message as [`Sender`] sends it; `None` when it does not fit a `len5`
/// frame.
pub fn encode_frame(framing: Framing, m: &MessageRef<'_>) -> Option<Vec<u8>> {
    let created = chrono::DateTime::from_timestamp_micros(m.event_time)?
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let mut v = serde_json::json!({ "created_at": created, "text": &*m.text });
    for (key, value) in [
        ("id_str", &m.message_id),
        ("user_name", &m.author),
        ("lang", &m.language),
    ] {
        if let Some(x) = value {
            v[key] = serde_json::Value::from(&**x);
        }
    }
    let body = v.to_string();
    Some(match framing {
        Framing::Line => format!("{body}\n").into_bytes(),
        Framing::Len5 if body.len() <= 99_999 => format!("{:05}{body}", body.len()).into_bytes(),
        Framing::Len5 => return None,
    })
}

/// Takes a batch of frames: logs them (one write) before any is counted, then buffers
/// each, landing when due.
async fn take(
    worker: &mut Worker,
    wal: &mut Option<&mut Wal>,
    frames: &[Frame],
    clock: Duration,
) -> Result<()> {
    if let Some(w) = wal.as_deref_mut() {
        log_frames(frames, |write| w.append(write));
        w.commit()?;
    }
    for (i, frame) in frames.iter().enumerate() {
        accept(worker, frame, clock);
        flush_if_due(worker, wal, clock, || encode(&frames[i + 1..])).await?;
    }
    Ok(())
}

/// The payloads of `frames`' log records.
fn encode(frames: &[Frame]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    log_frames(frames, |write| {
        let mut b = Vec::new();
        write(&mut b);
        out.push(b);
    });
    out
}

/// Runs the socket source until shutdown (listen) or until the peer closes (connect).
/// `on_listen` is told the bound address (useful with port 0).
/// With `wal` (from [`recover`]), every frame is logged before it is counted.
pub async fn run(
    worker: &mut Worker,
    opts: &SocketOptions,
    mut wal: Option<&mut Wal>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    on_listen: impl FnOnce(SocketAddr),
) -> Result<Stats> {
    let (tx, mut rx) = mpsc::channel::<Vec<Frame>>(64);
    let (framing, max) = (opts.framing, opts.max_frame);
    let acceptor = match &opts.mode {
        Mode::Listen(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| Error::io(format!("listening on {addr}"), e))?;
            let local = listener
                .local_addr()
                .map_err(|e| Error::io("local address", e))?;
            tracing::info!(addr = %local, "listening");
            on_listen(local);
            let tx = tx.clone();
            Some(tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, peer)) => {
                            tracing::info!(peer = %peer, "peer connected");
                            tokio::spawn(read_frames(
                                stream,
                                peer.to_string(),
                                framing,
                                max,
                                tx.clone(),
                            ));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }))
        }
        Mode::Connect(addr) => {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
            tokio::spawn(read_frames(stream, addr.clone(), framing, max, tx.clone()));
            None
        }
    };
    drop(tx);
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            frames = rx.recv() => {
                let Some(frames) = frames else { break };
                take(worker, &mut wal, &frames, start.elapsed()).await?;
            }
            _ = ticker.tick() => {
                worker.publish_live();
                if let Some(w) = wal.as_deref_mut() {
                    w.sync_if_due()?;
                }
                flush_if_due(worker, &mut wal, start.elapsed(), Vec::new).await?
            }
            _ = shutdown.changed() => break,
        }
    }
    if let Some(a) = acceptor {
        a.abort();
    }
    // Frames already read when shutdown came are still landed.
    while let Ok(frames) = rx.try_recv() {
        take(worker, &mut wal, &frames, start.elapsed()).await?;
    }
    worker.flush().await?;
    if let Some(w) = wal {
        w.reset(&[])?;
    }
    Ok(worker.stats())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], framing: Framing, max: usize) -> Vec<FrameBody> {
        let (tx, mut rx) = mpsc::channel(100);
        read_frames(input, "p".into(), framing, max, tx).await;
        let mut out = Vec::new();
        while let Some(batch) = rx.recv().await {
            out.extend(batch.into_iter().map(|f| f.body));
        }
        out
    }

    #[tokio::test]
    async fn a_frame_after_a_pause_arrives_after_it() {
        use tokio::io::AsyncWriteExt;
        let (mut peer, ours) = tokio::io::duplex(1024);
        let (tx, mut rx) = mpsc::channel(100);
        let reader = tokio::spawn(read_frames(ours, "p".into(), Framing::Line, 100, tx));
        peer.write_all(b"a\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        peer.write_all(b"b\nc\n").await.unwrap();
        drop(peer);
        reader.await.unwrap();
        let mut got = Vec::new();
        while let Some(batch) = rx.recv().await {
            got.extend(batch.into_iter().map(|f| f.arrival));
        }
        assert_eq!(got.len(), 3);
        // b was stamped when it came, not when the reader went back to wait for it.
        assert!(got[1] - got[0] >= 250_000, "{got:?}");
        assert!(got[2] >= got[1]);
    }

    #[tokio::test]
    async fn lines_with_crlf_oversize_and_cut_off_tail() {
        let got = frames(b"a\r\nbb\n0123456789\nc\nlast", Framing::Line, 5).await;
        assert_eq!(got[0], Ok(b"a".to_vec()));
        assert_eq!(got[1], Ok(b"bb".to_vec()));
        assert!(matches!(&got[2], Err((r, raw)) if r.contains("max-frame") && raw == b"01234"));
        assert_eq!(got[3], Ok(b"c".to_vec()));
        assert!(matches!(&got[4], Err((r, raw)) if r.contains("cut off") && raw == b"last"));
        assert_eq!(got.len(), 5);
    }

    #[tokio::test]
    async fn len5_frames_oversize_skip_and_bad_header_stops() {
        let mut input = b"00003abc00000".to_vec();
        input.extend_from_slice(b"00010abcdefghij00002ok");
        input.extend_from_slice(b"xx1!!garbage");
        let got = frames(&input, Framing::Len5, 4).await;
        assert_eq!(got[0], Ok(b"abc".to_vec()));
        assert_eq!(got[1], Ok(Vec::new()));
        assert!(matches!(&got[2], Err((r, raw)) if r.contains("max-frame") && raw == b"abcd"));
        assert_eq!(got[3], Ok(b"ok".to_vec()));
        assert!(matches!(&got[4], Err((r, _)) if r.contains("bad length header")));
        assert_eq!(got.len(), 5);
        let got = frames(b"00009abc", Framing::Len5, 100).await;
        assert!(matches!(&got[0], Err((r, raw)) if r.contains("cut off") && raw == b"abc"));
    }

    /// A peer that sends its bytes in segments of the given sizes, as TCP may.
    struct Segments {
        data: Vec<u8>,
        pos: usize,
        sizes: Vec<usize>,
        n: usize,
    }

    impl AsyncRead for Segments {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let size = self.sizes[self.n % self.sizes.len()];
            let take = size.min(self.data.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.data[start..start + take]);
            self.pos += take;
            self.n += 1;
            std::task::Poll::Ready(Ok(()))
        }
    }

    async fn frames_of(
        input: Vec<u8>,
        sizes: Vec<usize>,
        framing: Framing,
        max: usize,
    ) -> Vec<FrameBody> {
        let (tx, mut rx) = mpsc::channel(1 << 16);
        let peer = Segments {
            data: input,
            pos: 0,
            sizes,
            n: 0,
        };
        tokio::time::timeout(
            Duration::from_secs(10),
            read_frames(peer, "p".into(), framing, max, tx),
        )
        .await
        .expect("the decoder hangs");
        let mut out = Vec::new();
        while let Some(batch) = rx.recv().await {
            out.extend(batch.into_iter().map(|f| f.body));
        }
        out
    }

    /// What line framing must give: one frame per line; a line longer than `max` is
    /// quarantined with its first `max` bytes; a last line without `\n` is cut off.
    fn line_model(input: &[u8], max: usize) -> Vec<std::result::Result<Vec<u8>, Vec<u8>>> {
        let mut out = Vec::new();
        let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        let last = parts.pop().unwrap_or_default();
        for p in parts {
            if p.len() > max {
                out.push(Err(p[..max].to_vec()));
            } else {
                out.push(Ok(p.strip_suffix(b"\r").unwrap_or(p).to_vec()));
            }
        }
        if !last.is_empty() {
            out.push(Err(last[..last.len().min(max)].to_vec()));
        }
        out
    }

    fn kinds(got: Vec<FrameBody>) -> Vec<std::result::Result<Vec<u8>, Vec<u8>>> {
        got.into_iter().map(|b| b.map_err(|(_, raw)| raw)).collect()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn line_framing_keeps_every_line_in_any_segmentation(
            input in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..400),
            sizes in proptest::collection::vec(1usize..70, 1..6),
            max in 1usize..40,
        ) {
            let got = rt().block_on(frames_of(input.clone(), sizes, Framing::Line, max));
            prop_assert_eq!(kinds(got), line_model(&input, max));
        }

        #[test]
        fn len5_framing_gives_back_the_frames_sent(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..60), 0..12),
            tail in proptest::collection::vec(any::<u8>(), 0..12),
            sizes in proptest::collection::vec(1usize..70, 1..6),
            max in 1usize..50,
        ) {
            let mut input = Vec::new();
            for b in &bodies {
                input.extend_from_slice(format!("{:05}", b.len()).as_bytes());
                input.extend_from_slice(b);
            }
            // A tail that cannot be a header: it starts with a non-digit.
            let mut tail = tail;
            if let Some(first) = tail.first_mut() && first.is_ascii_digit() {
                *first = b'x';
            }
            input.extend_from_slice(&tail);
            let got = rt().block_on(frames_of(input, sizes, Framing::Len5, max));
            let mut expected: Vec<std::result::Result<Vec<u8>, Vec<u8>>> = bodies
                .iter()
                .map(|b| if b.len() > max { Err(b[..max].to_vec()) } else { Ok(b.clone()) })
                .collect();
            let got = kinds(got);
            if tail.is_empty() {
                prop_assert_eq!(got, expected);
            } else {
                // The bad header ends the stream: one last quarantined frame starting with it.
                prop_assert_eq!(got.len(), expected.len() + 1);
                let last = got.last().cloned().unwrap();
                let raw = last.unwrap_err();
                prop_assert!(raw.starts_with(&tail[..tail.len().min(5)]));
                expected.push(Err(raw));
                prop_assert_eq!(got, expected);
            }
        }

        #[test]
        fn len5_framing_of_random_bytes_stays_bounded(
            input in proptest::collection::vec(prop_oneof![(b'0'..=b'9'), any::<u8>()], 0..400),
            sizes in proptest::collection::vec(1usize..70, 1..6),
            max in 1usize..50,
        ) {
            let got = rt().block_on(frames_of(input.clone(), sizes, Framing::Len5, max));
            // Every frame is at most max bytes (a bad header keeps 5 more for the record), and
            // no byte is made up.
            let kept: usize = got.iter().map(|b| match b { Ok(v) => v.len(), Err((_, v)) => v.len() }).sum();
            prop_assert!(kept <= input.len());
            for b in &got {
                let n = match b { Ok(v) => v.len(), Err((_, v)) => v.len() };
                prop_assert!(n <= max + 5);
            }
        }
    }

    #[test]
    fn frames_read_back_from_their_log_records() {
        let (a, b): (std::sync::Arc<str>, std::sync::Arc<str>) = ("a:1".into(), "b:2".into());
        let frame = |peer: &std::sync::Arc<str>, n: u64, body: FrameBody| Frame {
            peer: peer.clone(),
            n,
            arrival: 1_000 + n as i64,
            body,
        };
        let frames = vec![
            frame(&a, 1, Ok(b"{\"text\": \"x\"}".to_vec())),
            frame(&a, 2, Err(("too long".into(), vec![0, 255, 7]))),
            frame(&a, 3, Ok(Vec::new())),
            frame(&b, 1, Ok(b"y".to_vec())),
        ];
        let records = encode(&frames);
        // One record per run of frames from one peer.
        assert_eq!(records.len(), 2);
        let back: Vec<Frame> = records
            .iter()
            .flat_map(|r| frames_from_log(r).expect("a log record"))
            .collect();
        let key = |f: &Frame| (f.peer.to_string(), f.n, f.arrival, f.body.clone());
        assert_eq!(
            back.iter().map(key).collect::<Vec<_>>(),
            frames.iter().map(key).collect::<Vec<_>>()
        );
        // A record cut short is not read as frames.
        let cut = &records[0][..records[0].len() - 1];
        assert!(frames_from_log(cut).is_none());
        assert!(frames_from_log(&[]).is_none());
    }

    #[test]
    fn a_sent_frame_reads_back_as_the_message() {
        let m = crate::records::MessageRow {
            event_time: 1_595_680_041_123_456,
            source: "replay".into(),
            message_id: Some("17".into()),
            channel: None,
            author: Some("ann".into()),
            text: "a \"quoted\" #tag\nover two lines".into(),
            language: Some("en".into()),
        };
        for framing in [Framing::Line, Framing::Len5] {
            let frame = encode_frame(framing, &m.as_ref()).unwrap();
            let got = rt().block_on(frames(&frame, framing, 1 << 20));
            let [Ok(body)] = got.as_slice() else {
                panic!("{got:?}")
            };
            let back = to_message(body, 0).unwrap().unwrap().into_owned();
            assert_eq!(
                back,
                crate::records::MessageRow {
                    source: "socket".into(),
                    ..m.clone()
                }
            );
        }
    }

    #[test]
    fn json_tweets_keep_their_time_and_text_gets_arrival() {
        let m = to_message(br##"{"created_at":"2021-11-27T10:18:33Z","text":"#a"}"##, 5)
            .unwrap()
            .unwrap();
        assert_eq!(m.event_time, 1_638_008_313_000_000);
        let m = to_message(b"plain #b", 5).unwrap().unwrap();
        assert_eq!((m.event_time, &*m.text), (5, "plain #b"));
        assert!(to_message(b"\xff\xfe", 5).is_err());
        assert!(to_message(br#"{"created_at":"never","text":"x"}"#, 5).is_err());
    }
}
