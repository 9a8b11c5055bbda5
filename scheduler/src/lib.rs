//! Pulse on an Apache Ballista cluster: our own scheduler and executor processes, and the
//! client session that sends work to them.
//!
//! Every process builds its engine the same way ([`session_state`], [`runtime`]): Ballista's
//! configuration and optimizer rules, DataFusion's functions, Pulse's functions
//! (`pulse_udfs::register_all`), and the lake's commit-aware store. Functions cross the wire by
//! name only, so the client, the scheduler (which plans) and the executors (which run) must
//! all have them; Ballista's own client helpers drop client functions, so they are
//! registered again after the context exists. Without a cluster, Pulse runs embedded and
//! none of this is used.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::catalog::TableProvider;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};
use pulse_lake::Lake;

/// Errors of the cluster processes and client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// DataFusion failed (planning, a query, a bad configuration value).
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Ballista failed (a process could not start, the scheduler is unreachable).
    #[error("ballista: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
    /// The lake failed.
    #[error(transparent)]
    Lake(#[from] pulse_lake::Error),
    /// A bad address or option (a user mistake).
    #[error("{0}")]
    Usage(String),
}

/// The cluster crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The runtime every process uses: the lake's one definition (store, no list-file cache,
/// spill directory).
pub fn runtime(lake: &Lake, tmp: Option<&str>) -> Result<Arc<RuntimeEnv>> {
    Ok(pulse_lake::catalog::runtime(lake, tmp, None)?)
}

/// The session config every Pulse process starts from: Ballista's defaults with the adaptive
/// planner off. Ballista 55's adaptive planner does not recover from a lost executor (a
/// rolled-back stage's late task updates fail with "Can't find active stage" and the job never
/// ends); the static planner re-runs the lost stages and the job finishes.
pub fn cluster_config() -> SessionConfig {
    <SessionConfig as SessionConfigExt>::new_with_ballista()
        .with_ballista_adaptive_query_planner(false)
}

/// A session state with Ballista's rules and every function Pulse's SQL may use. It keeps the
/// given config, which carries the client's settings.
pub fn session_state(
    config: SessionConfig,
    rt: Arc<RuntimeEnv>,
) -> datafusion::error::Result<SessionState> {
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(rt)
        .with_default_features()
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(ballista_core::extension::ballista_scalar_functions())
        .with_aggregate_functions(ballista_core::extension::ballista_aggregate_functions())
        .with_window_functions(ballista_core::extension::ballista_window_functions())
        .build();
    // After build(): the `with_*_functions` calls above replace the lists.
    pulse_udfs::register_all(&mut state)?;
    Ok(state)
}

/// The lake's tables as of the last refresh, registered by name in every session the
/// scheduler builds (so Flight SQL clients can query them by name). Job outputs appear as
/// they are written; the list is refreshed every few seconds.
#[derive(Clone, Default)]
struct TableSnapshot(Arc<std::sync::RwLock<Vec<NamedTable>>>);

/// A table and the name it is registered under.
type NamedTable = (String, Arc<dyn TableProvider>);

impl TableSnapshot {
    async fn refresh(&self, lake: &Lake) -> Result<()> {
        let ctx = pulse_lake::catalog::session(lake).await?;
        let mut tables = Vec::new();
        if let Some(schema) = ctx.catalog("datafusion").and_then(|c| c.schema("public")) {
            for name in schema.table_names() {
                if let Some(t) = schema.table(&name).await? {
                    tables.push((name, t));
                }
            }
        }
        if let Ok(mut guard) = self.0.write() {
            *guard = tables;
        }
        Ok(())
    }

    fn register(&self, state: &SessionState) -> datafusion::error::Result<()> {
        let Some(schema) = state
            .catalog_list()
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
        else {
            return Ok(());
        };
        if let Ok(tables) = self.0.read() {
            for (name, t) in tables.iter() {
                if !schema.table_exist(name) {
                    schema.register_table(name.clone(), t.clone())?;
                }
            }
        }
        Ok(())
    }
}

/// Flight SQL access with HTTP Basic credentials (the Flight handshake convention).
struct BasicAuth {
    user: String,
    password: String,
}

