//! The rows ingest workers produce, one struct per raw table, and their conversion into
//! Arrow batches of the lake's schemas. Times are microseconds since the epoch, UTC.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, BinaryBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::SchemaRef;
use arrow::json::reader::ReaderBuilder;
use pulse_lake::schema::{RawTable, quarantine_schema};
use serde::Serialize;

use crate::Result;

/// A `streams` row: one live stream in one snapshot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StreamRow {
    pub snapshot_time: i64,
    pub channel_id: String,
    pub channel_login: String,
    pub title: Option<String>,
    pub category_id: Option<String>,
    pub category_name: Option<String>,
    pub language: Option<String>,
    pub viewers: Option<i64>,
    pub started_at: Option<i64>,
    pub tags: Option<Vec<String>>,
}

/// A `categories` row: one category in one snapshot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CategoryRow {
    pub snapshot_time: i64,
    pub category_id: Option<String>,
    pub category_name: String,
    pub viewers: Option<i64>,
    pub live_channels: Option<i64>,
    pub rank: Option<i64>,
}

/// A `presence` row: a viewer seen in a channel's chat in one snapshot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PresenceRow {
    pub snapshot_time: i64,
    pub channel_login: String,
    pub viewer_login: String,
}

/// A `messages` row: a tweet or a chat line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MessageRow {
    pub event_time: i64,
    pub source: String,
    pub message_id: Option<String>,
    pub channel: Option<String>,
    pub author: Option<String>,
    pub text: String,
    pub language: Option<String>,
}

impl MessageRow {
    /// The row as a [`MessageRef`] borrowing its strings.
    pub fn as_ref(&self) -> MessageRef<'_> {
        MessageRef {
            event_time: self.event_time,
            source: Cow::Borrowed(&self.source),
            message_id: self.message_id.as_deref().map(Cow::Borrowed),
            channel: self.channel.as_deref().map(Cow::Borrowed),
            author: self.author.as_deref().map(Cow::Borrowed),
            text: Cow::Borrowed(&self.text),
            language: self.language.as_deref().map(Cow::Borrowed),
        }
    }
}

/// A `messages` row borrowing its strings from the input it was parsed from (a frame, a
/// line of a file) where it can: the hot paths append it to the columns without owning it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRef<'a> {
    pub event_time: i64,
    pub source: Cow<'a, str>,
    pub message_id: Option<Cow<'a, str>>,
    pub channel: Option<Cow<'a, str>>,
    pub author: Option<Cow<'a, str>>,
    pub text: Cow<'a, str>,
    pub language: Option<Cow<'a, str>>,
}

impl MessageRef<'_> {
    /// The message with strings of its own.
    pub fn into_owned(self) -> MessageRow {
        MessageRow {
            event_time: self.event_time,
            source: self.source.into_owned(),
            message_id: self.message_id.map(Cow::into_owned),
            channel: self.channel.map(Cow::into_owned),
            author: self.author.map(Cow::into_owned),
            text: self.text.into_owned(),
            language: self.language.map(Cow::into_owned),
        }
    }
}

/// Messages are sealed into batches of this many rows as they arrive, and each sealed batch
/// is encoded to Parquet at once (see [`MessageColumns`]).
const CHUNK_ROWS: usize = 8192;

/// The `messages` columns, appended to as messages arrive (no row structs in between).
///
/// Every `CHUNK_ROWS` (8,192) messages the columns are sealed into a batch and encoded into the
/// Parquet files of the next flush, so a flush only encodes the last slice instead of
/// stopping the worker for the whole buffer. The sealed batches are kept until
/// [`Buffers::clear`]: they are what a flush lands when encoding as they came was not
/// possible (an encoding error, or rows added after a failed flush).
#[derive(Debug)]
pub struct MessageColumns {
    open: Builders,
    /// Batches sealed since the last clear.
    sealed: Vec<RecordBatch>,
    /// Rows in `sealed`.
    sealed_rows: usize,
    /// An encoder holding every sealed batch, while encoding as they come works (from a
    /// clear until an encoding error or [`MessageColumns::encode`]).
    encoder: Option<pulse_lake::land::Encoder>,
}

