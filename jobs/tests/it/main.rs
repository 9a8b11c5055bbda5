//! Integration tests of the windowed jobs: sqllogictest files with hand-checked rows, a
//! brute-force property test of the sliding windows, and end-to-end runs over a lake
//! (the viewer pipeline on a generated month among them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod betweenness;
mod e2e;
mod pagerank;
mod property;
mod registry;
mod slt;
mod viewers;

use datafusion::prelude::SessionContext;
use pulse_jobs::runner::RunReport;
use pulse_lake::Lake;

/// A session over a temp lake with Pulse's functions.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub lake: Lake,
    pub ctx: SessionContext,
}

impl Env {
    pub async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(
            dir.path().join("lake").to_str().unwrap(),
            &Default::default(),
        )
        .unwrap();
        let ctx = pulse_lake::catalog::session(&lake).await.unwrap();
        Env { dir, lake, ctx }
    }

    /// Runs `job` over [from, to) with `k=v` overrides.
    pub async fn run(
        &self,
        job: &str,
        from: &str,
        to: &str,
        set: &[(&str, &str)],
    ) -> pulse_jobs::Result<RunReport> {
        let registry = pulse_jobs::registry::Registry::builtin()?;
        let start = pulse_jobs::params::parse_time(from).expect("time");
        let end = pulse_jobs::params::parse_time(to).expect("time");
        let set: Vec<(String, String)> = set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let o = pulse_jobs::RunOptions::default();
        pulse_jobs::run_with(&self.lake, &self.ctx, &registry, job, start, end, &set, &o).await
    }

    /// Rows of a query as strings.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let batches = self.ctx.sql(sql).await.unwrap().collect().await.unwrap();
        slt::format_rows(&batches)
    }
}
