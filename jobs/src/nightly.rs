//! The nightly DAG: the jobs for a logical date D and their order, and the one runner
//! behind `pulse nightly`, `pulse backfill` and `pulse schedule`. Each task is a job over
//! `[D, D + 1)`, run under its lease and recorded in the run history, so any number of
//! runners (embedded or on a cluster) can share a lake: the history says what is done, the
//! leases keep two runners off the same task, and a task interrupted by a crash is found
//! (`running`, lease expired), marked failed and run again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;
use pulse_lake::Lake;
use pulse_lake::schema::RawTable;

use crate::history::{self, RunRecord};
use crate::registry::{Registry, Task};
use crate::{Error, Result};

/// Which tasks a backfill runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reprocess {
    /// Those that never succeeded (default).
    Missing,
    /// Those whose latest run failed.
    Failed,
    /// All of them.
    All,
}

impl std::str::FromStr for Reprocess {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "missing" => Ok(Reprocess::Missing),
            "failed" => Ok(Reprocess::Failed),
            "all" => Ok(Reprocess::All),
            _ => Err(Error::Usage(format!(
                "--reprocess {s:?}: one of missing, failed, all"
            ))),
        }
    }
}

/// How the runner behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// What to run again.
    pub reprocess: Reprocess,
    /// Tasks running at once.
    pub max_concurrent: usize,
    /// Tries of a task that fails with a transient error (1: no retry).
    pub attempts: u32,
    /// Wait before the second try; doubled for each further one.
    pub backoff: std::time::Duration,
    /// Leases' time to live.
    pub lease_ttl: std::time::Duration,
    /// Keep replaced output files (hidden) this long.
    pub retention: chrono::Duration,
    /// Job parameters over the DAG's own, per job (`NAME=VALUE` as for `pulse run --set`).
    pub set: crate::outputs::Overrides,
    /// Told after each task: (tasks finished, tasks planned, what finished).
    pub progress: Option<Progress>,
    /// The jobs (the DAG is theirs, see [`Registry::nightly`]).
    pub registry: Arc<Registry>,
}

/// A progress callback of the runner (a progress bar on a terminal).
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<ProgressFn>);

/// (tasks finished, tasks planned, what finished).
pub type ProgressFn = dyn Fn(usize, usize, &str) + Send + Sync;

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reprocess: Reprocess::Missing,
            max_concurrent: 1,
            attempts: 3,
            backoff: std::time::Duration::from_secs(2),
            lease_ttl: crate::DEFAULT_LEASE_TTL,
            retention: chrono::Duration::hours(1),
            set: BTreeMap::new(),
            progress: None,
            // The built-in jobs always parse (a test runs them all).
            registry: Arc::new(Registry::builtin().unwrap_or_default()),
        }
    }
}

/// A fresh session per task (jobs register scratch tables by name, so tasks running at the
/// same time must not share one): embedded or connected to a cluster.
pub type Sessions = Arc<dyn Fn() -> BoxFuture<'static, Result<SessionContext>> + Send + Sync>;

/// What a run over a range will do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// (date, job) to run, in order.
    pub tasks: Vec<(NaiveDate, String)>,
    /// The DAG they come from.
    pub dag: Vec<Task>,
    /// Dates without any raw data landed: reported, not run.
    pub no_input: Vec<NaiveDate>,
    /// Tasks left alone because they are done.
    pub done: usize,
}

/// True when any raw table has data for `date`.
pub async fn has_input(lake: &Lake, date: NaiveDate) -> Result<bool> {
    let want = format!("dt={date}");
    for t in RawTable::ALL {
        if pulse_lake::catalog::list_dirs(lake, &t.dir())
            .await?
            .contains(&want)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The latest run of each (date, job) among one-day runs.
pub fn latest(runs: &[RunRecord]) -> BTreeMap<(NaiveDate, String), &RunRecord> {
    let mut m = BTreeMap::new();
    for r in runs {
        if r.to == r.from + chrono::Days::new(1) {
            // `runs` is oldest first.
            m.insert((r.from, r.job.clone()), r);
        }
    }
    m
}

/// The tasks for the dates `[from, to)`: those `reprocess` selects, everything downstream of
/// them on the same date, and the later dates' profiles chain after a reprocessed profile
/// day (each profile day builds on the one before).
pub async fn plan(
    lake: &Lake,
    registry: &Registry,
    from: NaiveDate,
    to: NaiveDate,
    reprocess: Reprocess,
) -> Result<Plan> {
    let runs = history::load(lake).await?;
    let latest = latest(&runs);
    let dag = registry.nightly()?;
    let mut plan = Plan {
        dag: dag.clone(),
        ..Default::default()
    };
    // Per chained job, the first date it is planned for: later dates follow it.
    let mut chain_from: BTreeMap<&str, NaiveDate> = BTreeMap::new();
    let mut d = from;
    while d < to {
        if !has_input(lake, d).await? {
            plan.no_input.push(d);
            d = d + chrono::Days::new(1);
            continue;
        }
        // The DAG is in dependency order, so one pass also picks everything downstream.
        let mut chosen: BTreeSet<&str> = BTreeSet::new();
        for t in &dag {
            let status = latest
                .get(&(d, t.job.to_string()))
                .map(|r| r.status.as_str());
            let pick = match reprocess {
                Reprocess::All => true,
                Reprocess::Missing => status != Some("succeeded"),
                Reprocess::Failed => status == Some("failed"),
            } || t.after.iter().any(|a| chosen.contains(a.as_str()))
                || (t.chain && chain_from.get(t.job.as_str()).is_some_and(|c| *c < d));
            if pick {
                chosen.insert(&t.job);
                if t.chain {
                    chain_from.entry(&t.job).or_insert(d);
                }
            } else {
                plan.done += 1;
            }
        }
        for t in &dag {
            if chosen.contains(t.job.as_str()) {
                plan.tasks.push((d, t.job.clone()));
            }
        }
        d = d + chrono::Days::new(1);
    }
    Ok(plan)
}

/// How a run over a range went.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Tasks that succeeded.
    pub succeeded: Vec<(NaiveDate, String)>,
    /// Tasks that failed, with the error.
    pub failed: Vec<(NaiveDate, String, String)>,
    /// Tasks not run because one they need failed.
    pub upstream_failed: Vec<(NaiveDate, String)>,
    /// Dates without input.
    pub no_input: Vec<NaiveDate>,
    /// Runs found interrupted (their runner died) and marked failed first.
    pub recovered: usize,
}

impl Summary {
    /// True when every task succeeded.
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.upstream_failed.is_empty()
    }
}

