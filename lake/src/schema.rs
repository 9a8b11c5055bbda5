//! The raw tables of the lake and their Arrow schemas. A table's schema is part of the lake's
//! on-disk contract: every file carries [`SCHEMA_VERSION`] under [`SCHEMA_VERSION_KEY`] in its
//! Parquet key-value metadata, and `docs/lake.md` documents every column. All timestamps are
//! microseconds in UTC.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Key of the schema version in every Parquet file Pulse writes.
pub const SCHEMA_VERSION_KEY: &str = "pulse.schema_version";
/// Version of the raw table schemas below. Bump it on any incompatible change.
pub const SCHEMA_VERSION: &str = "1";

/// A duration as it appears in table names: `30m`, `1h`, `1day`, `1m30s` (the windowed
/// outputs, batch and live, are named by their size and slide).
pub fn duration_text(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

/// The timestamp type of every time column: microseconds, UTC.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A raw table: landed by ingest workers under `raw/<name>/dt=YYYY-MM-DD/hour=HH/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RawTable {
    /// One row per live stream per snapshot.
    Streams,
    /// One row per category per snapshot.
    Categories,
    /// One row per viewer per channel per snapshot: who sits in which chat.
    Presence,
    /// Tweets and chat lines.
    Messages,
    /// The channel dimension, one row per channel per observation.
    Channels,
    /// A channel's team.
    Teams,
    /// A channel's VIPs.
    Vips,
    /// A channel's moderators.
    Moderators,
    /// Chatters seen in a channel (the Memgraph demo's relation, no snapshot time of its own).
    Chatters,
}

impl RawTable {
    /// Every raw table.
    pub const ALL: [RawTable; 9] = [
        RawTable::Streams,
        RawTable::Categories,
        RawTable::Presence,
        RawTable::Messages,
        RawTable::Channels,
        RawTable::Teams,
        RawTable::Vips,
        RawTable::Moderators,
        RawTable::Chatters,
    ];

    /// The table's name, as registered in SQL and used in the lake path.
    pub fn name(self) -> &'static str {
        match self {
            RawTable::Streams => "streams",
            RawTable::Categories => "categories",
            RawTable::Presence => "presence",
            RawTable::Messages => "messages",
            RawTable::Channels => "channels",
            RawTable::Teams => "teams",
            RawTable::Vips => "vips",
            RawTable::Moderators => "moderators",
            RawTable::Chatters => "chatters",
        }
    }

    /// Looks a table up by name.
    pub fn from_name(name: &str) -> Option<RawTable> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The lake directory of the table, relative to the lake root.
    pub fn dir(self) -> String {
        format!("raw/{}", self.name())
    }

    /// The column whose UTC date and hour choose the partition.
    pub fn time_column(self) -> &'static str {
        match self {
            RawTable::Streams | RawTable::Categories | RawTable::Presence => "snapshot_time",
            RawTable::Messages => "event_time",
            RawTable::Channels
            | RawTable::Teams
            | RawTable::Vips
            | RawTable::Moderators
            | RawTable::Chatters => "observed_at",
        }
    }

    /// The columns compaction sorts by. Presence is sorted by channel, viewer and time, so a
    /// viewer's consecutive snapshots sit together: a day shrinks about fivefold against
    /// time order. Other tables are sorted by time first.
    pub fn sort_key(self) -> &'static [&'static str] {
        match self {
            RawTable::Presence => &["channel_login", "viewer_login", "snapshot_time"],
            RawTable::Streams => &["snapshot_time", "channel_id"],
            RawTable::Categories => &["snapshot_time", "category_name"],
            RawTable::Messages => &["event_time"],
            RawTable::Channels => &["observed_at", "channel_id"],
            RawTable::Teams | RawTable::Vips | RawTable::Moderators | RawTable::Chatters => {
                &["observed_at", "channel_id"]
            }
        }
    }

    /// The table's files' schema and its partition columns (`dt`, `hour`).
    pub fn shape(self) -> crate::delta::Shape {
        crate::delta::Shape {
            schema: self.schema(),
            partitions: crate::catalog::raw_partitions(),
        }
    }

    /// The table's file schema (without the `dt` and `hour` partition columns).
    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: OnceLock<HashMap<RawTable, SchemaRef>> = OnceLock::new();
        SCHEMAS
            .get_or_init(|| {
                RawTable::ALL
                    .into_iter()
                    .map(|t| (t, t.build_schema()))
                    .collect()
            })
            .get(&self)
            .cloned()
            .unwrap_or_else(|| self.build_schema())
    }

    fn build_schema(self) -> SchemaRef {
        let ts = |n: &str, null: bool| Field::new(n, ts_type(), null);
        let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
        let i = |n: &str| Field::new(n, DataType::Int64, true);
        let relation = |what: &str| {
            vec![
                ts("observed_at", false),
                s("channel_id", false),
                s(what, false),
            ]
        };
        let fields = match self {
            RawTable::Streams => vec![
                ts("snapshot_time", false),
                s("channel_id", false),
                s("channel_login", false),
                s("title", true),
                s("category_id", true),
                s("category_name", true),
                s("language", true),
                i("viewers"),
                ts("started_at", true),
                Field::new(
                    "tags",
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                    true,
                ),
            ],
            RawTable::Categories => vec![
                ts("snapshot_time", false),
                s("category_id", true),
                s("category_name", false),
                i("viewers"),
                i("live_channels"),
                i("rank"),
            ],
            RawTable::Presence => vec![
                ts("snapshot_time", false),
                s("channel_login", false),
                s("viewer_login", false),
            ],
            RawTable::Messages => vec![
                ts("event_time", false),
                s("source", false),
                s("message_id", true),
                s("channel", true),
                s("author", true),
                s("text", false),
                s("language", true),
            ],
            RawTable::Channels => vec![
                ts("observed_at", false),
                s("channel_id", false),
                s("login", false),
                s("display_name", true),
                i("followers"),
                i("total_views"),
                ts("created_at", true),
                s("description", true),
                s("language", true),
                s("team", true),
            ],
            RawTable::Teams => relation("team_name"),
            RawTable::Vips => relation("vip_login"),
            RawTable::Moderators => relation("moderator_login"),
            RawTable::Chatters => relation("chatter_login"),
        };
        Arc::new(Schema::new(fields))
    }
}

