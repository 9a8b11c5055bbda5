//! The one engine builder: from the configuration, the lake, the jobs (built in, an own
//! build's, the user's folders and those installed in the lake) and query sessions,
//! embedded (Pulse's functions and catalog, the memory limit) or on a cluster. Every
//! command, the nightly runner and the web app get their sessions here.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use datafusion::prelude::SessionContext;
use pulse_jobs::registry::{Job, Registry};
use pulse_lake::Lake;

use crate::cluster::Target;
use crate::config::Config;

/// What every command runs on.
#[derive(Clone)]
pub struct Engine {
    /// The configuration, flags included.
    pub cfg: Config,
    /// The cluster, when work goes there.
    pub cluster: Option<Target>,
    /// Memory for embedded jobs (`--memory-limit`).
    pub memory_limit: u64,
    /// Jobs of an own `pulse` build (see `main_with`).
    native: Vec<Arc<dyn Job>>,
}

impl Engine {
    /// The engine of `cfg`, with an own build's `jobs`.
    pub fn new(cfg: Config, memory_limit: u64, jobs: Vec<Arc<dyn Job>>) -> anyhow::Result<Engine> {
        let cluster = match cfg.cluster.url.clone() {
            Some(url) => Some(Target {
                url,
                login: cfg.cluster.login(None)?,
            }),
            None => None,
        };
        Ok(Engine {
            cfg,
            cluster,
            memory_limit,
            native: jobs,
        })
    }

    /// The lake.
    pub fn lake(&self) -> anyhow::Result<Lake> {
        Lake::open(&self.cfg.lake.url, &self.cfg.s3)
            .with_context(|| format!("opening lake {}", self.cfg.lake.url))
    }

    /// Every job: built in, this build's own, the `[jobs] dirs` and the lake's installed ones.
    pub async fn registry(&self, lake: &Lake) -> anyhow::Result<Registry> {
        Ok(Registry::load(lake, &self.native, &self.cfg.jobs.dirs).await?)
    }

    /// `[schedule.set]` as job parameter overrides.
    pub fn overrides(&self) -> anyhow::Result<pulse_jobs::outputs::Overrides> {
        crate::nightly::overrides(&self.cfg.schedule)
    }

    /// A session over the lake, on the cluster if there is one, else embedded with
    /// `memory_limit` (none: unlimited).
    pub async fn session(
        &self,
        lake: &Lake,
        memory_limit: Option<u64>,
    ) -> anyhow::Result<SessionContext> {
        connect(lake, self.cluster.as_ref(), memory_limit).await
    }

    /// A session for jobs: the memory limit applies.
    pub async fn job_session(&self, lake: &Lake) -> anyhow::Result<SessionContext> {
        self.session(lake, Some(self.memory_limit)).await
    }

    /// A session for queries in which every job output exists, empty until its job writes
    /// it (named as the nightly DAG names them, `[schedule.set]` included).
    pub async fn query_session(
        &self,
        lake: &Lake,
        registry: &Registry,
        memory_limit: Option<u64>,
    ) -> anyhow::Result<SessionContext> {
        let ctx = self.session(lake, memory_limit).await?;
        pulse_jobs::outputs::register_empty(&ctx, lake, registry, &self.overrides()?)?;
        Ok(ctx)
    }

    /// A fresh session per nightly task, embedded or on the cluster.
    pub fn task_sessions(&self, lake: &Lake) -> pulse_jobs::nightly::Sessions {
        let (engine, lake) = (self.clone(), lake.clone());
        Arc::new(move || {
            let (engine, lake) = (engine.clone(), lake.clone());
            Box::pin(async move {
                engine
                    .job_session(&lake)
                    .await
                    .map_err(|e| pulse_jobs::Error::Usage(format!("{e:#}")))
            })
        })
    }

    /// Query sessions for the web app: embedded or on the cluster, every job output
    /// registered.
    pub fn web_sessions(&self, lake: &Lake, registry: &Registry) -> pulse_web::Sessions {
        let (engine, lake) = (self.clone(), lake.clone());
        let outputs = registry.outputs(&self.overrides().unwrap_or_default());
        let outputs = Arc::new(outputs.map_err(|e| format!("{e}")));
        let caches = pulse_lake::catalog::ReaderCaches::default();
        Arc::new(move || {
            let (engine, lake) = (engine.clone(), lake.clone());
            let (outputs, caches) = (outputs.clone(), caches.clone());
            Box::pin(async move {
                let failed = |e: anyhow::Error| pulse_web::Error::Session(format!("{e:#}"));
                let outputs = outputs
                    .as_ref()
                    .clone()
                    .map_err(pulse_web::Error::Session)?;
                let ctx = match &engine.cluster {
                    Some(_) => engine.session(&lake, None).await.map_err(failed)?,
                    None => pulse_lake::catalog::reader_session(&lake, &caches)
                        .await
                        .map_err(|e| failed(e.into()))?,
                };
                pulse_jobs::outputs::register(&ctx, &lake, &outputs)?;
                if engine.cluster.is_none() {
                    // The run history is many small files (one per run start and end): read
                    // once per refresh, not per request. (A cluster cannot be sent in-memory
                    // tables.)
                    let runs = ctx.table("runs").await?;
                    let schema = Arc::new(runs.schema().as_arrow().clone());
                    let batches = runs.collect().await?;
                    let mem = datafusion::datasource::MemTable::try_new(schema, vec![batches])?;
                    ctx.deregister_table("runs")?;
                    ctx.register_table("runs", Arc::new(mem))?;
                    // The job outputs' Delta logs (what the pages read) are brought up to
                    // date here, in the background, not by a request; raw tables' when asked.
                    let names: Vec<&str> = outputs.iter().map(|o| o.table.as_str()).collect();
                    let tables = pulse_lake::catalog::warm(&ctx, &names)
                        .await
                        .map_err(|e| failed(e.into()))?;
                    tracing::debug!(tables, "web session warmed");
                }
                Ok((ctx, outputs))
            })
        })
    }
}

/// A session over the lake: on `cluster` when given (failing fast, naming the address, when
/// its scheduler is not there), else embedded with embedded queries' memory capped.
pub async fn connect(
    lake: &Lake,
    cluster: Option<&Target>,
    memory_limit: Option<u64>,
) -> anyhow::Result<SessionContext> {
    Ok(match cluster {
        Some(target) => {
            let url = target.url.as_str();
            let addr = crate::cluster::rest_addr(url)?;
            let reach = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::net::TcpStream::connect(&addr),
            )
            .await;
            match reach {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    anyhow::bail!("cannot reach the cluster scheduler at {url} ({addr}): {e}")
                }
                Err(_) => anyhow::bail!(
                    "cannot reach the cluster scheduler at {url} ({addr}): no answer in 10s"
                ),
            }
            let login = target.login.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
            pulse_scheduler::remote_session(url, lake, login)
                .await
                .with_context(|| format!("connecting to cluster {url}"))?
        }
        None => {
            pulse_lake::catalog::session_limited(lake, memory_limit.map(|m| m as usize)).await?
        }
    })
}
