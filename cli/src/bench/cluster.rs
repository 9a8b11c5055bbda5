//! `pulse bench cluster`: the windowed job set (hashtags 1 h / 5 min, categories, channels)
//! over generated days, embedded and on local clusters of 1, 2, 4... executors (one vcore
//! each, scheduler and executors on loopback, as `pulse cluster up` starts them), each mode
//! in fresh `pulse` processes as a user runs them. Prints the wall time of the set and, for
//! a cluster, how much of it the scheduler spent inside Ballista jobs (from its REST API's
//! job list: submitted to finished), and of that how long at least one task was executing
//! (from each job's stage reports: tasks' execution start and end; a task reads its shuffle
//! input and writes its output, staged output files included, while it executes), the rest
//! being planning on the scheduler, handing tasks out and stage transitions. Outside the
//! jobs is the client (sessions, planning, commits); the commits' share comes from the
//! runs' `steps written` log lines. Nothing here asserts a time.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

/// What to measure.
pub struct Options {
    /// Days to generate, from 2026-01-05.
    pub days: u32,
    /// `pulse gen` flags besides `--days`.
    pub gen_args: Vec<String>,
    /// Executor counts to measure.
    pub executors: Vec<usize>,
    /// Runs of the job set per mode; the fastest counts.
    pub runs: usize,
    /// The clusters' task scheduling.
    pub scheduling: crate::config::Scheduling,
}

/// One mode's figures.
struct Figures {
    mode: String,
    wall: Duration,
    ballista_jobs: usize,
    inside_jobs: Duration,
    executing: Duration,
    commit: Duration,
}

/// Runs the benchmark in a temporary directory and prints a table.
pub fn run(opts: &Options) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the pulse binary")?;
    let dir = tempfile::tempdir()?;
    let lake = dir.path().join("lake");
    let lake = lake.to_str().context("temporary path is not UTF-8")?;
    let days = opts.days.to_string();
    let mut gen_args = vec!["gen".to_string(), "--days".into(), days];
    gen_args.extend(opts.gen_args.iter().cloned());
    let t = Instant::now();
    pulse(&exe, lake, None, &gen_args)?;
    println!(
        "generated {} day(s) ({}) in {:.1} s",
        opts.days,
        opts.gen_args.join(" "),
        t.elapsed().as_secs_f64()
    );
    let end = (chrono::NaiveDate::from_ymd_opt(2026, 1, 5).context("start date")?
        + chrono::Duration::days(i64::from(opts.days)))
    .format("%Y-%m-%d")
    .to_string();
    let set = job_set(&end);
    let mut table = Vec::new();
    table.push(best(opts.runs, || {
        let t = Instant::now();
        let mut commit = Duration::ZERO;
        for job in &set {
            commit += commit_time(&pulse(&exe, lake, None, job)?);
        }
        Ok(Figures {
            mode: "embedded".into(),
            wall: t.elapsed(),
            ballista_jobs: 0,
            inside_jobs: Duration::ZERO,
            executing: Duration::ZERO,
            commit,
        })
    })?);
    for &n in &opts.executors {
        let cluster = LocalCluster::up(&exe, lake, dir.path(), n, opts.scheduling)?;
        table.push(best(opts.runs, || {
            let before = cluster.jobs()?;
            let t = Instant::now();
            let mut commit = Duration::ZERO;
            for job in &set {
                commit += commit_time(&pulse(&exe, lake, Some(&cluster.url), job)?);
            }
            let wall = t.elapsed();
            let jobs: Vec<_> = cluster
                .jobs()?
                .into_iter()
                .filter(|j| !before.iter().any(|b| b.job_id == j.job_id))
                .collect();
            let inside: u64 = jobs
                .iter()
                .map(|j| j.end_time.saturating_sub(j.start_time))
                .sum();
            let mut executing = 0;
            for j in &jobs {
                executing += cluster.executing_ms(&j.job_id)?;
            }
            Ok(Figures {
                mode: format!("cluster, {n} executor(s), {}", opts.scheduling.name()),
                wall,
                ballista_jobs: jobs.len(),
                inside_jobs: Duration::from_millis(inside),
                executing: Duration::from_millis(executing),
                commit,
            })
        })?);
    }
    let embedded = table[0].wall.as_secs_f64();
    println!(
        "{:<32} {:>9} {:>11} {:>6} {:>11} {:>11} {:>11} {:>11}",
        "mode", "wall", "/ embedded", "jobs", "inside", "executing", "outside", "commits"
    );
    for f in &table {
        let wall = f.wall.as_secs_f64();
        println!(
            "{:<32} {:>7.2} s {:>10.2}x {:>6} {:>9.2} s {:>9.2} s {:>9.2} s {:>9.2} s",
            f.mode,
            wall,
            wall / embedded,
            f.ballista_jobs,
            f.inside_jobs.as_secs_f64(),
            f.executing.as_secs_f64(),
            (wall - f.inside_jobs.as_secs_f64()).max(0.0),
            f.commit.as_secs_f64()
        );
    }
    Ok(())
}

/// The time a run spent committing its outputs: the `commit_ms` of its `steps written` log
/// lines.
fn commit_time(out: &Output) -> Duration {
    let ms: u64 = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("steps written"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("commit_ms="))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum();
    Duration::from_millis(ms)
}

/// The length of the union of `[start, end)` intervals.
fn covered(mut spans: Vec<(u64, u64)>) -> u64 {
    spans.sort_unstable();
    let (mut total, mut reach) = (0, 0);
    for (a, b) in spans {
        let a = a.max(reach);
        if b > a {
            total += b - a;
            reach = b;
        }
    }
    total
}

