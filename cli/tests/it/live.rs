//! Live hashtag windows on the ingest path: a real tweet file replayed with live windows on
//! gives, window for window, the batch `hashtags` job's top k over the landed data; a
//! message sent after its windows closed counts as late there and is in the batch answer.

use std::collections::BTreeMap;
use std::io::Write;

use super::{Pulse, shared_data, spawn};

type Tops = BTreeMap<(String, String), Vec<(String, u64)>>;

/// The JSON lines of closed live windows in `out`: (window name, start) -> top.
fn live_tops(out: &str) -> (Tops, BTreeMap<(String, String), u64>) {
    let (mut tops, mut late) = (Tops::new(), BTreeMap::new());
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        // A live source that stops prints its open windows too, not final.
        if v["final"] != true {
            continue;
        }
        let key = (
            v["live"].as_str().unwrap().to_string(),
            v["window_start"].as_str().unwrap().to_string(),
        );
        let top: Vec<(String, u64)> = v["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e[0].as_str().unwrap().to_string(), e[1].as_u64().unwrap()))
            .collect();
        // A closed window is reported again only when late messages came for it: its top
        // stays, its late figure grows.
        late.insert(key.clone(), v["late"].as_u64().unwrap());
        if let Some(before) = tops.insert(key, top.clone()) {
            assert_eq!(before, top, "a closed window changed: {line}");
        }
    }
    (tops, late)
}

/// Runs the batch `hashtags` job over the day `day` with windows of `size` every `slide`
/// (and top `k`, 10 by default).
fn run_hashtags(p: &Pulse, day: &str, size: &str, slide: &str, k: Option<usize>) {
    let next = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap() + chrono::Days::new(1);
    let next = next.to_string();
    let (size, slide) = (format!("size={size}"), format!("slide={slide}"));
    let mut args = vec![
        "run", "hashtags", "--from", day, "--to", &next, "--set", &size, "--set", &slide,
    ];
    let k = k.map(|k| format!("k={k}"));
    if let Some(k) = &k {
        args.extend(["--set", k]);
    }
    p.ok(&args);
}

/// The batch job's top k per window, as the same map.
fn batch_tops(p: &Pulse, name: &str) -> Tops {
    let mut tops = Tops::new();
    for r in p.sql(&format!(
        "SELECT window_start, tag, n FROM hashtag_top_{name} ORDER BY window_start, rank"
    )) {
        tops.entry((name.to_string(), r[0].clone()))
            .or_default()
            .push((r[1].clone(), r[2].parse().unwrap()));
    }
    tops
}

/// The closed live windows that landed in `live_hashtag_top_<name>`, as the same map.
fn lake_tops(p: &Pulse, name: &str) -> Tops {
    let mut tops = Tops::new();
    for r in p.sql(&format!(
        "SELECT window_start, rank, tag, n FROM live_hashtag_top_{name} \
         ORDER BY window_start, rank"
    )) {
        let top = tops.entry((name.to_string(), r[0].clone())).or_default();
        // Each window once: its ranks are 1, 2, ... with no repeats.
        assert_eq!(r[1], (top.len() + 1).to_string(), "{r:?}");
        top.push((r[2].clone(), r[3].parse().unwrap()));
    }
    tops
}

#[test]
fn live_windows_of_a_replayed_tweet_file_equal_the_batch_job() {
    let Some(file) = shared_data("tweets/szymsta_spark_twitter_pipeline/covid19_tweets.csv") else {
        return;
    };
    let p = Pulse::new();
    let out = p.ok(&[
        "ingest",
        "replay",
        file.to_str().unwrap(),
        "--live",
        "size=20s,slide=10s,k=10",
        "--live",
        "size=1h,slide=5m,k=10",
        "--lateness",
        "1d",
    ]);
    equals_the_batch_job(&p, &out);
}

/// Asserts two maps of tops are equal, naming the first window where they differ.
fn same(got: &Tops, want: &Tops, what: &str) {
    let keys: std::collections::BTreeSet<_> = got.keys().chain(want.keys()).collect();
    for k in keys {
        assert_eq!(got.get(k), want.get(k), "{what}: window {k:?}");
    }
}

