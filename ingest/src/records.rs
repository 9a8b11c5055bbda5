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

/// The `messages` columns, appended to as messages arrive (no row structs in between).
#[derive(Debug)]
pub struct MessageColumns {
    event_time: TimestampMicrosecondBuilder,
    source: StringBuilder,
    message_id: StringBuilder,
    channel: StringBuilder,
    author: StringBuilder,
    text: StringBuilder,
    language: StringBuilder,
    /// What [`MessageColumns::batch`] finished, kept until [`Buffers::clear`] (a flush that
    /// fails tries again with it).
    finished: Option<RecordBatch>,
}

impl Default for MessageColumns {
    fn default() -> Self {
        // Arrow's builders start with room for 1,024 values of 1,024 bytes in all.
        MessageColumns::with_room(1024, |_| 1024)
    }
}

impl MessageColumns {
    /// Empty columns with room for `rows` messages and `bytes(i)` bytes in string column `i`
    /// (in schema order, after `event_time`).
    fn with_room(rows: usize, bytes: impl Fn(usize) -> usize) -> MessageColumns {
        let string = |i| StringBuilder::with_capacity(rows, bytes(i));
        MessageColumns {
            event_time: TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            source: string(0),
            message_id: string(1),
            channel: string(2),
            author: string(3),
            text: string(4),
            language: string(5),
            finished: None,
        }
    }

    /// Appends one message.
    pub fn push(&mut self, m: &MessageRef<'_>) {
        self.event_time.append_value(m.event_time);
        self.source.append_value(&m.source);
        self.message_id.append_option(m.message_id.as_deref());
        self.channel.append_option(m.channel.as_deref());
        self.author.append_option(m.author.as_deref());
        self.text.append_value(&m.text);
        self.language.append_option(m.language.as_deref());
    }

    /// Messages appended.
    pub fn len(&self) -> usize {
        self.event_time.len() + self.finished.as_ref().map_or(0, RecordBatch::num_rows)
    }

    /// True when no message is appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the columns (keeping the room [`MessageColumns::batch`] made for the next).
    pub fn clear(&mut self) {
        if self.event_time.is_empty() {
            self.finished = None;
        } else {
            *self = MessageColumns::default();
        }
    }

    /// Every message appended, as one batch of the `messages` schema.
    pub fn batch(&mut self) -> Result<RecordBatch> {
        if !self.event_time.is_empty() {
            // The next batch is likely the size of this one: sized up front, its columns
            // are not copied as they grow.
            let strings = [
                &self.source,
                &self.message_id,
                &self.channel,
                &self.author,
                &self.text,
                &self.language,
            ]
            .map(|b| b.values_slice().len());
            let next = MessageColumns::with_room(self.event_time.len(), |i| strings[i]);
            let mut done = std::mem::replace(self, next);
            let new = RecordBatch::try_new(
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
            )?;
            self.finished = Some(match done.finished.take() {
                None => new,
                Some(old) => arrow::compute::concat_batches(&new.schema(), [&old, &new])?,
            });
        }
        Ok(self
            .finished
            .clone()
            .unwrap_or_else(|| RecordBatch::new_empty(RawTable::Messages.schema())))
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
        if !self.messages.is_empty() {
            out.push((RawTable::Messages, self.messages.batch()?));
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
}
