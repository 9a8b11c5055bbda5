//! Landing: record batches become Hive-partitioned Parquet files in the lake.
//!
//! A batch is split by the UTC date and hour of its table's time column and each part is
//! written to `raw/<table>/dt=YYYY-MM-DD/hour=HH/<stem>.parquet` with a single atomic put, so a
//! reader never sees a partial file. The caller picks `stem` from its input (a file's content
//! hash and offset, a snapshot time), which makes landing the same input twice overwrite
//! rather than duplicate.

use arrow::array::{Array, RecordBatch, TimestampMicrosecondArray, UInt32Array};
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::collections::BTreeMap;

use crate::schema::{RawTable, SCHEMA_VERSION, SCHEMA_VERSION_KEY, quarantine_schema};
use crate::{Error, Lake, Result};

/// One file written by [`Lander`].
#[derive(Debug, Clone)]
pub struct Landed {
    /// Where it went, in the store.
    pub path: Path,
    /// Rows in it.
    pub rows: usize,
    /// Its size in bytes.
    pub bytes: usize,
}

/// The writer properties of every Parquet file Pulse writes: zstd, the schema version in the
/// key-value metadata, row groups of about a million rows and pages of 4096.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_max_row_group_row_count(Some(1 << 20))
        // Pages of a few thousand rows: a reader after one key of a sorted file (a viewer's
        // profile) decodes one page of it, not tens of thousands of rows.
        .set_data_page_row_count_limit(4096)
        // Logins are many and long: a 1 MiB dictionary page would overflow into plain encoding.
        .set_dictionary_page_size_limit(16 << 20)
        .set_key_value_metadata(Some(vec![KeyValue::new(
            SCHEMA_VERSION_KEY.to_string(),
            SCHEMA_VERSION.to_string(),
        )]))
        .build()
}

/// Encodes `batches` as one Parquet file in memory.
pub fn encode_parquet(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Bytes> {
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema.clone(), Some(writer_properties()))?;
    for b in batches {
        w.write(b)?;
    }
    w.close()?;
    Ok(Bytes::from(buf))
}

/// Splits a batch by the hour (since the epoch, UTC) of its timestamp column `col`.
fn split_by_hour(
    batch: &RecordBatch,
    col: &str,
    table: &str,
) -> Result<BTreeMap<i64, RecordBatch>> {
    let bad = |reason: &str| Error::Partition {
        table: table.to_string(),
        reason: reason.to_string(),
    };
    let times = batch
        .column_by_name(col)
        .ok_or_else(|| bad("missing time column"))?
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| bad("time column is not a microsecond timestamp"))?;
    if times.null_count() > 0 {
        return Err(bad("time column has nulls"));
    }
    const HOUR: i64 = 3_600_000_000;
    let values = times.values();
    let mut out = BTreeMap::new();
    if let (Some(first), Some(last)) = (values.first(), values.last()) {
        let h0 = first.div_euclid(HOUR);
        if h0 == last.div_euclid(HOUR) && values.iter().all(|v| v.div_euclid(HOUR) == h0) {
            out.insert(h0, batch.clone());
            return Ok(out);
        }
    }
    let mut groups: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (i, v) in values.iter().enumerate() {
        groups.entry(v.div_euclid(HOUR)).or_default().push(i as u32);
    }
    for (h, idx) in groups {
        let idx = UInt32Array::from(idx);
        let cols = batch
            .columns()
            .iter()
            .map(|c| arrow::compute::take(c.as_ref(), &idx, None))
            .collect::<Result<Vec<_>, _>>()?;
        out.insert(h, RecordBatch::try_new(batch.schema(), cols)?);
    }
    Ok(out)
}

fn hour_start(hour: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(hour * 3600, 0).unwrap_or_default()
}

/// The partition directory of `table` for the hour starting at `t`.
pub fn partition_dir(table: RawTable, t: DateTime<Utc>) -> String {
    format!(
        "{}/dt={}/hour={}",
        table.dir(),
        t.format("%Y-%m-%d"),
        t.format("%H")
    )
}

/// Writes batches into the lake's raw and quarantine areas.
#[derive(Debug, Clone)]
pub struct Lander {
    lake: Lake,
}

impl Lander {
    /// A lander for `lake`.
    pub fn new(lake: Lake) -> Lander {
        Lander { lake }
    }

