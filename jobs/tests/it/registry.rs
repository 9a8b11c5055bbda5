//! The registry: every built-in job's manifest parses, its SQL plans against a new lake with
//! the columns it declares, and the nightly DAG comes out in dependency order.

use pulse_jobs::registry::Registry;

use crate::Env;

#[tokio::test]
async fn every_built_in_sql_job_plans_to_its_declared_outputs() {
    let env = Env::new().await;
    let r = Registry::builtin().unwrap();
    let mut checked = Vec::new();
    for job in r.jobs() {
        if let Some(sql) = job.sql() {
            r.check(sql, &env.ctx)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", sql.origin));
            checked.push(job.manifest().name.clone());
        }
    }
    assert_eq!(checked.len(), 10, "{checked:?}");
}
