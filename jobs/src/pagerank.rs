//! `pagerank`: PageRank over the latest `graph_edges` or a user's edge file, as an iterative
//! DataFusion job. Each iteration is one plan (edges joined with the current ranks, grouped
//! by target, the step in the `pagerank_update` UDF), so it runs unchanged on a cluster. Ranks
//! are written to Parquet in the lake after every iteration, which keeps plans short; every
//! `checkpoint_every`-th is kept, so a killed run resumes from it instead of iteration 0.
//!
//! A graph of up to `native_edges` edges is ranked in memory instead, by the
//! `pagerank_native` aggregate over a compressed sparse row layout (one plan, also on a
//! cluster); the plan-per-iteration path serves larger graphs, with the same definition.
//!
//! Definition (NetworkX's, which Memgraph MAGE follows): directed; damping `d`; a node without
//! out-edges spreads its rank like the restart distribution; ranks start uniform and sum to 1;
//! stop when the L1 change of an iteration is below `N * tol` (NetworkX's rule; with
//! `distance`, when the L1 distance to the fixed point is below `tol`), or fail after `max_iter`
//! iterations (the checkpoints stay for a rerun to resume from). The restart distribution is
//! uniform, or personalised: given nodes only, equally. Edges are unweighted unless
//! `weighted=1`; parallel edges (e.g. a user both VIP and chatter of a channel) add up.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use object_store::ObjectStoreExt;
use pulse_lake::Lake;

use crate::runner::RunReport;
use crate::scalar::{first_f64, first_i64};
use crate::{Error, Result};

pub use crate::edges::Edges;

/// The knobs.
#[derive(Debug, Clone)]
pub struct PageRankOptions {
    /// The edges.
    pub edges: Edges,
    /// The day the output is written under (`pagerank/dt=`).
    pub date: String,
    /// Damping (0.85).
    pub damping: f64,
    /// Tolerance per node (1e-6): stop when the L1 change is below `N * tol`.
    pub tol: f64,
    /// Iterations before giving up (100).
    pub max_iter: usize,
    /// Keep every this many iterations' ranks as a checkpoint to resume from (1).
    pub checkpoint_every: usize,
    /// Use edge weights.
    pub weighted: bool,
    /// Follow edges one way (true), or read each edge as a pair of opposite ones.
    pub directed: bool,
    /// Restart only at these nodes (ids as in the edges), equally; empty: everywhere.
    pub personalize: Vec<String>,
    /// Graphs with at most this many edges are ranked in memory by the `pagerank_native`
    /// aggregate (one plan, no checkpoints); larger ones, or all with 0, iterate as plans.
    pub native_edges: u64,
    /// Read `tol` as the L1 distance to the fixed point (all nodes together) rather than
    /// NetworkX's rule (stop when the L1 change is below `N * tol`).
    pub distance: bool,
}

impl PageRankOptions {
    /// The L1 change of an iteration below which the ranks are final, for `n` nodes:
    /// NetworkX's `n * tol`, or, with `distance`, the change that bounds the L1 distance to
    /// the fixed point by `tol` (each step shrinks the error by `damping`, so the distance is
    /// at most `change * damping / (1 - damping)`).
    pub fn threshold(&self, n: i64) -> f64 {
        match (self.distance, self.damping > 0.0) {
            (false, _) => n as f64 * self.tol,
            (true, true) => self.tol * (1.0 - self.damping) / self.damping,
            (true, false) => f64::INFINITY,
        }
    }
}

/// The default bound for ranking in memory: 20 M edges take about 1 GiB there.
pub const NATIVE_EDGES: u64 = 20_000_000;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct PageRankReport {
    /// Nodes ranked.
    pub nodes: u64,
    /// Iterations done (including those of the run resumed from).
    pub iterations: usize,
    /// The last iteration's L1 change.
    pub l1: f64,
    /// The checkpoint a run resumed from.
    pub resumed_from: Option<usize>,
}

/// Writes the result of `sql` to `rel` in the lake and registers it as `table`.
async fn materialize(
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    rel: &str,
    table: &str,
) -> Result<()> {
    let df = ctx.sql(sql).await?;
    crate::runner::materialize(lake, ctx, table, rel, df).await?;
    Ok(())
}

