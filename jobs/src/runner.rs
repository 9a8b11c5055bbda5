//! The one mechanism every windowed job runs on.
//!
//! A SQL job is a folder of steps and a manifest ([`crate::manifest`]). The runner
//! checks the logical interval `[start, end)` (whole UTC days, since outputs are partitioned by
//! day), derives the parameters every job shares, runs each step in order, and for each
//! output step writes one Parquet file per day partition of `agg/<table>/dt=D/`, replacing
//! the partition through the lake's commit protocol. So a rerun of an interval replaces its
//! days, a failed run leaves the previous output visible, and a day with no rows is emptied.
//! Steps see earlier steps by name: views for intermediate steps, the freshly written lake
//! table for outputs. Jobs never read the clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use datafusion::prelude::SessionContext;
use object_store::ObjectStoreExt;
use pulse_lake::Lake;
use pulse_lake::stage::{Split, StagedWrite, Target};

use crate::manifest::Manifest;
use crate::params::{Params, Value};
use crate::registry::{Context, SqlJob};
use crate::{Error, Result};

/// The memory limit below which an embedded run's steps run one at a time.
const TOGETHER_MEMORY: usize = 1 << 30;

pub use crate::manifest::StepKind;

/// What a run wrote.
#[derive(Debug, Default, Clone)]
pub struct RunReport {
    /// Per output table: rows written and day partitions replaced.
    pub outputs: Vec<(String, usize, usize)>,
    /// Rows the steps read from their inputs (lake tables and scratch), where the engine
    /// reports it (embedded runs; a cluster's scans are not counted).
    pub rows_in: u64,
    /// Bytes the steps spilled to disk for want of memory (embedded runs).
    pub spilled_bytes: u64,
    /// Rows the steps' plans returned to this process: one per file written (outputs are
    /// written where the plan runs, never sent here).
    pub rows_fetched: u64,
}

impl RunReport {
    /// Rows written over all outputs.
    pub fn rows_out(&self) -> u64 {
        self.outputs.iter().map(|(_, r, _)| *r as u64).sum()
    }

    /// Adds the figures of `r` (a later day of the same job).
    pub fn add(&mut self, r: RunReport) {
        self.rows_in += r.rows_in;
        self.spilled_bytes += r.spilled_bytes;
        self.rows_fetched += r.rows_fetched;
        for (table, rows, days) in r.outputs {
            match self.outputs.iter_mut().find(|o| o.0 == table) {
                Some(o) => {
                    o.1 += rows;
                    o.2 += days;
                }
                None => self.outputs.push((table, rows, days)),
            }
        }
    }
}

