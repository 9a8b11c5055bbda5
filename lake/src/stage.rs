//! Job outputs written where they are computed, then committed by the one who asked.
//!
//! The output-committer pattern of Spark and Hadoop: a plan wrapped in [`StagedWrite`]
//! writes its rows as Parquet files straight into the lake, each partition of the plan its
//! own files, in parallel (on a cluster, on the executors), and returns only a description
//! of each file ([`FILES`]: path, day, size, rows, Delta statistics). Until someone commits
//! them those files are staged: under a table's directory but in no Delta commit, so no
//! reader sees them. The caller commits what the plan reported; files of a failed or
//! abandoned attempt never are (a table's are removed by vacuum, a scratch directory by the
//! run that made it). So a job's output rows never travel through the process that runs
//! the job.
//!
//! Every file gets a name of its own (the caller's generation and a nonce per file: a
//! task's partition number is not unique across a cluster's tasks), so a task run again
//! adds files instead of replacing them: only the files a finished plan reported are ever
//! committed or read, never a directory's listing.
//!
//! A step's `ORDER BY` holds within each file: the write requires its input in the order
//! the step's plan had (each partition sorted again after the shuffle by day).
//!
//! Embedded, the node is planned by [`Planner`]; on a cluster the scheduler plans it the
//! same way and the node travels to executors through the codec functions here
//! ([`encode_logical`], [`encode_exec`], [`decode_logical`], [`decode_exec`]).

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, PlanProperties,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use crate::delta::DataFile;
use crate::{Error, Lake, Result};

/// The rows a staged write returns: one per file written.
pub static FILES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("target", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("day", DataType::Utf8, true),
        Field::new("size", DataType::UInt64, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("stats", DataType::Utf8, false),
    ]))
});

/// Where a staged write puts its files.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Serialize, Deserialize)]
pub struct Target {
    /// The lake directory (relative to the lake root): a table's root (`agg/<table>`) or a
    /// scratch directory.
    pub rel: String,
    /// For a daily table, the days rows may have (from the `dt` column, which is not stored
    /// in the files: each day's files go under `dt=<day>/`). None for scratch files, which
    /// keep every column and go directly under `rel`.
    pub days: Option<Vec<String>>,
    /// Tells this attempt's files from every other attempt's.
    pub generation: String,
}

impl Target {
    /// A new file's path, relative to `rel`, for `day` (None: scratch).
    fn file(&self, day: Option<&str>) -> String {
        static FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seed = [self.rel.as_bytes(), &n.to_le_bytes()].concat();
        let nonce = crate::delta::unique_generation(&seed);
        match day {
            Some(d) => format!("dt={d}/c-{}-{nonce}.parquet", self.generation),
            None => format!("part-{}-{nonce}.parquet", self.generation),
        }
    }
}

/// The schema a target's files have for plan output `schema`: a daily table's without `dt`
/// and with every string column as Utf8 (whatever the plan produced: a literal gives Utf8,
/// a scan Utf8View), so all files of a table agree; scratch files keep the plan's schema.
/// `table` names the table in the error of a daily result without `dt`.
pub fn file_schema(table: &str, schema: &Schema, daily: bool) -> Result<SchemaRef> {
    if !daily {
        return Ok(Arc::new(schema.clone()));
    }
    let dt = schema.index_of("dt").map_err(|_| Error::Partition {
        table: table.to_string(),
        reason: "the output step's result has no dt column".into(),
    })?;
    let plain = |f: &Arc<Field>| match f.data_type() {
        DataType::Utf8View | DataType::LargeUtf8 => {
            Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8))
        }
        _ => f.clone(),
    };
    Ok(Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != dt)
            .map(|(_, f)| plain(f))
            .collect::<Vec<_>>(),
    )))
}

/// Splits batches into one Parquet file per day (or one file, for scratch), encoding as
/// they come. Rows of a day outside the target's days are an error (a step bug).
pub struct Split {
    table: String,
    dt: Option<usize>,
    days: Option<Vec<String>>,
    file_schema: SchemaRef,
    writers: BTreeMap<String, parquet::arrow::ArrowWriter<Vec<u8>>>,
}

impl Split {
    /// A split of batches of `schema` for `table` (named in errors) into `days` (None:
    /// scratch, one file).
    pub fn new(table: &str, schema: &Schema, days: Option<Vec<String>>) -> Result<Split> {
        let file_schema = file_schema(table, schema, days.is_some())?;
        Ok(Split {
            table: table.to_string(),
            dt: days.as_ref().and_then(|_| schema.index_of("dt").ok()),
            days,
            file_schema,
            writers: BTreeMap::new(),
        })
    }

