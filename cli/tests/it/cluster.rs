//! Cluster mode against our real scheduler and executor processes on loopback: the same
//! jobs give the same outputs, row for row, as embedded runs; an executor started before its
//! scheduler waits for it; an unreachable scheduler is a clear error.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Pulse, Running, assert_same_outputs, job_outputs, spawn};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    http_request(port, "GET", path, None)
}

/// One HTTP/1.0 request to a loopback port, with an `Authorization` header when given: the
/// whole response, status line included.
pub fn http_request(port: u16, method: &str, path: &str, auth: Option<&str>) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\n{auth}Content-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// A scheduler and `executors` executors on free loopback ports; the executors start first.
pub struct Cluster {
    pub url: String,
    /// The executors, then the scheduler.
    pub procs: Vec<Running>,
}

impl Cluster {
    pub fn start(p: &Pulse, executors: usize) -> Cluster {
        Cluster::start_with(p, executors, "180s", &[], &[])
    }

    /// As `start`, with the scheduler declaring a silent executor lost after `timeout`, and
    /// more scheduler flags.
    pub fn start_with(
        p: &Pulse,
        executors: usize,
        timeout: &str,
        scheduler_args: &[&str],
        executor_args: &[&str],
    ) -> Cluster {
        let port = free_port();
        let mut procs = Vec::new();
        for i in 0..executors {
            let mut c = p.cmd();
            let work = p.dir.path().join(format!("exec{i}"));
            c.args([
                "executor",
                "--bind-host",
                "127.0.0.1",
                "--external-host",
                "127.0.0.1",
            ])
            .args([
                "--port",
                &free_port().to_string(),
                "--grpc-port",
                &free_port().to_string(),
            ])
            .args([
                "--scheduler",
                &format!("127.0.0.1:{port}"),
                "--vcores",
                "2",
                "--heartbeat",
                "2s",
            ])
            .arg("--work-dir")
            .arg(&work)
            .args(executor_args);
            procs.push(spawn(c));
        }
        // The executors are already waiting for a scheduler that is not up yet.
        std::thread::sleep(Duration::from_millis(500));
        let mut c = p.cmd();
        c.args([
            "scheduler",
            "--bind-host",
            "127.0.0.1",
            "--external-host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--executor-timeout",
            timeout,
        ])
        .args(scheduler_args);
        procs.push(spawn(c));
        // A scheduler with a user wants its credentials on the REST API too.
        let user = scheduler_args
            .iter()
            .position(|a| *a == "--user")
            .map(|i| scheduler_args[i + 1]);
        let password = p
            .env
            .iter()
            .find(|(k, _)| k == "PULSE_CLUSTER_PASSWORD")
            .map(|(_, v)| v.as_str());
        let auth = user.map(|u| pulse_scheduler::Credentials::header(u, password.unwrap_or("")));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let body =
                http_request(port, "GET", "/api/executors", auth.as_deref()).unwrap_or_default();
            if body.matches("\"vcores\"").count() >= executors {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "executors did not register: {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Cluster {
            url: format!("df://127.0.0.1:{port}"),
            procs,
        }
    }
}

/// The figures of a run's `steps written` log lines (`-v`).
#[derive(Debug)]
struct Written {
    files: u64,
    rows_out: u64,
    rows_fetched: u64,
}

fn steps_written(log: &str) -> Vec<Written> {
    let field = |line: &str, key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    log.lines()
        .filter(|l| l.contains("steps written"))
        .map(|l| Written {
            files: field(l, "files"),
            rows_out: field(l, "rows_out"),
            rows_fetched: field(l, "rows_fetched"),
        })
        .collect()
}