/// Every closed live window in `out` and in the lake equals the batch job's for the covid
/// tweets' day, for 20 s / 10 s and 1 h / 5 min.
fn equals_the_batch_job(p: &Pulse, out: &str) {
    let (live, late) = live_tops(out);
    assert!(late.values().all(|n| *n == 0));
    for (size, slide, name) in [("20s", "10s", "20s_10s"), ("1h", "5m", "1h_5m")] {
        run_hashtags(p, "2020-07-25", size, slide, None);
        let batch = batch_tops(p, name);
        let live: Tops = live
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(batch.len() > 50, "{name}: {} windows", batch.len());
        same(&live, &batch, name);
        same(&lake_tops(p, name), &batch, &format!("{name} in the lake"));
    }
}

#[test]
fn a_tweet_file_sent_through_the_socket_gives_the_batch_jobs_windows() {
    let Some(file) = shared_data("tweets/szymsta_spark_twitter_pipeline/covid19_tweets.csv") else {
        return;
    };
    let p = Pulse::new();
    let mut w = SocketWorker::start_with(
        &p,
        &[
            "--live",
            "size=20s,slide=10s,k=10",
            "--live",
            "size=1h,slide=5m,k=10",
            // The file runs backwards in time: the whole day is within the lateness.
            "--lateness",
            "1d",
        ],
    );
    // A tweet two days on, sent after the file on the same connection, moves the watermark
    // past every window of the file's day.
    let end = p.dir.path().join("end.jsonl");
    std::fs::write(
        &end,
        "{\"created_at\":\"2020-07-27T00:00:00Z\",\"text\":\"#end\"}\n",
    )
    .unwrap();
    let sent = p.ok(&[
        "ingest",
        "replay",
        file.to_str().unwrap(),
        end.to_str().unwrap(),
        "--to-socket",
        &w.addr,
        "--speed",
        "100000",
    ]);
    // One record of the file is bad: it is quarantined on the sending side.
    assert!(sent.contains("9032 messages sent"), "{sent}");
    // The last window with data of the last shape closes last.
    let out = w.read_until(&[
        "\"live\":\"1h_5m\"",
        "\"window_start\":\"2020-07-25T12:25:00Z\"",
    ]);
    assert!(w.child.terminate().success());
    equals_the_batch_job(&p, &out);
    assert_eq!(
        p.count("SELECT count(*) FROM messages WHERE source = 'socket'"),
        9032
    );
}

#[test]
fn a_message_after_its_windows_closed_is_late_live_and_counted_by_the_batch_rerun() {
    let p = Pulse::new();
    let mut c = p.cmd();
    c.args([
        "ingest",
        "socket",
        "--listen",
        "127.0.0.1:0",
        "--live",
        "size=20s,slide=10s,k=3",
    ]);
    let mut child = spawn(c);
    use std::io::BufRead;
    let mut out = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on")
        .unwrap()
        .trim()
        .to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    let tweet = |secs: u32, text: &str| {
        format!(
            "{{\"created_at\":\"2026-01-05T00:{:02}:{:02}Z\",\"text\":\"{text}\"}}\n",
            secs / 60,
            secs % 60
        )
    };
    for t in 0..100 {
        s.write_all(tweet(t, if t % 3 == 0 { "#a #b" } else { "#a" }).as_bytes())
            .unwrap();
    }
    // 5 s after the start, sent when the watermark is at 99 s: too late for [-10, 10) and
    // [0, 20).
    s.write_all(tweet(5, "#late").as_bytes()).unwrap();
    s.write_all(tweet(130, "#a").as_bytes()).unwrap();
    s.flush().unwrap();
    drop(s);
    // The last window with data, [90, 110), closes once 130 s arrives: read until it.
    let mut got = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "pulse exited early:\n{got}"
        );
        got.push_str(&line);
        if line.contains("\"window_start\":\"2026-01-05T00:01:30Z\"") {
            break;
        }
    }
    assert!(child.terminate().success());
    let (live, late) = live_tops(&got);
    let key = |start: &str| ("20s_10s".to_string(), format!("2026-01-05T00:00:{start}Z"));
    assert_eq!(late[&key("00")], 1);
    assert_eq!(late[&key("10")], 0);
    // [0, 20) live: 20 x #a, 7 x #b; the late #late is not in it.
    assert_eq!(
        live[&key("00")],
        vec![("a".to_string(), 20), ("b".to_string(), 7)]
    );
    // The batch job over the landed data has it.
    run_hashtags(&p, "2026-01-05", "20s", "10s", Some(3));
    let batch = batch_tops(&p, "20s_10s");
    assert_eq!(
        batch[&key("00")],
        vec![
            ("a".to_string(), 20),
            ("b".to_string(), 7),
            ("late".to_string(), 1)
        ]
    );
    // Every other window is the same live and in batch (the batch interval starts at
    // midnight, so [-10 s, 10 s) is not in it).
    let others: Vec<_> = live
        .iter()
        .filter(|(k, _)| k.1.as_str() > key("00").1.as_str())
        .collect();
    assert_eq!(others.len(), 9);
    for (k, v) in others {
        assert_eq!(batch.get(k), Some(v), "{k:?}");
    }
}