/// Runs PageRank and writes `pagerank` (node, rank) for `o.date`.
pub async fn run(
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
    o: &PageRankOptions,
) -> Result<(RunReport, PageRankReport)> {
    if !(0.0..1.0).contains(&o.damping) || o.tol <= 0.0 || o.max_iter == 0 {
        return Err(Error::Usage(
            "pagerank needs 0 <= damping < 1, tol > 0 and max_iter >= 1".into(),
        ));
    }
    // The scratch directory is named by everything that decides the ranks, so a rerun with
    // the same inputs (and any max_iter or tol) finds its checkpoints.
    let key = blake3::hash(
        format!(
            "{:?}|{}|{}|{:?}|{}",
            o.edges, o.damping, o.weighted, o.personalize, o.directed
        )
        .as_bytes(),
    )
    .to_hex()[..16]
        .to_string();
    let base = format!("tmp/pagerank-{key}");
    // Edges, summed per (src, dst), with each source's out-weights normalised.
    let mut source = crate::edges::source(ctx, &o.edges, "pagerank_input").await?;
    if !o.directed {
        // Each edge both ways (a self loop once), as NetworkX ranks an undirected graph.
        source = format!(
            "SELECT src, dst, weight FROM ({source}) UNION ALL \
             SELECT dst, src, weight FROM ({source}) WHERE src <> dst"
        );
    }
    let w = if o.weighted { "weight" } else { "1.0" };
    materialize(
        lake,
        ctx,
        &format!(
            "WITH e AS (SELECT src, dst, sum({w}) AS w FROM ({source}) GROUP BY src, dst) \
             SELECT src, dst, w / sum(w) OVER (PARTITION BY src) AS p FROM e WHERE w > 0"
        ),
        &format!("{base}/edges"),
        "pagerank_edges",
    )
    .await?;
    // Nodes: every end of an edge file row (also of zero-weight ones), dangling when without
    // out-edges, with their restart share.
    // The personalisation list goes through the lake too (a cluster cannot read tables that
    // live in this process), never into the SQL text.
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("node", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(arrow::array::StringArray::from(
            o.personalize.clone(),
        ))],
    )?;
    crate::runner::put_batches(
        lake,
        ctx,
        "pagerank_personal",
        &format!("{base}/personal"),
        &[batch],
        schema,
    )
    .await?;
    // Restart shares: uniform, or equal over the personalisation nodes found in the graph.
    let restart = if o.personalize.is_empty() {
        "1.0 / count(*) OVER ()"
    } else {
        "CASE WHEN pers.node IS NULL THEN 0.0 ELSE 1.0 / count(pers.node) OVER () END"
    };
    materialize(
        lake,
        ctx,
        &format!(
            "WITH ids AS (SELECT src AS node FROM ({source}) UNION SELECT dst FROM ({source})), \
                  outs AS (SELECT DISTINCT src FROM pagerank_edges), \
                  pers AS (SELECT DISTINCT node FROM pagerank_personal) \
             SELECT ids.node, {restart} AS restart, outs.src IS NULL AS dangling, \
                    1.0 / count(*) OVER () AS start \
             FROM ids LEFT JOIN outs ON outs.src = ids.node LEFT JOIN pers ON pers.node = ids.node"
        ),
        &format!("{base}/nodes"),
        "pagerank_nodes",
    )
    .await?;
    let n = first_i64(
        &ctx.sql("SELECT count(*) FROM pagerank_nodes")
            .await?
            .collect()
            .await?,
    )
    .unwrap_or(0);
    if !o.personalize.is_empty() {
        let found = first_i64(
            &ctx.sql("SELECT count(*) FROM pagerank_nodes WHERE restart > 0")
                .await?
                .collect()
                .await?,
        )
        .unwrap_or(0);
        if found == 0 {
            return Err(Error::Usage(format!(
                "none of the personalisation nodes {:?} is in the graph",
                o.personalize
            )));
        }
    }
    let m = first_i64(
        &ctx.sql("SELECT count(*) FROM pagerank_edges")
            .await?
            .collect()
            .await?,
    )
    .unwrap_or(0) as u64;
    let mut report = PageRankReport {
        nodes: n as u64,
        ..Default::default()
    };
    let converged = if m <= o.native_edges {
        native(lake, ctx, o, &base, n, &mut report).await?
    } else {
        iterate(lake, ctx, o, &base, n, &mut report).await?
    };
    if !converged {
        return Err(Error::Usage(format!(
            "pagerank did not converge in {} iterations (L1 change {:.3e}, needs < {:.3e}); \
             rerun with a larger max_iter to continue from iteration {}",
            o.max_iter,
            report.l1,
            o.threshold(n),
            report.iterations
        )));
    }
    let df = ctx
        .sql(&format!(
            "SELECT '{}' AS dt, node, rank FROM pagerank_ranks",
            o.date.replace('\'', "")
        ))
        .await?;
    let table = o.edges.output_table("pagerank");
    let rows = crate::runner::write_day_output(lake, ctx, &table, &o.date, df, &base).await?;
    Ok((
        RunReport {
            outputs: vec![(table, rows, 1)],
            rows_in: 0,
            spilled_bytes: 0,
            ..Default::default()
        },
        report,
    ))
}

