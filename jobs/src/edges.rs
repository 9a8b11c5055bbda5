//! The edges a graph algorithm runs on: the latest `graph_edges` of a day, or a user's own
//! file. One place for both, so PageRank and betweenness read graphs the same way.

use crate::{Error, Result};

/// Where the edges come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Edges {
    /// `graph_edges` of this day.
    Graph(String),
    /// A Parquet or CSV file (local or `s3://`) with `src`, `dst` (or any two first columns)
    /// and optionally `weight`.
    File(String),
}

/// A SQL query giving the edges as `(src VARCHAR, dst VARCHAR, weight DOUBLE)`. A file is
/// registered as the table `input` first; without `src` and `dst` columns its first two
/// columns are the ends, and a missing `weight` column reads as 1.
pub async fn source(
    ctx: &datafusion::prelude::SessionContext,
    edges: &Edges,
    input: &str,
) -> Result<String> {
    match edges {
        Edges::Graph(day) => {
            if !ctx.table_exist("graph_edges")? {
                return Err(Error::Usage(
                    "no graph_edges: run `pulse run graph` first, or give edges=FILE".into(),
                ));
            }
            Ok(format!(
                "SELECT src, dst, weight FROM graph_edges WHERE dt = '{}'",
                day.replace('\'', "")
            ))
        }
        Edges::File(path) => {
            ctx.deregister_table(input)?;
            if path.ends_with(".csv") {
                ctx.register_csv(input, path, Default::default()).await?;
            } else {
                ctx.register_parquet(input, path, Default::default())
                    .await?;
            }
            let schema = ctx.table(input).await?.schema().clone();
            let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            let has = |c: &str| names.iter().any(|n| n == c);
            // `src, dst`, or else the first two columns (as in `from,to` of the MUSAE files).
            let (src, dst) = if has("src") && has("dst") {
                ("src".to_string(), "dst".to_string())
            } else if names.len() >= 2 {
                (names[0].clone(), names[1].clone())
            } else {
                return Err(Error::Usage(format!(
                    "the edge file {path} needs src and dst columns (or two columns)"
                )));
            };
            let w = if has("weight") {
                "CAST(weight AS DOUBLE)"
            } else {
                "1.0"
            };
            let q = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
            Ok(format!(
                "SELECT CAST({} AS VARCHAR) AS src, CAST({} AS VARCHAR) AS dst, {w} AS weight FROM {input}",
                q(&src),
                q(&dst)
            ))
        }
    }
}
