//! Live hashtag windows on the ingest path: the seeds' streaming top 10 (Spark Streaming's
//! `reduceByKeyAndWindow`, Wallaroo's running counts), kept in memory as messages arrive.
//!
//! Windows follow the batch `hashtags` job exactly (Spark's semantics): `[ws, ws + size)`
//! with `ws` a multiple of `slide` since the epoch; a message counts in every window that
//! covers its event time; the top k is ranked by count, ties by tag. State is per pane
//! (`gcd(size, slide)` long): a message adds to one pane, a window is the sum of its panes,
//! and a pane is dropped once every window over it has closed. The watermark is the largest
//! event time seen minus the allowed lateness; a window closes when the watermark reaches its
//! end, and is then reported once, final. A message for closed windows counts in their `late`
//! figure (the batch job's rerun folds it in). A pane holding more than `cap` distinct tags
//! evicts its rarest ones and the windows over it say how many tags they lost.
//!
//! Closed windows land in the lake as `live_hashtag_top_<size>_<slide>` (see [`tops_batch`]),
//! and a worker that restarts continues from there ([`landed`], [`Windows::restore`]): the
//! windows it closed before stay closed, and the open ones are rebuilt from the messages it
//! landed.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};
use datafusion::prelude::SessionContext;
use pulse_lake::schema::{duration_text, ts_type};

/// Tag counts, hashed with foldhash: a pane is updated for every tag of every message, and
/// SipHash (std's default, built against hash flooding) was a tenth of the live path.
type HashMap<K, V> = foldhash::HashMap<K, V>;

/// Window size and slide, and how many tags a top holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Window length, microseconds.
    pub size_us: i64,
    /// Distance between window starts, microseconds.
    pub slide_us: i64,
    /// Tags in a top.
    pub k: usize,
}

impl Spec {
    /// Parses `size=20s,slide=10s,k=10` (k defaults to 10).
    pub fn parse(text: &str) -> Result<Spec, String> {
        let (mut size, mut slide, mut k) = (None, None, 10usize);
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not NAME=VALUE (size, slide, k)"))?;
            let micros = |v: &str| {
                humantime::parse_duration(v)
                    .map_err(|e| format!("{key}={v:?}: {e}"))
                    .and_then(|d| {
                        i64::try_from(d.as_micros())
                            .ok()
                            .filter(|m| *m > 0)
                            .ok_or_else(|| format!("{key}={v:?} must be longer than zero"))
                    })
            };
            match key {
                "size" => size = Some(micros(value)?),
                "slide" => slide = Some(micros(value)?),
                "k" => {
                    k = value
                        .parse()
                        .ok()
                        .filter(|k| *k > 0)
                        .ok_or_else(|| format!("k={value:?} is not a positive integer"))?
                }
                other => {
                    return Err(format!(
                        "unknown live window setting {other:?} (size, slide, k)"
                    ));
                }
            }
        }
        let size = size.ok_or("a live window needs size=")?;
        let slide = slide.unwrap_or(size);
        if size % slide != 0 && slide % size != 0 {
            return Err("window size and slide must divide into each other".into());
        }
        Ok(Spec {
            size_us: size,
            slide_us: slide,
            k,
        })
    }

    /// The shape's name, as in the batch job's outputs: `20s_10s`.
    pub fn name(&self) -> String {
        let text = |us: i64| duration_text(std::time::Duration::from_micros(us.max(0) as u64));
        format!("{}_{}", text(self.size_us), text(self.slide_us))
    }

    /// The lake table its closed windows land in: `live_hashtag_top_<size>_<slide>`.
    pub fn table(&self) -> String {
        format!("live_hashtag_top_{}", self.name())
    }

    fn pane_us(&self) -> i64 {
        gcd(self.size_us, self.slide_us)
    }

    /// The start of the earliest window that covers time `t`.
    pub fn first_window_over(&self, t: i64) -> i64 {
        (t - self.size_us).div_euclid(self.slide_us) * self.slide_us + self.slide_us
    }

    /// The starts of the windows covering time `t`, oldest first.
    pub fn windows_of(&self, t: i64) -> impl Iterator<Item = i64> + '_ {
        let last = t.div_euclid(self.slide_us) * self.slide_us;
        let n = (self.size_us + self.slide_us - 1) / self.slide_us;
        (0..n)
            .rev()
            .map(move |i| last - i * self.slide_us)
            .filter(move |ws| t < ws + self.size_us)
    }
}

