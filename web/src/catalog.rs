//! The saved questions Pulse answers over its tables, one home for all of them: each is a SQL
//! file under `sql/queries/<group>/` whose header says what it answers and which parameters it
//! takes. The REST API serves each at `/api/<group>/<name>`, the OpenAPI document describes
//! them from the same headers, the pages ask them, and `pulse graph` runs the graph group.
//!
//! A header is comment lines, then `-- params: name:kind=default, ...` with kinds `text`,
//! `date` (YYYY-MM-DD), `int[min..max]` and `duration` (`1h`, `10m`). Without `=` a parameter
//! is required; `=` alone makes it optional (NULL when absent). Values are bound as `$1`,
//! `$2`... in header order, never pasted into SQL; a duration also names a table (`{size}` in
//! `hashtag_top_{size}_{slide}`), written back from its parsed value as the jobs name their
//! outputs, so request text never reaches the SQL.

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::{Error, Result};

/// How an endpoint's rows are shaped in its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A JSON array of row objects.
    Rows,
    /// Link rows (source, target, type, weight) as `{nodes, links}` (the seed's D3 shape).
    Graph,
    /// A viewer's profile (`pulse profile`'s), computed by `pulse_jobs::profile`.
    Profile,
}

/// One saved question.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Its group (a directory of `sql/queries/`).
    pub group: &'static str,
    /// Its name (the file's, with `_`; URLs may use `-`).
    pub name: &'static str,
    /// The file: header and SQL (only a header for [`Shape::Profile`]).
    pub text: &'static str,
    /// How the answer is shaped.
    pub shape: Shape,
}

macro_rules! q {
    ($group:literal, $name:literal) => {
        q!($group, $name, Rows)
    };
    ($group:literal, $name:literal, $shape:ident) => {
        Endpoint {
            group: $group,
            name: $name,
            text: include_str!(concat!("../../sql/queries/", $group, "/", $name, ".sql")),
            shape: Shape::$shape,
        }
    };
}

/// The viewer profile endpoint has no SQL of its own; its header is here.
const PROFILE: &str = "-- A viewer's profile as of a date (default the latest profile day): workday and weekend \
schedules (minutes per UTC hour), favourite streamers and games all-time and recent, last day \
seen and bot status, as `pulse profile` prints it.\n-- params: viewer:text, date:date=\n";

/// Every endpoint, in the order the OpenAPI document lists them.
pub const ENDPOINTS: &[Endpoint] = &[
    q!("graph", "node_count"),
    q!("graph", "edge_count"),
    q!("graph", "top_games"),
    q!("graph", "top_teams"),
    q!("graph", "top_vips"),
    q!("graph", "top_moderators"),
    q!("graph", "top_streamers_by_views"),
    q!("graph", "top_streamers_by_followers"),
    q!("graph", "streamers_by_language"),
    q!("graph", "streamers_by_game"),
    q!("graph", "top_pagerank"),
    q!("graph", "top_betweenness"),
    q!("graph", "audience_overlap"),
    q!("graph", "neighbourhood", Graph),
    q!("hashtags", "windows"),
    q!("hashtags", "top"),
    q!("hashtags", "trends"),
    q!("hashtags", "tag"),
    q!("categories", "list"),
    q!("categories", "share"),
    q!("categories", "heatmap"),
    q!("categories", "top_channels"),
    q!("channels", "summary"),
    q!("channels", "daily"),
    q!("channels", "games"),
    q!("channels", "schedule"),
    q!("channels", "leaderboard"),
    q!("viewers", "search"),
    q!("viewers", "top"),
    Endpoint {
        group: "viewers",
        name: "profile",
        text: PROFILE,
        shape: Shape::Profile,
    },
    q!("viewers", "heatmap"),
    q!("viewers", "day"),
    q!("pipeline", "runs"),
    q!("pipeline", "failures"),
    q!("pipeline", "durations"),
    q!("pipeline", "days"),
];

/// The most rows one answer holds; a larger result is cut there and says so.
pub const MAX_ROWS: usize = 10_000;

