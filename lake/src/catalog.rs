//! Registers the lake in a DataFusion session: its store (each table as its Delta log says,
//! [`LakeStore`]), Pulse's functions, and every table by name with `dt` and `hour` as
//! partition columns, so `WHERE dt = '2026-01-05'` reads only that day's files. Embedded
//! sessions read tables through delta-rs's table provider ([`crate::scan`]); sessions whose
//! plans run on a cluster as listing tables over the view (see [`Reads`]). Hand-kept reference
//! files, `ref/<name>.csv`, are tables too (e.g. `bot_overrides`).
//!
//! [`LakeStore`]: crate::view::LakeStore

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::{
    CacheManagerConfig, FileMetadataCache, FileStatisticsCache,
};
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::TryStreamExt;

use crate::delta::LakeTable;
use crate::scan::DeltaRead;
use crate::schema::{RawTable, quarantine_schema};
use crate::{Lake, Result};

/// The session configuration Pulse queries run with.
pub fn session_config() -> SessionConfig {
    SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// How a session reads the lake's tables, kept in its configuration (see [`reads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Through delta-rs's table provider ([`DeltaRead`]): embedded sessions.
    Delta,
    /// As listing tables over the lake's view ([`crate::view::LakeStore`]): sessions whose
    /// plans travel to a cluster, whose executors cannot carry delta-rs's scan.
    Listing,
}

/// How `ctx` reads lake tables: [`Reads::Listing`] unless it was built with [`Reads::Delta`]
/// (so a session built elsewhere, such as a cluster's, never plans delta-rs's scan).
pub fn reads(ctx: &SessionContext) -> Reads {
    let state = ctx.state_ref();
    let state = state.read();
    state
        .config()
        .get_extension::<Reads>()
        .map_or(Reads::Listing, |r| *r)
}

