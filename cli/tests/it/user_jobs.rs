//! User jobs: a folder of `job.toml` and SQL (`examples/jobs/hourly_chatters`, the worked
//! example of docs/jobs.md) is checked, run embedded and on our real cluster, installed into
//! the lake and run by `pulse nightly` after the job it depends on. Its answers are compared
//! with a brute force over the raw presence rows (not viewer-day's output). Bad folders fail
//! `pulse job check` naming the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::Pulse;
use crate::cluster::Cluster;

/// The fixture job's folder.
fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/jobs/hourly_chatters")
}

/// Two generated days (six channels, 200 viewers).
fn generated() -> Pulse {
    crate::nightly::generated("2")
}

type Chatters = BTreeMap<(String, i64), i64>;

/// Per (channel, UTC hour) of `date`: the viewers present in the chat who were there in at
/// least `min_minutes / 5` distinct snapshots of that channel on the day (5-minute samples).
fn brute_force(p: &Pulse, date: &str, min_minutes: f64) -> Chatters {
    let rows = p.sql(&format!(
        "SELECT channel_login, viewer_login, CAST(snapshot_time AS BIGINT) FROM presence \
         WHERE dt = '{date}'"
    ));
    let mut snapshots: BTreeMap<(String, String), BTreeSet<i64>> = BTreeMap::new();
    for r in &rows {
        let t: i64 = r[2].parse().unwrap();
        snapshots
            .entry((r[0].clone(), r[1].clone()))
            .or_default()
            .insert(t);
    }
    let mut seen: BTreeMap<(String, i64), BTreeSet<String>> = BTreeMap::new();
    for ((channel, viewer), ts) in &snapshots {
        if ts.len() as f64 * 5.0 < min_minutes {
            continue;
        }
        for t in ts {
            let hour = t.div_euclid(3_600_000_000).rem_euclid(24);
            seen.entry((channel.clone(), hour))
                .or_default()
                .insert(viewer.clone());
        }
    }
    seen.into_iter().map(|(k, v)| (k, v.len() as i64)).collect()
}

