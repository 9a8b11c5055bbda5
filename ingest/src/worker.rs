//! The one buffering and flushing mechanism every source uses.
//!
//! A source pushes records with a *key* naming the input position they came from (a file's
//! content hash and line, a snapshot time, a frame range). The key of the first record in the
//! buffer names the files of the next flush, so the same input cut at the same places lands
//! under the same names: replays overwrite instead of duplicating. A flush happens when
//! `flush_rows` records are buffered, when `flush_interval` has passed on the source's clock,
//! and at shutdown. A failed flush keeps the buffer, so nothing fetched is lost.

use std::time::{Duration, Instant};

use pulse_lake::land::Lander;

use crate::Result;
use crate::records::{Buffers, MessageRef, QuarantineRow, Record};

/// When to flush.
#[derive(Debug, Clone, Copy)]
pub struct FlushPolicy {
    /// Flush at least this often.
    pub interval: Duration,
    /// Flush when this many records are buffered.
    pub rows: usize,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy {
            interval: Duration::from_secs(60),
            rows: 500_000,
        }
    }
}

/// Counters a worker logs and returns.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Good records landed.
    pub records: u64,
    /// Records quarantined.
    pub quarantined: u64,
    /// Files written (raw and quarantine).
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Flushes done.
    pub flushes: u64,
}

/// Where live windows go (see [`Worker::with_live`]).
pub trait LiveSink: Send {
    /// A window that closed (final), or, from [`Worker::publish_live`], one still open.
    fn window(&mut self, spec: crate::live::Spec, top: crate::live::Top);
    /// A window an earlier worker closed and landed (from [`Worker::resume_live`]).
    fn history(&mut self, _spec: crate::live::Spec, _top: crate::live::Top) {}
    /// Called after each [`Worker::publish_live`] round, with the newest event time counted.
    fn tick(&mut self, _newest_event: Option<i64>) {}
}

struct Sink(Box<dyn LiveSink>);

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveSink")
    }
}

/// Buffers records of one source and lands them.
#[derive(Debug)]
pub struct Worker {
    lander: Lander,
    source: String,
    policy: FlushPolicy,
    buf: Buffers,
    first_key: Option<String>,
    /// The source clock reading when the buffer got its first record.
    opened_at: Option<Duration>,
    stats: Stats,
    started: Instant,
    live: Vec<crate::live::Windows>,
    /// Closed windows not landed yet, per live window shape.
    live_pending: Vec<Vec<crate::live::Top>>,
    sink: Option<Sink>,
}

impl Worker {
    /// A worker landing into `lander`'s lake under the name of `source`.
    pub fn new(lander: Lander, source: &str, policy: FlushPolicy) -> Worker {
        Worker {
            lander,
            source: source.to_string(),
            policy,
            buf: Buffers::default(),
            first_key: None,
            opened_at: None,
            stats: Stats::default(),
            started: Instant::now(),
            live: Vec::new(),
            live_pending: Vec::new(),
            sink: None,
        }
    }

    /// Keeps live hashtag windows over the messages pushed (before they land), handing each
    /// window to `sink` once the watermark closes it. Closed windows land with the messages,
    /// in `live_hashtag_top_<size>_<slide>` (see [`crate::live`]).
    pub fn with_live(
        mut self,
        windows: Vec<crate::live::Windows>,
        sink: Box<dyn LiveSink>,
    ) -> Worker {
        self.live_pending = windows.iter().map(|_| Vec::new()).collect();
        self.live = windows;
        self.sink = Some(Sink(sink));
        self
    }