/// Ranks in memory with `pagerank_native`; registers `pagerank_ranks`. True when converged.
async fn native(
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
    o: &PageRankOptions,
    base: &str,
    n: i64,
    report: &mut PageRankReport,
) -> Result<bool> {
    materialize(
        lake,
        ctx,
        "SELECT node, restart, CAST(row_number() OVER (ORDER BY node) - 1 AS BIGINT) AS idx \
         FROM pagerank_nodes",
        &format!("{base}/ids"),
        "pagerank_ids",
    )
    .await?;
    materialize(
        lake,
        ctx,
        &format!(
            "WITH work AS (SELECT a.idx AS s, b.idx AS d, e.p FROM pagerank_edges e \
                           JOIN pagerank_ids a ON a.node = e.src JOIN pagerank_ids b ON b.node = e.dst \
                           UNION ALL SELECT idx, CAST(NULL AS BIGINT), restart FROM pagerank_ids) \
             SELECT pagerank_native(s, d, p, {n}, {d:?}, {tol:?}, {max_iter}) AS r FROM work",
            d = o.damping,
            // The aggregate stops below n * tol.
            tol = o.threshold(n) / n.max(1) as f64,
            max_iter = o.max_iter
        ),
        &format!("{base}/native"),
        "pagerank_native_out",
    )
    .await?;
    let stats = ctx
        .sql("SELECT CAST(r['iterations'] AS BIGINT), CAST(r['l1'] AS DOUBLE) FROM pagerank_native_out")
        .await?
        .collect()
        .await?;
    report.iterations = first_i64(&stats).unwrap_or(0) as usize;
    report.l1 = stats
        .first()
        .and_then(|b| {
            b.column(1)
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .filter(|a| !a.is_empty())
                .map(|a| a.value(0))
        })
        .unwrap_or(f64::INFINITY);
    // Struct fields are flattened in their own projection before the join (docs/cluster.md).
    let ranks = ctx
        .sql(
            "WITH x AS (SELECT unnest(r['ranks']) AS e FROM pagerank_native_out), \
                  f AS (SELECT e['node'] AS idx, e['rank'] AS rank FROM x) \
             SELECT i.node, f.rank FROM f JOIN pagerank_ids i ON i.idx = f.idx",
        )
        .await?
        .into_view();
    ctx.deregister_table("pagerank_ranks")?;
    ctx.register_table("pagerank_ranks", ranks)?;
    tracing::info!(
        iterations = report.iterations,
        l1 = report.l1,
        "pagerank ranked in memory"
    );
    Ok(report.l1 < o.threshold(n))
}

