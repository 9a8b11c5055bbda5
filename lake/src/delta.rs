//! Every lake table is a Delta table (delta-rs): its `_delta_log` says which files make it up,
//! so any Delta reader (Spark, DuckDB, Python's `deltalake`, ...) sees exactly the data Pulse
//! committed, and every change is one atomic commit.
//!
//! Pulse writes the Parquet files itself (its own encoders, names and writer properties) and
//! uses delta-rs for the log: [`LakeTable::commit`] turns files already in the store into one
//! commit (an append, a replacement of whole days, a rewrite that keeps the rows, a removal),
//! retrying on a conflict with a concurrent writer. A table is created by its first commit,
//! with its schema, partition columns and `pulse.schema_version` as a table property.
//!
//! Idempotent landing: an append may carry a transaction identifier (Delta's `txn` action, app
//! id and version, the mechanism Delta streaming writers use for exactly-once). A commit whose
//! app id the table has already seen at that version or later adds nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, Remove, StructType, Transaction};
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError};
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::{Statistics, ValueStatistics};
use url::Url;

use crate::schema::{SCHEMA_VERSION, SCHEMA_VERSION_KEY};
use crate::{Error, Lake, Result};

/// The `commitInfo` field naming the job run that made a commit.
pub const RUN_ID_KEY: &str = "pulse.run_id";

/// How many times a commit is retried when another writer committed first.
const COMMIT_RETRIES: usize = 30;

/// Longest string kept as a min/max statistic: longer values are left out rather than
/// truncated (a truncated maximum is not an upper bound).
const MAX_STAT_STRING: usize = 32;

/// A file Pulse wrote under a table's root, to be added by a commit.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// Path relative to the table root, e.g. `dt=2026-01-05/hour=03/x.parquet`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Partition column values, e.g. `[("dt", "2026-01-05"), ("hour", "3")]`.
    pub partitions: Vec<(String, String)>,
    /// Rows in the file.
    pub rows: u64,
    /// Delta statistics JSON (row count, null counts, minima and maxima).
    pub stats: String,
}

impl DataFile {
    /// Describes a Parquet file from its footer; `schema` is its file schema (for the types of
    /// the statistics).
    pub fn new(
        path: String,
        size: u64,
        partitions: Vec<(String, String)>,
        meta: &ParquetMetaData,
        schema: &Schema,
    ) -> DataFile {
        let rows = meta.file_metadata().num_rows().max(0) as u64;
        DataFile {
            stats: stats_json(meta, schema, rows),
            path,
            size,
            partitions,
            rows,
        }
    }

    /// Describes Parquet `bytes` (a whole file).
    pub fn from_bytes(
        path: String,
        bytes: &bytes::Bytes,
        partitions: Vec<(String, String)>,
        schema: &Schema,
    ) -> Result<DataFile> {
        let meta = parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(bytes)?;
        Ok(DataFile::new(
            path,
            bytes.len() as u64,
            partitions,
            &meta,
            schema,
        ))
    }

    fn add(&self, data_change: bool) -> Add {
        Add {
            path: self.path.clone(),
            partition_values: self
                .partitions
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
            size: self.size as i64,
            modification_time: chrono::Utc::now().timestamp_millis(),
            data_change,
            stats: Some(self.stats.clone()),
            ..Default::default()
        }
    }
}

/// The Delta statistics of a Parquet file: rows, and per top-level column its null count and,
/// where the footer has exact values, its minimum and maximum.
fn stats_json(meta: &ParquetMetaData, schema: &Schema, rows: u64) -> String {
    use serde_json::{Map, Value, json};
    let mut nulls = Map::new();
    let mut mins = Map::new();
    let mut maxs = Map::new();
    let descr = meta.file_metadata().schema_descr();
    for (i, col) in descr.columns().iter().enumerate() {
        let path = col.path().parts();
        let [name] = path else { continue };
        let Ok(field) = schema.field_with_name(name) else {
            continue;
        };
        let mut null_count = 0u64;
        let mut lo: Option<Value> = None;
        let mut hi: Option<Value> = None;
        let mut exact = true;
        for rg in meta.row_groups() {
            let Some(s) = rg.column(i).statistics() else {
                exact = false;
                continue;
            };
            null_count += s.null_count_opt().unwrap_or(0);
            if rg.num_rows() as u64 == s.null_count_opt().unwrap_or(0) {
                continue;
            }
            let (Some(a), Some(b)) = (
                stat_value(s, field.data_type(), false),
                stat_value(s, field.data_type(), true),
            ) else {
                exact = false;
                continue;
            };
            lo = Some(match lo {
                Some(l) if cmp_json(&l, &a).is_le() => l,
                _ => a,
            });
            hi = Some(match hi {
                Some(h) if cmp_json(&h, &b).is_ge() => h,
                _ => b,
            });
        }
        nulls.insert(name.clone(), json!(null_count));
        if exact && let (Some(l), Some(h)) = (lo, hi) {
            mins.insert(name.clone(), l);
            maxs.insert(name.clone(), h);
        }
    }
    json!({"numRecords": rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls})
        .to_string()
}

fn cmp_json(a: &serde_json::Value, b: &serde_json::Value) -> std::cmp::Ordering {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_i64()
            .zip(y.as_i64())
            .map_or(std::cmp::Ordering::Equal, |(x, y)| x.cmp(&y)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    }
}

