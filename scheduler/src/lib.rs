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
use datafusion::catalog::TableProvider;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};
use pulse_lake::Lake;

mod codec;
pub mod lost;
mod pool;
pub mod security;
mod wake;
pub use security::Credentials;

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
        .with_ballista_logical_extension_codec(Arc::new(codec::Logical::default()))
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
        // Listing tables: the plans of these sessions run on executors.
        let ctx = SessionContext::new_with_config_rt(
            pulse_lake::catalog::session_config(),
            pulse_lake::catalog::runtime(lake, None, None)?,
        );
        pulse_lake::catalog::register(&ctx, lake).await?;
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

/// Flight SQL's handshake checks the scheduler's [`Credentials`].
struct FlightSqlAuth(Arc<Credentials>);

#[async_trait::async_trait]
impl ballista_flight_sql::Authenticator for FlightSqlAuth {
    async fn authenticate(
        &self,
        headers: &tonic::metadata::MetadataMap,
    ) -> std::result::Result<ballista_flight_sql::Identity, tonic::Status> {
        let header = headers.get("authorization").and_then(|v| v.to_str().ok());
        if self.0.check(header, "flight-sql handshake") {
            Ok(ballista_flight_sql::Identity::user(self.0.user()))
        } else {
            Err(tonic::Status::unauthenticated(
                "invalid Flight SQL credentials",
            ))
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
    /// Credentials every client must present (Flight SQL, REST, job submission); without
    /// them the scheduler only starts on loopback, or with `insecure`.
    pub credentials: Option<Credentials>,
    /// Start beyond loopback without credentials (logged as a warning).
    pub insecure: bool,
    /// A second listener serving the same routes over TLS, for clients.
    pub tls: Option<TlsOptions>,
}

/// The scheduler's TLS listener: where, and the PEM certificate chain and private key.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// `HOST:PORT` to listen on.
    pub listen: String,
    /// PEM file with the certificate chain.
    pub cert: std::path::PathBuf,
    /// PEM file with the private key.
    pub key: std::path::PathBuf,
}

/// Refuses to serve an open scheduler beyond loopback: anyone reaching its port could run
/// any plan, which reads any file the executors can read.
pub fn check_exposure(o: &SchedulerOptions) -> Result<()> {
    let tls_host = o.tls.as_ref().map(|t| host_of(&t.listen));
    let local = security::is_loopback(&o.bind_host) && tls_host.is_none_or(security::is_loopback);
    if o.credentials.is_some() || local {
        return Ok(());
    }
    if o.insecure {
        tracing::warn!(
            bind = %o.bind_host,
            "the scheduler serves {} without credentials: any client that reaches it can read \
             every file its executors can read",
            o.bind_host
        );
        return Ok(());
    }
    Err(Error::Usage(format!(
        "refusing to serve the scheduler on {} without credentials: set a user \
         (--user NAME or [cluster] user) and its password (PULSE_CLUSTER_PASSWORD), bind \
         127.0.0.1, or pass --insecure on a network you trust",
        o.bind_host
    )))
}

fn host_of(listen: &str) -> &str {
    listen.rsplit_once(':').map_or(listen, |(h, _)| h)
}

/// Runs a scheduler until the process ends.
pub async fn run_scheduler(lake: Lake, o: SchedulerOptions) -> Result<()> {
    check_exposure(&o)?;
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
    let slots = Arc::new(wake::Slots::default());
    let work = Arc::new(wake::Work::default());
    let planning_slots = slots.clone();
    let planning_lake = lake.clone();
    let builder: ballista_scheduler::SessionBuilder = Arc::new(move |c| {
        let state = session_state(planning_slots.plan_config(c), rt.clone())?;
        // Staged writes are planned here and written by the executors.
        let mut state = SessionStateBuilder::new_from_existing(state)
            .with_query_planner(Arc::new(pulse_lake::stage::Planner::new(
                planning_lake.clone(),
            )))
            .build();
        // The scheduler plans only Flight SQL text itself (clients send plans): no table
        // function that reads a path.
        pulse_lake::readonly::restrict(&mut state);
        tables.register(&state)?;
        Ok(state)
    });
    let mut cfg = SchedulerConfig {
        bind_host: o.bind_host.clone(),
        bind_port: o.port,
        external_host: o.external_host.clone(),
        override_session_builder: Some(builder),
        override_config_producer: Some(Arc::new(cluster_config)),
        override_logical_codec: Some(Arc::new(codec::Logical::default())),
        override_physical_codec: Some(Arc::new(codec::Physical::new(lake.clone()))),
        executor_timeout_seconds: o.executor_timeout_s,
        // With every executor gone, queued jobs fail after this instead of waiting forever.
        no_executors_grace_period_seconds: o.executor_timeout_s,
        expire_dead_executor_interval_seconds: (o.executor_timeout_s / 3).max(1),
        ..Default::default()
    };
    cfg.scheduling_policy = policy(o.push);
    cfg.on_work_available = Some(work.callback());
    let addr: SocketAddr = format!("{}:{}", o.bind_host, o.port)
        .parse()
        .map_err(|e| Error::Usage(format!("bad scheduler address: {e}")))?;
    cfg.validate()?;
    let cluster = BallistaCluster::new_from_config(&cfg).await?;
    let losses = Arc::new(lost::Losses::new(
        cluster.cluster_state(),
        std::time::Duration::from_secs(o.executor_timeout_s),
    ));
    let cluster = BallistaCluster::new(
        Arc::new(lost::WatchedCluster::new(losses.clone(), slots)),
        cluster.job_state(),
    );
    let credentials = o.credentials.map(Arc::new);
    let tls = match &o.tls {
        Some(t) => Some((security::tls_listener(t).await?, t.listen.clone())),
        None => None,
    };
    serve(
        cluster,
        losses,
        work,
        addr,
        Arc::new(cfg),
        o.flight_sql,
        credentials,
        tls,
    )
    .await
}

/// Serves the scheduler's gRPC, Flight SQL (read-only), REST API and web page on one port,
/// as Ballista's `start_server` does, with [`security::require_credentials`] in front of
/// every route when credentials are set.
#[allow(clippy::too_many_arguments)]
async fn serve(
    cluster: BallistaCluster,
    losses: Arc<lost::Losses>,
    work: Arc<wake::Work>,
    addr: SocketAddr,
    cfg: Arc<SchedulerConfig>,
    flight_sql: bool,
    credentials: Option<Arc<Credentials>>,
    tls: Option<(security::TlsListener, String)>,
) -> Result<()> {
    use arrow_flight::flight_service_server::FlightServiceServer;
    use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
    use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

    let scheduler = ballista_scheduler::scheduler_process::create_scheduler::<
        LogicalPlanNode,
        PhysicalPlanNode,
    >(cluster, cfg.clone())
    .await?;
    let (max_decoding, max_encoding) = (
        cfg.grpc_server_max_decoding_message_size as usize,
        cfg.grpc_server_max_encoding_message_size as usize,
    );
    let scheduler = Arc::new(scheduler);
    losses.attach(scheduler.clone());
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(
        SchedulerGrpcServer::new(lost::Guarded::new(scheduler.clone(), losses, work))
            .max_encoding_message_size(max_encoding)
            .max_decoding_message_size(max_decoding),
    );
    let proxy = ballista_core::flight_proxy_service::BallistaFlightProxyService::new(
        max_decoding,
        max_encoding,
        cfg.use_tls,
        None,
    );
    if flight_sql {
        let mut service =
            ballista_flight_sql::BallistaFlightSqlService::new(scheduler.clone(), proxy);
        if let Some(c) = &credentials {
            service = service.with_authenticator(Arc::new(FlightSqlAuth(c.clone())));
        } else {
            tracing::warn!(
                "Flight SQL is on without credentials: any client reaching the scheduler's \
                 port can query the lake"
            );
        }
        routes.add_service(
            FlightServiceServer::new(security::ReadOnlyFlightSql(service))
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(max_encoding),
        );
    } else if cfg.enable_embedded_flight_proxy {
        routes.add_service(
            FlightServiceServer::new(proxy)
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(max_encoding),
        );
    }
    let grpc = routes.routes().into_axum_router();
    let mut router = ballista_scheduler::api::get_routes(scheduler).merge(grpc);
    if let Some(c) = credentials {
        router = router.layer(axum::middleware::from_fn_with_state(
            c,
            security::require_credentials,
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Usage(format!("cannot bind the scheduler to {addr}: {e}")))?;
    if let Some((tls, listen)) = tls {
        tracing::info!(listen, "serving TLS");
        tokio::spawn(security::serve_tls(tls, router.clone()));
    }
    // Small gRPC replies (a poll's tasks) wait 40 ms for a delayed ACK under Nagle's algorithm.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(|e| Error::Usage(format!("the scheduler stopped serving: {e}")))?;
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
    if !security::is_loopback(&o.bind_host) {
        tracing::warn!(
            bind = %o.bind_host,
            "executor ports have no authentication (Ballista 55): keep {} reachable only from \
             the cluster's own hosts",
            o.bind_host
        );
    }
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
        override_logical_codec: Some(Arc::new(codec::Logical::default())),
        override_physical_codec: Some(Arc::new(codec::Physical::new(lake.clone()))),
        // Shuffle fetches reuse connections (idle ones close after 30 s, Ballista's default).
        override_execution_engine: Some(Arc::new(NoTaskMetrics(
            ballista_executor::execution_engine::DefaultExecutionEngine::with_client_pool(
                Arc::new(pool::ShufflePool::new(std::time::Duration::from_secs(30))),
            ),
        ))),
        ..Default::default()
    };
    start_executor_process(Arc::new(cfg)).await?;
    Ok(())
}

/// A client session on the cluster at `url` (`df://host:port`) with the lake registered.
/// With `login` (user, password), every call to the scheduler carries those credentials.
pub async fn remote_session(
    url: &str,
    lake: &Lake,
    login: Option<(&str, &str)>,
) -> Result<SessionContext> {
    let host_ok = url::Url::parse(url)
        .ok()
        .is_some_and(|u| u.host_str().is_some());
    if !host_ok {
        return Err(Error::Usage(format!(
            "cluster address {url:?} is not like df://HOST:PORT"
        )));
    }
    let mut config = cluster_config();
    if let Some((user, password)) = login {
        let header = Credentials::header(user, password);
        config = config.with_ballista_grpc_metadata([("authorization".to_string(), header)].into());
    }
    let state = session_state(config, runtime(lake, None)?)?;
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