/// The ingest sources. Each has its `quarantine/<source>` table (`quarantine_<source>`),
/// which exists, empty, before its first bad record.
pub mod source {
    /// The Twitch Helix poller.
    pub const TWITCH: &str = "twitch";
    /// TCP text streams.
    pub const SOCKET: &str = "socket";
    /// File replay.
    pub const REPLAY: &str = "replay";
    /// Every source.
    pub const ALL: [&str; 3] = [TWITCH, SOCKET, REPLAY];
}

/// The schema of quarantine records: a bad input record kept with why and where it was found.
/// Quarantine lives under `quarantine/<source>/dt=YYYY-MM-DD/`.
pub fn quarantine_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("received_at", ts_type(), false),
            Field::new("source", DataType::Utf8, false),
            Field::new("origin", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, false),
            Field::new("raw", DataType::Binary, false),
        ]))
    })
    .clone()
}

/// The schema of the run history: one row per job run, under `sys/runs/dt=<first day>/`
/// (`runs` in SQL). Times are wall-clock (when the run happened), `from_date`/`to_date` the
/// logical interval `[from, to)` it worked on.
pub fn runs_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
        let i = |n: &str| Field::new(n, DataType::Int64, false);
        Arc::new(Schema::new(vec![
            s("run_id", false),
            s("job", false),
            s("from_date", false),
            s("to_date", false),
            s("status", false),
            i("attempt"),
            Field::new("started_at", ts_type(), false),
            Field::new("ended_at", ts_type(), true),
            i("duration_ms"),
            i("rows_in"),
            i("rows_out"),
            s("error", true),
            s("runner", true),
        ]))
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_its_time_column_first_and_non_null() {
        for t in RawTable::ALL {
            let schema = t.schema();
            let f = schema.field(0);
            assert_eq!(f.name(), t.time_column(), "{t:?}");
            assert_eq!(f.data_type(), &ts_type());
            assert!(!f.is_nullable());
            assert_eq!(RawTable::from_name(t.name()), Some(t));
        }
    }
}
