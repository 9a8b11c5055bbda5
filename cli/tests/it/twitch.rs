//! The Twitch poller against a Helix-shaped HTTP server on loopback: token by client
//! credentials, cursor pagination, a 500 retried, a 401 that renews the token, a 429 with a
//! rate-limit reset, and a response of the wrong shape quarantined.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::Pulse;

#[derive(Default)]
struct Helix {
    tokens: AtomicUsize,
    streams_calls: AtomicUsize,
    games_calls: AtomicUsize,
    users_calls: AtomicUsize,
    log: Mutex<Vec<String>>,
}

fn authed(h: &HeaderMap, token: &str) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {token}"))
        && h.get("client-id").and_then(|v| v.to_str().ok()) == Some("cid")
}

async fn token(State(s): State<Arc<Helix>>, body: String) -> Json<Value> {
    assert!(
        body.contains("client_secret=shh") && body.contains("grant_type=client_credentials"),
        "{body}"
    );
    let n = s.tokens.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({"access_token": format!("tok{n}"), "expires_in": 3600, "token_type": "bearer"}))
}

async fn streams(
    State(s): State<Arc<Helix>>,
    h: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let n = s.streams_calls.fetch_add(1, Ordering::SeqCst);
    s.log.lock().unwrap().push(format!("streams {q:?}"));
    if n == 0 {
        return (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response();
    }
    if !authed(&h, "tok1") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let after = q
        .iter()
        .find(|(k, _)| k == "after")
        .map(|(_, v)| v.as_str());
    assert!(q.contains(&("language".into(), "fr".into())), "{q:?}");
    let (data, cursor) = match after {
        None => (
            json!([
                {"id":"s1","user_id":"1001","user_login":"Alpha","user_name":"Alpha","game_id":"33","game_name":"Chess","title":"t1","viewer_count":500,"started_at":"2026-01-05T10:00:00Z","language":"fr","tags":["Français"]},
                {"id":"s2","user_id":"1002","user_login":"beta","game_id":"33","game_name":"Chess","title":"t2","viewer_count":300,"started_at":"2026-01-05T11:00:00Z","language":"fr","tags":[]}
            ]),
            json!({"cursor":"page2"}),
        ),
        Some("page2") => (
            json!([
                {"id":"s3","user_id":"1003","user_login":"gamma","game_id":"44","game_name":"Music","title":"t3","viewer_count":100,"started_at":"2026-01-05T09:00:00Z","language":"fr"},
                {"id":"s4","user_login":"no_id"}
            ]),
            json!({}),
        ),
        Some(other) => panic!("unexpected cursor {other}"),
    };
    Json(json!({"data": data, "pagination": cursor})).into_response()
}

async fn games(State(s): State<Arc<Helix>>, h: HeaderMap) -> Response {
    let n = s.games_calls.fetch_add(1, Ordering::SeqCst);
    match n {
        // The token expired: the poller must renew it.
        0 => StatusCode::UNAUTHORIZED.into_response(),
        // Rate limited, with a reset already due.
        1 => {
            assert!(authed(&h, "tok2"));
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
            let reset = chrono::Utc::now().timestamp().to_string();
            r.headers_mut()
                .insert("ratelimit-remaining", HeaderValue::from_static("0"));
            r.headers_mut()
                .insert("ratelimit-reset", HeaderValue::from_str(&reset).unwrap());
            r
        }
        _ => {
            assert!(authed(&h, "tok2"));
            Json(json!({"data": [{"id":"33","name":"Chess"},{"id":"44","name":"Music"},{"id":"55","name":"Art"}], "pagination": {}})).into_response()
        }
    }
}

async fn users(State(s): State<Arc<Helix>>, Query(q): Query<Vec<(String, String)>>) -> Json<Value> {
    // The first answer has the wrong shape (no data array); later ones are good.
    if s.users_calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return Json(json!({"error": "surprise"}));
    }
    let ids: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(ids, ["1001", "1002", "1003"]);
    Json(json!({"data": ids.iter().map(|id| json!({
        "id": id, "login": format!("user{id}"), "display_name": format!("User{id}"),
        "description": "hi", "view_count": 42, "created_at": "2016-12-14T20:32:28Z"
    })).collect::<Vec<_>>()}))
}

