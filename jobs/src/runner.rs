//! The one mechanism every windowed job runs on.
//!
//! A job is a list of SQL steps (files under `sql/<job>/`) and typed parameters. The runner
//! checks the logical interval `[start, end)` (whole UTC days, since outputs are partitioned by
//! day), derives the parameters every job shares, runs each step in order, and for each
//! output step writes one Parquet file per day partition of `agg/<table>/dt=D/`, replacing
//! the partition through the lake's commit protocol. So a rerun of an interval replaces its
//! days, a failed run leaves the previous output visible, and a day with no rows is emptied.
//! Steps see earlier steps by name: views for intermediate steps, the freshly written lake
//! table for outputs. Jobs never read the clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Schema};
use bytes::Bytes;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use datafusion::prelude::SessionContext;
use object_store::ObjectStoreExt;
use pulse_lake::Lake;

use crate::params::{Params, Value};
use crate::{Error, Result};

/// What a step does with its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Registered as a view for later steps (recomputed by each step that reads it).
    View,
    /// Computed once and written to a scratch table (`tmp/<job>/<name>/` in the lake) that
    /// later steps read; removed when the run ends. For intermediate results read many times.
    Materialize,
    /// Written to `agg/<name>/dt=D/` for each day of the interval (the result needs a `dt`
    /// column), then registered under its name.
    Output,
}

/// One SQL step of a job.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The view or output table name; `{suffix}` is replaced by the job's suffix.
    pub name: &'static str,
    /// The SQL, with `{{param}}` placeholders.
    pub sql: &'static str,
    /// View or output.
    pub kind: StepKind,
}

/// A job: its steps and parameters.
#[derive(Debug, Clone, Copy)]
pub struct JobDef {
    /// The name used by `pulse run`.
    pub name: &'static str,
    /// What it computes, for `--help` and logs.
    pub about: &'static str,
    /// Default parameters (besides `start` and `end`).
    pub defaults: fn() -> Params,
    /// Derives parameters from the others (and checks them).
    pub derive: fn(&mut Params) -> Result<()>,
    /// Parameters computed from the data before the steps run: (name, SQL returning one
    /// integer).
    pub data_params: &'static [(&'static str, &'static str)],
    /// Outputs the steps read as "the previous run" and their empty shape, used when the lake
    /// has none yet: (table, a SELECT returning zero rows of that schema). `{suffix}` in a
    /// name is replaced as in step names and SQL.
    pub previous: &'static [(&'static str, &'static str)],
    /// The steps, in order.
    pub steps: &'static [Step],
    /// The suffix of output names (e.g. the window size), from the parameters.
    pub suffix: fn(&Params) -> String,
    /// Checks the parameters once the data parameters are known (e.g. that the state a
    /// job continues from is there).
    pub check: fn(&Params) -> Result<()>,
    /// Whether each day builds on the previous day's output: a longer interval then runs as
    /// one run per day, in order.
    pub daily: bool,
}

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
}

impl RunReport {
    /// Rows written over all outputs.
    pub fn rows_out(&self) -> u64 {
        self.outputs.iter().map(|(_, r, _)| *r as u64).sum()
    }
}