/// Checks that `[start, end)` is a non-empty interval of whole UTC days.
pub fn check_interval(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<()> {
    if start >= end {
        return Err(Error::Usage(format!(
            "empty interval: --from {start} is not before --to {end}"
        )));
    }
    for t in [start, end] {
        if t.time() != NaiveTime::MIN {
            return Err(Error::Usage(format!(
                "{t} is not midnight UTC: outputs are replaced per UTC day, so intervals are whole days"
            )));
        }
    }
    Ok(())
}

fn derive_shared(p: &mut Params) -> Result<()> {
    let (start, end) = (p.time("start")?, p.time("end")?);
    check_interval(start, end)?;
    p.insert("start_us", Value::Int(start.timestamp_micros()));
    p.insert("end_us", Value::Int(end.timestamp_micros()));
    p.insert("start_date", Value::Date(start.date_naive()));
    p.insert(
        "last_date",
        Value::Date((end - Duration::days(1)).date_naive()),
    );
    Ok(())
}

/// Adds `read_from`, `read_from_us` and `read_from_date`: the start of the input a job needs,
/// `lookback` before the interval.
pub fn derive_read_from(p: &mut Params, lookback: std::time::Duration) -> Result<()> {
    let start = p.time("start")?;
    let lb = Duration::from_std(lookback).map_err(|_| Error::Usage("lookback too long".into()))?;
    let from = start - lb;
    p.insert("read_from", Value::Time(from));
    p.insert("read_from_us", Value::Int(from.timestamp_micros()));
    p.insert("read_from_date", Value::Date(from.date_naive()));
    Ok(())
}

/// The options every step's SQL runs under: queries only (no DDL, no writes, no `SET`), so
/// a job writes nothing but its declared outputs.
pub fn sql_options() -> datafusion::execution::context::SQLOptions {
    datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Adds the parameters every job shares and the job's own derived ones (`lookback`,
/// `derived`), checking them (`checks` that do not need the data). Returns which checks it
/// evaluated, for the last pass of the checks once the data parameters are known.
pub async fn derive(m: &Manifest, p: &mut Params) -> Result<Vec<bool>> {
    derive_shared(p)?;
    let eval = SessionContext::new();
    let mut done = vec![false; m.checks.len()];
    run_checks(&eval, m, p, &mut done, false).await?;
    for d in &m.derived {
        let v = constant(&eval, &p.render(&d.sql)?, &d.name).await?;
        p.insert(&d.name, v);
    }
    if let Some(l) = &m.lookback {
        let us = match constant(&eval, &p.render(l)?, "lookback").await? {
            Value::Int(us) if us >= 0 => us as u64,
            v => {
                return Err(Error::Usage(format!(
                    "lookback is {}: it must be a non-negative integer of microseconds",
                    v.display()
                )));
            }
        };
        derive_read_from(p, std::time::Duration::from_micros(us))?;
    }
    run_checks(&eval, m, p, &mut done, false).await?;
    Ok(done)
}

/// Evaluates the checks of `m` not `done` whose parameters are all known; in the `last`
/// pass, a check naming a parameter that is not there is an error.
pub(crate) async fn run_checks(
    eval: &SessionContext,
    m: &Manifest,
    p: &Params,
    done: &mut [bool],
    last: bool,
) -> Result<()> {
    for (c, done) in m.checks.iter().zip(done.iter_mut()) {
        if *done || (!last && p.render(&c.sql).is_err()) {
            continue;
        }
        *done = true;
        match constant(eval, &p.render(&c.sql)?, "check").await? {
            Value::Bool(true) => {}
            Value::Bool(false) => {
                return Err(Error::Usage(crate::manifest::render_text(
                    &c.message, p, "{", "}",
                )?));
            }
            v => {
                return Err(Error::Usage(format!(
                    "check {:?} is {}, not true or false",
                    c.sql,
                    v.display()
                )));
            }
        }
    }
    Ok(())
}

/// The value of a SQL expression over constants (no table is read).
async fn constant(eval: &SessionContext, expr: &str, what: &str) -> Result<Value> {
    let failed =
        |e: datafusion::error::DataFusionError| Error::Usage(format!("{what} = {expr:?}: {e}"));
    let batches = eval
        .sql_with_options(&format!("SELECT {expr}"), sql_options())
        .await
        .map_err(failed)?
        .collect()
        .await
        .map_err(failed)?;
    let column = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| b.column(0).clone())
        .ok_or_else(|| Error::Usage(format!("{what} = {expr:?}: no value")))?;
    crate::manifest::value_of(column.as_ref())?
        .ok_or_else(|| Error::Usage(format!("{what} = {expr:?} is NULL")))
}

/// Runs `job` over `params`' interval in `cx`, writing its outputs to the lake.
pub(crate) async fn run(cx: &Context<'_>, job: &SqlJob, mut params: Params) -> Result<RunReport> {
    let (lake, ctx, m) = (cx.lake, cx.ctx, &job.manifest);
    let mut done = derive(m, &mut params).await?;
    let suffix = m.suffix(&params)?;
    // Outputs named with this run's suffix are the job's own (a user job's too).
    cx.registry.claim(m, &suffix)?;
    // Tables the steps read that are not there yet: outputs no run wrote (as every session
    // has them once written: a view of zero rows would not survive the trip to a cluster's
    // scheduler), optional inputs.
    let mut known = cx.registry.outputs(&Default::default())?;
    for o in m.outputs.iter().chain(&m.optional_inputs) {
        known.push(crate::outputs::Output {
            table: o.name.replace("{suffix}", &suffix),
            job: m.name.clone(),
            schema: crate::manifest::columns(o)?,
        });
    }
    for read in &m.reads {
        let table = read.replace("{suffix}", &suffix);
        if ctx.table_exist(table.as_str())? {
            continue;
        }
        if let Some(o) = known.iter().rev().find(|o| o.table == table) {
            crate::outputs::register(ctx, lake, std::slice::from_ref(o))?;
        }
    }
    for d in &m.data {
        let sql = params.render(&d.sql)?;
        let batches = ctx
            .sql_with_options(&sql, sql_options())
            .await?
            .collect()
            .await?;
        let v = crate::scalar::first_i64(&batches).unwrap_or(0);
        params.insert(&d.name, Value::Int(v));
    }
    run_checks(&SessionContext::new(), m, &params, &mut done, true).await?;
    let (start, end) = (params.time("start")?, params.time("end")?);
    let days: Vec<String> = (0..(end - start).num_days())
        .map(|d| (start + Duration::days(d)).format("%Y-%m-%d").to_string())
        .collect();
    let mut report = RunReport::default();
    // This run's own scratch space: runs of the same job for other dates may run at once
    // (the nightly runner's max_concurrent), and each removes its scratch when it ends.
    let root = format!(
        "tmp/{}-{suffix}-{}",
        m.name,
        pulse_lake::delta::unique_generation(m.name.as_bytes())
    );
    let mut scratch: Vec<String> = Vec::new();
    let result = run_steps(
        lake,
        ctx,
        job,
        &params,
        (&suffix, &root),
        &days,
        &mut scratch,
        &mut report,
    )
    .await;
    for rel in scratch {
        delete_dir(lake, &rel).await?;
    }
    result.map(|()| report)
}

#[allow(clippy::too_many_arguments)]
async fn run_steps(
    lake: &Lake,
    ctx: &SessionContext,
    job: &SqlJob,
    params: &Params,
    (suffix, root): (&str, &str),
    days: &[String],
    scratch: &mut Vec<String>,
    report: &mut RunReport,
) -> Result<()> {
    // Steps that write (outputs, scratch tables) wait here until a later step reads one of
    // them: then, or at the end, they run together as one plan (on a cluster, one Ballista
    // job instead of one per step). Embedded under a small memory limit each runs alone:
    // steps run together share the limit (three sorts at once failed where one spilled).
    let together = pulse_lake::catalog::reads(ctx) == pulse_lake::catalog::Reads::Listing
        || match ctx.runtime_env().memory_pool.memory_limit() {
            datafusion::execution::memory_pool::MemoryLimit::Finite(n) => n >= TOGETHER_MEMORY,
            _ => true,
        };
    let mut pending: Vec<Pending> = Vec::new();
    for (step, text) in job.manifest.steps.iter().zip(&job.sql) {
        let name = step.name.replace("{suffix}", suffix);
        // The suffix is made by the job from typed parameters (e.g. `30m`), never user text.
        let sql = params.render(&text.replace("{suffix}", suffix))?;
        let reads = tables_read(ctx, &name, &sql)?;
        if pending.iter().any(|p| reads.contains(&p.name)) {
            run_pending(lake, ctx, job, days, &mut pending, scratch, report).await?;
        }
        let df = ctx
            .sql_with_options(&sql, sql_options())
            .await
            .map_err(|e| Error::Step {
                step: name.clone(),
                source: e,
            })?;
        match step.kind {
            StepKind::View => {
                ctx.deregister_table(name.as_str())?;
                ctx.register_table(name.as_str(), df.into_view())?;
            }
            kind => {
                pending.push(Pending {
                    rel: match kind {
                        StepKind::Output => format!("agg/{name}"),
                        _ => format!("{root}/{name}"),
                    },
                    name,
                    kind,
                    df,
                });
                if !together {
                    run_pending(lake, ctx, job, days, &mut pending, scratch, report).await?;
                }
            }
        }
    }
    run_pending(lake, ctx, job, days, &mut pending, scratch, report).await
}

/// A planned step that writes: an output or a scratch table.
struct Pending {
    name: String,
    kind: StepKind,
    df: datafusion::prelude::DataFrame,
    /// The table's directory (outputs) or the parent of its attempts' directories (scratch).
    rel: String,
}

/// The lake tables (and views) `sql` reads, by name.
pub(crate) fn tables_read(ctx: &SessionContext, step: &str, sql: &str) -> Result<Vec<String>> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state
        .sql_to_statement(sql, &dialect)
        .map_err(|e| Error::Step {
            step: step.to_string(),
            source: e,
        })?;
    let refs = state
        .resolve_table_references(&statement)
        .map_err(|e| Error::Step {
            step: step.to_string(),
            source: e,
        })?;
    Ok(refs.iter().map(|r| r.table().to_string()).collect())
}

