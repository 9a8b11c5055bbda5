//! The run history: every job run leaves rows in the lake's append-only run log
//! (`sys/runs/dt=<first day>/<run id>-<job>-<start|end|interrupted>.parquet`, each one atomic
//! put, never rewritten, so readers never race a writer); the `runs` view shows each run's
//! latest row. History survives the process and every runner pointed at the lake sees it.
//! `pipeline-stats`, `pulse runs` and the nightly runner read it.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{DateTime, NaiveDate, Utc};
use object_store::ObjectStoreExt;
use pulse_lake::Lake;
use pulse_lake::land::encode_parquet;
use pulse_lake::schema::runs_schema;

use crate::Result;

/// One run of one job.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// Unique per run.
    pub run_id: String,
    /// The job's name.
    pub job: String,
    /// The logical interval's first day.
    pub from: NaiveDate,
    /// The day after its last day.
    pub to: NaiveDate,
    /// `succeeded`, `failed` or `running`.
    pub status: String,
    /// 1 for the first try.
    pub attempt: i64,
    /// When the run started (wall clock).
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Rows the run read, where known.
    pub rows_in: u64,
    /// Rows it wrote.
    pub rows_out: u64,
    /// The error chain of a failed run.
    pub error: Option<String>,
    /// Who ran it (host and process), to tell runners apart.
    pub runner: Option<String>,
}

impl RunRecord {
    /// A new record for a run starting now.
    pub fn start(job: &str, from: NaiveDate, to: NaiveDate, attempt: i64) -> RunRecord {
        let started_at = Utc::now();
        RunRecord {
            run_id: format!(
                "{}-{:08x}",
                started_at.timestamp_micros(),
                rand_u32() ^ std::process::id()
            ),
            job: job.to_string(),
            from,
            to,
            status: "running".into(),
            attempt,
            started_at,
            ended_at: None,
            rows_in: 0,
            rows_out: 0,
            error: None,
            runner: Some(runner_name()),
        }
    }

    /// Milliseconds from start to end (0 while running).
    pub fn duration_ms(&self) -> i64 {
        self.ended_at
            .map_or(0, |e| (e - self.started_at).num_milliseconds())
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64);
    h.finish() as u32
}

/// `host:pid` of this process.
pub fn runner_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Writes `r` to the lake: at the start of a run (`running`), then again at its end as a new
/// object; the `runs` table shows each run's latest row.
pub async fn record(lake: &Lake, r: &RunRecord) -> Result<()> {
    let s = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let opt = |v: Option<&str>| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let i = |v: i64| Arc::new(Int64Array::from(vec![v])) as ArrayRef;
    let ts = |v: Option<DateTime<Utc>>| {
        Arc::new(
            TimestampMicrosecondArray::from(vec![v.map(|t| t.timestamp_micros())])
                .with_timezone("UTC"),
        ) as ArrayRef
    };
    let schema = runs_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            s(&r.run_id),
            s(&r.job),
            s(&r.from.to_string()),
            s(&r.to.to_string()),
            s(&r.status),
            i(r.attempt),
            ts(Some(r.started_at)),
            ts(r.ended_at),
            i(r.duration_ms()),
            i(r.rows_in as i64),
            i(r.rows_out as i64),
            opt(r.error.as_deref()),
            opt(r.runner.as_deref()),
        ],
    )?;
    // Never rewritten: the start, the end and an interruption are three objects.
    let state = match (&r.ended_at, r.error.as_deref()) {
        (None, _) => "start",
        (Some(_), Some(e)) if e.starts_with("interrupted") => "interrupted",
        (Some(_), _) => "end",
    };
    let rel = format!("dt={}/{}-{}-{state}.parquet", r.from, r.run_id, r.job);
    let bytes = encode_parquet(&schema, &[batch])?;
    let shape = pulse_lake::delta::Shape::daily(schema.clone());
    let table = pulse_lake::delta::LakeTable::new(lake, "sys/runs");
    table.ensure(&shape).await?;
    lake.store()
        .put(&lake.path(&format!("sys/runs/{rel}")), bytes.clone().into())
        .await
        .map_err(pulse_lake::Error::from)?;
    // The run log is a Delta table too, appended to once per row.
    let file = pulse_lake::delta::DataFile::from_bytes(
        rel,
        &bytes,
        vec![("dt".into(), r.from.to_string())],
        &schema,
    )?;
    table
        .commit(
            &shape,
            &[file],
            pulse_lake::delta::Change::Append { txns: vec![] },
        )
        .await?;
    Ok(())
}