    /// Continues the live windows of an earlier worker of this source on this lake (after a
    /// restart): the windows it closed stay closed, its last closed ones go to the sink as
    /// history, and the open ones are rebuilt from the messages it landed (see
    /// [`crate::live::landed`]). Windows the restored watermark has passed close now (and
    /// land at the next flush).
    pub async fn resume_live(&mut self, keep: usize) -> Result<()> {
        if self.live.is_empty() {
            return Ok(());
        }
        // One session over the lake serves every window shape.
        let ctx = pulse_lake::catalog::session(self.lander.lake()).await?;
        for i in 0..self.live.len() {
            let spec = self.live[i].spec();
            let lateness = self.live[i].lateness_us();
            let landed = crate::live::landed(&ctx, spec, lateness, &self.source, keep).await?;
            let Some(closed_before) = landed.closed_before else {
                continue;
            };
            tracing::info!(
                live = %spec.name(),
                messages = landed.messages.len(),
                windows = landed.recent.len(),
                "live windows resumed from the lake"
            );
            if let Some(sink) = self.sink.as_mut() {
                for top in landed.recent {
                    sink.0.history(spec, top);
                }
            }
            let w = &mut self.live[i];
            w.restore(
                closed_before,
                landed
                    .messages
                    .iter()
                    .map(|(t, text)| (*t, pulse_udfs::hashtags::extract(text))),
            );
            let closed = w.close();
            self.hand_over(i, closed);
        }
        Ok(())
    }

    /// Gives closed windows of live shape `i` to the sink and queues them for landing.
    fn hand_over(&mut self, i: usize, closed: Vec<crate::live::Top>) {
        let spec = self.live[i].spec();
        for top in closed {
            if !top.repeat && top.final_ {
                self.live_pending[i].push(top.clone());
            }
            if let Some(sink) = self.sink.as_mut() {
                sink.0.window(spec, top);
            }
        }
    }

