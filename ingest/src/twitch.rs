//! `pulse ingest twitch`: polls the Twitch Helix API every interval (5 minutes by default).
//!
//! Each poll is one snapshot: the top N live streams (`GET /helix/streams`, cursor
//! pagination, optional language filter), the top categories (`GET /helix/games/top`), new
//! channels' dimension rows (`GET /helix/users`), and, with a user token, the chatters of the
//! tracked channels (`GET /helix/chat/chatters`) as `presence`.
//!
//! The client gets an app access token by client credentials and renews it on a 401. It
//! honours `Ratelimit-Remaining`/`Ratelimit-Reset`, retries 429 and 5xx with exponential
//! backoff, and quarantines responses of the wrong shape with their body. Records of a
//! snapshot are pushed to the worker as soon as they are fetched and a failed flush keeps them,
//! so a fetched snapshot is not lost. File names are the snapshot time.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::parse::parse_time;
use crate::records::{CategoryRow, ChannelRow, PresenceRow, QuarantineRow, Record, StreamRow};
use crate::worker::{Stats, Worker};
use crate::{Error, Result};

/// Settings of the Twitch poller.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TwitchConfig {
    /// Helix base URL.
    pub base_url: String,
    /// OAuth base URL (token endpoint at `/oauth2/token`).
    pub auth_url: String,
    /// App client id (`TWITCH_CLIENT_ID`).
    pub client_id: Option<String>,
    /// App client secret (`TWITCH_CLIENT_SECRET`); never logged.
    #[serde(skip_serializing)]
    pub client_secret: Option<String>,
    /// A user access token with `moderator:read:chatters`, needed for chatters.
    #[serde(skip_serializing)]
    pub user_token: Option<String>,
    /// The moderator (user id) the user token belongs to.
    pub moderator_id: Option<String>,
    /// Channels (broadcaster ids) whose chatters are sampled.
    pub tracked_channels: Vec<String>,
    /// How many top streams to fetch per poll.
    pub top: usize,
    /// Only streams in this language (`fr`, `en`, ...).
    pub language: Option<String>,
    /// Time between polls.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Retries of one request before the poll gives up on it.
    pub max_retries: u32,
    /// First backoff delay; doubles on each retry.
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
}