    /// The lake written to.
    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// Lands `batch` of `table`: one file per hour it spans, named `<stem>.parquet`.
    pub async fn land(
        &self,
        table: RawTable,
        batch: &RecordBatch,
        stem: &str,
    ) -> Result<Vec<Landed>> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let schema = table.schema();
        if batch.schema().fields() != schema.fields() {
            return Err(Error::Partition {
                table: table.name().into(),
                reason: format!("batch schema {:?} is not the table's", batch.schema()),
            });
        }
        let mut landed = Vec::new();
        for (hour, part) in split_by_hour(batch, table.time_column(), table.name())? {
            let dir = partition_dir(table, hour_start(hour));
            landed.push(self.put(&dir, stem, &schema, &part).await?);
        }
        Ok(landed)
    }

    /// Lands quarantine records of `source` (rows of [`quarantine_schema`]) by UTC date.
    pub async fn quarantine(
        &self,
        source: &str,
        batch: &RecordBatch,
        stem: &str,
    ) -> Result<Vec<Landed>> {
        let dir = format!("quarantine/{source}");
        self.land_by_day(&dir, "received_at", &quarantine_schema(), batch, stem)
            .await
    }

    /// Lands `batch` (of `schema`) under `dir/dt=YYYY-MM-DD/<stem>.parquet`, by the UTC date
    /// of its timestamp column `time_col`: the layout of job outputs and quarantine.
    pub async fn land_by_day(
        &self,
        dir: &str,
        time_col: &str,
        schema: &SchemaRef,
        batch: &RecordBatch,
        stem: &str,
    ) -> Result<Vec<Landed>> {
        let mut by_day: BTreeMap<i64, Vec<RecordBatch>> = BTreeMap::new();
        for (hour, part) in split_by_hour(batch, time_col, dir)? {
            by_day.entry(hour.div_euclid(24)).or_default().push(part);
        }
        let mut landed = Vec::new();
        for (day, parts) in by_day {
            let part = arrow::compute::concat_batches(schema, &parts)?;
            let dir = format!("{dir}/dt={}", hour_start(day * 24).format("%Y-%m-%d"));
            landed.push(self.put(&dir, stem, schema, &part).await?);
        }
        Ok(landed)
    }

    async fn put(
        &self,
        dir: &str,
        stem: &str,
        schema: &SchemaRef,
        part: &RecordBatch,
    ) -> Result<Landed> {
        let bytes = encode_parquet(schema, std::slice::from_ref(part))?;
        let path = self.lake.path(&format!("{dir}/{stem}.parquet"));
        let size = bytes.len();
        self.lake.store().put(&path, bytes.into()).await?;
        tracing::debug!(path = %path, rows = part.num_rows(), bytes = size, "landed");
        Ok(Landed {
            path,
            rows: part.num_rows(),
            bytes: size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::S3Config;
    use arrow::array::StringArray;
    use std::sync::Arc;

    fn presence(times: &[i64]) -> RecordBatch {
        let n = times.len();
        RecordBatch::try_new(
            RawTable::Presence.schema(),
            vec![
                Arc::new(TimestampMicrosecondArray::from(times.to_vec()).with_timezone("UTC")),
                Arc::new(StringArray::from(vec!["chan"; n])),
                Arc::new(StringArray::from(
                    (0..n).map(|i| format!("v{i}")).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_batch_spanning_hours_lands_one_file_per_hour() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), &S3Config::default()).unwrap();
        let h = 3_600_000_000i64;
        // 2026-01-01T00:00Z is 1767225600 s; rows in hours 23 (the day before), 00 and 01.
        let t0 = 1_767_225_600_000_000i64;
        let batch = presence(&[t0 - 1, t0, t0 + h - 1, t0 + h, t0 + 2 * h - 1]);
        let landed = Lander::new(lake)
            .land(RawTable::Presence, &batch, "s")
            .await
            .unwrap();
        let got: Vec<(String, usize)> = landed
            .iter()
            .map(|l| (l.path.to_string(), l.rows))
            .collect();
        assert_eq!(got.len(), 3);
        assert!(
            got[0]
                .0
                .ends_with("raw/presence/dt=2025-12-31/hour=23/s.parquet"),
            "{got:?}"
        );
        assert!(
            got[1]
                .0
                .ends_with("raw/presence/dt=2026-01-01/hour=00/s.parquet")
        );
        assert!(
            got[2]
                .0
                .ends_with("raw/presence/dt=2026-01-01/hour=01/s.parquet")
        );
        assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), [1, 2, 2]);
    }
}