/// Runs the pending steps as one plan: their staged writes put the files (on a cluster, the
/// executors do), then each output's days are committed and each scratch table registered.
/// After a transient failure the write runs again (with new file names), and so does a
/// commit (one atomic commit of the same files); never the write after a commit, since a
/// step may read the table it replaces.
#[allow(clippy::too_many_arguments)]
async fn run_pending(
    lake: &Lake,
    ctx: &SessionContext,
    job: &SqlJob,
    days: &[String],
    pending: &mut Vec<Pending>,
    scratch: &mut Vec<String>,
    report: &mut RunReport,
) -> Result<()> {
    use tracing::Instrument;
    let group = std::mem::take(pending);
    if group.is_empty() {
        return Ok(());
    }
    let names = group
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let span = tracing::info_span!("steps", job = %job.manifest.name, steps = %names);
    // Each output's shape (its table created first); scratch directories are removed when
    // the run ends, also when this write fails.
    let mut shapes = Vec::new();
    for p in &group {
        shapes.push(match p.kind {
            StepKind::Output => Some(output_shape(lake, &p.name, p.df.schema().as_arrow()).await?),
            _ => {
                if !scratch.contains(&p.rel) {
                    scratch.push(p.rel.clone());
                }
                None
            }
        });
    }
    let attempt = || {
        let generation = pulse_lake::delta::unique_generation(names.as_bytes());
        let members: Vec<(datafusion::prelude::DataFrame, Target)> = group
            .iter()
            .map(|p| {
                let target = match p.kind {
                    StepKind::Output => Target {
                        rel: p.rel.clone(),
                        days: Some(days.to_vec()),
                        generation: generation.clone(),
                    },
                    _ => Target {
                        rel: format!("{}/{generation}", p.rel),
                        days: None,
                        generation: generation.clone(),
                    },
                };
                (p.df.clone(), target)
            })
            .collect();
        let names = names.as_str();
        async move {
            let staged = write_staged(ctx, names, &members).await?;
            Ok::<_, Error>((members, staged))
        }
        .instrument(span.clone())
    };
    let (members, mut staged) = crate::with_retries(&names, Error::is_transient, attempt).await?;
    let committing = std::time::Instant::now();
    report.rows_in += staged.rows_in;
    report.spilled_bytes += staged.spilled;
    report.rows_fetched += staged.rows_fetched;
    let files = staged.files.values().map(Vec::len).sum::<usize>();
    let mut rows_out = 0;
    for ((p, (df, target)), shape) in group.iter().zip(members).zip(&shapes) {
        let found = staged.files.remove(&target.rel).unwrap_or_default();
        match shape {
            Some(shape) => {
                // One atomic commit of the same files: running it again is safe.
                let rows = crate::with_retries(&p.name, Error::is_transient, || {
                    commit_days(lake, &p.name, shape, &target, found.clone())
                        .instrument(span.clone())
                })
                .await?;
                ctx.deregister_table(p.name.as_str())?;
                pulse_lake::catalog::register_agg(ctx, lake, &p.name).await?;
                rows_out += rows;
                report.outputs.push((p.name.clone(), rows, days.len()));
            }
            None => {
                let schema = df.schema().as_arrow();
                register_scratch(lake, ctx, &p.name, schema, &target, found).await?;
            }
        }
    }
    tracing::info!(
        parent: &span,
        files,
        rows_out,
        rows_fetched = staged.rows_fetched,
        commit_ms = committing.elapsed().as_millis() as u64,
        "steps written"
    );
    Ok(())
}

