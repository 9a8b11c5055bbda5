//! Replay: every format, bad records quarantined with the good ones around them landed, and
//! idempotent replays.

use super::Pulse;

fn write(p: &Pulse, name: &str, body: &[u8]) -> String {
    let path = p.dir.path().join("in").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

#[test]
fn tweet_json_lines_land_and_bad_lines_are_quarantined() {
    let p = Pulse::new();
    let mut body = Vec::new();
    body.extend_from_slice(br##"{"created_at":"Wed Jul 18 21:33:26 +0000 2018","id_str":"1","full_text":"v1 #Rust","user":{"screen_name":"ann"},"lang":"en"}"##);
    body.extend_from_slice(b"\n{not json\n");
    body.extend_from_slice(
        b"{\"created_at\":\"2018-07-18T22:00:00Z\",\"text\":\"bad \xff utf8\"}\n",
    );
    body.extend_from_slice(b"\n");
    body.extend_from_slice(br##"{"data":{"id":"2","text":"v2 #rust #DataFusion","created_at":"2018-07-18T22:10:00.000Z","author_id":"77"}}"##);
    body.extend_from_slice(b"\n{\"text\":\"no time\"}\n");
    let f = write(&p, "tweets.jsonl", &body);
    let out = p.ok(&["ingest", "replay", &f]);
    assert!(out.contains("2 records landed, 3 quarantined"), "{out}");
    let rows = p.sql("SELECT message_id, author, text, dt, hour FROM messages ORDER BY event_time");
    assert_eq!(
        rows,
        vec![
            vec!["1", "ann", "v1 #Rust", "2018-07-18", "21"],
            vec!["2", "77", "v2 #rust #DataFusion", "2018-07-18", "22"],
        ]
    );
    let q = p.sql("SELECT origin, reason, raw FROM quarantine_replay ORDER BY origin");
    assert_eq!(q.len(), 3);
    assert!(
        q[0][0].ends_with("tweets.jsonl:2") && q[0][1].starts_with("malformed JSON"),
        "{q:?}"
    );
    assert!(
        q[1][0].ends_with("tweets.jsonl:3") && q[1][1] == "invalid UTF-8",
        "{q:?}"
    );
    assert!(
        q[2][0].ends_with("tweets.jsonl:6") && q[2][1] == "tweet has no created_at",
        "{q:?}"
    );
    // The raw bytes are kept as they came (hex in CSV output).
    assert_eq!(q[0][2], hex(b"{not json"));
    // Hashtags from SQL.
    let tags = p.sql("SELECT tag, count(*) FROM (SELECT unnest(hashtags(text)) AS tag FROM messages) GROUP BY tag ORDER BY tag");
    assert_eq!(tags, vec![vec!["datafusion", "1"], vec!["rust", "2"]]);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn a_json_lines_file_bigger_than_a_read_chunk_lands_every_line_once() {
    // Replay reads JSON lines 4 MiB at a time: a bad line across the first cut, a line
    // longer than a chunk and a last line without its newline are all where they belong.
    let p = Pulse::new();
    let tweet = |i: usize, text: &str| {
        format!(
            "{{\"created_at\":\"2026-01-05T{:02}:{:02}:{:02}Z\",\"id_str\":\"{i}\",\"text\":\"{text}\"}}",
            i / 3600,
            i / 60 % 60,
            i % 60
        )
    };
    let n = 40_000;
    let mut lines: Vec<String> = (0..n)
        .map(|i| tweet(i, &format!("t{i} {}", ".".repeat(60))))
        .collect();
    let mut offset = 0;
    let across = (0..n)
        .find(|&i| {
            offset += lines[i].len() + 1;
            offset > 4 << 20
        })
        .unwrap();
    // Same length, so the cut still falls inside it.
    lines[across] = format!("{{bad{}", "x".repeat(lines[across].len() - 4));
    let long = across + 100;
    lines[long] = tweet(long, &"a".repeat(5_000_000));
    let body = lines.join("\n");
    let f = write(&p, "big.jsonl", body.as_bytes());
    let out = p.ok(&["ingest", "replay", &f]);
    assert!(
        out.contains(&format!("{} records landed, 1 quarantined", n - 1)),
        "{out}"
    );
    let q = p.sql("SELECT origin, reason FROM quarantine_replay");
    assert_eq!(q.len(), 1);
    assert!(
        q[0][0].ends_with(&format!("big.jsonl:{}", across + 1))
            && q[0][1].starts_with("malformed JSON"),
        "{q:?}"
    );
    let rows = p.sql(&format!(
        "SELECT count(*), count(DISTINCT message_id), max(length(text)), \
         max(CASE WHEN message_id = '{long}' THEN length(text) END), \
         max(CASE WHEN message_id = '{}' THEN text END) FROM messages",
        n - 1
    ));
    assert_eq!(
        rows,
        vec![vec![
            (n - 1).to_string(),
            (n - 1).to_string(),
            "5000000".to_string(),
            "5000000".to_string(),
            format!("t{} {}", n - 1, ".".repeat(60))
        ]]
    );
}

#[test]
fn replaying_the_same_input_twice_does_not_duplicate() {
    let p = Pulse::new();
    let lines: String = (0..250)
        .map(|i| {
            format!(
                "{{\"created_at\":\"2026-01-05T{:02}:{:02}:00Z\",\"text\":\"t{i}\"}}\n",
                i / 60,
                i % 60
            )
        })
        .collect();
    let f = write(&p, "t.jsonl", lines.as_bytes());
    p.ok(&["ingest", "replay", &f, "--flush-rows", "100"]);
    let files = p.files("raw/messages");
    assert_eq!(p.count("SELECT count(*) FROM messages"), 250);
    p.ok(&["ingest", "replay", &f, "--flush-rows", "100"]);
    assert_eq!(p.files("raw/messages"), files);
    assert_eq!(p.count("SELECT count(*) FROM messages"), 250);
    // Cut into flushes of 100 and by hour (00..04): 3 flushes x the hours each spans.
    assert!(files.len() >= 5, "{files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.starts_with("raw/messages/dt=2026-01-05/hour=0"))
    );
}

#[test]
fn csv_formats_and_their_bad_rows() {
    let p = Pulse::new();
    // A tweet export with a quoted newline, a row with too many fields, and a cut-off tail.
    let tweets = write(
        &p,
        "tweets.csv",
        b"user_name,date,text,hashtags\nann,2020-07-25 12:27:21,\"two\nlines #covid19\",[]\nbob,2020-07-25 12:28:00,x,y,z\ncat,2020-07-25 12:29:00,\"cut off",
    );
    let out = p.ok(&["ingest", "replay", &tweets]);
    assert!(out.contains("1 records landed, 2 quarantined"), "{out}");
    assert_eq!(
        p.sql("SELECT author, text FROM messages"),
        vec![vec!["ann", "two\nlines #covid19"]]
    );
    let q = p.sql("SELECT origin, reason FROM quarantine_replay ORDER BY origin");
    assert!(
        q[0][0].ends_with("tweets.csv:4") && q[0][1] == "expected 4 fields, found 5",
        "{q:?}"
    );
    assert!(
        q[1][0].ends_with("tweets.csv:5") && q[1][1] == "expected 4 fields, found 3",
        "{q:?}"
    );

    // Category snapshots with localised display counts and a BOM.
    let cats = write(&p, "games.csv", "\u{feff}ID,NAME,VIEWS,DATE\n1,Só na conversa,492.4 mil espectadores,2023-07-22 13:45:00.0\n2,Chess,16.5K viewers,2023-07-22 13:45:00.0\n3,Bad,lots,2023-07-22 13:45:00.0\n".as_bytes());
    p.ok(&["ingest", "replay", &cats]);
    assert_eq!(
        p.sql("SELECT category_name, viewers, rank FROM categories ORDER BY rank"),
        vec![
            vec!["Só na conversa", "492400", "1"],
            vec!["Chess", "16500", "2"]
        ]
    );
    // Stream snapshots.
    let streams = write(&p, "twitch_streams.csv", "Timestamp,Category,Stream Title,Channel,Viewers,Tags\n2025-02-23 17:19:49,Just Chatting,🦇 hi,KaiCenat,74800,\"ADHD, English\"\n".as_bytes());
    p.ok(&["ingest", "replay", &streams]);
    assert_eq!(
        p.sql("SELECT channel_login, viewers, array_to_string(tags, '|') FROM streams"),
        vec![vec!["kaicenat", "74800", "ADHD|English"]]
    );
    // A viewer event log becomes presence.
    let log = write(&p, "video_play.csv", b"time,device_id,login,channel,country\n2015-01-01 18:33:52,d,AbC,frank,US\n2015-01-01 18:34:00,d,x\n");
    let out = p.ok(&["ingest", "replay", &log]);
    assert!(out.contains("1 records landed, 1 quarantined"), "{out}");
    assert_eq!(
        p.sql("SELECT channel_login, viewer_login FROM presence"),
        vec![vec!["frank", "abc"]]
    );
}

#[test]
fn memgraph_csvs_and_profiler_samples() {
    let p = Pulse::new();
    write(&p, "mg/streamers.csv", "id,user_id,user_login,user_name,game_name,language,thumbnail_url,followers,description,view_count,created_at\n1,100,Ann,ANN,Chess,en,u,5,\"desc, with comma\",9,2019-01-02 03:04:05.123456\n2,200,bob,Bob,,ko,u,7,한국어,3,2020-01-01 00:00:00.0\n".as_bytes());
    write(
        &p,
        "mg/vips.csv",
        b"user_id,vip_login\n100,carl\n200,dora\n",
    );
    write(
        &p,
        "mg/moderators.csv",
        b"user_id,moderator_login\n100,moobot\n",
    );
    write(&p, "mg/teams.csv", b"user_id,team_name\n100,dreamsmp\n");
    write(&p, "mg/chatters.csv", b"100,eve\n100,fay\n200,gus\n");
    let dir = p.dir.path().join("in/mg").display().to_string();
    let out = p.ok(&["ingest", "replay", &dir, "--as-of", "2022-01-01T00:00:00Z"]);
    assert!(
        out.contains("0 quarantined") && out.contains("5 files replayed"),
        "{out}"
    );
    assert_eq!(
        p.sql("SELECT channel_id, login, followers, total_views, description, created_at FROM channels ORDER BY 1"),
        vec![
            vec!["100", "ann", "5", "9", "desc, with comma", "2019-01-02T03:04:05.123456Z"],
            vec!["200", "bob", "7", "3", "한국어", "2020-01-01T00:00:00Z"],
        ]
    );
    assert_eq!(
        p.sql("SELECT channel_login, category_name FROM streams ORDER BY 1"),
        vec![vec!["ann", "Chess"], vec!["bob", ""]]
    );
    assert_eq!(p.count("SELECT count(*) FROM chatters"), 3);
    assert_eq!(
        p.sql("SELECT channel_id, vip_login FROM vips ORDER BY 2"),
        vec![vec!["100", "carl"], vec!["200", "dora"]]
    );
    assert_eq!(p.sql("SELECT team_name FROM teams"), vec![vec!["dreamsmp"]]);
    assert_eq!(
        p.sql("SELECT DISTINCT dt FROM chatters"),
        vec![vec!["2022-01-01"]]
    );

    // TwitchProfiler samples: named by their unix time; one entry of the wrong shape.
    write(&p, "prof/1659359100.json", br#"{"streamer1":["A","b"],"streamer2":{"viewers":["c"],"viewer_count":12,"game":"Chess"},"broken":42}"#);
    write(
        &p,
        "prof/1659359400.json",
        br#"{"streamer1":{"chatters":{"vips":["a"],"viewers":["d"]}}}"#,
    );
    let out = p.ok(&[
        "ingest",
        "replay",
        p.dir.path().join("in/prof").to_str().unwrap(),
    ]);
    assert!(out.contains("1 quarantined"), "{out}");
    assert_eq!(
        p.sql("SELECT snapshot_time, channel_login, viewer_login FROM presence ORDER BY 1, 2, 3"),
        vec![
            vec!["2022-08-01T13:05:00Z", "streamer1", "a"],
            vec!["2022-08-01T13:05:00Z", "streamer1", "b"],
            vec!["2022-08-01T13:05:00Z", "streamer2", "c"],
            vec!["2022-08-01T13:10:00Z", "streamer1", "a"],
            vec!["2022-08-01T13:10:00Z", "streamer1", "d"],
        ]
    );
    assert_eq!(
        p.sql(
            "SELECT channel_login, viewers, category_name FROM streams WHERE viewers IS NOT NULL"
        ),
        vec![vec!["streamer2", "12", "Chess"]]
    );
    let q = p.sql("SELECT reason, CAST(raw AS VARCHAR) FROM quarantine_replay");
    assert_eq!(
        q,
        vec![vec![
            "channel entry is not a list of viewer logins",
            r#"{"broken":42}"#
        ]]
    );
}

#[test]
fn unknown_files_are_skipped_and_named() {
    let p = Pulse::new();
    let f = write(&p, "notes.txt", b"hello");
    // Every input skipped: said, and a failure.
    let run = p.run(&["ingest", "replay", &f]);
    assert_eq!(run.status.code(), Some(1));
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        out.contains("0 files replayed, 1 skipped") && out.contains("unrecognised format"),
        "{out}"
    );
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("every input was skipped"), "{err}");
    // A file with no record lands nothing: also a failure.
    let empty = write(&p, "empty.jsonl", b"\n\n");
    let run = p.run(&["ingest", "replay", &empty]);
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("nothing landed"), "{err}");
    let missing = p.run(&["ingest", "replay", "/nonexistent/file.jsonl"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/file.jsonl"));
}

#[test]
fn paced_replays_cut_files_by_input_time_and_repeat_exactly() {
    let p = Pulse::new();
    // Ten seconds of tweets, one every 100 ms; at 50x a second of flush interval covers
    // 50 s of input time, so a 40 ms flush interval means 2 s of input per file.
    let lines: String = (0..100)
        .map(|i| {
            format!(
                "{{\"created_at\":\"2026-01-05T10:00:{:02}.{}Z\",\"text\":\"t{i}\"}}\n",
                i / 10,
                i % 10
            )
        })
        .collect();
    let f = write(&p, "paced.jsonl", lines.as_bytes());
    let args = [
        "ingest",
        "replay",
        &f,
        "--speed",
        "50",
        "--flush-interval",
        "40ms",
    ];
    p.ok(&args);
    let files = p.files("raw/messages");
    assert_eq!(files.len(), 5, "{files:?}");
    p.ok(&args);
    assert_eq!(p.files("raw/messages"), files);
    assert_eq!(p.count("SELECT count(*) FROM messages"), 100);
}