/// Registers `table` at `rel` (a lake directory) with the given file schema and Hive
/// partition columns: a Delta table read as [`reads`] says, anything else (scratch space)
/// as a listing table.
pub fn register_listing(
    ctx: &SessionContext,
    lake: &Lake,
    table: &str,
    rel: &str,
    schema: SchemaRef,
    partitions: Vec<(String, DataType)>,
) -> Result<()> {
    if reads(ctx) == Reads::Delta && crate::delta::table_root(rel).is_some_and(|(r, _)| r == rel) {
        let shape = crate::delta::Shape { schema, partitions };
        let read = DeltaRead::new(LakeTable::new(lake, rel), &shape);
        ctx.register_table(table, Arc::new(read))?;
        return Ok(());
    }
    let url = ListingTableUrl::parse(lake.url(rel))?;
    let opts = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partitions);
    let config = ListingTableConfig::new(url)
        .with_listing_options(opts)
        .with_schema(schema);
    ctx.register_table(table, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// Registers `table` over exactly the files `rels` (paths relative to the lake root), with
/// the given schema: a scratch table of files a plan reported, whatever else lies beside them.
pub fn register_files(
    ctx: &SessionContext,
    lake: &Lake,
    table: &str,
    rels: &[String],
    schema: SchemaRef,
) -> Result<()> {
    let urls = rels
        .iter()
        .map(|r| ListingTableUrl::parse(lake.url(r).trim_end_matches('/')))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let opts =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(opts)
        .with_schema(schema);
    ctx.register_table(table, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// The partition columns of a raw table.
pub fn raw_partitions() -> Vec<(String, DataType)> {
    vec![
        ("dt".into(), DataType::Utf8),
        ("hour".into(), DataType::Int32),
    ]
}

/// A session with the lake registered: its store, Pulse's functions, the raw tables and the
/// quarantine table of every source (also when still empty), job outputs and the run history,
/// each read through delta-rs's table provider ([`Reads::Delta`]) at its newest version, and
/// also as it was at a version or time (`"name@v3"`, see [`crate::travel`]).
///
/// DataFusion's list-files cache is off: its default keeps a listing forever, so a long-lived
/// session (the prompt, a scheduler) would never see files landed or committed after it
/// first listed a table.
pub async fn session(lake: &Lake) -> Result<SessionContext> {
    session_limited(lake, None).await
}

/// [`session`] with its queries' memory capped at `memory_limit` bytes: sorts, joins and
/// aggregations spill to the OS temp directory past it instead of failing or swapping.
pub async fn session_limited(lake: &Lake, memory_limit: Option<usize>) -> Result<SessionContext> {
    let mut config = session_config();
    if let Some(limit) = memory_limit {
        // Each sort holds this much back for merging its spills, in every partition, and no
        // other operator may use it; DataFusion's 10 MB default alone exceeds a small limit
        // shared by a few sorts. (An eighth of the limit per sort and partition failed a
        // step of three sorts at 48 MiB on two cores now and then; it is split over the
        // partitions now.)
        let o = config.options_mut();
        let partitions = o.execution.target_partitions.max(1);
        o.execution.sort_spill_reservation_bytes = o
            .execution
            .sort_spill_reservation_bytes
            .min(limit / 8 / partitions);
    }
    let config = config.with_extension(Arc::new(Reads::Delta));
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime(lake, None, memory_limit)?)
        .with_default_features()
        .with_query_planner(Arc::new(crate::stage::Planner::new(lake.clone())))
        .build();
    let ctx = SessionContext::new_with_state(state);
    register(&ctx, lake).await?;
    crate::travel::install(&ctx, lake)?;
    Ok(ctx)
}

/// The runtime every Pulse engine uses (embedded, cluster client, scheduler, executors): the
/// lake's store registered, list-file caching off (see [`session`]), and `tmp` as the spill
/// directory when given, and a fair spilling memory pool of `memory_limit` bytes when given.
pub fn runtime(
    lake: &Lake,
    tmp: Option<&str>,
    memory_limit: Option<usize>,
) -> Result<std::sync::Arc<RuntimeEnv>> {
    let caches = CacheManagerConfig::default().with_list_files_cache_limit(0);
    runtime_with(lake, caches, tmp, memory_limit)
}

/// [`runtime`] with the given caches.
fn runtime_with(
    lake: &Lake,
    caches: CacheManagerConfig,
    tmp: Option<&str>,
    memory_limit: Option<usize>,
) -> Result<std::sync::Arc<RuntimeEnv>> {
    let mut b = RuntimeEnvBuilder::new().with_cache_manager(caches);
    if let Some(limit) = memory_limit {
        b = b.with_memory_pool(Arc::new(
            datafusion::execution::memory_pool::FairSpillPool::new(limit),
        ));
    }
    if let Some(t) = tmp {
        b = b.with_temp_file_path(t);
    }
    let rt = b.build_arc()?;
    rt.register_object_store(lake.store_url(), lake.store());
    Ok(rt)
}

/// Parquet footers and file statistics shared by a long-lived reader's successive sessions
/// (see [`reader_session`]). Entries are checked against a file's size and modification time,
/// so a rewritten file is read again.
#[derive(Clone)]
pub struct ReaderCaches {
    footers: Arc<FileMetadataCache>,
    statistics: Arc<FileStatisticsCache>,
}

impl Default for ReaderCaches {
    fn default() -> Self {
        Self {
            footers: Arc::new(DefaultCache::new(READER_FOOTER_BYTES).with_name("pulse footers")),
            statistics: Arc::new(
                DefaultCache::new(READER_STATISTICS_BYTES).with_name("pulse file statistics"),
            ),
        }
    }
}

/// A session for a long-lived reader that replaces it every few seconds (the web app): like
/// [`session`], it reads lake tables through delta-rs at their newest version, and it keeps
/// Parquet footers in `caches` across sessions (with listings and statistics of what it
/// reads as listing tables, such as reference files, for the session's life).
pub async fn reader_session(lake: &Lake, caches: &ReaderCaches) -> Result<SessionContext> {
    let config = CacheManagerConfig::default()
        .with_list_files_cache_limit(READER_LISTING_BYTES)
        .with_metadata_cache_limit(READER_FOOTER_BYTES)
        .with_file_metadata_cache(Some(caches.footers.clone()))
        .with_file_statistics_cache_limit(READER_STATISTICS_BYTES)
        .with_file_statistics_cache(Some(caches.statistics.clone()));
    let rt = runtime_with(lake, config, None, None)?;
    let mut config = session_config().with_extension(Arc::new(Reads::Delta));
    // Filters run inside the Parquet reader: a page's other columns are decoded only for the
    // rows that pass (a viewer's profile is a few hundred rows of each day's file).
    config.options_mut().execution.parquet.pushdown_filters = true;
    config.options_mut().execution.parquet.reorder_filters = true;
    let ctx = SessionContext::new_with_config_rt(config, rt);
    register(&ctx, lake).await?;
    Ok(ctx)
}

/// How much of a reader session's memory its file listings may take: a year of hourly raw
/// files is well under it.
const READER_LISTING_BYTES: usize = 64 << 20;

/// How much memory parquet footers kept across a reader's sessions may take.
const READER_FOOTER_BYTES: usize = 128 << 20;

/// How much memory file statistics kept across a reader's sessions may take.
const READER_STATISTICS_BYTES: usize = 32 << 20;

/// Plans a scan of each of `tables` without running it, so each table's Delta log is loaded
/// (and a listing table listed) before the first request of a [`reader_session`] needs it. Names the session
/// lacks, and views (they scan their tables), are skipped; returns how many were planned.
pub async fn warm(ctx: &SessionContext, tables: &[&str]) -> Result<usize> {
    let mut n = 0;
    for &name in tables {
        let Ok(t) = ctx.table_provider(name).await else {
            continue;
        };
        if t.table_type() != datafusion::datasource::TableType::Base {
            continue;
        }
        ctx.table(name).await?.create_physical_plan().await?;
        n += 1;
    }
    Ok(n)
}

/// True when `name` is one of the tables the lake itself registers in every session: a raw
/// table, the run history (`runs`, `runs_log`) or a quarantine table. A job output so named
/// would clash with it.
pub fn is_lake_table(name: &str) -> bool {
    RawTable::from_name(name).is_some()
        || name == "runs"
        || name == "runs_log"
        || name.starts_with("quarantine_")
}

/// Registers the lake in an existing session (see [`session`]).
pub async fn register(ctx: &SessionContext, lake: &Lake) -> Result<()> {
    ctx.register_object_store(lake.store_url(), lake.store());
    {
        let state = ctx.state_ref();
        let mut state = state.write();
        pulse_udfs::register_all(&mut *state)?;
    }
    crate::latest::install(ctx);
    for t in RawTable::ALL {
        register_listing(ctx, lake, t.name(), &t.dir(), t.schema(), raw_partitions())?;
    }
    for table in list_dirs(lake, "agg").await? {
        register_agg(ctx, lake, &table).await?;
    }
    // Reference tables kept by hand: `ref/<name>.csv` (with a header) is table `<name>`.
    for (path, _) in list_files(lake, "ref").await? {
        let Some(file) = path.filename() else {
            continue;
        };
        let rel = format!("ref/{file}");
        let Some(name) = file.strip_suffix(".csv") else {
            continue;
        };
        if lake.path(&rel) != path {
            continue;
        }
        // `Lake::url` gives the directory form; this is one file.
        let url = lake.url(&rel);
        let url = url.trim_end_matches('/');
        let opts = datafusion::prelude::CsvReadOptions::new()
            .has_header(true)
            .file_extension(".csv");
        ctx.register_csv(name, url, opts).await?;
    }
    register_history(ctx, lake).await?;
    let mut sources: Vec<String> = crate::schema::source::ALL.map(String::from).to_vec();
    for source in list_dirs(lake, "quarantine").await? {
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    for source in sources {
        register_listing(
            ctx,
            lake,
            &format!("quarantine_{source}"),
            &format!("quarantine/{source}"),
            quarantine_schema(),
            vec![("dt".into(), DataType::Utf8)],
        )?;
    }
    Ok(())
}

/// Registers the run history: `runs_log` (append-only: a run's start and end are separate
/// files, so a reader never races a rewrite) and `runs`, each run's latest state.
pub async fn register_history(ctx: &SessionContext, lake: &Lake) -> Result<()> {
    register_listing(
        ctx,
        lake,
        "runs_log",
        "sys/runs",
        crate::schema::runs_schema(),
        vec![("dt".into(), DataType::Utf8)],
    )?;
    let cols: Vec<String> = crate::schema::runs_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let cols = cols.join(", ");
    let latest = ctx
        .sql(&format!(
            "SELECT {cols}, dt FROM (SELECT *, row_number() OVER (PARTITION BY run_id \
             ORDER BY ended_at DESC NULLS LAST) AS n FROM runs_log) WHERE n = 1"
        ))
        .await?;
    ctx.register_table("runs", latest.into_view())?;
    Ok(())
}

/// A session with only the run history registered (see [`register_history`]): cheaper than
/// [`session`] for the runner's frequent looks at it.
pub async fn history_session(lake: &Lake) -> Result<SessionContext> {
    let config = session_config().with_extension(Arc::new(Reads::Delta));
    let ctx = SessionContext::new_with_config_rt(config, runtime(lake, None, None)?);
    register_history(&ctx, lake).await?;
    Ok(ctx)
}

/// Registers the job output `agg/<table>/` (partitioned by `dt`), with the schema of its
/// newest day's file: every file of an output is written with one schema, and when a job
/// gains a column, older days read it as NULL. (Reading one footer, not every day's, keeps a
/// session over a long history cheap.) A table with no visible file is left unregistered.
/// The newest day is also what [`latest_dt`](crate::latest) answers for the table.
pub async fn register_agg(ctx: &SessionContext, lake: &Lake, table: &str) -> Result<()> {
    use datafusion::datasource::file_format::FileFormat;
    let rel = format!("agg/{table}");
    let newest = match newest_file(lake, &rel).await {
        Ok(newest) => newest,
        // A file its log names is gone: the table is left out, as an unreadable one is.
        Err(e) if crate::view::is_missing_file(&e) => {
            tracing::warn!(table, error = %e, "table left out (`pulse lake check` names the file)");
            crate::latest::record(ctx, table, None);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let Some((day, file)) = newest else {
        tracing::debug!(table, "no output files yet");
        crate::latest::record(ctx, table, None);
        return Ok(());
    };
    let format = ParquetFormat::default();
    let schema = match format
        .infer_schema(&ctx.state(), &lake.store(), &[file])
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(
                table,
                error = %e,
                "table left out: a file cannot be read (`pulse lake check` names it)"
            );
            crate::latest::record(ctx, table, None);
            return Ok(());
        }
    };
    register_listing(
        ctx,
        lake,
        table,
        &rel,
        schema,
        vec![("dt".into(), DataType::Utf8)],
    )?;
    let day = day.strip_prefix("dt=").map(str::to_string);
    crate::latest::record(ctx, table, day);
    Ok(())
}

/// The newest day (`dt=...`) of the table at `rel` that has a file, and its last file.
async fn newest_file(lake: &Lake, rel: &str) -> Result<Option<(String, object_store::ObjectMeta)>> {
    for day in list_dirs(lake, rel).await?.into_iter().rev() {
        let mut files = lake
            .store()
            .list_with_delimiter(Some(&lake.path(&format!("{rel}/{day}"))))
            .await?
            .objects;
        files.sort_by(|a, b| a.location.cmp(&b.location));
        if let Some(f) = files
            .into_iter()
            .rfind(|f| f.location.as_ref().ends_with(".parquet"))
        {
            return Ok(Some((day, f)));
        }
    }
    Ok(None)
}

/// The names of the directories directly under `rel`.
pub async fn list_dirs(lake: &Lake, rel: &str) -> Result<Vec<String>> {
    let listed = lake
        .store()
        .list_with_delimiter(Some(&lake.path(rel)))
        .await?;
    let mut names: Vec<String> = listed
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// The visible files under `rel`, recursively, as (path, size).
pub async fn list_files(lake: &Lake, rel: &str) -> Result<Vec<(object_store::path::Path, u64)>> {
    let mut files: Vec<_> = lake
        .store()
        .list(Some(&lake.path(rel)))
        .map_ok(|o| (o.location, o.size))
        .try_collect()
        .await?;
    files.sort();
    Ok(files)
}
