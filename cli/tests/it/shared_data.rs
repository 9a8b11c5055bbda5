//! Replays of the real public datasets in `../shared/data` (skipped with a message when the
//! folder is absent, as in a user's clone). Every quarantined record is accounted for by a
//! quirk the data README documents.

use std::path::Path;

use super::Pulse;

use super::shared_data as data;

fn replay(p: &Pulse, path: &Path) -> String {
    p.ok(&[
        "ingest",
        "replay",
        path.to_str().unwrap(),
        "--as-of",
        "2022-01-01T00:00:00Z",
    ])
}

#[test]
fn tweets_replay_with_explained_quarantine() {
    let Some(dir) = data("tweets") else { return };
    let p = Pulse::new();
    let out = replay(&p, &dir);
    // covid19 and GRAMMYs end inside a quoted field (1 each); financial line 731 has 13
    // fields because an unquoted URL contains commas.
    let reasons = p
        .sql("SELECT regexp_replace(origin, '^.*/', ''), reason FROM quarantine_replay ORDER BY 1");
    assert_eq!(reasons.len(), 3, "{reasons:?}\n{out}");
    assert!(
        reasons
            .iter()
            .any(|r| r[0].starts_with("covid19_tweets.csv:")
                && r[1].starts_with("expected 13 fields")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r[0].starts_with("GRAMMYs_tweets.csv:")
                && r[1].starts_with("expected 13 fields")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r[0] == "financial.csv:731" && r[1] == "expected 8 fields, found 13"),
        "{reasons:?}"
    );
    // 9,031 + 1,699 + 1,167 + 3,195 complete rows landed.
    assert_eq!(
        p.count("SELECT count(*) FROM messages"),
        9031 + 1699 + 1167 + 3195
    );
    // Elon Musk's bytes literals are decoded.
    assert_eq!(
        p.count("SELECT count(*) FROM messages WHERE text LIKE 'b''%'"),
        0
    );
    let tags = p.sql("SELECT tag FROM (SELECT unnest(hashtags(text)) AS tag FROM messages) GROUP BY tag ORDER BY count(*) DESC, tag LIMIT 1");
    assert_eq!(tags, vec![vec!["covid19"]]);
}

#[test]
fn memgraph_csvs_replay_whole() {
    let Some(dir) = data("memgraph_twitch") else {
        return;
    };
    let p = Pulse::new();
    let out = replay(&p, &dir);
    assert!(out.contains(" 0 quarantined"), "{out}");
    assert_eq!(p.count("SELECT count(*) FROM channels"), 57);
    assert_eq!(p.count("SELECT count(*) FROM chatters"), 28_950 + 877);
    assert_eq!(p.count("SELECT count(*) FROM moderators"), 457);
    assert_eq!(p.count("SELECT count(*) FROM vips"), 305);
    assert_eq!(p.count("SELECT count(*) FROM teams"), 50);
}

#[test]
fn viewer_logs_and_category_snapshots_replay() {
    let (Some(viewers), Some(cats), Some(live)) = (
        data("codecademy_twitch"),
        data("twitch_category_snapshots_2023/games.csv"),
        data("twitch_live_snapshots_2025"),
    ) else {
        return;
    };
    let p = Pulse::new();
    // Each Codecademy file's last line is cut mid-record: one quarantined per file.
    let out = replay(&p, &viewers);
    assert!(out.contains("30309 records landed, 2 quarantined"), "{out}");
    assert_eq!(
        p.count("SELECT count(DISTINCT channel_login) FROM presence"),
        10
    );
    let out = replay(&p, &cats);
    assert!(out.contains("20661 records landed, 0 quarantined"), "{out}");
    assert_eq!(
        p.count("SELECT count(*) FROM categories WHERE viewers IS NULL"),
        0
    );
    let out = replay(&p, &live);
    assert!(
        out.contains("skipped") && out.contains("final_streamers_data.csv"),
        "{out}"
    );
    assert_eq!(p.count("SELECT count(*) FROM streams"), 731 + 863);
}

#[test]
fn real_viewer_logs_replay_and_profile() {
    let (Some(events), Some(dream)) = (
        data("codecademy_twitch"),
        data("dreamsmp_hourly_viewership"),
    ) else {
        return;
    };
    let p = Pulse::new();
    replay(&p, &events);
    // One day of events (2015-01-01): the whole daily chain runs on it.
    for job in ["viewer-day", "bots", "profiles", "verify", "pipeline-stats"] {
        p.ok(&["run", job, "--date", "2015-01-01"]);
    }
    let viewers = p.count("SELECT count(DISTINCT viewer_login) FROM presence");
    assert_eq!(
        p.count("SELECT count(DISTINCT viewer_login) FROM viewer_channel_day"),
        viewers
    );
    assert_eq!(
        p.sql("SELECT status FROM verification"),
        vec![vec!["ok".to_string()]]
    );
    let someone = p.sql("SELECT min(viewer_login) FROM viewer_channel_day");
    let out = p.ok(&["profile", &someone[0][0]]);
    assert!(
        out.contains("workday") && out.contains("streamers"),
        "{out}"
    );
    // Dream SMP: hourly viewers of 34 channels over 20 days (740 readings, as its README
    // says) land as stream snapshots; the viewer chain runs over them (no presence: empty
    // outputs) and so does the channel job.
    let out = replay(&p, &dream);
    assert!(out.contains("740 records landed, 0 quarantined"), "{out}");
    assert_eq!(
        p.count("SELECT count(DISTINCT channel_login) FROM streams WHERE dt >= '2021-05-01'"),
        34
    );
    for job in ["viewer-day", "bots", "profiles", "channels"] {
        p.ok(&["run", job, "--from", "2021-05-01", "--to", "2021-05-21"]);
    }
    assert_eq!(
        p.count("SELECT count(DISTINCT channel_login) FROM channel_daily WHERE dt >= '2021-05-01'"),
        34
    );
}

#[test]
fn musae_graph_runs_pagerank_and_betweenness_from_its_edge_file() {
    let Some(edges) = data("musae_twitch/edges/ENGB_edges.csv") else {
        return;
    };
    let file = edges.to_str().unwrap();
    // The nodes are the ids on an edge (`from,to`), counted here.
    let mut ids = std::collections::BTreeSet::new();
    for line in std::fs::read_to_string(&edges).unwrap().lines().skip(1) {
        let (a, b) = line.split_once(',').unwrap();
        ids.insert(a.trim().to_string());
        ids.insert(b.trim().to_string());
    }
    let p = Pulse::new();
    let edges = format!("edges={file}");
    let day = [
        "--date",
        "2026-01-01",
        "--set",
        edges.as_str(),
        "--set",
        "directed=0",
    ];
    p.ok(&[&["run", "pagerank"][..], &day[..]].concat());
    assert_eq!(
        p.count("SELECT count(*) FROM pagerank_file"),
        ids.len() as i64
    );
    let sum: f64 = p.sql("SELECT sum(rank) FROM pagerank_file")[0][0]
        .parse()
        .unwrap();
    assert!((sum - 1.0).abs() < 1e-9, "{sum}");
    p.ok(&[
        &["run", "betweenness"][..],
        &day[..],
        &["--set", "samples=50", "--set", "seed=7"][..],
    ]
    .concat());
    assert_eq!(
        p.count("SELECT count(*) FROM betweenness_file WHERE source"),
        50
    );
    assert_eq!(
        p.count("SELECT count(*) FROM betweenness_file"),
        ids.len() as i64
    );
    assert!(p.count("SELECT count(*) FROM betweenness_file WHERE score > 0") > 1000);
}
