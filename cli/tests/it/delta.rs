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
    // 3,000 tweets over two hours of one day (10:00 to 11:40), landed 50 per flush: 60 commits.
    let input = tweets_every(&p, "t.jsonl", 18_000, 3000, 2);
    let replay = || p.ok(&["ingest", "replay", &input, "--flush-rows", "50"]);
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

/// Tweets `from..from + n`, tweet `i` at `i * step` seconds after 2026-01-05T00:00:00Z,
/// written as a replay input.
fn tweets_every(p: &Pulse, file: &str, from: usize, n: usize, step: usize) -> String {
    let path = p.dir.path().join(file);
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z").unwrap();
    let lines: String = (from..from + n)
        .map(|i| {
            let t = t0 + chrono::Duration::seconds((i * step) as i64);
            format!(
                "{{\"created_at\":\"{}\",\"text\":\"t{i} #x{}\"}}\n",
                t.format("%Y-%m-%dT%H:%M:%SZ"),
                i % 5
            )
        })
        .collect();
    std::fs::write(&path, lines).unwrap();
    path.to_str().unwrap().to_string()
}

/// The default hashtags job over 2026-01-05.
const HASHTAGS: [&str; 6] = [
    "run",
    "hashtags",
    "--from",
    "2026-01-05",
    "--to",
    "2026-01-06",
];

/// Lands `n` tweets (100 per flush) and runs [`HASHTAGS`] twice: replaced output files.
/// Returns the input.
fn land_and_run_twice(p: &Pulse, n: usize) -> String {
    let input = tweets(p, "a.jsonl", 0, n);
    p.ok(&["ingest", "replay", &input, "--flush-rows", "100"]);
    p.ok(&HASHTAGS);
    p.ok(&HASHTAGS);
    input
}

/// Tweets for `2026-01-05` from `from` on, one per second, written as a replay input.
fn tweets(p: &Pulse, file: &str, from: usize, n: usize) -> String {
    tweets_every(p, file, from, n, 1)
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

/// Two ingest workers and a compaction commit to the same table at once: no commit is lost.
#[test]
fn concurrent_writers_lose_no_commit() {
    let p = Pulse::new();
    let a = tweets(&p, "a.jsonl", 0, 1200);
    let b = tweets(&p, "b.jsonl", 1200, 1200);
    // Something to compact while they land.
    let c = tweets(&p, "c.jsonl", 2400, 600);
    p.ok(&["ingest", "replay", &c, "--flush-rows", "50"]);
    let spawn = |args: &[&str]| {
        let mut c = p.cmd();
        c.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
        Running(c.spawn().unwrap())
    };
    let workers = [
        spawn(&["ingest", "replay", &a, "--flush-rows", "40"]),
        spawn(&["ingest", "replay", &b, "--flush-rows", "40"]),
        spawn(&["run", "compact", "--date", "2026-01-05"]),
    ];
    for mut w in workers {
        let status = w.0.wait().unwrap();
        let mut err = String::new();
        if let Some(mut e) = w.0.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut err).unwrap();
        }
        assert!(status.success(), "a writer failed: {err}");
    }
    assert_eq!(p.count("SELECT count(*) FROM messages"), 3000);
    assert_eq!(
        p.count("SELECT count(DISTINCT text) FROM messages"),
        3000,
        "a row landed twice"
    );
    // Every append is in the log: 12 + 30 + 30 flushes, each one commit.
    let history = p.ok(&["lake", "history", "messages"]);
    let writes = history.lines().filter(|l| l.contains("\tWRITE\t")).count();
    assert_eq!(writes, 72, "{history}");
}

/// A reader polling while a job reruns over two days sees each day whole, once.
#[test]
fn a_reader_never_sees_a_rerun_day_missing_or_doubled() {
    let p = Pulse::new();
    // 2,000 tweets over two days.
    let input = tweets_every(&p, "two-days.jsonl", 0, 2000, 86);
    p.ok(&["ingest", "replay", &input]);
    let run = [
        "run",
        "hashtags",
        "--from",
        "2026-01-05",
        "--to",
        "2026-01-07",
        "--set",
        "size=1h",
        "--set",
        "slide=10m",
    ];
    p.ok(&run);
    let q = "SELECT dt, count(*), sum(n) FROM hashtag_counts_1h_10m GROUP BY dt ORDER BY dt";
    let expected = p.sql(q);
    assert_eq!(expected.len(), 2, "{expected:?}");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let lake = p.lake();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || seen.is_empty() {
                let out = Command::new(env!("CARGO_BIN_EXE_pulse"))
                    .args(["--lake", lake.to_str().unwrap(), "sql", q])
                    .args(["--format", "csv"])
                    .env("RUST_LOG", "error")
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let rows: Vec<String> = String::from_utf8(out.stdout)
                    .unwrap()
                    .lines()
                    .skip(1)
                    .map(str::to_string)
                    .collect();
                seen.push(rows);
            }
            seen
        })
    };
    for _ in 0..3 {
        p.ok(&run);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.join().unwrap();
    let want: Vec<String> = expected.iter().map(|r| r.join(",")).collect();
    for s in &seen {
        assert_eq!(*s, want, "a reader saw a day missing or doubled");
    }
    assert!(seen.len() >= 2, "the reader ran {} times", seen.len());
}

