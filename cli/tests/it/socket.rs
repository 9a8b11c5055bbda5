//! The socket source against real TCP peers: line framing as a listener, len5 framing as a
//! client, bad frames quarantined, and readers querying while it lands.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use super::{Pulse, spawn};

#[test]
fn line_listener_lands_frames_quarantines_bad_ones_and_flushes_on_sigterm() {
    let p = Pulse::new();
    let mut c = p.cmd();
    c.args([
        "ingest",
        "socket",
        "--listen",
        "127.0.0.1:0",
        "--max-frame",
        "64",
        "--flush-interval",
        "200ms",
    ]);
    let mut child = spawn(c);
    let addr = child.read_until("listening on");
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"hello #world\r\n").unwrap();
    s.write_all(b"{\"created_at\":\"2021-11-27T10:18:33Z\",\"text\":\"json #Tweet\"}\n")
        .unwrap();
    s.write_all(b"bad \xff\xfe bytes\n").unwrap();
    s.write_all(&[b'x'; 100]).unwrap();
    s.write_all(b"\nafter the long one\n").unwrap();
    s.flush().unwrap();
    // A second peer whose last frame is cut off by its disconnect.
    let mut s2 = TcpStream::connect(&addr).unwrap();
    s2.write_all(b"peer two\npartial").unwrap();
    drop(s2);
    // Readers querying while frames land never see a partial file.
    let mut seen = 0;
    for _ in 0..40 {
        let n = p.count("SELECT count(*) FROM messages");
        assert!(n >= seen, "count went down: {n} < {seen}");
        seen = n;
        if n == 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        seen, 4,
        "time-based flushes landed the frames while running"
    );
    drop(s);
    let status = child.terminate();
    assert!(status.success(), "{status:?}");
    let rows = p.sql("SELECT text, source FROM messages ORDER BY text");
    assert_eq!(
        rows,
        vec![
            vec!["after the long one", "socket"],
            vec!["hello #world", "socket"],
            vec!["json #Tweet", "socket"],
            vec!["peer two", "socket"],
        ]
    );
    // The JSON tweet kept its own time.
    assert_eq!(
        p.sql("SELECT dt, hour FROM messages WHERE text = 'json #Tweet'"),
        vec![vec!["2021-11-27", "10"]]
    );
    let q = p.sql(
        "SELECT reason, length(encode(raw, 'hex')) / 2 FROM quarantine_socket ORDER BY reason",
    );
    assert_eq!(
        q,
        vec![
            vec!["frame cut off by disconnect", "7"],
            vec!["frame over max-frame (64 bytes)", "64"],
            vec!["invalid UTF-8", "12"],
        ]
    );
    let origins = p.sql("SELECT origin FROM quarantine_socket WHERE reason = 'invalid UTF-8'");
    assert!(
        origins[0][0].starts_with("127.0.0.1:") && origins[0][0].ends_with("#3"),
        "{origins:?}"
    );
}

#[test]
fn len5_client_reads_until_the_peer_closes() {
    let p = Pulse::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        for msg in ["one #a", "two #b", "three #a"] {
            write!(s, "{:05}{msg}", msg.len()).unwrap();
        }
        s.write_all(b"00003\xff\xff\xff").unwrap();
        s.write_all(b"00020cut").unwrap();
        // Dropping the stream closes it: the last frame is cut off.
    });
    let out = p.run(&["ingest", "socket", "--connect", &addr, "--framing", "len5"]);
    server.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("3 records landed, 2 quarantined"),
        "{stdout}"
    );
    assert_eq!(
        p.sql("SELECT text FROM messages ORDER BY text"),
        vec![vec!["one #a"], vec!["three #a"], vec!["two #b"]]
    );
    let q = p.sql("SELECT reason FROM quarantine_socket ORDER BY reason");
    assert_eq!(
        q,
        vec![
            vec!["frame cut off by disconnect (3 of 20 bytes)"],
            vec!["invalid UTF-8"]
        ]
    );
}