/// What a staged write reported.
struct Staged {
    /// The files, per target directory.
    files: BTreeMap<String, Vec<pulse_lake::delta::DataFile>>,
    rows_in: u64,
    spilled: u64,
    /// Rows this process received: one per file, never the output's rows.
    rows_fetched: u64,
}

/// Runs `members` as one plan (a union of staged writes): each writes its rows where the
/// plan runs and reports its files.
async fn write_staged(
    ctx: &SessionContext,
    what: &str,
    members: &[(datafusion::prelude::DataFrame, Target)],
) -> Result<Staged> {
    let step_err = |e| Error::Step {
        step: what.to_string(),
        source: e,
    };
    let mut plan: Option<datafusion::logical_expr::LogicalPlan> = None;
    for (df, target) in members {
        let write =
            StagedWrite::plan(df.logical_plan().clone(), target.clone()).map_err(step_err)?;
        plan = Some(match plan {
            None => write,
            Some(p) => datafusion::logical_expr::LogicalPlanBuilder::from(p)
                .union(write)
                .and_then(|b| b.build())
                .map_err(step_err)?,
        });
    }
    let Some(plan) = plan else {
        return Err(Error::Usage("nothing to write".into()));
    };
    let df = datafusion::prelude::DataFrame::new(ctx.state(), plan);
    let mut batches = Vec::new();
    let (rows_in, spilled) = stream_counting(df, what, |b| {
        batches.push(b);
        Ok(())
    })
    .await?;
    Ok(Staged {
        files: pulse_lake::stage::read_files(&batches)?,
        rows_in,
        spilled,
        rows_fetched: batches.iter().map(|b| b.num_rows() as u64).sum(),
    })
}