async fn chatters(h: HeaderMap, Query(q): Query<Vec<(String, String)>>) -> Response {
    assert_eq!(h.get("authorization").unwrap(), "Bearer usertok");
    assert!(q.contains(&("moderator_id".into(), "9".into())));
    let after = q.iter().find(|(k, _)| k == "after").map(|(_, v)| v.clone());
    let (data, pagination) = match after.as_deref() {
        None => (
            json!([{"user_id":"1","user_login":"Viewer1"},{"user_id":"2","user_login":"viewer2"}]),
            json!({"cursor":"c2"}),
        ),
        _ => (json!([{"user_id":"3","user_login":"viewer3"}]), json!({})),
    };
    Json(json!({"data": data, "pagination": pagination, "total": 3})).into_response()
}

#[test]
fn polls_helix_with_retries_token_renewal_rate_limits_and_quarantine() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let state = Arc::new(Helix::default());
    let app = Router::new()
        .route("/oauth2/token", post(token))
        .route("/helix/streams", get(streams))
        .route("/helix/games/top", get(games))
        .route("/helix/users", get(users))
        .route("/helix/chat/chatters", get(chatters))
        .with_state(state.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });

    let p = Pulse::new();
    let cfg = p.dir.path().join("pulse.toml");
    std::fs::write(
        &cfg,
        "[twitch]\nmoderator_id = \"9\"\ntracked_channels = [\"1001\"]\nbackoff = \"50ms\"\n",
    )
    .unwrap();
    let out = p
        .cmd()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "ingest",
            "twitch",
            "--polls",
            "1",
            "--top",
            "10",
            "--language",
            "fr",
        ])
        .args(["--base-url", &base, "--auth-url", &base])
        .env("TWITCH_CLIENT_ID", "cid")
        .env("TWITCH_CLIENT_SECRET", "shh")
        .env("PULSE__TWITCH__USER_TOKEN", "usertok")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("shh") && !stderr.contains("usertok"),
        "secrets leaked: {stderr}"
    );

    assert_eq!(
        state.tokens.load(Ordering::SeqCst),
        2,
        "one token, renewed once after the 401"
    );
    assert_eq!(
        state.streams_calls.load(Ordering::SeqCst),
        3,
        "a 503 retried, then two pages"
    );
    assert_eq!(
        p.sql("SELECT channel_id, channel_login, category_name, viewers, array_to_string(tags, ',') FROM streams ORDER BY viewers DESC"),
        vec![
            vec!["1001", "alpha", "Chess", "500", "Français"],
            vec!["1002", "beta", "Chess", "300", ""],
            vec!["1003", "gamma", "Music", "100", ""],
        ]
    );
    assert_eq!(
        p.sql("SELECT category_name, viewers, live_channels, rank FROM categories ORDER BY rank"),
        vec![
            vec!["Chess", "800", "2", "1"],
            vec!["Music", "100", "1", "2"],
            vec!["Art", "", "", "3"]
        ]
    );
    assert_eq!(
        p.sql("SELECT channel_login, viewer_login FROM presence ORDER BY 2"),
        vec![
            vec!["alpha", "viewer1"],
            vec!["alpha", "viewer2"],
            vec!["alpha", "viewer3"]
        ]
    );
    assert_eq!(p.count("SELECT count(*) FROM channels"), 0);
    let q = p.sql("SELECT origin, reason FROM quarantine_twitch ORDER BY origin");
    assert_eq!(
        q,
        vec![
            vec![
                "GET /helix/streams item 3",
                "stream without user_id/user_login"
            ],
            vec!["GET /helix/users", "response has no data array"],
        ]
    );
    // All rows of the snapshot share one snapshot time and file name.
    assert_eq!(
        p.count("SELECT count(DISTINCT snapshot_time) FROM streams"),
        1
    );
    let files = p.files("raw");
    assert!(files.iter().all(|f| f.contains("/twitch-")), "{files:?}");
}

#[test]
fn missing_credentials_is_a_clear_error() {
    let p = Pulse::new();
    let out = p.run(&["ingest", "twitch", "--polls", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TWITCH_CLIENT_ID"), "{err}");
}