    /// The files' schema.
    pub fn file_schema(&self) -> &SchemaRef {
        &self.file_schema
    }

    fn writer(&mut self, key: &str) -> Result<&mut parquet::arrow::ArrowWriter<Vec<u8>>> {
        if !self.writers.contains_key(key) {
            let w = parquet::arrow::ArrowWriter::try_new(
                Vec::new(),
                self.file_schema.clone(),
                Some(crate::land::writer_properties()),
            )?;
            self.writers.insert(key.to_string(), w);
        }
        self.writers.get_mut(key).ok_or_else(|| Error::Partition {
            table: self.table.clone(),
            reason: "writer vanished".into(),
        })
    }

    /// Adds a batch.
    pub fn push(&mut self, b: &RecordBatch) -> Result<()> {
        let Some(dt_idx) = self.dt else {
            return Ok(self.writer("")?.write(b)?);
        };
        let table = self.table.clone();
        let bad = |reason: String| Error::Partition {
            table: table.clone(),
            reason,
        };
        let dt = arrow::compute::cast(b.column(dt_idx), &DataType::Utf8)?;
        let dt = dt.as_string::<i32>();
        let mut idx: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for i in 0..b.num_rows() {
            if dt.is_null(i) {
                return Err(bad("the output step produced a row without dt".into()));
            }
            idx.entry(dt.value(i)).or_default().push(i as u32);
        }
        let cols: Vec<usize> = (0..b.num_columns()).filter(|i| *i != dt_idx).collect();
        let projected = b.project(&cols)?;
        let projected = RecordBatch::try_new(
            self.file_schema.clone(),
            projected
                .columns()
                .iter()
                .zip(self.file_schema.fields())
                .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?,
        )?;
        for (day, ix) in idx {
            if !self
                .days
                .as_ref()
                .is_some_and(|d| d.iter().any(|x| x == day))
            {
                return Err(bad(format!(
                    "the output step produced rows for {day}, outside the interval"
                )));
            }
            let part = take_record_batch(&projected, &UInt32Array::from(ix))?;
            self.writer(day)?.write(&part)?;
        }
        Ok(())
    }

    /// The encoded files: (day, bytes); the day is None for scratch.
    pub fn finish(self) -> Result<Vec<(Option<String>, Bytes)>> {
        let daily = self.dt.is_some();
        self.writers
            .into_iter()
            .map(|(k, w)| Ok((daily.then_some(k), Bytes::from(w.into_inner()?))))
            .collect()
    }
}

/// Puts `body` as a new file of `target` for `day` and describes it.
pub async fn put(
    lake: &Lake,
    target: &Target,
    day: Option<&str>,
    body: Bytes,
    schema: &Schema,
) -> Result<DataFile> {
    let path = target.file(day);
    let parts = day.map_or_else(Vec::new, |d| vec![("dt".to_string(), d.to_string())]);
    let file = DataFile::from_bytes(path.clone(), &body, parts, schema)?;
    lake.raw_store()
        .put(&lake.path(&format!("{}/{path}", target.rel)), body.into())
        .await?;
    Ok(file)
}

/// The [`FILES`] rows of `files`, written for `target`.
pub fn files_batch(target: &Target, files: &[DataFile]) -> Result<RecordBatch> {
    let day = |f: &DataFile| f.partitions.first().map(|(_, v)| v.clone());
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![target.rel.clone(); files.len()])),
        Arc::new(StringArray::from_iter_values(files.iter().map(|f| &f.path))),
        Arc::new(StringArray::from(files.iter().map(day).collect::<Vec<_>>())),
        Arc::new(UInt64Array::from_iter_values(files.iter().map(|f| f.size))),
        Arc::new(UInt64Array::from_iter_values(files.iter().map(|f| f.rows))),
        Arc::new(StringArray::from_iter_values(
            files.iter().map(|f| &f.stats),
        )),
    ];
    Ok(RecordBatch::try_new(FILES.clone(), columns)?)
}