impl Default for TwitchConfig {
    fn default() -> Self {
        TwitchConfig {
            base_url: "https://api.twitch.tv".into(),
            auth_url: "https://id.twitch.tv".into(),
            client_id: None,
            client_secret: None,
            user_token: None,
            moderator_id: None,
            tracked_channels: Vec::new(),
            top: 100,
            language: None,
            interval: Duration::from_secs(300),
            max_retries: 5,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Why a request failed for good.
#[derive(Debug)]
enum Fetch {
    /// The response arrived but is unusable: quarantine it.
    Bad { reason: String, body: Vec<u8> },
    /// The request could not be done (after retries); the poll goes on without it.
    Failed(String),
    /// Shutdown was requested while waiting.
    Stopped,
}

/// What fetching one page gave.
enum Fetched {
    /// The `data` items and the next cursor.
    Page(Vec<Value>, Option<String>),
    /// Nothing usable (noted or quarantined).
    Failed,
    /// Shutdown was requested.
    Stopped,
}

/// A Helix client with token handling, rate limiting and retries.
pub struct Helix {
    http: reqwest::Client,
    cfg: TwitchConfig,
    token: Option<String>,
    /// Do not send before this instant (rate limit reset).
    not_before: Option<Instant>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Helix {
    /// A client for `cfg`.
    pub fn new(cfg: TwitchConfig, shutdown: tokio::sync::watch::Receiver<bool>) -> Result<Helix> {
        if cfg.client_id.is_none() || cfg.client_secret.is_none() {
            return Err(Error::Usage(
                "the Twitch poller needs TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET (or [twitch] client_id/client_secret)".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Http(e.to_string()))?;
        Ok(Helix {
            http,
            cfg,
            token: None,
            not_before: None,
            shutdown,
        })
    }

    async fn sleep(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.shutdown.changed() => false,
        }
    }

    async fn renew_token(&mut self) -> std::result::Result<(), Fetch> {
        let url = format!("{}/oauth2/token", self.cfg.auth_url.trim_end_matches('/'));
        let params = [
            ("client_id", self.cfg.client_id.clone().unwrap_or_default()),
            (
                "client_secret",
                self.cfg.client_secret.clone().unwrap_or_default(),
            ),
            ("grant_type", "client_credentials".to_string()),
        ];
        let mut delay = self.cfg.backoff;
        for attempt in 0..=self.cfg.max_retries {
            match self.http.post(&url).form(&params).send().await {
                Ok(r) if r.status().is_success() => {
                    let body = r
                        .bytes()
                        .await
                        .map_err(|e| Fetch::Failed(format!("token: {e}")))?;
                    let v: Value = serde_json::from_slice(&body).map_err(|e| Fetch::Bad {
                        reason: format!("token response: {e}"),
                        body: body.to_vec(),
                    })?;
                    let tok = v
                        .get("access_token")
                        .and_then(Value::as_str)
                        .ok_or_else(|| Fetch::Bad {
                            reason: "token response has no access_token".into(),
                            body: body.to_vec(),
                        })?;
                    self.token = Some(tok.to_string());
                    tracing::info!("got an app access token");
                    return Ok(());
                }
                Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                    tracing::warn!(status = %r.status(), attempt, "token request failed, retrying");
                }
                Ok(r) => {
                    return Err(Fetch::Failed(format!(
                        "token request refused: HTTP {}",
                        r.status()
                    )));
                }
                Err(e) => tracing::warn!(error = %e, attempt, "token request failed, retrying"),
            }
            if !self.sleep(delay).await {
                return Err(Fetch::Stopped);
            }
            delay *= 2;
        }
        Err(Fetch::Failed("token request kept failing".into()))
    }

    /// GET a Helix path with retries; returns the JSON body.
    async fn get(
        &mut self,
        path: &str,
        query: &[(&str, String)],
        user: bool,
    ) -> std::result::Result<Value, Fetch> {
        let url = format!("{}{}", self.cfg.base_url.trim_end_matches('/'), path);
        let mut delay = self.cfg.backoff;
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            if let Some(t) = self.not_before.take() {
                let wait = t.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    tracing::info!(
                        wait_ms = wait.as_millis() as u64,
                        "rate limit reached, waiting for reset"
                    );
                    if !self.sleep(wait).await {
                        return Err(Fetch::Stopped);
                    }
                }
            }
            let token = if user {
                self.cfg.user_token.clone()
            } else {
                if self.token.is_none() {
                    self.renew_token().await?;
                }
                self.token.clone()
            };
            let req = self
                .http
                .get(&url)
                .query(query)
                .header("Client-Id", self.cfg.client_id.clone().unwrap_or_default())
                .bearer_auth(token.unwrap_or_default());
            let retry_reason = match req.send().await {
                Err(e) => format!("request error: {e}"),
                Ok(resp) => {
                    let status = resp.status();
                    let h = |k: &str| {
                        resp.headers()
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<i64>().ok())
                    };
                    let (remaining, reset) = (h("ratelimit-remaining"), h("ratelimit-reset"));
                    let until_reset =
                        reset.map(|r| wait_for_reset(r, chrono::Utc::now().timestamp()));
                    if remaining == Some(0) {
                        self.not_before = until_reset.map(|d| Instant::now() + d);
                    }
                    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                    match status.as_u16() {
                        200..=299 => {
                            return serde_json::from_slice(&body).map_err(|e| Fetch::Bad {
                                reason: format!("{path}: response is not JSON: {e}"),
                                body,
                            });
                        }
                        401 if !user && !renewed => {
                            tracing::info!("token rejected (401): renewing");
                            renewed = true;
                            self.token = None;
                            continue;
                        }
                        429 => {
                            self.not_before = Some(Instant::now() + until_reset.unwrap_or(delay));
                            format!("{path}: HTTP 429")
                        }
                        500..=599 => format!("{path}: HTTP {status}"),
                        _ => {
                            return Err(Fetch::Failed(format!(
                                "{path}: HTTP {status}: {}",
                                String::from_utf8_lossy(&body)
                            )));
                        }
                    }
                }
            };
            attempt += 1;
            if attempt > self.cfg.max_retries {
                return Err(Fetch::Failed(format!(
                    "{retry_reason} (gave up after {attempt} attempts)"
                )));
            }
            tracing::warn!(reason = %retry_reason, attempt, "retrying");
            if !self.sleep(delay).await {
                return Err(Fetch::Stopped);
            }
            delay = (delay * 2).min(Duration::from_secs(60));
        }
    }

    /// `data` array and pagination cursor of a Helix page, or why the shape is wrong.
    fn page(v: &Value) -> std::result::Result<(&Vec<Value>, Option<String>), String> {
        let data = v
            .get("data")
            .and_then(Value::as_array)
            .ok_or("response has no data array")?;
        let cursor = v
            .get("pagination")
            .and_then(|p| p.get("cursor"))
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        Ok((data, cursor))
    }
}

/// How long to wait for a `Ratelimit-Reset` time (Unix seconds, any value a server sends)
/// at `now`: at most two minutes, plus a little.
fn wait_for_reset(reset: i64, now: i64) -> Duration {
    let secs = reset.saturating_sub(now);
    Duration::from_secs(secs.clamp(0, 120) as u64) + Duration::from_millis(100)
}

/// Adds the Helix stream objects to `snap` (a malformed one is quarantined with its JSON)
/// and returns viewers and live channels per game id.
fn add_streams(snap: &mut Snapshot, streams: &[Value], t: i64) -> BTreeMap<String, (i64, i64)> {
    let mut by_game: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (i, st) in streams.iter().enumerate() {
        let Some(row) = stream_row(st, t) else {
            snap.bad.push((
                "stream without user_id/user_login".into(),
                serde_json::to_vec(st).unwrap_or_default(),
                format!("GET /helix/streams item {i}"),
            ));
            continue;
        };
        if let Some(g) = &row.category_id {
            let e = by_game.entry(g.clone()).or_default();
            // Saturating: a response is outside input, and its counts may be anything.
            e.0 = e.0.saturating_add(row.viewers.unwrap_or(0));
            e.1 += 1;
        }
        snap.records.push(Record::Stream(row));
    }
    by_game
}

/// A Helix stream object as a stream row, or `None` without `user_id` and `user_login`.
/// Fields of the wrong type read as missing.
fn stream_row(st: &Value, t: i64) -> Option<StreamRow> {
    let (Some(id), Some(login)) = (s(st, "user_id"), s(st, "user_login")) else {
        return None;
    };
    Some(StreamRow {
        snapshot_time: t,
        channel_id: id,
        channel_login: login.to_lowercase(),
        title: s(st, "title"),
        category_id: s(st, "game_id"),
        category_name: s(st, "game_name"),
        language: s(st, "language"),
        viewers: st.get("viewer_count").and_then(Value::as_i64),
        started_at: s(st, "started_at").and_then(|x| parse_time(&x)),
        tags: st.get("tags").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        }),
    })
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
}

