//! `pulse lake migrate`: turns a lake written before Pulse's tables were Delta tables into
//! Delta tables, in place.
//!
//! That layout committed with a marker per directory, `_commit-<gen>.json`, listing the files
//! its commit replaced; [`legacy_files`] reads it. For each table that has no Delta log, or
//! still holds markers (a lake that Pulse versions writing both kept), the files the markers
//! showed become part of the table in one commit (its version 0 when it has no log); files
//! they hid (replaced, or staged by a run that never committed) are left out, for vacuum to
//! delete, and so are unreadable files, kept aside as `pulse lake check --quarantine` does. A
//! landed file's name records its input, so the commit records those inputs as landed (Delta
//! transactions), also for files compaction had replaced: replays stay idempotent. The markers
//! are deleted last: a migration cut short is finished by running it again, and a table
//! without markers and with a log is left alone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use serde::Deserialize;

use crate::check::BadFile;
use crate::delta::{DataFile, LakeTable, Shape, partitions_of};
use crate::schema::{RawTable, quarantine_schema, runs_schema};
use crate::{Error, Lake, Result};

/// What the migration did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The table's directory.
    pub dir: String,
    /// Files it added to the table.
    pub files: usize,
    /// Rows in them.
    pub rows: u64,
    /// Unreadable files left out (kept under `sys/quarantined/`).
    pub unreadable: Vec<BadFile>,
}

/// Migrates every table of `lake` written in the layout before Delta tables.
pub async fn migrate(lake: &Lake) -> Result<Vec<Migrated>> {
    let mut out = Vec::new();
    for t in crate::check::tables(lake).await? {
        let table = LakeTable::new(lake, &t.dir);
        let legacy = legacy_files(lake.raw_store().as_ref(), &lake.path(&t.dir)).await?;
        let has_log = table.exists().await?;
        if legacy.markers.is_empty() && (has_log || legacy.files.is_empty()) {
            continue;
        }
        if table.seen(MIGRATED).await?.is_some() {
            // Migrated by a run cut short before it deleted every marker.
            delete_markers(lake, &legacy).await?;
            continue;
        }
        // Files the log already has (written by a Pulse that kept both) stay as they are.
        let loaded = table.load().await?;
        let live: HashSet<String> = match &loaded {
            Some(loaded) => table.paths(loaded)?,
            None => HashSet::new(),
        };
        let root = format!("{}/", lake.path(&t.dir));
        let rel = |f: &ObjectMeta| -> String {
            let p = f.location.as_ref();
            p.strip_prefix(root.as_str()).unwrap_or(p).to_string()
        };
        let adding: Vec<&ObjectMeta> = legacy
            .files
            .iter()
            .filter(|f| !live.contains(&rel(f)))
            .collect();
        let mut footers = Vec::new();
        let mut unreadable = Vec::new();
        for f in adding {
            match footer(lake, f).await {
                Ok(meta) => footers.push((f, meta)),
                // A bad file is left out; a store that failed fails the migration.
                Err(e @ (Error::Unreadable { .. } | Error::Parquet(_))) => {
                    unreadable.push(BadFile {
                        table: t.name.clone(),
                        path: format!("{}/{}", t.dir, rel(f)),
                        reason: e.to_string(),
                    })
                }
                Err(e) => return Err(e),
            }
        }
        crate::check::keep_aside(lake, &unreadable).await?;
        let shape = if let Some(shape) = shape_of(&t.dir) {
            shape
        } else if let Some(loaded) = &loaded {
            // Its log says its schema.
            table.shape(loaded)?
        } else if let Some((_, meta)) = footers.last() {
            // A job output: its schema is its newest file's (older days read new columns as
            // NULL, as they did before).
            let schema = parquet::arrow::parquet_to_arrow_schema(
                meta.file_metadata().schema_descr(),
                meta.file_metadata().key_value_metadata(),
            )?;
            Shape::daily(Arc::new(schema))
        } else {
            // Nothing readable says what this job output holds: nothing to add.
            delete_markers(lake, &legacy).await?;
            continue;
        };
        let landed = t.dir.starts_with("raw/") || t.dir.starts_with("quarantine/");
        let mut data = Vec::new();
        let mut txns = Vec::new();
        for (f, meta) in &footers {
            let path = rel(f);
            let parts = partitions_of(&path, &shape.partitions);
            data.push(DataFile::new(path, f.size, parts, meta, &shape.schema));
        }
        if landed {
            // Landed files compacted away were landed too.
            let names = footers
                .iter()
                .filter_map(|(f, _)| f.location.filename())
                .chain(legacy.replaced.iter().map(String::as_str));
            for name in names {
                if let Some(stem) = crate::land::land_stem(name) {
                    txns.push((crate::land::land_txn(stem), 0));
                }
            }
        }
        txns.sort();
        txns.dedup();
        // Recorded in the same commit: a rerun after it only deletes markers.
        txns.push((MIGRATED.to_string(), 0));
        table.adopt(&shape, &data, txns).await?;
        delete_markers(lake, &legacy).await?;
        let rows = data.iter().map(|d| d.rows).sum();
        tracing::info!(table = %t.dir, files = data.len(), rows, "migrated");
        out.push(Migrated {
            dir: t.dir,
            files: data.len(),
            rows,
            unreadable,
        });
    }
    Ok(out)
}