/// Creates the Delta table of output `table`, whose steps return `schema` (with `dt`), if it
/// is new: before any file goes into its directory. Returns its shape.
async fn output_shape(
    lake: &Lake,
    table: &str,
    schema: &Schema,
) -> Result<pulse_lake::delta::Shape> {
    let file_schema = pulse_lake::stage::file_schema(table, schema, true)?;
    let shape = pulse_lake::delta::Shape::daily(file_schema);
    pulse_lake::delta::LakeTable::new(lake, &format!("agg/{table}"))
        .for_run(crate::history::current_run())
        .ensure(&shape)
        .await?;
    Ok(shape)
}

/// Commits the staged `files` of output `table` (of `shape`, see [`output_shape`]) as its
/// days (`target.days`), in one Delta commit replacing those days: readers see the old days
/// or the new ones. A day with no rows gets an empty file, so the table keeps its schema.
/// Returns the rows committed.
async fn commit_days(
    lake: &Lake,
    table: &str,
    shape: &pulse_lake::delta::Shape,
    target: &Target,
    mut files: Vec<pulse_lake::delta::DataFile>,
) -> Result<usize> {
    let days = target.days.clone().unwrap_or_default();
    for day in &days {
        if !files
            .iter()
            .any(|f| f.partitions.first().is_some_and(|(_, d)| d == day))
        {
            let empty = pulse_lake::land::encode_parquet(&shape.schema, &[])?;
            let f = pulse_lake::stage::put(lake, target, Some(day), empty, &shape.schema);
            files.push(f.await?);
        }
    }
    let rows = files.iter().map(|f| f.rows as usize).sum();
    pulse_lake::delta::pause_before_commit(&target.rel).await;
    pulse_lake::delta::LakeTable::new(lake, &target.rel)
        .for_run(crate::history::current_run())
        .commit(shape, &files, pulse_lake::delta::Change::ReplaceDays(days))
        .await?;
    tracing::info!(table, rows, files = files.len(), "output committed");
    Ok(rows)
}

