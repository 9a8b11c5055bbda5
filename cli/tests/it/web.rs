//! `pulse serve` over a generated lake: every API endpoint against the same question asked
//! in SQL here (written anew, not the catalog's file), bad parameters, the OpenAPI document
//! (checked by an independent validator when installed), credentials, and every page in
//! headless Chromium driven over WebDriver by chromedriver.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Pulse, Running, spawn};

/// A demo lake of two days.
fn demo_lake() -> Pulse {
    let p = Pulse::new();
    p.ok(&["demo", "--days", "2", "--channels", "8", "--viewers", "400"]);
    p
}

/// `pulse serve` on a free loopback port; returns the process and its base URL.
fn serve(p: &Pulse, extra: &[&str]) -> (Running, String) {
    serve_with(p, &[], extra)
}

/// `pulse GLOBAL... serve --listen 127.0.0.1:0 EXTRA...`.
pub fn serve_with(p: &Pulse, global: &[&str], extra: &[&str]) -> (Running, String) {
    let mut c = p.cmd();
    c.args(global)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra);
    let mut s = spawn(c);
    let url = s.read_until("serving ");
    (s, url.trim_end_matches('/').to_string())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An HTTP response: status, headers, body.
struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

fn get(url: &str, headers: &[(&str, &str)]) -> Resp {
    runtime().block_on(async {
        let mut r = reqwest::Client::new().get(url);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.send().await.unwrap();
        Resp {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.bytes().await.unwrap().to_vec(),
        }
    })
}

/// A cell for comparing: numbers to 6 decimals, the rest as text.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Number(n) => format!("{:.6}", n.as_f64().unwrap()),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => norm(s),
        other => other.to_string(),
    }
}

fn norm(s: &str) -> String {
    match s.parse::<f64>() {
        Ok(f) => format!("{f:.6}"),
        Err(_) => s.to_string(),
    }
}

/// The API's rows (an array of objects), as cells of `cols`.
pub fn api_rows(base: &str, path: &str, cols: &[&str]) -> Vec<Vec<String>> {
    let r = get(&format!("{base}{path}"), &[]);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let v = r.json();
    v.as_array()
        .unwrap_or_else(|| panic!("{path}: not an array: {v}"))
        .iter()
        .map(|row| cols.iter().map(|c| cell(&row[*c])).collect())
        .collect()
}

fn sql_rows(p: &Pulse, q: &str) -> Vec<Vec<String>> {
    p.sql(q)
        .into_iter()
        .map(|r| r.iter().map(|c| norm(c)).collect())
        .collect()
}

fn first(p: &Pulse, q: &str) -> String {
    p.sql(q)[0][0].clone()
}

