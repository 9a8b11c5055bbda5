//! `pulse cluster up|down|status`: a local Ballista cluster (one scheduler, N executors) as
//! background processes of this binary, for trying cluster mode on one machine. Pids, ports
//! and logs live in a state directory of the user's, one per lake
//! (`$XDG_STATE_HOME/pulse/clusters/<lake hash>`, else `~/.local/state/...`), so every
//! command on the same lake finds the cluster wherever it is run from.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

/// The cluster commands.
#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Start a scheduler and executors in the background.
    Up {
        /// Executors to start.
        #[arg(long, default_value_t = 2)]
        executors: usize,
        /// Scheduler port; executors take the ports after it.
        #[arg(long, default_value_t = 50050)]
        port: u16,
        /// Concurrent tasks per executor.
        #[arg(long, default_value_t = 1)]
        vcores: usize,
        /// Task scheduling of the scheduler and its executors [default: the configuration's].
        #[arg(long, value_enum)]
        scheduling: Option<crate::config::Scheduling>,
        /// Where pids, ports and logs are kept [default: the user's state directory for
        /// this lake].
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Stop the processes `up` started.
    Down {
        /// Where pids, ports and logs are kept [default: the user's state directory for
        /// this lake].
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Show the processes and what the scheduler reports.
    Status {
        /// Where pids, ports and logs are kept [default: the user's state directory for
        /// this lake].
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    scheduler_port: u16,
    processes: Vec<(String, u32)>,
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A cluster a client talks to: the scheduler's `df://HOST:PORT` and the credentials it
/// wants (`[cluster] user` and `PULSE_CLUSTER_PASSWORD`).
#[derive(Debug, Clone)]
pub struct Target {
    /// `df://HOST:PORT`.
    pub url: String,
    /// User and password.
    pub login: Option<(String, String)>,
}

impl Target {
    /// One request to the scheduler's REST API with the target's credentials: (status code,
    /// body), or an error naming the cluster.
    fn rest(&self, method: &str, path: &str) -> anyhow::Result<(u16, String)> {
        let addr = rest_addr(&self.url)?;
        http(&addr, method, path, self.login.as_ref()).with_context(|| {
            format!(
                "cannot reach the cluster scheduler at {} ({addr})",
                self.url
            )
        })
    }
}

/// One request to the scheduler's REST API: (status code, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    login: Option<&(String, String)>,
) -> std::io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = login.map_or(String::new(), |(u, p)| {
        format!(
            "Authorization: {}\r\n",
            pulse_scheduler::Credentials::header(u, p)
        )
    });
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

pub(crate) fn get(port: u16, path: &str, login: Option<&(String, String)>) -> Option<String> {
    http(&format!("127.0.0.1:{port}"), "GET", path, login)
        .ok()
        .map(|(_, b)| b)
}

/// `HOST:PORT` of a `df://HOST:PORT` cluster URL.
pub fn rest_addr(cluster: &str) -> anyhow::Result<String> {
    let u = url::Url::parse(cluster)
        .with_context(|| format!("cluster address {cluster:?} is not like df://HOST:PORT"))?;
    let host = u
        .host_str()
        .with_context(|| format!("cluster address {cluster:?} has no host"))?;
    Ok(format!("{host}:{}", u.port().unwrap_or(50050)))
}

/// A job as the scheduler's REST API lists it (times in ms since the epoch, 0 when not yet).
#[derive(Debug, Deserialize)]
pub(crate) struct JobRow {
    pub job_id: String,
    pub job_name: String,
    pub status: String,
    pub num_stages: usize,
    pub completed_stages: usize,
    pub percent_complete: u8,
    pub start_time: u64,
    pub end_time: u64,
}

fn fmt_ms(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// `pulse jobs`: the scheduler's jobs with status and progress, newest first.
pub fn list_jobs(target: &Target, status: Option<&str>) -> anyhow::Result<()> {
    let cluster = target.url.as_str();
    let (code, body) = target.rest("GET", "/api/jobs")?;
    anyhow::ensure!(
        code == 200,
        "the scheduler at {cluster} answered HTTP {code}: {body}"
    );
    let mut jobs: Vec<JobRow> = serde_json::from_str(&body)
        .with_context(|| format!("unexpected job list from {cluster}"))?;
    jobs.retain(|j| status.is_none_or(|s| j.status.eq_ignore_ascii_case(s)));
    jobs.sort_by(|a, b| {
        b.start_time
            .cmp(&a.start_time)
            .then(a.job_id.cmp(&b.job_id))
    });
    println!(
        "{:<10} {:<32} {:<10} {:>7} {:>5}  {:<19}  {:<19}",
        "job", "name", "status", "stages", "done", "started", "ended"
    );
    for j in &jobs {
        println!(
            "{:<14} {:<32} {:<10} {:>3}/{:<3} {:>4}%  {:<19}  {:<19}",
            j.job_id,
            j.job_name,
            j.status,
            j.completed_stages,
            j.num_stages,
            j.percent_complete,
            fmt_ms(j.start_time),
            fmt_ms(j.end_time)
        );
    }
    Ok(())
}

/// `pulse jobs cancel ID`.
pub fn cancel_job(target: &Target, id: &str) -> anyhow::Result<()> {
    let cluster = target.url.as_str();
    anyhow::ensure!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{id:?} is not a job id"
    );
    let (code, body) = target.rest("PATCH", &format!("/api/job/{id}"))?;
    match code {
        200..=299 => {
            println!("cancelled job {id}");
            Ok(())
        }
        404 => bail!("the scheduler at {cluster} has no job {id}"),
        409 => bail!("job {id} has already finished"),
        _ => bail!("cancelling job {id}: HTTP {code}: {body}"),
    }
}

fn stop(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// Pulse's directory under the user's state directory (`$XDG_STATE_HOME/pulse`, by default
/// `~/.local/state/pulse`): local clusters' state, socket workers' write-ahead logs.
pub fn state_home() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").context("no HOME to keep state in")?)
            .join(".local/state"),
    };
    Ok(base.join("pulse"))
}

/// The state directory of the local cluster on `lake` (its absolute location or URL).
pub fn default_state_dir(lake: &str) -> anyhow::Result<PathBuf> {
    let key = blake3::hash(lake.as_bytes()).to_hex();
    Ok(state_home()?.join("clusters").join(&key[..16]))
}

/// Runs a cluster command; `lake` (absolute, or a URL) is passed on to the processes and
/// keys the state directory.
pub fn run(cmd: ClusterCmd, lake: &str, login: Option<&(String, String)>) -> anyhow::Result<()> {
    let dir = |d: Option<PathBuf>| d.map_or_else(|| default_state_dir(lake), Ok);
    match cmd {
        ClusterCmd::Up {
            executors,
            port,
            vcores,
            scheduling,
            state_dir,
        } => {
            let state_dir = dir(state_dir)?;
            let state_file = state_dir.join("state.json");
            if state_file.exists() {
                bail!(
                    "a cluster is already up ({}); run `pulse cluster down` first",
                    state_file.display()
                );
            }
            std::fs::create_dir_all(&state_dir)?;
            let exe = std::env::current_exe().context("finding the pulse binary")?;
            let spawn = |name: &str, args: &[String]| -> anyhow::Result<u32> {
                let log = std::fs::File::create(state_dir.join(format!("{name}.log")))?;
                let child = Command::new(&exe)
                    .arg("--lake")
                    .arg(lake)
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .spawn()
                    .with_context(|| format!("starting {name}"))?;
                Ok(child.id())
            };
            let mut processes = Vec::new();
            let s = |v: &str| v.to_string();
            let policy: Vec<String> = scheduling
                .map(|p| vec![s("--scheduling"), s(p.name())])
                .unwrap_or_default();
            processes.push((
                s("scheduler"),
                spawn(
                    "scheduler",
                    &[
                        &[
                            s("scheduler"),
                            s("--bind-host"),
                            s("127.0.0.1"),
                            s("--external-host"),
                            s("127.0.0.1"),
                            s("--port"),
                            port.to_string(),
                        ][..],
                        &policy,
                    ]
                    .concat(),
                )?,
            ));
            for i in 0..executors {
                let (flight, grpc) = (port + 1 + 2 * i as u16, port + 2 + 2 * i as u16);
                let work = state_dir.join(format!("executor-{i}"));
                processes.push((
                    format!("executor-{i}"),
                    spawn(
                        &format!("executor-{i}"),
                        &[
                            &[
                                s("executor"),
                                s("--bind-host"),
                                s("127.0.0.1"),
                                s("--external-host"),
                                s("127.0.0.1"),
                                s("--port"),
                                flight.to_string(),
                                s("--grpc-port"),
                                grpc.to_string(),
                                s("--scheduler"),
                                format!("127.0.0.1:{port}"),
                                s("--vcores"),
                                vcores.to_string(),
                                s("--work-dir"),
                                work.display().to_string(),
                            ][..],
                            &policy,
                        ]
                        .concat(),
                    )?,
                ));
            }
            std::fs::write(
                &state_file,
                serde_json::to_vec_pretty(&State {
                    scheduler_port: port,
                    processes,
                })?,
            )?;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let body = get(port, "/api/executors", login).unwrap_or_default();
                if body.matches("\"vcores\"").count() >= executors {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "the cluster did not come up in 60s; see the logs in {}",
                        state_dir.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            println!(
                "cluster up: scheduler df://127.0.0.1:{port} with {executors} executor(s); logs in {}",
                state_dir.display()
            );
            println!(
                "use it with: pulse --cluster df://127.0.0.1:{port} sql ... (or PULSE_CLUSTER)"
            );
        }
        ClusterCmd::Down { state_dir } => {
            let state_dir = dir(state_dir)?;
            let state_file = state_dir.join("state.json");
            let state: State = serde_json::from_slice(
                &std::fs::read(&state_file)
                    .with_context(|| format!("no cluster state at {}", state_file.display()))?,
            )?;
            for (name, pid) in state.processes.iter().rev() {
                if alive(*pid) {
                    stop(*pid);
                    println!("stopped {name} (pid {pid})");
                }
            }
            std::fs::remove_file(&state_file)?;
        }
        ClusterCmd::Status { state_dir } => {
            let state_dir = dir(state_dir)?;
            let state_file = state_dir.join("state.json");
            let Ok(bytes) = std::fs::read(&state_file) else {
                println!("no cluster is up (no {})", state_file.display());
                return Ok(());
            };
            let state: State = serde_json::from_slice(&bytes)?;
            for (name, pid) in &state.processes {
                println!(
                    "{name:<12} pid {pid:<8} {}",
                    if alive(*pid) { "running" } else { "stopped" }
                );
            }
            match get(state.scheduler_port, "/api/executors", login) {
                Some(body) => println!(
                    "scheduler reports {} executor(s)",
                    body.matches("\"vcores\"").count()
                ),
                None => println!("scheduler not answering on port {}", state.scheduler_port),
            }
        }
    }
    Ok(())
}

/// `pulse jobs`: the cluster's jobs.
#[derive(clap::Args, Debug)]
pub struct JobsArgs {
    #[command(subcommand)]
    cmd: Option<JobsCmd>,
    /// Only jobs with this status (Queued, Running, Completed, Failed).
    #[arg(long)]
    status: Option<String>,
}

#[derive(Subcommand, Debug)]
enum JobsCmd {
    /// Cancel a running job.
    Cancel {
        /// The job id (from `pulse jobs`).
        id: String,
    },
}

/// Lists the cluster's jobs, or cancels one.
pub fn jobs(e: &crate::engine::Engine, a: JobsArgs) -> anyhow::Result<()> {
    let target = e
        .cluster
        .as_ref()
        .context("jobs needs a cluster: --cluster df://HOST:PORT or PULSE_CLUSTER")?;
    match a.cmd {
        None => list_jobs(target, a.status.as_deref()),
        Some(JobsCmd::Cancel { id }) => cancel_job(target, &id),
    }
}
