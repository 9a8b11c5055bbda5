//! The `graph` job: seed 000's network as node and edge tables, checked against counts taken
//! straight from the Memgraph CSVs and against viewer-day on generated presence.

use std::collections::BTreeSet;

use super::{Pulse, shared_data};

#[test]
fn the_memgraph_csvs_become_the_graph() {
    let Some(dir) = shared_data("memgraph_twitch") else {
        return;
    };
    let p = Pulse::new();
    p.ok(&[
        "ingest",
        "replay",
        dir.to_str().unwrap(),
        "--as-of",
        "2022-01-01T00:00:00Z",
    ]);
    p.ok(&["run", "graph", "--date", "2022-01-01"]);
    // One edge per CSV row (no duplicate pairs in them), PLAYS for the 56 streamers with a
    // game, SPEAKS for all 57.
    let by_type = p.sql("SELECT type, count(*) FROM graph_edges GROUP BY type ORDER BY type");
    let rows = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .count() as i64
    };
    let want = [
        (
            "CHATTER",
            rows("import-data/chatters.csv") - 1 + rows("twitch-stream/chatters.csv"),
        ),
        ("IS_PART_OF", rows("import-data/teams.csv") - 1),
        ("MODERATOR", rows("import-data/moderators.csv") - 1),
        ("PLAYS", 56),
        ("SPEAKS", 57),
        ("VIP", rows("import-data/vips.csv") - 1),
    ];
    let got: Vec<(String, i64)> = by_type
        .iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap()))
        .collect();
    let want: Vec<(String, i64)> = want.iter().map(|(t, n)| (t.to_string(), *n)).collect();
    assert_eq!(got, want);
    // badboyhalo's chatters: the logins of both chatter files for its user id.
    let mut logins = BTreeSet::new();
    for f in ["import-data/chatters.csv", "twitch-stream/chatters.csv"] {
        for line in std::fs::read_to_string(dir.join(f)).unwrap().lines() {
            if let Some(("569342750", login)) = line.split_once(',') {
                logins.insert(login.trim().to_lowercase());
            }
        }
    }
    assert_eq!(
        p.count(
            "SELECT count(*) FROM graph_edges WHERE type = 'CHATTER' AND dst = 'stream:badboyhalo'"
        ),
        logins.len() as i64
    );
    // The streamer node carries its followers (streamers.csv: 2135028).
    assert_eq!(
        p.sql("SELECT label, name, followers FROM graph_nodes WHERE id = 'stream:badboyhalo'"),
        vec![vec![
            "Stream".to_string(),
            "badboyhalo".into(),
            "2135028".into()
        ]]
    );
    assert_eq!(
        p.count("SELECT count(*) FROM graph_nodes WHERE label = 'Stream'"),
        57
    );
    // The seed's queries, against counts from the CSV (game_name is the fifth field, before
    // any quoted text).
    let mut games: std::collections::BTreeMap<String, i64> = Default::default();
    for line in std::fs::read_to_string(dir.join("import-data/streamers.csv"))
        .unwrap()
        .lines()
        .skip(1)
    {
        let game = line.split(',').nth(4).unwrap().to_string();
        if !game.is_empty() {
            *games.entry(game).or_default() += 1;
        }
    }
    let mut want: Vec<(i64, String)> = games.into_iter().map(|(g, n)| (-n, g)).collect();
    want.sort();
    let out = p.ok(&["graph", "top-games", "100", "--format", "csv"]);
    let got: Vec<(i64, String)> = out
        .lines()
        .skip(1)
        .map(|l| {
            let (g, n) = l.rsplit_once(',').unwrap();
            (-n.parse::<i64>().unwrap(), g.trim_matches('"').to_string())
        })
        .collect();
    assert_eq!(got, want);
    let hood: serde_json::Value =
        serde_json::from_str(&p.ok(&["graph", "neighbourhood", "BadBoyHalo"])).unwrap();
    let chatter_links = hood["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["type"] == "CHATTER")
        .count();
    assert_eq!(chatter_links, logins.len());
    assert!(
        hood["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == "team:dreamsmp")
    );
    // Unknown names (and names that look like SQL) give an empty result, not an error.
    for name in ["nobody_here", "x' OR '1'='1"] {
        let empty: serde_json::Value =
            serde_json::from_str(&p.ok(&["graph", "neighbourhood", name])).unwrap();
        assert_eq!(
            empty,
            serde_json::json!({"nodes": [], "links": []}),
            "{name}"
        );
    }
    // The saved SQL also runs from `pulse sql` with bound parameters.
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sql/queries/graph/streamers_by_language.sql");
    let ko = p.ok(&[
        "sql",
        "-f",
        file.to_str().unwrap(),
        "--param",
        "ko",
        "--format",
        "csv",
    ]);
    let csv_ko = std::fs::read_to_string(dir.join("import-data/streamers.csv"))
        .unwrap()
        .lines()
        .filter(|l| l.split(',').nth(5) == Some("ko"))
        .count();
    assert_eq!(ko.lines().count() - 1, csv_ko);
    // One person, one node: boxbox streams and is a VIP of iitztimmy (the only streamer in
    // the VIP, moderator and chatter files); its node is the Stream one, with the VIP edge out
    // and its own chatters' edges in.
    let streamers: BTreeSet<String> =
        std::fs::read_to_string(dir.join("import-data/streamers.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().to_lowercase())
            .collect();
    let mut users = BTreeSet::new();
    for f in [
        "import-data/vips.csv",
        "import-data/moderators.csv",
        "import-data/chatters.csv",
        "twitch-stream/chatters.csv",
    ] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        let skip = usize::from(f.starts_with("import-data"));
        for line in text.lines().skip(skip).filter(|l| !l.is_empty()) {
            users.insert(line.split_once(',').unwrap().1.trim().to_lowercase());
        }
    }
    assert!(streamers.contains("boxbox") && users.contains("boxbox"));
    let people = users.difference(&streamers).count() as i64;
    assert_eq!(
        p.count("SELECT count(*) FROM graph_nodes WHERE label = 'User'"),
        people
    );
    assert_eq!(
        p.count("SELECT count(*) FROM graph_nodes WHERE id = 'user:boxbox'"),
        0
    );
    assert_eq!(
        p.count(
            "SELECT count(*) FROM graph_edges WHERE src = 'stream:boxbox' AND type = 'VIP' \
             AND dst = 'stream:iitztimmy'"
        ),
        1
    );
    assert!(p.count("SELECT count(*) FROM graph_edges WHERE dst = 'stream:boxbox'") > 0);
    // Every edge's ends are nodes.
    assert_eq!(
        p.count(
            "SELECT count(*) FROM graph_edges e LEFT JOIN graph_nodes s ON s.id = e.src \
             LEFT JOIN graph_nodes d ON d.id = e.dst WHERE s.id IS NULL OR d.id IS NULL"
        ),
        0
    );
}

#[test]
fn chatter_weights_are_the_minutes_viewer_day_counts() {
    let p = Pulse::new();
    p.ok(&[
        "gen",
        "--days",
        "2",
        "--channels",
        "8",
        "--viewers",
        "300",
        "--tweets-per-sec",
        "0",
    ]);
    p.ok(&[
        "run",
        "viewer-day",
        "--from",
        "2026-01-05",
        "--to",
        "2026-01-07",
    ]);
    p.ok(&["run", "graph", "--from", "2026-01-05", "--to", "2026-01-07"]);
    // Over the two days, per (viewer, channel): the graph's weight equals viewer-day's minutes.
    let graph = p.sql(
        "SELECT substr(src, 6), substr(dst, 8), weight FROM graph_edges WHERE type = 'CHATTER' ORDER BY 1, 2",
    );
    let days = p.sql(
        "SELECT viewer_login, channel_login, sum(minutes) FROM viewer_channel_day GROUP BY 1, 2 ORDER BY 1, 2",
    );
    assert!(graph.len() > 100);
    assert_eq!(graph, days);
    // The graph is as of the interval's last day.
    assert_eq!(
        p.sql("SELECT DISTINCT dt FROM graph_edges"),
        vec![vec!["2026-01-06".to_string()]]
    );
}

#[test]
fn centrality_views_and_audience_overlap_from_the_binary() {
    let p = Pulse::new();
    p.ok(&[
        "gen",
        "--days",
        "1",
        "--channels",
        "10",
        "--viewers",
        "400",
        "--tweets-per-sec",
        "0",
    ]);
    p.ok(&["run", "viewer-day", "--date", "2026-01-05"]);
    p.ok(&[
        "run",
        "bots",
        "--date",
        "2026-01-05",
        "--set",
        "min_channels=4",
    ]);
    p.ok(&["run", "graph", "--date", "2026-01-05"]);
    p.ok(&["run", "pagerank", "--date", "2026-01-05"]);
    p.ok(&[
        "run",
        "betweenness",
        "--date",
        "2026-01-05",
        "--set",
        "samples=40",
        "--set",
        "seed=3",
    ]);
    // The seed's top views: the same order as the tables, streams and users only.
    for (view, table, col) in [
        ("top-pagerank", "pagerank", "rank"),
        ("top-betweenness", "betweenness", "score"),
    ] {
        let out = p.ok(&["graph", view, "5", "--format", "csv"]);
        let got: Vec<String> = out.lines().skip(1).map(|l| l.to_string()).collect();
        let want: Vec<String> = p
            .sql(&format!(
                "SELECT CASE WHEN node LIKE 'stream:%' THEN 'Stream' ELSE 'User' END, \
                 substr(node, strpos(node, ':') + 1), {col} FROM {table} \
                 WHERE node LIKE 'stream:%' OR node LIKE 'user:%' ORDER BY {col} DESC, 2 LIMIT 5"
            ))
            .into_iter()
            .map(|r| r.join(","))
            .collect();
        assert_eq!(got, want, "{view}");
        assert_eq!(got.len(), 5);
    }
    assert_eq!(p.count("SELECT count(*) FROM betweenness WHERE source"), 40);
    // An edge file ranked on a later date goes to tables of its own: the seed's views still
    // show the lake graph's ranks.
    let views = |p: &Pulse| {
        ["top-pagerank", "top-betweenness"].map(|v| p.ok(&["graph", v, "5", "--format", "csv"]))
    };
    let before = views(&p);
    let file = p.dir.path().join("edges.csv");
    std::fs::write(&file, "src,dst\na,b\nb,c\nc,a\n").unwrap();
    let edges = format!("edges={}", file.display());
    for job in ["pagerank", "betweenness"] {
        p.ok(&["run", job, "--date", "2026-02-01", "--set", &edges]);
    }
    assert_eq!(views(&p), before);
    assert_eq!(p.count("SELECT count(*) FROM pagerank_file"), 3);
    assert_eq!(p.count("SELECT count(*) FROM betweenness_file"), 3);
    assert_eq!(
        p.count("SELECT count(*) FROM pagerank WHERE dt = '2026-02-01'"),
        0
    );
    // Audience overlap against sets built here from viewer-day, bots taken out.
    p.ok(&[
        "run",
        "audience-overlap",
        "--date",
        "2026-01-05",
        "--set",
        "min_shared=1",
    ]);
    let bots: BTreeSet<String> = p
        .sql("SELECT viewer_login FROM bot_list")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert!(!bots.is_empty());
    let mut audience: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for r in p.sql("SELECT viewer_login, channel_login FROM viewer_channel_day") {
        if !bots.contains(&r[0]) {
            audience
                .entry(r[1].clone())
                .or_default()
                .insert(r[0].clone());
        }
    }
    let mut want = Vec::new();
    for (a, va) in &audience {
        for (b, vb) in audience.range::<String, _>((
            std::ops::Bound::Excluded(a.clone()),
            std::ops::Bound::Unbounded,
        )) {
            let shared = va.intersection(vb).count();
            if shared >= 1 {
                let j = shared as f64 / (va.len() + vb.len() - shared) as f64;
                want.push(vec![
                    a.clone(),
                    b.clone(),
                    shared.to_string(),
                    format!("{j:.9}"),
                ]);
            }
        }
    }
    let got =
        p.sql("SELECT channel_a, channel_b, shared, jaccard FROM audience_overlap ORDER BY 1, 2");
    let got: Vec<Vec<String>> = got
        .into_iter()
        .map(|mut r| {
            r[3] = format!("{:.9}", r[3].parse::<f64>().unwrap());
            r
        })
        .collect();
    assert!(want.len() >= 5, "{want:?}");
    assert_eq!(got, want);
    // A streamer's closest audiences, and nothing for an unknown one.
    let (a, b) = (&want[0][0], &want[0][1]);
    let out = p.ok(&["graph", "audience-overlap", a, "50", "--format", "csv"]);
    assert!(
        out.lines().any(|l| l.starts_with(&format!("{b},"))),
        "{out}"
    );
    let none = p.ok(&[
        "graph",
        "audience-overlap",
        "nobody_here",
        "--format",
        "csv",
    ]);
    assert!(none.lines().count() <= 1, "{none}");
    // pagerank_file, betweenness_file and audience_overlap exist on a new lake, empty.
    assert!(super::outputs_exist_empty_on_a_new_lake(&p) >= 7);
}