    /// Hands every open live window, as it stands, to the sink (a live chart's refresh).
    pub fn publish_live(&mut self) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        let mut newest = None;
        for w in &self.live {
            for top in w.open() {
                sink.0.window(w.spec(), top);
            }
            newest = newest.max(w.newest());
        }
        sink.0.tick(newest);
    }

    /// The live windows.
    pub fn live(&self) -> &[crate::live::Windows] {
        &self.live
    }

    fn feed_live(&mut self, event_time: i64, text: &str) {
        if self.live.is_empty() {
            return;
        }
        let tags = pulse_udfs::hashtags::extract(text);
        for i in 0..self.live.len() {
            let w = &mut self.live[i];
            w.add(event_time, &tags);
            let closed = w.close();
            if !closed.is_empty() {
                self.hand_over(i, closed);
            }
        }
    }

    /// Hands the live windows still open to the sink: as final when the input has ended
    /// (a replay; they land at the next flush), else as they stand (a live source stopping:
    /// a restarted worker rebuilds them from the landed messages).
    pub fn end_live(&mut self, input_ended: bool) {
        let mut newest = None;
        for i in 0..self.live.len() {
            let w = &mut self.live[i];
            newest = newest.max(w.newest());
            let rest = if input_ended { w.close_all() } else { w.open() };
            self.hand_over(i, rest);
        }
        if let Some(sink) = self.sink.as_mut() {
            sink.0.tick(newest);
        }
    }

    /// The lander (and so the lake) this worker writes to.
    pub fn lander(&self) -> &Lander {
        &self.lander
    }

    fn open(&mut self, key: impl FnOnce() -> String, clock: Duration) {
        if self.first_key.is_none() {
            self.first_key = Some(key());
            self.opened_at = Some(clock);
        }
    }

    /// Buffers a good record; `clock` is the source's clock (wall time since start for live
    /// sources, input time for replays).
    pub fn push(&mut self, key: impl FnOnce() -> String, clock: Duration, record: Record) {
        match record {
            Record::Message(m) => self.push_message(key, clock, &m.as_ref()),
            r => {
                self.open(key, clock);
                self.buf.push(r);
            }
        }
    }

    /// Buffers a message (straight into the columns); as [`Worker::push`].
    pub fn push_message(&mut self, key: impl FnOnce() -> String, clock: Duration, m: &MessageRef) {
        self.open(key, clock);
        self.feed_live(m.event_time, &m.text);
        self.buf.messages.push(m);
    }

    /// Buffers a quarantine record.
    pub fn quarantine(
        &mut self,
        key: impl FnOnce() -> String,
        clock: Duration,
        row: QuarantineRow,
    ) {
        tracing::debug!(source = %self.source, origin = %row.origin, reason = %row.reason, "quarantined");
        self.open(key, clock);
        self.buf.quarantine.push(row);
    }

    /// True when the buffer should be flushed at source clock `clock`.
    pub fn due(&self, clock: Duration) -> bool {
        self.buf.records() + self.buf.quarantine.len() >= self.policy.rows
            || self
                .opened_at
                .is_some_and(|t| clock.saturating_sub(t) >= self.policy.interval)
    }

    /// Flushes if [`Worker::due`].
    pub async fn maybe_flush(&mut self, clock: Duration) -> Result<()> {
        if self.due(clock) {
            self.flush().await?;
        }
        Ok(())
    }

    /// Lands everything buffered: the records, then the live windows closed since the last
    /// flush (their messages are in this flush or an earlier one, so a worker resuming from
    /// the lake never lacks a closed window's messages). On error what is left is kept for
    /// the next try.
    pub async fn flush(&mut self) -> Result<()> {
        self.flush_records().await?;
        for i in 0..self.live.len() {
            let Some(first) = self.live_pending[i].first() else {
                continue;
            };
            let spec = self.live[i].spec();
            let stem = format!("live-{}-{}", self.source, first.window_start);
            let batch = crate::live::tops_batch(&self.live_pending[i], &self.source)?;
            if batch.num_rows() > 0 {
                let dir = format!("agg/{}", spec.table());
                let schema = crate::live::tops_schema();
                for l in self
                    .lander
                    .land_by_day(&dir, "window_start", &schema, &batch, &stem)
                    .await?
                {
                    self.stats.files += 1;
                    self.stats.bytes += l.bytes as u64;
                }
            }
            self.live_pending[i].clear();
        }
        Ok(())
    }

    async fn flush_records(&mut self) -> Result<()> {
        let Some(stem) = self.first_key.clone() else {
            return Ok(());
        };
        let mut files = 0u64;
        let mut bytes = 0u64;
        for (_, landed) in self.buf.land(&self.lander, &stem).await? {
            for l in landed {
                files += 1;
                bytes += l.bytes as u64;
            }
        }
        if let Some(q) = self.buf.quarantine_batch(&self.source)? {
            for l in self.lander.quarantine(&self.source, &q, &stem).await? {
                files += 1;
                bytes += l.bytes as u64;
            }
        }
        self.stats.records += self.buf.records() as u64;
        self.stats.quarantined += self.buf.quarantine.len() as u64;
        self.stats.files += files;
        self.stats.bytes += bytes;
        self.stats.flushes += 1;
        self.buf.clear();
        self.first_key = None;
        self.opened_at = None;
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        tracing::info!(
            source = %self.source,
            records = self.stats.records,
            quarantined = self.stats.quarantined,
            files = self.stats.files,
            records_per_s = (self.stats.records as f64 / secs).round(),
            "flushed"
        );
        Ok(())
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Flushes what is left and returns the counters.
    pub async fn finish(mut self) -> Result<Stats> {
        self.flush().await?;
        Ok(self.stats)
    }
}

/// A receiver that turns true on SIGINT or SIGTERM, for workers to stop cleanly.
pub fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    // Registered here, not in the task: a SIGTERM sent once the caller is up (say, right after
    // it printed its address) must not meet the default action, which kills the process.
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term = match term {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    let _ = tx.send(true);
                    return;
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested: flushing");
        let _ = tx.send(true);
    });
    rx
}

/// Microseconds since the epoch of a UTC time.
pub fn micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}
