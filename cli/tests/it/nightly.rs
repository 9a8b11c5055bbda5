//! The nightly runner against real `pulse` processes: a generated week backfilled into every
//! output table, a second backfill that does nothing, a rerun giving the same outputs, a
//! runner killed with SIGKILL before a commit (nothing visible; the next start marks the run
//! interrupted and redoes it), two runners on one lake never running a job at the same
//! time, and the `schedule` daemon (catch-up, a cron firing, SIGTERM).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{Pulse, Running};

pub fn generated(days: &str) -> Pulse {
    let p = Pulse::new();
    // The generated bots sit in every live channel of a small world: 6 here.
    std::fs::write(
        p.dir.path().join("pulse.toml"),
        "[schedule.set]\nbots = [\"min_channels=4\"]\n",
    )
    .unwrap();
    p.ok(&[
        "gen",
        "--days",
        days,
        "--channels",
        "6",
        "--viewers",
        "200",
        "--tweets-per-sec",
        "0.05",
    ]);
    p
}

/// Every output table (`agg/`), rows sorted, for one date; pipeline_stats reports the run
/// history itself (wall times), so it is left out.
pub fn outputs(p: &Pulse, date: &str) -> BTreeMap<String, Vec<Vec<String>>> {
    let tables = p.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    );
    let mut out = BTreeMap::new();
    for t in tables {
        let t = &t[0];
        let dir = p.lake().join("agg").join(t);
        if !dir.exists() || t == "pipeline_stats" {
            continue;
        }
        let mut rows = p.sql(&format!("SELECT * FROM {t} WHERE dt = '{date}'"));
        rows.sort();
        out.insert(t.clone(), rows);
    }
    out
}

/// Equal rows, floats to 1e-12 relative: parallel sums add up in any order, so floats may
/// differ in their last bits (PageRank).
pub fn same_rows(a: &[Vec<String>], b: &[Vec<String>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len()
                && x.iter().zip(y).all(|(u, v)| {
                    u == v
                        || matches!((u.parse::<f64>(), v.parse::<f64>()),
                            (Ok(p), Ok(q)) if (p - q).abs() <= 1e-12 * p.abs().max(q.abs()))
                })
        })
}

/// (job, status, started, ended) of the runs of a date, from `pulse runs`.
fn runs(p: &Pulse, date: &str) -> Vec<(String, String, String, String)> {
    p.ok(&["runs", "--date", date])
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[2].to_string(),
                f[3].to_string(),
                format!("{} {}", f[5], f[6]),
                format!("{} {}", f[7], f[8]),
            )
        })
        .collect()
}

#[test]
fn a_backfilled_week_fills_every_output_and_reruns_change_nothing() {
    let p = generated("7");
    let out = p.ok(&[
        "backfill",
        "--from",
        "2026-01-05",
        "--to",
        "2026-01-13",
        "--max-concurrent",
        "2",
    ]);
    assert!(
        out.contains("2026-01-12: no raw data landed for this date; not run"),
        "{out}"
    );
    assert!(out.contains("91 job(s) succeeded, 0 failed"), "{out}");
    // Every output table has every day.
    let tables = p.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    );
    let mut daily = 0;
    for t in tables {
        let t = &t[0];
        if !p.lake().join("agg").join(t).exists() {
            continue;
        }
        let days = p.count(&format!("SELECT count(DISTINCT dt) FROM {t}"));
        // Detections and late tweets need not happen every day.
        if t == "bots" || t.starts_with("hashtag_late") {
            assert!(days <= 7, "{t}");
        } else {
            assert_eq!(days, 7, "{t}");
            daily += 1;
        }
    }
    assert!(daily >= 15, "{daily} output tables");
    // The history: 13 jobs a day, all succeeded; nothing failed.
    let day = runs(&p, "2026-01-08");
    assert_eq!(day.len(), 13, "{day:?}");
    assert!(day.iter().all(|r| r.1 == "succeeded"), "{day:?}");
    assert_eq!(p.ok(&["runs", "--status", "failed"]).lines().count(), 1);
    // Nothing missing: a second backfill does nothing (and its dry run says so).
    let dry = p.ok(&[
        "backfill",
        "--from",
        "2026-01-05",
        "--to",
        "2026-01-12",
        "--dry-run",
    ]);
    assert!(dry.contains("0 job(s) to run, 91 already done"), "{dry}");
    let again = p.ok(&["backfill", "--from", "2026-01-05", "--to", "2026-01-12"]);
    assert!(again.contains("nothing to do"), "{again}");
    assert_eq!(runs(&p, "2026-01-08").len(), 13);
    // Idempotent: running a date again gives the same outputs.
    let before = outputs(&p, "2026-01-08");
    assert!(before.len() >= 15);
    assert!(before["viewer_channel_day"].len() > 100);
    p.ok(&["nightly", "--date", "2026-01-08"]);
    assert_eq!(runs(&p, "2026-01-08").len(), 26);
    let after = outputs(&p, "2026-01-08");
    let differ: Vec<&String> = before
        .keys()
        .filter(|t| !after.get(*t).is_some_and(|a| same_rows(a, &before[*t])))
        .collect();
    assert!(differ.is_empty(), "changed by a rerun: {differ:?}");
    assert_eq!(after.len(), before.len());
}