/// The files [`FILES`] rows describe, per target directory.
pub fn read_files(batches: &[RecordBatch]) -> Result<BTreeMap<String, Vec<DataFile>>> {
    let mut out: BTreeMap<String, Vec<DataFile>> = BTreeMap::new();
    for b in batches {
        let columns = b
            .columns()
            .iter()
            .zip(FILES.fields())
            .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let b = RecordBatch::try_new(FILES.clone(), columns)?;
        let s = |i: usize| b.column(i).as_string::<i32>().clone();
        let (target, path, day, stats) = (s(0), s(1), s(2), s(5));
        let size = b.column(3).as_primitive::<arrow::datatypes::UInt64Type>();
        let rows = b.column(4).as_primitive::<arrow::datatypes::UInt64Type>();
        for i in 0..b.num_rows() {
            let partitions = if day.is_null(i) {
                Vec::new()
            } else {
                vec![("dt".to_string(), day.value(i).to_string())]
            };
            out.entry(target.value(i).to_string())
                .or_default()
                .push(DataFile {
                    path: path.value(i).to_string(),
                    size: size.value(i),
                    partitions,
                    rows: rows.value(i),
                    stats: stats.value(i).to_string(),
                });
        }
    }
    Ok(out)
}

/// The logical node: `input`'s rows written to `target`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StagedWrite {
    input: LogicalPlan,
    target: Target,
    schema: DFSchemaRef,
}

impl StagedWrite {
    /// `input` written to `target`, as a plan.
    pub fn plan(input: LogicalPlan, target: Target) -> DfResult<LogicalPlan> {
        let schema = Arc::new(DFSchema::try_from(FILES.as_ref().clone())?);
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(StagedWrite {
                input,
                target,
                schema,
            }),
        }))
    }
}

// The schema is FILES for every node: compare by input and target.
impl PartialOrd for StagedWrite {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        match self.input.partial_cmp(&other.input) {
            Some(std::cmp::Ordering::Equal) => self.target.partial_cmp(&other.target),
            o => o,
        }
    }
}

impl UserDefinedLogicalNodeCore for StagedWrite {
    fn name(&self) -> &str {
        "StagedWrite"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "StagedWrite: {}", self.target.rel)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> DfResult<Self> {
        let input = inputs
            .pop()
            .ok_or_else(|| DataFusionError::Internal("StagedWrite needs an input".into()))?;
        Ok(StagedWrite {
            input,
            target: self.target.clone(),
            schema: self.schema.clone(),
        })
    }
}

/// The physical node: each partition of `input` writes its own files and returns their
/// [`FILES`] rows. A daily target asks for its input hash-partitioned by `dt`, so each day
/// is written by one task into one file.
#[derive(Debug)]
pub struct StagedWriteExec {
    input: Arc<dyn ExecutionPlan>,
    target: Target,
    lake: Lake,
    /// The order the input had when planned (a step's `ORDER BY`), kept in each file.
    ordering: Option<datafusion::physical_expr::LexOrdering>,
    props: Arc<PlanProperties>,
}

impl StagedWriteExec {
    /// Writes `input` to `target` in `lake`, in the order `input` has.
    pub fn new(input: Arc<dyn ExecutionPlan>, target: Target, lake: Lake) -> Self {
        let ordering = input.properties().output_ordering().cloned();
        Self::ordered(input, target, lake, ordering)
    }

    fn ordered(
        input: Arc<dyn ExecutionPlan>,
        target: Target,
        lake: Lake,
        ordering: Option<datafusion::physical_expr::LexOrdering>,
    ) -> Self {
        let partitions = input.properties().partitioning.partition_count();
        let props = PlanProperties::new(
            EquivalenceProperties::new(FILES.clone()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        let props = Arc::new(props);
        StagedWriteExec {
            input,
            target,
            lake,
            ordering,
            props,
        }
    }
}

impl DisplayAs for StagedWriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "StagedWriteExec: {}", self.target.rel)
    }
}

