//! Security of the cluster endpoints, against our real scheduler and executors on loopback
//! and a real Flight SQL client (arrow-flight's): Flight SQL is read-only, credentials guard
//! Flight SQL, the REST API and job submission, and an open scheduler does not start beyond
//! loopback.

use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use tonic::transport::Channel;

use super::cluster::{Cluster, free_port, http_request};
use super::{Pulse, spawn};

const PASSWORD: &str = "open-sesame";

fn small_lake() -> Pulse {
    let mut p = Pulse::new();
    p.ok(&[
        "gen",
        "--channels",
        "4",
        "--viewers",
        "200",
        "--tweets-per-sec",
        "0.02",
    ]);
    p.env
        .push(("PULSE_CLUSTER_PASSWORD".into(), PASSWORD.into()));
    p
}

async fn channel(cluster: &Cluster) -> Channel {
    let addr = format!("http://{}", cluster.url.trim_start_matches("df://"));
    Channel::from_shared(addr).unwrap().connect().await.unwrap()
}

/// Runs a query through Flight SQL and returns the first column as i64s.
async fn first_column(
    client: &mut FlightSqlServiceClient<Channel>,
    sql: &str,
) -> Result<Vec<i64>, String> {
    let info = client
        .execute(sql.to_string(), None)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for ep in info.endpoint {
        let stream = client
            .do_get(ep.ticket.unwrap())
            .await
            .map_err(|e| e.to_string())?;
        let batches: Vec<arrow::array::RecordBatch> =
            stream.try_collect().await.map_err(|e| e.to_string())?;
        for b in batches {
            let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64).unwrap();
            let c = c
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap();
            out.extend(c.values().iter().copied());
        }
    }
    Ok(out)
}

