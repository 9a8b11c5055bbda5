//! The viewer pipeline through the binary: `pulse profile` on a generated world, and
//! viewer-day under a memory limit smaller than its data.

use super::Pulse;

fn generate(p: &Pulse, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["gen", "--tweets-per-sec", "0"];
    all.extend_from_slice(args);
    p.ok(&all);
    let world = std::fs::read_to_string(p.lake().join("gen/world-42.json")).unwrap();
    serde_json::from_str(&world).unwrap()
}

#[test]
fn pulse_profile_prints_schedules_favourites_and_bot_status() {
    let p = Pulse::new();
    let world = generate(
        &p,
        &[
            "--days",
            "3",
            "--channels",
            "30",
            "--viewers",
            "400",
            "--bots",
            "2",
        ],
    );
    for job in ["viewer-day", "bots", "profiles"] {
        p.ok(&["run", job, "--from", "2026-01-05", "--to", "2026-01-08"]);
    }
    // The first planted viewer who watched: a page with both strips and the favourites.
    let seen = p.sql(
        "SELECT viewer_login FROM viewer_channel_day WHERE viewer_login NOT IN (SELECT viewer_login FROM bots) \
         GROUP BY viewer_login ORDER BY sum(minutes) DESC LIMIT 1",
    );
    let viewer = &seen[0][0];
    let out = p.ok(&["profile", viewer]);
    assert!(out.contains(&format!("viewer {viewer}")), "{out}");
    assert!(
        out.contains("as of 2026-01-07") && out.contains("bot: no"),
        "{out}"
    );
    let strip = |name: &str| {
        let line = out.lines().find(|l| l.starts_with(name)).unwrap();
        line.split('|').nth(1).unwrap().chars().count()
    };
    assert_eq!((strip("workday"), strip("weekend")), (24, 24), "{out}");
    let fav = p.sql(&format!(
        "SELECT channel_login FROM viewer_channel_day WHERE viewer_login = '{viewer}' \
         GROUP BY channel_login ORDER BY sum(minutes) DESC, channel_login LIMIT 1"
    ));
    let streamers = out.lines().find(|l| l.starts_with("streamers")).unwrap();
    assert!(streamers.contains(&fav[0][0]), "{out}");
    // An earlier date decays to that date.
    let early = p.ok(&["profile", viewer, "--date", "2026-01-05"]);
    assert!(early.contains("as of 2026-01-05"), "{early}");
    // A bot is reported as such.
    let bot = world["bots"][0].as_str().unwrap();
    let out = p.ok(&["profile", bot]);
    assert!(out.contains("bot: yes (detected"), "{out}");
    // An unknown viewer is a clear error.
    let out = p.run(&["profile", "no_such_viewer"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no profile for viewer \"no_such_viewer\""),
        "{err}"
    );
}

#[test]
fn viewer_day_spills_under_a_memory_limit_smaller_than_its_data() {
    let p = Pulse::new();
    // About 830,000 presence rows: some 50 MB as Arrow arrays in memory.
    generate(
        &p,
        &[
            "--days",
            "1",
            "--channels",
            "60",
            "--viewers",
            "60000",
            "--bots",
            "2",
        ],
    );
    assert!(p.count("SELECT count(*) FROM presence") > 800_000);
    let outputs = |p: &Pulse| {
        [
            "viewer_channel_day",
            "viewer_hour_day",
            "viewer_category_day",
        ]
        .map(|t| {
            p.sql(&format!(
                "SELECT count(*), sum(minutes), count(DISTINCT viewer_login) FROM {t}"
            ))
        })
    };
    let out = p.ok(&["run", "viewer-day", "--date", "2026-01-05"]);
    assert!(!out.contains("spilled"), "{out}");
    let unlimited = outputs(&p);
    let out = p.ok(&[
        "--memory-limit",
        "48MiB",
        "run",
        "viewer-day",
        "--date",
        "2026-01-05",
    ]);
    assert!(out.contains("spilled"), "{out}");
    assert_eq!(outputs(&p), unlimited);
    // Far too little memory is a clear error, not a crash, and the old output stays.
    let out = p.run(&[
        "--memory-limit",
        "1MiB",
        "run",
        "viewer-day",
        "--date",
        "2026-01-05",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Resources exhausted") && !err.contains("panicked"),
        "{err}"
    );
    assert_eq!(outputs(&p), unlimited);
}