#[async_trait::async_trait]
impl ballista_flight_sql::Authenticator for BasicAuth {
    async fn authenticate(
        &self,
        headers: &tonic::metadata::MetadataMap,
    ) -> std::result::Result<ballista_flight_sql::Identity, tonic::Status> {
        use base64::Engine;
        let denied = || tonic::Status::unauthenticated("invalid Flight SQL credentials");
        let header = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(denied)?;
        let encoded = header.strip_prefix("Basic ").ok_or_else(denied)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| denied())?;
        let text = String::from_utf8(decoded).map_err(|_| denied())?;
        let (user, password) = text.split_once(':').ok_or_else(denied)?;
        // Compare in constant time with respect to the password's content.
        let same = password.len() == self.password.len()
            && password
                .bytes()
                .zip(self.password.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if user == self.user && same {
            Ok(ballista_flight_sql::Identity::user(user))
        } else {
            Err(denied())
        }
    }
}

/// Settings of `pulse scheduler`.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address to bind (host).
    pub bind_host: String,
    /// Port of gRPC, REST and (with Flight SQL) Flight.
    pub port: u16,
    /// Host executors and clients use to reach this scheduler.
    pub external_host: String,
    /// Seconds without a heartbeat after which an executor is lost.
    pub executor_timeout_s: u64,
    /// Serve Flight SQL on the scheduler port with every lake table registered.
    pub flight_sql: bool,
    /// Push (the scheduler sends tasks) or pull (executors poll); executors must match.
    pub push: bool,
    /// Flight SQL credentials (user, password); without them any client is accepted.
    pub flight_sql_auth: Option<(String, String)>,
}

/// Runs a scheduler until the process ends.
pub async fn run_scheduler(lake: Lake, o: SchedulerOptions) -> Result<()> {
    let rt = runtime(&lake, None)?;
    let tables = TableSnapshot::default();
    if o.flight_sql {
        tables.refresh(&lake).await?;
        let (tables, lake) = (tables.clone(), lake.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                if let Err(e) = tables.refresh(&lake).await {
                    tracing::warn!(error = %e, "refreshing the Flight SQL tables failed");
                }
            }
        });
    }
    let builder: ballista_scheduler::SessionBuilder = Arc::new(move |c| {
        let state = session_state(c, rt.clone())?;
        tables.register(&state)?;
        Ok(state)
    });
    let mut cfg = SchedulerConfig {
        bind_host: o.bind_host.clone(),
        bind_port: o.port,
        external_host: o.external_host.clone(),
        override_session_builder: Some(builder),
        override_config_producer: Some(Arc::new(cluster_config)),
        executor_timeout_seconds: o.executor_timeout_s,
        // With every executor gone, queued jobs fail after this instead of waiting forever.
        no_executors_grace_period_seconds: o.executor_timeout_s,
        expire_dead_executor_interval_seconds: (o.executor_timeout_s / 3).max(1),
        ..Default::default()
    };
    cfg.scheduling_policy = policy(o.push);
    cfg = cfg.with_flight_sql(o.flight_sql);
    if let Some((user, password)) = o.flight_sql_auth {
        cfg = cfg.with_flight_sql_authenticator(Arc::new(BasicAuth { user, password }));
    }
    let addr: SocketAddr = format!("{}:{}", o.bind_host, o.port)
        .parse()
        .map_err(|e| Error::Usage(format!("bad scheduler address: {e}")))?;
    let cluster = BallistaCluster::new_from_config(&cfg).await?;
    start_server(cluster, addr, Arc::new(cfg)).await?;
    Ok(())
}

/// Settings of `pulse executor`.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Address to bind (host).
    pub bind_host: String,
    /// Flight port (results and shuffle data are fetched from here).
    pub port: u16,
    /// gRPC port.
    pub grpc_port: u16,
    /// Host the scheduler and other executors use to reach this one.
    pub external_host: String,
    /// Scheduler host.
    pub scheduler_host: String,
    /// Scheduler port.
    pub scheduler_port: u16,
    /// Concurrent tasks.
    pub vcores: usize,
    /// Shuffle and spill directory.
    pub work_dir: String,
    /// Memory pool size in bytes (None: Ballista's default fraction of RAM).
    pub memory_limit: Option<u64>,
    /// Seconds to wait for the scheduler at start-up.
    pub connect_timeout_s: u16,
    /// Seconds between heartbeats.
    pub heartbeat_s: u64,
    /// Push or pull scheduling, as the scheduler's.
    pub push: bool,
}