/// What one poll fetched.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Good records.
    pub records: Vec<Record>,
    /// Bad responses or items: (reason, raw bytes, origin).
    pub bad: Vec<(String, Vec<u8>, String)>,
    /// Requests that failed for good.
    pub failed: Vec<String>,
}

/// The Twitch poller.
pub struct Poller {
    helix: Helix,
    known_users: HashSet<String>,
}

impl Poller {
    /// A poller with `cfg`.
    pub fn new(cfg: TwitchConfig, shutdown: tokio::sync::watch::Receiver<bool>) -> Result<Poller> {
        Ok(Poller {
            helix: Helix::new(cfg, shutdown)?,
            known_users: HashSet::new(),
        })
    }

    /// GETs one Helix page. A response of the wrong shape is quarantined and a failed request
    /// noted; both give `Failed` so the poll goes on with what it has.
    async fn fetch(
        &mut self,
        snap: &mut Snapshot,
        path: &str,
        q: &[(&str, String)],
        user: bool,
        origin: &str,
    ) -> Fetched {
        match self.helix.get(path, q, user).await {
            Ok(v) => match Helix::page(&v) {
                Ok((data, cursor)) => Fetched::Page(data.clone(), cursor),
                Err(reason) => {
                    snap.bad.push((
                        reason,
                        serde_json::to_vec(&v).unwrap_or_default(),
                        origin.to_string(),
                    ));
                    Fetched::Failed
                }
            },
            Err(Fetch::Bad { reason, body }) => {
                snap.bad.push((reason, body, origin.to_string()));
                Fetched::Failed
            }
            Err(Fetch::Failed(m)) => {
                tracing::warn!(request = origin, error = %m, "request failed");
                snap.failed.push(m);
                Fetched::Failed
            }
            Err(Fetch::Stopped) => Fetched::Stopped,
        }
    }

