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

use crate::delta::{Change, DataFile, LakeTable, Shape, partitions_of};
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

/// The Delta transaction (app id) of landing the files named `<stem>.parquet`: a table that
/// has seen it gets nothing more from that input.
pub fn land_txn(stem: &str) -> String {
    format!("pulse-land:{stem}")
}

/// The stem whose landing a file name records (`<stem>.parquet`), for names a landing gave.
pub fn land_stem(name: &str) -> Option<&str> {
    name.strip_suffix(".parquet")
        .filter(|s| !s.starts_with("c-") && !s.starts_with('_') && !s.starts_with('.'))
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
        let mut e = Encoder::new(table);
        e.write(batch)?;
        self.land_encoded(&e.finish()?, stem).await
    }

    /// Puts files an [`Encoder`] made, named `<stem>.parquet`, and appends them to the table
    /// in one Delta commit. A failed put leaves `files` to the caller, to try again.
    pub async fn land_encoded(&self, files: &Encoded, stem: &str) -> Result<Vec<Landed>> {
        let shape = files.table.shape();
        if files.files.is_empty() {
            return Ok(Vec::new());
        }
        // The table exists before its first file does (see `LakeTable::ensure`).
        LakeTable::new(&self.lake, &files.table.dir())
            .ensure(&shape)
            .await?;
        let mut landed = Vec::new();
        let mut data = Vec::new();
        for (hour, bytes, rows) in &files.files {
            let dir = partition_dir(files.table, hour_start(*hour));
            landed.push(self.put_bytes(&dir, stem, bytes.clone(), *rows).await?);
            data.push(self.data_file(&files.table.dir(), &dir, stem, bytes, &shape)?);
        }
        self.append(&files.table.dir(), &shape, &data, stem).await?;
        Ok(landed)
    }

    /// Describes the file `<dir>/<stem>.parquet` of the table at `root` for its commit.
    fn data_file(
        &self,
        root: &str,
        dir: &str,
        stem: &str,
        bytes: &Bytes,
        shape: &Shape,
    ) -> Result<DataFile> {
        let rel = dir
            .strip_prefix(root)
            .unwrap_or(dir)
            .trim_start_matches('/');
        let path = format!("{rel}/{stem}.parquet");
        let parts = partitions_of(&path, &shape.partitions);
        DataFile::from_bytes(path, bytes, parts, &shape.schema)
    }

    /// Appends `data` to the table at `root` in one commit, once per `stem`: the commit
    /// carries the transaction `pulse-land:<stem>`, so landing the same input again (same
    /// stem, same file names) adds nothing, also after compaction has replaced the files.
    async fn append(&self, root: &str, shape: &Shape, data: &[DataFile], stem: &str) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let txns = vec![(land_txn(stem), 0)];
        LakeTable::new(&self.lake, root)
            .commit(shape, data, Change::Append { txns })
            .await?;
        Ok(())
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
        let shape = Shape::daily(schema.clone());
        if by_day.is_empty() {
            return Ok(Vec::new());
        }
        LakeTable::new(&self.lake, dir).ensure(&shape).await?;
        let mut landed = Vec::new();
        let mut data = Vec::new();
        for (day, parts) in by_day {
            let part = arrow::compute::concat_batches(schema, &parts)?;
            let day_dir = format!("{dir}/dt={}", hour_start(day * 24).format("%Y-%m-%d"));
            let bytes = encode_parquet(schema, std::slice::from_ref(&part))?;
            landed.push(
                self.put_bytes(&day_dir, stem, bytes.clone(), part.num_rows())
                    .await?,
            );
            data.push(self.data_file(dir, &day_dir, stem, &bytes, &shape)?);
        }
        self.append(dir, &shape, &data, stem).await?;
        Ok(landed)
    }

    async fn put_bytes(&self, dir: &str, stem: &str, bytes: Bytes, rows: usize) -> Result<Landed> {
        let path = self.lake.path(&format!("{dir}/{stem}.parquet"));
        let size = bytes.len();
        self.lake.store().put(&path, bytes.into()).await?;
        tracing::debug!(path = %path, rows, bytes = size, "landed");
        Ok(Landed {
            path,
            rows,
            bytes: size,
        })
    }
}