/// A parameter's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Any text.
    Text,
    /// A day, `YYYY-MM-DD`.
    Date,
    /// An integer in `min..=max`.
    Int {
        /// The smallest value allowed.
        min: i64,
        /// The largest value allowed.
        max: i64,
    },
    /// A duration (`1h`, `10m`, `1day`) naming a job output.
    Duration,
}

/// One declared parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: Kind,
    /// `None`: required; `Some("")`: optional (NULL); else the default value.
    pub default: Option<String>,
}

/// An endpoint's header: what it answers and its parameters.
#[derive(Debug, Clone)]
pub struct Spec {
    /// What it answers (the header's comment lines, joined).
    pub about: String,
    /// Its parameters, in binding order.
    pub params: Vec<Param>,
}

impl Endpoint {
    /// Its URL path.
    pub fn path(&self) -> String {
        format!("/api/{}/{}", self.group, self.name.replace('_', "-"))
    }

    /// Its header, parsed.
    pub fn spec(&self) -> Result<Spec> {
        let mut about = Vec::new();
        let mut params = Vec::new();
        for line in self.text.lines() {
            let Some(c) = line.strip_prefix("--") else {
                break;
            };
            let c = c.trim();
            if let Some(decls) = c.strip_prefix("params:") {
                for d in decls.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                    params.push(parse_param(d).map_err(|why| {
                        Error::Usage(format!("{}: bad parameter {d:?}: {why}", self.path()))
                    })?);
                }
                break;
            }
            about.push(c);
        }
        Ok(Spec {
            about: about.join(" "),
            params,
        })
    }

    /// The SQL with durations' table names written in.
    fn sql(&self, durations: &[(String, String)]) -> String {
        let mut sql = self.text.to_string();
        for (name, text) in durations {
            sql = sql.replace(&format!("{{{name}}}"), text);
        }
        sql
    }
}

fn parse_param(decl: &str) -> std::result::Result<Param, String> {
    let (decl, default) = match decl.split_once('=') {
        Some((d, v)) => (d.trim(), Some(v.trim().to_string())),
        None => (decl, None),
    };
    let (name, ty) = decl.split_once(':').unwrap_or((decl, "text"));
    let kind = match ty {
        "text" => Kind::Text,
        "date" => Kind::Date,
        "duration" => Kind::Duration,
        "int" => Kind::Int {
            min: i64::MIN,
            max: i64::MAX,
        },
        t => {
            let range = t
                .strip_prefix("int[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.split_once(".."))
                .ok_or_else(|| format!("unknown type {t:?}"))?;
            let n = |s: &str| s.parse::<i64>().map_err(|e| format!("{s:?}: {e}"));
            Kind::Int {
                min: n(range.0)?,
                max: n(range.1)?,
            }
        }
    };
    Ok(Param {
        name: name.to_string(),
        kind,
        default,
    })
}

/// Looks an endpoint up by group and name (`-` or `_`).
pub fn find(group: &str, name: &str) -> Option<&'static Endpoint> {
    let name = name.replace('-', "_");
    ENDPOINTS
        .iter()
        .find(|e| e.group == group && e.name == name)
}

/// Parameter values checked against a spec: what to bind, and the table names durations give.
#[derive(Debug, Clone, Default)]
pub struct Bound {
    /// `$1`, `$2`... in order.
    pub values: Vec<ScalarValue>,
    /// (parameter, its canonical text) for each duration.
    pub durations: Vec<(String, String)>,
}

fn bad(name: &str, why: impl Into<String>) -> Error {
    Error::BadParam {
        name: name.to_string(),
        why: why.into(),
    }
}