impl ExecutionPlan for StagedWriteExec {
    fn name(&self) -> &str {
        "StagedWriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(
            &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
        ) -> DfResult<datafusion::common::tree_node::TreeNodeRecursion>,
    ) -> DfResult<datafusion::common::tree_node::TreeNodeRecursion> {
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        let dt = self
            .target
            .days
            .as_ref()
            .and_then(|_| self.input.schema().index_of("dt").ok());
        match dt {
            Some(i) => vec![Distribution::KeyPartitioned(vec![Arc::new(
                datafusion::physical_expr::expressions::Column::new("dt", i),
            )])],
            None => vec![Distribution::UnspecifiedDistribution],
        }
    }

    #[allow(deprecated)]
    fn required_input_ordering(
        &self,
    ) -> Vec<Option<datafusion::physical_expr::OrderingRequirements>> {
        vec![self.ordering.clone().map(Into::into)]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("StagedWriteExec needs an input".into()))?;
        Ok(Arc::new(StagedWriteExec::ordered(
            input,
            self.target.clone(),
            self.lake.clone(),
            self.ordering.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, context)?;
        let (target, lake) = (self.target.clone(), self.lake.clone());
        let schema = self.input.schema();
        let written = async move {
            let ext = |e: Error| DataFusionError::External(Box::new(e));
            let mut split = Split::new(&target.rel, &schema, target.days.clone()).map_err(ext)?;
            while let Some(b) = input.next().await {
                split.push(&b?).map_err(ext)?;
            }
            let file_schema = split.file_schema().clone();
            let mut files = Vec::new();
            for (day, body) in split.finish().map_err(ext)? {
                let f = put(&lake, &target, day.as_deref(), body, &file_schema)
                    .await
                    .map_err(ext)?;
                files.push(f);
            }
            pause_in_write(&target, &files).await;
            files_batch(&target, &files).map_err(ext)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            FILES.clone(),
            futures::stream::once(written),
        )))
    }
}

/// Fault injection for the crash tests: with `PULSE_PAUSE_IN_WRITE=<text>` and
/// `PULSE_PAUSE_MARK=<file>`, the first staged write (in any process) whose directory
/// contains the text creates the file, listing its process id and the files it put (lake
/// paths, a line each), and waits a minute before reporting them, so a test can kill the
/// process that wrote them. Writes after the first do not wait.
async fn pause_in_write(target: &Target, files: &[DataFile]) {
    let (Ok(t), Ok(mark)) = (
        std::env::var("PULSE_PAUSE_IN_WRITE"),
        std::env::var("PULSE_PAUSE_MARK"),
    ) else {
        return;
    };
    if t.is_empty() || !target.rel.contains(&t) || files.is_empty() {
        return;
    }
    let Ok(mut f) = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&mark)
    else {
        return;
    };
    let mut text = format!("{}\n", std::process::id());
    for file in files {
        text.push_str(&format!("{}/{}\n", target.rel, file.path));
    }
    use std::io::Write;
    let _ = f.write_all(text.as_bytes());
    drop(f);
    tracing::warn!(
        target = target.rel,
        "PULSE_PAUSE_IN_WRITE: pausing before reporting"
    );
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
}

/// Plans [`StagedWrite`] nodes as [`StagedWriteExec`] writing to `lake`.
#[derive(Debug, Clone)]
pub struct Planner {
    lake: Lake,
}

impl Planner {
    /// A planner for sessions over `lake`.
    pub fn new(lake: Lake) -> Planner {
        Planner { lake }
    }
}

#[async_trait::async_trait]
impl ExtensionPlanner for Planner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn datafusion::logical_expr::UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn datafusion::catalog::Session,
        _planning: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(w) = node.as_any().downcast_ref::<StagedWrite>() else {
            return Ok(None);
        };
        let input = physical_inputs
            .first()
            .ok_or_else(|| DataFusionError::Internal("StagedWrite needs an input".into()))?;
        Ok(Some(Arc::new(StagedWriteExec::new(
            input.clone(),
            w.target.clone(),
            self.lake.clone(),
        ))))
    }
}

#[async_trait::async_trait]
impl QueryPlanner for Planner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn datafusion::catalog::Session,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(self.clone())])
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}

/// What marks an encoded staged write (logical or physical) in a codec's bytes.
const MAGIC: &[u8] = b"pulse.staged-write.v1:";

/// The bytes of a logical staged write (a [`UserDefinedLogicalNode`]'s `as_any`) for a plan
/// codec, or None for any other node.
///
/// [`UserDefinedLogicalNode`]: datafusion::logical_expr::UserDefinedLogicalNode
pub fn encode_logical(node: &dyn Any) -> DfResult<Option<Vec<u8>>> {
    match node.downcast_ref::<StagedWrite>() {
        Some(w) => encode(&w.target).map(Some),
        None => Ok(None),
    }
}

/// The bytes of a physical staged write for a plan codec, or None for any other node.
pub fn encode_exec(node: &dyn ExecutionPlan) -> DfResult<Option<Vec<u8>>> {
    match (node as &dyn ExecutionPlan).downcast_ref::<StagedWriteExec>() {
        Some(e) => encode(&e.target).map(Some),
        None => Ok(None),
    }
}

