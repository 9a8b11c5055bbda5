//! The run history: every job run leaves one row in the lake's `runs` table
//! (`sys/runs/dt=<first day>/<run id>-<job>.parquet`, one atomic put), so history
//! survives the process and every runner pointed at the lake sees it. `pipeline-stats` and
//! `pulse runs` read it.

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

/// Writes `r` to the lake: at the start of a run (`running`), then again at its end, which
/// replaces the first row (same object, atomic put), so each run is one row.
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
    let path = lake.path(&format!(
        "sys/runs/dt={}/{}-{}.parquet",
        r.from, r.run_id, r.job
    ));
    lake.store()
        .put(&path, encode_parquet(&schema, &[batch])?.into())
        .await
        .map_err(pulse_lake::Error::from)?;
    Ok(())
}