/// One bound of a column chunk's statistics as Delta writes it, or None where it is not
/// exact or not a type Pulse records. Timestamps are rounded outwards to milliseconds (Delta
/// statistics have millisecond precision), so they stay bounds.
fn stat_value(s: &Statistics, ty: &DataType, max: bool) -> Option<serde_json::Value> {
    use serde_json::json;
    match (s, ty) {
        (Statistics::Int64(v), DataType::Timestamp(TimeUnit::Microsecond, _)) => {
            let us = *exact_bound(v, max)?;
            let ms = if max {
                us.div_euclid(1000) + i64::from(us.rem_euclid(1000) != 0)
            } else {
                us.div_euclid(1000)
            };
            let t = chrono::DateTime::from_timestamp_millis(ms)?;
            Some(json!(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
        }
        (Statistics::Int64(v), DataType::Int64) => Some(json!(exact_bound(v, max)?)),
        (Statistics::Int32(v), DataType::Int32) => Some(json!(exact_bound(v, max)?)),
        (Statistics::ByteArray(v), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) => {
            let text = exact_bound(v, max)?.as_utf8().ok()?;
            (text.chars().count() <= MAX_STAT_STRING).then(|| json!(text))
        }
        _ => None,
    }
}

/// The minimum or maximum of a column chunk, where the footer says it is exact.
fn exact_bound<T>(v: &ValueStatistics<T>, max: bool) -> Option<&T> {
    if max {
        v.max_opt().filter(|_| v.max_is_exact())
    } else {
        v.min_opt().filter(|_| v.min_is_exact())
    }
}

/// What a commit does besides adding its files.
#[derive(Debug, Clone)]
pub enum Change {
    /// Appends the files. With transactions, a table that has seen each `app_id` at its
    /// `version` or later gets nothing (an input landed again).
    Append {
        /// The writers' identities and their positions in their inputs.
        txns: Vec<(String, i64)>,
    },
    /// Replaces every file of the given `dt` days with the files (a job run's output).
    ReplaceDays(Vec<String>),
    /// Replaces the given files (paths relative to the root) with the files, rows unchanged
    /// (compaction: Delta's optimize).
    Rewrite(Vec<String>),
    /// Removes the given files (paths relative to the root).
    Remove(Vec<String>),
}

/// The shape of a table: its file schema (without partition columns) and partition columns.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Columns stored in the files.
    pub schema: SchemaRef,
    /// Hive partition columns, after the file columns.
    pub partitions: Vec<(String, DataType)>,
}

impl Shape {
    /// A table partitioned by day (`dt`): job outputs, quarantine, the run log.
    pub fn daily(schema: SchemaRef) -> Shape {
        Shape {
            schema,
            partitions: vec![("dt".into(), DataType::Utf8)],
        }
    }

    /// The table's logical schema: file columns, then partition columns.
    pub fn table_schema(&self) -> Schema {
        let mut fields: Vec<arrow::datatypes::FieldRef> =
            self.schema.fields().iter().cloned().collect();
        for (name, ty) in &self.partitions {
            fields.push(Arc::new(arrow::datatypes::Field::new(
                name,
                ty.clone(),
                false,
            )));
        }
        Schema::new(fields)
    }
}

/// A point in a table's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// A Delta version.
    Version(i64),
    /// The newest version committed at or before this time.
    Time(chrono::DateTime<chrono::Utc>),
}

/// The lake's tables as one process sees them: where they live (the store, the lake's root in
/// it, its URL) and the Delta tables loaded so far, by directory. Each is brought up to date
/// by reading only the commits made since, and the process's commits to one take turns.
/// Shared by every clone of a [`Lake`].
pub struct Tables {
    store: Arc<dyn ObjectStore>,
    store_url: Url,
    root: object_store::path::Path,
    slots: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<DeltaTable>>>>>,
    /// The live files of each table at a version, as store paths relative to its root.
    live: std::sync::Mutex<HashMap<String, (u64, LiveFiles)>>,
    /// When each table's log was last listed.
    listed_at: std::sync::Mutex<HashMap<String, std::time::Instant>>,
}

/// The live files of a table at one version and the directories that hold them, as store
/// paths relative to its root (`dt=2026-01-05/hour=3/x.parquet`; `dt=2026-01-05`,
/// `dt=2026-01-05/hour=3`).
#[derive(Debug, Default)]
pub struct Live {
    /// The files.
    pub files: HashSet<String>,
    /// Their directories, every level.
    pub dirs: HashSet<String>,
}

/// A table's live files, shared.
pub type LiveFiles = Arc<Live>;

/// How often a loaded table's log is listed even when no next commit appeared.
const FULL_REFRESH: std::time::Duration = std::time::Duration::from_secs(60);

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tables({}, {})", self.store, self.root)
    }
}