#[test]
fn every_endpoint_answers_what_sql_does_and_refuses_bad_parameters() {
    let p = demo_lake();
    let (_server, base) = serve(&p, &[]);
    let tested: std::cell::RefCell<BTreeSet<String>> = Default::default();
    let check = |path: &str, cols: &[&str], q: &str| {
        let got = api_rows(&base, path, cols);
        let want = sql_rows(&p, q);
        assert_eq!(got, want, "{path} against {q}");
        let route: Vec<&str> = path.split('?').next().unwrap().split('/').take(4).collect();
        tested.borrow_mut().insert(route.join("/"));
        got.len()
    };
    let last = first(&p, "SELECT max(dt) FROM channel_daily");
    let g = "(SELECT max(dt) FROM graph_nodes)";
    let channel = first(
        &p,
        "SELECT channel_login FROM channel_daily GROUP BY 1 ORDER BY sum(hours_watched) DESC LIMIT 1",
    );
    let viewer = first(
        &p,
        "SELECT viewer_login FROM viewer_channel_day WHERE viewer_login NOT IN (SELECT viewer_login FROM bot_list) \
         GROUP BY 1 ORDER BY sum(minutes) DESC, 1 LIMIT 1",
    );
    let category = first(
        &p,
        "SELECT category_name FROM category_stats_1day GROUP BY 1 ORDER BY sum(hours_watched) DESC LIMIT 1",
    );
    let tag = first(
        &p,
        "SELECT tag FROM hashtag_counts_1h_10m GROUP BY 1 ORDER BY sum(n) DESC, 1 LIMIT 1",
    );

    // The graph: the seed's endpoints, path segments as its Flask routes took them.
    check(
        "/api/graph/node-count",
        &["label", "nodes"],
        &format!(
            "SELECT label, n FROM (SELECT label, count(*) AS n FROM graph_nodes WHERE dt = {g} GROUP BY label \
             UNION ALL SELECT 'all', count(*) FROM graph_nodes WHERE dt = {g}) ORDER BY label = 'all', label"
        ),
    );
    check(
        "/api/graph/edge-count",
        &["type", "edges"],
        &format!(
            "SELECT t, n FROM (SELECT type AS t, count(*) AS n FROM graph_edges WHERE dt = {g} GROUP BY type \
             UNION ALL SELECT 'all', count(*) FROM graph_edges WHERE dt = {g}) ORDER BY t = 'all', t"
        ),
    );
    // Top lists, counted here from distinct edges: games and teams by their streams, users by
    // the channels that gave them a badge.
    for (path, cols, end, edge) in [
        ("top-games", ["game", "streamers"], "dst", "PLAYS"),
        ("top-teams", ["team", "members"], "dst", "IS_PART_OF"),
        ("top-vips", ["user", "channels"], "src", "VIP"),
        ("top-moderators", ["user", "channels"], "src", "MODERATOR"),
    ] {
        check(
            &format!("/api/graph/{path}/3"),
            &cols,
            &format!(
                "SELECT substr({end}, strpos({end}, ':') + 1) AS k, count(*) AS c FROM \
                 (SELECT DISTINCT src, dst FROM graph_edges WHERE dt = {g} AND type = '{edge}') \
                 GROUP BY {end} ORDER BY c DESC, k LIMIT 3"
            ),
        );
    }
    for (path, col) in [
        ("top-streamers-by-views", "total_views"),
        ("top-streamers-by-followers", "followers"),
    ] {
        check(
            &format!("/api/graph/{path}?limit=4"),
            &["streamer", col],
            &format!(
                "SELECT name, {col} FROM graph_nodes WHERE dt = {g} AND label = 'Stream' AND {col} IS NOT NULL \
                 ORDER BY {col} DESC, name LIMIT 4"
            ),
        );
    }
    let lang = first(
        &p,
        &format!(
            "SELECT substr(dst, 10) FROM graph_edges WHERE dt = {g} AND type = 'SPEAKS' LIMIT 1"
        ),
    );
    let by_lang = api_rows(
        &base,
        &format!("/api/graph/streamers-by-language/{lang}"),
        &["streamer"],
    );
    assert!(!by_lang.is_empty());
    assert_eq!(
        by_lang.len() as i64,
        p.count(&format!(
            "SELECT count(DISTINCT src) FROM graph_edges WHERE dt = {g} AND type = 'SPEAKS' AND dst = 'language:{lang}'"
        ))
    );
    tested
        .borrow_mut()
        .insert("/api/graph/streamers-by-language".into());
    let game = first(
        &p,
        &format!(
            "SELECT substr(dst, 6) FROM graph_edges WHERE dt = {g} AND type = 'PLAYS' LIMIT 1"
        ),
    );
    let by_game = api_rows(
        &base,
        &format!("/api/graph/streamers-by-game?game={}", enc(&game)),
        &["streamer"],
    );
    assert_eq!(
        by_game.len() as i64,
        p.count(&format!(
            "SELECT count(DISTINCT src) FROM graph_edges WHERE dt = {g} AND type = 'PLAYS' AND dst = 'game:{}'",
            game.replace('\'', "''")
        ))
    );
    tested
        .borrow_mut()
        .insert("/api/graph/streamers-by-game".into());
    for (path, table, col) in [
        ("top-pagerank", "pagerank", "rank"),
        ("top-betweenness", "betweenness", "score"),
    ] {
        check(
            &format!("/api/graph/{path}?limit=5"),
            &["name", col],
            &format!(
                "SELECT n.name, t.{col} FROM {table} t, graph_nodes n WHERE n.id = t.node AND n.dt = t.dt \
                 AND t.dt = (SELECT max(dt) FROM {table}) AND n.label IN ('Stream', 'User') ORDER BY t.{col} DESC, n.name LIMIT 5"
            ),
        );
    }
    // Audience overlap: the demo does not run it; the endpoint answers empty, then the job's rows.
    assert_eq!(
        api_rows(
            &base,
            &format!("/api/graph/audience-overlap/{channel}"),
            &[]
        )
        .len(),
        0
    );
    p.ok(&["run", "audience-overlap", "--date", &last]);
    std::thread::sleep(Duration::from_secs(7)); // the server's session refresh (5 s)
    check(
        &format!("/api/graph/audience-overlap/{channel}/50"),
        &["channel", "shared"],
        &format!(
            "SELECT CASE WHEN channel_a = '{channel}' THEN channel_b ELSE channel_a END AS c, shared FROM audience_overlap \
             WHERE '{channel}' IN (channel_a, channel_b) ORDER BY jaccard DESC, c"
        ),
    );
    let nb = get(&format!("{base}/api/graph/neighbourhood/{channel}"), &[]).json();
    let links = p.count(&format!(
        "SELECT count(*) FROM graph_edges WHERE dt = {g} AND (src = 'stream:{channel}' OR dst = 'stream:{channel}')"
    ));
    assert!(links > 0);
    assert_eq!(nb["links"].as_array().unwrap().len() as i64, links);
    let ends = p.count(&format!(
        "SELECT count(*) FROM (SELECT src FROM graph_edges WHERE dt = {g} AND (src = 'stream:{channel}' OR dst = 'stream:{channel}') \
         UNION SELECT dst FROM graph_edges WHERE dt = {g} AND (src = 'stream:{channel}' OR dst = 'stream:{channel}'))"
    ));
    assert_eq!(nb["nodes"].as_array().unwrap().len() as i64, ends);
    tested
        .borrow_mut()
        .insert("/api/graph/neighbourhood".into());

    // Hashtags (the nightly DAG's 1 h windows every 10 min), the latest day by default.
    let h = "hashtag_top_1h_10m";
    let windows = check(
        "/api/hashtags/windows",
        &["window_start", "tags"],
        &format!(
            "SELECT window_start, count(*) FROM {h} WHERE dt = (SELECT max(dt) FROM {h}) GROUP BY 1 ORDER BY 1"
        ),
    );
    assert!(windows > 100, "{windows} windows");
    check(
        "/api/hashtags/top?k=3",
        &["window_start", "rank", "tag", "n"],
        &format!(
            "SELECT window_start, rank, tag, n FROM {h} WHERE rank <= 3 AND dt = (SELECT max(dt) FROM {h}) ORDER BY 1, 2"
        ),
    );
    let d0 = first(&p, &format!("SELECT min(dt) FROM {h}"));
    check(
        &format!("/api/hashtags/trends?from={d0}&to={last}&limit=5"),
        &["tag", "score"],
        "SELECT tag, score FROM hashtag_trends_1h_10m ORDER BY score DESC, window_start, tag LIMIT 5",
    );
    check(
        &format!("/api/hashtags/tag?tag=%23{tag}&from={d0}&to={last}"),
        &["window_start", "n"],
        &format!(
            "SELECT window_start, n FROM hashtag_counts_1h_10m WHERE tag = '{tag}' ORDER BY 1"
        ),
    );

    // Categories (daily windows).
    check(
        "/api/categories/list?limit=5",
        &["category_name", "hours_watched", "share"],
        "SELECT category_name, h, h / (SELECT sum(hours_watched) FROM category_stats_1day) FROM \
         (SELECT category_name, sum(hours_watched) AS h FROM category_stats_1day GROUP BY 1) ORDER BY h DESC, 1 LIMIT 5",
    );
    check(
        &format!("/api/categories/share?from={last}"),
        &["category_name", "share"],
        &format!(
            "SELECT category_name, hours_watched / sum(hours_watched) OVER () FROM category_stats_1day WHERE dt = '{last}' ORDER BY rank"
        ),
    );
    check(
        &format!("/api/categories/heatmap?category={}", enc(&category)),
        &["weekday", "hour", "avg_viewers", "avg_channels"],
        &format!(
            "SELECT weekday, hour, avg(avg_viewers), avg(avg_channels) FROM category_hourly WHERE category_name = '{category}' \
             GROUP BY 1, 2 ORDER BY 1, 2"
        ),
    );
    check(
        "/api/categories/heatmap",
        &["weekday", "hour", "avg_viewers"],
        "SELECT weekday, hour, avg(v) FROM (SELECT dt, weekday, hour, sum(avg_viewers) AS v FROM category_hourly GROUP BY 1, 2, 3) \
         GROUP BY 1, 2 ORDER BY 1, 2",
    );
    check(
        &format!("/api/categories/top-channels?category={}", enc(&category)),
        &["channel_login", "windows", "peak_viewers"],
        &format!(
            "SELECT channel_login, count(*), max(peak_viewers) FROM category_top_channels_1day WHERE category_name = '{category}' \
             GROUP BY 1 ORDER BY avg(avg_viewers) DESC, 1 LIMIT 10"
        ),
    );

    // Channels: the TwitchTracker figures over the last 7 days of the lake (both days here).
    let span = format!(
        "dt >= to_char(CAST('{last}' AS DATE) - INTERVAL '6 days', '%Y-%m-%d') AND dt <= '{last}'"
    );
    check(
        &format!("/api/channels/summary?channel={channel}&days=7"),
        &[
            "avg_viewers",
            "peak_viewers",
            "hours_watched",
            "hours_streamed",
            "followers_gained",
            "streams",
        ],
        &format!(
            "SELECT sum(hours_watched) / sum(airtime_hours), max(peak_viewers), sum(hours_watched), sum(airtime_hours), \
             sum(follower_change), sum(streams) FROM channel_daily WHERE channel_login = '{channel}' AND {span}"
        ),
    );
    // An explicit span is that span, whatever `days` is (it once started `days` before `from`).
    check(
        &format!("/api/channels/summary?channel={channel}&from={last}&to={last}"),
        &["from_date", "to_date", "hours_watched", "streams"],
        &format!(
            "SELECT '{last}' AS f, '{last}' AS t, sum(hours_watched), sum(streams) FROM channel_daily \
             WHERE channel_login = '{channel}' AND dt = '{last}'"
        ),
    );
    check(
        &format!("/api/channels/daily?channel={channel}"),
        &["dt", "hours_watched", "peak_viewers"],
        &format!(
            "SELECT dt, hours_watched, peak_viewers FROM channel_daily WHERE channel_login = '{channel}' ORDER BY dt"
        ),
    );
    check(
        &format!("/api/channels/games?channel={channel}"),
        &["category_name", "share"],
        &format!(
            "SELECT category_name, h / sum(h) OVER () FROM (SELECT category_name, sum(airtime_hours) AS h FROM channel_categories \
             WHERE channel_login = '{channel}' GROUP BY 1) ORDER BY h DESC, 1"
        ),
    );
    check(
        &format!("/api/channels/schedule?channel={channel}&from={d0}&to={last}"),
        &["weekday", "hour", "avg_minutes_live"],
        &format!(
            "SELECT h.weekday, h.hour, sum(h.minutes_live) / max(d.n) FROM channel_hourly h JOIN \
             (SELECT CAST(date_part('dow', CAST(dt AS DATE)) AS INT) AS wd, count(DISTINCT dt) AS n FROM channel_daily GROUP BY 1) d \
             ON d.wd = h.weekday WHERE h.channel_login = '{channel}' GROUP BY 1, 2 ORDER BY 1, 2"
        ),
    );
    let lang = first(
        &p,
        &format!("SELECT language FROM channels WHERE login = '{channel}' LIMIT 1"),
    );
    check(
        &format!("/api/channels/leaderboard?language={lang}&days=7"),
        &["channel_login", "hours_watched"],
        &format!(
            "SELECT channel_login, sum(hours_watched) AS h FROM channel_daily WHERE {span} AND channel_login IN \
             (SELECT login FROM channels WHERE language = '{lang}') GROUP BY 1 ORDER BY h DESC, 1 LIMIT 50"
        ),
    );

    // Viewers.
    let prefix: String = viewer.chars().take(2).collect();
    check(
        &format!("/api/viewers/search?q={}", prefix.to_uppercase()),
        &["viewer_login", "minutes"],
        &format!(
            "SELECT viewer_login, sum(minutes) AS m FROM viewer_channel_day WHERE viewer_login LIKE '{prefix}%' \
             GROUP BY 1 ORDER BY m DESC, 1 LIMIT 20"
        ),
    );
    check(
        "/api/viewers/top?limit=3",
        &["viewer_login", "minutes"],
        &format!(
            "SELECT viewer_login, sum(minutes) AS m FROM viewer_channel_day WHERE viewer_login NOT IN \
             (SELECT viewer_login FROM bot_list WHERE dt = '{last}') GROUP BY 1 ORDER BY m DESC, 1 LIMIT 3"
        ),
    );
    let profile = get(&format!("{base}/api/viewers/profile?viewer={viewer}"), &[]).json();
    assert_eq!(profile["viewer"], json!(viewer));
    let fav = sql_rows(
        &p,
        &format!(
            "SELECT channel_login, sum(minutes) AS m FROM viewer_channel_day WHERE viewer_login = '{viewer}' \
             GROUP BY 1 ORDER BY m DESC, 1 LIMIT 1"
        ),
    );
    assert_eq!(
        vec![
            cell(&profile["streamers_total"][0][0]),
            cell(&profile["streamers_total"][0][1])
        ],
        fav[0]
    );
    assert_eq!(profile["bot"], Value::Null);
    tested.borrow_mut().insert("/api/viewers/profile".into());
    let nobody = get(
        &format!("{base}/api/viewers/profile?viewer=nobody_here"),
        &[],
    );
    assert_eq!(nobody.json(), Value::Null);
    check(
        &format!("/api/viewers/heatmap?viewer={viewer}"),
        &["weekday", "hour", "avg_minutes"],
        &format!(
            "SELECT CAST(date_part('dow', CAST(dt AS DATE)) AS INT) AS d, hour, sum(minutes) FROM viewer_hour_day \
             WHERE viewer_login = '{viewer}' GROUP BY 1, 2 ORDER BY 1, 2"
        ),
    );
    check(
        &format!("/api/viewers/day?viewer={viewer}&date={d0}"),
        &["channel_login", "minutes", "sessions"],
        &format!(
            "SELECT channel_login, minutes, sessions FROM viewer_channel_day WHERE viewer_login = '{viewer}' AND dt = '{d0}' \
             ORDER BY first_seen, channel_login"
        ),
    );

    // Pipeline health.
    check(
        "/api/pipeline/runs?status=succeeded&limit=1000",
        &["job", "from_date", "status"],
        "SELECT job, from_date, status FROM runs WHERE status = 'succeeded' ORDER BY started_at DESC, run_id",
    );
    check(
        "/api/pipeline/failures",
        &["job"],
        "SELECT job FROM runs WHERE status = 'failed'",
    );
    check(
        "/api/pipeline/durations",
        &["job", "runs", "max_ms"],
        "SELECT job, count(*), max(duration_ms) FROM runs WHERE status = 'succeeded' GROUP BY job ORDER BY avg(duration_ms) DESC, job",
    );
    check(
        "/api/pipeline/days",
        &["dt", "viewers_tracked", "verification"],
        "SELECT s.dt, max(s.viewers_tracked), v.status FROM pipeline_stats s LEFT JOIN verification v ON v.dt = s.dt \
         GROUP BY s.dt, v.status ORDER BY s.dt DESC",
    );

    // Live windows come from an ingest worker in the same process (`pulse live`, tested
    // below); a plain `pulse serve` says so.
    let r = get(&format!("{base}/api/live"), &[]);
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("pulse live"));
    tested.borrow_mut().insert("/api/live".into());
    // The OpenAPI document covers every route, and every route above was checked.
    let doc = get(&format!("{base}/api/openapi.json"), &[]).json();
    let paths: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        paths,
        *tested.borrow(),
        "endpoints without a check, or checks of unknown routes"
    );
    assert!(paths.len() >= 30);
    let file = p.dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let validator = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&validator.stderr);
    if err.contains("No module named") {
        eprintln!("skipping the OpenAPI validation: openapi-spec-validator is not installed");
    } else {
        assert!(
            validator.status.success(),
            "invalid OpenAPI document: {err}"
        );
    }

    // Bad parameters: 400 naming the parameter; unknown things: 404; text is only bound.
    for (path, param) in [
        ("/api/graph/top-games?limit=0", "limit"),
        ("/api/graph/top-games/abc", "limit"),
        ("/api/graph/top-games?limit=100000", "limit"),
        ("/api/graph/top-games?nope=1", "nope"),
        ("/api/hashtags/top?from=2026-13-01", "from"),
        ("/api/hashtags/top?size=soon", "size"),
        ("/api/channels/summary", "channel"),
        ("/api/channels/summary?channel=x&days=-1", "days"),
    ] {
        let r = get(&format!("{base}{path}"), &[]);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(r.json()["parameter"], json!(param), "{path}");
        assert!(
            r.json()["error"].as_str().unwrap().contains(param),
            "{path}"
        );
    }
    for path in [
        "/api/nope/x",
        "/api/graph/nope",
        "/api/hashtags/top?size=7m&slide=1m",
        "/api/graph/top-games/1/2",
    ] {
        let r = get(&format!("{base}{path}"), &[]);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(r.json()["error"].is_string());
    }
    let sneaky = api_rows(
        &base,
        "/api/viewers/search?q=%27%20OR%201%3D1%20--",
        &["viewer_login"],
    );
    assert!(sneaky.is_empty());
    // Keys come in the query's column order.
    let raw = get(&format!("{base}/api/graph/top-games/1"), &[]).text();
    assert!(raw.starts_with("[{\"game\":"), "{raw}");
    // Caching and compression.
    let r = get(
        &format!("{base}/api/pipeline/runs"),
        &[("accept-encoding", "gzip")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-encoding"], "gzip");
    assert!(
        r.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );

    // The pages without JavaScript: each is whole HTML with its charts in it.
    let top = get(&format!("{base}/api/hashtags/top"), &[]).json();
    let last_window = top.as_array().unwrap().last().unwrap()["window_start"].clone();
    let top_tags: Vec<String> = top
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["window_start"] == last_window)
        .map(|r| r["tag"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(top_tags.len(), 10);
    for (path, marks) in [
        ("/", vec!["id=\"tracked-chart\"", "id=\"durations-chart\""]),
        ("/trending", vec!["id=\"top-chart\"", "type=\"range\""]),
        (
            "/categories",
            vec!["id=\"share-chart\"", "id=\"viewers-heatmap\""],
        ),
        ("/channel", vec!["id=\"leaderboard-chart\""]),
        ("/viewer", vec!["id=\"viewer-search\""]),
        ("/network", vec!["id=\"network\""]),
        ("/runs", vec!["<table"]),
    ] {
        let r = get(&format!("{base}{path}"), &[]);
        assert_eq!(r.status, 200, "{path}");
        let html = r.text();
        for m in marks {
            assert!(html.contains(m), "{path} lacks {m}");
        }
    }
    let html = get(&format!("{base}/trending"), &[]).text();
    let chart = html.split("id=\"top-chart\"").nth(1).unwrap();
    let chart = chart.split("</svg>").next().unwrap();
    let labels: Vec<&str> = chart
        .split("data-label=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(labels, top_tags);
    let bad = get(&format!("{base}/channel?name={channel}&days=0"), &[]);
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("days"));
}

#[test]
fn pages_need_a_viewer_beyond_loopback_and_show_empty_states_on_a_new_lake() {
    let p = Pulse::new();
    // Beyond loopback without credentials: refused before binding.
    let out = p.run(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PULSE_SERVE_PASSWORD") && err.contains("--insecure"),
        "{err}"
    );
    // With a viewer: every route needs the credentials.
    let mut p = p;
    p.env.push(("PULSE_SERVE_PASSWORD".into(), "s3cret".into()));
    let (_server, base) = serve(&p, &["--user", "viewer"]);
    for path in ["/", "/api/openapi.json", "/api/pipeline/runs"] {
        let r = get(&format!("{base}{path}"), &[]);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.headers.contains_key("www-authenticate"));
        let wrong = get(
            &format!("{base}{path}"),
            &[("authorization", "Basic dmlld2VyOm5vcGU=")],
        );
        assert_eq!(wrong.status, 401, "{path}");
    }
    // viewer:s3cret
    let auth = [("authorization", "Basic dmlld2VyOnMzY3JldA==")];
    // A new lake: every page is there and says which job writes what it would show.
    for (path, job) in [
        ("/", "pulse run pipeline-stats"),
        ("/trending", "pulse run hashtags"),
        ("/categories", "pulse run categories"),
        ("/channel", "pulse run channels"),
        ("/viewer", "pulse run viewer-day"),
        ("/network", "pulse run graph"),
        ("/runs", "pulse ingest"),
    ] {
        let r = get(&format!("{base}{path}"), &auth);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert!(
            r.text().contains(job),
            "{path} does not name {job}:\n{}",
            r.text()
        );
    }
    assert_eq!(
        get(&format!("{base}/api/pipeline/runs"), &auth).json(),
        json!([])
    );
}

fn enc(s: &str) -> String {
    s.replace('%', "%25")
        .replace(' ', "%20")
        .replace('&', "%26")
        .replace('#', "%23")
}

/// A WebDriver session with headless Chromium, through chromedriver on a free port.
struct Browser {
    _driver: Running,
    url: String,
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Browser {
    /// `None` (with a message) where Chromium or chromedriver is not installed.
    fn start(profile: &std::path::Path) -> Option<Browser> {
        let found = |names: &[&str]| {
            names.iter().find_map(|n| {
                std::process::Command::new("sh")
                    .args(["-c", &format!("command -v {n}")])
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            })
        };
        let (Some(chrome), Some(driver)) = (
            found(&["chromium", "chromium-browser", "google-chrome"]),
            found(&["chromedriver"]),
        ) else {
            eprintln!("skipping the browser test: chromium and chromedriver are not installed");
            return None;
        };
        let port = super::cluster::free_port();
        let mut c = std::process::Command::new(driver);
        c.arg(format!("--port={port}"));
        let d = spawn(c);
        let url = format!("http://127.0.0.1:{port}");
        let rt = runtime();
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while rt
            .block_on(client.get(format!("{url}/status")).send())
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         format!("--user-data-dir={}", profile.display())],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let r: Value = rt
            .block_on(async {
                client
                    .post(format!("{url}/session"))
                    .json(&caps)
                    .send()
                    .await?
                    .json()
                    .await
            })
            .unwrap();
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_string();
        Some(Browser {
            _driver: d,
            url: format!("{url}/session/{id}"),
            rt,
            client,
        })
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.url);
        let r: Value = self
            .rt
            .block_on(async {
                let req = match method {
                    "GET" => self.client.get(url),
                    "DELETE" => self.client.delete(url),
                    _ => self.client.post(url).json(&body),
                };
                req.send().await?.json().await
            })
            .unwrap();
        if r["value"]["error"].is_string() {
            panic!("webdriver {method} {path}: {}", r["value"]);
        }
        r["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({"url": url}));
    }

    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_string()
    }

    fn click(&self, css: &str) {
        let e = self.element(css);
        self.call("POST", &format!("/element/{e}/click"), json!({}));
    }

    /// Clicks a link or button that navigates and waits (10 s at most) for a loaded page
    /// whose path and query satisfy `want`; returns that path (or the last one seen).
    fn follow(&self, css: &str, want: impl Fn(&str) -> bool) -> String {
        self.click(css);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let path = self.path();
            let loaded = self.js("return document.readyState;") == json!("complete");
            if (want(&path) && loaded) || std::time::Instant::now() > deadline {
                return path;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        );
    }

    fn path(&self) -> String {
        self.js("return location.pathname + location.search;")
            .as_str()
            .unwrap()
            .to_string()
    }

    fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.call("GET", "/screenshot", json!({}));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }

    /// The browser console's errors since the last call.
    fn console_errors(&self) -> Vec<String> {
        let logs = self.call("POST", "/se/log", json!({"type": "browser"}));
        logs.as_array()
            .unwrap()
            .iter()
            .filter(|l| l["level"] == "SEVERE")
            .map(|l| l["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let url = self.url.clone();
        let _ = self.rt.block_on(self.client.delete(url).send());
    }
}

#[test]
fn every_page_works_in_headless_chromium() {
    let p = demo_lake();
    let profile = tempfile::tempdir().unwrap();
    let Some(b) = Browser::start(profile.path()) else {
        return;
    };
    let (_server, base) = serve(&p, &[]);
    let labels = |css: &str| -> Vec<String> {
        b.js(&format!(
            "return Array.from(document.querySelectorAll('{css}')).map(e => e.dataset.label);"
        ))
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
    };
    let h1 = || b.js("return document.querySelector('h1').textContent;");
    // Every page, by the navigation from the overview.
    b.goto(&format!("{base}/"));
    b.screenshot("overview");
    for (path, title) in [
        ("/trending", "Trending"),
        ("/categories", "Categories"),
        ("/channel", "Channels"),
        ("/viewer", "Viewers"),
        ("/network", "Network"),
        ("/runs", "Runs"),
        ("/", "Overview"),
    ] {
        let at = b.follow(&format!("header nav a[href='{path}']"), |p| p == path);
        assert_eq!(at, path);
        assert_eq!(h1(), json!(title));
        b.screenshot(title);
        assert_eq!(b.console_errors(), Vec::<String>::new(), "{path}");
    }
    // Readable on a phone: no page is wider than a 390 px screen.
    b.call("POST", "/window/rect", json!({"width": 390, "height": 844}));
    for (path, _) in [
        ("/", ""),
        ("/trending", ""),
        ("/categories", ""),
        ("/channel", ""),
        ("/viewer", ""),
        ("/network", ""),
        ("/runs", ""),
    ] {
        b.goto(&format!("{base}{path}"));
        let fits = b.js("return document.documentElement.scrollWidth <= window.innerWidth + 1;");
        assert_eq!(fits, json!(true), "{path} is wider than a phone");
    }
    b.screenshot("Overview on a phone");
    b.call(
        "POST",
        "/window/rect",
        json!({"width": 1280, "height": 1000}),
    );
    // Trending: the top-10 chart of the latest window holds the API's tags, in order; the
    // slider moves to the first window and the URL keeps it.
    let top = get(&format!("{base}/api/hashtags/top"), &[]).json();
    let rows = top.as_array().unwrap();
    let window_tags = |w: &Value| -> Vec<String> {
        rows.iter()
            .filter(|r| r["window_start"] == *w)
            .map(|r| r["tag"].as_str().unwrap().to_string())
            .collect()
    };
    b.goto(&format!("{base}/trending"));
    assert_eq!(
        labels("#top-chart g.bar"),
        window_tags(&rows.last().unwrap()["window_start"])
    );
    b.js("const s = document.getElementById('window'); s.value = 0; s.dispatchEvent(new Event('change'));");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !b.path().contains("w=0") {
        assert!(
            std::time::Instant::now() < deadline,
            "the slider did not submit"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        labels("#top-chart g.bar"),
        window_tags(&rows[0]["window_start"])
    );
    // Categories: the hours chart holds the API's categories.
    let cats = get(&format!("{base}/api/categories/list?limit=15"), &[]).json();
    let want: Vec<String> = cats
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["category_name"].as_str().unwrap().to_string())
        .collect();
    b.goto(&format!("{base}/categories"));
    assert_eq!(labels("#hours-chart g.bar"), want);
    // Channel: from the leaderboard to the busiest channel's page; its card is the API's.
    b.goto(&format!("{base}/channel"));
    let board = get(&format!("{base}/api/channels/leaderboard?limit=10"), &[]).json();
    let names: Vec<String> = board
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["channel_login"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(labels("#leaderboard-chart g.bar"), names);
    let want = format!("/channel?name={}", names[0]);
    let at = b.follow("#leaderboard-chart g.bar a", |p| p.starts_with(&want));
    assert!(at.starts_with(&want), "{at}");
    let summary = get(
        &format!("{base}/api/channels/summary?channel={}", names[0]),
        &[],
    )
    .json();
    let shown = b.js("return document.querySelector('#summary .big').dataset.value;");
    assert_eq!(
        cell(&shown),
        cell(&summary[0]["avg_viewers"]),
        "average viewers card"
    );
    b.screenshot("Channel page");
    // Viewer: search a prefix, open the first match, see the favourite streamers.
    let top_viewer = get(&format!("{base}/api/viewers/top?limit=1"), &[]).json()[0]["viewer_login"]
        .as_str()
        .unwrap()
        .to_string();
    b.goto(&format!("{base}/viewer"));
    let prefix: String = top_viewer.chars().take(3).collect();
    b.type_into("#viewer-search input[name=q]", &prefix);
    let want = format!("/viewer?q={prefix}");
    assert_eq!(b.follow("#viewer-search button", |p| p == want), want);
    let at = b.follow("table a", |p| p.starts_with("/viewer?name="));
    assert!(at.starts_with("/viewer?name="), "{at}");
    let shown = at[("/viewer?name=".len())..].to_string();
    let profile = get(&format!("{base}/api/viewers/profile?viewer={shown}"), &[]).json();
    let favs: Vec<String> = profile["streamers_total"]
        .as_array()
        .unwrap()
        .iter()
        .take(10)
        .map(|f| f[0].as_str().unwrap().to_string())
        .collect();
    assert!(!favs.is_empty());
    assert_eq!(labels("#streamers-chart g.bar"), favs);
    b.screenshot("Viewer page");
    // Network: drag a node; it moves and its links follow.
    b.goto(&format!("{base}/network"));
    let before = b.js("const n = document.querySelector('svg.network g.node'); return [n.dataset.id, n.getAttribute('transform')];");
    let at = b.js(
        "const r = document.querySelector('svg.network g.node circle').getBoundingClientRect(); \
         return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];",
    );
    b.call(
        "POST",
        "/actions",
        json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [
            {"type": "pointerMove", "origin": "viewport", "x": at[0], "y": at[1]},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerMove", "origin": "pointer", "x": 60, "y": 40, "duration": 200},
            {"type": "pointerUp", "button": 0},
        ]}]}),
    );
    let after = b.js(&format!(
        "const n = Array.from(document.querySelectorAll('svg.network g.node')).find(n => n.dataset.id === {id}); \
         const t = n.getAttribute('transform'); const xy = t.match(/translate\\(([-0-9.]+),([-0-9.]+)\\)/); \
         const l = Array.from(document.querySelectorAll('svg.network line.link')).find(l => l.dataset.s === {id} || l.dataset.t === {id}); \
         const end = l.dataset.s === {id} ? [l.getAttribute('x1'), l.getAttribute('y1')] : [l.getAttribute('x2'), l.getAttribute('y2')]; \
         return [t, xy[1], xy[2], end[0], end[1]];",
        id = before[0]
    ));
    assert_ne!(after[0], before[1], "the node did not move");
    assert_eq!(after[1], after[3], "its link did not follow");
    assert_eq!(after[2], after[4], "its link did not follow");
    b.screenshot("Network dragged");
    assert_eq!(b.console_errors(), Vec::<String>::new());
}

