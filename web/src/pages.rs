//! The pages, rendered on the server from the same catalog questions the API answers: Overview
//! (pipeline health), Trending, Categories, Channel, Viewer, Network and Runs. A page's state is
//! its query string, so a link reproduces the view; charts are SVG in the HTML, so every page
//! works with JavaScript off (`/static/app.js` only adds the slider's auto-submit, dragging and
//! zooming the network). A view whose tables have no rows yet says which job writes them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use maud::{DOCTYPE, Markup, html};

use crate::catalog::{self, Answer, Bound};
use crate::svg::{self, Bar, Series};
use crate::{App, Current, Error};

type Q = BTreeMap<String, String>;

/// The pages in navigation order: (path, title).
pub const PAGES: [(&str, &str); 7] = [
    ("/", "Overview"),
    ("/trending", "Trending"),
    ("/categories", "Categories"),
    ("/channel", "Channel"),
    ("/viewer", "Viewer"),
    ("/network", "Network"),
    ("/runs", "Runs"),
];

/// The pages' routes and their static files.
pub fn routes() -> axum::Router<Arc<App>> {
    axum::Router::new()
        .route("/", get(overview))
        .route("/trending", get(trending))
        .route("/categories", get(categories))
        .route("/channel", get(channel))
        .route("/viewer", get(viewer))
        .route("/network", get(network))
        .route("/runs", get(runs))
        .route("/static/app.js", get(app_js))
        .route("/static/app.css", get(app_css))
}

/// A page that failed: bad parameters are the reader's to fix (400), the rest are ours (500).
struct PageError(Error);

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::BadParam { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!(error = %self.0, "page failed");
        }
        let body = layout(
            "Error",
            "",
            html! { p.error { (self.0.to_string()) } p { a href="/" { "Back to the overview" } } },
        );
        (status, Html(body.into_string())).into_response()
    }
}

type PageResult = Result<Response, PageError>;

fn respond(title: &str, path: &str, body: Markup) -> PageResult {
    let mut r = Html(layout(title, path, body).into_string()).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(crate::api::CACHE),
    );
    Ok(r)
}