/// A raw table's landing, encoded as its rows arrive: one Parquet writer per hour they span,
/// fed batch by batch. A worker that hands it its buffer in slices spreads the encoding over
/// the time the rows come in, instead of stopping for all of it at a flush (a live worker on
/// one core stays responsive); the files equal those of encoding the rows at once.
pub struct Encoder {
    table: RawTable,
    schema: SchemaRef,
    writers: BTreeMap<i64, (ArrowWriter<Vec<u8>>, usize)>,
    rows: usize,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("table", &self.table)
            .field("hours", &self.writers.len())
            .field("rows", &self.rows)
            .finish()
    }
}

impl Encoder {
    /// An encoder of `table`'s rows.
    pub fn new(table: RawTable) -> Encoder {
        Encoder {
            table,
            schema: table.schema(),
            writers: BTreeMap::new(),
            rows: 0,
        }
    }

    /// Encodes `batch` (of the table's schema) into the files of the hours it spans.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if batch.schema().fields() != self.schema.fields() {
            return Err(Error::Partition {
                table: self.table.name().into(),
                reason: format!("batch schema {:?} is not the table's", batch.schema()),
            });
        }
        for (hour, part) in split_by_hour(batch, self.table.time_column(), self.table.name())? {
            let (w, rows) = match self.writers.entry(hour) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert((
                    ArrowWriter::try_new(
                        Vec::new(),
                        self.schema.clone(),
                        Some(writer_properties()),
                    )?,
                    0,
                )),
            };
            w.write(&part)?;
            *rows += part.num_rows();
            self.rows += part.num_rows();
        }
        Ok(())
    }

    /// Rows written.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Closes every hour's file.
    pub fn finish(self) -> Result<Encoded> {
        let mut files = Vec::with_capacity(self.writers.len());
        for (hour, (w, rows)) in self.writers {
            files.push((hour, Bytes::from(w.into_inner()?), rows));
        }
        Ok(Encoded {
            table: self.table,
            files,
        })
    }
}

/// Files an [`Encoder`] finished, not yet in the store: (hour since the epoch, bytes, rows).
#[derive(Debug, Clone)]
pub struct Encoded {
    table: RawTable,
    files: Vec<(i64, Bytes, usize)>,
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

    /// Rows fed to an [`Encoder`] in slices make the files one batch makes: the same hours,
    /// and the same rows in each, in order.
    #[test]
    fn an_encoder_fed_in_slices_equals_one_batch() {
        let h = 3_600_000_000i64;
        let t0 = 1_767_225_600_000_000i64;
        let times: Vec<i64> = (0..10_000).map(|i| t0 - h / 2 + i * (h / 3000)).collect();
        let batch = presence(&times);
        let decode = |e: Encoded| -> Vec<(i64, usize, RecordBatch)> {
            e.files
                .into_iter()
                .map(|(hour, bytes, rows)| {
                    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                        bytes,
                    )
                    .unwrap()
                    .build()
                    .unwrap();
                    let parts: Vec<RecordBatch> = r.map(|b| b.unwrap()).collect();
                    let all = arrow::compute::concat_batches(&parts[0].schema(), &parts).unwrap();
                    (hour, rows, all)
                })
                .collect()
        };
        let mut whole = Encoder::new(RawTable::Presence);
        whole.write(&batch).unwrap();
        let mut sliced = Encoder::new(RawTable::Presence);
        for at in (0..batch.num_rows()).step_by(777) {
            sliced
                .write(&batch.slice(at, 777.min(batch.num_rows() - at)))
                .unwrap();
        }
        assert_eq!(sliced.rows(), 10_000);
        let (a, b) = (
            decode(whole.finish().unwrap()),
            decode(sliced.finish().unwrap()),
        );
        assert_eq!(a.len(), 4, "hours 23, 00, 01 and 02");
        assert_eq!(a.iter().map(|f| f.1).sum::<usize>(), 10_000);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.0, x.1), (y.0, y.1));
            assert_eq!(x.2, y.2);
            assert_eq!(x.2.num_rows(), x.1);
        }
        // A batch of another table's schema is refused, naming the table.
        let err = Encoder::new(RawTable::Messages).write(&batch).unwrap_err();
        assert!(err.to_string().contains("messages"), "{err}");
    }
}