/// GET `path` from the scheduler of a `df://127.0.0.1:PORT` cluster.
pub fn http_get_path(url: &str, path: &str) -> String {
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    http_get(port, path).unwrap_or_default()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn jobs_and_sql_give_the_same_rows_on_the_cluster_as_embedded() {
    let embedded = Pulse::new();
    embedded.ok(&[
        "gen",
        "--days",
        "2",
        "--channels",
        "6",
        "--viewers",
        "300",
        "--tweets-per-sec",
        "0.05",
    ]);
    let clustered = Pulse::new();
    copy_dir(&embedded.lake(), &clustered.lake());
    let cluster = Cluster::start(&clustered, 1);
    let jobs: [&[&str]; 3] = [
        &["hashtags", "--set", "size=1h", "--set", "slide=10m"],
        &["categories"],
        &["channels"],
    ];
    for job in jobs {
        let mut args = vec!["run"];
        args.extend_from_slice(job);
        args.extend_from_slice(&["--from", "2026-01-05", "--to", "2026-01-07"]);
        embedded.ok(&args);
        let mut on_cluster = vec!["--cluster", cluster.url.as_str()];
        on_cluster.extend_from_slice(&args);
        clustered.ok(&on_cluster);
    }
    let (a, b) = (job_outputs(&embedded), job_outputs(&clustered));
    assert_eq!(a.len(), 10);
    assert_same_outputs(&a, &b, "cluster and embedded outputs differ");
    // Outputs are written where the plan runs: the client receives one row per file, never
    // the output's rows.
    let out = clustered
        .cmd()
        .env("RUST_LOG", "pulse_jobs=info")
        .args(["--cluster", cluster.url.as_str(), "run", "categories"])
        .args(["--from", "2026-01-05", "--to", "2026-01-07"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let written = steps_written(&String::from_utf8_lossy(&out.stderr));
    assert!(!written.is_empty(), "no 'steps written' log line");
    let (mut rows, mut fetched) = (0, 0);
    for w in &written {
        assert_eq!(w.rows_fetched, w.files, "{w:?}");
        rows += w.rows_out;
        fetched += w.rows_fetched;
    }
    assert!(
        rows > 10 * fetched,
        "{rows} rows written, {fetched} fetched"
    );
    // The graph and its centralities run on the executors too (pagerank_update and the
    // brandes_partial aggregate travel by name); sums may add up in another order.
    let graph_jobs: [&[&str]; 3] = [
        &["graph"],
        &["pagerank"],
        &["betweenness", "--set", "directed=0"],
    ];
    for job in graph_jobs {
        let mut args = vec!["run"];
        args.extend_from_slice(job);
        args.extend_from_slice(&["--date", "2026-01-06"]);
        embedded.ok(&args);
        let mut on_cluster = vec!["--cluster", cluster.url.as_str()];
        on_cluster.extend_from_slice(&args);
        clustered.ok(&on_cluster);
    }
    for q in [
        "SELECT node, rank FROM pagerank ORDER BY node",
        "SELECT node, score FROM betweenness ORDER BY node",
    ] {
        let (a, b) = (embedded.sql(q), clustered.sql(q));
        assert!(a.len() > 100, "{q}: {} rows", a.len());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x[0], y[0]);
            let (x, y): (f64, f64) = (x[1].parse().unwrap(), y[1].parse().unwrap());
            assert!((x - y).abs() < 1e-12, "{q}: {x} vs {y}");
        }
    }
    // Ad-hoc SQL with Pulse's own function runs on the executors too.
    let q = "SELECT tag, count(*) AS n FROM (SELECT unnest(hashtags(text)) AS tag FROM messages) GROUP BY tag ORDER BY n DESC, tag LIMIT 5";
    let local = embedded.sql(q);
    let remote = clustered.ok(&["--cluster", &cluster.url, "sql", q, "--format", "csv"]);
    let remote: Vec<Vec<String>> = remote
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(local, remote);
    // The web app over the cluster answers as over the embedded engine.
    let (_a, over_cluster) = super::web::serve_with(&clustered, &["--cluster", &cluster.url], &[]);
    let (_b, local) = super::web::serve_with(&embedded, &[], &[]);
    for (path, cols) in [
        (
            "/api/channels/leaderboard?days=2",
            &["channel_login", "hours_watched", "peak_viewers"][..],
        ),
        (
            "/api/hashtags/top?k=3&from=2026-01-05&to=2026-01-06",
            &["window_start", "tag", "n"][..],
        ),
        ("/api/graph/top-pagerank?limit=5", &["name", "rank"][..]),
    ] {
        let want = super::web::api_rows(&local, path, cols);
        assert!(!want.is_empty(), "{path}");
        assert_eq!(
            super::web::api_rows(&over_cluster, path, cols),
            want,
            "{path}"
        );
    }
    // `pulse jobs` lists what ran, named, with status; cancelling an unknown job is an error.
    let jobs = clustered.ok(&["--cluster", &cluster.url, "jobs"]);
    for name in [
        "pulse run hashtags",
        "pulse run categories",
        "pulse run channels",
        "pulse run betweenness",
    ] {
        assert!(
            jobs.lines()
                .any(|l| l.contains(name) && l.contains("Completed")),
            "{name} missing in:\n{jobs}"
        );
    }
    let out = clustered.run(&["--cluster", &cluster.url, "jobs", "cancel", "nosuchjob"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no job nosuchjob"));
    // `pulse submit` runs SQL files and jobs on the cluster.
    let file = clustered.dir.path().join("q.sql");
    std::fs::write(&file, "SELECT count(*) AS n FROM streams;").unwrap();
    let out = clustered.ok(&[
        "--cluster",
        &cluster.url,
        "submit",
        "sql",
        file.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(
        out.lines().nth(1).unwrap(),
        embedded.count("SELECT count(*) FROM streams").to_string()
    );
    let out = clustered.run(&["submit", "sql", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("submit needs a cluster"));
}

#[test]
fn cluster_up_status_down() {
    let p = Pulse::new();
    let port = free_port();
    let state = p.dir.path().join("state");
    let state = state.to_str().unwrap();
    let up = p.ok(&[
        "cluster",
        "up",
        "--executors",
        "1",
        "--port",
        &port.to_string(),
        "--state-dir",
        state,
    ]);
    assert!(up.contains(&format!("df://127.0.0.1:{port}")), "{up}");
    let status = p.ok(&["cluster", "status", "--state-dir", state]);
    assert!(
        status.contains("scheduler reports 1 executor(s)")
            && status.matches("running").count() == 2,
        "{status}"
    );
    let again = p.run(&[
        "cluster",
        "up",
        "--port",
        &port.to_string(),
        "--state-dir",
        state,
    ]);
    assert!(!again.status.success(), "a second up must refuse");
    p.ok(&["cluster", "down", "--state-dir", state]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(port, "/api/executors").is_some() {
        assert!(Instant::now() < deadline, "the scheduler did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        p.ok(&["cluster", "status", "--state-dir", state])
            .contains("no cluster is up")
    );
}

#[test]
fn cluster_state_follows_the_lake_not_the_directory() {
    let mut p = Pulse::new();
    let state_home = p.dir.path().join("state-home");
    p.env
        .push(("XDG_STATE_HOME".into(), state_home.display().to_string()));
    let port = free_port().to_string();
    p.ok(&["cluster", "up", "--executors", "2", "--port", &port]);
    // Status and down from another directory, naming the same lake.
    let elsewhere = p.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let run_in = |args: &[&str]| {
        let out = p.cmd().current_dir(&elsewhere).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let status = run_in(&["cluster", "status"]);
    let pids: Vec<u32> = status
        .lines()
        .filter(|l| l.contains("running"))
        .map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 3, "{status}");
    let down = run_in(&["cluster", "down"]);
    assert_eq!(down.matches("stopped").count(), 3, "{down}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while pids.iter().any(|pid| {
        // A stopped child of a finished `pulse` is reaped by init; a zombie counts as gone.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
    }) {
        assert!(Instant::now() < deadline, "cluster processes still running");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(run_in(&["cluster", "status"]).contains("no cluster is up"));
}

#[test]
fn an_unreachable_scheduler_is_a_clear_error() {
    let p = Pulse::new();
    let port = free_port();
    let started = Instant::now();
    let out = p.run(&[
        "--cluster",
        &format!("df://127.0.0.1:{port}"),
        "sql",
        "SELECT 1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("cannot reach"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// The lake, runs and cluster of a test that kills an executor during a job: a small
/// generated lake, the hashtags job run embedded, and the same job started (not awaited) on
/// a cluster of two executors that are lost 6 s after their last heartbeat, whose processes
/// see `env`.
struct KilledRun {
    embedded: Pulse,
    clustered: Pulse,
    cluster: Cluster,
    job: Running,
}

impl KilledRun {
    fn start(env: &[(&str, String)]) -> KilledRun {
        let embedded = Pulse::new();
        embedded.ok(&[
            "gen",
            "--days",
            "2",
            "--channels",
            "10",
            "--viewers",
            "2000",
            "--tweets-per-sec",
            "0.5",
        ]);
        let mut clustered = Pulse::new();
        copy_dir(&embedded.lake(), &clustered.lake());
        for (k, v) in env {
            clustered.env.push((k.to_string(), v.clone()));
        }
        let cluster = Cluster::start_with(&clustered, 2, "6s", &[], &[]);
        let args = [
            "run",
            "hashtags",
            "--from",
            "2026-01-05",
            "--to",
            "2026-01-07",
            "--set",
            "size=1h",
            "--set",
            "slide=5m",
        ];
        embedded.ok(&args);
        let mut c = clustered.cmd();
        c.args(["--cluster", &cluster.url]).args(args);
        let job = spawn(c);
        KilledRun {
            embedded,
            clustered,
            cluster,
            job,
        }
    }

    /// Waits for the cluster's job and checks it succeeded with the embedded run's outputs.
    fn succeeds_as_embedded(&mut self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(180);
        let status = loop {
            if let Some(s) = self.job.0.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the job hung after {what}");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "the job failed after {what}");
        assert_same_outputs(
            &job_outputs(&self.embedded),
            &job_outputs(&self.clustered),
            &format!("results differ after {what}"),
        );
    }
}

fn sigkill(pid: u32) {
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
}

#[test]
fn a_killed_executor_does_not_lose_the_job_and_none_left_fails_clearly() {
    let mut run = KilledRun::start(&[]);
    // Kill one executor with SIGKILL while the job runs.
    std::thread::sleep(Duration::from_millis(1500));
    sigkill(run.cluster.procs[0].0.id());
    run.succeeds_as_embedded("an executor was killed");
    // With no executor left, a query fails with a clear error in bounded time.
    sigkill(run.cluster.procs[1].0.id());
    let started = Instant::now();
    let out = run.clustered.run(&[
        "--cluster",
        &run.cluster.url,
        "sql",
        "SELECT count(*) FROM messages",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("executors were lost") || err.contains("no executors"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn an_executor_killed_while_writing_leaves_its_files_uncommitted() {
    // The first executor to write hashtag_top's files names itself here and waits.
    let marks = tempfile::tempdir().unwrap();
    let mark = marks.path().join("paused");
    let mut run = KilledRun::start(&[
        ("PULSE_PAUSE_IN_WRITE", "hashtag_top".into()),
        ("PULSE_PAUSE_MARK", mark.to_string_lossy().into_owned()),
    ]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let text = loop {
        if let Ok(t) = std::fs::read_to_string(&mark)
            && t.lines().count() > 1
        {
            break t;
        }
        assert!(
            run.job.0.try_wait().unwrap().is_none(),
            "the job ended before any executor wrote hashtag_top"
        );
        assert!(Instant::now() < deadline, "no executor paused in its write");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut lines = text.lines();
    let victim: u32 = lines.next().unwrap().parse().unwrap();
    let staged: Vec<String> = lines.map(str::to_string).collect();
    assert!(
        run.cluster.procs[..2].iter().any(|p| p.0.id() == victim),
        "the paused process {victim} is not an executor"
    );
    sigkill(victim);
    run.succeeds_as_embedded("an executor was killed while writing");
    // The killed executor's files are in the store, and in no commit of the table.
    let lake = run.clustered.lake();
    let mut log = String::new();
    for e in std::fs::read_dir(lake.join("agg/hashtag_top_1h_5m/_delta_log")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            log.push_str(&std::fs::read_to_string(p).unwrap());
        }
    }
    assert!(!staged.is_empty());
    for rel in &staged {
        assert!(lake.join(rel).exists(), "{rel} was not written");
        let name = rel.rsplit('/').next().unwrap();
        assert!(!log.contains(name), "{rel} was committed");
    }
}

#[test]
fn push_scheduling_runs_queries_too() {
    let p = Pulse::new();
    p.ok(&[
        "gen",
        "--channels",
        "3",
        "--viewers",
        "100",
        "--tweets-per-sec",
        "0.01",
    ]);
    let push = ["--scheduling", "push"];
    let cluster = Cluster::start_with(&p, 1, "180s", &push, &push);
    let q = "SELECT channel_login, count(*) FROM streams GROUP BY 1 ORDER BY 1";
    let out = p.ok(&["--cluster", &cluster.url, "sql", q, "--format", "csv"]);
    let remote: Vec<Vec<String>> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(remote, p.sql(q));
}

#[test]
fn the_nightly_dag_runs_on_the_cluster_as_embedded() {
    let embedded = super::nightly::generated("1");
    let clustered = super::nightly::generated("1");
    embedded.ok(&["nightly", "--date", "2026-01-05"]);
    // Every job on the cluster, also the lake's very first profiles day (no stored
    // profiles to build on yet).
    let cluster = Cluster::start(&clustered, 1);
    let out = clustered.ok(&["--cluster", &cluster.url, "nightly", "--date", "2026-01-05"]);
    assert!(out.contains("13 job(s) succeeded, 0 failed"), "{out}");
    let (a, b) = (
        super::nightly::outputs(&embedded, "2026-01-05"),
        super::nightly::outputs(&clustered, "2026-01-05"),
    );
    assert!(a.len() >= 15, "{:?}", a.keys());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (t, rows) in &a {
        assert!(super::nightly::same_rows(rows, &b[t]), "{t} differs");
    }
}
