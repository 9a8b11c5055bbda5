//! `pulse sql`: output formats, files of statements, partition pruning and errors.

use super::Pulse;

fn small_world() -> Pulse {
    let p = Pulse::new();
    p.ok(&[
        "gen",
        "--days",
        "2",
        "--channels",
        "4",
        "--viewers",
        "200",
        "--tweets-per-sec",
        "0.01",
    ]);
    p
}

#[test]
fn formats_files_and_partition_filters() {
    let p = small_world();
    let total = p.count("SELECT count(*) FROM presence");
    let day1 = p.count("SELECT count(*) FROM presence WHERE dt = '2026-01-05'");
    let day2 = p.count("SELECT count(*) FROM presence WHERE dt = '2026-01-06'");
    assert!(day1 > 0 && day2 > 0);
    assert_eq!(day1 + day2, total);
    // Partition values agree with the time column.
    assert_eq!(p.count("SELECT count(*) FROM presence WHERE dt <> to_char(snapshot_time, '%Y-%m-%d') OR hour <> date_part('hour', snapshot_time)"), 0);
    // The dt filter prunes files: the plan lists only that day's files.
    let plan = p.ok(&[
        "sql",
        "EXPLAIN SELECT count(DISTINCT viewer_login) FROM presence WHERE dt = '2026-01-06'",
        "--format",
        "csv",
    ]);
    assert!(
        plan.contains("dt=2026-01-06") && !plan.contains("dt=2026-01-05"),
        "{plan}"
    );

    let json = p.ok(&[
        "sql",
        "SELECT channel_login, count(*) AS n FROM streams GROUP BY 1 ORDER BY 1 LIMIT 2",
        "--format",
        "json",
    ]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["n"].as_i64().unwrap() > 0);

    let script = p.dir.path().join("q.sql");
    std::fs::write(&script, "-- two statements\nCREATE VIEW v AS SELECT viewer_login FROM presence WHERE dt = '2026-01-05';\nSELECT count(*) FROM v;\n").unwrap();
    let out = p.ok(&["sql", "-f", script.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(out.lines().nth(1).unwrap(), day1.to_string());

    let pq = p.dir.path().join("out.parquet");
    p.ok(&[
        "sql",
        "SELECT * FROM categories",
        "--format",
        "parquet",
        "--output",
        pq.to_str().unwrap(),
    ]);
    let bytes = bytes::Bytes::from(std::fs::read(&pq).unwrap());
    let n: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(n as i64, p.count("SELECT count(*) FROM categories"));
}

#[test]
fn a_trailing_ddl_statement_runs_once() {
    let p = Pulse::new();
    // The last statement was planned a second time for its schema: "Table 'v' already exists".
    let out = p.ok(&["sql", "CREATE VIEW v AS SELECT 1 AS x"]);
    assert!(!out.contains("error"), "{out}");
    let out = p.ok(&[
        "sql",
        "CREATE VIEW v AS SELECT 1 AS x; SELECT x + 1 AS y FROM v",
        "--format",
        "csv",
    ]);
    assert_eq!(out, "y\n2\n");
}

#[test]
fn bad_queries_fail_with_datafusion_message() {
    let p = Pulse::new();
    let out = p.run(&["sql", "SELECT nope FROM presence"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope"), "{err}");
    let out = p.run(&["sql", "SELEC 1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SELEC"));
    // An empty lake still has every table, the quarantine of every source included.
    assert_eq!(p.count("SELECT count(*) FROM streams"), 0);
    for source in pulse_lake::schema::source::ALL {
        assert_eq!(
            p.count(&format!("SELECT count(*) FROM quarantine_{source}")),
            0
        );
    }
    let bad_flag = p.run(&["sql", "--format", "xml", "SELECT 1"]);
    assert_eq!(bad_flag.status.code(), Some(2));
}

#[test]
fn the_interactive_prompt_runs_statements_from_stdin() {
    let p = small_world();
    let mut child = p
        .cmd()
        .arg("sql")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"SELECT count(*) AS n\nFROM channels;\n\\q\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("| 8 ") && s.contains("1 row(s)"), "{s}");
}

#[test]
fn generation_is_deterministic_and_plants_bots() {
    let a = Pulse::new();
    let b = Pulse::new();
    for p in [&a, &b] {
        p.ok(&[
            "gen",
            "--channels",
            "30",
            "--viewers",
            "300",
            "--bots",
            "2",
            "--seed",
            "7",
        ]);
    }
    let fa = a.files("raw");
    assert_eq!(fa, b.files("raw"));
    for f in &fa {
        assert_eq!(
            std::fs::read(a.lake().join(f)).unwrap(),
            std::fs::read(b.lake().join(f)).unwrap(),
            "{f}"
        );
    }
    // The bots are the only accounts in many chats at once.
    let heavy = a.sql("SELECT viewer_login FROM (SELECT snapshot_time, viewer_login, count(*) AS n FROM presence GROUP BY 1, 2) WHERE n >= 10 GROUP BY 1 ORDER BY 1");
    assert_eq!(heavy.len(), 2, "{heavy:?}");
    assert!(heavy.iter().all(|r| r[0].ends_with("_bot")));
}