/// Largest count first, ties by tag: the batch job's `ORDER BY n DESC, tag`.
fn rank(tags: &mut [(String, u64)]) {
    tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One window's top: what a live chart draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Top {
    /// Window start, microseconds since the epoch.
    pub window_start: i64,
    /// Window end (exclusive).
    pub window_end: i64,
    /// (tag, count), largest first, ties by tag.
    pub tags: Vec<(String, u64)>,
    /// True once the watermark passed the window's end: the counts no longer change.
    pub final_: bool,
    /// Messages that arrived after the window closed.
    pub late: u64,
    /// Distinct tags dropped from the window's panes by the cap.
    pub evicted: u64,
    /// Reported before, closed: only its late figure changed (it is not landed again).
    pub repeat: bool,
}

/// The live windows of one [`Spec`].
#[derive(Debug)]
pub struct Windows {
    spec: Spec,
    lateness_us: i64,
    cap: usize,
    panes: BTreeMap<i64, HashMap<String, u64>>,
    evicted: BTreeMap<i64, u64>,
    late: BTreeMap<i64, u64>,
    max_seen: Option<i64>,
    /// Windows starting before this have been reported final.
    closed_before: Option<i64>,
    /// The recently closed windows as reported, for late updates.
    recent: BTreeMap<i64, Top>,
    /// Closed windows whose late figure changed since the last [`Windows::close`].
    late_changed: std::collections::BTreeSet<i64>,
}

impl Windows {
    /// Live windows of `spec`, closing `lateness_us` after the latest event time, at most
    /// `cap` distinct tags a pane.
    pub fn new(spec: Spec, lateness_us: i64, cap: usize) -> Windows {
        Windows {
            spec,
            lateness_us: lateness_us.max(0),
            cap: cap.max(1),
            panes: BTreeMap::new(),
            evicted: BTreeMap::new(),
            late: BTreeMap::new(),
            max_seen: None,
            closed_before: None,
            recent: BTreeMap::new(),
            late_changed: Default::default(),
        }
    }

    /// The spec.
    pub fn spec(&self) -> Spec {
        self.spec
    }

    /// The watermark: the latest event time seen minus the lateness.
    pub fn watermark(&self) -> Option<i64> {
        self.max_seen.map(|m| m - self.lateness_us)
    }

    fn is_closed(&self, ws: i64) -> bool {
        self.closed_before.is_some_and(|c| ws < c)
    }

    /// Whether the window starting at `ws` has a pane with data.
    fn holds_data(&self, ws: i64) -> bool {
        self.panes
            .range(ws..ws + self.spec.size_us)
            .next()
            .is_some()
    }

    /// Counts a message at event time `t` with its tags.
    pub fn add(&mut self, t: i64, tags: &[String]) {
        if tags.is_empty() {
            return;
        }
        let mut open = false;
        for ws in self.spec.windows_of(t) {
            if self.is_closed(ws) {
                *self.late.entry(ws).or_default() += 1;
                if let Some(top) = self.recent.get_mut(&ws) {
                    top.late += 1;
                    self.late_changed.insert(ws);
                }
            } else {
                open = true;
            }
        }
        if open {
            let pane = t.div_euclid(self.spec.pane_us()) * self.spec.pane_us();
            self.count(pane, tags);
        }
        self.max_seen = Some(self.max_seen.map_or(t, |m| m.max(t)));
    }