/// Iterates as one plan per step, from the newest checkpoint; registers `pagerank_ranks`.
/// True when converged.
async fn iterate(
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
    o: &PageRankOptions,
    base: &str,
    n: i64,
    report: &mut PageRankReport,
) -> Result<bool> {
    let every = o.checkpoint_every.max(1);
    // Resume from the newest checkpoint, if any: `iter-<i>.done` lists the files of a
    // checkpoint written in full.
    let mut last = 0usize;
    for (path, _) in pulse_lake::catalog::list_files(lake, base).await? {
        if let Some(i) = path
            .filename()
            .and_then(|f| f.strip_prefix("iter-"))
            .and_then(|f| f.strip_suffix(".done"))
            .and_then(|i| i.parse::<usize>().ok())
        {
            last = last.max(i);
        }
    }
    report.resumed_from = (last > 0).then_some(last);
    let done = |i: usize| lake.path(&format!("{base}/iter-{i}.done"));
    let register_ranks = async |i: usize| {
        let bytes = lake
            .store()
            .get(&done(i))
            .await
            .map_err(pulse_lake::Error::from)?
            .bytes()
            .await
            .map_err(pulse_lake::Error::from)?;
        let files: Vec<String> = String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect();
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("node", DataType::Utf8, true),
            arrow::datatypes::Field::new("rank", DataType::Float64, true),
        ]));
        ctx.deregister_table("pagerank_ranks")?;
        pulse_lake::catalog::register_files(ctx, lake, "pagerank_ranks", &files, schema)?;
        Ok::<_, Error>(())
    };
    if last == 0 {
        materialize(
            lake,
            ctx,
            "SELECT node, start AS rank FROM pagerank_nodes",
            &format!("{base}/iter-0"),
            "pagerank_ranks",
        )
        .await?;
    } else {
        register_ranks(last).await?;
    }
    let step = format!(
        "WITH dm AS (SELECT COALESCE(sum(r.rank), 0.0) AS m FROM pagerank_ranks r \
                     JOIN pagerank_nodes n ON n.node = r.node WHERE n.dangling), \
              inc AS (SELECT e.dst AS node, sum(r.rank * e.p) AS incoming \
                      FROM pagerank_edges e JOIN pagerank_ranks r ON r.node = e.src GROUP BY e.dst) \
         SELECT n.node, pagerank_update(COALESCE(inc.incoming, 0.0), n.restart, dm.m, {d:?}) AS rank, \
                prev.rank AS prev \
         FROM pagerank_nodes n CROSS JOIN dm LEFT JOIN inc ON inc.node = n.node \
         LEFT JOIN pagerank_ranks prev ON prev.node = n.node",
        d = o.damping
    );
    let mut i = last;
    let mut converged = false;
    while i < o.max_iter {
        i += 1;
        // Each step is computed once and written (its result carries the previous rank, for
        // the L1 change): as a checkpoint, or to one of two scratch directories in between, so a
        // plan never nests earlier steps and never reads the directory it writes. A scratch
        // directory is emptied first: what it held (two steps ago) is read no more.
        let span = tracing::info_span!("iteration", iteration = i);
        let l1 = tracing::Instrument::instrument(
            async {
                let next = ctx.sql(&step).await?;
                let checkpoint = i.is_multiple_of(every) || i == o.max_iter;
                let rel = if checkpoint {
                    format!("{base}/iter-{i}")
                } else {
                    let rel = format!("{base}/work-{}", i % 2);
                    crate::runner::delete_dir(lake, &rel).await?;
                    rel
                };
                let written =
                    crate::runner::materialize(lake, ctx, "pagerank_next", &rel, next).await?;
                if checkpoint {
                    lake.store()
                        .put(&done(i), written.files.join("\n").into_bytes().into())
                        .await
                        .map_err(pulse_lake::Error::from)?;
                }
                let l1 = first_f64(
                    &ctx.sql("SELECT sum(abs(rank - prev)) FROM pagerank_next")
                        .await?
                        .collect()
                        .await?,
                )
                .unwrap_or(0.0);
                let ranks = ctx.table("pagerank_next").await?.into_view();
                ctx.deregister_table("pagerank_ranks")?;
                ctx.register_table("pagerank_ranks", ranks)?;
                tracing::info!(l1, "pagerank iteration");
                Ok::<f64, Error>(l1)
            },
            span,
        )
        .await?;
        report.l1 = l1;
        report.iterations = i;
        converged = l1 < o.threshold(n);
        if converged {
            break;
        }
    }
    Ok(converged)
}