/// The builders of the rows not sealed yet.
#[derive(Debug)]
struct Builders {
    event_time: TimestampMicrosecondBuilder,
    source: StringBuilder,
    message_id: StringBuilder,
    channel: StringBuilder,
    author: StringBuilder,
    text: StringBuilder,
    language: StringBuilder,
}

impl Builders {
    /// Empty builders with room for `rows` messages and `bytes[i]` bytes in string column `i`
    /// (in schema order, after `event_time`): sized like the last chunk, the next one's
    /// columns are not copied as they grow.
    fn with_room(rows: usize, bytes: [usize; 6]) -> Builders {
        let string = |i: usize| StringBuilder::with_capacity(rows, bytes[i]);
        Builders {
            event_time: TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            source: string(0),
            message_id: string(1),
            channel: string(2),
            author: string(3),
            text: string(4),
            language: string(5),
        }
    }

    fn len(&self) -> usize {
        self.event_time.len()
    }

    /// The rows as a batch, leaving empty builders with room for as many.
    fn take(&mut self) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
        let bytes = [
            &self.source,
            &self.message_id,
            &self.channel,
            &self.author,
            &self.text,
            &self.language,
        ]
        .map(|b| b.values_slice().len());
        let mut done = std::mem::replace(self, Builders::with_room(self.len(), bytes));
        RecordBatch::try_new(
            RawTable::Messages.schema(),
            vec![
                Arc::new(done.event_time.finish()),
                Arc::new(done.source.finish()),
                Arc::new(done.message_id.finish()),
                Arc::new(done.channel.finish()),
                Arc::new(done.author.finish()),
                Arc::new(done.text.finish()),
                Arc::new(done.language.finish()),
            ],
        )
    }
}

impl Default for MessageColumns {
    fn default() -> Self {
        MessageColumns {
            open: Builders::with_room(CHUNK_ROWS, [CHUNK_ROWS * 16; 6]),
            sealed: Vec::new(),
            sealed_rows: 0,
            encoder: Some(pulse_lake::land::Encoder::new(RawTable::Messages)),
        }
    }
}

impl MessageColumns {
    /// Appends one message.
    pub fn push(&mut self, m: &MessageRef<'_>) {
        let o = &mut self.open;
        o.event_time.append_value(m.event_time);
        o.source.append_value(&m.source);
        o.message_id.append_option(m.message_id.as_deref());
        o.channel.append_option(m.channel.as_deref());
        o.author.append_option(m.author.as_deref());
        o.text.append_value(&m.text);
        o.language.append_option(m.language.as_deref());
        if o.len() >= CHUNK_ROWS {
            self.seal();
        }
    }

    /// Messages appended.
    pub fn len(&self) -> usize {
        self.open.len() + self.sealed_rows
    }

    /// True when no message is appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the columns.
    pub fn clear(&mut self) {
        if self.open.len() > 0 {
            self.open = Builders::with_room(CHUNK_ROWS, [CHUNK_ROWS * 16; 6]);
        }
        self.sealed.clear();
        self.sealed_rows = 0;
        self.encoder = Some(pulse_lake::land::Encoder::new(RawTable::Messages));
    }

    /// Moves the rows in the builders into a sealed batch, encoding it while the encoder
    /// holds every batch before it; an encoding error ends that until the next clear (the
    /// flush then encodes the sealed batches).
    fn seal(&mut self) {
        if self.open.len() == 0 {
            return;
        }
        match self.open.take() {
            Ok(b) => {
                if let Some(e) = self.encoder.as_mut()
                    && let Err(err) = e.write(&b)
                {
                    tracing::warn!(error = %err, "encoding messages as they come failed; the flush encodes them");
                    self.encoder = None;
                }
                self.sealed_rows += b.num_rows();
                self.sealed.push(b);
            }
            // The builders follow the schema by construction.
            Err(e) => tracing::error!(error = %e, "messages do not fit their schema"),
        }
    }

