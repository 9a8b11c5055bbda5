//! The example build's job, run by the real `pulse-custom` binary on a generated lake:
//! embedded, and on a local cluster of that build's scheduler and executor processes
//! (`pulse-custom cluster up`, stopped at the end also when the test fails). Its answers are
//! compared with a brute force over the raw `streams` rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command;

struct Lake(tempfile::TempDir);

impl Lake {
    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pulse-custom"));
        c.arg("--lake").arg(self.0.path().join("lake"));
        c.current_dir(self.0.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("PULSE") {
                c.env_remove(k);
            }
        }
        c.env("RUST_LOG", "warn");
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "pulse-custom {args:?}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn sql(&self, q: &str) -> Vec<Vec<String>> {
        let out = self.ok(&["sql", q, "--format", "csv"]);
        csv::Reader::from_reader(out.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }
}

/// The top `top` channels of `date` by peak viewers (ties by name), with the first UTC hour
/// of the peak, from the raw snapshots.
fn brute_force(lake: &Lake, date: &str, top: usize) -> Vec<(String, i64, i64)> {
    let mut peaks: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in lake.sql(&format!(
        "SELECT channel_login, viewers, CAST(snapshot_time AS BIGINT) FROM streams \
         WHERE dt = '{date}' AND viewers IS NOT NULL"
    )) {
        let (v, t): (i64, i64) = (r[1].parse().unwrap(), r[2].parse().unwrap());
        let hour = t.div_euclid(3_600_000_000).rem_euclid(24);
        let e = peaks.entry(r[0].clone()).or_insert((v, hour));
        if v > e.0 || (v == e.0 && hour < e.1) {
            *e = (v, hour);
        }
    }
    let mut all: Vec<(String, i64, i64)> = peaks.into_iter().map(|(c, (v, h))| (c, v, h)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(top);
    all
}

fn written(lake: &Lake, date: &str) -> Vec<(String, i64, i64)> {
    lake.sql(&format!(
        "SELECT channel_login, peak_viewers, peak_hour FROM channel_peaks WHERE dt = '{date}' \
         ORDER BY rank"
    ))
    .into_iter()
    .map(|r| (r[0].clone(), r[1].parse().unwrap(), r[2].parse().unwrap()))
    .collect()
}

/// Stops the cluster `up` started, also when the test fails.
struct Up<'a>(&'a Lake, String);

impl Drop for Up<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .cmd()
            .args(["cluster", "down", "--state-dir", &self.1])
            .output();
    }
}

#[test]
fn an_own_build_runs_its_rust_job_embedded_and_on_a_cluster_of_that_build() {
    let lake = Lake(tempfile::tempdir().unwrap());
    lake.ok(&["gen", "--days", "1", "--channels", "8", "--viewers", "200"]);
    let list = lake.ok(&["job", "list"]);
    assert!(
        list.lines().any(|l| l.starts_with("channel-peaks")),
        "{list}"
    );

    lake.ok(&[
        "run",
        "channel-peaks",
        "--date",
        "2026-01-05",
        "--set",
        "top=3",
    ]);
    let want = brute_force(&lake, "2026-01-05", 3);
    assert_eq!(want.len(), 3);
    assert_eq!(written(&lake, "2026-01-05"), want);
    // Its parameter is checked as its manifest says.
    let out = lake
        .cmd()
        .args([
            "run",
            "channel-peaks",
            "--date",
            "2026-01-05",
            "--set",
            "top=0",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("top must be at least 1"));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let state = lake.0.path().join("cluster").display().to_string();
    lake.ok(&[
        "cluster",
        "up",
        "--executors",
        "1",
        "--port",
        &port,
        "--state-dir",
        &state,
    ]);
    let _up = Up(&lake, state);
    let url = format!("df://127.0.0.1:{port}");
    lake.ok(&[
        "--cluster",
        &url,
        "run",
        "channel-peaks",
        "--date",
        "2026-01-05",
        "--set",
        "top=5",
    ]);
    assert_eq!(
        written(&lake, "2026-01-05"),
        brute_force(&lake, "2026-01-05", 5)
    );
    // The plans ran on the cluster.
    let jobs = lake.ok(&["--cluster", &url, "jobs"]);
    assert!(jobs.contains("pulse run channel-peaks"), "{jobs}");
}