impl Tables {
    /// The tables of the lake at `root` in `store`, registered with DataFusion as `store_url`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        store_url: Url,
        root: object_store::path::Path,
    ) -> Tables {
        Tables {
            store,
            store_url,
            root,
            slots: Default::default(),
            live: Default::default(),
            listed_at: Default::default(),
        }
    }

    /// The store, every object visible (Delta logs, files no commit added).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The store URL (`file:///` or `s3://bucket`).
    pub fn store_url(&self) -> &Url {
        &self.store_url
    }

    /// The lake's root inside the store.
    pub fn root(&self) -> &object_store::path::Path {
        &self.root
    }

    /// The store path of `rel` (a `/`-separated path relative to the lake root).
    pub fn path(&self, rel: &str) -> object_store::path::Path {
        let mut p = self.root.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.join(part);
        }
        p
    }

    /// The URL of `rel` as DataFusion sees it, ending in `/` (a directory).
    pub fn url(&self, rel: &str) -> String {
        let p = self.path(rel);
        if self.store_url.scheme() == "file" {
            format!("file:///{p}/")
        } else {
            format!("{}/{p}/", self.store_url.as_str().trim_end_matches('/'))
        }
    }

    /// True when the log of the table at `rel` was listed within [`FULL_REFRESH`].
    fn listed_lately(&self, rel: &str) -> bool {
        let at = self.listed_at.lock().unwrap_or_else(|e| e.into_inner());
        at.get(rel).is_some_and(|t| t.elapsed() < FULL_REFRESH)
    }

    /// Notes that the log of the table at `rel` was just listed.
    fn listed(&self, rel: &str) {
        let mut at = self.listed_at.lock().unwrap_or_else(|e| e.into_inner());
        at.insert(rel.to_string(), std::time::Instant::now());
    }

    fn slot(&self, rel: &str) -> Arc<tokio::sync::Mutex<Option<DeltaTable>>> {
        let mut map = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(rel.to_string()).or_default().clone()
    }

    /// The live files of the table at `rel` (store paths relative to its root) at its newest
    /// version; None when it has no Delta log and no data files. A table directory with data
    /// files but no log was written before tables were Delta tables: an error says to migrate.
    pub async fn live(self: &Arc<Self>, rel: &str) -> Result<Option<LiveFiles>> {
        let table = LakeTable {
            tables: self.clone(),
            rel: rel.to_string(),
            run: None,
        };
        let Some(t) = table.load().await? else {
            table.refuse_unmigrated().await?;
            return Ok(None);
        };
        let version = t.version().unwrap_or(0);
        {
            let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((v, files)) = live.get(rel)
                && *v == version
            {
                return Ok(Some(files.clone()));
            }
        }
        let snapshot = t.snapshot().map_err(|e| table.error(e))?;
        let mut files = Live::default();
        for f in snapshot.log_data().iter() {
            let path = object_store::path::Path::from(f.path().as_ref()).to_string();
            let mut dir = path.as_str();
            while let Some((parent, _)) = dir.rsplit_once('/') {
                files.dirs.insert(parent.to_string());
                dir = parent;
            }
            files.files.insert(path);
        }
        let files = Arc::new(files);
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.insert(rel.to_string(), (version, files.clone()));
        Ok(Some(files))
    }
}