/// Registers scratch table `table` over exactly the staged `files` of `target` (an empty
/// file stands for no rows), replacing what had the name. Returns the files' lake paths.
async fn register_scratch(
    lake: &Lake,
    ctx: &SessionContext,
    table: &str,
    schema: &Schema,
    target: &Target,
    mut files: Vec<pulse_lake::delta::DataFile>,
) -> Result<Vec<String>> {
    let schema = Arc::new(schema.clone());
    if files.is_empty() {
        let empty = pulse_lake::land::encode_parquet(&schema, &[])?;
        files.push(pulse_lake::stage::put(lake, target, None, empty, &schema).await?);
    }
    let rels: Vec<String> = files
        .iter()
        .map(|f| format!("{}/{}", target.rel, f.path))
        .collect();
    ctx.deregister_table(table)?;
    pulse_lake::catalog::register_files(ctx, lake, table, &rels, schema)?;
    Ok(rels)
}

/// Runs `df`, handing each result batch to `each` as it comes (results are never all in
/// memory), and counts the rows its scans produced (the leaves of the physical plan) and the
/// bytes its operators spilled.
async fn stream_counting(
    df: datafusion::prelude::DataFrame,
    step: &str,
    mut each: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<(u64, u64)> {
    use futures::StreamExt;
    let step_err = |e| Error::Step {
        step: step.to_string(),
        source: e,
    };
    let task_ctx = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await.map_err(step_err)?;
    let mut stream =
        datafusion::physical_plan::execute_stream(plan.clone(), task_ctx).map_err(step_err)?;
    while let Some(b) = stream.next().await {
        each(b.map_err(step_err)?)?;
    }
    fn leaf_rows(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> u64 {
        let children = plan.children();
        if children.is_empty() {
            return plan.metrics().and_then(|m| m.output_rows()).unwrap_or(0) as u64;
        }
        children.into_iter().map(leaf_rows).sum()
    }
    fn spilled(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> u64 {
        let own = plan.metrics().and_then(|m| m.spilled_bytes()).unwrap_or(0) as u64;
        own + plan.children().into_iter().map(spilled).sum::<u64>()
    }
    Ok((leaf_rows(&plan), spilled(&plan)))
}

/// A scratch table written by [`materialize`].
pub(crate) struct Materialized {
    /// Its files (lake paths).
    pub(crate) files: Vec<String>,
}

/// Writes the result of `df` as scratch table `table` in a new directory under `rel` (staged
/// writes, where the plan runs) and registers it, replacing what had the name.
pub(crate) async fn materialize(
    lake: &Lake,
    ctx: &SessionContext,
    table: &str,
    rel: &str,
    df: datafusion::prelude::DataFrame,
) -> Result<Materialized> {
    let schema = df.schema().as_arrow().clone();
    let generation = pulse_lake::delta::unique_generation(rel.as_bytes());
    let target = Target {
        rel: format!("{rel}/{generation}"),
        days: None,
        generation,
    };
    let mut staged = write_staged(ctx, table, &[(df, target.clone())]).await?;
    let files = staged.files.remove(&target.rel).unwrap_or_default();
    let files = register_scratch(lake, ctx, table, &schema, &target, files).await?;
    Ok(Materialized { files })
}

/// Writes batches made in this process to `rel` and registers them as `table`: a plan that
/// reads them can run on a cluster (an in-memory table cannot be sent there).
pub(crate) async fn put_batches(
    lake: &Lake,
    ctx: &SessionContext,
    table: &str,
    rel: &str,
    batches: &[RecordBatch],
    schema: Arc<Schema>,
) -> Result<()> {
    let bytes = pulse_lake::land::encode_parquet(&schema, batches)?;
    lake.store()
        .put(&lake.path(&format!("{rel}/part-0.parquet")), bytes.into())
        .await
        .map_err(pulse_lake::Error::from)?;
    ctx.deregister_table(table)?;
    pulse_lake::catalog::register_listing(ctx, lake, table, rel, schema, Vec::new())?;
    Ok(())
}

/// Deletes every object under `rel` (a job's scratch directory).
pub(crate) async fn delete_dir(lake: &Lake, rel: &str) -> Result<()> {
    for (path, _) in pulse_lake::catalog::list_files(lake, rel).await? {
        lake.store()
            .delete(&path)
            .await
            .map_err(pulse_lake::Error::from)?;
    }
    Ok(())
}

/// Writes a job's result `df` (with a `dt` column) as the output `table` for `days`,
/// replacing those day partitions in one commit (a day without rows is emptied), and
/// registers the table. The rows are written where the plan runs: on a cluster, by the
/// executors. Returns the rows written. Jobs written in Rust write their outputs with it.
pub async fn write_output(
    lake: &Lake,
    ctx: &SessionContext,
    table: &str,
    days: &[String],
    df: datafusion::prelude::DataFrame,
) -> Result<usize> {
    let shape = output_shape(lake, table, df.schema().as_arrow()).await?;
    let target = Target {
        rel: format!("agg/{table}"),
        days: Some(days.to_vec()),
        generation: pulse_lake::delta::unique_generation(table.as_bytes()),
    };
    let mut staged = write_staged(ctx, table, &[(df, target.clone())]).await?;
    let files = staged.files.remove(&target.rel).unwrap_or_default();
    let rows = commit_days(lake, table, &shape, &target, files).await?;
    ctx.deregister_table(table)?;
    pulse_lake::catalog::register_agg(ctx, lake, table).await?;
    Ok(rows)
}

/// [`write_output`] for one day, then deletes the job's scratch directory `scratch`.
pub(crate) async fn write_day_output(
    lake: &Lake,
    ctx: &SessionContext,
    table: &str,
    date: &str,
    df: datafusion::prelude::DataFrame,
    scratch: &str,
) -> Result<usize> {
    let rows = write_output(lake, ctx, table, &[date.to_string()], df).await?;
    delete_dir(lake, scratch).await?;
    Ok(rows)
}

/// Writes batches made in this process (with a `dt` column) as one file per day of `days`
/// under `agg/<table>/` and commits them, replacing each day partition (as an output step's
/// staged files are committed).
pub(crate) async fn write_days(
    lake: &Lake,
    table: &str,
    schema: &Arc<Schema>,
    batches: &[RecordBatch],
    days: &[String],
) -> Result<usize> {
    let shape = output_shape(lake, table, schema).await?;
    let mut split = Split::new(table, schema, Some(days.to_vec()))?;
    for b in batches {
        split.push(b)?;
    }
    let target = Target {
        rel: format!("agg/{table}"),
        days: Some(days.to_vec()),
        generation: pulse_lake::delta::unique_generation(table.as_bytes()),
    };
    let mut files = Vec::new();
    for (day, body) in split.finish()? {
        let f = pulse_lake::stage::put(lake, &target, day.as_deref(), body, &shape.schema);
        files.push(f.await?);
    }
    commit_days(lake, table, &shape, &target, files).await
}
