//! A truncated Parquet file in the lake: queries and jobs fail naming it, `pulse lake check`
//! finds it, `--quarantine` hides it (keeping its bytes) and the job runs again.

use super::Pulse;

/// A query over `streams` that reads every file's rows.
const READS_ROWS: &str = "SELECT count(DISTINCT channel_id) FROM streams";

fn rows_of(path: &std::path::Path) -> usize {
    let bytes = bytes::Bytes::from(std::fs::read(path).unwrap());
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum()
}

/// A generated lake of four channels over one day.
fn small_lake() -> Pulse {
    let p = Pulse::new();
    p.ok(&[
        "gen",
        "--channels",
        "4",
        "--viewers",
        "100",
        "--tweets-per-sec",
        "0.01",
    ]);
    p
}

#[test]
fn a_truncated_file_is_named_found_and_quarantined() {
    let p = small_lake();
    let total = p.count("SELECT count(*) FROM streams");
    let files = p.files("raw/streams");
    assert!(files.len() > 1, "{files:?}");
    let victim = files[0].clone();
    let on_disk = p.lake().join(&victim);
    let lost = rows_of(&on_disk) as i64;
    let bytes = std::fs::read(&on_disk).unwrap();
    std::fs::write(&on_disk, &bytes[..bytes.len() / 2]).unwrap();
    let date = victim
        .split('/')
        .find_map(|s| s.strip_prefix("dt="))
        .unwrap()
        .to_string();

    // A query that reads rows and a job fail with an error naming the file. (A bare
    // count(*) is answered from the Delta log's statistics, as by other Delta readers.)
    let out = p.run(&["sql", READS_ROWS]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&victim), "{err}");
    let job = ["run", "channels", "--date", &date];
    let out = p.run(&job);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&victim), "{err}");

    // The check finds it (and only it) and fails while it is visible.
    let out = p.run(&["lake", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let unreadable: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("unreadable:"))
        .collect();
    assert_eq!(unreadable.len(), 1, "{stdout}");
    assert!(unreadable[0].contains(&victim) && unreadable[0].contains("table streams"));
    // Narrowed to another table it finds nothing, pages included.
    p.ok(&["lake", "check", "--table", "messages", "--pages"]);

    // Quarantined: hidden from readers, bytes kept, listed; the job runs on the rest.
    let out = p.ok(&["lake", "check", "--quarantine"]);
    assert!(out.contains(&format!("quarantined: {victim}")), "{out}");
    assert!(!p.files("raw/streams").contains(&victim));
    assert_eq!(p.count("SELECT count(*) FROM streams"), total - lost);
    p.ok(&job);
    let kept = p.lake().join("sys/quarantined").join(&victim);
    assert_eq!(std::fs::read(&kept).unwrap(), &bytes[..bytes.len() / 2]);
    let out = p.ok(&["lake", "check", "--pages"]);
    assert!(!out.contains("unreadable:"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains(&victim) && l.contains("kept at sys/quarantined/")),
        "{out}"
    );
}

/// A file a table's Delta log names, deleted behind Pulse's back: queries of the table fail
/// naming it (not answers from less data), a job output with one is left out of sessions,
/// `pulse lake check` reports it and `--quarantine` takes it out of the log.
#[test]
fn a_file_missing_from_the_store_is_named_and_taken_out_of_the_log() {
    let p = small_lake();
    p.ok(&["run", "channels", "--date", "2026-01-05"]);
    let total = p.count("SELECT count(*) FROM streams");
    let victim = p.files("raw/streams")[0].clone();
    let lost = rows_of(&p.lake().join(&victim)) as i64;
    std::fs::remove_file(p.lake().join(&victim)).unwrap();
    let out_file = p.files("agg/channel_daily")[0].clone();
    std::fs::remove_file(p.lake().join(&out_file)).unwrap();

    let out = p.run(&["sql", READS_ROWS]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = victim.rsplit('/').next().unwrap();
    assert!(
        err.contains(name) && err.contains("not in the store"),
        "{err}"
    );
    // Other tables still answer; the output with a missing file is left out, with a warning.
    p.ok(&["sql", "SELECT count(*) FROM presence"]);
    let out = p.run(&[
        "sql",
        "SELECT count(DISTINCT channel_id) FROM channel_daily",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("table left out") && err.contains("not in the store"),
        "{err}"
    );

    let out = p.run(&["lake", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for f in [&victim, &out_file] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(f.as_str()) && l.contains("missing from the store")),
            "{stdout}"
        );
    }
    p.ok(&["lake", "check", "--quarantine"]);
    assert_eq!(p.count("SELECT count(*) FROM streams"), total - lost);
    assert_eq!(p.count("SELECT count(*) FROM channel_daily"), 0);
    p.ok(&["run", "channels", "--date", "2026-01-05"]);
    assert!(p.count("SELECT count(*) FROM channel_daily") > 0);
}