/// The message numbers (`m000123` is 123) of the frames in the complete records a
/// write-ahead log directory holds. Records (see `pulse_ingest::wal`): `length u32 | crc u32 |
/// seq u64 | payload`; a socket's payload (see `pulse_ingest::socket`): the peer (`u32`
/// length, bytes), then per frame `arrival i64 | n u64 | 0 | length u32 | body`.
fn logged(dir: &std::path::Path) -> std::collections::BTreeSet<u64> {
    let u32_at =
        |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let mut numbers = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "wal") {
            continue;
        }
        let b = std::fs::read(&path).unwrap();
        let mut at = 0;
        while at + 16 <= b.len() {
            let len = u32_at(&b, at);
            if at + 16 + len > b.len() {
                break;
            }
            let payload = &b[at + 16..at + 16 + len];
            let mut f = 4 + u32_at(payload, 0);
            while f < payload.len() {
                assert_eq!(payload[f + 16], 0, "a frame with a body");
                let body_len = u32_at(payload, f + 17);
                let body = std::str::from_utf8(&payload[f + 21..f + 21 + body_len]).unwrap();
                numbers.insert(body[1..7].parse::<u64>().unwrap());
                f += 21 + body_len;
            }
            at += 16 + len;
        }
    }
    numbers
}

fn landed_numbers(p: &Pulse) -> Vec<u64> {
    p.sql("SELECT text FROM messages ORDER BY text")
        .iter()
        .map(|r| {
            r[0].trim_start_matches('m')
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn a_worker_killed_mid_stream_lands_every_logged_frame_once_after_a_restart() {
    let p = Pulse::new();
    let wal = p.dir.path().join("wal");
    let wal_arg = wal.display().to_string();
    let worker = || {
        let mut c = p.cmd();
        c.args([
            "ingest",
            "socket",
            "--listen",
            "127.0.0.1:0",
            "--wal-dir",
            &wal_arg,
            "--flush-rows",
            "700",
            "--flush-interval",
            "1h",
        ]);
        spawn(c)
    };
    let mut child = worker();
    let addr = child.read_until("listening on");
    let sender = std::thread::spawn(move || {
        let mut s = TcpStream::connect(&addr).unwrap();
        for chunk in 0..1000 {
            let mut frames = String::new();
            for i in chunk * 50..(chunk + 1) * 50 {
                frames.push_str(&format!("m{i:06} #wal\n"));
            }
            if s.write_all(frames.as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    // Kill it (no flush) once two flushes landed and frames wait in the log.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let landed = p.count("SELECT count(*) FROM messages");
        if landed >= 1400 && !logged(&wal).is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "only {landed} landed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    sender.join().unwrap();
    let before: std::collections::BTreeSet<u64> = landed_numbers(&p).into_iter().collect();
    let logged_then = logged(&wal);
    assert!(
        !logged_then.is_empty(),
        "the kill came after everything landed"
    );
    // A kill between landing a flush and resetting the log leaves that flush in both: it
    // lands again under the same names, once.
    let expected_total = before.union(&logged_then).count() as u64;
    // A record the kill cut off, as a crash mid-write leaves: quarantined, the rest lands.
    let newest = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .max()
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&newest)
        .unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 9]).unwrap();
    drop(f);
    let mut child = worker();
    child.read_until("listening on");
    assert!(child.terminate().success());
    let numbers = landed_numbers(&p);
    assert_eq!(
        numbers.len() as u64,
        expected_total,
        "every frame in the log landed after the restart"
    );
    let expected: Vec<u64> = (0..numbers.len() as u64).collect();
    assert_eq!(
        numbers, expected,
        "each frame once, none missing before the last"
    );
    assert_eq!(
        p.sql("SELECT reason, length(encode(raw, 'hex')) / 2 FROM quarantine_socket"),
        vec![vec![
            "torn write-ahead log record: record header cut off",
            "9"
        ]]
    );
    // The log is empty now: another restart lands nothing again.
    assert!(logged(&wal).is_empty());
    let mut child = worker();
    child.read_until("listening on");
    assert!(child.terminate().success());
    assert_eq!(landed_numbers(&p), expected);
}
