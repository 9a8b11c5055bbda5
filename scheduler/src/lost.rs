//! A job that loses work to a dead executor fails, and its client runs it again.
//!
//! Ballista repairs such a job in place: it reruns the lost map tasks and rolls back the
//! stages that read them. That repair can finish "successfully" with rows missing (found by
//! the test that kills an executor mid-job: 179 rows of 6,661 after the rollback, since a
//! rerun stage writes its shuffle files under the same names as the attempt it replaces).
//! Pulse's scheduler does not trust it: every job running when an executor is removed, and
//! every job a task of which failed to fetch a shuffle partition, is cancelled and reported
//! failed with [`LOST`] in its error. Clients treat that error as transient and run the
//! job (a Pulse step, which commits only when it succeeds) again on the executors left.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ballista_core::JobId;
use ballista_core::error::Result;
use ballista_core::serde::protobuf::failed_task::FailedReason;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpc;
use ballista_core::serde::protobuf::{self as pb, job_status, task_status};
use ballista_core::serde::scheduler::{ExecutorData, ExecutorMetadata, ExecutorSpecification};
use ballista_scheduler::cluster::{BoundTask, ClusterState, ClusterStateEventStream, ExecutorSlot};
use ballista_scheduler::config::TaskDistributionPolicy;
use ballista_scheduler::scheduler_server::SchedulerServer;
use ballista_scheduler::state::task_manager::JobInfoCache;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use futures::StreamExt;
use tonic::{Request, Response, Status};

use crate::wake::{IDLE_POLL, Slots, Work};

/// The words a job failed this way reports; clients match them.
pub const LOST: &str = "lost work to an executor that stopped";

type Server = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// The jobs that lost work, and the scheduler that cancels them (set once it exists).
pub struct Losses {
    server: OnceLock<Arc<Server>>,
    jobs: Mutex<HashMap<String, String>>,
    cluster: Arc<dyn ClusterState>,
    grace: Duration,
}

impl Losses {
    /// Watches `cluster`; a job sent while it has no executor waits `grace` for one.
    pub fn new(cluster: Arc<dyn ClusterState>, grace: Duration) -> Self {
        Self {
            server: OnceLock::new(),
            jobs: Mutex::new(HashMap::new()),
            cluster,
            grace,
        }
    }