/// Every run in the history (one row per run, its latest state), oldest first.
pub async fn load(lake: &Lake) -> Result<Vec<RunRecord>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
    let ctx = pulse_lake::catalog::history_session(lake).await?;
    if !ctx.table_exist("runs")? {
        return Ok(Vec::new());
    }
    let batches = ctx
        .sql(
            "SELECT run_id, job, from_date, to_date, status, attempt, started_at, ended_at, \
             rows_in, rows_out, error, runner FROM runs ORDER BY started_at, run_id",
        )
        .await?
        .collect()
        .await?;
    let mut out = Vec::new();
    let day = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|e| crate::Error::Usage(format!("run history: {s:?} is not a date ({e})")))
    };
    for b in &batches {
        let text = |i: usize| arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8);
        let cols = (0..b.num_columns())
            .map(text)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let s = |i: usize| cols[i].as_string::<i32>();
        let ts = |i: usize| b.column(i).as_primitive::<TimestampMicrosecondType>();
        let n = |i: usize| b.column(i).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            let opt = |i: usize| s(i).is_valid(r).then(|| s(i).value(r).to_string());
            out.push(RunRecord {
                run_id: s(0).value(r).to_string(),
                job: s(1).value(r).to_string(),
                from: day(s(2).value(r))?,
                to: day(s(3).value(r))?,
                status: s(4).value(r).to_string(),
                attempt: n(5).value(r),
                started_at: DateTime::from_timestamp_micros(ts(6).value(r)).unwrap_or_default(),
                ended_at: ts(7)
                    .is_valid(r)
                    .then(|| DateTime::from_timestamp_micros(ts(7).value(r)))
                    .flatten(),
                rows_in: n(8).value(r).max(0) as u64,
                rows_out: n(9).value(r).max(0) as u64,
                error: opt(10),
                runner: opt(11),
            });
        }
    }
    Ok(out)
}

tokio::task_local! {
    /// The run id of the job run the current task works for (set by [`crate::run_with`]):
    /// its output commits record it, so an interrupted run's history can say which it made.
    pub static RUN_ID: String;
}

/// The run id of the job run the current task works for, if any.
pub fn current_run() -> Option<String> {
    RUN_ID.try_with(String::clone).ok()
}

/// What an interrupted run committed before it stopped: the job outputs whose Delta log
/// has a commit of `r` (a job commits its outputs one after another).
async fn committed_before_stopping(lake: &Lake, r: &RunRecord) -> Result<String> {
    let mut done = Vec::new();
    for table in pulse_lake::catalog::list_dirs(lake, "agg").await? {
        let rel = format!("agg/{table}");
        let versions =
            pulse_lake::travel::committed_by(lake, &rel, &r.run_id, r.started_at).await?;
        if let Some(v) = versions.first() {
            done.push(format!("{table} (v{v})"));
        }
    }
    Ok(if done.is_empty() {
        "it committed no output".to_string()
    } else {
        format!("it committed {} and no other output", done.join(", "))
    })
}

/// Marks runs left `running` by a runner that died (no live lease) as failed, so they show
/// as interrupted and are picked up again. Returns them.
pub async fn recover(lake: &Lake) -> Result<Vec<RunRecord>> {
    let mut fixed = Vec::new();
    for mut r in load(lake).await? {
        if r.status != "running"
            || crate::lease::is_live(lake, &crate::lease_key(&r.job, r.from, r.to)).await?
        {
            continue;
        }
        r.status = "failed".into();
        r.ended_at = Some(Utc::now());
        // What it committed is worth saying, not worth failing the recovery over.
        let committed = committed_before_stopping(lake, &r)
            .await
            .unwrap_or_else(|e| format!("what it committed could not be read: {e}"));
        r.error = Some(format!(
            "interrupted: its runner ({}) stopped before the run ended; {committed}",
            r.runner.as_deref().unwrap_or("unknown")
        ));
        record(lake, &r).await?;
        tracing::warn!(job = %r.job, from = %r.from, run_id = %r.run_id, "marked an interrupted run as failed");
        fixed.push(r);
    }
    Ok(fixed)
}