#[test]
fn flight_sql_is_read_only_and_needs_credentials() {
    let p = small_lake();
    let expected = p.count("SELECT count(*) FROM streams");
    let cluster = Cluster::start_with(&p, 1, "180s", &["--flight-sql", "--user", "analyst"], &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ch = channel(&cluster).await;
        // No handshake, or the wrong password: refused.
        let mut anonymous = FlightSqlServiceClient::new(ch.clone());
        let err = anonymous
            .execute("SELECT 1".into(), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("bearer token"), "{err}");
        let mut wrong = FlightSqlServiceClient::new(ch.clone());
        assert!(wrong.handshake("analyst", "open-sesam").await.is_err());
        assert!(wrong.handshake("root", PASSWORD).await.is_err());

        let mut client = FlightSqlServiceClient::new(ch);
        client.handshake("analyst", PASSWORD).await.unwrap();
        assert_eq!(
            first_column(&mut client, "SELECT count(*) FROM streams")
                .await
                .unwrap(),
            vec![expected]
        );
        let refused = [
            (
                "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
                "CREATE EXTERNAL TABLE",
            ),
            ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
            ("CREATE TABLE t AS SELECT 1", "CREATE TABLE"),
            ("DROP TABLE streams", "DROP TABLE"),
            ("INSERT INTO streams SELECT * FROM streams", "INSERT INTO"),
            ("COPY streams TO '/tmp/pulse-copy-out.csv'", "COPY ... TO"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("SELECT 1 INTO t", "SELECT ... INTO"),
            ("EXPLAIN CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
        ];
        for (sql, what) in refused {
            let err = first_column(&mut client, sql).await.unwrap_err();
            assert!(
                err.contains(&format!("{what} is not allowed here")),
                "{sql}: {err}"
            );
            let err = client.prepare(sql.to_string(), None).await.unwrap_err();
            assert!(
                err.to_string().contains("is not allowed here"),
                "{sql}: {err}"
            );
        }
        let err = client
            .execute_update("DELETE FROM streams".into(), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
        // Nothing of the refused statements happened: no table, no file.
        for sql in [
            "SELECT count(*) FROM pw",
            "SELECT count(*) FROM '/etc/passwd'",
        ] {
            let err = first_column(&mut client, sql).await.unwrap_err();
            assert!(err.contains("not found"), "{sql}: {err}");
        }
        assert!(!std::path::Path::new("/tmp/pulse-copy-out.csv").exists());
        // Reads that are not a plain SELECT still work.
        let n = first_column(
            &mut client,
            "WITH s AS (SELECT * FROM streams) SELECT count(*) FROM s",
        )
        .await
        .unwrap();
        assert_eq!(n, vec![expected]);
        let info = client.execute("SHOW TABLES".into(), None).await;
        assert!(info.is_ok(), "{info:?}");
    });
}

#[test]
fn credentials_guard_the_rest_api_and_job_submission() {
    let p = small_lake();
    let expected = p.count("SELECT count(*) FROM streams");
    let cluster = Cluster::start_with(&p, 1, "180s", &["--user", "analyst"], &[]);
    let port: u16 = cluster.url.rsplit(':').next().unwrap().parse().unwrap();
    let good = pulse_scheduler::Credentials::header("analyst", PASSWORD);
    let bad = pulse_scheduler::Credentials::header("analyst", "guess");
    for (method, path) in [
        ("GET", "/api/jobs"),
        ("PATCH", "/api/job/abc1234"),
        ("GET", "/"),
    ] {
        for auth in [None, Some(bad.as_str())] {
            let r = http_request(port, method, path, auth).unwrap();
            assert!(r.starts_with("HTTP/1.0 401"), "{method} {path}: {r}");
        }
    }
    let r = http_request(port, "GET", "/api/jobs", Some(&good)).unwrap();
    assert!(r.starts_with("HTTP/1.0 200"), "{r}");
    let r = http_request(port, "PATCH", "/api/job/abc1234", Some(&good)).unwrap();
    assert!(!r.starts_with("HTTP/1.0 401"), "{r}");

    // A client without the user is refused; with it, the query runs on the executors (which
    // register without credentials).
    let q = "SELECT count(*) FROM streams";
    let out = p.run(&["--cluster", &cluster.url, "sql", q]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs credentials"), "{err}");
    let as_analyst = |args: &[&str]| {
        let out = p
            .cmd()
            .env("PULSE__CLUSTER__USER", "analyst")
            .arg("--cluster")
            .arg(&cluster.url)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let out = as_analyst(&["sql", q, "--format", "csv"]);
    assert_eq!(
        out.lines().nth(1).unwrap().parse::<i64>().unwrap(),
        expected
    );
    as_analyst(&["jobs"]);
    let out = p.run(&["--cluster", &cluster.url, "jobs"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"));
}

#[test]
fn an_open_scheduler_does_not_start_beyond_loopback() {
    let p = Pulse::new();
    let port = free_port().to_string();
    for extra in [&["--flight-sql"][..], &[][..]] {
        let started = Instant::now();
        let out = p.run(
            &[
                &["scheduler", "--bind-host", "0.0.0.0", "--port", &port][..],
                extra,
            ]
            .concat(),
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("without credentials") && err.contains("PULSE_CLUSTER_PASSWORD"),
            "{err}"
        );
        assert!(err.contains("--insecure"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
    // A user without its password is a clear error too.
    let out = p.run(&[
        "scheduler",
        "--bind-host",
        "0.0.0.0",
        "--port",
        &port,
        "--user",
        "a",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PULSE_CLUSTER_PASSWORD"));
    // By default the scheduler binds loopback.
    let mut c = p.cmd();
    c.args(["scheduler", "--port", &port]);
    let mut s = spawn(c);
    assert_eq!(
        s.read_until("scheduler listening on"),
        format!("127.0.0.1:{port}")
    );
}

/// The ADBC Flight SQL client script: connects over TLS with the test's CA and credentials,
/// prints the count of `streams`, then what a refused statement says.
const ADBC_CLIENT: &str = r#"
import sys
import adbc_driver_flightsql.dbapi as flightsql
uri, ca, user, password = sys.argv[1:5]
opts = {"username": user, "password": password,
        "adbc.flight.sql.client_option.tls_root_certs": open(ca).read()}
with flightsql.connect(uri, db_kwargs=opts) as conn, conn.cursor() as cur:
    cur.execute("SELECT count(*) FROM streams")
    print("count", cur.fetchone()[0])
    try:
        cur.execute("CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'")
        print("refused no")
    except Exception as e:
        print("refused", str(e).replace("\n", " "))
"#;

fn have_adbc() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import adbc_driver_flightsql.dbapi, pyarrow"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "skipping: python3 with adbc-driver-flightsql and pyarrow is absent (.ci/run installs them)"
        );
    }
    ok
}

#[test]
fn tls_serves_flight_sql_and_the_rest_api_to_standard_clients() {
    if !have_adbc() {
        return;
    }
    let p = small_lake();
    let expected = p.count("SELECT count(*) FROM streams");
    let (cert, key) = (p.dir.path().join("cert.pem"), p.dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let tls_port = free_port();
    let listen = format!("127.0.0.1:{tls_port}");
    let args = [
        "--flight-sql",
        "--user",
        "analyst",
        "--tls-listen",
        &listen,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let _cluster = Cluster::start_with(&p, 1, "180s", &args, &[]);
    let url = format!("https://localhost:{tls_port}/api/jobs");
    let curl = |extra: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&cert)
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(curl(&["-u", &format!("analyst:{PASSWORD}")]), "200");
    assert_eq!(curl(&[]), "401");
    // Without the CA the certificate is not trusted: nothing is served in the clear.
    let out = std::process::Command::new("curl")
        .args(["-sS", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());

    let script = p.dir.path().join("adbc_client.py");
    std::fs::write(&script, ADBC_CLIENT).unwrap();
    let run = |password: &str| {
        std::process::Command::new("python3")
            .arg(&script)
            .arg(format!("grpc+tls://localhost:{tls_port}"))
            .arg(&cert)
            .args(["analyst", password])
            .output()
            .unwrap()
    };
    let out = run(PASSWORD);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("count {expected}\n")), "{stdout}");
    assert!(
        stdout.contains("refused") && stdout.contains("CREATE EXTERNAL TABLE is not allowed here"),
        "{stdout}"
    );
    let out = run("guess");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("unauthenticated")
    );
}