    /// Waits up to the grace period (at most 15 s, inside the client's 20 s request timeout)
    /// for an executor: Ballista would queue a job sent to a scheduler with none forever.
    async fn executor_ready(&self) -> std::result::Result<(), Status> {
        let wait = self.grace.min(Duration::from_secs(15));
        let deadline = tokio::time::Instant::now() + wait;
        while self.cluster.executor_heartbeats().is_empty() {
            if tokio::time::Instant::now() >= deadline {
                return Err(Status::unavailable(format!(
                    "no executors are registered with the scheduler (waited {wait:?})"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// Hands over the scheduler, once it is built.
    pub fn attach(&self, server: Arc<Server>) {
        let _ = self.server.set(server);
    }

    /// Marks `job` as having lost work for `why` and cancels it (once).
    fn lose(&self, job: &str, why: String) {
        let first = match self.jobs.lock() {
            Ok(mut jobs) => jobs.insert(job.to_string(), why.clone()).is_none(),
            Err(_) => false,
        };
        if !first {
            return;
        }
        tracing::warn!(job, reason = %why, "job lost work to a stopped executor; failing it");
        if let Some(server) = self.server.get().cloned() {
            let id = JobId::new(job);
            tokio::spawn(async move {
                if let Err(e) = server.cancel_job(id).await {
                    tracing::warn!(error = %e, "cancelling a job that lost work failed");
                }
            });
        }
    }

    /// Every job running now lost work to `executor`; `left` executors remain.
    fn executor_removed(&self, executor: &str, left: usize) {
        let Some(server) = self.server.get() else {
            return;
        };
        let running: Vec<String> = server
            .state
            .task_manager
            .get_running_job_cache()
            .keys()
            .map(|j| j.to_string())
            .collect();
        let none = if left == 0 {
            "; no executors are left"
        } else {
            ""
        };
        for job in running {
            self.lose(
                &job,
                format!("executor {executor} was removed while it ran{none}"),
            );
        }
    }

    /// Jobs with a task that could not fetch a shuffle partition (its executor is gone).
    fn task_statuses(&self, statuses: &[pb::TaskStatus]) {
        for s in statuses {
            if let Some(task_status::Status::Failed(f)) = &s.status
                && let Some(FailedReason::FetchPartitionError(e)) = &f.failed_reason
            {
                self.lose(
                    &s.job_id,
                    format!("a task could not fetch from executor {}", e.executor_id),
                );
            }
        }
    }

    /// `status` as clients should see it: failed with [`LOST`] when its job lost work.
    fn rewrite(&self, status: &mut pb::JobStatus) {
        let why = match self.jobs.lock() {
            Ok(jobs) => jobs.get(&status.job_id).cloned(),
            Err(_) => None,
        };
        let Some(why) = why else { return };
        let (queued_at, started_at, ended_at) = match &status.status {
            Some(job_status::Status::Successful(s)) => (s.queued_at, s.started_at, s.ended_at),
            Some(job_status::Status::Failed(f)) => (f.queued_at, f.started_at, f.ended_at),
            _ => return,
        };
        status.status = Some(job_status::Status::Failed(pb::FailedJob {
            error: format!("the job {LOST} ({why}); run it again"),
            queued_at,
            started_at,
            ended_at,
        }));
    }
}

/// The cluster state [`Losses`] watches, telling it when an executor is removed.
/// It also keeps the planner's count of executor vcores (`wake::Slots`) up to date.
pub struct WatchedCluster {
    inner: Arc<dyn ClusterState>,
    losses: Arc<Losses>,
    slots: Arc<Slots>,
}

impl WatchedCluster {
    /// Wraps the state `losses` watches, counting executors' vcores into `slots`.
    pub fn new(losses: Arc<Losses>, slots: Arc<Slots>) -> Self {
        Self {
            inner: losses.cluster.clone(),
            losses,
            slots,
        }
    }
}

#[async_trait::async_trait]
impl ClusterState for WatchedCluster {
    async fn init(&self) -> Result<()> {
        self.inner.init().await
    }

    async fn bind_schedulable_tasks(
        &self,
        distribution: TaskDistributionPolicy,
        active_jobs: Arc<HashMap<JobId, JobInfoCache>>,
        executors: Option<HashSet<String>>,
    ) -> Result<Vec<BoundTask>> {
        self.inner
            .bind_schedulable_tasks(distribution, active_jobs, executors)
            .await
    }

    async fn unbind_tasks(&self, executor_slots: Vec<ExecutorSlot>) -> Result<()> {
        self.inner.unbind_tasks(executor_slots).await
    }

    async fn register_executor(
        &self,
        metadata: ExecutorMetadata,
        spec: ExecutorData,
    ) -> Result<()> {
        self.slots.set(&spec.executor_id, spec.total_vcores);
        self.inner.register_executor(metadata, spec).await
    }

    async fn save_executor_metadata(&self, metadata: ExecutorMetadata) -> Result<()> {
        self.slots.set(&metadata.id, metadata.specification.vcores);
        self.inner.save_executor_metadata(metadata).await
    }

    async fn get_executor_metadata(&self, executor_id: &str) -> Result<ExecutorMetadata> {
        self.inner.get_executor_metadata(executor_id).await
    }

    async fn registered_executor_metadata(&self) -> Vec<ExecutorMetadata> {
        self.inner.registered_executor_metadata().await
    }

    async fn save_executor_heartbeat(
        &self,
        heartbeat: ballista_core::serde::protobuf::ExecutorHeartbeat,
    ) -> Result<()> {
        self.inner.save_executor_heartbeat(heartbeat).await
    }

    async fn remove_executor(&self, executor_id: &str) -> Result<()> {
        self.slots.remove(executor_id);
        // An executor removed before (its heartbeat is gone) took no work of today's jobs.
        if self.inner.get_executor_heartbeat(executor_id).is_none() {
            return self.inner.remove_executor(executor_id).await;
        }
        // Before Ballista hears of the loss, so no repaired job can be reported first.
        let left = self
            .inner
            .executor_heartbeats()
            .keys()
            .filter(|id| id.as_str() != executor_id)
            .count();
        self.losses.executor_removed(executor_id, left);
        self.inner.remove_executor(executor_id).await
    }

    fn executor_heartbeats(
        &self,
    ) -> HashMap<String, ballista_core::serde::protobuf::ExecutorHeartbeat> {
        self.inner.executor_heartbeats()
    }

    fn get_executor_heartbeat(
        &self,
        executor_id: &str,
    ) -> Option<ballista_core::serde::protobuf::ExecutorHeartbeat> {
        self.inner.get_executor_heartbeat(executor_id)
    }

    async fn cluster_state_events(&self) -> Result<ClusterStateEventStream> {
        self.inner.cluster_state_events().await
    }
}

/// The scheduler's gRPC service, reporting jobs that lost work as failed, and holding empty
/// polls until there is work (`wake::Work`).
pub struct Guarded {
    inner: Arc<Server>,
    losses: Arc<Losses>,
    work: Arc<Work>,
}

impl Guarded {
    /// Wraps `inner`; `work` is signalled when tasks become runnable.
    pub fn new(inner: Arc<Server>, losses: Arc<Losses>, work: Arc<Work>) -> Self {
        Self {
            inner,
            losses,
            work,
        }
    }
}

type Rpc<T> = std::result::Result<Response<T>, Status>;

#[tonic::async_trait]
impl SchedulerGrpc for Guarded {
    type ExecuteQueryPushStream = Pin<
        Box<dyn futures::Stream<Item = std::result::Result<pb::GetJobStatusResult, Status>> + Send>,
    >;

    async fn poll_work(&self, r: Request<pb::PollWorkParams>) -> Rpc<pb::PollWorkResult> {
        self.losses.task_statuses(&r.get_ref().task_status);
        let params = pb::PollWorkParams {
            task_status: Vec::new(),
            ..r.get_ref().clone()
        };
        let mut seen = self.work.generation();
        let first = self.inner.poll_work(r).await?;
        // Only an idle executor (all vcores free), told nothing, and naming its host (a
        // second poll has no connection info) waits.
        let meta = params.metadata.as_ref();
        let named = meta.is_some_and(|m| m.host.is_some());
        let vcores = meta
            .and_then(|m| m.specification.clone())
            .map_or(0, |s| Into::<ExecutorSpecification>::into(s).vcores);
        let empty = |p: &pb::PollWorkResult| p.tasks.is_empty() && p.jobs_to_clean.is_empty();
        if !empty(first.get_ref()) || params.num_free_vcores < vcores.max(1) || !named {
            return Ok(first);
        }
        let deadline = tokio::time::Instant::now() + IDLE_POLL;
        while self.work.wait_past(seen, deadline).await {
            seen = self.work.generation();
            let again = self.inner.poll_work(Request::new(params.clone())).await?;
            if !empty(again.get_ref()) {
                return Ok(again);
            }
        }
        Ok(first)
    }

    async fn register_executor(
        &self,
        r: Request<pb::RegisterExecutorParams>,
    ) -> Rpc<pb::RegisterExecutorResult> {
        self.inner.register_executor(r).await
    }

    async fn heart_beat_from_executor(
        &self,
        r: Request<pb::HeartBeatParams>,
    ) -> Rpc<pb::HeartBeatResult> {
        self.inner.heart_beat_from_executor(r).await
    }

    async fn update_task_status(
        &self,
        r: Request<pb::UpdateTaskStatusParams>,
    ) -> Rpc<pb::UpdateTaskStatusResult> {
        self.losses.task_statuses(&r.get_ref().task_status);
        self.inner.update_task_status(r).await
    }

    async fn create_update_session(
        &self,
        r: Request<pb::CreateUpdateSessionParams>,
    ) -> Rpc<pb::CreateUpdateSessionResult> {
        self.inner.create_update_session(r).await
    }

    async fn remove_session(
        &self,
        r: Request<pb::RemoveSessionParams>,
    ) -> Rpc<pb::RemoveSessionResult> {
        self.inner.remove_session(r).await
    }

    async fn execute_query_push(
        &self,
        r: Request<pb::ExecuteQueryParams>,
    ) -> Rpc<Self::ExecuteQueryPushStream> {
        self.losses.executor_ready().await?;
        let losses = self.losses.clone();
        // `map` keeps the response's metadata (the scheduler's version, which clients check).
        Ok(self.inner.execute_query_push(r).await?.map(|stream| {
            let rewritten = stream.map(move |item| {
                item.map(|mut result| {
                    if let Some(s) = result.status.as_mut() {
                        losses.rewrite(s);
                    }
                    result
                })
            });
            Box::pin(rewritten) as Self::ExecuteQueryPushStream
        }))
    }

    async fn execute_query(
        &self,
        r: Request<pb::ExecuteQueryParams>,
    ) -> Rpc<pb::ExecuteQueryResult> {
        self.losses.executor_ready().await?;
        self.inner.execute_query(r).await
    }

    async fn get_job_status(
        &self,
        r: Request<pb::GetJobStatusParams>,
    ) -> Rpc<pb::GetJobStatusResult> {
        let mut response = self.inner.get_job_status(r).await?;
        if let Some(s) = response.get_mut().status.as_mut() {
            self.losses.rewrite(s);
        }
        Ok(response)
    }

    async fn get_job_metrics(
        &self,
        r: Request<pb::GetJobMetricsParams>,
    ) -> Rpc<pb::GetJobMetricsResult> {
        self.inner.get_job_metrics(r).await
    }

    async fn executor_stopped(
        &self,
        r: Request<pb::ExecutorStoppedParams>,
    ) -> Rpc<pb::ExecutorStoppedResult> {
        self.inner.executor_stopped(r).await
    }

    async fn cancel_job(&self, r: Request<pb::CancelJobParams>) -> Rpc<pb::CancelJobResult> {
        SchedulerGrpc::cancel_job(self.inner.as_ref(), r).await
    }

    async fn clean_job_data(
        &self,
        r: Request<pb::CleanJobDataParams>,
    ) -> Rpc<pb::CleanJobDataResult> {
        self.inner.clean_job_data(r).await
    }
}