    fn count(&mut self, pane: i64, tags: &[String]) {
        let counts = self.panes.entry(pane).or_default();
        for tag in tags {
            match counts.get_mut(tag.as_str()) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(tag.clone(), 1);
                }
            }
        }
        if counts.len() > self.cap {
            let dropped = evict(counts, self.cap);
            *self.evicted.entry(pane).or_default() += dropped;
        }
    }

    /// Continues after a restart: the windows starting before `closed_before` were closed
    /// (and landed) before, and `messages` (event time, tags) are the landed messages from
    /// `closed_before` on, which the open windows hold. Nothing is counted late; the next
    /// [`Windows::close`] closes what the restored watermark has passed.
    pub fn restore(
        &mut self,
        closed_before: i64,
        messages: impl IntoIterator<Item = (i64, Vec<String>)>,
    ) {
        self.closed_before = Some(closed_before);
        let pane_us = self.spec.pane_us();
        for (t, tags) in messages {
            // As in `add`: an untagged message moves nothing, not even the watermark.
            if t < closed_before || tags.is_empty() {
                continue;
            }
            self.count(t.div_euclid(pane_us) * pane_us, &tags);
            self.max_seen = Some(self.max_seen.map_or(t, |m| m.max(t)));
        }
    }

    fn top(&self, ws: i64, final_: bool) -> Top {
        let end = ws + self.spec.size_us;
        let mut sum: HashMap<&str, u64> = HashMap::default();
        let mut evicted = 0;
        for (pane, counts) in self.panes.range(ws..end) {
            for (tag, n) in counts {
                *sum.entry(tag.as_str()).or_default() += n;
            }
            evicted += self.evicted.get(pane).copied().unwrap_or(0);
        }
        let mut tags: Vec<(String, u64)> =
            sum.into_iter().map(|(t, n)| (t.to_string(), n)).collect();
        rank(&mut tags);
        tags.truncate(self.spec.k);
        Top {
            window_start: ws,
            window_end: end,
            tags,
            final_,
            late: self.late.get(&ws).copied().unwrap_or(0),
            evicted,
            repeat: false,
        }
    }

    /// The windows that still change and hold data, oldest first.
    pub fn open(&self) -> Vec<Top> {
        let (Some(first), Some(last)) = (self.panes.keys().next(), self.panes.keys().next_back())
        else {
            return Vec::new();
        };
        let slide = self.spec.slide_us;
        let mut ws = self.spec.first_window_over(*first);
        let mut out = Vec::new();
        while ws <= *last {
            if !self.is_closed(ws) && self.holds_data(ws) {
                out.push(self.top(ws, false));
            }
            ws += slide;
        }
        out
    }

    /// Closes the windows the watermark has passed and returns them, final, oldest first,
    /// then the closed windows that counted late messages since (again, with the new late
    /// figure); drops the panes no open window needs.
    pub fn close(&mut self) -> Vec<Top> {
        let Some(wm) = self.watermark() else {
            return Vec::new();
        };
        let slide = self.spec.slide_us;
        // Windows with ws + size <= wm are closed: the first open one is the first over wm.
        let limit = self.spec.first_window_over(wm);
        if self.closed_before == Some(limit) && self.late_changed.is_empty() {
            // Nothing closed since the last call (the common case, once per message).
            return Vec::new();
        }
        let first = self
            .panes
            .keys()
            .next()
            .map(|p| self.spec.first_window_over(*p));
        let from = match (self.closed_before, first) {
            (Some(c), Some(f)) => c.max(f),
            (Some(c), None) => c,
            (None, Some(f)) => f,
            (None, None) => limit,
        };
        let mut out = Vec::new();
        let mut ws = from;
        while ws < limit {
            if self.holds_data(ws) {
                out.push(self.top(ws, true));
            }
            ws += slide;
        }
        if self.closed_before.is_none_or(|c| limit > c) {
            self.closed_before = Some(limit);
        }
        // A pane is needed while a window over it is open: the latest such starts at or
        // before the pane, so panes before `limit` (the first open window) can go.
        self.panes = self.panes.split_off(&limit);
        self.evicted = self.evicted.split_off(&limit);
        // Late figures are kept for a while for the closed windows' updates.
        let horizon = limit - 64 * self.spec.size_us.max(slide);
        self.late = self.late.split_off(&horizon);
        for top in &out {
            self.recent.insert(top.window_start, top.clone());
        }
        self.recent = self.recent.split_off(&horizon);
        for ws in std::mem::take(&mut self.late_changed) {
            if let Some(top) = self.recent.get(&ws) {
                out.push(Top {
                    repeat: true,
                    ..top.clone()
                });
            }
        }
        out
    }

    /// Closes every window, as at the end of the input: all of them are final.
    pub fn close_all(&mut self) -> Vec<Top> {
        let Some(last) = self.max_seen else {
            return Vec::new();
        };
        self.max_seen = Some(last + self.lateness_us + self.spec.size_us + self.spec.slide_us);
        let out = self.close();
        self.max_seen = Some(last);
        out
    }

    /// How far behind the newest event time the watermark is, microseconds.
    pub fn lateness_us(&self) -> i64 {
        self.lateness_us
    }

    /// The newest event time counted.
    pub fn newest(&self) -> Option<i64> {
        self.max_seen
    }

    /// Distinct tags held, over all panes (what the memory is proportional to).
    pub fn held(&self) -> usize {
        self.panes.values().map(HashMap::len).sum()
    }
}