    /// Fetches one snapshot at time `t` (microseconds).
    pub async fn poll(&mut self, t: i64) -> Snapshot {
        let mut snap = Snapshot::default();
        let cfg = self.helix.cfg.clone();
        // Streams, paginated.
        let mut streams: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut page_no = 0;
        while streams.len() < cfg.top {
            page_no += 1;
            let mut q = vec![(
                "first",
                cfg.top.saturating_sub(streams.len()).min(100).to_string(),
            )];
            if let Some(l) = &cfg.language {
                q.push(("language", l.clone()));
            }
            if let Some(c) = &cursor {
                q.push(("after", c.clone()));
            }
            let origin = format!("GET /helix/streams page {page_no}");
            let (data, next) = match self
                .fetch(&mut snap, "/helix/streams", &q, false, &origin)
                .await
            {
                Fetched::Page(d, c) => (d, c),
                Fetched::Failed => break,
                Fetched::Stopped => return snap,
            };
            let n = data.len();
            streams.extend(data);
            cursor = next;
            if cursor.is_none() || n == 0 {
                break;
            }
        }
        let by_game = add_streams(&mut snap, &streams, t);
        // Top categories; viewers and live channels are those of the sampled streams.
        let origin = "GET /helix/games/top";
        match self
            .fetch(
                &mut snap,
                "/helix/games/top",
                &[("first", "100".into())],
                false,
                origin,
            )
            .await
        {
            Fetched::Page(data, _) => {
                for (rank, g) in data.iter().enumerate() {
                    let Some(name) = s(g, "name") else {
                        snap.bad.push((
                            "game without name".into(),
                            serde_json::to_vec(g).unwrap_or_default(),
                            origin.into(),
                        ));
                        continue;
                    };
                    let id = s(g, "id");
                    let agg = id.as_ref().and_then(|i| by_game.get(i)).copied();
                    snap.records.push(Record::Category(CategoryRow {
                        snapshot_time: t,
                        category_id: id,
                        category_name: name,
                        viewers: agg.map(|a| a.0),
                        live_channels: agg.map(|a| a.1),
                        rank: Some(rank as i64 + 1),
                    }));
                }
            }
            Fetched::Failed => {}
            Fetched::Stopped => return snap,
        }
        // The channel dimension for channels not seen before by this worker.
        let new_ids: Vec<String> = streams
            .iter()
            .filter_map(|st| s(st, "user_id"))
            .filter(|id| !self.known_users.contains(id))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for chunk in new_ids.chunks(100) {
            let q: Vec<(&str, String)> = chunk.iter().map(|id| ("id", id.clone())).collect();
            let origin = "GET /helix/users";
            let data = match self
                .fetch(&mut snap, "/helix/users", &q, false, origin)
                .await
            {
                Fetched::Page(d, _) => d,
                Fetched::Failed => continue,
                Fetched::Stopped => return snap,
            };
            for u in &data {
                let (Some(id), Some(login)) = (s(u, "id"), s(u, "login")) else {
                    snap.bad.push((
                        "user without id/login".into(),
                        serde_json::to_vec(u).unwrap_or_default(),
                        origin.into(),
                    ));
                    continue;
                };
                self.known_users.insert(id.clone());
                snap.records.push(Record::Channel(ChannelRow {
                    observed_at: t,
                    channel_id: id,
                    login: login.to_lowercase(),
                    display_name: s(u, "display_name"),
                    followers: None,
                    total_views: u.get("view_count").and_then(Value::as_i64),
                    created_at: s(u, "created_at").and_then(|x| parse_time(&x)),
                    description: s(u, "description"),
                    language: None,
                    team: None,
                }));
            }
        }
        // Chatters of tracked channels (needs a user token).
        if let (Some(_), Some(moderator)) = (&cfg.user_token, &cfg.moderator_id) {
            let logins: BTreeMap<String, String> = streams
                .iter()
                .filter_map(|st| Some((s(st, "user_id")?, s(st, "user_login")?.to_lowercase())))
                .collect();
            for channel in &cfg.tracked_channels {
                let login = logins
                    .get(channel)
                    .cloned()
                    .unwrap_or_else(|| channel.clone());
                let origin = format!("GET /helix/chat/chatters {channel}");
                let mut after: Option<String> = None;
                loop {
                    let mut q = vec![
                        ("broadcaster_id", channel.clone()),
                        ("moderator_id", moderator.clone()),
                        ("first", "1000".into()),
                    ];
                    if let Some(a) = &after {
                        q.push(("after", a.clone()));
                    }
                    let (data, next) = match self
                        .fetch(&mut snap, "/helix/chat/chatters", &q, true, &origin)
                        .await
                    {
                        Fetched::Page(d, c) => (d, c),
                        Fetched::Failed => break,
                        Fetched::Stopped => return snap,
                    };
                    for c in &data {
                        match s(c, "user_login") {
                            Some(v) => snap.records.push(Record::Presence(PresenceRow {
                                snapshot_time: t,
                                channel_login: login.clone(),
                                viewer_login: v.to_lowercase(),
                            })),
                            None => snap.bad.push((
                                "chatter without user_login".into(),
                                serde_json::to_vec(c).unwrap_or_default(),
                                origin.clone(),
                            )),
                        }
                    }
                    after = next;
                    if after.is_none() || data.is_empty() {
                        break;
                    }
                }
            }
        }
        snap
    }
}