/// A 16-hex-digit generation for the names of new files (`c-<generation>-<n>.parquet`) that no
/// other writer uses: a hash of `seed`, this process and the time.
pub fn unique_generation(seed: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(seed);
    h.update(&std::process::id().to_le_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.update(&nanos.to_le_bytes());
    h.finalize().to_hex()[..16].to_string()
}

/// Fault injection for the crash tests: with `PULSE_PAUSE_BEFORE_COMMIT=<text>`, a writer
/// whose table directory contains the text waits a minute after writing its files and before
/// committing them, so a test can kill the process there.
pub async fn pause_before_commit(rel: &str) {
    if let Ok(t) = std::env::var("PULSE_PAUSE_BEFORE_COMMIT")
        && !t.is_empty()
        && rel.contains(&t)
    {
        tracing::warn!(
            table = rel,
            "PULSE_PAUSE_BEFORE_COMMIT: pausing before the commit"
        );
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

/// The table a lake path (relative to the lake root) belongs to, and the path inside it:
/// tables are the first two levels, `raw/<table>`, `agg/<table>`, `quarantine/<source>`, and
/// the run log `sys/runs`. None for paths outside tables (scratch space, reference files).
pub fn table_root(rel: &str) -> Option<(&str, &str)> {
    let rel = rel.trim_start_matches('/');
    let (top, rest) = rel.split_once('/')?;
    let (name, inside) = rest.split_once('/').unwrap_or((rest, ""));
    let is_table = match top {
        "raw" | "agg" | "quarantine" => !name.is_empty(),
        "sys" => name == "runs",
        _ => false,
    };
    is_table.then(|| (&rel[..top.len() + 1 + name.len()], inside))
}

/// A Delta table of the lake at a directory (`raw/streams`, `agg/pagerank`, ...).
#[derive(Debug, Clone)]
pub struct LakeTable {
    tables: Arc<Tables>,
    rel: String,
    /// The job run its commits belong to, recorded in each commit's `commitInfo`.
    run: Option<String>,
}

impl LakeTable {
    /// The table at `rel` in `lake`.
    pub fn new(lake: &Lake, rel: &str) -> LakeTable {
        LakeTable {
            tables: lake.tables().clone(),
            rel: rel.trim_matches('/').to_string(),
            run: None,
        }
    }

    /// The same table, its commits recorded as made by the job run `run` (its run id, as
    /// `pulse.run_id` in each commit's `commitInfo`): see [`crate::travel::committed_by`].
    pub fn for_run(mut self, run: Option<String>) -> LakeTable {
        self.run = run;
        self
    }

    /// Its directory, relative to the lake root.
    pub fn rel(&self) -> &str {
        &self.rel
    }

    /// The Delta log store of the table, over the lake's store (not the filtered view).
    pub fn log_store(&self) -> Result<LogStoreRef> {
        let root: Arc<dyn ObjectStore> = self.tables.store.clone();
        let prefixed: Arc<dyn ObjectStore> =
            Arc::new(PrefixStore::new(root.clone(), self.tables.path(&self.rel)));
        let url = Url::parse(&self.tables.url(&self.rel)).map_err(|e| Error::InvalidLocation {
            url: self.tables.url(&self.rel),
            reason: e.to_string(),
        })?;
        Ok(default_logstore(
            prefixed,
            root,
            &url,
            &StorageConfig::default(),
        ))
    }

    /// True when the table has a Delta log.
    pub async fn exists(&self) -> Result<bool> {
        let log = self.tables.path(&format!("{}/_delta_log", self.rel));
        let listed = self.tables.store.list_with_delimiter(Some(&log)).await?;
        Ok(!listed.objects.is_empty())
    }

    /// The table at its latest version, or None when it has no log yet.
    pub async fn load(&self) -> Result<Option<DeltaTable>> {
        let slot = self.tables.slot(&self.rel);
        let mut cached = slot.lock().await;
        self.refresh(&mut cached).await?;
        Ok(cached.clone())
    }

    /// Brings the process's copy of the table up to date: reads only the commits made since
    /// it was loaded (the whole log, from its last checkpoint, the first time).
    /// While no commit follows the loaded version (one `head` of the next commit's file tells),
    /// nothing is read; every [`FULL_REFRESH`] the log is listed anyway, in case its commits
    /// since were cleaned up behind a checkpoint.
    async fn refresh(&self, cached: &mut Option<DeltaTable>) -> Result<()> {
        match cached {
            Some(t) => {
                if let Some(v) = t.version() {
                    let next =
                        self.tables
                            .path(&format!("{}/_delta_log/{:020}.json", self.rel, v + 1));
                    let listed_lately = self.tables.listed_lately(&self.rel);
                    match self.tables.store.head(&next).await {
                        Err(object_store::Error::NotFound { .. }) if listed_lately => {
                            return Ok(());
                        }
                        Err(object_store::Error::NotFound { .. }) | Ok(_) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                t.load().await.map_err(|e| self.error(e))?;
                self.tables.listed(&self.rel);
                Ok(())
            }
            None => {
                *cached = self.load_at(None).await?;
                self.tables.listed(&self.rel);
                Ok(())
            }
        }
    }

    /// The table at `at` (its latest version when None), or None when it has no log yet;
    /// read from the store, not the process's copy.
    pub async fn load_at(&self, at: Option<At>) -> Result<Option<DeltaTable>> {
        if !self.exists().await? {
            return Ok(None);
        }
        let mut t = DeltaTable::new(self.log_store()?);
        let r = match at {
            Some(At::Version(v)) => t.load_version(v.max(0) as u64).await,
            Some(At::Time(time)) => t.load_with_datetime(time).await,
            None => t.load().await,
        };
        match r {
            Ok(()) => Ok(Some(t)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Fails when the table, which has no Delta log, holds data files: writers create a
    /// table before they put its first file, so those were written before Pulse's tables
    /// were Delta tables.
    pub(crate) async fn refuse_unmigrated(&self) -> Result<()> {
        let dir = self.tables.path(&self.rel);
        let legacy = crate::migrate::legacy_files(self.tables.store.as_ref(), &dir).await?;
        match legacy.files.first() {
            // Another writer created the table and put its first file meanwhile.
            Some(_) if self.exists().await? => Ok(()),
            Some(f) => Err(Error::NotMigrated {
                table: self.rel.clone(),
                found: format!("data files but no Delta log, e.g. {}", f.location),
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn error(&self, e: DeltaTableError) -> Error {
        Error::Delta {
            table: self.rel.clone(),
            source: Box::new(e),
        }
    }

    /// Creates the table with `shape` unless it has a log: writers call this before they put
    /// the table's first file, so a table directory with data files always has a log.
    pub async fn ensure(&self, shape: &Shape) -> Result<()> {
        let slot = self.tables.slot(&self.rel);
        let mut cached = slot.lock().await;
        self.open_or_create(&mut cached, shape).await.map(|_| ())
    }

    /// Version 0 of the table: its schema, partition columns and properties, and `actions`.
    async fn create(
        &self,
        shape: &Shape,
        actions: Vec<Action>,
    ) -> Result<std::result::Result<DeltaTable, DeltaTableError>> {
        let schema: StructType = (&shape.table_schema())
            .try_into_kernel()
            .map_err(|e| self.error(DeltaTableError::from(e)))?;
        Ok(DeltaTable::new(self.log_store()?)
            .create()
            .with_columns(schema.fields().cloned())
            .with_partition_columns(shape.partitions.iter().map(|(n, _)| n.clone()))
            .with_configuration_property(
                deltalake_core::TableProperty::CheckpointInterval,
                Some("100"),
            )
            .with_configuration([(
                SCHEMA_VERSION_KEY.to_string(),
                Some(SCHEMA_VERSION.to_string()),
            )])
            .with_raise_if_key_not_exists(false)
            .with_actions(actions)
            .with_save_mode(SaveMode::ErrorIfExists)
            .await)
    }

    /// The table, up to date in `cached`, created (version 0, no files) with `shape` if it
    /// has no log yet.
    async fn open_or_create(
        &self,
        cached: &mut Option<DeltaTable>,
        shape: &Shape,
    ) -> Result<DeltaTable> {
        self.refresh(cached).await?;
        if let Some(t) = cached {
            return Ok(t.clone());
        }
        // A table written before Delta: creating a log now would hide its data.
        self.refuse_unmigrated().await?;
        match self.create(shape, Vec::new()).await? {
            Ok(t) => {
                *cached = Some(t.clone());
                Ok(t)
            }
            // Another writer created it first.
            Err(_) if self.exists().await? => {
                self.refresh(cached).await?;
                cached
                    .clone()
                    .ok_or_else(|| self.error(DeltaTableError::NotATable(self.rel.clone())))
            }
            Err(e) => Err(self.error(e)),
        }
    }

    /// Commits `files` (already in the store under the table root) with `change`, creating
    /// the table with `shape` first if needed. Returns the new version, or None when an
    /// append's transaction was already committed (nothing changed).
    pub async fn commit(
        &self,
        shape: &Shape,
        files: &[DataFile],
        change: Change,
    ) -> Result<Option<i64>> {
        // This process's commits to a table take turns (no conflict to resolve among them).
        // A commit that lost to another process's, which delta-rs cannot reconcile (the table
        // was created or changed its schema meanwhile), starts again from the newest version.
        let slot = self.tables.slot(&self.rel);
        let mut cached = slot.lock().await;
        let mut attempt = 0;
        loop {
            let table = self.open_or_create(&mut cached, shape).await?;
            self.still_live(&table, &change)?;
            match self
                .commit_to(&table, Some(shape), files, change.clone())
                .await
            {
                Ok(done) => {
                    return Ok(done.map(|(v, t)| {
                        *cached = Some(t);
                        v
                    }));
                }
                Err(Error::Delta { source, .. })
                    if attempt < 5 && matches!(*source, DeltaTableError::Transaction { .. }) =>
                {
                    attempt += 1;
                    tracing::debug!(table = %self.rel, attempt, error = %source, "commit conflict; again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Fails when a file `change` replaces or removes is no longer live in `table`: another
    /// writer's commit removed it since this one's files were chosen (delta-rs sees no
    /// conflict when that commit came before the snapshot this one starts from).
    fn still_live(&self, table: &DeltaTable, change: &Change) -> Result<()> {
        let (Change::Rewrite(old) | Change::Remove(old)) = change else {
            return Ok(());
        };
        let live = self.paths(table)?;
        match old.iter().find(|p| !live.contains(*p)) {
            Some(p) => Err(self.error(DeltaTableError::Generic(format!(
                "a concurrent commit removed {p}, which this commit replaces; run it again"
            )))),
            None => Ok(()),
        }
    }

    /// The version of the Delta transaction `app` the table has seen, if any.
    pub async fn seen(&self, app: &str) -> Result<Option<i64>> {
        let Some(table) = self.load().await? else {
            return Ok(None);
        };
        let snapshot = table.snapshot().map_err(|e| self.error(e))?;
        snapshot
            .transaction_version(table.log_store().as_ref(), app)
            .await
            .map_err(|e| self.error(e))
    }

    /// The shape of the loaded table: its file columns (its schema less the partition
    /// columns) and its partition columns.
    pub fn shape(&self, table: &DeltaTable) -> Result<Shape> {
        use deltalake_core::kernel::engine::arrow_conversion::TryIntoArrow;
        let snapshot = table.snapshot().map_err(|e| self.error(e))?;
        let schema: Schema = snapshot
            .schema()
            .as_ref()
            .try_into_arrow()
            .map_err(|e| self.error(DeltaTableError::from(e)))?;
        let parts = snapshot.metadata().partition_columns().to_vec();
        let mut partitions = Vec::new();
        let mut fields = Vec::new();
        for f in schema.fields() {
            if parts.contains(f.name()) {
                partitions.push((f.name().clone(), f.data_type().clone()));
            } else {
                fields.push(f.clone());
            }
        }
        Ok(Shape {
            schema: Arc::new(Schema::new(fields)),
            partitions,
        })
    }

    /// Makes the files the layout before Delta tables showed (`files`, with the inputs they
    /// were landed from, `txns`) part of the table: its version 0 when it has no log (one
    /// commit), else an append.
    pub(crate) async fn adopt(
        &self,
        shape: &Shape,
        files: &[DataFile],
        txns: Vec<(String, i64)>,
    ) -> Result<()> {
        {
            let slot = self.tables.slot(&self.rel);
            let mut cached = slot.lock().await;
            self.refresh(&mut cached).await?;
            if cached.is_none() {
                let now = chrono::Utc::now().timestamp_millis();
                let mut actions: Vec<Action> =
                    files.iter().map(|f| Action::Add(f.add(true))).collect();
                actions.extend(txns.iter().map(|(app, version)| {
                    Action::Txn(Transaction::new_with_last_update(app, *version, Some(now)))
                }));
                let created = self.create(shape, actions).await?;
                *cached = Some(created.map_err(|e| self.error(e))?);
                return Ok(());
            }
        }
        self.commit(shape, files, Change::Append { txns }).await?;
        Ok(())
    }

    /// Removes files (paths relative to the root) from the table in one commit; nothing when
    /// the table has no log.
    pub async fn remove(&self, paths: Vec<String>) -> Result<Option<i64>> {
        let slot = self.tables.slot(&self.rel);
        let mut cached = slot.lock().await;
        self.refresh(&mut cached).await?;
        let Some(t) = cached.clone() else {
            return Ok(None);
        };
        let done = self.commit_to(&t, None, &[], Change::Remove(paths)).await?;
        Ok(done.map(|(v, t)| {
            *cached = Some(t);
            v
        }))
    }

    /// Deletes the table's files no reader needs any more (Delta's vacuum): files a commit
    /// removed at least `retention` ago, and files no commit added (a writer that died before
    /// committing) older than that. The delay lets a query that listed the files before a
    /// commit finish reading them. Returns how many files it deleted.
    pub async fn vacuum(&self, retention: chrono::Duration) -> Result<usize> {
        use deltalake_core::operations::vacuum::VacuumMode;
        let table = {
            let slot = self.tables.slot(&self.rel);
            let mut cached = slot.lock().await;
            self.refresh(&mut cached).await?;
            cached.clone()
        };
        let Some(table) = table else {
            return Ok(0);
        };
        let markers =
            crate::migrate::legacy_files(self.tables.store.as_ref(), &self.tables.path(&self.rel))
                .await?;
        if !markers.markers.is_empty() {
            return Err(Error::NotMigrated {
                table: self.rel.clone(),
                found: format!("{} commit marker(s) of that layout", markers.markers.len()),
            });
        }
        let (_, metrics) = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .await
            .map_err(|e| self.error(e))?;
        Ok(metrics.files_deleted.len())
    }

    async fn commit_to(
        &self,
        table: &DeltaTable,
        shape: Option<&Shape>,
        files: &[DataFile],
        change: Change,
    ) -> Result<Option<(i64, DeltaTable)>> {
        let snapshot = table.snapshot().map_err(|e| self.error(e))?;
        let log_store = table.log_store();
        let partition_by = Some(snapshot.metadata().partition_columns().to_vec());
        let mut props = CommitProperties::default().with_max_retries(COMMIT_RETRIES);
        if let Some(run) = &self.run {
            props = props.with_metadata([(RUN_ID_KEY.to_string(), serde_json::json!(run))]);
        }
        let now = chrono::Utc::now().timestamp_millis();
        let remove = |path: &str, data_change: bool| {
            Action::Remove(Remove {
                path: path.to_string(),
                data_change,
                deletion_timestamp: Some(now),
                extended_file_metadata: Some(false),
                ..Default::default()
            })
        };
        let (mut actions, op) = match &change {
            Change::Append { txns } => {
                let mut fresh = txns.is_empty();
                for (app, version) in txns {
                    let seen = snapshot
                        .transaction_version(log_store.as_ref(), app)
                        .await
                        .map_err(|e| self.error(e))?;
                    fresh |= seen.is_none_or(|v| v < *version);
                }
                if !fresh {
                    tracing::debug!(table = %self.rel, ?txns, "already landed");
                    return Ok(None);
                }
                props = props.with_application_transactions(
                    txns.iter()
                        .map(|(app, version)| {
                            Transaction::new_with_last_update(app, *version, Some(now))
                        })
                        .collect(),
                );
                (
                    Vec::new(),
                    DeltaOperation::Write {
                        mode: SaveMode::Append,
                        partition_by,
                        predicate: None,
                    },
                )
            }
            Change::ReplaceDays(days) => {
                let mut removes = Vec::new();
                for f in self.files(table)? {
                    if f.1.iter().any(|(k, v)| k == "dt" && days.contains(v)) {
                        removes.push(remove(&f.0, true));
                    }
                }
                let list = days
                    .iter()
                    .map(|d| format!("'{d}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    removes,
                    DeltaOperation::Write {
                        mode: SaveMode::Overwrite,
                        partition_by,
                        predicate: Some(format!("dt IN ({list})")),
                    },
                )
            }
            Change::Rewrite(old) => (
                old.iter().map(|p| remove(p, false)).collect(),
                DeltaOperation::Optimize {
                    predicate: None,
                    target_size: files.iter().map(|f| f.size as i64).max().unwrap_or(0),
                },
            ),
            Change::Remove(old) => (
                old.iter().map(|p| remove(p, true)).collect(),
                DeltaOperation::Delete { predicate: None },
            ),
        };
        // A job whose output gained a column: the table's schema follows its newest files
        // (older files read the new column as NULL).
        if let Some(shape) = shape.filter(|_| !files.is_empty()) {
            let wanted: StructType = (&shape.table_schema())
                .try_into_kernel()
                .map_err(|e| self.error(DeltaTableError::from(e)))?;
            let shape_of = |t: &StructType| -> Vec<(String, String)> {
                t.fields()
                    .map(|f| (f.name().to_string(), format!("{:?}", f.data_type())))
                    .collect()
            };
            if shape_of(snapshot.schema().as_ref()) != shape_of(&wanted) {
                use deltalake_core::kernel::MetadataExt;
                let meta = snapshot
                    .metadata()
                    .clone()
                    .with_schema(&wanted)
                    .map_err(|e| self.error(DeltaTableError::from(e)))?;
                actions.push(Action::Metadata(meta));
            }
        }
        let data_change = !matches!(change, Change::Rewrite(_));
        actions.extend(files.iter().map(|f| Action::Add(f.add(data_change))));
        let committed = CommitBuilder::from(props)
            .with_actions(actions)
            .build(Some(snapshot), log_store, op)
            .await
            .map_err(|e| self.error(e))?;
        // The table as the commit left it: the next reader need not read the commit back.
        let mut after = table.clone();
        after.state = Some(committed.snapshot());
        Ok(Some((committed.version() as i64, after)))
    }

    /// The paths (relative to the root) of the live files of `table` at its loaded version,
    /// without reading their statistics.
    pub fn paths(&self, table: &DeltaTable) -> Result<HashSet<String>> {
        let snapshot = table.snapshot().map_err(|e| self.error(e))?;
        Ok(snapshot
            .log_data()
            .iter()
            .map(|f| f.path().into_owned())
            .collect())
    }

    /// The live files of `table` at its loaded version, with their partition values, sizes
    /// and rows (from each file's statistics).
    pub fn files(&self, table: &DeltaTable) -> Result<Vec<FileEntry>> {
        let snapshot = table.snapshot().map_err(|e| self.error(e))?;
        let mut out = Vec::new();
        for f in snapshot.log_data().iter() {
            let mut parts: Vec<(String, String)> = f
                .partition_values_map()
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect();
            parts.sort();
            let rows = f
                .stats()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .and_then(|s| s.get("numRecords").and_then(serde_json::Value::as_u64));
            out.push((f.path().to_string(), parts, f.size().max(0) as u64, rows));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// A live file: path relative to the table root, partition values, size, rows (where its
/// statistics say).
pub type FileEntry = (String, Vec<(String, String)>, u64, Option<u64>);

/// The partition values of a file in table `partitions` order, parsed from its relative path
/// (`dt=2026-01-05/hour=03/x.parquet`); hours are written without a leading zero, as Delta
/// writes integers.
pub fn partitions_of(path: &str, partitions: &[(String, DataType)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for seg in path.split('/') {
        if let Some((k, v)) = seg.split_once('=')
            && let Some((_, ty)) = partitions.iter().find(|(n, _)| n == k)
        {
            let v = match ty {
                DataType::Int32 | DataType::Int64 => v
                    .parse::<i64>()
                    .map_or_else(|_| v.to_string(), |n| n.to_string()),
                _ => v.to_string(),
            };
            out.push((k.to_string(), v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::S3Config;
    use crate::schema::RawTable;
    use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
    use object_store::ObjectStoreExt;

    fn presence(times: &[i64], viewer: &str) -> RecordBatch {
        let n = times.len();
        RecordBatch::try_new(
            RawTable::Presence.schema(),
            vec![
                Arc::new(TimestampMicrosecondArray::from(times.to_vec()).with_timezone("UTC")),
                Arc::new(StringArray::from(vec!["chan"; n])),
                Arc::new(StringArray::from(vec![viewer; n])),
            ],
        )
        .unwrap()
    }

    async fn put(lake: &Lake, table: &LakeTable, path: &str, batch: &RecordBatch) -> DataFile {
        let bytes =
            crate::land::encode_parquet(&batch.schema(), std::slice::from_ref(batch)).unwrap();
        lake.raw_store()
            .put(
                &lake.path(&format!("{}/{path}", table.rel())),
                bytes.clone().into(),
            )
            .await
            .unwrap();
        let shape = RawTable::Presence.shape();
        DataFile::from_bytes(
            path.into(),
            &bytes,
            partitions_of(path, &shape.partitions),
            &shape.schema,
        )
        .unwrap()
    }

    /// An embedded session reads a table through delta-rs's scan: a query of one day (and
    /// hour) reads only its files (the other partitions' files are gone from the store and
    /// it still answers), a query of every row fails naming a missing file, and the same
    /// session sees a commit made after it was built.
    #[tokio::test]
    async fn embedded_reads_follow_the_log_and_read_only_the_days_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), &S3Config::default()).unwrap();
        let t = LakeTable::new(&lake, "raw/presence");
        let shape = RawTable::Presence.shape();
        t.ensure(&shape).await.unwrap();
        let t0 = 1_767_225_600_000_000i64; // 2026-01-01T00:00Z
        let hour = 3_600_000_000i64;
        let day = 24 * hour;
        let mut files = Vec::new();
        for (path, at, n) in [
            ("dt=2026-01-01/hour=00/a.parquet", t0, 2),
            ("dt=2026-01-01/hour=05/b.parquet", t0 + 5 * hour, 3),
            ("dt=2026-01-02/hour=00/c.parquet", t0 + day, 4),
        ] {
            let times: Vec<i64> = (0..n).map(|i| at + i).collect();
            files.push(put(&lake, &t, path, &presence(&times, "x")).await);
        }
        t.commit(&shape, &files, Change::Append { txns: vec![] })
            .await
            .unwrap();
        let ctx = crate::catalog::session(&lake).await.unwrap();
        let provider = ctx.table_provider("presence").await.unwrap();
        assert!(
            (provider.as_ref() as &dyn std::any::Any)
                .downcast_ref::<crate::scan::DeltaRead>()
                .is_some()
        );
        let count = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx.sql(sql).await?.collect().await?;
                let c = batches[0]
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .unwrap()
                    .value(0);
                Ok::<i64, datafusion::error::DataFusionError>(c)
            }
        };
        let rows = "SELECT count(DISTINCT snapshot_time) FROM presence";
        assert_eq!(count(rows).await.unwrap(), 9);
        // Partition filters are applied in full, also ones delta-rs only prunes with.
        for (q, n) in [
            ("SELECT count(*) FROM presence WHERE dt = '2026-01-01'", 5),
            ("SELECT count(*) FROM presence WHERE hour > 0", 3),
            (
                "SELECT count(*) FROM presence WHERE substr(dt, 9, 2) = '02'",
                4,
            ),
            (
                "SELECT count(viewer_login) FROM presence WHERE hour + 1 = 1",
                6,
            ),
            (
                "SELECT count(viewer_login) FROM presence WHERE hour + hour = 0",
                6,
            ),
            (
                "SELECT count(*) FROM presence WHERE hour = 0 OR dt > '2026-01-01'",
                6,
            ),
        ] {
            assert_eq!(count(q).await.unwrap(), n, "{q}");
        }
        // A column of Pulse's schema that the log does not have yet reads as NULL.
        let mut fields: Vec<arrow::datatypes::FieldRef> =
            shape.schema.fields().iter().cloned().collect();
        fields.push(Arc::new(arrow::datatypes::Field::new(
            "added",
            DataType::Utf8,
            true,
        )));
        let wider = Shape {
            schema: Arc::new(Schema::new(fields)),
            partitions: shape.partitions.clone(),
        };
        ctx.register_table(
            "presence_wider",
            Arc::new(crate::scan::DeltaRead::new(t.clone(), &wider)),
        )
        .unwrap();
        for (q, n) in [
            ("SELECT count(*) FROM presence_wider WHERE added IS NULL", 9),
            ("SELECT count(added) FROM presence_wider", 0),
            (
                "SELECT count(*) FROM (SELECT added, viewer_login FROM presence_wider \
                 WHERE substr(dt, 9, 2) = '01')",
                5,
            ),
        ] {
            assert_eq!(count(q).await.unwrap(), n, "{q}");
        }
        for gone in [
            "dt=2026-01-02/hour=00/c.parquet",
            "dt=2026-01-01/hour=05/b.parquet",
        ] {
            lake.raw_store()
                .delete(&lake.path(&format!("raw/presence/{gone}")))
                .await
                .unwrap();
        }
        let q = "SELECT count(DISTINCT snapshot_time) FROM presence \
                 WHERE dt = '2026-01-01' AND hour = 0";
        assert_eq!(count(q).await.unwrap(), 2);
        let e = count(rows).await.unwrap_err().to_string();
        assert!(
            e.contains("not in the store") && e.contains("b.parquet"),
            "{e}"
        );
        // A later commit (the missing files taken out, one added) shows in the same session.
        t.commit(
            &shape,
            &[],
            Change::Remove(vec![
                "dt=2026-01-02/hour=00/c.parquet".into(),
                "dt=2026-01-01/hour=05/b.parquet".into(),
            ]),
        )
        .await
        .unwrap();
        let d = put(
            &lake,
            &t,
            "dt=2026-01-03/hour=01/d.parquet",
            &presence(&[t0 + 2 * day + hour], "y"),
        )
        .await;
        t.commit(&shape, &[d], Change::Append { txns: vec![] })
            .await
            .unwrap();
        assert_eq!(count(rows).await.unwrap(), 3);
    }

    /// Appends with a transaction land once; a day replaced, files rewritten and removed each
    /// leave exactly the expected live files, and the statistics bound the rows.
    #[tokio::test]
    async fn commits_change_the_live_files_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), &S3Config::default()).unwrap();
        let t = LakeTable::new(&lake, "raw/presence");
        let shape = RawTable::Presence.shape();
        assert!(t.load().await.unwrap().is_none());
        t.ensure(&shape).await.unwrap();
        // 2026-01-01T00:00Z and an hour later.
        let t0 = 1_767_225_600_000_000i64;
        let a = put(
            &lake,
            &t,
            "dt=2026-01-01/hour=00/a.parquet",
            &presence(&[t0, t0 + 1_500], "x"),
        )
        .await;
        assert_eq!(
            a.partitions,
            [
                ("dt".into(), "2026-01-01".into()),
                ("hour".into(), "0".into())
            ]
        );
        let stats: serde_json::Value = serde_json::from_str(&a.stats).unwrap();
        assert_eq!(stats["numRecords"], 2);
        assert_eq!(
            stats["minValues"]["snapshot_time"],
            "2026-01-01T00:00:00.000Z"
        );
        // 1.5 ms rounds up to 2 ms: a maximum stays an upper bound.
        assert_eq!(
            stats["maxValues"]["snapshot_time"],
            "2026-01-01T00:00:00.002Z"
        );
        assert_eq!(stats["maxValues"]["viewer_login"], "x");
        assert_eq!(stats["nullCount"]["channel_login"], 0);
        let txn = vec![("replay-abc".to_string(), 7)];
        let v = t.commit(
            &shape,
            std::slice::from_ref(&a),
            Change::Append { txns: txn.clone() },
        );
        assert_eq!(v.await.unwrap(), Some(1), "version 0 creates the table");
        // The same input again, and an earlier position of it, add nothing.
        let again = t.commit(
            &shape,
            std::slice::from_ref(&a),
            Change::Append { txns: txn.clone() },
        );
        assert_eq!(again.await.unwrap(), None);
        let earlier = Change::Append {
            txns: vec![("replay-abc".to_string(), 3)],
        };
        assert_eq!(
            t.commit(&shape, std::slice::from_ref(&a), earlier)
                .await
                .unwrap(),
            None
        );
        let h = 3_600_000_000i64;
        let b = put(
            &lake,
            &t,
            "dt=2026-01-01/hour=01/b.parquet",
            &presence(&[t0 + h], "y"),
        )
        .await;
        let c = put(
            &lake,
            &t,
            "dt=2026-01-02/hour=00/c.parquet",
            &presence(&[t0 + 24 * h], "z"),
        )
        .await;
        t.commit(
            &shape,
            &[b.clone(), c.clone()],
            Change::Append { txns: vec![] },
        )
        .await
        .unwrap();
        let names = |t: &DeltaTable| -> Vec<String> {
            LakeTable::new(&lake, "raw/presence")
                .files(t)
                .unwrap()
                .into_iter()
                .map(|f| f.0)
                .collect()
        };
        let now = t.load().await.unwrap().unwrap();
        assert_eq!(
            names(&now),
            [
                "dt=2026-01-01/hour=00/a.parquet",
                "dt=2026-01-01/hour=01/b.parquet",
                "dt=2026-01-02/hour=00/c.parquet"
            ]
        );
        assert_eq!(t.files(&now).unwrap()[0].3, Some(2));
        // Compaction: a and b become d, rows unchanged.
        let d = put(
            &lake,
            &t,
            "dt=2026-01-01/hour=00/d.parquet",
            &presence(&[t0, t0 + 1_500], "x"),
        )
        .await;
        t.commit(&shape, &[d], Change::Rewrite(vec![a.path.clone()]))
            .await
            .unwrap();
        // A day replaced: every file of 2026-01-01 goes, the new one comes, 01-02 stays.
        let e = put(
            &lake,
            &t,
            "dt=2026-01-01/hour=05/e.parquet",
            &presence(&[t0 + 5 * h], "w"),
        )
        .await;
        let v = t
            .commit(&shape, &[e], Change::ReplaceDays(vec!["2026-01-01".into()]))
            .await
            .unwrap()
            .unwrap();
        let now = t.load().await.unwrap().unwrap();
        assert_eq!(
            names(&now),
            [
                "dt=2026-01-01/hour=05/e.parquet",
                "dt=2026-01-02/hour=00/c.parquet"
            ]
        );
        t.commit(&shape, &[], Change::Remove(vec![c.path.clone()]))
            .await
            .unwrap();
        assert_eq!(
            names(&t.load().await.unwrap().unwrap()),
            ["dt=2026-01-01/hour=05/e.parquet"]
        );
        // Older versions stay readable (time travel).
        let old = t
            .load_at(Some(At::Version(v as i64 - 2)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(names(&old).len(), 3);
        let props = now.snapshot().unwrap().metadata().configuration().clone();
        assert_eq!(
            props.get(SCHEMA_VERSION_KEY).map(String::as_str),
            Some(SCHEMA_VERSION)
        );
    }
}
