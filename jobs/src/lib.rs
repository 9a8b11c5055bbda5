//! Pulse's batch jobs over the lake. Every job works on an explicit logical interval (a date
//! for the daily ones) passed in by its caller, never on the clock, and commits its output
//! through the lake's commit protocol, so a rerun replaces rather than appends and a failed
//! run leaves the previous output visible.

pub mod betweenness;
pub mod compact;
pub mod edges;
pub mod history;
pub mod lease;
pub mod manifest;
pub mod native;
pub mod nightly;
pub mod outputs;
pub mod pagerank;
pub mod params;
pub mod profile;
pub mod registry;
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
    /// Another runner holds the lease of this job and interval.
    #[error("{job} for {interval} is being run by {owner} (lease until {until})")]
    Busy {
        /// The job.
        job: String,
        /// `from_to` of its interval.
        interval: String,
        /// The other runner.
        owner: String,
        /// When its lease runs out unless renewed.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// This runner's lease was taken over (it was too slow to renew it): it stopped.
    #[error("the lease was lost to another runner; stopped without committing")]
    LeaseLost,
}

impl Error {
    /// True when a retry may succeed: I/O, the network, a lost executor. A bad query, bad
    /// data or a user mistake fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Lake(e) => e.is_transient(),
            Error::Step { source, .. } | Error::DataFusion(source) => df_transient(source),
            _ => false,
        }
    }
}

/// How many times work that failed transiently runs in all (a step, a query).
pub const ATTEMPTS: u32 = 3;

/// Runs `f` until it succeeds, fails in a way `transient` rejects, or has run [`ATTEMPTS`]
/// times, waiting 2 s, then 4 s, between runs. `f` must be safe to run again: a step
/// commits nothing when it fails, a query only reads. `what` names it in the warning.
pub async fn with_retries<T, E, F, Fut>(
    what: &str,
    transient: impl Fn(&E) -> bool,
    mut f: F,
) -> std::result::Result<T, E>
where
    E: std::error::Error,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if attempt < ATTEMPTS && transient(&e) => {
                let wait = std::time::Duration::from_secs(2u64.pow(attempt));
                tracing::warn!(what, attempt, error = %error_chain(&e), ?wait, "failed; running it again");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// True when a query that failed this way may succeed if run again: the store's I/O, the
/// network, an executor lost while it ran.
pub fn df_transient(e: &datafusion::error::DataFusionError) -> bool {
    use datafusion::error::DataFusionError as D;
    // With no executor left a new job would wait for one forever: not transient.
    let text = e.to_string().to_lowercase();
    if text.contains("executors were lost")
        || text.contains("no executors are left")
        || text.contains("no executors are registered")
    {
        return false;
    }
    match e {
        D::ObjectStore(e) => pulse_lake::error::store_error_is_transient(e),
        D::IoError(_) => true,
        D::Context(_, inner) => df_transient(inner),
        D::Shared(inner) => df_transient(inner),
        // A result streamed from an executor that died mid-stream.
        D::ArrowError(inner, _) => {
            let t = inner.to_string().to_lowercase();
            [
                "h2 protocol error",
                "broken pipe",
                "connection reset",
                "connection refused",
            ]
            .iter()
            .any(|w| t.contains(w))
        }
        // A staged write's store error (embedded, where the write runs in this process).
        D::External(inner) if inner.downcast_ref::<pulse_lake::Error>().is_some() => inner
            .downcast_ref::<pulse_lake::Error>()
            .is_some_and(pulse_lake::Error::is_transient),
        D::External(inner) => {
            let t = inner.to_string().to_lowercase();
            t.contains("executor") && (t.contains("lost") || t.contains("transport"))
                || t.contains("connection refused")
                || t.contains("connection reset")
        }
        // Ballista reports a failed fetch from a dead executor as an execution error; Pulse's
        // scheduler fails a job that lost work to one (`pulse_scheduler::lost::LOST`).
        D::Execution(t) => {
            let t = t.to_lowercase();
            t.contains("lost work to an executor")
                || t.contains("transport error")
                || t.contains("grpcconnectionerror")
                || t.contains("connection refused")
                || t.contains("broken pipe")
        }
        _ => false,
    }
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        Error::Lake(e.into())
    }
}

/// The jobs' result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a run is guarded and recorded.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How long `vacuum` keeps files no reader of a table's newest version needs.
    pub retention: chrono::Duration,
    /// Which try this is (1 for the first), as recorded in the history.
    pub attempt: i64,
    /// The lease's time to live; it is renewed every third of it while the job runs.
    pub lease_ttl: std::time::Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            retention: chrono::Duration::hours(1),
            attempt: 1,
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }
}

/// The lease time to live when none is given.
pub const DEFAULT_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// The lease key of a job over an interval.
pub fn lease_key(job: &str, from: chrono::NaiveDate, to: chrono::NaiveDate) -> String {
    format!("{from}_{to}/{job}")
}