/// Polls every `cfg.interval` until shutdown (or `max_polls` polls, for tests and cron use),
/// landing each snapshot through `worker`.
pub async fn run(
    worker: &mut Worker,
    cfg: TwitchConfig,
    max_polls: Option<u64>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<Stats> {
    let interval = cfg.interval;
    let mut poller = Poller::new(cfg, shutdown.clone())?;
    let start = Instant::now();
    let mut polls = 0u64;
    let mut next = tokio::time::Instant::now();
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Millisecond precision: polls closer than a second apart stay distinct snapshots.
        let t = chrono::Utc::now().timestamp_millis() * 1_000;
        let snap = poller.poll(t).await;
        polls += 1;
        tracing::info!(
            records = snap.records.len(),
            bad = snap.bad.len(),
            failed = snap.failed.len(),
            poll = polls,
            "snapshot fetched"
        );
        let clock = start.elapsed();
        let key = format!("twitch-{t}");
        for r in snap.records {
            worker.push(|| key.clone(), clock, r);
        }
        for (reason, raw, origin) in snap.bad {
            worker.quarantine(
                || key.clone(),
                clock,
                QuarantineRow {
                    received_at: t,
                    origin,
                    reason,
                    raw,
                },
            );
        }
        // Land every snapshot; a failed flush keeps the records for the next try.
        if let Err(e) = worker.maybe_flush(clock).await {
            tracing::error!(error = %e, "flush failed; keeping the snapshot buffered");
        }
        if max_polls.is_some_and(|m| polls >= m) {
            break;
        }
        next += interval;
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shutdown.changed() => break,
        }
    }
    worker.flush().await?;
    Ok(worker.stats())
}