    /// Every message appended, encoded as the `messages` files of a landing (one per hour).
    /// The sealed batches stay until [`MessageColumns::clear`]; the encoder does not (a later
    /// try encodes them again).
    pub fn encode(&mut self) -> Result<pulse_lake::land::Encoded> {
        self.seal();
        let e = match self.encoder.take() {
            Some(e) => e,
            None => {
                let mut e = pulse_lake::land::Encoder::new(RawTable::Messages);
                for b in &self.sealed {
                    e.write(b)?;
                }
                e
            }
        };
        Ok(e.finish()?)
    }

    /// Every message appended, as one batch of the `messages` schema.
    pub fn batch(&mut self) -> Result<RecordBatch> {
        self.seal();
        Ok(arrow::compute::concat_batches(
            &RawTable::Messages.schema(),
            &self.sealed,
        )?)
    }
}

/// A `channels` row: the channel dimension as observed at one time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChannelRow {
    pub observed_at: i64,
    pub channel_id: String,
    pub login: String,
    pub display_name: Option<String>,
    pub followers: Option<i64>,
    pub total_views: Option<i64>,
    pub created_at: Option<i64>,
    pub description: Option<String>,
    pub language: Option<String>,
    pub team: Option<String>,
}

/// A row of a relation table (`teams`, `vips`, `moderators`, `chatters`): channel and the
/// other side (a team name or a login).
#[derive(Debug, Clone, PartialEq)]
pub struct RelationRow {
    pub observed_at: i64,
    pub channel_id: String,
    pub other: String,
}

/// A bad input record, kept with why and where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantineRow {
    pub received_at: i64,
    pub origin: String,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// One record for the lake.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Stream(StreamRow),
    Category(CategoryRow),
    Presence(PresenceRow),
    Message(MessageRow),
    Channel(ChannelRow),
    /// A relation row and the table it belongs to.
    Relation(RawTable, RelationRow),
}

fn serde_batch<T: Serialize>(schema: SchemaRef, rows: &[T]) -> Result<RecordBatch> {
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()?;
    decoder.serialize(rows)?;
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
}

/// Rows buffered per table until the next flush.
#[derive(Debug, Default)]
pub struct Buffers {
    pub streams: Vec<StreamRow>,
    pub categories: Vec<CategoryRow>,
    pub presence: Vec<PresenceRow>,
    pub messages: MessageColumns,
    pub channels: Vec<ChannelRow>,
    pub relations: std::collections::BTreeMap<RawTable, Vec<RelationRow>>,
    pub quarantine: Vec<QuarantineRow>,
}

impl Buffers {
    /// Adds a record.
    pub fn push(&mut self, r: Record) {
        match r {
            Record::Stream(r) => self.streams.push(r),
            Record::Category(r) => self.categories.push(r),
            Record::Presence(r) => self.presence.push(r),
            Record::Message(r) => self.messages.push(&r.as_ref()),
            Record::Channel(r) => self.channels.push(r),
            Record::Relation(t, r) => self.relations.entry(t).or_default().push(r),
        }
    }

    /// Good records buffered.
    pub fn records(&self) -> usize {
        self.streams.len()
            + self.categories.len()
            + self.presence.len()
            + self.messages.len()
            + self.channels.len()
            + self.relations.values().map(Vec::len).sum::<usize>()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.records() == 0 && self.quarantine.is_empty()
    }

    /// The buffered records as one batch per non-empty table.
    pub fn batches(&mut self) -> Result<Vec<(RawTable, RecordBatch)>> {
        let mut out = self.batches_but_messages()?;
        if !self.messages.is_empty() {
            out.push((RawTable::Messages, self.messages.batch()?));
        }
        Ok(out)
    }