/// Optimize replaces files in the log only; vacuum deletes them once the retention has
/// passed, and files a killed run left uncommitted too, never a live file.
#[test]
fn vacuum_deletes_only_files_no_reader_needs() {
    let p = Pulse::new();
    land_and_run_twice(&p, 2000);
    p.ok(&["run", "compact", "--date", "2026-01-05"]);
    // A stray file of a run that died before its commit.
    let stray = "agg/hashtag_counts_20s_10s/dt=2026-01-05/c-0123456789abcdef-0000.parquet";
    let live = p.files("agg/hashtag_counts_20s_10s");
    std::fs::copy(p.lake().join(&live[0]), p.lake().join(stray)).unwrap();
    let counts = |p: &Pulse| {
        (
            p.count("SELECT count(*) FROM messages"),
            p.count("SELECT count(*) FROM hashtag_counts_20s_10s"),
        )
    };
    let before = counts(&p);
    assert_eq!(before.0, 2000);
    for t in ["raw/messages", "agg/hashtag_counts_20s_10s"] {
        assert!(p.files_on_disk(t).len() > p.files(t).len(), "{t}");
    }
    // Within the retention nothing goes: a query that listed the old files can finish.
    let on_disk = p.files_on_disk("raw/messages");
    p.vacuum("1h");
    assert_eq!(p.files_on_disk("raw/messages"), on_disk);
    p.vacuum("0s");
    for t in ["raw/messages", "agg/hashtag_counts_20s_10s"] {
        assert_eq!(p.files_on_disk(t), p.files(t), "{t}");
    }
    assert_eq!(counts(&p), before);
    let history = p.ok(&["lake", "history", "messages"]);
    assert!(history.contains("VACUUM END"), "{history}");
}

/// A lake in the layout before Delta tables is refused until `pulse lake migrate` commits
/// what its markers showed; afterwards Pulse and replays behave as before.
#[test]
fn a_lake_from_before_delta_is_refused_then_migrated() {
    let p = Pulse::new();
    let input = land_and_run_twice(&p, 1500);
    let q = "SELECT count(*), sum(n) FROM hashtag_counts_20s_10s";
    let hashtags = p.sql(q);
    // The old layout: no Delta logs; a compaction's marker replaced a landed file with its
    // copy; the job's output committed by a marker; a staged file no marker committed.
    for dir in ["raw/messages", "agg/hashtag_counts_20s_10s", "sys/runs"] {
        std::fs::remove_dir_all(p.lake().join(dir).join("_delta_log")).unwrap();
    }
    for dir in std::fs::read_dir(p.lake().join("agg")).unwrap() {
        let log = dir.unwrap().path().join("_delta_log");
        if log.exists() {
            std::fs::remove_dir_all(log).unwrap();
        }
    }
    let on_disk = p.files_on_disk("raw/messages");
    let first = p.lake().join(&on_disk[0]);
    let hour = first.parent().unwrap();
    let name = first.file_name().unwrap().to_str().unwrap().to_string();
    std::fs::copy(&first, hour.join("c-00000000000000aa-0000.parquet")).unwrap();
    let marker = |generation: &str, replaces: &[&str]| {
        serde_json::json!({"version": 1, "generation": generation, "replaces": replaces, "adds": []})
            .to_string()
    };
    std::fs::write(
        hour.join("_commit-00000000000000aa.json"),
        marker("00000000000000aa", &[&name]),
    )
    .unwrap();
    let out_dir = p.lake().join("agg/hashtag_counts_20s_10s/dt=2026-01-05");
    let output: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().to_string())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    assert_eq!(output.len(), 2, "two runs' outputs: {output:?}");
    // Commit the second run's file; the first stays as a staged file nobody committed.
    let newest = output
        .iter()
        .max_by_key(|n| {
            std::fs::metadata(out_dir.join(n))
                .unwrap()
                .modified()
                .unwrap()
        })
        .unwrap();
    let generation = newest
        .strip_prefix("c-")
        .unwrap()
        .split('-')
        .next()
        .unwrap();
    std::fs::write(
        out_dir.join(format!("_commit-{generation}.json")),
        marker(generation, &[]),
    )
    .unwrap();
    // And a landed file cut short.
    std::fs::write(hour.join("replay-cut.parquet"), b"PAR1 not much").unwrap();

    // Readers and writers refuse the table until it is migrated.
    for args in [&["sql", "SELECT count(*) FROM messages"][..], &HASHTAGS[..]] {
        let out = p.run(args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("data files but no Delta log") && err.contains("pulse lake migrate"),
            "{args:?}: {err}"
        );
    }

    let migrated = p.ok(&["lake", "migrate"]);
    assert!(migrated.contains("raw/messages\t"), "{migrated}");
    assert!(
        migrated.contains("left out, unreadable: raw/messages/") && migrated.contains("replay-cut"),
        "{migrated}"
    );
    assert_eq!(p.files_on_disk("sys/quarantined").len(), 1);
    assert!(
        migrated.contains("agg/hashtag_counts_20s_10s\t1 files"),
        "{migrated}"
    );
    assert_eq!(p.count("SELECT count(*) FROM messages"), 1500);
    assert_eq!(p.count("SELECT count(DISTINCT text) FROM messages"), 1500);
    assert_eq!(p.sql(q), hashtags);
    // Replaying the input again adds nothing; the history still reads; a second migration
    // has nothing to do.
    p.ok(&["ingest", "replay", &input, "--flush-rows", "100"]);
    assert_eq!(p.count("SELECT count(*) FROM messages"), 1500);
    assert!(p.count("SELECT count(*) FROM runs") >= 1);
    assert!(p.ok(&["lake", "migrate"]).contains("nothing to migrate"));
    p.ok(&HASHTAGS);
    assert_eq!(p.sql(q), hashtags);
    // Vacuum now deletes what the old layout hid; the answers stay.
    p.vacuum("0s");
    for t in ["raw/messages", "agg/hashtag_counts_20s_10s"] {
        assert_eq!(p.files_on_disk(t), p.files(t), "{t}");
    }
    assert_eq!(p.count("SELECT count(*) FROM messages"), 1500);
    assert_eq!(p.sql(q), hashtags);
}