/// The tasks a task waits for, within the plan.
fn needs(plan: &Plan, i: usize) -> Vec<usize> {
    let (d, job) = &plan.tasks[i];
    let task = plan.dag.iter().find(|t| &t.job == job);
    let mut out = Vec::new();
    for (k, (d2, j2)) in plan.tasks.iter().enumerate() {
        let same_day = d2 == d && task.is_some_and(|t| t.after.contains(j2));
        let chain = task.is_some_and(|t| t.chain) && j2 == job && *d2 + chrono::Days::new(1) == *d;
        if same_day || chain {
            out.push(k);
        }
    }
    out
}

/// Runs the plan's tasks in dependency order, up to `max_concurrent` at once. A task whose
/// lease another runner holds is waited for; one that runner finished is not run again.
pub async fn execute(
    lake: &Lake,
    sessions: Sessions,
    plan: &Plan,
    o: &Options,
    cancel: tokio_util_cancel::Token,
) -> Result<Summary> {
    let mut summary = Summary {
        no_input: plan.no_input.clone(),
        ..Default::default()
    };
    let tasks = &plan.tasks;
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Waiting,
        Running,
        Ok,
        Bad,
    }
    let mut state = vec![State::Waiting; tasks.len()];
    let deps: Vec<Vec<usize>> = (0..tasks.len()).map(|i| needs(plan, i)).collect();
    let planned_at = Utc::now();
    let mut running = tokio::task::JoinSet::new();
    loop {
        if cancel.is_cancelled() {
            return Err(Error::Usage("stopped before the plan was done".into()));
        }
        // Tasks whose dependency failed will not run.
        for i in 0..tasks.len() {
            if state[i] == State::Waiting && deps[i].iter().any(|&k| state[k] == State::Bad) {
                state[i] = State::Bad;
                let (d, job) = &tasks[i];
                tracing::warn!(date = %d, job, "not run: a job it needs failed");
                summary.upstream_failed.push((*d, job.to_string()));
            }
        }
        for i in 0..tasks.len() {
            if running.len() >= o.max_concurrent.max(1) {
                break;
            }
            if state[i] == State::Waiting && deps[i].iter().all(|&k| state[k] == State::Ok) {
                state[i] = State::Running;
                let (lake, sessions, o, cancel) =
                    (lake.clone(), sessions.clone(), o.clone(), cancel.clone());
                let (d, job) = tasks[i].clone();
                let set = plan
                    .dag
                    .iter()
                    .find(|t| t.job == job)
                    .map(|t| t.set.clone())
                    .unwrap_or_default();
                let span = tracing::info_span!("task", date = %d, job = %job);
                running.spawn(tracing::Instrument::instrument(
                    async move {
                        let r =
                            run_task(&lake, &sessions, d, &job, set, &o, planned_at, &cancel).await;
                        (i, r)
                    },
                    span,
                ));
            }
        }
        let joined = loop {
            tokio::select! {
                j = running.join_next() => break j,
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                    if cancel.is_cancelled() {
                        // Abandoned: nothing of a running job is committed, its lease
                        // expires and the next start marks its run as interrupted.
                        running.abort_all();
                        while running.join_next().await.is_some() {}
                        return Err(Error::Usage("stopped before the plan was done".into()));
                    }
                }
            }
        };
        let Some(joined) = joined else {
            // Nothing runs: a task still waiting waits for one that cannot run first.
            for (i, s) in state.iter_mut().enumerate() {
                if *s == State::Waiting {
                    *s = State::Bad;
                    let (d, job) = &tasks[i];
                    tracing::error!(date = %d, job, "not run: it waits for a job that cannot run first");
                    summary.upstream_failed.push((*d, job.to_string()));
                }
            }
            break;
        };
        let (i, r) = joined.map_err(|e| Error::Usage(format!("a task panicked: {e}")))?;
        let (d, job) = &tasks[i];
        let d = *d;
        match r {
            Ok(()) => {
                state[i] = State::Ok;
                summary.succeeded.push((d, job.to_string()));
            }
            Err(e) => {
                state[i] = State::Bad;
                let msg = crate::error_chain(&e);
                tracing::error!(date = %d, job, error = %msg, "job failed");
                summary.failed.push((d, job.to_string(), msg));
            }
        }
        if let Some(p) = &o.progress {
            let finished = state
                .iter()
                .filter(|s| matches!(s, State::Ok | State::Bad))
                .count();
            (p.0)(finished, tasks.len(), &format!("{job} {d}"));
        }
    }
    Ok(summary)
}

