//! `betweenness`: exact or sampled Brandes betweenness over the latest `graph_edges` or a
//! user's edge file, as one DataFusion plan that runs unchanged on a cluster. Nodes get dense
//! ids; the sources are split into parts; every part receives all edges (a cross join: the
//! broadcast) plus its own sources, and the `brandes_partial` aggregate returns its partial
//! dependency sums, which are unnested and added up. Unweighted shortest paths.
//!
//! Scaling is NetworkX's (`betweenness_centrality`, endpoints excluded, version 3.6):
//! exact and normalised: `1 / ((n - 1)(n - 2))`; exact, not normalised: `1/2` for undirected
//! graphs (each pair is counted from both ends), 1 for directed ones. With `samples = k`
//! sources drawn by a seeded hash, sums are scaled up by the share of sources: normalised
//! `1 / ((k - 1)(n - 2))` for sampled nodes and `1 / (k (n - 2))` for the others; not
//! normalised `(n - 1) / ((k - 1) c)` and `(n - 1) / (k c)` (c = 2 undirected, 1 directed).
//! Graphs of two nodes or fewer score 0.

use pulse_lake::Lake;

use crate::edges::Edges;
use crate::runner::RunReport;
use crate::scalar::first_i64;
use crate::{Error, Result};

/// The knobs.
#[derive(Debug, Clone)]
pub struct BetweennessOptions {
    /// The edges.
    pub edges: Edges,
    /// The day the output is written under (`betweenness/dt=`).
    pub date: String,
    /// Follow edges one way only (true), or both ways.
    pub directed: bool,
    /// Divide by the number of pairs, as NetworkX's `normalized=True`.
    pub normalized: bool,
    /// Sample this many sources instead of all of them (`None`: exact).
    pub samples: Option<usize>,
    /// Seed of the sample.
    pub seed: u64,
    /// Split the sources into this many parts (`None`: four per target partition).
    pub parts: Option<usize>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct BetweennessReport {
    /// Nodes scored.
    pub nodes: u64,
    /// Distinct edges (no self loops) searched.
    pub edges: u64,
    /// Sources searched from.
    pub sources: u64,
    /// Parts the sources were split into.
    pub parts: u64,
}

/// The factors a node's dependency sum is multiplied by: (sampled source, other node).
pub fn scale(n: u64, sources: Option<u64>, directed: bool, normalized: bool) -> (f64, f64) {
    if n <= 2 {
        return (1.0, 1.0);
    }
    let big_n = (n - 1) as f64;
    let c = if directed { 1.0 } else { 2.0 };
    match sources {
        None => {
            let s = if normalized {
                1.0 / (big_n * (big_n - 1.0))
            } else {
                1.0 / c
            };
            (s, s)
        }
        Some(k) => {
            let k = k as f64;
            if normalized {
                (1.0 / ((k - 1.0) * (big_n - 1.0)), 1.0 / (k * (big_n - 1.0)))
            } else {
                (big_n / ((k - 1.0) * c), big_n / (k * c))
            }
        }
    }
}

/// Runs betweenness and writes `betweenness` (node, score, source) for `o.date`.
pub async fn run(
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
    o: &BetweennessOptions,
) -> Result<(RunReport, BetweennessReport)> {
    if o.samples.is_some_and(|k| k < 2) {
        return Err(Error::Usage(
            "betweenness needs samples >= 2 (one source cannot be scaled)".into(),
        ));
    }
    let key = blake3::hash(format!("{o:?}").as_bytes()).to_hex()[..16].to_string();
    let base = format!("tmp/betweenness-{key}");
    let source = crate::edges::source(ctx, &o.edges, "betweenness_input").await?;
    let sql = |q: String| async move { ctx.sql(&q).await };
    // Dense ids: every end of an edge (also of a self loop) is a node.
    crate::runner::materialize(
        lake,
        ctx,
        "betweenness_nodes",
        &format!("{base}/nodes"),
        sql(format!(
            "SELECT node, CAST(row_number() OVER (ORDER BY node) - 1 AS BIGINT) AS idx \
             FROM (SELECT src AS node FROM ({source}) UNION SELECT dst FROM ({source}))"
        ))
        .await?,
    )
    .await?;
    crate::runner::materialize(
        lake,
        ctx,
        "betweenness_edges",
        &format!("{base}/edges"),
        sql(format!(
            "SELECT DISTINCT a.idx AS s, b.idx AS d FROM ({source}) e \
             JOIN betweenness_nodes a ON a.node = e.src JOIN betweenness_nodes b ON b.node = e.dst \
             WHERE e.src <> e.dst"
        ))
        .await?,
    )
    .await?;
    let count = |q: &'static str| async move {
        Ok::<_, Error>(first_i64(&ctx.sql(q).await?.collect().await?).unwrap_or(0) as u64)
    };
    let n = count("SELECT count(*) FROM betweenness_nodes").await?;
    let m = count("SELECT count(*) FROM betweenness_edges").await?;
    // A sample as large as the graph is the exact answer (as in NetworkX).
    let samples = o.samples.map(|k| k as u64).filter(|k| *k < n);
    let k = samples.unwrap_or(n);
    let parts = o
        .parts
        .unwrap_or(4 * ctx.state().config().target_partitions())
        .clamp(1, k.max(1) as usize);
    // Sampled sources: the k nodes first in a seeded hash order.
    let chosen = match samples {
        None => "SELECT idx FROM betweenness_nodes".to_string(),
        Some(k) => format!(
            "SELECT idx FROM betweenness_nodes ORDER BY md5('{seed}:' || node), node LIMIT {k}",
            seed = o.seed
        ),
    };
    crate::runner::materialize(
        lake,
        ctx,
        "betweenness_sources",
        &format!("{base}/sources"),
        sql(format!(
            "SELECT idx AS s, CAST(idx % {parts} AS BIGINT) AS part FROM ({chosen})"
        ))
        .await?,
    )
    .await?;
    let (at_source, at_other) = scale(n, samples, o.directed, o.normalized);
    let df = sql(format!(
        "WITH parts AS (SELECT DISTINCT part FROM betweenness_sources), \
              work AS (SELECT p.part, e.s, e.d FROM betweenness_edges e CROSS JOIN parts p \
                       UNION ALL SELECT part, s, CAST(NULL AS BIGINT) FROM betweenness_sources), \
              partial AS (SELECT part, brandes_partial(s, d, {n}, {directed}) AS b \
                          FROM work GROUP BY part), \
              entries AS (SELECT unnest(b) AS x FROM partial), \
              flat AS (SELECT x['node'] AS idx, x['score'] AS raw FROM entries), \
              sums AS (SELECT idx, sum(raw) AS raw FROM flat GROUP BY idx) \
         SELECT '{date}' AS dt, v.node, \
                COALESCE(sums.raw, 0.0) * CASE WHEN src.s IS NULL THEN {at_other:?} ELSE {at_source:?} END AS score, \
                src.s IS NOT NULL AS source \
         FROM betweenness_nodes v LEFT JOIN sums ON sums.idx = v.idx \
         LEFT JOIN betweenness_sources src ON src.s = v.idx",
        directed = o.directed,
        date = o.date.replace('\'', ""),
    ))
    .await?;
    let table = o.edges.output_table("betweenness");
    let rows = crate::runner::write_day_output(lake, ctx, &table, &o.date, df, &base).await?;
    Ok((
        RunReport {
            outputs: vec![(table, rows, 1)],
            rows_in: m,
            spilled_bytes: 0,
            ..Default::default()
        },
        BetweennessReport {
            nodes: n,
            edges: m,
            sources: k,
            parts: parts as u64,
        },
    ))
}
