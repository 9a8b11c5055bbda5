//! Integration tests of the windowed jobs: sqllogictest files with hand-checked rows, a
//! brute-force property test of the sliding windows, and end-to-end runs over a lake
//! (the viewer pipeline on a generated month among them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod betweenness;
mod e2e;
mod pagerank;
mod property;
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
        let def = pulse_jobs::jobs::by_name(job).expect("known job");
        let start = pulse_jobs::params::parse_time(from).expect("time");
        let end = pulse_jobs::params::parse_time(to).expect("time");
        let mut p = pulse_jobs::runner::params_for(def, start, end);
        for (k, v) in set {
            p.set(k, v)?;
        }
        pulse_jobs::runner::run(&self.lake, &self.ctx, def, p).await
    }

    /// Rows of a query as strings.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let batches = self.ctx.sql(sql).await.unwrap().collect().await.unwrap();
        slt::format_rows(&batches)
    }
}
