//! Finding the lake files that cannot be read, and moving them out of the way.
//!
//! A truncated or corrupt Parquet file fails every query that scans its table, and
//! DataFusion's error ("Corrupt footer") does not say which file it was. [`check`] reads the
//! footer (and optionally every page) of each visible file and reports the unreadable ones
//! with the reason; [`quarantine`] keeps a copy of each under `sys/quarantined/` and removes
//! it from its table's Delta log, so jobs run again on the remaining files. [`quarantined`] lists what was moved and why.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::catalog::{list_dirs, list_files};
use crate::schema::RawTable;
use crate::{Lake, Result};

/// Where quarantined files are kept, relative to the lake root.
pub const QUARANTINED_DIR: &str = "sys/quarantined";

/// A lake table and the directory that holds its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDir {
    /// The name SQL knows it by.
    pub name: String,
    /// Its directory, relative to the lake root.
    pub dir: String,
}

/// An unreadable file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadFile {
    /// The table it belongs to.
    pub table: String,
    /// Its path relative to the lake root.
    pub path: String,
    /// Why it cannot be read.
    pub reason: String,
}

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Only this table.
    pub table: Option<String>,
    /// Only the partition `dt=<date>`.
    pub date: Option<String>,
    /// Decode every page, not only the footer.
    pub pages: bool,
}

/// What [`check`] found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Files read.
    pub checked: usize,
    /// Files that could not be read.
    pub bad: Vec<BadFile>,
}

/// Every table stored as Parquet in the lake: raw tables, quarantine tables, job outputs and
/// the run log.
pub async fn tables(lake: &Lake) -> Result<Vec<TableDir>> {
    let mut out: Vec<TableDir> = RawTable::ALL
        .iter()
        .map(|t| TableDir {
            name: t.name().to_string(),
            dir: t.dir(),
        })
        .collect();
    for source in list_dirs(lake, "quarantine").await? {
        out.push(TableDir {
            name: format!("quarantine_{source}"),
            dir: format!("quarantine/{source}"),
        });
    }
    for table in list_dirs(lake, "agg").await? {
        out.push(TableDir {
            dir: format!("agg/{table}"),
            name: table,
        });
    }
    out.push(TableDir {
        name: "runs_log".into(),
        dir: "sys/runs".into(),
    });
    Ok(out)
}

/// Reads every visible Parquet file of the chosen tables and reports those that fail.
pub async fn check(lake: &Lake, o: &CheckOptions) -> Result<Report> {
    let mut report = Report::default();
    for t in tables(lake).await? {
        if o.table.as_ref().is_none_or(|name| *name == t.name) {
            check_table(lake, &t, o, &mut report).await?;
        }
    }
    Ok(report)
}

async fn check_table(
    lake: &Lake,
    t: &TableDir,
    o: &CheckOptions,
    report: &mut Report,
) -> Result<()> {
    let root = format!("{}/", lake.path(""));
    // The files the table's log names (a missing one is a bad file too); a table without a
    // log is listed (and refused when it was written before Delta tables).
    let table = crate::delta::LakeTable::new(lake, &t.dir);
    let paths: Vec<Path> = match table.load().await? {
        Some(loaded) => table
            .files(&loaded)?
            .into_iter()
            .map(|f| lake.path(&format!("{}/{}", t.dir, f.0)))
            .collect(),
        None => list_files(lake, &t.dir)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect(),
    };
    for path in paths {
        let rel = path.as_ref().trim_start_matches(&root).to_string();
        if !rel.ends_with(".parquet") {
            continue;
        }
        if let Some(d) = &o.date
            && !rel.contains(&format!("/dt={d}/"))
        {
            continue;
        }
        report.checked += 1;
        if let Err(reason) = read_file(lake, &path, o.pages).await {
            report.bad.push(BadFile {
                table: t.name.clone(),
                path: rel,
                reason,
            });
        }
    }
    Ok(())
}

/// The unreadable files of the tables whose names appear in `sql` (all tables when none
/// does): what a failed query or job adds to its error.
pub async fn unreadable_in(lake: &Lake, sql: &str) -> Result<Vec<BadFile>> {
    let words: std::collections::HashSet<&str> = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    let all = tables(lake).await?;
    let named = all.iter().any(|t| words.contains(t.name.as_str()));
    let mut report = Report::default();
    for t in &all {
        if !named || words.contains(t.name.as_str()) {
            check_table(lake, t, &CheckOptions::default(), &mut report).await?;
        }
    }
    Ok(report.bad)
}

/// True when an error's text looks like a file that could not be decoded, which is when
/// naming the unreadable files helps.
pub fn looks_like_bad_file(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    [
        "parquet",
        "corrupt",
        "footer",
        "eof",
        "magic",
        "thrift",
        "out of spec",
    ]
    .iter()
    .any(|w| e.contains(w))
}

/// What is wrong with a Parquet file's last 8 bytes for a file of `size` bytes, if anything.
/// The parquet crate (59.3) computes `size - 8 - metadata_length` unchecked, so a footer
/// that claims more metadata than the file holds panics in debug builds: check it first.
pub fn footer_problem(tail: &[u8], size: u64) -> Option<String> {
    if size < 12 || tail.len() < 8 {
        return Some(format!("{size} bytes is too short for a Parquet file"));
    }
    let tail = &tail[tail.len() - 8..];
    if &tail[4..] != b"PAR1" {
        return Some("no Parquet magic at the end (truncated?)".into());
    }
    let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    if len + 12 > size {
        return Some(format!(
            "the footer claims {len} bytes of metadata in a file of {size} bytes"
        ));
    }
    None
}