/// The Delta transaction that records a table's migration.
const MIGRATED: &str = "pulse-migrate";

/// Deletes the old layout's commit markers (once the table holds what they showed).
async fn delete_markers(lake: &Lake, legacy: &Legacy) -> Result<()> {
    for m in &legacy.markers {
        match lake.raw_store().delete(m).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
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
    if let Some(problem) = crate::check::footer_problem(&[], f.size).filter(|_| f.size < 12) {
        return Err(Error::Unreadable {
            path: f.location.to_string(),
            reason: problem,
        });
    }
    let store = lake.raw_store();
    let mut want = f.size.min(64 << 10);
    loop {
        let tail = store.get_range(&f.location, f.size - want..f.size).await?;
        if let Some(problem) = crate::check::footer_problem(&tail, f.size) {
            return Err(Error::Unreadable {
                path: f.location.to_string(),
                reason: problem,
            });
        }
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

/// A commit marker of the layout before Delta tables: the files its commit replaced in its
/// directory.
#[derive(Debug, Deserialize)]
struct Marker {
    generation: String,
    replaces: HashSet<String>,
}

/// What the layout before Delta tables showed under a directory.
#[derive(Debug, Default)]
pub struct Legacy {
    /// The Parquet files a reader saw, sorted: in each directory, files named
    /// `c-<gen>-<n>.parquet` once a marker `_commit-<gen>.json` committed them, other names
    /// always, less those a marker replaced.
    pub files: Vec<ObjectMeta>,
    /// The names markers replaced (compacted away; the files may be gone).
    pub replaced: Vec<String>,
    /// The commit markers.
    pub markers: Vec<Path>,
}

/// What the layout before Delta tables showed under `dir`, recursively. Nothing under a Delta
/// log or another hidden name.
pub async fn legacy_files(store: &dyn ObjectStore, dir: &Path) -> Result<Legacy> {
    let depth = dir.parts().count();
    let all: Vec<ObjectMeta> = store.list(Some(dir)).try_collect().await?;
    let split = |p: &Path| -> (String, String) {
        let s = p.as_ref();
        let (d, n) = s.rsplit_once('/').unwrap_or(("", s));
        (d.to_string(), n.to_string())
    };
    let mut replaced: HashMap<String, HashSet<String>> = HashMap::new();
    let mut markers = Vec::new();
    let mut committed: HashMap<String, HashSet<String>> = HashMap::new();
    for o in &all {
        let (d, name) = split(&o.location);
        if name.starts_with("_commit-") && name.ends_with(".json") {
            let bytes = store.get_opts(&o.location, GetOptions::default()).await?;
            let bytes = bytes.bytes().await?;
            let m: Marker = serde_json::from_slice(&bytes).map_err(|e| Error::CorruptMarker {
                path: o.location.to_string(),
                reason: e.to_string(),
            })?;
            replaced.entry(d.clone()).or_default().extend(m.replaces);
            committed.entry(d).or_default().insert(m.generation);
            markers.push(o.location.clone());
        }
    }
    let mut out: Vec<ObjectMeta> = all
        .into_iter()
        .filter(|o| {
            if o.location
                .parts()
                .skip(depth)
                .any(|p| crate::view::is_hidden(p.as_ref()))
            {
                return false;
            }
            let (d, name) = split(&o.location);
            if !name.ends_with(".parquet") || replaced.get(&d).is_some_and(|r| r.contains(&name)) {
                return false;
            }
            match name.strip_prefix("c-").and_then(|r| r.split_once('-')) {
                Some((generation, _)) => committed.get(&d).is_some_and(|c| c.contains(generation)),
                None => true,
            }
        })
        .collect();
    out.sort_by(|a, b| a.location.cmp(&b.location));
    let mut names: Vec<String> = replaced.into_values().flatten().collect();
    names.sort();
    names.dedup();
    Ok(Legacy {
        files: out,
        replaced: names,
        markers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// The old protocol: committed generations show, replaced and uncommitted files do not.
    #[tokio::test]
    async fn legacy_files_follow_the_markers() {
        let store = object_store::memory::InMemory::new();
        let p = |s: &str| Path::from(s);
        for n in [
            "a.parquet",
            "b.parquet",
            "c-g1-0000.parquet",
            "c-g2-0000.parquet",
        ] {
            store
                .put(&p(&format!("t/dt=1/{n}")), Bytes::from_static(b"x").into())
                .await
                .unwrap();
        }
        store
            .put(
                &p("t/dt=1/_commit-g1.json"),
                Bytes::from_static(
                    br#"{"version":1,"generation":"g1","replaces":["a.parquet"],"adds":[]}"#,
                )
                .into(),
            )
            .await
            .unwrap();
        store
            .put(
                &p("t/_delta_log/0.parquet"),
                Bytes::from_static(b"x").into(),
            )
            .await
            .unwrap();
        let legacy = legacy_files(&store, &p("t")).await.unwrap();
        assert_eq!(legacy.replaced, ["a.parquet"]);
        let names: Vec<String> = legacy
            .files
            .into_iter()
            .map(|o| o.location.to_string())
            .collect();
        assert_eq!(names, ["t/dt=1/b.parquet", "t/dt=1/c-g1-0000.parquet"]);
    }
}
