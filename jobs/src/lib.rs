//! Pulse's batch jobs over the lake. Every job works on an explicit logical interval (a date
//! for the daily ones) passed in by its caller, never on the clock, and commits its output
//! through the lake's commit protocol, so a rerun replaces rather than appends and a failed
//! run leaves the previous output visible.

pub mod betweenness;
pub mod compact;
pub mod edges;
pub mod history;
pub mod jobs;
pub mod pagerank;
pub mod params;
pub mod profile;
pub mod runner;
pub mod scalar;
pub mod verify;

/// Errors of the jobs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lake failed (I/O, store, a corrupt marker).
    #[error(transparent)]
    Lake(#[from] pulse_lake::Error),
    /// Reading or writing Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow rejected a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A bad argument (a user mistake).
    #[error("{0}")]
    Usage(String),
    /// A job step failed to plan or run.
    #[error("step {step}: {source}")]
    Step {
        /// The step's name.
        step: String,
        /// DataFusion's error.
        source: datafusion::error::DataFusionError,
    },
    /// DataFusion failed outside a step.
    #[error("query: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        Error::Lake(e.into())
    }
}

/// The jobs' result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The jobs written in Rust rather than as SQL steps.
const NATIVE_JOBS: [&str; 3] = ["verify", "pagerank", "betweenness"];

/// Every job `pulse run` knows: the SQL jobs and the native ones.
pub fn job_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = jobs::ALL.iter().map(|j| j.name).collect();
    names.extend(NATIVE_JOBS);
    names
}

/// Runs the job `name` over `[start, end)` with `NAME=VALUE` overrides, and records the run
/// in the lake's run history (a `running` row first, replaced by its outcome).
pub async fn run_named(
    lake: &pulse_lake::Lake,
    ctx: &datafusion::prelude::SessionContext,
    name: &str,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    set: &[(String, String)],
    retention: chrono::Duration,
) -> Result<runner::RunReport> {
    let def = jobs::by_name(name);
    if def.is_none() && !NATIVE_JOBS.contains(&name) {
        return Err(Error::Usage(format!(
            "unknown job {name:?}: one of {:?}",
            job_names()
        )));
    }
    let mut rec = history::RunRecord::start(name, start.date_naive(), end.date_naive(), 1);
    history::record(lake, &rec).await?;
    let result = match def {
        Some(def) => {
            let mut params = runner::params_for(def, start, end);
            for (k, v) in set {
                params.set(k, v)?;
            }
            runner::run(lake, ctx, def, params, retention).await
        }
        None if name == "pagerank" => run_pagerank(lake, ctx, start, end, set, retention).await,
        None if name == "betweenness" => {
            run_betweenness(lake, ctx, start, end, set, retention).await
        }
        None => run_verify(lake, ctx, start, end, set, retention).await,
    };
    rec.ended_at = Some(chrono::Utc::now());
    match &result {
        Ok(r) => {
            rec.status = "succeeded".into();
            rec.rows_in = r.rows_in;
            rec.rows_out = r.rows_out();
        }
        Err(e) => {
            rec.status = "failed".into();
            rec.error = Some(error_chain(e));
        }
    }
    if let Err(e) = history::record(lake, &rec).await {
        tracing::warn!(job = name, error = %e, "could not record the run in the history");
    }
    result
}

/// An error with its sources, `: `-separated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

async fn run_verify(
    lake: &pulse_lake::Lake,
    ctx: &datafusion::prelude::SessionContext,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    set: &[(String, String)],
    retention: chrono::Duration,
) -> Result<runner::RunReport> {
    let mut p = params::Params::default();
    p.insert("k", params::Value::Int(50));
    p.insert(
        "sample",
        params::Value::Duration(std::time::Duration::from_secs(300)),
    );
    for (k, v) in set {
        p.set(k, v)?;
    }
    runner::check_interval(start, end)?;
    let mut report = runner::RunReport::default();
    let mut day = start;
    let mut days = 0;
    while day < end {
        let o = verify::VerifyOptions {
            date: day.date_naive(),
            k: p.int("k")?.max(0) as usize,
            sample: p.duration("sample")?,
        };
        let r = verify::run(lake, ctx, &o, retention).await?;
        report.rows_in += r.rows_in;
        days += 1;
        report.outputs = vec![("verification".into(), days, days)];
        day += chrono::Duration::days(1);
    }
    Ok(report)
}

