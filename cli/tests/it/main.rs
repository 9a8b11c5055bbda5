//! Integration tests of the `pulse` binary: each test runs the real binary as a process
//! against real files, real TCP peers and a real HTTP server on loopback, and checks what
//! landed by querying the lake with `pulse sql`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::new_without_default)]

mod cluster;
mod compact;
mod delta;
mod demo;
mod graph;
mod jobs;
mod lake_check;
mod live;
mod nightly;
mod profiles;
mod replay;
mod s3;
mod security;
mod shared_data;
mod socket;
mod sql;
mod twitch;
mod user_jobs;
mod web;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A lake in a temp dir and helpers to run `pulse` against it.
pub struct Pulse {
    pub dir: tempfile::TempDir,
    /// A lake URL other than the temp dir (e.g. `s3://...`).
    pub lake_url: Option<String>,
    /// Extra environment for every command.
    pub env: Vec<(String, String)>,
}

impl Pulse {
    pub fn new() -> Pulse {
        Pulse {
            dir: tempfile::tempdir().unwrap(),
            lake_url: None,
            env: Vec::new(),
        }
    }

    pub fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    /// A `pulse` command with `--lake` set and a clean environment for config.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pulse"));
        match &self.lake_url {
            Some(u) => c.arg("--lake").arg(u),
            None => c.arg("--lake").arg(self.lake()),
        };
        c.current_dir(self.dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("PULSE") || k.starts_with("TWITCH_") || k.starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        c.env("RUST_LOG", "warn");
        // State (write-ahead logs, local clusters) stays in the test's directory.
        c.env("XDG_STATE_HOME", self.dir.path().join("state"));
        c.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    /// Runs `pulse ARGS` and asserts it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "pulse {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs the `vacuum` job (it works on whole tables; the interval only names the run).
    pub fn vacuum(&self, retention: &str) -> String {
        self.ok(&[
            "run",
            "vacuum",
            "--from",
            "2026-01-05",
            "--to",
            "2026-01-06",
            "--retention",
            retention,
        ])
    }

    /// Runs a query and returns the rows as strings (CSV cells), header dropped.
    pub fn sql(&self, q: &str) -> Vec<Vec<String>> {
        let out = self.ok(&["sql", q, "--format", "csv"]);
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(out.as_bytes());
        r.records()
            .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    /// A single number from a query.
    pub fn count(&self, q: &str) -> i64 {
        let rows = self.sql(q);
        assert_eq!(rows.len(), 1, "{q}: {rows:?}");
        rows[0][0].parse().unwrap()
    }

    /// Relative paths of the Parquet files under `rel` that readers see, sorted.
    pub fn files(&self, rel: &str) -> Vec<String> {
        let lake =
            pulse_lake::Lake::open(self.lake().to_str().unwrap(), &Default::default()).unwrap();
        let root = format!("{}/", lake.path(""));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let files = rt
            .block_on(pulse_lake::catalog::list_files(&lake, rel))
            .unwrap();
        files
            .into_iter()
            .map(|(p, _)| p.to_string().trim_start_matches(&root).to_string())
            .collect()
    }

    /// Every Parquet file on disk under `rel`, hidden ones included.
    pub fn files_on_disk(&self, rel: &str) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.lake().join(rel), &self.lake(), &mut out);
        out.sort();
        out
    }
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

/// A child process killed when dropped, also when a test fails.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "pulse did not stop on SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Reads stdout lines until one starts with `prefix`; returns the rest of it.
    pub fn read_until(&mut self, prefix: &str) -> String {
        let stdout = self.0.stdout.as_mut().unwrap();
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                r.read_line(&mut line).unwrap() > 0,
                "pulse exited before printing {prefix:?}"
            );
            if let Some(rest) = line.trim().strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    }
}

/// The job output tables `p`'s lake holds files of (under `agg/`), sorted.
pub fn written_tables(p: &Pulse) -> Vec<String> {
    let files = p.files_on_disk("agg");
    let mut tables: Vec<String> = files
        .iter()
        .filter_map(|f| Some(f.strip_prefix("agg/")?.split('/').next()?.to_string()))
        .collect();
    tables.dedup();
    tables
}

/// Every windowed job's output table that `p`'s lake holds, with its rows, sorted: for
/// comparing two lakes.
pub fn job_outputs(p: &Pulse) -> Vec<(String, Vec<Vec<String>>)> {
    written_tables(p)
        .into_iter()
        .filter(|t| {
            t.starts_with("hashtag") || t.starts_with("category") || t.starts_with("channel_")
        })
        .map(|t| {
            let mut rows = p.sql(&format!("SELECT * FROM {t}"));
            rows.sort();
            (t, rows)
        })
        .collect()
}

/// Asserts two lakes' job outputs are equal; on a difference it names each table that
/// differs with its row counts and a few rows only one side has (not every row of both).
#[track_caller]
pub fn assert_same_outputs(
    a: &[(String, Vec<Vec<String>>)],
    b: &[(String, Vec<Vec<String>>)],
    what: &str,
) {
    if a == b {
        return;
    }
    let names =
        |o: &[(String, Vec<Vec<String>>)]| o.iter().map(|t| t.0.clone()).collect::<Vec<_>>();
    let mut report = format!("{what}: tables {:?} vs {:?}\n", names(a), names(b));
    for (t, rows) in a {
        let Some((_, other)) = b.iter().find(|o| &o.0 == t) else {
            continue;
        };
        if rows == other {
            continue;
        }
        let only = |x: &[Vec<String>], y: &[Vec<String>]| {
            x.iter()
                .filter(|r| !y.contains(r))
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
        };
        report += &format!(
            "{t}: {} rows vs {}; only left: {:?}; only right: {:?}\n",
            rows.len(),
            other.len(),
            only(rows, other),
            only(other, rows)
        );
    }
    panic!("{report}");
}

/// Checks that every job output `p`'s lake holds (under `agg/`) is, on a new lake, already
/// a table with no rows and the same columns and types; returns how many were compared.
pub fn outputs_exist_empty_on_a_new_lake(p: &Pulse) -> usize {
    let columns = |p: &Pulse, t: &str| {
        p.sql(&format!(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_name = '{t}' ORDER BY ordinal_position"
        ))
    };
    let new = Pulse::new();
    let tables = written_tables(p);
    for t in &tables {
        let want = columns(p, t);
        assert!(!want.is_empty(), "{t}");
        assert_eq!(columns(&new, t), want, "{t} on a new lake");
        assert_eq!(new.count(&format!("SELECT count(*) FROM {t}")), 0, "{t}");
    }
    tables.len()
}

/// A path in `../shared/data`, or `None` (with a message) when that folder is absent, as in
/// a user's clone.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} is absent", p.display());
        None
    }
}

pub fn spawn(mut c: Command) -> Running {
    Running(
        c.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}
