//! The jobs written in Rust: compaction, vacuum, verification of viewer-day, PageRank and
//! betweenness. Each implements [`Job`] with a manifest (`native/<job>.toml`) in the same
//! format as SQL jobs, so the registry, the nightly DAG and `--set` treat them alike.

use std::sync::Arc;

use crate::manifest::Manifest;
use crate::params::Params;
use crate::registry::{Context, Job};
use crate::runner::RunReport;
use crate::{Result, betweenness, compact, edges, pagerank, verify};

/// Every native job.
pub fn all() -> Result<Vec<Arc<dyn Job>>> {
    let m = |text: &str, file: &str| Manifest::parse(text, &format!("jobs/src/native/{file}"));
    Ok(vec![
        Arc::new(Compact(m(
            include_str!("native/compact.toml"),
            "compact.toml",
        )?)),
        Arc::new(Vacuum(m(
            include_str!("native/vacuum.toml"),
            "vacuum.toml",
        )?)),
        Arc::new(Verify(m(
            include_str!("native/verify.toml"),
            "verify.toml",
        )?)),
        Arc::new(PageRank(m(
            include_str!("native/pagerank.toml"),
            "pagerank.toml",
        )?)),
        Arc::new(Betweenness(m(
            include_str!("native/betweenness.toml"),
            "betweenness.toml",
        )?)),
    ])
}

/// The day a one-day job's parameters are for.
fn day(p: &Params) -> Result<chrono::NaiveDate> {
    Ok(p.time("start")?.date_naive())
}

/// An optional integer parameter as a count.
fn count(p: &Params, name: &str) -> Result<Option<usize>> {
    Ok(match p.get(name) {
        Some(_) => Some(p.int(name)?.max(0) as usize),
        None => None,
    })
}

/// `compact`: see [`compact::compact_day`].
#[derive(Debug)]
struct Compact(Manifest);

#[async_trait::async_trait]
impl Job for Compact {
    fn manifest(&self) -> &Manifest {
        &self.0
    }

    async fn run(&self, cx: &Context<'_>, p: Params) -> Result<RunReport> {
        let target = p.int("target_mib")?.max(1) as u64 * 1024 * 1024;
        let mut report = RunReport::default();
        for (table, c) in compact::compact_day(cx.lake, day(&p)?, target).await? {
            report.rows_in += c.rows;
            report
                .outputs
                .push((table.name().to_string(), c.rows as usize, 1));
        }
        Ok(report)
    }
}

/// `vacuum`: see [`compact::vacuum`]. Works on whole tables: the interval only names the run.
#[derive(Debug)]
struct Vacuum(Manifest);

#[async_trait::async_trait]
impl Job for Vacuum {
    fn manifest(&self) -> &Manifest {
        &self.0
    }

    async fn run(&self, cx: &Context<'_>, _: Params) -> Result<RunReport> {
        compact::vacuum(cx.lake, cx.options.retention).await?;
        Ok(RunReport::default())
    }
}

/// `verify`: see [`verify::run`].
#[derive(Debug)]
struct Verify(Manifest);

#[async_trait::async_trait]
impl Job for Verify {
    fn manifest(&self) -> &Manifest {
        &self.0
    }

    async fn run(&self, cx: &Context<'_>, p: Params) -> Result<RunReport> {
        let o = verify::VerifyOptions {
            date: day(&p)?,
            k: p.int("k")?.max(0) as usize,
            sample: p.duration("sample")?,
        };
        let r = verify::run(cx.lake, cx.ctx, &o).await?;
        Ok(RunReport {
            rows_in: r.rows_in,
            outputs: vec![("verification".into(), 1, 1)],
            ..Default::default()
        })
    }
}

/// The edges a graph job reads: an edge file if given, else the day's `graph_edges`.
fn edges_of(p: &Params) -> Result<edges::Edges> {
    Ok(match p.text("edges") {
        Some(f) => edges::Edges::File(f.to_string()),
        None => edges::Edges::Graph(day(p)?.to_string()),
    })
}

/// `pagerank`: see [`pagerank::run`].
#[derive(Debug)]
struct PageRank(Manifest);

#[async_trait::async_trait]
impl Job for PageRank {
    fn manifest(&self) -> &Manifest {
        &self.0
    }

    async fn run(&self, cx: &Context<'_>, p: Params) -> Result<RunReport> {
        let o = pagerank::PageRankOptions {
            edges: edges_of(&p)?,
            date: day(&p)?.to_string(),
            damping: p.float("damping")?,
            tol: p.float("tol")?,
            max_iter: p.int("max_iter")?.max(1) as usize,
            checkpoint_every: p.int("checkpoint_every")?.max(1) as usize,
            weighted: p.bool("weighted")?,
            directed: p.bool("directed")?,
            personalize: p
                .text("personalize")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            native_edges: p.int("native_edges")?.max(0) as u64,
            distance: p.bool("distance")?,
        };
        let (report, pr) = pagerank::run(cx.lake, cx.ctx, &o).await?;
        tracing::info!(nodes = pr.nodes, iterations = pr.iterations, l1 = pr.l1, resumed_from = ?pr.resumed_from, "pagerank converged");
        Ok(report)
    }
}

/// `betweenness`: see [`betweenness::run`].
#[derive(Debug)]
struct Betweenness(Manifest);

#[async_trait::async_trait]
impl Job for Betweenness {
    fn manifest(&self) -> &Manifest {
        &self.0
    }

    async fn run(&self, cx: &Context<'_>, p: Params) -> Result<RunReport> {
        let o = betweenness::BetweennessOptions {
            edges: edges_of(&p)?,
            date: day(&p)?.to_string(),
            directed: p.bool("directed")?,
            normalized: p.bool("normalized")?,
            samples: count(&p, "samples")?,
            seed: p.int("seed")?.max(0) as u64,
            parts: count(&p, "parts")?,
        };
        let (report, b) = betweenness::run(cx.lake, cx.ctx, &o).await?;
        tracing::info!(
            nodes = b.nodes,
            edges = b.edges,
            sources = b.sources,
            parts = b.parts,
            "betweenness done"
        );
        Ok(report)
    }
}
