//! Everything on an `s3://` lake against a real S3-compatible server on loopback: Garage (a
//! self-hosted S3 store; `.ci/run` installs and caches it), or moto's S3 server where Garage
//! is absent; skipped with a message where neither is. Ingest lands there, compaction commits
//! there, jobs read and write there, embedded and on the cluster, and the secret key never
//! shows in logs or in the scheduler's job configs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::{Pulse, Running};

const KEY_ID: &str = "GK0123456789abcdef01234567";
const SECRET: &str = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn garage_bin() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("PULSE_GARAGE_BIN") {
        return Some(p.into());
    }
    let cached =
        std::path::PathBuf::from(std::env::var("HOME").ok()?).join(".cache/pulse/tools/bin/garage");
    if cached.exists() {
        return Some(cached);
    }
    Command::new("garage")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "garage".into())
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A one-node Garage on loopback with bucket `lake` and the test's key; its S3 port.
fn garage(dir: &std::path::Path) -> Option<(Running, u16)> {
    let bin = garage_bin()?;
    let (rpc, s3, admin) = (free_port(), free_port(), free_port());
    let conf = dir.join("garage.toml");
    std::fs::write(
        &conf,
        format!(
            "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"lmdb\"\nreplication_factor = 1\n\
             rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_secret = \"{secret}\"\n\n[s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\
             root_domain = \".s3.garage.localhost\"\n\n[admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\nadmin_token = \"test-admin\"\n",
            d = dir.display(),
            secret = "1".repeat(64),
        ),
    )
    .unwrap();
    let server = Running(
        Command::new(&bin)
            .arg("-c")
            .arg(&conf)
            .arg("server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?,
    );
    wait_port(s3, "garage");
    let cli = |args: &[&str]| -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new(&bin)
                .arg("-c")
                .arg(&conf)
                .args(args)
                .output()
                .unwrap();
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                Instant::now() < deadline,
                "garage {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let node = cli(&["node", "id", "-q"]);
    let node = node.trim().split('@').next().unwrap().to_string();
    cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
    cli(&["layout", "apply", "--version", "1"]);
    cli(&["bucket", "create", "lake"]);
    cli(&["key", "import", "--yes", "-n", "pulse", KEY_ID, SECRET]);
    cli(&[
        "bucket", "allow", "--read", "--write", "--owner", "lake", "--key", "pulse",
    ]);
    eprintln!("S3 server: garage on 127.0.0.1:{s3}");
    Some((server, s3))
}

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
    wait_port(port, "moto_server");
    eprintln!("S3 server: moto on 127.0.0.1:{port} (garage is not installed)");
    create_bucket(port, "lake");
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
        ("AWS_REGION", "garage".into()),
        ("AWS_ACCESS_KEY_ID", KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
    ] {
        p.env.push((k.to_string(), v));
    }
    p
}

#[test]
fn an_s3_lake_works_for_ingest_compaction_jobs_and_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_server, port)) = garage(dir.path()).or_else(moto) else {
        return;
    };
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
    // Time travel and history read the Delta log on S3 too.
    let history = p.ok(&["lake", "history", "messages"]);
    assert!(
        history
            .lines()
            .any(|l| l.starts_with("1\t") && l.contains("\tWRITE\t1\t1\t0\t0")),
        "{history}"
    );
    assert_eq!(p.count("SELECT count(*) FROM \"messages@v1\""), 1);
    assert_eq!(p.count("SELECT count(*) FROM \"messages@v0\""), 0);
    // Compaction commits through conditional puts on S3.
    let out = p.ok(&["compact", "--date", "2026-01-05"]);
    assert!(out.contains("presence"), "{out}");
    assert_eq!(p.count("SELECT count(*) FROM presence"), presence);
    let history = p.ok(&["lake", "history", "presence"]);
    let newest = history.lines().last().unwrap_or_default();
    assert!(newest.contains("\tOPTIMIZE\t"), "{history}");
    let version = newest.split('\t').next().unwrap_or_default();
    let q = format!("SELECT count(*) FROM \"presence@v{version}\"");
    assert_eq!(p.count(&q), presence);
    // Vacuum deletes what the optimize replaced; the table reads the same.
    p.vacuum("0s");
    assert_eq!(p.count("SELECT count(*) FROM presence"), presence);
    let history = p.ok(&["lake", "history", "presence"]);
    assert!(history.contains("VACUUM END"), "{history}");
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