/// Checks the footer of every file at `url` (a file or a directory, local or in an object
/// store registered in `ctx`) before a reader trusts it (see [`footer_problem`]).
pub async fn check_footers(ctx: &datafusion::prelude::SessionContext, url: &str) -> Result<()> {
    let table_url = datafusion::datasource::listing::ListingTableUrl::parse(url)?;
    let store = ctx.runtime_env().object_store(&table_url)?;
    let mut files: Vec<_> = store.list(Some(table_url.prefix())).try_collect().await?;
    if files.is_empty() {
        // A single file: listing a file's path finds nothing on some stores.
        if let Ok(meta) = store.head(table_url.prefix()).await {
            files.push(meta);
        }
    }
    for f in files {
        let from = f.size.saturating_sub(8);
        let tail = store.get_range(&f.location, from..f.size).await?;
        if let Some(reason) = footer_problem(&tail, f.size) {
            return Err(crate::Error::Unreadable {
                path: f.location.to_string(),
                reason,
            });
        }
    }
    Ok(())
}

async fn read_file(lake: &Lake, path: &Path, pages: bool) -> Result<(), String> {
    let bytes = lake
        .raw_store()
        .get(path)
        .await
        .map_err(|e| match e {
            object_store::Error::NotFound { .. } => {
                "missing from the store, though its table's Delta log names it".to_string()
            }
            e => e.to_string(),
        })?
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    if let Some(problem) = footer_problem(&bytes, bytes.len() as u64) {
        return Err(problem);
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| e.to_string())?;
    if pages {
        for batch in builder.build().map_err(|e| e.to_string())? {
            batch.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// A quarantined file: where it was, where its bytes are kept, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    /// The file as it was found.
    pub file: BadFile,
    /// Where its bytes are kept, relative to the lake root.
    pub kept_at: String,
}

/// Keeps a copy of each bad file under [`QUARANTINED_DIR`] with a record of why, then removes
/// the file from its table's Delta log in one commit. Nothing is deleted (vacuum may delete
/// the table's copy later; the one under `kept_at` stays).
pub async fn quarantine(lake: &Lake, bad: &[BadFile]) -> Result<Vec<Quarantined>> {
    let kept = keep_aside(lake, bad).await?;
    for f in bad {
        if let Some((root, inside)) = crate::delta::table_root(&f.path) {
            crate::delta::LakeTable::new(lake, root)
                .remove(vec![inside.to_string()])
                .await?;
        }
    }
    Ok(kept)
}

/// Copies each bad file to `sys/quarantined/<its path>` with a `.json` record of why.
pub async fn keep_aside(lake: &Lake, bad: &[BadFile]) -> Result<Vec<Quarantined>> {
    let store = lake.raw_store();
    let mut out = Vec::new();
    for f in bad {
        let from = lake.path(&f.path);
        let kept_at = format!("{QUARANTINED_DIR}/{}", f.path);
        // A missing file leaves only its record.
        match store.get(&from).await {
            Ok(got) => {
                let bytes = got.bytes().await?;
                store.put(&lake.path(&kept_at), bytes.into()).await?;
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let q = Quarantined {
            file: f.clone(),
            kept_at: kept_at.clone(),
        };
        let record = serde_json::to_vec_pretty(&q).map_err(|e| crate::Error::CorruptMarker {
            path: kept_at.clone(),
            reason: e.to_string(),
        })?;
        store
            .put(
                &lake.path(&format!("{kept_at}.json")),
                Bytes::from(record).into(),
            )
            .await?;
        out.push(q);
    }
    Ok(out)
}

/// The files quarantined so far.
pub async fn quarantined(lake: &Lake) -> Result<Vec<Quarantined>> {
    let prefix = lake.path(QUARANTINED_DIR);
    let objects: Vec<_> = lake.raw_store().list(Some(&prefix)).try_collect().await?;
    let mut out = Vec::new();
    for o in objects {
        if !o.location.as_ref().ends_with(".json") {
            continue;
        }
        let bytes = lake.raw_store().get(&o.location).await?.bytes().await?;
        let q: Quarantined =
            serde_json::from_slice(&bytes).map_err(|e| crate::Error::CorruptMarker {
                path: o.location.to_string(),
                reason: e.to_string(),
            })?;
        out.push(q);
    }
    out.sort_by(|a, b| a.file.path.cmp(&b.file.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::footer_problem;

    /// Found by the edge-file property test: a footer claiming more metadata than the file
    /// holds made the parquet crate subtract past zero (a panic in debug builds).
    #[test]
    fn a_footer_claiming_too_much_metadata_is_refused_before_parquet_reads_it() {
        let mut file = b"PAR1garbage".to_vec();
        file.extend_from_slice(&1000u32.to_le_bytes());
        file.extend_from_slice(b"PAR1");
        let why = footer_problem(&file, file.len() as u64).unwrap();
        assert!(why.contains("1000 bytes of metadata"), "{why}");
        assert!(footer_problem(b"PAR1", 4).is_some());
        assert!(
            footer_problem(b"0123456789abcdef", 16)
                .unwrap()
                .contains("magic")
        );
        let mut ok = b"PAR1xxxx".to_vec();
        ok.extend_from_slice(&4u32.to_le_bytes());
        ok.extend_from_slice(b"PAR1");
        assert_eq!(footer_problem(&ok, ok.len() as u64), None);
    }
}