/// A socket worker with live windows, its stdout read line by line (by a thread, so a line
/// that never comes fails the test instead of hanging it).
struct SocketWorker {
    child: super::Running,
    lines: std::sync::mpsc::Receiver<String>,
    addr: String,
}

impl SocketWorker {
    fn start(p: &Pulse, live: &str) -> SocketWorker {
        Self::start_with(p, &["--live", live])
    }

    fn start_with(p: &Pulse, args: &[&str]) -> SocketWorker {
        use std::io::BufRead;
        let mut c = p.cmd();
        c.args(["ingest", "socket", "--listen", "127.0.0.1:0"])
            .args(args);
        let mut child = spawn(c);
        let out = std::io::BufReader::new(child.0.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut w = SocketWorker {
            addr: String::new(),
            child,
            lines,
        };
        let first = w.read_until(&["listening on"]);
        w.addr = first
            .trim()
            .strip_prefix("listening on")
            .unwrap()
            .trim()
            .to_string();
        w
    }

    /// Reads stdout until a line contains every one of `needles`; returns everything read.
    fn read_until(&mut self, needles: &[&str]) -> String {
        let mut got = String::new();
        loop {
            let line = match self.lines.recv_timeout(std::time::Duration::from_secs(60)) {
                Ok(l) => l,
                Err(e) => panic!("no line with {needles:?} ({e}); got:\n{got}"),
            };
            got.push_str(&line);
            got.push('\n');
            if needles.iter().all(|n| line.contains(n)) {
                return got;
            }
        }
    }
}

/// A tweet at `secs` after 2026-01-05 00:00 UTC, as a JSON line.
fn tweet(secs: u32, text: &str) -> String {
    format!(
        "{{\"created_at\":\"2026-01-05T{:02}:{:02}:{:02}Z\",\"text\":\"{text}\"}}\n",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn tags_at(t: u32) -> String {
    let mut s = String::from("#a");
    if t.is_multiple_of(3) {
        s.push_str(" #b");
    }
    if t.is_multiple_of(7) {
        s.push_str(" #c");
    }
    s
}

#[test]
fn sigterm_lands_the_closed_windows_and_a_restarted_worker_continues() {
    let p = Pulse::new();
    let live_rows = || lake_tops(&p, "20s_10s");
    // The first worker gets 0-99 s and 130 s, then SIGTERM: [90, 110) is the last window
    // with data the watermark (130 s) closed; [120, 140) and [130, 150) are open.
    let mut w = SocketWorker::start(&p, "size=20s,slide=10s,k=3");
    let mut s = std::net::TcpStream::connect(&w.addr).unwrap();
    for t in (0..100).chain([130]) {
        s.write_all(tweet(t, &tags_at(t)).as_bytes()).unwrap();
    }
    drop(s);
    let first = w.read_until(&["\"window_start\":\"2026-01-05T00:01:30Z\""]);
    assert!(w.child.terminate().success());
    let (printed, _) = live_tops(&first);
    let landed = live_rows();
    assert_eq!(landed, printed, "the closed windows are in the lake");
    assert_eq!(
        landed.keys().last().unwrap().1,
        "2026-01-05T00:01:30Z",
        "up to [90 s, 110 s)"
    );
    // The second worker continues: 131-259 s and 300 s.
    let mut w = SocketWorker::start(&p, "size=20s,slide=10s,k=3");
    let mut s = std::net::TcpStream::connect(&w.addr).unwrap();
    for t in (131..260).chain([300]) {
        s.write_all(tweet(t, &tags_at(t)).as_bytes()).unwrap();
    }
    drop(s);
    let second = w.read_until(&["\"window_start\":\"2026-01-05T00:04:10Z\""]);
    assert!(w.child.terminate().success());
    let (printed2, late) = live_tops(&second);
    assert!(late.values().all(|n| *n == 0), "nothing is late: {late:?}");
    // No window closed twice, and the ones open at the restart closed with both halves.
    assert!(printed2.keys().all(|k| !printed.contains_key(k)));
    let key = |t: &str| ("20s_10s".to_string(), format!("2026-01-05T00:0{t}Z"));
    assert_eq!(
        printed2[&key("2:10")],
        vec![("a".into(), 20), ("b".into(), 6), ("c".into(), 3)],
        "[130 s, 150 s): 130 s from the first worker, 131-149 s from the second"
    );
    let landed = live_rows();
    let mut both = printed.clone();
    both.extend(printed2);
    assert_eq!(landed, both);
    // The batch job over the landed messages agrees with every window from midnight on.
    run_hashtags(&p, "2026-01-05", "20s", "10s", Some(3));
    let batch = batch_tops(&p, "20s_10s");
    let live: Tops = landed
        .into_iter()
        .filter(|(k, _)| k.1.as_str() >= "2026-01-05T00:00:00Z")
        .collect();
    assert_eq!(
        live.len(),
        24,
        "[0, 20) to [90, 110), [120, 140) to [250, 270)"
    );
    for (k, v) in &live {
        assert_eq!(batch.get(k), Some(v), "{k:?}");
    }
}

#[test]
fn a_restart_before_any_window_closed_keeps_what_the_first_worker_counted() {
    let p = Pulse::new();
    let args = ["--live", "size=1h,slide=5m,k=3", "--flush-interval", "1s"];
    // The first worker gets 0-99 s; no 1 h window closes. Its messages land within a second.
    let w = SocketWorker::start_with(&p, &args);
    let mut s = std::net::TcpStream::connect(&w.addr).unwrap();
    for t in 0..100 {
        s.write_all(tweet(t, &tags_at(t)).as_bytes()).unwrap();
    }
    drop(s);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while p.count("SELECT count(*) FROM messages") < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "the messages did not land"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(w.child.terminate().success());
    // The second gets 100-199 s, then 3700 s, which closes [0 s, 3600 s) with both halves.
    let mut w = SocketWorker::start_with(&p, &args);
    let mut s = std::net::TcpStream::connect(&w.addr).unwrap();
    for t in (100..200).chain([3700]) {
        s.write_all(tweet(t, &tags_at(t)).as_bytes()).unwrap();
    }
    drop(s);
    let out = w.read_until(&["\"window_start\":\"2026-01-05T00:00:00Z\""]);
    assert!(w.child.terminate().success());
    let (printed, _) = live_tops(&out);
    let key = ("1h_5m".to_string(), "2026-01-05T00:00:00Z".to_string());
    let want = vec![("a".into(), 200), ("b".into(), 67), ("c".into(), 29)];
    assert_eq!(printed[&key], want);
    assert_eq!(lake_tops(&p, "1h_5m")[&key], want);
}