/// Runs the job `name` over `[start, end)` under its lease (no other runner works on the same
/// job and interval meanwhile), and records the run in the lake's run history (a `running`
/// row first, replaced by its outcome).
#[allow(clippy::too_many_arguments)]
pub async fn run_with(
    lake: &pulse_lake::Lake,
    ctx: &datafusion::prelude::SessionContext,
    registry: &registry::Registry,
    name: &str,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    set: &[(String, String)],
    o: &RunOptions,
) -> Result<runner::RunReport> {
    // An unknown job or interval is reported before anything is recorded; a bad parameter
    // fails the recorded run.
    registry.get(name)?;
    runner::check_interval(start, end)?;
    let (from, to) = (start.date_naive(), end.date_naive());
    let lease = match lease::acquire(
        lake,
        &lease_key(name, from, to),
        &history::runner_name(),
        o.lease_ttl,
    )
    .await?
    {
        Ok(l) => l,
        Err(held) => {
            return Err(Error::Busy {
                job: name.to_string(),
                interval: format!("{from}_{to}"),
                owner: held.owner,
                until: held.expires_at,
            });
        }
    };
    let mut rec = history::RunRecord::start(name, from, to, o.attempt);
    history::record(lake, &rec).await?;
    // Output commits record the run (see `history::current_run`).
    let cx = registry::Context {
        lake,
        ctx,
        registry,
        options: o,
    };
    let span = tracing::info_span!("run", run_id = %rec.run_id, job = name, from = %from, to = %to);
    let work = history::RUN_ID.scope(
        rec.run_id.clone(),
        tracing::Instrument::instrument(registry.run_job(&cx, name, start, end, set), span),
    );
    // Renew the lease while the job runs; stop the job if another runner took it over.
    let keep = async {
        loop {
            tokio::time::sleep(lease.renew_every()).await;
            match lease.renew().await {
                Ok(true) => {}
                Ok(false) => return Error::LeaseLost,
                Err(e) => tracing::warn!(job = name, error = %e, "could not renew the lease"),
            }
        }
    };
    let result = tokio::select! {
        r = work => r,
        e = keep => Err(e),
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
    if let Err(e) = lease.release().await {
        tracing::warn!(job = name, error = %e, "could not release the lease (it expires)");
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

#[cfg(test)]
mod tests {
    use datafusion::error::DataFusionError as D;

    use super::Error;

    #[test]
    fn only_io_network_and_lost_executors_are_retried() {
        let store = |e: object_store::Error| Error::Lake(pulse_lake::Error::Store(e));
        let generic = || object_store::Error::Generic {
            store: "s3",
            source: "connection reset by peer".into(),
        };
        assert!(store(generic()).is_transient());
        assert!(Error::DataFusion(D::ObjectStore(Box::new(generic()))).is_transient());
        assert!(Error::DataFusion(D::IoError(std::io::Error::other("disk"))).is_transient());
        assert!(
            Error::Step {
                step: "s".into(),
                source: D::Execution("executor e lost (transport error)".into()),
            }
            .is_transient()
        );
        // How Ballista reports fetching a result from an executor that died after its task.
        let fetch = "GrpcConnectionError(\"Error connecting to Ballista scheduler or executor at \
                     http://127.0.0.1:1: tcp connect error (Connection refused)\")";
        assert!(Error::DataFusion(D::Execution(fetch.into())).is_transient());
        // A result stream cut when its executor died.
        let cut = arrow::error::ArrowError::ExternalError(
            "code: 'Unknown error', message: \"h2 protocol error: error reading a body from \
             connection\", source: BrokenPipe"
                .into(),
        );
        assert!(Error::DataFusion(D::ArrowError(Box::new(cut), None)).is_transient());
        let lost = "Job 1 failed: the job lost work to an executor that stopped (executor e was \
                    removed while it ran); run it again";
        assert!(Error::DataFusion(D::Execution(lost.into())).is_transient());
        // With no executor left, a new job would wait for one forever.
        let none = format!("{lost}; no executors are left");
        assert!(!Error::DataFusion(D::Execution(none)).is_transient());
        let all = "all executors were lost and no executor re-registered within 6s";
        assert!(!Error::DataFusion(D::Execution(all.into())).is_transient());
        // A bad query, bad data, a missing file or a user mistake fail the same way again.
        assert!(!Error::DataFusion(D::Plan("no column x".into())).is_transient());
        assert!(!Error::DataFusion(D::ResourcesExhausted("memory".into())).is_transient());
        assert!(
            !store(object_store::Error::NotFound {
                path: "x".into(),
                source: "gone".into(),
            })
            .is_transient()
        );
        assert!(!Error::Usage("min_channels must be at least 2".into()).is_transient());
        assert!(!Error::LeaseLost.is_transient());
    }
}