/// The schema of a `live_hashtag_top_*` table (partitioned by `dt`, the window start's UTC
/// date): the batch `hashtag_top_*` columns, the late and evicted figures as they were when
/// the window closed, and the source whose messages it counted.
pub fn tops_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let i = |n: &str| Field::new(n, DataType::Int64, false);
        Arc::new(Schema::new(vec![
            Field::new("window_start", ts_type(), false),
            Field::new("window_end", ts_type(), false),
            i("rank"),
            Field::new("tag", DataType::Utf8, false),
            i("n"),
            i("late"),
            i("evicted_tags"),
            Field::new("source", DataType::Utf8, false),
        ]))
    })
    .clone()
}

/// Closed windows of `source` as rows of [`tops_schema`], one per (window, rank).
pub fn tops_batch(tops: &[Top], source: &str) -> Result<RecordBatch, arrow::error::ArrowError> {
    let rows = tops.iter().flat_map(|t| {
        t.tags
            .iter()
            .enumerate()
            .map(move |(r, (tag, n))| (t, r as i64 + 1, tag, *n as i64))
    });
    let (mut ws, mut we, mut rank, mut tag, mut n, mut late, mut ev) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (t, r, g, c) in rows {
        ws.push(t.window_start);
        we.push(t.window_end);
        rank.push(r);
        tag.push(g.as_str());
        n.push(c);
        late.push(t.late as i64);
        ev.push(t.evicted as i64);
    }
    let sources = StringArray::from(vec![source; ws.len()]);
    let ts = |v: Vec<i64>| Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"));
    RecordBatch::try_new(
        tops_schema(),
        vec![
            ts(ws),
            ts(we),
            Arc::new(Int64Array::from(rank)),
            Arc::new(StringArray::from(tag)),
            Arc::new(Int64Array::from(n)),
            Arc::new(Int64Array::from(late)),
            Arc::new(Int64Array::from(ev)),
            Arc::new(sources),
        ],
    )
}

/// What a worker left in the lake for one window shape: where its closed windows end and the
/// messages its open windows held.
#[derive(Debug, Default)]
pub struct Landed {
    /// The first window still open (none: the source landed nothing).
    pub closed_before: Option<i64>,
    /// The last closed windows (up to `keep`), oldest first, as they landed.
    pub recent: Vec<Top>,
    /// (event time, text) of the landed messages of the source from `closed_before` on.
    pub messages: Vec<(i64, String)>,
}

/// A SQL string literal.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn day(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The answer of `sql`.
async fn rows(ctx: &SessionContext, sql: &str) -> crate::Result<Vec<RecordBatch>> {
    let df = |e: datafusion::error::DataFusionError| crate::Error::Lake(e.into());
    ctx.sql(sql).await.map_err(df)?.collect().await.map_err(df)
}

/// The first value of a one-row answer's first column, as a timestamp.
async fn one_time(ctx: &SessionContext, sql: &str) -> crate::Result<Option<i64>> {
    Ok(rows(ctx, sql)
        .await?
        .first()
        .filter(|b| b.num_rows() == 1 && !b.column(0).is_null(0))
        .and_then(|b| b.column(0).as_primitive_opt::<TimestampMicrosecondType>())
        .map(|a| a.value(0)))
}

