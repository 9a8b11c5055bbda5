//! The edges a graph algorithm runs on: the latest `graph_edges` of a day, or a user's own
//! file. One place for both, so PageRank and betweenness read graphs the same way.

use crate::{Error, Result};

/// Where the edges come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Edges {
    /// `graph_edges` of this day.
    Graph(String),
    /// A Parquet or CSV file (local or `s3://`) with `src`, `dst` and optionally `weight`.
    File(String),
}

/// A SQL query giving the edges as `(src VARCHAR, dst VARCHAR, weight DOUBLE)`. A file is
/// registered as the table `input` first (a missing `weight` column reads as 1).
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
            for c in ["src", "dst"] {
                if schema.field_with_unqualified_name(c).is_err() {
                    return Err(Error::Usage(format!(
                        "the edge file {path} has no {c} column"
                    )));
                }
            }
            let w = if schema.field_with_unqualified_name("weight").is_ok() {
                "CAST(weight AS DOUBLE)"
            } else {
                "1.0"
            };
            Ok(format!(
                "SELECT CAST(src AS VARCHAR) AS src, CAST(dst AS VARCHAR) AS dst, {w} AS weight FROM {input}"
            ))
        }
    }
}