/// The windowed job set over `[2026-01-05, end)`.
fn job_set(end: &str) -> Vec<Vec<String>> {
    let interval = ["--from", "2026-01-05", "--to", end];
    let job = |args: &[&str]| -> Vec<String> {
        ["run"]
            .iter()
            .chain(args)
            .chain(&interval)
            .map(|s| s.to_string())
            .collect()
    };
    let mut set = vec![
        job(&["hashtags", "--set", "size=1h", "--set", "slide=5m"]),
        job(&["categories"]),
        job(&["channels"]),
    ];
    // Info logs carry each run's commit time.
    for j in &mut set {
        j.insert(0, "-v".into());
    }
    set
}

/// The fastest of `runs` runs of `f`.
fn best(runs: usize, mut f: impl FnMut() -> anyhow::Result<Figures>) -> anyhow::Result<Figures> {
    let mut best: Option<Figures> = None;
    for _ in 0..runs.max(1) {
        let f = f()?;
        if best.as_ref().is_none_or(|b| f.wall < b.wall) {
            best = Some(f);
        }
    }
    best.context("no run")
}

/// Runs `pulse --lake LAKE [--cluster URL] ARGS`, failing with its output when it fails.
fn pulse(exe: &Path, lake: &str, cluster: Option<&str>, args: &[String]) -> anyhow::Result<Output> {
    let mut cmd = Command::new(exe);
    cmd.arg("--lake").arg(lake);
    if let Some(url) = cluster {
        cmd.arg("--cluster").arg(url);
    }
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running pulse {}", args.join(" ")))?;
    ensure!(
        out.status.success(),
        "pulse {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

/// A scheduler and `n` executors started with `pulse cluster up`, brought down when dropped.
struct LocalCluster {
    exe: std::path::PathBuf,
    lake: String,
    state_dir: std::path::PathBuf,
    port: u16,
    url: String,
}

impl LocalCluster {
    fn up(
        exe: &Path,
        lake: &str,
        dir: &Path,
        n: usize,
        scheduling: crate::config::Scheduling,
    ) -> anyhow::Result<LocalCluster> {
        let port = free_ports(1 + 2 * n as u16)?;
        let state_dir = dir.join(format!("cluster-{n}"));
        let cluster = LocalCluster {
            exe: exe.to_path_buf(),
            lake: lake.to_string(),
            state_dir: state_dir.clone(),
            port,
            url: format!("df://127.0.0.1:{port}"),
        };
        let state = state_dir.to_string_lossy().to_string();
        let args: Vec<String> = [
            "cluster",
            "up",
            "--executors",
            &n.to_string(),
            "--vcores",
            "1",
            "--port",
            &port.to_string(),
            "--state-dir",
            &state,
            "--scheduling",
            scheduling.name(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        pulse(exe, lake, None, &args)?;
        Ok(cluster)
    }

    /// How long at least one task of `job` was executing, in ms (from its stage reports).
    fn executing_ms(&self, job: &str) -> anyhow::Result<u64> {
        let body = crate::cluster::get(self.port, &format!("/api/job/{job}/stages"), None)
            .context("the scheduler's REST API did not answer")?;
        let v: serde_json::Value =
            serde_json::from_str(&body).context("reading a job's stage reports")?;
        let mut spans = Vec::new();
        for stage in v["stages"].as_array().into_iter().flatten() {
            for task in stage["tasks"].as_array().into_iter().flatten() {
                let (a, b) = (&task["start_exec_time"], &task["end_exec_time"]);
                if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
                    spans.push((a, b));
                }
            }
        }
        Ok(covered(spans))
    }

    /// The scheduler's jobs so far.
    fn jobs(&self) -> anyhow::Result<Vec<crate::cluster::JobRow>> {
        let body = crate::cluster::get(self.port, "/api/jobs", None)
            .context("the scheduler's REST API did not answer")?;
        serde_json::from_str(&body).context("reading the scheduler's job list")
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let state = self.state_dir.to_string_lossy().to_string();
        let args = [
            "cluster".to_string(),
            "down".into(),
            "--state-dir".into(),
            state,
        ];
        if let Err(e) = pulse(&self.exe, &self.lake, None, &args) {
            eprintln!("warning: stopping the local cluster: {e:#}");
        }
    }
}

/// The first of `n` consecutive loopback ports that are all free now.
fn free_ports(n: u16) -> anyhow::Result<u16> {
    for _ in 0..50 {
        let base = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if base.checked_add(n).is_none() {
            continue;
        }
        let all_free =
            (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return Ok(base);
        }
    }
    bail!("found no {n} consecutive free loopback ports")
}

#[cfg(test)]
mod tests {
    use super::covered;

    #[test]
    fn covered_time_counts_overlaps_once() {
        // Against brute force over each millisecond.
        let cases: [&[(u64, u64)]; 4] = [
            &[],
            &[(5, 9), (1, 3), (2, 4), (8, 12), (12, 12), (20, 21)],
            &[(0, 10), (2, 3), (4, 5)],
            &[(7, 8), (8, 9)],
        ];
        for spans in cases {
            let brute = (0..30)
                .filter(|t| spans.iter().any(|(a, b)| a <= t && t < b))
                .count() as u64;
            assert_eq!(covered(spans.to_vec()), brute, "{spans:?}");
        }
    }
}