fn encode(target: &Target) -> DfResult<Vec<u8>> {
    let mut buf = MAGIC.to_vec();
    buf.extend(serde_json::to_vec(target).map_err(|e| DataFusionError::External(Box::new(e)))?);
    Ok(buf)
}

fn target_of(buf: &[u8]) -> DfResult<Option<Target>> {
    let Some(json) = buf.strip_prefix(MAGIC) else {
        return Ok(None);
    };
    serde_json::from_slice(json)
        .map(Some)
        .map_err(|e| DataFusionError::External(Box::new(e)))
}

/// Decodes a logical staged write over `inputs`; None when `buf` is another node's.
pub fn decode_logical(buf: &[u8], inputs: &[LogicalPlan]) -> DfResult<Option<Extension>> {
    let Some(target) = target_of(buf)? else {
        return Ok(None);
    };
    let input = inputs
        .first()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("StagedWrite needs an input".into()))?;
    match StagedWrite::plan(input, target)? {
        LogicalPlan::Extension(e) => Ok(Some(e)),
        _ => Err(DataFusionError::Internal("StagedWrite::plan".into())),
    }
}

/// Decodes a physical staged write over `inputs`, writing to `lake`; None when `buf` is
/// another node's.
pub fn decode_exec(
    buf: &[u8],
    inputs: &[Arc<dyn ExecutionPlan>],
    lake: &Lake,
) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
    let Some(target) = target_of(buf)? else {
        return Ok(None);
    };
    let input = inputs
        .first()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("StagedWriteExec needs an input".into()))?;
    Ok(Some(Arc::new(StagedWriteExec::new(
        input,
        target,
        lake.clone(),
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::DataFrame;

    fn batch(rows: &[(&str, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("dt", DataType::Utf8, false),
            Field::new("k", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap()
    }

    async fn write(days: &[&str]) -> (Lake, DfResult<Vec<RecordBatch>>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), &Default::default()).unwrap();
        let ctx = crate::catalog::session(&lake).await.unwrap();
        // Two partitions, days and keys interleaved.
        let a = batch(&[("2026-01-05", 3), ("2026-01-06", 9), ("2026-01-05", 7)]);
        let b = batch(&[("2026-01-06", 1), ("2026-01-05", 5), ("2026-01-06", 4)]);
        let t = MemTable::try_new(a.schema(), vec![vec![a], vec![b]]).unwrap();
        ctx.register_table("t", Arc::new(t)).unwrap();
        let df = ctx
            .sql("SELECT dt, k FROM t ORDER BY k DESC")
            .await
            .unwrap();
        let target = Target {
            rel: "agg/x".into(),
            days: Some(days.iter().map(|d| d.to_string()).collect()),
            generation: "g".into(),
        };
        let plan = StagedWrite::plan(df.logical_plan().clone(), target).unwrap();
        let out = DataFrame::new(ctx.state(), plan).collect().await;
        (lake, out, dir)
    }

    #[tokio::test]
    async fn each_day_is_written_once_in_the_steps_order_and_only_described_back() {
        let (lake, out, _dir) = write(&["2026-01-05", "2026-01-06"]).await;
        let files = read_files(&out.unwrap()).unwrap().remove("agg/x").unwrap();
        let mut got: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for f in &files {
            let bytes = lake
                .raw_store()
                .get(&lake.path(&format!("agg/x/{}", f.path)))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 1024)
                    .unwrap();
            let mut keys: Vec<i64> = Vec::new();
            for b in reader {
                let b = b.unwrap();
                assert!(b.schema().index_of("dt").is_err(), "dt is the directory");
                keys.extend(
                    b.column(0)
                        .as_primitive::<arrow::datatypes::Int64Type>()
                        .values(),
                );
            }
            assert_eq!(keys.len() as u64, f.rows);
            let day = &f.partitions[0].1;
            assert!(f.path.starts_with(&format!("dt={day}/")), "{}", f.path);
            got.entry(day.clone()).or_default().extend(keys);
        }
        // One file per day; rows by day as in the input, in the ORDER BY (k DESC).
        assert_eq!(files.len(), 2);
        assert_eq!(got["2026-01-05"], vec![7, 5, 3]);
        assert_eq!(got["2026-01-06"], vec![9, 4, 1]);
    }

    #[tokio::test]
    async fn rows_of_a_day_outside_the_interval_are_an_error() {
        let (_lake, out, _dir) = write(&["2026-01-05"]).await;
        let err = out.unwrap_err().to_string();
        assert!(err.contains("2026-01-06, outside the interval"), "{err}");
    }
}