/// The parameters of `job` over `[start, end)`: its defaults plus the shared ones.
pub fn params_for(job: &JobDef, start: DateTime<Utc>, end: DateTime<Utc>) -> Params {
    let mut p = (job.defaults)();
    p.insert("start", Value::Time(start));
    p.insert("end", Value::Time(end));
    p
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

/// Runs `job` with `params` in `ctx` (a session with the lake registered), writing outputs to
/// `lake`.
pub async fn run(
    lake: &Lake,
    ctx: &SessionContext,
    job: &JobDef,
    params: Params,
) -> Result<RunReport> {
    let (start, end) = (params.time("start")?, params.time("end")?);
    check_interval(start, end)?;
    if !job.daily {
        return run_interval(lake, ctx, job, params).await;
    }
    let mut total = RunReport::default();
    let mut day = start;
    while day < end {
        let mut p = params.clone();
        p.insert("start", Value::Time(day));
        p.insert("end", Value::Time(day + Duration::days(1)));
        let r = run_interval(lake, ctx, job, p).await?;
        total.rows_in += r.rows_in;
        total.spilled_bytes += r.spilled_bytes;
        for (table, rows, days) in r.outputs {
            match total.outputs.iter_mut().find(|o| o.0 == table) {
                Some(o) => {
                    o.1 += rows;
                    o.2 += days;
                }
                None => total.outputs.push((table, rows, days)),
            }
        }
        day += Duration::days(1);
    }
    Ok(total)
}

/// Adds the parameters every job shares and the job's own derived ones (checking them).
pub fn derive(job: &JobDef, p: &mut Params) -> Result<()> {
    derive_shared(p)?;
    (job.derive)(p)
}

async fn run_interval(
    lake: &Lake,
    ctx: &SessionContext,
    job: &JobDef,
    mut params: Params,
) -> Result<RunReport> {
    derive(job, &mut params)?;
    let suffix = (job.suffix)(&params);
    for (table, empty_sql) in job.previous {
        let table = table.replace("{suffix}", &suffix);
        if !ctx.table_exist(table.as_str())? {
            // The output's table over its (still empty) directory, as every session has it
            // once written: a view of the zero-row query would not survive the trip to a
            // cluster's scheduler.
            let schema = Arc::new(ctx.sql(empty_sql).await?.schema().as_arrow().clone());
            let output = crate::outputs::Output {
                table,
                job: job.name,
                schema,
            };
            crate::outputs::register(ctx, lake, std::slice::from_ref(&output))?;
        }
    }
    for (name, sql) in job.data_params {
        let batches = ctx.sql(&params.render(sql)?).await?.collect().await?;
        let v = crate::scalar::first_i64(&batches).unwrap_or(0);
        params.insert(name, Value::Int(v));
    }
    (job.check)(&params)?;
    let (start, end) = (params.time("start")?, params.time("end")?);
    let days: Vec<String> = (0..(end - start).num_days())
        .map(|d| (start + Duration::days(d)).format("%Y-%m-%d").to_string())
        .collect();
    let mut report = RunReport::default();
    let mut scratch: Vec<String> = Vec::new();
    let result = run_steps(
        lake,
        ctx,
        job,
        &params,
        &suffix,
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
    job: &JobDef,
    params: &Params,
    suffix: &str,
    days: &[String],
    scratch: &mut Vec<String>,
    report: &mut RunReport,
) -> Result<()> {
    use tracing::Instrument;
    for step in job.steps {
        let name = step.name.replace("{suffix}", suffix);
        // The suffix is made by the job from typed parameters (e.g. `30m`), never user text.
        let sql = params.render(&step.sql.replace("{suffix}", suffix))?;
        let span = tracing::info_span!("step", job = job.name, step = %name);
        let rel = format!("tmp/{}-{suffix}/{name}", job.name);
        // A step whose cluster lost an executor (a task or the result's fetch failed) runs
        // again.
        let done = crate::with_retries(&name, Error::is_transient, || {
            run_step(lake, ctx, step.kind, &name, &sql, &rel, days).instrument(span.clone())
        })
        .await?;
        report.rows_in += done.rows_in;
        report.spilled_bytes += done.spilled;
        match step.kind {
            StepKind::View => {}
            StepKind::Materialize => scratch.push(rel),
            StepKind::Output => report.outputs.push((name, done.rows_out, days.len())),
        }
    }
    Ok(())
}

/// What one step read, spilled and (for an output) wrote.
#[derive(Default)]
struct StepDone {
    rows_in: u64,
    spilled: u64,
    rows_out: usize,
}

/// Plans and runs one step: registers a view, writes a scratch table at `rel`, or writes
/// and commits an output's days. Safe to run again after a failure: a failure before the
/// commit changed nothing; one during it left some days replaced, which the rerun replaces.
#[allow(clippy::too_many_arguments)]
async fn run_step(
    lake: &Lake,
    ctx: &SessionContext,
    kind: StepKind,
    name: &str,
    sql: &str,
    rel: &str,
    days: &[String],
) -> Result<StepDone> {
    let df = ctx.sql(sql).await.map_err(|e| Error::Step {
        step: name.to_string(),
        source: e,
    })?;
    if kind == StepKind::View {
        ctx.deregister_table(name)?;
        ctx.register_table(name, df.into_view())?;
        return Ok(StepDone::default());
    }
    let schema = Arc::new(df.schema().as_arrow().clone());
    // The step may read the table it replaces (the plan holds it); a failed step puts the
    // name back, so that running it again plans the same way.
    let previous = ctx.deregister_table(name)?;
    let written: Result<StepDone> = async {
        if kind == StepKind::Materialize {
            let (rows_in, spilled) = materialize(lake, ctx, name, rel, df).await?;
            return Ok(StepDone {
                rows_in,
                spilled,
                rows_out: 0,
            });
        }
        let mut w = DayWriter::new(name, &schema, days)?;
        let (rows_in, spilled) = stream_counting(df, name, |b| w.push(&b)).await?;
        let rows_out = w.commit(lake).await?;
        tracing::info!(rows = rows_out, partitions = days.len(), "output written");
        pulse_lake::catalog::register_agg(ctx, lake, name).await?;
        Ok(StepDone {
            rows_in,
            spilled,
            rows_out,
        })
    }
    .await;
    if let (Err(_), Some(previous)) = (&written, previous)
        && !ctx.table_exist(name)?
    {
        ctx.register_table(name, previous)?;
    }
    written
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

/// Writes the result of `df` as one Parquet file, `<rel>/part-0.parquet` in the lake, and
/// registers it as `table` (replacing what had the name). Results stream into the file's
/// encoder. Returns the rows its scans read and the bytes it spilled.
pub(crate) async fn materialize(
    lake: &Lake,
    ctx: &SessionContext,
    table: &str,
    rel: &str,
    df: datafusion::prelude::DataFrame,
) -> Result<(u64, u64)> {
    let schema = Arc::new(df.schema().as_arrow().clone());
    let mut w = parquet::arrow::ArrowWriter::try_new(
        Vec::new(),
        schema.clone(),
        Some(pulse_lake::land::writer_properties()),
    )?;
    let counts = stream_counting(df, table, |b| Ok(w.write(&b)?)).await?;
    put_file(lake, ctx, table, rel, schema, Bytes::from(w.into_inner()?)).await?;
    Ok(counts)
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
    put_file(lake, ctx, table, rel, schema, bytes).await
}

async fn put_file(
    lake: &Lake,
    ctx: &SessionContext,
    table: &str,
    rel: &str,
    schema: Arc<Schema>,
    bytes: Bytes,
) -> Result<()> {
    lake.store()
        .put(&lake.path(&format!("{rel}/part-0.parquet")), bytes.into())
        .await
        .map_err(pulse_lake::Error::from)?;
    ctx.deregister_table(table)?;
    pulse_lake::catalog::register_listing(ctx, lake, table, rel, schema, Vec::new())?;
    Ok(())
}

/// Splits output batches (with a `dt` column) by day into one Parquet file per day of the
/// interval, encoding as they come; [`DayWriter::commit`] then replaces each day partition
/// of `agg/<table>/`. Rows of other days are an error (a step bug).
pub(crate) struct DayWriter {
    table: String,
    dt_idx: usize,
    file_schema: Arc<Schema>,
    days: Vec<String>,
    writers: BTreeMap<String, parquet::arrow::ArrowWriter<Vec<u8>>>,
    rows: usize,
}

impl DayWriter {
    pub(crate) fn new(table: &str, schema: &Schema, days: &[String]) -> Result<DayWriter> {
        let dt_idx = schema
            .index_of("dt")
            .map_err(|_| Error::Usage(format!("output step {table} has no dt column")))?;
        // String columns are stored as Utf8 whatever the plan produced (a literal gives Utf8,
        // a Parquet scan Utf8View), so every file of a table has the same schema.
        let plain = |f: &Arc<arrow::datatypes::Field>| match f.data_type() {
            DataType::Utf8View | DataType::LargeUtf8 => {
                Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8))
            }
            _ => f.clone(),
        };
        let file_schema = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != dt_idx)
                .map(|(_, f)| plain(f))
                .collect::<Vec<_>>(),
        ));
        let mut writers = BTreeMap::new();
        for day in days {
            // A day without rows still gets a (zero-row) file: the table keeps its schema and
            // stays queryable by name.
            writers.insert(
                day.clone(),
                parquet::arrow::ArrowWriter::try_new(
                    Vec::new(),
                    file_schema.clone(),
                    Some(pulse_lake::land::writer_properties()),
                )?,
            );
        }
        Ok(DayWriter {
            table: table.to_string(),
            dt_idx,
            file_schema,
            days: days.to_vec(),
            writers,
            rows: 0,
        })
    }

    pub(crate) fn push(&mut self, b: &RecordBatch) -> Result<()> {
        let table = &self.table;
        let dt = arrow::compute::cast(b.column(self.dt_idx), &DataType::Utf8)?;
        let dt = dt.as_string::<i32>();
        let mut idx: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for i in 0..b.num_rows() {
            if dt.is_null(i) {
                return Err(Error::Usage(format!(
                    "output step {table} produced a row without dt"
                )));
            }
            idx.entry(dt.value(i)).or_default().push(i as u32);
        }
        let cols: Vec<usize> = (0..b.num_columns()).filter(|i| *i != self.dt_idx).collect();
        let projected = b.project(&cols)?;
        let projected = RecordBatch::try_new(
            self.file_schema.clone(),
            projected
                .columns()
                .iter()
                .zip(self.file_schema.fields())
                .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
                .collect::<Result<Vec<_>, _>>()?,
        )?;
        for (day, ix) in idx {
            let Some(w) = self.writers.get_mut(day) else {
                return Err(Error::Usage(format!(
                    "output step {table} produced rows for {day}, outside the interval"
                )));
            };
            self.rows += ix.len();
            w.write(&take_record_batch(&projected, &UInt32Array::from(ix))?)?;
        }
        Ok(())
    }

    /// Puts each day's file into the table's directory (unseen until committed), then
    /// replaces the interval's days with them in one Delta commit: readers see the old days or
    /// the new ones. Returns the rows written.
    pub(crate) async fn commit(self, lake: &Lake) -> Result<usize> {
        let mut writers = self.writers;
        let rel = format!("agg/{}", self.table);
        let shape = pulse_lake::delta::Shape::daily(self.file_schema.clone());
        let table =
            pulse_lake::delta::LakeTable::new(lake, &rel).for_run(crate::history::current_run());
        table.ensure(&shape).await?;
        let mut files = Vec::new();
        for day in &self.days {
            let Some(w) = writers.remove(day) else {
                continue;
            };
            let body = Bytes::from(w.into_inner()?);
            // A name no other run uses: a rerun never overwrites a file a reader may be reading.
            let seed = [
                rel.as_bytes(),
                day.as_bytes(),
                blake3::hash(&body).as_bytes(),
            ]
            .concat();
            let generation = pulse_lake::delta::unique_generation(&seed);
            let path = format!("dt={day}/c-{generation}-0000.parquet");
            lake.raw_store()
                .put(&lake.path(&format!("{rel}/{path}")), body.clone().into())
                .await
                .map_err(pulse_lake::Error::from)?;
            let parts = vec![("dt".to_string(), day.clone())];
            files.push(pulse_lake::delta::DataFile::from_bytes(
                path,
                &body,
                parts,
                &shape.schema,
            )?);
        }
        pulse_lake::delta::pause_before_commit(&rel).await;
        table
            .commit(
                &shape,
                &files,
                pulse_lake::delta::Change::ReplaceDays(self.days.clone()),
            )
            .await?;
        Ok(self.rows)
    }
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

/// Writes a native job's result for one day (`df`, with a `dt` column) as the output
/// `table`, registers the table, and deletes the job's scratch directory `scratch`.
/// Returns the rows written.
pub(crate) async fn write_day_output(
    lake: &Lake,
    ctx: &SessionContext,
    table: &str,
    date: &str,
    df: datafusion::prelude::DataFrame,
    scratch: &str,
) -> Result<usize> {
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    let rows = write_days(lake, table, &schema, &batches, &[date.to_string()]).await?;
    ctx.deregister_table(table)?;
    pulse_lake::catalog::register_agg(ctx, lake, table).await?;
    delete_dir(lake, scratch).await?;
    Ok(rows)
}

/// Writes `batches` (with a `dt` column) as one file per day of `days` under `agg/<table>/`,
/// replacing each day partition (see [`DayWriter`]).
pub(crate) async fn write_days(
    lake: &Lake,
    table: &str,
    schema: &Arc<Schema>,
    batches: &[RecordBatch],
    days: &[String],
) -> Result<usize> {
    let mut w = DayWriter::new(table, schema, days)?;
    for b in batches {
        w.push(b)?;
    }
    w.commit(lake).await
}