fn layout(title: &str, path: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Pulse" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href={"/static/app.css?v=" (*VERSION)};
                script src={"/static/app.js?v=" (*VERSION)} defer {}
            }
            body {
                header {
                    a.brand href="/" { "Pulse" }
                    nav {
                        @for (href, name) in PAGES {
                            a href=(href) class=[(href == path).then_some("active")] { (name) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                footer { "Pulse · " a href="/api/openapi.json" { "API" } }
            }
        }
    }
}

/// Asks `group/name` with `params` (absent ones take their defaults).
async fn ask(
    cur: &Current,
    group: &str,
    name: &str,
    params: &[(&str, Option<&str>)],
) -> Result<(Answer, Bound, &'static catalog::Endpoint), Error> {
    let ep = catalog::find(group, name)
        .ok_or_else(|| Error::NotFound(format!("no endpoint {group}/{name}")))?;
    let spec = ep.spec()?;
    let get = |n: &str| {
        params
            .iter()
            .find(|(k, _)| *k == n)
            .and_then(|(_, v)| v.map(str::to_string))
    };
    let bound = catalog::bind(&spec, get, std::iter::empty())?;
    let a = catalog::ask(&cur.ctx, ep, &bound).await?;
    Ok((a, bound, ep))
}

/// Says why a view is empty: the tables it reads and the jobs that write them.
async fn empty(cur: &Current, ep: &catalog::Endpoint, bound: &Bound) -> Markup {
    let tables = catalog::tables_read(&cur.ctx, ep, bound).await;
    let jobs: Vec<(String, &str)> = tables
        .iter()
        .filter_map(|t| cur.job_of(t).map(|j| (t.clone(), j)))
        .collect();
    html! {
        div.empty {
            p { "No data yet for this view." }
            @if jobs.is_empty() {
                p { "It reads " (tables.join(", ")) "; land data with " code { "pulse ingest" } " or " code { "pulse gen" } "." }
            } @else {
                ul {
                    @for (t, j) in &jobs {
                        li { code { (t) } " is written by " code { "pulse run " (j) } }
                    }
                }
                p { "Or run every job for a day: " code { "pulse nightly --date YYYY-MM-DD" } "." }
            }
        }
    }
}

/// A column of every batch, cast to `to` (a batch without it, or that cannot cast, adds
/// nothing).
fn cast_column(a: &Answer, name: &str, to: &DataType) -> Vec<arrow::array::ArrayRef> {
    a.batches
        .iter()
        .filter_map(|b| b.column_by_name(name))
        .filter_map(|c| arrow::compute::cast(c, to).ok())
        .collect()
}

/// A column as text ("" for NULL).
fn strings(a: &Answer, name: &str) -> Vec<String> {
    let cols = cast_column(a, name, &DataType::Utf8);
    cols.iter()
        .flat_map(|c| {
            let s = c.as_string::<i32>();
            (0..s.len()).map(move |i| if s.is_null(i) { "" } else { s.value(i) }.to_string())
        })
        .collect()
}

/// A column as numbers (NaN for NULL).
fn floats(a: &Answer, name: &str) -> Vec<f64> {
    let cols = cast_column(a, name, &DataType::Float64);
    cols.iter()
        .flat_map(|c| {
            let s = c.as_primitive::<Float64Type>();
            (0..s.len()).map(move |i| if s.is_null(i) { f64::NAN } else { s.value(i) })
        })
        .collect()
}

/// A timestamp column as microseconds since the epoch.
fn micros(a: &Answer, name: &str) -> Vec<i64> {
    let cols = cast_column(a, name, &DataType::Int64);
    cols.iter()
        .flat_map(|c| c.as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

fn time_text(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn day_text(us: f64) -> String {
    chrono::DateTime::from_timestamp_micros(us as i64)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// An answer as an HTML table; `link` may turn a cell into a link (column, value).
fn table(a: &Answer, link: &dyn Fn(&str, &str) -> Option<String>) -> Markup {
    let Some(first) = a.batches.first() else {
        return html! {};
    };
    let names: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let cols: Vec<(Vec<String>, bool)> = names
        .iter()
        .map(|n| {
            let numeric = first
                .schema()
                .field_with_name(n)
                .map(|f| f.data_type().is_numeric())
                .unwrap_or(false);
            let cells = if numeric {
                floats(a, n).into_iter().map(svg::num).collect()
            } else {
                strings(a, n)
            };
            (cells, numeric)
        })
        .collect();
    let rows = a.rows();
    html! {
        div.scroll {
            table {
                thead { tr { @for n in &names { th { (n.replace('_', " ")) } } } }
                tbody {
                    @for r in 0..rows {
                        tr {
                            @for (i, (cells, numeric)) in cols.iter().enumerate() {
                                @let v = cells.get(r).map(String::as_str).unwrap_or("");
                                td class=[numeric.then_some("num")] {
                                    @match link(&names[i], v) {
                                        Some(href) => a href=(href) { (v) },
                                        None => (v),
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn no_links(_: &str, _: &str) -> Option<String> {
    None
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn p<'a>(q: &'a Q, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

async fn overview(State(app): State<Arc<App>>) -> PageResult {
    let cur = app.current();
    let ((days, b, ep), (durations, ..), (failures, ..), (nodes, ..)) = futures::try_join!(
        ask(&cur, "pipeline", "days", &[("limit", Some("30"))]),
        ask(&cur, "pipeline", "durations", &[]),
        ask(&cur, "pipeline", "failures", &[("limit", Some("5"))]),
        ask(&cur, "graph", "node_count", &[]),
    )?;
    let dts = strings(&days, "dt");
    let tracked = floats(&days, "viewers_tracked");
    let status = strings(&days, "verification");
    let tracked_bars: Vec<Bar> = dts
        .iter()
        .zip(&tracked)
        .rev()
        .map(|(d, v)| Bar {
            label: d.clone(),
            value: *v,
            href: Some(format!("/runs?date={d}")),
        })
        .collect();
    let duration_bars: Vec<Bar> = strings(&durations, "job")
        .into_iter()
        .zip(floats(&durations, "avg_ms"))
        .map(|(j, v)| Bar {
            href: Some(format!("/runs?job={}", enc(&j))),
            label: j,
            value: v / 1000.0,
        })
        .collect();
    let body = html! {
        @if days.rows() == 0 {
            (empty(&cur, ep, &b).await)
        } @else {
            section.cards {
                div.card { span.label { "latest day" } span.big { (dts.first().cloned().unwrap_or_default()) } }
                div.card { span.label { "viewers tracked" } span.big { (svg::num(tracked.first().copied().unwrap_or(f64::NAN))) } }
                div.card id="verification" { span.label { "verification" } span.big class=(status.first().map(String::as_str).unwrap_or("none")) { (status.first().filter(|s| !s.is_empty()).cloned().unwrap_or_else(|| "not run".into())) } }
                div.card { span.label { "graph nodes" } span.big { (svg::num(floats(&nodes, "nodes").last().copied().unwrap_or(0.0))) } }
            }
            div.grid {
                (svg::bars("tracked-chart", "Viewers tracked per day", &tracked_bars, "viewers"))
                (svg::bars("durations-chart", "Average processing time per job (s)", &duration_bars, "s"))
            }
            h2 { "Days (the sanity panel)" }
            (table(&days, &|c, v| (c == "dt").then(|| format!("/runs?date={v}"))))
        }
        h2 { "Last failures" }
        @if failures.rows() == 0 { p.quiet { "No failed runs." } } @else { (table(&failures, &no_links)) }
    };
    respond("Overview", "/", body)
}

async fn trending(State(app): State<Arc<App>>, Query(q): Query<Q>) -> PageResult {
    let cur = app.current();
    let size = p(&q, "size").unwrap_or("1h");
    let slide = p(&q, "slide").unwrap_or("10m");
    let date = p(&q, "date");
    let k = p(&q, "k").unwrap_or("10");
    let span = [("size", Some(size)), ("slide", Some(slide)), ("from", date)];
    let live = app.live().map(|hub| live_section(&hub.latest()));
    let (windows, b, ep) = ask(&cur, "hashtags", "windows", &span).await?;
    let starts = micros(&windows, "window_start");
    if starts.is_empty() {
        let body = html! {
            @if let Some(l) = &live { (l) }
            h2 { "From the lake" }
            (empty(&cur, ep, &b).await)
        };
        return respond("Trending", "/trending", body);
    }
    let w: usize = match p(&q, "w") {
        Some(v) => v.parse().map_err(|_| Error::BadParam {
            name: "w".into(),
            why: format!("{v:?} is not a window number"),
        })?,
        None => starts.len() - 1,
    };
    let w = w.min(starts.len() - 1);
    let (top, ..) = ask(
        &cur,
        "hashtags",
        "top",
        &[span[0], span[1], ("k", Some(k)), ("from", date)],
    )
    .await?;
    let chosen = starts[w];
    let tops: Vec<Bar> = micros(&top, "window_start")
        .into_iter()
        .zip(strings(&top, "tag"))
        .zip(floats(&top, "n"))
        .filter(|((s, _), _)| *s == chosen)
        .map(|((_, tag), n)| Bar {
            href: Some(format!(
                "/trending?size={size}&slide={slide}&tag={}{}",
                enc(&tag),
                date.map(|d| format!("&date={d}")).unwrap_or_default()
            )),
            label: tag,
            value: n,
        })
        .collect();
    let (trends, ..) = ask(
        &cur,
        "hashtags",
        "trends",
        &[span[0], span[1], ("from", date), ("limit", Some("10"))],
    )
    .await?;
    let tag_chart = match p(&q, "tag") {
        Some(tag) => {
            let (counts, ..) = ask(
                &cur,
                "hashtags",
                "tag",
                &[("tag", Some(tag)), span[0], span[1], ("from", date)],
            )
            .await?;
            let pts: Vec<(f64, f64)> = micros(&counts, "window_start")
                .into_iter()
                .map(|t| t as f64)
                .zip(floats(&counts, "n"))
                .collect();
            let series = [Series {
                name: format!("#{tag}"),
                points: pts,
            }];
            Some(svg::lines(
                "tag-chart",
                &format!("#{tag} per window"),
                &series,
                &|x| time_text(x as i64),
                "messages",
            ))
        }
        None => None,
    };
    let labels: Vec<String> = starts.iter().map(|s| time_text(*s)).collect();
    let body = html! {
        @if let Some(l) = &live { (l) h2 { "From the lake" } }
        form.controls.autosubmit method="get" action="/trending" {
            input type="hidden" name="size" value=(size);
            input type="hidden" name="slide" value=(slide);
            @if let Some(d) = date { input type="hidden" name="date" value=(d); }
            label { "window " input id="window" type="range" name="w" min="0" max=(starts.len() - 1) value=(w) data-labels=(serde_json::to_string(&labels).unwrap_or_default()); }
            output id="window-label" { (labels[w]) }
            noscript { button type="submit" { "Show" } }
        }
        (svg::bars("top-chart", &format!("Top {k} hashtags, {} to {} ({size} windows every {slide})", labels[w], time_text(chosen + window_len(&windows, w))), &tops, "messages"))
        @if let Some(c) = tag_chart { (c) }
        h2 { "Trends (rise above the baseline)" }
        (table(&trends, &|c, v| (c == "tag").then(|| format!("/trending?size={size}&slide={slide}&tag={}", enc(v)))))
    };
    respond("Trending", "/trending", body)
}

/// The live top of the newest window of the first live shape, as the page first shows it;
/// `/static/app.js` redraws it from `/api/live` as the counts change.
fn live_section(snapshot: &serde_json::Value) -> Markup {
    let windows = snapshot["windows"].as_array().cloned().unwrap_or_default();
    let shape = windows
        .first()
        .and_then(|w| w["live"].as_str())
        .unwrap_or_default()
        .to_string();
    let start = |w: &serde_json::Value| {
        w["window_start"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(0, |t| t.timestamp_micros())
    };
    let mut mine: Vec<&serde_json::Value> = windows
        .iter()
        .filter(|w| w["live"] == shape.as_str())
        .collect();
    mine.sort_by_key(|w| start(w));
    let newest = mine.last().copied();
    let top = |w: &serde_json::Value| -> Vec<(String, f64)> {
        w["top"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let tag = e[0].as_str().unwrap_or_default().to_string();
                (tag, e[1].as_f64().unwrap_or(0.0))
            })
            .collect()
    };
    let bars: Vec<Bar> = newest
        .map(top)
        .unwrap_or_default()
        .into_iter()
        .map(|(label, value)| Bar {
            label,
            value,
            href: None,
        })
        .collect();
    // A line per tag of the newest top, over the windows held (0 where a tag is not in a
    // window's top). `/static/app.js` redraws it the same way.
    let series: Vec<Series> = bars
        .iter()
        .take(LIVE_LINES)
        .map(|b| Series {
            name: format!("#{}", b.label),
            points: mine
                .iter()
                .map(|w| {
                    let n = top(w)
                        .into_iter()
                        .find(|(t, _)| *t == b.label)
                        .map_or(0.0, |(_, n)| n);
                    (start(w) as f64, n)
                })
                .collect(),
        })
        .collect();
    let title = match newest {
        Some(w) => format!(
            "Live: top hashtags, {} to {}",
            w["window_start"].as_str().unwrap_or_default(),
            w["window_end"].as_str().unwrap_or_default()
        ),
        None => "Live: waiting for the first messages".to_string(),
    };
    let clock = |x: f64| {
        chrono::DateTime::from_timestamp_micros(x as i64)
            .map(|t| t.format("%H:%M:%S").to_string())
            .unwrap_or_default()
    };
    html! {
        section id="live" data-source="/api/live" data-shape=(shape) data-lines=(LIVE_LINES) data-palette=(svg::PALETTE.join(",")) {
            p { span id="live-status" class="stale" { "connecting…" } }
            (svg::bars("live-chart", &title, &bars, "messages"))
            (svg::lines("live-lines", "Live: the top tags over the recent windows (by window start, UTC)", &series, &clock, "messages"))
        }
    }
}

/// Tags the live line chart follows: the newest window's top few.
const LIVE_LINES: usize = 5;

fn window_len(windows: &Answer, w: usize) -> i64 {
    let s = micros(windows, "window_start");
    let e = micros(windows, "window_end");
    match (s.get(w), e.get(w)) {
        (Some(s), Some(e)) => e - s,
        _ => 0,
    }
}

async fn categories(State(app): State<Arc<App>>, Query(q): Query<Q>) -> PageResult {
    let cur = app.current();
    let window = p(&q, "window").unwrap_or("1d");
    let (from, to, category) = (p(&q, "from"), p(&q, "to"), p(&q, "category"));
    let span = [("window", Some(window)), ("from", from), ("to", to)];
    let (list, b, ep) = ask(&cur, "categories", "list", &span).await?;
    if list.rows() == 0 {
        return respond("Categories", "/categories", empty(&cur, ep, &b).await);
    }
    let names = strings(&list, "category_name");
    let (share, ..) = ask(&cur, "categories", "share", &span).await?;
    let top8: Vec<&String> = names.iter().take(8).collect();
    let mut series: Vec<Series> = top8
        .iter()
        .map(|n| Series {
            name: n.to_string(),
            points: Vec::new(),
        })
        .collect();
    for ((t, c), s) in micros(&share, "window_start")
        .into_iter()
        .zip(strings(&share, "category_name"))
        .zip(floats(&share, "share"))
    {
        if let Some(i) = top8.iter().position(|n| **n == c) {
            series[i].points.push((t as f64, s * 100.0));
        }
    }
    let (heat, ..) = ask(
        &cur,
        "categories",
        "heatmap",
        &[("category", category), ("from", from), ("to", to)],
    )
    .await?;
    let cells = |col: &str| -> Vec<(i64, i64, f64)> {
        floats(&heat, "weekday")
            .into_iter()
            .zip(floats(&heat, "hour"))
            .zip(floats(&heat, col))
            .filter(|(_, v)| v.is_finite())
            .map(|((d, h), v)| (d as i64, h as i64, v))
            .collect()
    };
    let hours: Vec<Bar> = names
        .iter()
        .zip(floats(&list, "hours_watched"))
        .take(15)
        .map(|(n, v)| Bar {
            label: n.clone(),
            value: v,
            href: Some(format!("/categories?window={window}&category={}", enc(n))),
        })
        .collect();
    let top_channels = match category {
        Some(c) => Some(
            ask(
                &cur,
                "categories",
                "top_channels",
                &[("category", Some(c)), span[0], span[1], span[2]],
            )
            .await?
            .0,
        ),
        None => None,
    };
    let scope = category.unwrap_or("all categories");
    let body = html! {
        form.controls method="get" action="/categories" {
            input type="hidden" name="window" value=(window);
            label { "category " select name="category" {
                option value="" selected[category.is_none()] { "all" }
                @for n in &names { option value=(n) selected[category == Some(n.as_str())] { (n) } }
            } }
            label { "from " input type="date" name="from" value=[from]; }
            label { "to " input type="date" name="to" value=[to]; }
            button type="submit" { "Show" }
        }
        (svg::lines("share-chart", "Share of hours watched (%), top categories", &series, &day_text, "%"))
        (svg::bars("hours-chart", "Hours watched per category", &hours, "hours"))
        div.grid {
            (svg::heatmap("viewers-heatmap", &format!("Average viewers, {scope} (UTC)"), &cells("avg_viewers"), "viewers"))
            (svg::heatmap("channels-heatmap", &format!("Live channels, {scope} (UTC)"), &cells("avg_channels"), "channels"))
            (svg::heatmap("ratio-heatmap", &format!("Viewers per live channel, {scope} (UTC)"), &cells("viewers_per_channel"), "viewers per channel"))
        }
        @if let Some(t) = &top_channels {
            h2 { "Top channels in " (scope) }
            (table(t, &|c, v| (c == "channel_login").then(|| format!("/channel?name={}", enc(v)))))
        }
    };
    respond("Categories", "/categories", body)
}

async fn channel(State(app): State<Arc<App>>, Query(q): Query<Q>) -> PageResult {
    let cur = app.current();
    let days = p(&q, "days").unwrap_or("30");
    let (from, to) = (p(&q, "from"), p(&q, "to"));
    let Some(name) = p(&q, "name") else {
        let (lang, category) = (p(&q, "language"), p(&q, "category"));
        let (board, b, ep) = ask(
            &cur,
            "channels",
            "leaderboard",
            &[
                ("language", lang),
                ("category", category),
                ("from", from),
                ("to", to),
                ("days", Some(days)),
                ("limit", Some("50")),
            ],
        )
        .await?;
        let bars: Vec<Bar> = strings(&board, "channel_login")
            .into_iter()
            .zip(floats(&board, "hours_watched"))
            .take(10)
            .map(|(c, v)| Bar {
                href: Some(format!("/channel?name={}&days={days}", enc(&c))),
                label: c,
                value: v,
            })
            .collect();
        let body = html! {
            form.controls method="get" action="/channel" {
                label { "channel " input type="search" name="name" placeholder="login"; }
                button type="submit" { "Open" }
            }
            form.controls method="get" action="/channel" {
                label { "language " input type="text" name="language" size="4" value=[lang]; }
                label { "category " input type="text" name="category" value=[category]; }
                label { "days " input type="number" name="days" min="1" max="3650" value=(days); }
                button type="submit" { "Filter" }
            }
            @if board.rows() == 0 { (empty(&cur, ep, &b).await) } @else {
                (svg::bars("leaderboard-chart", &format!("Hours watched, last {days} days"), &bars, "hours"))
                (table(&board, &|c, v| (c == "channel_login").then(|| format!("/channel?name={}&days={days}", enc(v)))))
            }
        };
        return respond("Channels", "/channel", body);
    };
    let span = [
        ("channel", Some(name)),
        ("from", from),
        ("to", to),
        ("days", Some(days)),
    ];
    // The page's questions are independent: asked at once, the page takes the longest one.
    let ((summary, b, ep), (daily, ..), (games, ..), (schedule, ..)) = futures::try_join!(
        ask(&cur, "channels", "summary", &span),
        ask(&cur, "channels", "daily", &span),
        ask(&cur, "channels", "games", &span),
        ask(&cur, "channels", "schedule", &span),
    )?;
    if summary.rows() == 0 {
        let body = html! {
            p { "No figures for " strong { (name) } " in this span." }
            (empty(&cur, ep, &b).await)
        };
        return respond(&format!("Channel {name}"), "/channel", body);
    }
    let dates: Vec<f64> = strings(&daily, "dt")
        .iter()
        .map(|d| {
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map(|d| {
                    d.and_time(chrono::NaiveTime::MIN)
                        .and_utc()
                        .timestamp_micros() as f64
                })
                .unwrap_or(f64::NAN)
        })
        .collect();
    let line = |col: &str, label: &str| Series {
        name: label.to_string(),
        points: dates.iter().copied().zip(floats(&daily, col)).collect(),
    };
    let game_bars: Vec<Bar> = strings(&games, "category_name")
        .into_iter()
        .zip(floats(&games, "share"))
        .map(|(g, v)| Bar {
            href: Some(format!("/categories?category={}", enc(&g))),
            label: g,
            value: v * 100.0,
        })
        .collect();
    let cells: Vec<(i64, i64, f64)> = floats(&schedule, "weekday")
        .into_iter()
        .zip(floats(&schedule, "hour"))
        .zip(floats(&schedule, "avg_minutes_live"))
        .map(|((d, h), v)| (d as i64, h as i64, v))
        .collect();
    let f = |c: &str| floats(&summary, c).first().copied().unwrap_or(f64::NAN);
    let s = |c: &str| strings(&summary, c).first().cloned().unwrap_or_default();
    let body = html! {
        nav.spans {
            @for d in ["7", "30", "90"] {
                a href={"/channel?name=" (enc(name)) "&days=" (d)} class=[(d == days && from.is_none()).then_some("active")] { (d) " days" }
            }
        }
        p.quiet { (s("from_date")) " to " (s("to_date")) }
        section.cards id="summary" {
            div.card { span.label { "average viewers" } span.big data-value=(f("avg_viewers")) { (svg::num(f("avg_viewers"))) } }
            div.card { span.label { "peak viewers" } span.big data-value=(f("peak_viewers")) { (svg::num(f("peak_viewers"))) } }
            div.card { span.label { "hours watched" } span.big data-value=(f("hours_watched")) { (svg::num(f("hours_watched"))) } }
            div.card { span.label { "hours streamed" } span.big data-value=(f("hours_streamed")) { (svg::num(f("hours_streamed"))) } }
            div.card { span.label { "followers gained" } span.big data-value=(f("followers_gained")) { (svg::num(f("followers_gained"))) } }
            div.card { span.label { "streams" } span.big data-value=(f("streams")) { (svg::num(f("streams"))) } }
        }
        (svg::lines("daily-chart", "Per day", &[line("hours_watched", "hours watched"), line("avg_viewers", "average viewers"), line("peak_viewers", "peak viewers")], &day_text, ""))
        div.grid {
            (svg::bars("games-chart", "Games by share of stream time (%)", &game_bars, "%"))
            (svg::heatmap("schedule-heatmap", "When live: average minutes per hour (UTC)", &cells, "minutes"))
        }
    };
    respond(&format!("Channel {name}"), "/channel", body)
}

async fn viewer(State(app): State<Arc<App>>, Query(q): Query<Q>) -> PageResult {
    let cur = app.current();
    let search = html! {
        form.controls id="viewer-search" method="get" action="/viewer" {
            label { "viewer " input type="search" name="q" placeholder="login starts with…" value=[p(&q, "q")]; }
            button type="submit" { "Search" }
        }
    };
    let Some(name) = p(&q, "name") else {
        let (list, b, ep) = match p(&q, "q") {
            Some(text) => ask(&cur, "viewers", "search", &[("q", Some(text))]).await?,
            None => ask(&cur, "viewers", "top", &[]).await?,
        };
        let body = html! {
            (search)
            @if list.rows() == 0 {
                @if p(&q, "q").is_some() { p { "No viewer's login starts with that." } } @else { (empty(&cur, ep, &b).await) }
            } @else {
                h2 { @if p(&q, "q").is_some() { "Matches" } @else { "Who watched most" } }
                (table(&list, &|c, v| (c == "viewer_login").then(|| format!("/viewer?name={}", enc(v)))))
            }
        };
        return respond("Viewers", "/viewer", body);
    };
    let date = p(&q, "date");
    let ep = catalog::find("viewers", "profile")
        .ok_or_else(|| Error::NotFound("no profile endpoint".into()))?;
    let bound = catalog::bind(
        &ep.spec()?,
        |n| match n {
            "viewer" => Some(name.to_string()),
            "date" => date.map(str::to_string),
            _ => None,
        },
        std::iter::empty(),
    )?;
    let one = [("viewer", Some(name))];
    let day_params = [("viewer", Some(name)), ("date", date)];
    let (profile, (heat, ..), (day, ..)) = futures::try_join!(
        catalog::profile(&cur.ctx, &bound),
        ask(&cur, "viewers", "heatmap", &one),
        ask(&cur, "viewers", "day", &day_params),
    )?;
    let cells: Vec<(i64, i64, f64)> = floats(&heat, "weekday")
        .into_iter()
        .zip(floats(&heat, "hour"))
        .zip(floats(&heat, "avg_minutes"))
        .map(|((d, h), v)| (d as i64, h as i64, v))
        .collect();
    let favourites = |list: &[(String, f64)], page: &str| -> Vec<Bar> {
        list.iter()
            .take(10)
            .map(|(k, v)| Bar {
                label: k.clone(),
                value: *v,
                href: Some(format!("{page}{}", enc(k))),
            })
            .collect()
    };
    let body = html! {
        (search)
        @match &profile {
            None => { p { "The lake knows nothing of " strong { (name) } " yet." } }
            Some(pr) => {
                p.quiet id="profile-status" { "as of " (pr.as_of) " · last seen " (pr.last_seen.clone().unwrap_or_else(|| "-".into())) " · "
                    @match &pr.bot { Some(b) => span.bot { "bot (" (b.reason) ")" }, None => span { "not a bot" } } }
                @if pr.bot.is_none() {
                    (svg::lines("schedule-chart", "Schedule: minutes per UTC hour (moving average)", &[
                        Series { name: "workday".into(), points: pr.workday.iter().enumerate().map(|(h, v)| (h as f64, *v)).collect() },
                        Series { name: "weekend".into(), points: pr.weekend.iter().enumerate().map(|(h, v)| (h as f64, *v)).collect() },
                    ], &|x| format!("{:02}:00", x as i64), "min"))
                    div.grid {
                        (svg::bars("streamers-chart", "Favourite streamers (minutes, all time)", &favourites(&pr.streamers_total, "/channel?name="), "min"))
                        (svg::bars("games-chart", "Favourite games (minutes, all time)", &favourites(&pr.games_total, "/categories?category="), "min"))
                        (svg::bars("streamers-recent-chart", "Streamers lately (score)", &favourites(&pr.streamers_recent, "/channel?name="), ""))
                        (svg::bars("games-recent-chart", "Games lately (score)", &favourites(&pr.games_recent, "/categories?category="), ""))
                    }
                }
            }
        }
        (svg::heatmap("watch-heatmap", "Watch time: average minutes per weekday and hour (UTC)", &cells, "min"))
        h2 { "A day" }
        form.controls method="get" action="/viewer" {
            input type="hidden" name="name" value=(name);
            label { "date " input type="date" name="date" value=[date]; }
            button type="submit" { "Show" }
        }
        (table(&day, &|c, v| (c == "channel_login").then(|| format!("/channel?name={}", enc(v)))))
    };
    respond(&format!("Viewer {name}"), "/viewer", body)
}

/// The most links the network page draws.
const MAX_LINKS: usize = 150;

async fn network(State(app): State<Arc<App>>, Query(q): Query<Q>) -> PageResult {
    let cur = app.current();
    let streamer = match p(&q, "streamer") {
        Some(s) => s.to_string(),
        None => {
            let (top, b, ep) = ask(
                &cur,
                "graph",
                "top_streamers_by_views",
                &[("limit", Some("1"))],
            )
            .await?;
            match strings(&top, "streamer").into_iter().next() {
                Some(s) => s,
                None => return respond("Network", "/network", empty(&cur, ep, &b).await),
            }
        }
    };
    let one = [("streamer", Some(streamer.as_str()))];
    let ten = [("limit", Some("10"))];
    let overlap_params = [("streamer", Some(streamer.as_str())), ("limit", Some("10"))];
    let ((links, ..), (pr, ..), (bc, ..), (overlap, ..)) = futures::try_join!(
        ask(&cur, "graph", "neighbourhood", &one),
        ask(&cur, "graph", "top_pagerank", &ten),
        ask(&cur, "graph", "top_betweenness", &ten),
        ask(&cur, "graph", "audience_overlap", &overlap_params),
    )?;
    let mut g = catalog::graph_json(&links.batches)?;
    // Hundreds of neighbours make an unreadable drawing and a slow page: draw the strongest.
    let total = g["links"].as_array().map_or(0, Vec::len);
    if total > MAX_LINKS {
        let mut kept = g["links"].as_array().cloned().unwrap_or_default();
        kept.sort_by(|a, b| {
            let w = |l: &serde_json::Value| l["weight"].as_f64().unwrap_or(0.0);
            w(b).total_cmp(&w(a))
                .then_with(|| a["source"].as_str().cmp(&b["source"].as_str()))
                .then_with(|| a["target"].as_str().cmp(&b["target"].as_str()))
        });
        kept.truncate(MAX_LINKS);
        let ends: std::collections::BTreeSet<String> = kept
            .iter()
            .flat_map(|l| [l["source"].as_str(), l["target"].as_str()])
            .flatten()
            .map(str::to_string)
            .collect();
        let nodes: Vec<serde_json::Value> = g["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["id"].as_str().is_some_and(|id| ends.contains(id)))
            .cloned()
            .collect();
        g = serde_json::json!({"nodes": nodes, "links": kept});
    }
    let ids: Vec<String> = g["nodes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let index = |id: &str| ids.iter().position(|x| x == id);
    let edges: Vec<(usize, usize, String)> = g["links"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| {
                    Some((
                        index(l["source"].as_str()?)?,
                        index(l["target"].as_str()?)?,
                        l["type"].as_str().unwrap_or_default().to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let pairs: Vec<(usize, usize)> = edges.iter().map(|(a, b, _)| (*a, *b)).collect();
    // The layout is quadratic in the nodes per round: fewer rounds for a big neighbourhood.
    let rounds = (3_000_000 / ids.len().max(1).pow(2)).clamp(30, 300);
    let pos = crate::layout::layout(ids.len(), &pairs, rounds);
    let nodes: Vec<svg::Node> = g["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(pos)
        .map(|(n, (x, y))| svg::Node {
            id: n["id"].as_str().unwrap_or_default().to_string(),
            name: n["name"].as_str().unwrap_or_default().to_string(),
            label: n["label"].as_str().unwrap_or_default().to_string(),
            x,
            y,
        })
        .collect();
    let to_network = |c: &str, v: &str| {
        (c == "name" || c == "channel").then(|| format!("/network?streamer={}", enc(v)))
    };
    let body = html! {
        form.controls method="get" action="/network" {
            label { "streamer " input type="search" name="streamer" value=(streamer); }
            button type="submit" { "Show" }
        }
        @if nodes.is_empty() {
            p { "No links for " strong { (streamer) } " in the latest graph." }
        } @else {
            @let shown = if total > edges.len() { format!("the {} strongest of {total} links", edges.len()) } else { format!("{} links", edges.len()) };
            (svg::network("network", &format!("{streamer}'s neighbourhood ({} nodes, {shown})", nodes.len()), &nodes, &edges))
        }
        div.grid {
            div { h2 { "Top PageRank" } (table(&pr, &to_network)) }
            div { h2 { "Top betweenness" } (table(&bc, &to_network)) }
            div { h2 { "Audience overlap" } @if overlap.rows() == 0 { p.quiet { "No overlap computed for this streamer (" code { "pulse run audience-overlap" } ")." } } @else { (table(&overlap, &to_network)) } }
        }
    };
    respond("Network", "/network", body)
}

async fn runs(State(app): State<Arc<App>>, Query(q): Query<Q>) -> PageResult {
    let cur = app.current();
    let (date, status, job) = (p(&q, "date"), p(&q, "status"), p(&q, "job"));
    let (list, b, ep) = ask(
        &cur,
        "pipeline",
        "runs",
        &[
            ("date", date),
            ("status", status),
            ("job", job),
            ("limit", Some(p(&q, "limit").unwrap_or("100"))),
        ],
    )
    .await?;
    let body = html! {
        form.controls method="get" action="/runs" {
            label { "date " input type="date" name="date" value=[date]; }
            label { "status " select name="status" {
                @for s in ["", "succeeded", "failed", "running"] {
                    option value=(s) selected[status.unwrap_or("") == s] { (if s.is_empty() { "any" } else { s }) }
                }
            } }
            label { "job " input type="text" name="job" value=[job]; }
            button type="submit" { "Filter" }
        }
        @if list.rows() == 0 {
            @if date.or(status).or(job).is_some() { p { "No runs match." } } @else { (empty(&cur, ep, &b).await) }
        } @else {
            (table(&list, &|c, v| match c {
                "job" => Some(format!("/runs?job={}", enc(v))),
                "from_date" => Some(format!("/runs?date={v}")),
                _ => None,
            }))
        }
    };
    respond("Runs", "/runs", body)
}

const APP_JS: &str = include_str!("../static/app.js");
const APP_CSS: &str = include_str!("../static/app.css");

/// A fingerprint of the static files for their URLs: browsers keep them an hour, and a new
/// build's pages ask for the new ones.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in APP_JS.bytes().chain(APP_CSS.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
});

async fn app_js() -> Response {
    static_file("text/javascript", APP_JS)
}

async fn app_css() -> Response {
    static_file("text/css", APP_CSS)
}

fn static_file(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