/// Reads what an earlier worker of `source` landed for `spec`, whose windows close
/// `lateness_us` after the newest event time (see [`Landed`]). The windows up to the last
/// landed one are closed; when none landed yet, those its newest message's watermark closed.
/// `ctx` is a session over the lake ([`pulse_lake::catalog::session`]).
pub async fn landed(
    ctx: &SessionContext,
    spec: Spec,
    lateness_us: i64,
    source: &str,
    keep: usize,
) -> crate::Result<Landed> {
    let df = |e: datafusion::error::DataFusionError| crate::Error::Lake(e.into());
    let bad = |what: &str| {
        crate::Error::Lake(pulse_lake::Error::Partition {
            table: what.to_string(),
            reason: "does not have the table's schema".into(),
        })
    };
    let table = spec.table();
    let src = quoted(source);
    let last = if ctx.table_exist(table.as_str()).map_err(df)? {
        one_time(
            ctx,
            &format!("SELECT max(window_start) FROM \"{table}\" WHERE source = {src}"),
        )
        .await?
    } else {
        None
    };
    let closed_before = match last {
        Some(last) => last + spec.slide_us,
        None => {
            let newest = one_time(
                ctx,
                &format!("SELECT max(event_time) FROM messages WHERE source = {src}"),
            )
            .await?;
            match newest {
                Some(t) => spec.first_window_over(t - lateness_us.max(0)),
                None => return Ok(Landed::default()),
            }
        }
    };
    let mut recent: Vec<Top> = Vec::new();
    // Strings may read as views; one cast gives one type to look at.
    let utf8 = |a: &arrow::array::ArrayRef| arrow::compute::cast(a, &DataType::Utf8);
    if last.is_some() {
        let from = closed_before - keep as i64 * spec.slide_us;
        let rows = rows(
            ctx,
            &format!(
                "SELECT window_start, window_end, tag, n, late, evicted_tags FROM \"{table}\" \
                 WHERE source = {src} AND dt >= '{}' AND window_start >= to_timestamp_micros({from}) \
                 ORDER BY window_start, rank",
                day(from)
            ),
        )
        .await?;
        for b in &rows {
            let col = |i: usize| b.column(i);
            let tag = utf8(col(2))?;
            let (Some(ws), Some(we), Some(tag), Some(n), Some(late), Some(ev)) = (
                col(0).as_primitive_opt::<TimestampMicrosecondType>(),
                col(1).as_primitive_opt::<TimestampMicrosecondType>(),
                tag.as_string_opt::<i32>(),
                col(3).as_primitive_opt::<arrow::datatypes::Int64Type>(),
                col(4).as_primitive_opt::<arrow::datatypes::Int64Type>(),
                col(5).as_primitive_opt::<arrow::datatypes::Int64Type>(),
            ) else {
                return Err(bad(&table));
            };
            for r in 0..b.num_rows() {
                if recent.last().is_none_or(|t| t.window_start != ws.value(r)) {
                    recent.push(Top {
                        window_start: ws.value(r),
                        window_end: we.value(r),
                        tags: Vec::new(),
                        final_: true,
                        late: late.value(r).max(0) as u64,
                        evicted: ev.value(r).max(0) as u64,
                        repeat: true,
                    });
                }
                if let Some(t) = recent.last_mut() {
                    t.tags
                        .push((tag.value(r).to_string(), n.value(r).max(0) as u64));
                }
            }
        }
    }
    let rows = rows(
        ctx,
        &format!(
            "SELECT event_time, text FROM messages WHERE source = {src} \
             AND dt >= '{}' AND event_time >= to_timestamp_micros({closed_before})",
            day(closed_before)
        ),
    )
    .await?;
    let mut messages = Vec::new();
    for b in &rows {
        let text = utf8(b.column(1))?;
        let (Some(t), Some(text)) = (
            b.column(0).as_primitive_opt::<TimestampMicrosecondType>(),
            text.as_string_opt::<i32>(),
        ) else {
            return Err(bad("messages"));
        };
        for r in 0..b.num_rows() {
            if !t.is_null(r) && !text.is_null(r) {
                messages.push((t.value(r), text.value(r).to_string()));
            }
        }
    }
    Ok(Landed {
        closed_before: Some(closed_before),
        recent,
        messages,
    })
}