    fn batches_but_messages(&self) -> Result<Vec<(RawTable, RecordBatch)>> {
        let mut out = Vec::new();
        if !self.streams.is_empty() {
            out.push((
                RawTable::Streams,
                serde_batch(RawTable::Streams.schema(), &self.streams)?,
            ));
        }
        if !self.categories.is_empty() {
            out.push((
                RawTable::Categories,
                serde_batch(RawTable::Categories.schema(), &self.categories)?,
            ));
        }
        if !self.presence.is_empty() {
            out.push((RawTable::Presence, presence_batch(&self.presence)?));
        }
        if !self.channels.is_empty() {
            out.push((
                RawTable::Channels,
                serde_batch(RawTable::Channels.schema(), &self.channels)?,
            ));
        }
        for (t, rows) in &self.relations {
            if !rows.is_empty() {
                out.push((*t, relation_batch(*t, rows)?));
            }
        }
        Ok(out)
    }

    /// Lands every buffered table (not quarantine) under `stem`: messages from what was
    /// encoded as they came, the others converted now. The buffers stay until
    /// [`Buffers::clear`], so a failed landing can be tried again.
    pub async fn land(
        &mut self,
        lander: &pulse_lake::land::Lander,
        stem: &str,
    ) -> Result<Vec<(RawTable, Vec<pulse_lake::land::Landed>)>> {
        let mut out = Vec::new();
        for (table, batch) in self.batches_but_messages()? {
            out.push((table, lander.land(table, &batch, stem).await?));
        }
        if !self.messages.is_empty() {
            let files = self.messages.encode()?;
            out.push((RawTable::Messages, lander.land_encoded(&files, stem).await?));
        }
        Ok(out)
    }

    /// The quarantined records as a batch, if any.
    pub fn quarantine_batch(&self, source: &str) -> Result<Option<RecordBatch>> {
        if self.quarantine.is_empty() {
            return Ok(None);
        }
        let n = self.quarantine.len();
        let mut t = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        let mut s = StringBuilder::new();
        let mut o = StringBuilder::new();
        let mut r = StringBuilder::new();
        let mut raw = BinaryBuilder::new();
        for q in &self.quarantine {
            t.append_value(q.received_at);
            s.append_value(source);
            o.append_value(&q.origin);
            r.append_value(&q.reason);
            raw.append_value(&q.raw);
        }
        Ok(Some(RecordBatch::try_new(
            quarantine_schema(),
            vec![
                Arc::new(t.finish()),
                Arc::new(s.finish()),
                Arc::new(o.finish()),
                Arc::new(r.finish()),
                Arc::new(raw.finish()),
            ],
        )?))
    }

    /// Empties every buffer.
    pub fn clear(&mut self) {
        let mut messages = std::mem::take(&mut self.messages);
        messages.clear();
        *self = Buffers::default();
        self.messages = messages;
    }
}

/// Builds a `presence` batch directly (the hot path of the TwitchProfiler-scale generator).
pub fn presence_batch(rows: &[PresenceRow]) -> Result<RecordBatch> {
    let mut t = TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
    let mut c = StringBuilder::new();
    let mut v = StringBuilder::new();
    for r in rows {
        t.append_value(r.snapshot_time);
        c.append_value(&r.channel_login);
        v.append_value(&r.viewer_login);
    }
    Ok(RecordBatch::try_new(
        RawTable::Presence.schema(),
        vec![
            Arc::new(t.finish()),
            Arc::new(c.finish()),
            Arc::new(v.finish()),
        ],
    )?)
}