#[cfg(test)]
mod tests {
    //! Property tests of the Helix response decoding (the fuzz target): any JSON, of
    //! the right shape or not, gives rows or quarantined items, never a panic.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    /// JSON values built from the keys Helix uses, so shapes come close to real responses.
    fn json() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("data"),
            Just("pagination"),
            Just("cursor"),
            Just("user_id"),
            Just("user_login"),
            Just("game_id"),
            Just("game_name"),
            Just("viewer_count"),
            Just("started_at"),
            Just("tags"),
            Just("title"),
            Just("name"),
            Just("id"),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(-1)].prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-zA-Z0-9:\\-TZ ]{0,24}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::btree_map(key.clone(), inner, 0..8).prop_map(|m| {
                    Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    /// Found by `pages_of_plausible_streams_add_up_per_game`: two streams of one game with
    /// viewer counts near `i64::MAX` overflowed the game's sum (a panic in debug builds).
    #[test]
    fn huge_viewer_counts_do_not_overflow_the_category_sums() {
        let data: Vec<Value> = (0..2)
            .map(|i| {
                serde_json::json!({"user_id": i.to_string(), "user_login": "x", "game_id": "g",
                                   "viewer_count": i64::MAX})
            })
            .collect();
        let mut snap = Snapshot::default();
        let by_game = add_streams(&mut snap, &data, 7);
        assert_eq!(by_game["g"], (i64::MAX, 2));
        assert_eq!(snap.records.len(), 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn any_helix_page_gives_rows_or_quarantined_items(v in json()) {
            let Ok((data, _cursor)) = Helix::page(&v) else {
                prop_assert!(v.get("data").and_then(Value::as_array).is_none());
                return Ok(());
            };
            let mut snap = Snapshot::default();
            add_streams(&mut snap, data, 7);
            // Every item is either a row or quarantined.
            prop_assert_eq!(snap.records.len() + snap.bad.len(), data.len());
        }

        #[test]
        fn pages_of_plausible_streams_add_up_per_game(
            streams in proptest::collection::vec(
                (
                    prop_oneof![Just(Value::from("1")), Just(Value::from(2)), Just(Value::Null)],
                    prop_oneof![Just(Value::from("Ann")), Just(Value::from("bob")), Just(Value::Null)],
                    prop_oneof![Just(Value::from("g1")), Just(Value::from("g2")), Just(Value::Null)],
                    prop_oneof![
                        any::<i64>().prop_map(Value::from),
                        Just(Value::from(i64::MAX)),
                        Just(Value::from(i64::MIN)),
                        Just(Value::from("12")),
                        Just(Value::from(1.5)),
                    ],
                ),
                0..20,
            ),
        ) {
            let data: Vec<Value> = streams
                .into_iter()
                .map(|(id, login, game, viewers)| {
                    serde_json::json!({"user_id": id, "user_login": login, "game_id": game, "viewer_count": viewers})
                })
                .collect();
            let mut snap = Snapshot::default();
            let by_game = add_streams(&mut snap, &data, 7);
            prop_assert_eq!(snap.records.len() + snap.bad.len(), data.len());
            let live: i64 = by_game.values().map(|(_, n)| n).sum();
            prop_assert!(live as usize <= snap.records.len());
        }

        /// A `Ratelimit-Reset` of `i64::MIN` overflowed `reset - now` (a panic in debug).
        #[test]
        fn any_ratelimit_reset_header_gives_a_bounded_wait(reset in any::<i64>(), now in 0i64..4_000_000_000) {
            let d = wait_for_reset(reset, now);
            prop_assert!(d <= Duration::from_millis(120_100));
        }

        #[test]
        fn any_stream_object_decodes_without_panic(v in json()) {
            if let Some(row) = stream_row(&v, 7) {
                prop_assert_eq!(row.channel_login.clone(), row.channel_login.to_lowercase());
                prop_assert!(v.get("user_id").and_then(Value::as_str).is_some());
            }
        }
    }
}