fn policy(push: bool) -> ballista_core::config::TaskSchedulingPolicy {
    if push {
        ballista_core::config::TaskSchedulingPolicy::PushStaged
    } else {
        ballista_core::config::TaskSchedulingPolicy::PullStaged
    }
}

/// Runs an executor until the process ends.
pub async fn run_executor(lake: Lake, o: ExecutorOptions) -> Result<()> {
    let rt = runtime(&lake, Some(&o.work_dir))?;
    let registry = BallistaFunctionRegistry::from(&session_state(cluster_config(), rt.clone())?);
    let cfg = ExecutorProcessConfig {
        bind_host: o.bind_host,
        external_host: Some(o.external_host),
        port: o.port,
        grpc_port: o.grpc_port,
        scheduler_host: o.scheduler_host,
        scheduler_port: o.scheduler_port,
        scheduler_connect_timeout_seconds: o.connect_timeout_s,
        vcores: o.vcores,
        work_dir: Some(o.work_dir),
        memory_pool_size: o.memory_limit,
        executor_heartbeat_interval_seconds: o.heartbeat_s,
        task_scheduling_policy: policy(o.push),
        override_function_registry: Some(Arc::new(registry)),
        override_runtime_producer: Some(Arc::new(move |_c: &SessionConfig| Ok(rt.clone()))),
        override_config_producer: Some(Arc::new(cluster_config)),
        override_execution_engine: Some(Arc::new(NoTaskMetrics(
            ballista_executor::execution_engine::DefaultExecutionEngine::new(),
        ))),
        ..Default::default()
    };
    start_executor_process(Arc::new(cfg)).await?;
    Ok(())
}

/// A client session on the cluster at `url` (`df://host:port`) with the lake registered.
pub async fn remote_session(url: &str, lake: &Lake) -> Result<SessionContext> {
    let host_ok = url::Url::parse(url)
        .ok()
        .is_some_and(|u| u.host_str().is_some());
    if !host_ok {
        return Err(Error::Usage(format!(
            "cluster address {url:?} is not like df://HOST:PORT"
        )));
    }
    let state = session_state(cluster_config(), runtime(lake, None)?)?;
    let ctx = SessionContext::remote_with_state(url, state).await?;
    pulse_lake::catalog::register(&ctx, lake).await?;
    Ok(ctx)
}

/// The execution engine of Pulse's executors: Ballista's own, reporting no per-operator
/// metrics with finished tasks. Ballista 55 collects them skipping operators that have none
/// yet, so two tasks of one stage can report different counts; the scheduler then refuses
/// the second task's status ("task metrics array size ... does not equal with the stage
/// metrics array size ...") and the stage never completes. A task without metrics is
/// accepted, so stages finish; the scheduler's per-operator stage metrics are the price.
struct NoTaskMetrics(ballista_executor::execution_engine::DefaultExecutionEngine);

impl ballista_executor::execution_engine::ExecutionEngine for NoTaskMetrics {
    fn create_query_stage_exec(
        &self,
        job_id: ballista_core::JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> datafusion::error::Result<Arc<dyn ballista_executor::execution_engine::QueryStageExecutor>>
    {
        let inner = self.0.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(NoMetricsStage(inner)))
    }
}

#[derive(Debug)]
struct NoMetricsStage(Arc<dyn ballista_executor::execution_engine::QueryStageExecutor>);

impl std::fmt::Display for NoMetricsStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

#[async_trait::async_trait]
impl ballista_executor::execution_engine::QueryStageExecutor for NoMetricsStage {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<datafusion::execution::TaskContext>,
    ) -> datafusion::error::Result<Vec<ballista_core::serde::protobuf::ShuffleWritePartition>> {
        self.0.execute_query_stage(task_id, context).await
    }

    fn collect_plan_metrics(&self) -> Vec<datafusion::physical_plan::metrics::MetricsSet> {
        Vec::new()
    }

    fn collect_runtime_stats_reports(
        &self,
    ) -> Vec<ballista_core::serde::protobuf::RuntimeStatsReport> {
        self.0.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(
        &self,
    ) -> datafusion::error::Result<Vec<ballista_core::serde::protobuf::WindowStateReport>> {
        self.0.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<ballista_core::serde::protobuf::TaskColumnStats> {
        self.0.collect_column_stats()
    }
}
