//! `pulse compact --date D`: merges a day's small files into a few large ones per hour
//! partition (about `target_bytes` each, 128 MiB by default), sorted by the table's key, and
//! swaps them in with one Delta commit per partition (Delta's optimize: the rows do not
//! change): a reader sees the old files or the new ones, never both or neither. Replaced files
//! stay in the store until [`vacuum`] deletes them, after a retention period, so running
//! queries can finish reading them. Rerunning on a compacted day rewrites nothing. Run one
//! compaction of a partition at a time (the nightly scheduler makes sure of it).

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use chrono::NaiveDate;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::async_writer::AsyncArrowWriter;
use parquet::file::reader::{FileReader, SerializedFileReader};
use pulse_lake::Lake;
use pulse_lake::catalog::list_dirs;
use pulse_lake::land::writer_properties;
use pulse_lake::schema::RawTable;

use crate::Result;

/// Sizes before and after compacting one table's day.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TableCompaction {
    /// Visible files before.
    pub files_before: u64,
    /// Their bytes.
    pub bytes_before: u64,
    /// Visible files after.
    pub files_after: u64,
    /// Their bytes.
    pub bytes_after: u64,
    /// Rows (unchanged by compaction).
    pub rows: u64,
}

/// What compacting a day did, per table.
pub type CompactReport = Vec<(RawTable, TableCompaction)>;

async fn read_all(store: &Arc<dyn ObjectStore>, files: &[Path]) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for f in files {
        let bytes = store.get(f).await?.bytes().await?;
        for b in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
            out.push(b?);
        }
    }
    Ok(out)
}

/// Compacts every raw table's partitions of `date`.
pub async fn compact_day(lake: &Lake, date: NaiveDate, target_bytes: u64) -> Result<CompactReport> {
    let mut report = Vec::new();
    let day = date.format("%Y-%m-%d").to_string();
    for table in RawTable::ALL {
        let mut t = TableCompaction::default();
        let day_dir = format!("{}/dt={day}", table.dir());
        for hour in list_dirs(lake, &day_dir).await? {
            let dir = lake.path(&format!("{day_dir}/{hour}"));
            let c = compact_partition(lake, table, &dir, target_bytes).await?;
            t.files_before += c.files_before;
            t.bytes_before += c.bytes_before;
            t.files_after += c.files_after;
            t.bytes_after += c.bytes_after;
            t.rows += c.rows;
        }
        if t.files_before > 0 {
            tracing::info!(table = table.name(), dt = %day, files_before = t.files_before, files_after = t.files_after, bytes_before = t.bytes_before, bytes_after = t.bytes_after, "compacted");
            report.push((table, t));
        }
    }
    Ok(report)
}

/// The files a reader sees directly in `dir`, sorted.
async fn visible(lake: &Lake, dir: &Path) -> Result<Vec<object_store::ObjectMeta>> {
    let mut files = lake.store().list_with_delimiter(Some(dir)).await?.objects;
    files.retain(|f| f.location.as_ref().ends_with(".parquet"));
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}

/// Compacts one partition directory.
pub async fn compact_partition(
    lake: &Lake,
    table: RawTable,
    dir: &Path,
    target_bytes: u64,
) -> Result<TableCompaction> {
    let files = visible(lake, dir).await?;
    let mut c = TableCompaction {
        files_before: files.len() as u64,
        bytes_before: files.iter().map(|f| f.size).sum(),
        ..Default::default()
    };
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.location.filename().map(str::to_string))
        .collect();
    // A single compacted file is as merged as a partition gets.
    if files.is_empty() || (names.len() == 1 && names[0].starts_with("c-")) {
        c.files_after = c.files_before;
        c.bytes_after = c.bytes_before;
        if let Some(f) = files.first() {
            let bytes = lake.store().get(&f.location).await?.bytes().await?;
            c.rows = SerializedFileReader::new(bytes)?
                .metadata()
                .file_metadata()
                .num_rows() as u64;
        }
        return Ok(c);
    }
    let store = lake.store();
    let paths: Vec<Path> = files.iter().map(|f| f.location.clone()).collect();
    let batches = read_all(&store, &paths).await?;
    let schema = table.schema();
    let all = concat_batches(&schema, &batches)?;
    c.rows = all.num_rows() as u64;
    // Sort by the table's key so equal values sit together and compress.
    let keys: Vec<SortColumn> = table
        .sort_key()
        .iter()
        .map(|c| {
            Ok(SortColumn {
                values: all.column(schema.index_of(c)?).clone(),
                options: None,
            })
        })
        .collect::<Result<_, arrow::error::ArrowError>>()?;
    let sorted = take_record_batch(&all, &lexsort_to_indices(&keys, None)?)?;
    // A name no other run uses: a compaction never overwrites a file a reader may be reading.
    let generation = pulse_lake::delta::unique_generation(names.join("\n").as_bytes());
    // Write the new files (unseen until committed), rolling at the target size.
    let mut n = 0;
    let mut offset = 0;
    let mut written = Vec::new();
    const SLICE: usize = 64 * 1024;
    while offset < sorted.num_rows() || n == 0 {
        let path = dir
            .clone()
            .join(format!("c-{generation}-{n:04}.parquet").as_str());
        let mut w = AsyncArrowWriter::try_new(
            BufWriter::new(store.clone(), path.clone()),
            schema.clone(),
            Some(writer_properties()),
        )?;
        while offset < sorted.num_rows() {
            let len = SLICE.min(sorted.num_rows() - offset);
            w.write(&sorted.slice(offset, len)).await?;
            offset += len;
            if (w.bytes_written() + w.in_progress_size()) as u64 >= target_bytes {
                break;
            }
        }
        let meta = w.close().await?;
        written.push((path, meta));
        n += 1;
    }
    let root = table.dir();
    let shape = table.shape();
    let root_path = lake.path(&root);
    let rel = |p: &Path| -> String {
        pulse_lake::view::rel_under(p, &root_path).unwrap_or_else(|| p.to_string())
    };
    let mut files = Vec::new();
    for (path, meta) in &written {
        let size = store.head(path).await?.size;
        let r = rel(path);
        let parts = pulse_lake::delta::partitions_of(&r, &shape.partitions);
        files.push(pulse_lake::delta::DataFile::new(
            r,
            size,
            parts,
            meta,
            &shape.schema,
        ));
    }
    let old: Vec<String> = paths.iter().map(rel).collect();
    pulse_lake::delta::pause_before_commit(&root).await;
    pulse_lake::delta::LakeTable::new(lake, &root)
        .commit(&shape, &files, pulse_lake::delta::Change::Rewrite(old))
        .await?;
    let after = visible(lake, dir).await?;
    c.files_after = after.len() as u64;
    c.bytes_after = after.iter().map(|f| f.size).sum();
    Ok(c)
}

/// Vacuums every table of the lake (raw tables, quarantine, job outputs, the run log): deletes
/// the files no reader of its newest version needs once they have been out of it for
/// `retention` (see [`LakeTable::vacuum`](pulse_lake::delta::LakeTable::vacuum)). Returns
/// the files deleted per table directory.
pub async fn vacuum(lake: &Lake, retention: chrono::Duration) -> Result<Vec<(String, usize)>> {
    let mut out = Vec::new();
    for t in pulse_lake::check::tables(lake).await? {
        let deleted = pulse_lake::delta::LakeTable::new(lake, &t.dir)
            .vacuum(retention)
            .await?;
        if deleted > 0 {
            tracing::info!(table = %t.dir, deleted, "vacuumed");
        }
        out.push((t.dir, deleted));
    }
    Ok(out)
}