/// Checks the values `get` gives for `spec`'s parameters: types, ranges, required ones.
/// `known` lists the names a caller passed, so that unknown ones are refused.
pub fn bind<'a>(
    spec: &Spec,
    get: impl Fn(&str) -> Option<String>,
    known: impl IntoIterator<Item = &'a str>,
) -> Result<Bound> {
    for name in known {
        if !spec.params.iter().any(|p| p.name == name) {
            let names: Vec<&str> = spec.params.iter().map(|p| p.name.as_str()).collect();
            return Err(bad(
                name,
                format!("unknown parameter; this endpoint takes {names:?}"),
            ));
        }
    }
    let mut out = Bound::default();
    for p in &spec.params {
        let given = get(&p.name).filter(|v| !v.is_empty());
        let text = match (given, &p.default) {
            (Some(v), _) => Some(v),
            (None, Some(d)) if !d.is_empty() => Some(d.clone()),
            (None, Some(_)) => None,
            (None, None) => return Err(bad(&p.name, "required")),
        };
        let v = match (&p.kind, text) {
            (Kind::Int { .. }, None) => ScalarValue::Int64(None),
            (_, None) => ScalarValue::Utf8(None),
            (Kind::Text, Some(t)) => {
                if t.len() > 200 {
                    return Err(bad(&p.name, "longer than 200 bytes"));
                }
                ScalarValue::Utf8(Some(t))
            }
            (Kind::Date, Some(t)) => {
                let d = chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                    .map_err(|_| bad(&p.name, format!("{t:?} is not a date (YYYY-MM-DD)")))?;
                ScalarValue::Utf8(Some(d.format("%Y-%m-%d").to_string()))
            }
            (Kind::Int { min, max }, Some(t)) => {
                let n: i64 = t
                    .parse()
                    .map_err(|_| bad(&p.name, format!("{t:?} is not an integer")))?;
                if n < *min || n > *max {
                    return Err(bad(&p.name, format!("{n} is out of range {min}..={max}")));
                }
                ScalarValue::Int64(Some(n))
            }
            (Kind::Duration, Some(t)) => {
                let d = humantime::parse_duration(&t)
                    .map_err(|_| bad(&p.name, format!("{t:?} is not a duration (1h, 10m)")))?;
                if d.is_zero() {
                    return Err(bad(&p.name, "must be longer than zero"));
                }
                let text = pulse_lake::schema::duration_text(d);
                out.durations.push((p.name.clone(), text.clone()));
                ScalarValue::Utf8(Some(text))
            }
        };
        out.values.push(v);
    }
    Ok(out)
}

/// Binds positional arguments (as `pulse graph NAME ARGS...` takes them), defaults for the rest.
pub fn bind_positional(spec: &Spec, args: &[String]) -> Result<Bound> {
    if args.len() > spec.params.len() {
        return Err(Error::Usage(format!(
            "takes {} argument(s), got {}",
            spec.params.len(),
            args.len()
        )));
    }
    let get = |name: &str| {
        let i = spec.params.iter().position(|p| p.name == name)?;
        args.get(i).cloned()
    };
    bind(spec, get, std::iter::empty())
}

/// The answer to a question: its rows (at most [`MAX_ROWS`]) and whether more were cut.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// True when the result had more than [`MAX_ROWS`] rows.
    pub truncated: bool,
}