fn written(p: &Pulse, date: &str) -> Chatters {
    p.sql(&format!(
        "SELECT channel_login, hour, chatters FROM hourly_chatters WHERE dt = '{date}'"
    ))
    .into_iter()
    .map(|r| ((r[0].clone(), r[1].parse().unwrap()), r[2].parse().unwrap()))
    .collect()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_user_job_folder_is_checked_run_added_to_the_lake_and_run_nightly_after_its_dependency() {
    let p = generated();
    let dir = fixture();
    let out = p.ok(&["job", "check", path(&dir)]);
    assert!(out.contains("job hourly-chatters is fine"), "{out}");

    // Run from its folder, with a parameter, once viewer-day has run.
    p.ok(&["run", "viewer-day", "--date", "2026-01-05"]);
    p.ok(&[
        "run",
        path(&dir),
        "--date",
        "2026-01-05",
        "--set",
        "min_minutes=20",
    ]);
    let want = brute_force(&p, "2026-01-05", 20.0);
    assert!(want.len() > 10, "{want:?}");
    assert_eq!(written(&p, "2026-01-05"), want);
    // Its parameter is typed: a value of another type is refused.
    let bad = p.run(&[
        "run",
        path(&dir),
        "--date",
        "2026-01-05",
        "--set",
        "min_minutes=lots",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a number"));

    // Given with --jobs, it joins the nightly plan after viewer-day; not installed, it does not.
    let plan = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend([
            "backfill",
            "--from",
            "2026-01-06",
            "--to",
            "2026-01-07",
            "--dry-run",
        ]);
        p.ok(&args)
    };
    assert!(!plan(&[]).contains("hourly-chatters"));
    let with = plan(&["--jobs", path(&dir)]);
    let at = |job: &str| with.find(&format!("would run {job} for")).unwrap();
    assert!(at("viewer-day") < at("hourly-chatters"), "{with}");

    // Installed into the lake, every `pulse` on it knows the job: the nightly DAG runs it.
    let out = p.ok(&["job", "add", path(&dir)]);
    assert!(out.contains("installed job hourly-chatters"), "{out}");
    let list = p.ok(&["job", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("hourly-chatters") && l.contains(" user ")),
        "{list}"
    );
    p.ok(&[
        "backfill",
        "--from",
        "2026-01-05",
        "--to",
        "2026-01-07",
        "--reprocess",
        "all",
    ]);
    for date in ["2026-01-05", "2026-01-06"] {
        let runs = p.sql(&format!(
            "SELECT job, CAST(started_at AS BIGINT) AS s, CAST(ended_at AS BIGINT) AS e FROM runs \
             WHERE from_date = '{date}' AND status = 'succeeded' \
             AND job IN ('viewer-day', 'hourly-chatters') ORDER BY s DESC"
        ));
        let time = |job: &str, col: usize| -> i64 {
            runs.iter().find(|r| r[0] == job).unwrap()[col]
                .parse()
                .unwrap()
        };
        assert!(
            time("hourly-chatters", 1) >= time("viewer-day", 2),
            "{runs:?}"
        );
        // The nightly run uses the job's default parameter.
        assert_eq!(written(&p, date), brute_force(&p, date, 10.0), "{date}");
    }
}

#[test]
fn a_user_job_runs_on_the_cluster_from_its_folder_with_nothing_installed_there() {
    let p = generated();
    p.ok(&["run", "viewer-day", "--date", "2026-01-05"]);
    let cluster = Cluster::start(&p, 2);
    p.ok(&[
        "--cluster",
        &cluster.url,
        "submit",
        "job",
        path(&fixture()),
        "--date",
        "2026-01-05",
    ]);
    assert_eq!(
        written(&p, "2026-01-05"),
        brute_force(&p, "2026-01-05", 10.0)
    );
    let jobs = p.ok(&["--cluster", &cluster.url, "jobs"]);
    assert!(jobs.contains("pulse run hourly-chatters"), "{jobs}");
}

#[test]
fn bad_job_folders_fail_the_check_naming_the_file() {
    let p = Pulse::new();
    let root = p.dir.path().join("bad");
    let case = |name: &str, edit: &dyn Fn(&Path)| -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in std::fs::read_dir(fixture()).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
        edit(&dir);
        dir
    };
    let replace = |file: &Path, from: &str, to: &str| {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(file, text.replace(from, to)).unwrap();
    };
    let toml = |d: &Path| d.join("job.toml");
    let step2 = |d: &Path| d.join("02_hourly_chatters.sql");
    let cases: Vec<(PathBuf, PathBuf, &str)> = vec![
        {
            let d = case("type", &|d| replace(&toml(d), "\"float\"", "\"decimal\""));
            (d.clone(), toml(&d), "unknown variant `decimal`")
        },
        {
            let d = case("step", &|d| std::fs::remove_file(step2(d)).unwrap());
            (
                d.clone(),
                toml(&d),
                "names 02_hourly_chatters.sql, which is not in",
            )
        },
        {
            let d = case("raw", &|d| {
                replace(
                    &toml(d),
                    "name = \"hourly_chatters\"\ncolumns",
                    "name = \"presence\"\ncolumns",
                );
                replace(
                    &toml(d),
                    "name = \"hourly_chatters\"\nkind",
                    "name = \"presence\"\nkind",
                );
            });
            (
                d.clone(),
                toml(&d),
                "output presence is named like one of the lake's own tables",
            )
        },
        {
            let d = case("theirs", &|d| {
                replace(
                    &toml(d),
                    "name = \"hourly_chatters\"\ncolumns",
                    "name = \"viewer_channel_day\"\ncolumns",
                );
                replace(
                    &toml(d),
                    "name = \"hourly_chatters\"\nkind",
                    "name = \"viewer_channel_day\"\nkind",
                );
            });
            (
                d.clone(),
                toml(&d),
                "output viewer_channel_day is written by job viewer-day",
            )
        },
        {
            let d = case("template", &|d| {
                replace(
                    &toml(d),
                    "name = \"hourly_chatters\"\ncolumns",
                    "name = \"hashtag_top_{suffix}\"\ncolumns",
                );
                replace(
                    &toml(d),
                    "name = \"hourly_chatters\"\nkind",
                    "name = \"hashtag_top_{suffix}\"\nkind",
                );
            });
            (
                d.clone(),
                toml(&d),
                "output hashtag_top_{suffix} is written by job hashtags",
            )
        },
        {
            let d = case("suffix", &|d| {
                replace(
                    &toml(d),
                    "depends_on = [\"viewer-day\"]",
                    "depends_on = [\"viewer-day\"]\nsuffix = \"{who}\"",
                );
                replace(
                    &toml(d),
                    "[params.min_minutes]",
                    "[params.who]\ntype = \"text\"\ndefault = \"presence; --\"\n\n[params.min_minutes]",
                );
                replace(
                    &toml(d),
                    "name = \"hourly_chatters\"\ncolumns",
                    "name = \"hourly_{suffix}\"\ncolumns",
                );
                replace(
                    &toml(d),
                    "name = \"hourly_chatters\"\nkind",
                    "name = \"hourly_{suffix}\"\nkind",
                );
            });
            (
                d.clone(),
                toml(&d),
                "may hold only lower case letters, digits and _",
            )
        },
        {
            let d = case("last", &|d| {
                replace(
                    &toml(d),
                    "depends_on = [\"viewer-day\"]",
                    "depends_on = [\"vacuum\"]",
                )
            });
            (d.clone(), toml(&d), "depends on vacuum, which runs last")
        },
        {
            let d = case("cycle", &|d| {
                replace(
                    &toml(d),
                    "depends_on = [\"viewer-day\"]",
                    "depends_on = [\"hourly-chatters\"]",
                )
            });
            (
                d.clone(),
                toml(&d),
                "depends_on forms a cycle: hourly-chatters -> hourly-chatters",
            )
        },
        {
            let d = case("plan", &|d| {
                replace(
                    &step2(d),
                    "count(DISTINCT p.viewer_login)",
                    "count(DISTINCT p.nope)",
                )
            });
            (d.clone(), step2(&d), "step hourly_chatters does not plan")
        },
        {
            let d = case("columns", &|d| {
                replace(&toml(d), "\"chatters bigint\"", "\"chatters double\"")
            });
            (
                d.clone(),
                step2(&d),
                "declares (channel_login Utf8, hour Int32, chatters Float64)",
            )
        },
        {
            let d = case("reads", &|d| {
                replace(&toml(d), "reads = [\"presence\", ", "reads = [")
            });
            (d.clone(), step2(&d), "reads presence, which")
        },
        {
            let d = case("writes", &|d| {
                std::fs::write(
                    d.join("01_regulars.sql"),
                    "COPY (SELECT 1) TO 'elsewhere.csv'",
                )
                .unwrap()
            });
            (d.clone(), d.join("01_regulars.sql"), "does not plan")
        },
    ];
    for (dir, file, msg) in &cases {
        let out = p.run(&["job", "check", path(dir)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", dir.display());
        assert!(err.contains(path(file)), "{}: {err}", file.display());
        assert!(err.contains(msg), "{msg}: {err}");
    }
    // The COPY wrote nothing.
    assert!(!p.dir.path().join("elsewhere.csv").exists());

    // Two jobs depending on each other, in one folder of jobs.
    let two = p.dir.path().join("two");
    for (name, dep) in [("a", "b"), ("b", "a")] {
        let d = two.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("job.toml"),
            format!(
                "name = \"{name}\"\ndescription = \"x\"\ndepends_on = [\"{dep}\"]\n\
                 [[steps]]\nfile = \"01.sql\"\nname = \"{name}_out\"\nkind = \"output\"\n\
                 [[outputs]]\nname = \"{name}_out\"\ncolumns = [\"n bigint\"]\n"
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("01.sql"),
            "SELECT CAST(1 AS BIGINT) AS n, '2026-01-05' AS dt",
        )
        .unwrap();
    }
    let out = p.run(&["--jobs", path(&two), "job", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("job.toml: depends_on forms a cycle: "),
        "{err}"
    );
    assert!(
        err.contains("a -> b -> a") || err.contains("b -> a -> b"),
        "{err}"
    );
}

#[test]
fn json_logs_carry_each_run_id_and_job_on_the_lines_of_the_run() {
    let p = generated();
    let out = p
        .cmd()
        .env("RUST_LOG", "warn,pulse_jobs=info")
        .args([
            "--log-format",
            "json",
            "run",
            "viewer-day",
            "--date",
            "2026-01-05",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let written: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "steps written")
        .collect();
    assert!(!written.is_empty(), "{lines:?}");
    for l in written {
        let spans = l["spans"].as_array().unwrap();
        let run = spans.iter().find(|s| s["name"] == "run").unwrap();
        assert_eq!(run["job"], "viewer-day");
        assert!(
            run["run_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{l}"
        );
        assert!(
            l["span"]["name"] == "steps" || spans.iter().any(|s| s["name"] == "steps"),
            "{l}"
        );
    }
}

#[test]
fn the_jobs_doc_shows_the_registry_and_the_fixture_as_they_are() {
    let doc =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/jobs.md"))
            .unwrap();
    let table = Pulse::new().ok(&["job", "list", "--markdown"]);
    let between = doc
        .split("<!-- jobs:begin -->\n")
        .nth(1)
        .and_then(|rest| rest.split("<!-- jobs:end -->").next())
        .unwrap();
    assert_eq!(
        between, table,
        "docs/jobs.md: run `pulse job list --markdown`"
    );
    for f in ["job.toml", "01_regulars.sql", "02_hourly_chatters.sql"] {
        let text = std::fs::read_to_string(fixture().join(f)).unwrap();
        assert!(
            doc.contains(&text),
            "docs/jobs.md does not show {f} as it is"
        );
    }
}