#[test]
fn a_runner_killed_between_two_commits_is_recorded_and_redone() {
    let p = generated("1");
    let reference = generated("1");
    reference.ok(&["run", "compact", "--date", "2026-01-05"]);
    reference.ok(&["run", "viewer-day", "--date", "2026-01-05"]);
    // viewer-day commits viewer_channel_day, then viewer_hour_day: killed between the two.
    let mut c = p.cmd();
    c.args(["nightly", "--date", "2026-01-05", "--lease-ttl", "2s"])
        .env("PULSE_PAUSE_BEFORE_COMMIT", "viewer_hour_day")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut runner = Running(c.spawn().unwrap());
    // Wait until viewer_hour_day's files are written but not committed.
    let dir = p.lake().join("agg/viewer_hour_day/dt=2026-01-05");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_dir(&dir).is_ok_and(|d| d.count() > 0) {
        assert!(
            Instant::now() < deadline,
            "viewer-day never wrote its files"
        );
        assert!(
            runner.0.try_wait().unwrap().is_none(),
            "the runner ended early"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    runner.0.kill().unwrap();
    runner.0.wait().unwrap();
    // The files are there, and nobody sees them; the first output is committed.
    assert!(!p.files_on_disk("agg/viewer_hour_day").is_empty());
    // (Job outputs exist from the start, empty until a commit.)
    assert_eq!(p.count("SELECT count(*) FROM viewer_hour_day"), 0);
    assert!(p.count("SELECT count(*) FROM viewer_channel_day") > 0);
    let left = runs(&p, "2026-01-05");
    assert!(
        left.iter().any(|r| r.0 == "viewer-day" && r.1 == "running"),
        "{left:?}"
    );
    // Restarted after the dead runner's lease ran out: the run is marked interrupted, naming
    // what it committed, then redone, and the output is what an uninterrupted run writes.
    std::thread::sleep(Duration::from_millis(2500));
    let out = p.ok(&[
        "nightly",
        "--date",
        "2026-01-05",
        "--reprocess",
        "missing",
        "--lease-ttl",
        "2s",
    ]);
    assert!(out.contains("1 interrupted run(s) found"), "{out}");
    let failed = p.ok(&["runs", "--status", "failed", "--job", "viewer-day"]);
    assert!(failed.contains("interrupted"), "{failed}");
    assert!(
        failed.contains("it committed viewer_channel_day (v1) and no other output"),
        "{failed}"
    );
    for t in ["viewer_channel_day", "viewer_hour_day"] {
        let q = format!("SELECT * FROM {t} ORDER BY 1, 2, 3");
        let got = p.sql(&q);
        assert!(!got.is_empty(), "{t}");
        assert_eq!(got, reference.sql(&q), "{t}");
    }
}

#[test]
fn two_runners_on_one_lake_never_run_a_job_twice_at_once() {
    let p = generated("1");
    let spawn = || {
        let mut c = p.cmd();
        c.args(["nightly", "--date", "2026-01-05", "--max-concurrent", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // Per job, its runs' [start, end] never overlap, and it succeeded. (A runner skips a job
    // the other finished after it started; one finishing just before it looks runs it again,
    // after the other.)
    let rows = p.sql(
        "SELECT job, CAST(started_at AS BIGINT) AS s, CAST(ended_at AS BIGINT) AS e, status FROM runs \
         WHERE from_date = '2026-01-05' ORDER BY job, started_at",
    );
    let mut by_job: BTreeMap<String, Vec<(i64, i64, String)>> = BTreeMap::new();
    for r in rows {
        by_job.entry(r[0].clone()).or_default().push((
            r[1].parse().unwrap(),
            r[2].parse().unwrap(),
            r[3].clone(),
        ));
    }
    assert_eq!(by_job.len(), 13, "{by_job:?}");
    let mut total = 0;
    for (job, rs) in &by_job {
        for w in rs.windows(2) {
            assert!(w[1].0 >= w[0].1, "{job} ran twice at once: {rs:?}");
        }
        assert!(rs.iter().all(|r| r.2 == "succeeded"), "{job}: {rs:?}");
        total += rs.len();
    }
    // Most jobs ran once in all: the second runner found them done.
    assert!(total < 24, "{total} runs: {by_job:?}");
}

/// The number of days from `date` to today (UTC).
fn days_ago(date: &str) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    (chrono::Utc::now().date_naive() - d).num_days()
}

fn wait_for_night(p: &Pulse, date: &str, d: &mut Running) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let rs = runs(p, date);
        if rs
            .iter()
            .any(|r| r.0 == "pipeline-stats" && r.1 == "succeeded")
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no nightly run for {date}: {rs:?}"
        );
        assert!(d.0.try_wait().unwrap().is_none(), "the daemon exited");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_schedule_daemon_catches_up_fires_on_its_cron_and_stops_on_sigterm() {
    let p = generated("2");
    // Catch-up (off by default): the missed date runs at start, before any firing (the
    // daily cron is far off; the second day is today's date minus the lag).
    let lag = days_ago("2026-01-06").to_string();
    let mut c = p.cmd();
    c.args([
        "schedule",
        "--cron",
        "0 2 1 1 *",
        "--lag-days",
        &lag,
        "--catch-up",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut d = Running(c.spawn().unwrap());
    wait_for_night(&p, "2026-01-06", &mut d);
    assert!(d.terminate().success());
    // A firing every 2 seconds runs the date `lag` days back; without catch-up nothing else.
    let lag = days_ago("2026-01-05").to_string();
    let mut c = p.cmd();
    c.args(["schedule", "--cron", "*/2 * * * * *", "--lag-days", &lag])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut d = Running(c.spawn().unwrap());
    wait_for_night(&p, "2026-01-05", &mut d);
    let started = Instant::now();
    let status = d.terminate();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_bad_job_fails_once_names_its_cause_and_holds_back_what_needs_it() {
    let p = generated("1");
    std::fs::write(
        p.dir.path().join("pulse.toml"),
        "[schedule.set]\nbots = [\"min_channels=1\"]\n",
    )
    .unwrap();
    let out = p.run(&["nightly", "--date", "2026-01-05"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAILED bots for 2026-01-05: min_channels must be at least 2"),
        "{text}"
    );
    for held in ["profiles", "verify", "pipeline-stats"] {
        assert!(
            text.contains(&format!("not run: {held} for 2026-01-05")),
            "{text}"
        );
    }
    // A mistake is not retried: one failed run, attempt 1, its cause in the history.
    let failed = p.ok(&["runs", "--status", "failed"]);
    let rows: Vec<&str> = failed.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{failed}");
    let f: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!((f[2], f[3], f[4]), ("bots", "failed", "1"));
    assert!(rows[0].contains("min_channels must be at least 2"));
    // The jobs that do not need it ran.
    let ok = p.ok(&["runs", "--status", "succeeded"]);
    assert!(ok.contains("hashtags") && ok.contains("pagerank"), "{ok}");
}
