//! Lake tables are Delta tables: tools that are not Pulse read exactly what Pulse reads, after
//! ingest, an idempotent replay, a job's rerun, a compaction and a run killed between writing
//! its files and committing them. The readers are Python's `deltalake` and the test's own
//! follower of `_delta_log` with DuckDB reading the files it names (`delta/readers.py`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Pulse, Running};

/// Python with `deltalake` and `duckdb` (`.ci/run` installs both), or None with a message.
fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import deltalake, duckdb, pyarrow"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: python3 with deltalake, duckdb and pyarrow is not installed");
    }
    ok.then_some("python3")
}

/// What `pulse sql` and the two outside readers see of each table: (rows, checksum).
fn compare(p: &Pulse, py: &str, tables: &[(&str, &str, &str, &str)]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/delta/readers.py");
    let mut args = vec![script.to_string(), p.lake().to_str().unwrap().to_string()];
    for (_, dir, col, kind) in tables {
        args.push(format!("{dir}:{col}:{kind}"));
    }
    let out = Command::new(py).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "readers.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (name, dir, col, kind) in tables {
        let expr = if *kind == "len" {
            format!("length({col})")
        } else {
            col.to_string()
        };
        let row = &p.sql(&format!(
            "SELECT count(*), CAST(coalesce(sum({expr}), 0) AS BIGINT) FROM {name}"
        ))[0];
        let pulse: Vec<i64> = row.iter().map(|v| v.parse().unwrap()).collect();
        assert!(pulse[0] > 0, "{name} is empty");
        for reader in ["deltalake", "log+duckdb"] {
            let got: Vec<i64> = seen[dir][reader]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!(
                got, pulse,
                "{reader} reads {dir} differently from pulse sql"
            );
        }
    }
}

#[test]
fn outside_readers_see_what_pulse_sees() {
    let Some(py) = python() else { return };
    let p = Pulse::new();
    let input = p.dir.path().join("t.jsonl");
    // 3,000 tweets over two hours of one day, landed 50 per flush: 60 commits.
    let lines: String = (0..3000)
        .map(|i| {
            format!(
                "{{\"created_at\":\"2026-01-05T{:02}:{:02}:{:02}Z\",\"text\":\"t{i} #x{}\"}}\n",
                10 + i / 1500,
                (i % 1500) / 25,
                i % 25,
                i % 7
            )
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let replay = || {
        p.ok(&[
            "ingest",
            "replay",
            input.to_str().unwrap(),
            "--flush-rows",
            "50",
        ])
    };
    let tables = [
        ("messages", "raw/messages", "text", "len"),
        (
            "hashtag_counts_1h_10m",
            "agg/hashtag_counts_1h_10m",
            "n",
            "sum",
        ),
    ];
    let run = [
        "run",
        "hashtags",
        "--from",
        "2026-01-05",
        "--to",
        "2026-01-06",
        "--set",
        "size=1h",
        "--set",
        "slide=10m",
    ];
    replay();
    // The same input again adds nothing, for Pulse and for everyone else.
    replay();
    assert_eq!(p.count("SELECT count(*) FROM messages"), 3000);
    p.ok(&run);
    p.ok(&run);
    compare(&p, py, &tables);
    p.ok(&["run", "compact", "--date", "2026-01-05"]);
    replay();
    compare(&p, py, &tables);
    assert_eq!(p.count("SELECT count(*) FROM messages"), 3000);

    // A run killed after writing its files and before committing them.
    let out_dir = p.lake().join("agg/hashtag_counts_1h_10m/dt=2026-01-05");
    let before = std::fs::read_dir(&out_dir).unwrap().count();
    let mut c = p.cmd();
    c.args(run)
        .env("PULSE_PAUSE_BEFORE_COMMIT", "hashtag_counts_1h_10m")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut runner = Running(c.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_dir(&out_dir).unwrap().count() == before {
        assert!(Instant::now() < deadline, "the run never wrote its files");
        assert!(
            runner.0.try_wait().unwrap().is_none(),
            "the run ended early"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    runner.0.kill().unwrap();
    runner.0.wait().unwrap();
    compare(&p, py, &tables);
}

/// Tweets for `2026-01-05` from `from` on, one per second, written as a replay input.
fn tweets(p: &Pulse, file: &str, from: usize, n: usize) -> String {
    let path = p.dir.path().join(file);
    let lines: String = (from..from + n)
        .map(|i| {
            format!(
                "{{\"created_at\":\"2026-01-05T{:02}:{:02}:{:02}Z\",\"text\":\"t{i} #x{}\"}}\n",
                i / 3600,
                (i % 3600) / 60,
                i % 60,
                i % 5
            )
        })
        .collect();
    std::fs::write(&path, lines).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn every_version_reads_back_as_its_history_says() {
    let p = Pulse::new();
    let first = tweets(&p, "a.jsonl", 0, 1000);
    p.ok(&["ingest", "replay", &first, "--flush-rows", "250"]);
    // Commit times are in milliseconds: this instant falls between the two ingests.
    std::thread::sleep(Duration::from_millis(1100));
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    std::thread::sleep(Duration::from_millis(1100));
    let second = tweets(&p, "b.jsonl", 1000, 500);
    p.ok(&["ingest", "replay", &second, "--flush-rows", "250"]);
    p.ok(&["run", "compact", "--date", "2026-01-05"]);
    assert_eq!(p.count("SELECT count(*) FROM messages"), 1500);

    let history = p.ok(&["lake", "history", "messages"]);
    let rows: Vec<Vec<&str>> = history
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    // Created, four appends, two appends, one optimize.
    let ops: Vec<&str> = rows.iter().map(|r| r[2]).collect();
    assert_eq!(ops.first(), Some(&"CREATE TABLE"), "{history}");
    assert_eq!(
        ops.iter().filter(|o| **o == "WRITE").count(),
        6,
        "{history}"
    );
    assert_eq!(ops.last(), Some(&"OPTIMIZE"), "{history}");
    // Each version holds what the commits up to it added less what they removed.
    let mut live = 0i64;
    for r in &rows {
        let n = |i: usize| r[i].parse::<i64>().unwrap();
        live += n(4) - n(6);
        let q = format!("SELECT count(*) FROM \"messages@v{}\"", r[0]);
        assert_eq!(p.count(&q), live, "version {}: {history}", r[0]);
    }
    assert_eq!(live, 1500);
    let optimize = rows.last().unwrap();
    assert!(optimize[5].parse::<i64>().unwrap() > 1, "{history}");
    assert_eq!(
        optimize[4], optimize[6],
        "an optimize moves rows, adds none: {history}"
    );
    // By time: the table between the two ingests.
    let q = format!("SELECT count(*) FROM \"messages@{between}\"");
    assert_eq!(p.count(&q), 1000);
    // Mistakes name what is wrong.
    for (name, says) in [
        ("messages@v999", "the newest version of messages is v"),
        ("messages@yesterday", "bad point in time"),
        ("messages@2020-01-01", "did not exist yet"),
    ] {
        let out = p.run(&["sql", &format!("SELECT count(*) FROM \"{name}\"")]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{name}: {err}");
    }
    let out = p.run(&["lake", "history", "no_such_table"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_table"));
}