async fn run_pagerank(
    lake: &pulse_lake::Lake,
    ctx: &datafusion::prelude::SessionContext,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    set: &[(String, String)],
    retention: chrono::Duration,
) -> Result<runner::RunReport> {
    let date = graph_day(start, end, "pagerank")?;
    let mut o = pagerank::PageRankOptions {
        edges: pagerank::Edges::Graph(date.clone()),
        date,
        damping: 0.85,
        tol: 1e-6,
        max_iter: 100,
        checkpoint_every: 1,
        weighted: false,
        personalize: Vec::new(),
    };
    for (k, v) in set {
        match k.as_str() {
            "damping" => o.damping = v.parse().map_err(|_| bad(k, v))?,
            "tol" => o.tol = v.parse().map_err(|_| bad(k, v))?,
            "max_iter" => o.max_iter = v.parse().map_err(|_| bad(k, v))?,
            "checkpoint_every" => o.checkpoint_every = v.parse().map_err(|_| bad(k, v))?,
            "weighted" => o.weighted = flag(k, v)?,
            "personalize" => {
                o.personalize = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "edges" => o.edges = pagerank::Edges::File(v.clone()),
            _ => {
                return Err(Error::Usage(format!(
                    "pagerank has no parameter {k:?}: damping, tol, max_iter, checkpoint_every, weighted, personalize, edges"
                )));
            }
        }
    }
    let (report, pr) = pagerank::run(lake, ctx, &o, retention).await?;
    tracing::info!(nodes = pr.nodes, iterations = pr.iterations, l1 = pr.l1, resumed_from = ?pr.resumed_from, "pagerank converged");
    Ok(report)
}

/// The day a graph job works on: its interval must be one day.
fn graph_day(
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    job: &str,
) -> Result<String> {
    runner::check_interval(start, end)?;
    if end - start != chrono::Duration::days(1) {
        return Err(Error::Usage(format!(
            "{job} works on one day's graph: give --date D"
        )));
    }
    Ok(start.date_naive().to_string())
}

fn bad(k: &str, v: &str) -> Error {
    Error::Usage(format!("--set {k}={v:?}: not a valid value"))
}

/// A yes/no `--set` value.
fn flag(k: &str, v: &str) -> Result<bool> {
    match v {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(bad(k, v)),
    }
}

async fn run_betweenness(
    lake: &pulse_lake::Lake,
    ctx: &datafusion::prelude::SessionContext,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    set: &[(String, String)],
    retention: chrono::Duration,
) -> Result<runner::RunReport> {
    let date = graph_day(start, end, "betweenness")?;
    let mut o = betweenness::BetweennessOptions {
        edges: edges::Edges::Graph(date.clone()),
        date,
        directed: true,
        normalized: true,
        samples: None,
        seed: 0,
        parts: None,
    };
    for (k, v) in set {
        match k.as_str() {
            "directed" => o.directed = flag(k, v)?,
            "normalized" => o.normalized = flag(k, v)?,
            "samples" => o.samples = Some(v.parse().map_err(|_| bad(k, v))?),
            "seed" => o.seed = v.parse().map_err(|_| bad(k, v))?,
            "parts" => o.parts = Some(v.parse().map_err(|_| bad(k, v))?),
            "edges" => o.edges = edges::Edges::File(v.clone()),
            _ => {
                return Err(Error::Usage(format!(
                    "betweenness has no parameter {k:?}: directed, normalized, samples, seed, parts, edges"
                )));
            }
        }
    }
    let (report, b) = betweenness::run(lake, ctx, &o, retention).await?;
    tracing::info!(
        nodes = b.nodes,
        edges = b.edges,
        sources = b.sources,
        parts = b.parts,
        "betweenness done"
    );
    Ok(report)
}