impl Answer {
    /// Rows in the answer.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// Asks a SQL endpoint in `ctx`.
pub async fn ask(ctx: &SessionContext, ep: &Endpoint, bound: &Bound) -> Result<Answer> {
    let sql = ep.sql(&bound.durations);
    let df = match ctx.sql(&sql).await {
        Ok(df) => df,
        Err(e) => return Err(missing_table(e, bound)),
    };
    let df = df
        .with_param_values(bound.values.clone())?
        .limit(0, Some(MAX_ROWS + 1))?;
    let mut batches = df.collect().await?;
    let mut left = MAX_ROWS;
    let mut truncated = false;
    for b in batches.iter_mut() {
        if b.num_rows() > left {
            *b = b.slice(0, left);
            truncated = true;
        }
        left -= b.num_rows();
    }
    Ok(Answer { batches, truncated })
}

/// A table named by durations that does not exist is the caller's choice of window, not a bug.
fn missing_table(e: datafusion::error::DataFusionError, bound: &Bound) -> Error {
    let text = e.to_string();
    if text.contains("not found") && !bound.durations.is_empty() {
        let names: Vec<String> = bound
            .durations
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        return Error::NotFound(format!(
            "no job output for {}: run the job with those parameters first ({text})",
            names.join(" ")
        ));
    }
    e.into()
}

/// The tables a SQL endpoint reads, for saying which job to run when they are empty.
pub async fn tables_read(ctx: &SessionContext, ep: &Endpoint, bound: &Bound) -> Vec<String> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut names = Vec::new();
    let Ok(plan) = ctx
        .state()
        .create_logical_plan(&ep.sql(&bound.durations))
        .await
    else {
        return names;
    };
    let _ = plan.apply_with_subqueries(|p| {
        if let datafusion::logical_expr::LogicalPlan::TableScan(s) = p {
            let n = s.table_name.table().to_string();
            if !names.contains(&n) {
                names.push(n);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    names
}

/// Link rows (source, target, type, weight) as `{"nodes": [{id, label, name}], "links":
/// [{source, target, type, weight}]}`, the seed's D3 shape.
pub fn graph_json(batches: &[RecordBatch]) -> Result<serde_json::Value> {
    use arrow::array::AsArray;
    use arrow::datatypes::DataType;
    let mut nodes = std::collections::BTreeMap::new();
    let mut links = Vec::new();
    for b in batches {
        if b.num_columns() < 4 {
            return Err(Error::Usage("a graph answer needs 4 columns".into()));
        }
        let s = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8);
        let (src, dst, ty, w) = (s(0)?, s(1)?, s(2)?, s(3)?);
        let (src, dst, ty, w) = (
            src.as_string::<i32>(),
            dst.as_string::<i32>(),
            ty.as_string::<i32>(),
            w.as_string::<i32>(),
        );
        for r in 0..b.num_rows() {
            let (a, z) = (src.value(r), dst.value(r));
            for id in [a, z] {
                let (label, name) = id.split_once(':').unwrap_or(("node", id));
                let mut label = label.to_string();
                if let Some(first) = label.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                nodes.insert(
                    id.to_string(),
                    serde_json::json!({"id": id, "label": label, "name": name}),
                );
            }
            links.push(serde_json::json!({
                "source": a,
                "target": z,
                "type": ty.value(r),
                "weight": w.value(r).parse::<f64>().unwrap_or(0.0),
            }));
        }
    }
    Ok(serde_json::json!({
        "nodes": nodes.into_values().collect::<Vec<_>>(),
        "links": links,
    }))
}

/// Rows as a JSON array of objects, keys in column order (timestamps as RFC 3339 text).
pub fn rows_json(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut w = arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    w.write_batches(&refs)?;
    w.finish()?;
    let bytes = w.into_inner();
    Ok(if bytes.is_empty() {
        b"[]".to_vec()
    } else {
        bytes
    })
}

/// A viewer's profile (`None` when the lake knows nothing of them).
pub async fn profile(
    ctx: &SessionContext,
    bound: &Bound,
) -> Result<Option<pulse_jobs::profile::Profile>> {
    let text = |i: usize| match bound.values.get(i) {
        Some(ScalarValue::Utf8(Some(s))) => Some(s.clone()),
        _ => None,
    };
    let viewer = text(0).unwrap_or_default().to_lowercase();
    let date = match text(1) {
        Some(d) => chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok(),
        None => pulse_jobs::profile::latest_date(ctx).await?,
    };
    let Some(date) = date else {
        return Ok(None);
    };
    Ok(pulse_jobs::profile::read(ctx, &viewer, date).await?)
}

/// Answers an endpoint as JSON text: (body, truncated).
pub async fn answer_json(
    ctx: &SessionContext,
    ep: &Endpoint,
    bound: &Bound,
) -> Result<(Vec<u8>, bool)> {
    match ep.shape {
        Shape::Profile => Ok((serde_json::to_vec(&profile(ctx, bound).await?)?, false)),
        Shape::Graph => {
            let a = ask(ctx, ep, bound).await?;
            Ok((serde_json::to_vec(&graph_json(&a.batches)?)?, a.truncated))
        }
        Shape::Rows => {
            let a = ask(ctx, ep, bound).await?;
            Ok((rows_json(&a.batches)?, a.truncated))
        }
    }
}
