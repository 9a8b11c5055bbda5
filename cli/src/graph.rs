//! `pulse graph <query> [ARGS]`: seed 000's graph queries, saved as SQL files under
//! `sql/graph/queries/` (each also runs with `pulse sql -f FILE --param ...`). A file's
//! `-- params:` line names its arguments (`name:text`, `limit:int=10`); arguments are bound
//! as parameters, never pasted into the SQL. `neighbourhood` prints the seed's D3 shape.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, bail};
use arrow::array::AsArray;
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::sql::{OutFormat, query_with, write};

/// The saved queries: (name, SQL).
const QUERIES: [(&str, &str); 14] = [
    (
        "node_count",
        include_str!("../../sql/graph/queries/node_count.sql"),
    ),
    (
        "edge_count",
        include_str!("../../sql/graph/queries/edge_count.sql"),
    ),
    (
        "top_games",
        include_str!("../../sql/graph/queries/top_games.sql"),
    ),
    (
        "top_teams",
        include_str!("../../sql/graph/queries/top_teams.sql"),
    ),
    (
        "top_vips",
        include_str!("../../sql/graph/queries/top_vips.sql"),
    ),
    (
        "top_moderators",
        include_str!("../../sql/graph/queries/top_moderators.sql"),
    ),
    (
        "top_streamers_by_views",
        include_str!("../../sql/graph/queries/top_streamers_by_views.sql"),
    ),
    (
        "top_streamers_by_followers",
        include_str!("../../sql/graph/queries/top_streamers_by_followers.sql"),
    ),
    (
        "streamers_by_language",
        include_str!("../../sql/graph/queries/streamers_by_language.sql"),
    ),
    (
        "streamers_by_game",
        include_str!("../../sql/graph/queries/streamers_by_game.sql"),
    ),
    (
        "top_pagerank",
        include_str!("../../sql/graph/queries/top_pagerank.sql"),
    ),
    (
        "top_betweenness",
        include_str!("../../sql/graph/queries/top_betweenness.sql"),
    ),
    (
        "audience_overlap",
        include_str!("../../sql/graph/queries/audience_overlap.sql"),
    ),
    (
        "neighbourhood",
        include_str!("../../sql/graph/queries/neighbourhood.sql"),
    ),
];

/// A query's first comment line (what it answers) and its parameters (name, int?, default).
fn describe(sql: &str) -> (String, Vec<(String, bool, Option<String>)>) {
    let about = sql
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("-- "))
        .unwrap_or_default()
        .to_string();
    let params = sql
        .lines()
        .find_map(|l| l.strip_prefix("-- params:"))
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (decl, default) = match p.split_once('=') {
                Some((d, v)) => (d.trim(), Some(v.trim().to_string())),
                None => (p.trim(), None),
            };
            let (name, ty) = decl.split_once(':').unwrap_or((decl, "text"));
            (name.to_string(), ty == "int", default)
        })
        .collect();
    (about, params)
}

/// Runs a saved query by name with its arguments.
pub async fn run(
    ctx: &SessionContext,
    name: Option<&str>,
    args: &[String],
    format: OutFormat,
) -> anyhow::Result<()> {
    let Some(name) = name else {
        for (n, sql) in QUERIES {
            let (about, params) = describe(sql);
            let usage: Vec<String> = params.iter().map(|p| format!("<{}>", p.0)).collect();
            writeln!(std::io::stdout(), "{n} {}\n    {about}", usage.join(" "))?;
        }
        return Ok(());
    };
    let key = name.replace('-', "_");
    let Some((_, sql)) = QUERIES.iter().find(|(n, _)| *n == key) else {
        let names: Vec<&str> = QUERIES.iter().map(|q| q.0).collect();
        bail!("unknown graph query {name:?}: one of {names:?}");
    };
    let (_, decls) = describe(sql);
    if args.len() > decls.len() {
        bail!(
            "{name} takes {} argument(s), got {}",
            decls.len(),
            args.len()
        );
    }
    let mut params = Vec::new();
    for (i, (pname, is_int, default)) in decls.iter().enumerate() {
        let v = args
            .get(i)
            .cloned()
            .or_else(|| default.clone())
            .with_context(|| format!("{name} needs <{pname}>"))?;
        params.push(if *is_int {
            ScalarValue::Int64(Some(
                v.parse()
                    .with_context(|| format!("<{pname}> must be an integer, got {v:?}"))?,
            ))
        } else {
            ScalarValue::Utf8(Some(v))
        });
    }
    if !ctx.table_exist("graph_edges")? {
        bail!("no graph in this lake yet: run `pulse run graph --from D1 --to D2` first");
    }
    let batches = query_with(ctx, sql, &params).await?;
    if key == "neighbourhood" && format == OutFormat::Table {
        writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&d3(&batches)?)?
        )?;
        return Ok(());
    }
    write(&batches, format, &mut std::io::stdout())
}

/// Links rows (source, target, type, weight) as `{"nodes": [{id, label, name}], "links":
/// [{source, target, type, weight}]}`.
fn d3(batches: &[arrow::array::RecordBatch]) -> anyhow::Result<serde_json::Value> {
    let mut nodes = BTreeMap::new();
    let mut links = Vec::new();
    for b in batches {
        let s = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8);
        let (src, dst, ty, w) = (s(0)?, s(1)?, s(2)?, s(3)?);
        for r in 0..b.num_rows() {
            let (a, z) = (
                src.as_string::<i32>().value(r),
                dst.as_string::<i32>().value(r),
            );
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
                "type": ty.as_string::<i32>().value(r),
                "weight": w.as_string::<i32>().value(r).parse::<f64>().unwrap_or(0.0),
            }));
        }
    }
    Ok(serde_json::json!({
        "nodes": nodes.into_values().collect::<Vec<_>>(),
        "links": links,
    }))
}