/// One task: wait while another runner holds it, then run it with retries for transient
/// errors (exponential backoff).
#[allow(clippy::too_many_arguments)]
async fn run_task(
    lake: &Lake,
    sessions: &Sessions,
    date: NaiveDate,
    job: &str,
    mut set: Vec<(String, String)>,
    o: &Options,
    planned_at: chrono::DateTime<Utc>,
    cancel: &tokio_util_cancel::Token,
) -> Result<()> {
    let start = date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .ok_or_else(|| Error::Usage(format!("{date}: not a day")))?;
    let end = start + chrono::Duration::days(1);
    set.extend(o.set.get(job).cloned().unwrap_or_default());
    let done_by_other = || async {
        let runs = history::load(lake).await?;
        Ok::<_, Error>(
            latest(&runs)
                .get(&(date, job.to_string()))
                .is_some_and(|r| r.status == "succeeded" && r.started_at >= planned_at),
        )
    };
    if done_by_other().await? {
        tracing::info!(date = %date, job, "done by another runner");
        return Ok(());
    }
    let mut attempt = 1u32;
    loop {
        let ctx = sessions().await?;
        let run_o = crate::RunOptions {
            retention: o.retention,
            attempt: attempt as i64,
            lease_ttl: o.lease_ttl,
        };
        tracing::info!(date = %date, job, attempt, "running");
        match crate::run_with(lake, &ctx, &o.registry, job, start, end, &set, &run_o).await {
            Ok(r) => {
                tracing::info!(date = %date, job, rows_out = r.rows_out(), "succeeded");
                return Ok(());
            }
            Err(Error::Busy { owner, until, .. }) => {
                // Another runner has it: wait for its lease to end, then see how it went.
                tracing::info!(date = %date, job, %owner, %until, "held by another runner; waiting");
                let key = crate::lease_key(job, date, date + chrono::Days::new(1));
                while crate::lease::is_live(lake, &key).await? {
                    if cancel.is_cancelled() {
                        return Err(Error::Usage("stopped".into()));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                if done_by_other().await? {
                    tracing::info!(date = %date, job, "done by another runner");
                    return Ok(());
                }
            }
            Err(e) if e.is_transient() && attempt < o.attempts => {
                let wait = o.backoff * 2u32.saturating_pow(attempt - 1);
                tracing::warn!(date = %date, job, attempt, error = %crate::error_chain(&e), ?wait, "transient failure; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Recovers interrupted runs, plans the dates `[from, to)` and runs the plan.
pub async fn run_range(
    lake: &Lake,
    sessions: Sessions,
    from: NaiveDate,
    to: NaiveDate,
    o: &Options,
    cancel: tokio_util_cancel::Token,
) -> Result<Summary> {
    let recovered = history::recover(lake).await?.len();
    let p = plan(lake, &o.registry, from, to, o.reprocess).await?;
    let mut s = execute(lake, sessions, &p, o, cancel).await?;
    s.recovered = recovered;
    Ok(s)
}

/// A cancellation flag shared by the runner's tasks (set on SIGTERM).
pub mod tokio_util_cancel {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Cloneable; all clones see `cancel`.
    #[derive(Debug, Clone, Default)]
    pub struct Token(Arc<AtomicBool>);

    impl Token {
        /// Asks every holder to stop.
        pub fn cancel(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
        /// Whether `cancel` was called.
        pub fn is_cancelled(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::registry::Registry;

    #[test]
    fn the_dag_lists_every_job_after_the_jobs_it_needs() {
        let dag = Registry::builtin().unwrap().nightly().unwrap();
        for (i, t) in dag.iter().enumerate() {
            for a in &t.after {
                let k = dag.iter().position(|u| &u.job == a);
                assert!(k.is_some_and(|k| k < i), "{} needs {a}", t.job);
            }
        }
        let jobs: Vec<&str> = dag.iter().map(|t| t.job.as_str()).collect();
        assert_eq!(jobs.first(), Some(&"compact"));
        assert_eq!(jobs.last(), Some(&"vacuum"));
        assert_eq!(jobs.len(), 13, "{jobs:?}");
    }
}