fn relation_batch(table: RawTable, rows: &[RelationRow]) -> Result<RecordBatch> {
    let mut t = TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
    let mut c = StringBuilder::new();
    let mut o = StringBuilder::new();
    for r in rows {
        t.append_value(r.observed_at);
        c.append_value(&r.channel_id);
        o.append_value(&r.other);
    }
    Ok(RecordBatch::try_new(
        table.schema(),
        vec![
            Arc::new(t.finish()),
            Arc::new(c.finish()),
            Arc::new(o.finish()),
        ],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_converts_to_its_schema() {
        let mut b = Buffers::default();
        b.push(Record::Stream(StreamRow {
            snapshot_time: 1,
            channel_id: "1".into(),
            channel_login: "a".into(),
            title: None,
            category_id: Some("9".into()),
            category_name: Some("Chess".into()),
            language: Some("en".into()),
            viewers: Some(5),
            started_at: Some(0),
            tags: Some(vec!["English".into()]),
        }));
        b.push(Record::Category(CategoryRow {
            snapshot_time: 1,
            category_id: None,
            category_name: "Chess".into(),
            viewers: Some(5),
            live_channels: Some(1),
            rank: None,
        }));
        b.push(Record::Message(MessageRow {
            event_time: 2,
            source: "twitter".into(),
            message_id: None,
            channel: None,
            author: Some("x".into()),
            text: "hi #a".into(),
            language: None,
        }));
        b.push(Record::Relation(
            RawTable::Vips,
            RelationRow {
                observed_at: 3,
                channel_id: "1".into(),
                other: "bob".into(),
            },
        ));
        let batches = b.batches().unwrap();
        assert_eq!(batches.len(), 4);
        for (t, batch) in batches {
            assert_eq!(batch.schema().fields(), t.schema().fields(), "{t:?}");
            assert_eq!(batch.num_rows(), 1);
        }
    }

    /// Messages encoded as they come (in chunks, across an hour boundary) land as exactly the
    /// rows pushed, one file per hour; a second landing of the same buffer (a retry after a
    /// failed put) lands the same rows again.
    #[tokio::test]
    async fn messages_encoded_as_they_come_land_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let lake = pulse_lake::Lake::open(
            dir.path().to_str().unwrap(),
            &pulse_lake::S3Config::default(),
        )
        .unwrap();
        let lander = pulse_lake::land::Lander::new(lake.clone());
        // 2026-01-01T00:00Z, minus ten minutes: rows in hours 23 and 00.
        let t0 = 1_767_225_600_000_000i64 - 600_000_000;
        let n = 3 * CHUNK_ROWS + 5;
        let mut b = Buffers::default();
        for i in 0..n {
            let text = format!("message {i} #t{}", i % 7);
            let id = i.to_string();
            b.messages.push(&MessageRef {
                event_time: t0 + i as i64 * 100_000,
                source: "twitter".into(),
                message_id: Some(id.as_str().into()),
                channel: None,
                author: Some("a".into()),
                text: text.as_str().into(),
                language: None,
            });
        }
        assert_eq!(b.records(), n);
        let hour0 = (600_000_000 / 100_000) as usize;
        for _ in 0..2 {
            let landed = b.land(&lander, "s").await.unwrap();
            let files: Vec<(String, usize)> = landed
                .iter()
                .flat_map(|(_, l)| l.iter().map(|l| (l.path.to_string(), l.rows)))
                .collect();
            assert_eq!(files.len(), 2, "{files:?}");
            assert!(
                files[0]
                    .0
                    .ends_with("raw/messages/dt=2025-12-31/hour=23/s.parquet")
            );
            assert!(
                files[1]
                    .0
                    .ends_with("raw/messages/dt=2026-01-01/hour=00/s.parquet")
            );
            assert_eq!((files[0].1, files[1].1), (hour0, n - hour0));
            let ctx = pulse_lake::catalog::session(&lake).await.unwrap();
            let got = ctx
                .sql(
                    "select count(*) as n, count(distinct message_id) as ids, \
                     sum(cast(message_id as bigint)) as ids_sum, \
                     cast(min(event_time) as bigint) as first \
                     from messages",
                )
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            use arrow::array::AsArray;
            let row = &got[0];
            let int = |c: usize| {
                row.column(c)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .value(0)
            };
            assert_eq!(
                (int(0), int(1), int(2), int(3)),
                (
                    n as i64,
                    n as i64,
                    (n * (n - 1) / 2) as i64,
                    1_767_225_000_000_000
                )
            );
        }
    }
}