#[test]
fn the_trending_page_charts_live_windows_as_frames_arrive() {
    use std::io::{BufRead, Write};
    let p = Pulse::new();
    let profile = tempfile::tempdir().unwrap();
    let Some(b) = Browser::start(profile.path()) else {
        return;
    };
    let mut c = p.cmd();
    c.args([
        "live",
        "--listen",
        "127.0.0.1:0",
        "--serve",
        "127.0.0.1:0",
        "--live",
        "size=20s,slide=10s,k=5",
        "--flush-interval",
        "1s",
    ]);
    let mut child = spawn(c);
    let mut out = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let (mut socket, mut base) = (String::new(), String::new());
    while socket.is_empty() || base.is_empty() {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "pulse live exited");
        if let Some(a) = line.trim().strip_prefix("listening on ") {
            socket = a.to_string();
        }
        if let Some(u) = line.trim().strip_prefix("serving ") {
            base = u.trim_end_matches('/').to_string();
        }
    }
    let mut s = std::net::TcpStream::connect(&socket).unwrap();
    for i in 0..30 {
        writeln!(s, "warming up #steady #t{}", i % 4).unwrap();
    }
    s.flush().unwrap();
    b.goto(&format!("{base}/trending"));
    let first_bar = || {
        b.js("const g = document.querySelector('#live-chart g.bar'); return g ? g.dataset.label : null;")
    };
    let wait_for = |want: &str, within: Duration| {
        let deadline = std::time::Instant::now() + within;
        loop {
            if first_bar() == json!(want) {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(
        wait_for("steady", Duration::from_secs(10)),
        "{:?}",
        first_bar()
    );
    assert_eq!(
        b.js("return document.getElementById('live-status').textContent;"),
        json!("live")
    );
    // A burst: the chart shows it on top within 2 s of sending.
    let sent = std::time::Instant::now();
    for _ in 0..100 {
        writeln!(s, "look #planted").unwrap();
    }
    s.flush().unwrap();
    assert!(
        wait_for("planted", Duration::from_secs(2)),
        "the live chart still shows {:?} {:?} after sending",
        first_bar(),
        sent.elapsed()
    );
    // The line chart follows the newest top: a line for the burst, at its count now.
    let burst_now = || {
        b.js(
            "const g = document.querySelector('#live-lines g.series[data-name=\"#planted\"]'); \
              if (!g) return null; const p = g.querySelectorAll('circle.point'); \
              return Number(p[p.length - 1].dataset.y);",
        )
    };
    assert_eq!(
        burst_now(),
        json!(100),
        "{}",
        b.js("return document.getElementById('live-lines').outerHTML;")
    );
    b.screenshot("Trending live");
    assert_eq!(b.console_errors(), Vec::<String>::new());
    drop(s);
    assert!(child.terminate().success());
    // What came in landed as usual.
    assert_eq!(p.count("SELECT count(*) FROM messages"), 130);
}
