//! `pulse lake migrate`: turns a lake written before Pulse's tables were Delta tables into
//! Delta tables, in place.
//!
//! For each table directory without a Delta log, the files the old commit protocol showed
//! (see [`crate::view::legacy_files`]) become the table's first version in one commit; files
//! it hid (replaced, or staged by a run that never committed) are left out, for vacuum to
//! delete. A landed file's name records the input it came from, so the commit also records
//! that input as landed (its Delta transaction), also for landed files compaction replaced:
//! replaying it after the migration adds nothing, as before. Tables that already have a log are left alone, so running it again
//! changes nothing.

use std::sync::Arc;

use object_store::ObjectMeta;
use object_store::ObjectStoreExt;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::delta::{Change, DataFile, LakeTable, Shape, partitions_of};
use crate::schema::{RawTable, quarantine_schema, runs_schema};
use crate::{Lake, Result};

/// What the migration did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The table's directory.
    pub dir: String,
    /// Files its first version holds.
    pub files: usize,
    /// Rows in them.
    pub rows: u64,
}

/// Migrates every table of `lake` that has data files but no Delta log.
pub async fn migrate(lake: &Lake) -> Result<Vec<Migrated>> {
    let mut out = Vec::new();
    for t in crate::check::tables(lake).await? {
        let table = LakeTable::new(lake, &t.dir);
        if table.exists().await? {
            continue;
        }
        let legacy =
            crate::view::legacy_files(lake.raw_store().as_ref(), &lake.path(&t.dir)).await?;
        let files = legacy.files;
        let Some(newest) = files.last() else {
            continue;
        };
        let shape = match shape_of(&t.dir) {
            Some(shape) => shape,
            // A job output: its schema is its newest file's (older days read new columns as
            // NULL, as they did before).
            None => {
                let meta = footer(lake, newest).await?;
                let schema = parquet::arrow::parquet_to_arrow_schema(
                    meta.file_metadata().schema_descr(),
                    meta.file_metadata().key_value_metadata(),
                )?;
                Shape::daily(Arc::new(schema))
            }
        };
        let root = format!("{}/", lake.path(&t.dir));
        let landed = t.dir.starts_with("raw/") || t.dir.starts_with("quarantine/");
        let mut data = Vec::new();
        let mut txns = Vec::new();
        for f in &files {
            let path = f.location.as_ref().trim_start_matches(&root).to_string();
            if landed && let Some(stem) = f.location.filename().and_then(crate::land::land_stem) {
                txns.push((crate::land::land_txn(stem), 0));
            }
            let parts = partitions_of(&path, &shape.partitions);
            let meta = footer(lake, f).await?;
            data.push(DataFile::new(path, f.size, parts, &meta, &shape.schema));
        }
        // Landed files compacted away were landed too.
        if landed {
            for name in &legacy.replaced {
                if let Some(stem) = crate::land::land_stem(name) {
                    txns.push((crate::land::land_txn(stem), 0));
                }
            }
        }
        txns.sort();
        txns.dedup();
        let rows = data.iter().map(|d| d.rows).sum();
        table.adopt(&shape, &data, Change::Append { txns }).await?;
        tracing::info!(table = %t.dir, files = data.len(), rows, "migrated");
        out.push(Migrated {
            dir: t.dir,
            files: data.len(),
            rows,
        });
    }
    Ok(out)
}

/// The shape of the table at `dir` where Pulse defines it (raw tables, quarantine, the run
/// log); None for job outputs, whose schema their files carry.
fn shape_of(dir: &str) -> Option<Shape> {
    if let Some(t) = dir.strip_prefix("raw/").and_then(RawTable::from_name) {
        return Some(t.shape());
    }
    if dir.starts_with("quarantine/") {
        return Some(Shape::daily(quarantine_schema()));
    }
    (dir == "sys/runs").then(|| Shape::daily(runs_schema()))
}

/// The footer of the Parquet file `f`, read without the rest of it.
async fn footer(lake: &Lake, f: &ObjectMeta) -> Result<ParquetMetaData> {
    let store = lake.raw_store();
    let mut want = f.size.min(64 << 10);
    loop {
        let tail = store.get_range(&f.location, f.size - want..f.size).await?;
        let mut reader = ParquetMetaDataReader::new();
        match reader.try_parse_sized(&tail, f.size) {
            Ok(()) => return Ok(reader.finish()?),
            Err(ParquetError::NeedMoreData(n)) if (n as u64) > want && (n as u64) <= f.size => {
                want = n as u64;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
