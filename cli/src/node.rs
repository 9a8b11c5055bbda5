//! `pulse scheduler` and `pulse executor`: a cluster's processes, with Pulse's functions,
//! codecs and lake. Their flags are the top layer over `[scheduler]`, `[executor]` and
//! `[cluster]` of the configuration.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::config::{Flags, Scheduling, parse_bytes};
use crate::engine::Engine;

/// `pulse scheduler`.
#[derive(Args, Debug)]
pub struct SchedulerArgs {
    /// Address to bind [default: 127.0.0.1]; beyond loopback it needs credentials or
    /// --insecure.
    #[arg(long)]
    bind_host: Option<String>,
    /// Port for gRPC, the REST API (/api/executors, /api/jobs) and Flight SQL [default: 50050].
    #[arg(long)]
    port: Option<u16>,
    /// Host executors and clients reach this scheduler at [default: localhost].
    #[arg(long)]
    external_host: Option<String>,
    /// An executor silent this long is lost and its tasks rerun [default: 180s].
    #[arg(long, value_parser = humantime::parse_duration)]
    executor_timeout: Option<Duration>,
    /// Serve Flight SQL on the scheduler port, every lake table registered by name.
    #[arg(long)]
    flight_sql: bool,
    /// The user every client must present (Flight SQL, REST API, job submission), with
    /// the password in PULSE_CLUSTER_PASSWORD [default: [cluster] user].
    #[arg(long)]
    user: Option<String>,
    /// Serve beyond loopback without credentials (a warning is logged).
    #[arg(long)]
    insecure: bool,
    /// Also serve Flight SQL, the REST API and job submission over TLS on HOST:PORT
    /// (with --tls-cert and --tls-key).
    #[arg(long)]
    tls_listen: Option<String>,
    /// TLS certificate chain, PEM.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// TLS private key, PEM.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Task scheduling: pull (executors poll) or push; executors must use the same [default: pull].
    #[arg(long, value_enum)]
    scheduling: Option<Scheduling>,
}

impl SchedulerArgs {
    /// Its flags, over `[scheduler]` (and `[cluster] user`).
    pub fn flags(&self, f: &mut Flags) {
        f.set("scheduler.bind_host", self.bind_host.clone())
            .set("scheduler.port", self.port)
            .set("scheduler.external_host", self.external_host.clone())
            .duration("scheduler.executor_timeout", self.executor_timeout)
            .switch("scheduler.flight_sql", self.flight_sql)
            .set("cluster.user", self.user.clone())
            .switch("scheduler.insecure", self.insecure)
            .set("scheduler.tls_listen", self.tls_listen.clone())
            .set("scheduler.tls_cert", self.tls_cert.clone())
            .set("scheduler.tls_key", self.tls_key.clone())
            .set("scheduler.scheduling", self.scheduling);
    }
}

/// `pulse executor`.
#[derive(Args, Debug)]
pub struct ExecutorArgs {
    /// Address to bind [default: 127.0.0.1]. Executor ports have no authentication:
    /// beyond loopback, keep them reachable only from the cluster's hosts.
    #[arg(long)]
    bind_host: Option<String>,
    /// Flight port (results and shuffle data) [default: 50051].
    #[arg(long)]
    port: Option<u16>,
    /// gRPC port [default: 50052].
    #[arg(long)]
    grpc_port: Option<u16>,
    /// Host the scheduler and clients reach this executor at [default: localhost].
    #[arg(long)]
    external_host: Option<String>,
    /// The scheduler, HOST:PORT [default: localhost:50050].
    #[arg(long)]
    scheduler: Option<String>,
    /// Concurrent tasks [default: the cores].
    #[arg(long)]
    vcores: Option<usize>,
    /// Shuffle and spill directory [default: a temp dir].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Memory pool, e.g. 4GiB [default: a fraction of RAM].
    #[arg(long, value_parser = parse_bytes)]
    memory_limit: Option<u64>,
    /// How long to wait for the scheduler at start [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    connect_timeout: Option<Duration>,
    /// Time between heartbeats to the scheduler [default: 60s].
    #[arg(long, value_parser = humantime::parse_duration)]
    heartbeat: Option<Duration>,
    /// Task scheduling, as the scheduler's: pull or push [default: pull].
    #[arg(long, value_enum)]
    scheduling: Option<Scheduling>,
}

impl ExecutorArgs {
    /// Its flags, over `[executor]`.
    pub fn flags(&self, f: &mut Flags) {
        f.set("executor.bind_host", self.bind_host.clone())
            .set("executor.port", self.port)
            .set("executor.grpc_port", self.grpc_port)
            .set("executor.external_host", self.external_host.clone())
            .set("executor.scheduler", self.scheduler.clone())
            .set("executor.vcores", self.vcores)
            .set("executor.work_dir", self.work_dir.clone())
            .set("executor.memory_limit", self.memory_limit)
            .duration("executor.connect_timeout", self.connect_timeout)
            .duration("executor.heartbeat", self.heartbeat)
            .set("executor.scheduling", self.scheduling);
    }
}

/// Runs the scheduler until stopped.
pub async fn scheduler(e: &Engine) -> anyhow::Result<()> {
    let lake = e.lake()?;
    let c = e.cfg.scheduler.clone();
    let tls = match (c.tls_listen, c.tls_cert, c.tls_key) {
        (Some(listen), Some(cert), Some(key)) => {
            Some(pulse_scheduler::TlsOptions { listen, cert, key })
        }
        (None, None, None) => None,
        _ => anyhow::bail!("TLS needs all of --tls-listen, --tls-cert and --tls-key"),
    };
    let credentials = e
        .cfg
        .cluster
        .login(None)?
        .map(|(u, p)| pulse_scheduler::Credentials::new(u, &p));
    let opts = pulse_scheduler::SchedulerOptions {
        bind_host: c.bind_host,
        port: c.port,
        external_host: c.external_host,
        executor_timeout_s: c.executor_timeout.as_secs().max(1),
        flight_sql: c.flight_sql,
        credentials,
        insecure: c.insecure,
        tls,
        push: c.scheduling == Scheduling::Push,
    };
    println!("scheduler listening on {}:{}", opts.bind_host, opts.port);
    pulse_scheduler::run_scheduler(lake, opts).await?;
    Ok(())
}

/// Runs an executor until stopped.
pub async fn executor(e: &Engine) -> anyhow::Result<()> {
    let lake = e.lake()?;
    let c = e.cfg.executor.clone();
    let (scheduler_host, scheduler_port) = host_port(&c.scheduler)?;
    let tmp;
    let work_dir = match c.work_dir {
        Some(d) => d,
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let vcores = match c.vcores {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    pulse_scheduler::run_executor(
        lake,
        pulse_scheduler::ExecutorOptions {
            bind_host: c.bind_host,
            port: c.port,
            grpc_port: c.grpc_port,
            external_host: c.external_host,
            scheduler_host,
            scheduler_port,
            vcores,
            work_dir: work_dir.display().to_string(),
            memory_limit: c.memory_limit,
            connect_timeout_s: c.connect_timeout.as_secs().min(u16::MAX as u64) as u16,
            heartbeat_s: c.heartbeat.as_secs().max(1),
            push: c.scheduling == Scheduling::Push,
        },
    )
    .await?;
    Ok(())
}

fn host_port(s: &str) -> anyhow::Result<(String, u16)> {
    let (h, p) = s
        .rsplit_once(':')
        .with_context(|| format!("{s:?} is not HOST:PORT"))?;
    Ok((
        h.to_string(),
        p.parse().with_context(|| format!("bad port in {s:?}"))?,
    ))
}
