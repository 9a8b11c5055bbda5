//! Everything on an `s3://` lake against a real S3-compatible server on loopback (moto's
//! server, which `.ci/run` installs; skipped with a message where it is absent): ingest lands
//! there, compaction commits there, jobs read and write there, embedded and on the cluster,
//! and the secret key never shows in logs or in the scheduler's job configs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::{Pulse, Running};

const SECRET: &str = "s3cr3t-never-logged";

fn moto() -> Option<(Running, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        eprintln!(
            "skipping: moto_server is not installed (pip install 'moto[server]'; .ci/run does)"
        );
        return None;
    };
    let server = Running(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((server, port))
}

fn create_bucket(port: u16, bucket: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"),
        "{out}"
    );
}

fn s3_pulse(port: u16) -> Pulse {
    let mut p = Pulse::new();
    p.lake_url = Some("s3://lake/pulse".into());
    for (k, v) in [
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "pulse".into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
    ] {
        p.env.push((k.to_string(), v));
    }
    p
}

#[test]
fn an_s3_lake_works_for_ingest_compaction_jobs_and_the_cluster() {
    let Some((_server, port)) = moto() else {
        return;
    };
    create_bucket(port, "lake");
    let p = s3_pulse(port);
    // Ingest (replay) and the generator land there.
    let tweets = p.dir.path().join("t.jsonl");
    std::fs::write(
        &tweets,
        "{\"created_at\":\"2026-01-05T10:00:00Z\",\"text\":\"#s3 works\"}\nnot json\n",
    )
    .unwrap();
    let out = p.ok(&["ingest", "replay", tweets.to_str().unwrap()]);
    assert!(out.contains("1 records landed, 1 quarantined"), "{out}");
    p.ok(&[
        "gen",
        "--channels",
        "4",
        "--viewers",
        "200",
        "--tweets-per-sec",
        "0.02",
    ]);
    let presence = p.count("SELECT count(*) FROM presence");
    assert!(presence > 0);
    // Compaction commits through conditional puts on S3.
    let out = p.ok(&["compact", "--date", "2026-01-05", "--retention", "0s"]);
    assert!(out.contains("presence"), "{out}");
    assert_eq!(p.count("SELECT count(*) FROM presence"), presence);
    assert_eq!(p.count("SELECT count(*) FROM quarantine_replay"), 1);
    // Jobs embedded, then the same job on a cluster whose processes reach S3 too.
    p.ok(&[
        "run",
        "channels",
        "--from",
        "2026-01-05",
        "--to",
        "2026-01-06",
    ]);
    let embedded = p.sql("SELECT * FROM channel_daily ORDER BY channel_id");
    assert!(!embedded.is_empty());
    let cluster = Cluster::start(&p, 1);
    let verbose = p
        .cmd()
        .args([
            "--cluster",
            &cluster.url,
            "run",
            "channels",
            "--from",
            "2026-01-05",
            "--to",
            "2026-01-06",
        ])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(
        verbose.status.success(),
        "{}",
        String::from_utf8_lossy(&verbose.stderr)
    );
    assert_eq!(
        p.sql("SELECT * FROM channel_daily ORDER BY channel_id"),
        embedded
    );
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&verbose.stdout),
        String::from_utf8_lossy(&verbose.stderr)
    );
    assert!(!logs.contains(SECRET), "the secret key was logged");
    // Nor do the scheduler's job configs carry it.
    let jobs = super::cluster::http_get_path(&cluster.url, "/api/jobs");
    for id in jobs
        .split("\"job_id\":\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
    {
        let config = super::cluster::http_get_path(&cluster.url, &format!("/api/job/{id}/config"));
        assert!(!config.contains(SECRET), "job {id} config has the secret");
    }
}