/// Keeps the `cap` most frequent tags of a pane (ties by tag); returns how many went.
fn evict(counts: &mut HashMap<String, u64>, cap: usize) -> u64 {
    // Evict down to 90% of the cap, so a flood does not evict on every message.
    let keep = (cap * 9 / 10).max(1);
    let mut all: Vec<(String, u64)> = counts.drain().collect();
    rank(&mut all);
    let dropped = all.len().saturating_sub(keep) as u64;
    counts.extend(all.into_iter().take(keep));
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    /// What the batch job computes: every window's tags counted from scratch.
    fn brute(spec: Spec, msgs: &[(i64, Vec<String>)]) -> BTreeMap<i64, Vec<(String, u64)>> {
        let mut w: BTreeMap<i64, HashMap<String, u64>> = BTreeMap::new();
        for (t, tags) in msgs {
            for ws in spec.windows_of(*t) {
                for tag in tags {
                    *w.entry(ws).or_default().entry(tag.clone()).or_default() += 1;
                }
            }
        }
        w.into_iter()
            .map(|(ws, c)| {
                let mut v: Vec<(String, u64)> = c.into_iter().collect();
                // Ranked here as the batch job's SQL says, not with the code under test.
                v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                v.truncate(spec.k);
                (ws, v)
            })
            .collect()
    }

    fn stream(seed: u64, n: usize) -> Vec<(i64, Vec<String>)> {
        let mut r = crate::rng::Rng::new(seed);
        let mut t = 1_767_571_200 * S;
        (0..n)
            .map(|_| {
                t += r.below(3) as i64 * S / 2;
                let tags = (0..1 + r.below(3))
                    .map(|_| format!("t{}", r.below(12)))
                    .collect();
                (t, tags)
            })
            .collect()
    }

    #[test]
    fn closed_windows_equal_a_recount_for_every_shape() {
        for (size, slide) in [(20, 10), (60, 5), (10, 10), (10, 30), (30, 20)] {
            let Ok(spec) = Spec::parse(&format!("size={size}s,slide={slide}s,k=5")) else {
                assert!(size % slide != 0 && slide % size != 0, "{size}/{slide}");
                continue;
            };
            let msgs = stream(size as u64 * 31 + slide as u64, 2000);
            let mut w = Windows::new(spec, 0, 10_000);
            let mut got = BTreeMap::new();
            for (t, tags) in &msgs {
                w.add(*t, tags);
                for top in w.close() {
                    assert!(top.final_);
                    assert!(
                        got.insert(top.window_start, top.tags).is_none(),
                        "closed twice"
                    );
                }
            }
            let want = brute(spec, &msgs);
            // Every window the watermark passed, exactly once, equal to the recount.
            let wm = w.watermark().unwrap();
            let closed: BTreeMap<i64, Vec<(String, u64)>> = want
                .iter()
                .filter(|(ws, _)| *ws + spec.size_us <= wm)
                .map(|(ws, v)| (*ws, v.clone()))
                .collect();
            assert_eq!(got, closed, "{size}s/{slide}s");
            // The open ones are the recount so far too.
            for top in w.open() {
                assert!(top.window_start + spec.size_us > wm);
                assert_eq!(Some(&top.tags), want.get(&top.window_start), "open window");
            }
            assert!(w.held() <= 12 * (spec.size_us / spec.pane_us() + 1) as usize);
        }
    }

    #[test]
    fn a_restored_worker_closes_what_an_uninterrupted_one_would() {
        let spec = Spec::parse("size=60s,slide=5s,k=5").unwrap();
        let msgs = stream(7, 3000);
        let cut = 1500;
        let mut a = Windows::new(spec, 0, 10_000);
        let mut got = BTreeMap::new();
        for (t, tags) in &msgs[..cut] {
            a.add(*t, tags);
            for top in a.close() {
                got.insert(top.window_start, top.tags);
            }
        }
        // What a restart finds in the lake: the last window landed, and every message
        // (the restore skips those before the first open window).
        let closed_before = got.keys().last().unwrap() + spec.slide_us;
        let mut b = Windows::new(spec, 0, 10_000);
        // An untagged message moves nothing, as in `add`.
        let untagged = (msgs[cut - 1].0 + 3600 * S, Vec::new());
        b.restore(closed_before, msgs[..cut].iter().cloned().chain([untagged]));
        assert_eq!(b.watermark(), a.watermark());
        let mut close = |b: &mut Windows| {
            for top in b.close() {
                assert!(!top.repeat && top.late == 0);
                assert!(
                    got.insert(top.window_start, top.tags).is_none(),
                    "closed twice"
                );
            }
        };
        close(&mut b);
        for (t, tags) in &msgs[cut..] {
            b.add(*t, tags);
            close(&mut b);
        }
        let wm = b.watermark().unwrap();
        let want: BTreeMap<i64, Vec<(String, u64)>> = brute(spec, &msgs)
            .into_iter()
            .filter(|(ws, _)| *ws + spec.size_us <= wm)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn late_messages_count_as_late_and_on_time_ones_within_the_lateness() {
        let spec = Spec::parse("size=20s,slide=10s,k=3").unwrap();
        let base = 1_767_571_200 * S;
        let secs =
            |v: &[Top]| -> Vec<i64> { v.iter().map(|t| (t.window_start - base) / S).collect() };
        let mut w = Windows::new(spec, 5 * S, 100);
        let tag = |s: &str| vec![s.to_string()];
        w.add(base + S, &tag("a"));
        w.add(base + 24 * S, &tag("b")); // watermark 19 s: [-10, 10) closes
        let closed = w.close();
        assert_eq!(secs(&closed), [-10]);
        assert_eq!(closed[0].tags, vec![("a".to_string(), 1)]);
        // 12 s arrives after 24 s, within the 5 s lateness: counted in [0, 20) and [10, 30).
        w.add(base + 12 * S, &tag("a"));
        w.add(base + 40 * S, &tag("c")); // watermark 35 s
        let closed = w.close();
        assert_eq!(secs(&closed), [0, 10]);
        assert_eq!(closed[0].tags, vec![("a".to_string(), 2)]);
        assert_eq!(
            closed[1].tags,
            vec![("a".to_string(), 1), ("b".to_string(), 1)]
        );
        // 15 s is now too late for both of its windows: counted as late, not lost.
        w.add(base + 15 * S, &tag("a"));
        w.add(base + 50 * S, &tag("c")); // watermark 45 s: [20, 40) closes
        let closed = w.close();
        // [20, 40) closes; [0, 20) and [10, 30) are reported again, their late figure 1.
        assert_eq!(secs(&closed), [20, 0, 10]);
        assert_eq!(closed[0].tags, vec![("b".to_string(), 1)]);
        assert_eq!(closed[0].late, 0);
        assert_eq!((closed[1].late, closed[2].late), (1, 1));
        assert_eq!(closed[1].tags, vec![("a".to_string(), 2)]);
        assert_eq!(
            closed[2].tags,
            vec![("a".to_string(), 1), ("b".to_string(), 1)]
        );
        assert!(w.close().is_empty(), "reported once per change");
        // The open windows hold the rest: [30, 50), [40, 60) and [50, 70).
        assert_eq!(secs(&w.open()), [30, 40, 50]);
    }

    #[test]
    fn a_flood_of_unique_tags_stays_under_the_cap_and_says_so() {
        let spec = Spec::parse("size=1h,slide=5m,k=10").unwrap();
        let mut w = Windows::new(spec, 0, 1000);
        let base = 1_767_571_200 * S;
        for i in 0..50_000i64 {
            let mut tags = vec![format!("unique{i}")];
            if i % 10 == 0 {
                tags.push("steady".into());
            }
            w.add(base + i * 10_000, &tags);
        }
        assert!(w.held() <= 1000 * 13, "{}", w.held());
        // The window starting at `base` holds all 500 s: the tag in every tenth message is
        // whole, thousands of one-off tags were evicted, and it says so.
        let all = w
            .open()
            .into_iter()
            .find(|t| t.window_start == base)
            .unwrap();
        assert!(all.evicted > 40_000, "{}", all.evicted);
        assert_eq!(all.tags[0], ("steady".to_string(), 5000));
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            Spec::parse("size=20s,slide=10s").unwrap(),
            Spec {
                size_us: 20 * S,
                slide_us: 10 * S,
                k: 10
            }
        );
        for bad in [
            "slide=10s",
            "size=20s,slide=7s",
            "size=0s",
            "size=1h,k=0",
            "size=1h,x=1",
            "size",
        ] {
            assert!(Spec::parse(bad).is_err(), "{bad}");
        }
    }
}
