//! Compaction: many small files become few, rows are kept, readers during the swap see the
//! old set or the new set (never both or neither), reruns change nothing, and replaying
//! already-compacted input stays idempotent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Pulse;

#[test]
fn compaction_swaps_files_atomically_and_keeps_every_row() {
    let p = Pulse::new();
    let dir = p.dir.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    // 3,000 tweets over two hours of one day, landed 50 per flush: many small files.
    let lines: String = (0..3000)
        .map(|i| {
            format!(
                "{{\"created_at\":\"2026-01-05T{:02}:{:02}:{:02}Z\",\"text\":\"t{i} #x\"}}\n",
                10 + i / 1500,
                (i % 1500) / 25,
                i % 25
            )
        })
        .collect();
    let f = dir.join("t.jsonl");
    std::fs::write(&f, lines).unwrap();
    p.ok(&[
        "ingest",
        "replay",
        f.to_str().unwrap(),
        "--flush-rows",
        "50",
    ]);
    let before = p.files("raw/messages");
    assert_eq!(before.len(), 60, "{before:?}");

    // A reader queries over and over while compaction runs.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let lake = p.lake();
        std::thread::spawn(move || {
            let mut counts = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
                    .args([
                        "--lake",
                        lake.to_str().unwrap(),
                        "sql",
                        "SELECT count(*) FROM messages",
                        "--format",
                        "csv",
                    ])
                    .env("RUST_LOG", "error")
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                counts.push(
                    String::from_utf8(out.stdout)
                        .unwrap()
                        .lines()
                        .nth(1)
                        .unwrap()
                        .to_string(),
                );
            }
            counts
        })
    };
    let out = p.ok(&["compact", "--date", "2026-01-05"]);
    stop.store(true, Ordering::SeqCst);
    let counts = reader.join().unwrap();
    assert!(
        counts.iter().all(|c| c == "3000"),
        "a reader saw a partial set: {counts:?}"
    );
    assert!(out.contains("messages"), "{out}");

    let after = p.files("raw/messages");
    assert_eq!(after.len(), 2, "one file per hour partition: {after:?}");
    assert!(after.iter().all(|f| f.contains("/c-")), "{after:?}");
    assert_eq!(p.count("SELECT count(*) FROM messages"), 3000);
    assert_eq!(p.count("SELECT count(DISTINCT text) FROM messages"), 3000);
    // The merged files are sorted by time and carry the schema version.
    let first = p.sql("SELECT text FROM messages WHERE hour = 10 LIMIT 1");
    assert_eq!(first, vec![vec!["t0 #x"]]);

    // Rerunning compaction rewrites nothing; replaying the input again adds nothing.
    p.ok(&["compact", "--date", "2026-01-05"]);
    assert_eq!(p.files("raw/messages"), after);
    p.ok(&[
        "ingest",
        "replay",
        f.to_str().unwrap(),
        "--flush-rows",
        "50",
    ]);
    assert_eq!(p.count("SELECT count(*) FROM messages"), 3000);
    // New data after compaction stays visible beside the compacted files.
    let extra = dir.join("extra.jsonl");
    std::fs::write(
        &extra,
        "{\"created_at\":\"2026-01-05T10:30:00Z\",\"text\":\"late\"}\n",
    )
    .unwrap();
    p.ok(&["ingest", "replay", extra.to_str().unwrap()]);
    assert_eq!(p.count("SELECT count(*) FROM messages"), 3001);
    p.ok(&["compact", "--date", "2026-01-05"]);
    assert_eq!(p.count("SELECT count(*) FROM messages"), 3001);
    assert_eq!(p.files("raw/messages").len(), 2);
    // Replaced files wait out the retention; a vacuum without retention deletes them.
    assert!(p.files_on_disk("raw/messages").len() > 60);
    p.vacuum("0s");
    assert_eq!(p.files_on_disk("raw/messages"), p.files("raw/messages"));
    assert_eq!(p.count("SELECT count(*) FROM messages"), 3001);
}

#[test]
fn compacted_files_carry_the_schema_version() {
    let p = Pulse::new();
    p.ok(&[
        "gen",
        "--channels",
        "3",
        "--viewers",
        "50",
        "--tweets-per-sec",
        "0.01",
    ]);
    p.ok(&["compact", "--date", "2026-01-05"]);
    let f = p.files("raw/presence").into_iter().next().unwrap();
    let bytes = std::fs::read(p.lake().join(&f)).unwrap();
    let reader =
        parquet::file::reader::SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    use parquet::file::reader::FileReader;
    let kv = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    assert!(
        kv.iter()
            .any(|k| k.key == "pulse.schema_version" && k.value.as_deref() == Some("1")),
        "{kv:?}"
    );
}
