//! Every table a job writes exists from the start: a new lake (or one where a job never ran)
//! answers `SELECT * FROM category_hourly` with no rows, not "table not found". The shapes
//! come from the jobs themselves: each SQL job's steps are planned (not run) with the
//! parameters the nightly DAG gives it (its defaults, the DAG's own and `[schedule.set]`, which name outputs
//! such as `hashtag_top_1h_10m`); the jobs written in Rust declare a zero-row query of what they write.
//! A test compares every shape with the schema of the files a real run writes.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use pulse_lake::Lake;

use crate::Result;
use crate::params::Value;
use crate::runner::{self, StepKind};

/// A table a job writes.
#[derive(Debug, Clone)]
pub struct Output {
    /// The table.
    pub table: String,
    /// The job that writes it (`pulse run <job>`).
    pub job: &'static str,
    /// Its rows' schema, `dt` among the columns.
    pub schema: SchemaRef,
}

/// The outputs of the jobs written in Rust: (job, tables, a SELECT of zero rows in their
/// shape).
const NATIVE: &[(&str, &[&str], &str)] = &[
    (
        "pagerank",
        &["pagerank", "pagerank_file"],
        "SELECT 'x' AS dt, 'x' AS node, CAST(0 AS DOUBLE) AS rank WHERE false",
    ),
    (
        "betweenness",
        &["betweenness", "betweenness_file"],
        "SELECT 'x' AS dt, 'x' AS node, CAST(0 AS DOUBLE) AS score, true AS source WHERE false",
    ),
    (
        "verify",
        &["verification"],
        "SELECT 'x' AS dt, CAST(0 AS BIGINT) AS sampled, CAST(0 AS BIGINT) AS checked_rows, \
         CAST(0 AS BIGINT) AS mismatches, 'x' AS status, CAST(NULL AS VARCHAR) AS first_mismatch \
         WHERE false",
    ),
];

/// Job parameters over the defaults, per job (`NAME=VALUE` pairs, as `[schedule.set]`).
pub type Overrides = std::collections::BTreeMap<String, Vec<(String, String)>>;

/// Every job output under the default parameters with `set` over them, with the schema of
/// its rows (`dt` among them), planned in a scratch session over the tables of `ctx`.
pub async fn shapes(ctx: &SessionContext, set: &Overrides) -> Result<Vec<Output>> {
    let scratch = SessionContext::new_with_config(pulse_lake::catalog::session_config());
    {
        let state = scratch.state_ref();
        let mut state = state.write();
        pulse_udfs::register_all(&mut *state)?;
    }
    if let Some(schema) = ctx.catalog("datafusion").and_then(|c| c.schema("public")) {
        for name in schema.table_names() {
            if let Some(t) = schema.table(&name).await? {
                scratch.register_table(name.as_str(), t)?;
            }
        }
    }
    let mut out: Vec<Output> = Vec::new();
    // Any whole day will do: nothing is read.
    let start = chrono::DateTime::UNIX_EPOCH;
    for job in crate::jobs::ALL {
        let mut p = runner::params_for(job, start, start + chrono::Duration::days(1));
        for (k, v) in crate::nightly::dag_set(job.name) {
            p.set(k, v)?;
        }
        for (k, v) in set.get(job.name).into_iter().flatten() {
            p.set(k, v)?;
        }
        runner::derive(job, &mut p)?;
        for (name, _) in job.data_params {
            p.insert(name, Value::Int(0));
        }
        let suffix = (job.suffix)(&p);
        for (table, empty_sql) in job.previous {
            let table = table.replace("{suffix}", &suffix);
            if !scratch.table_exist(table.as_str())? {
                scratch
                    .register_table(table.as_str(), scratch.sql(empty_sql).await?.into_view())?;
            }
        }
        for step in job.steps {
            let name = step.name.replace("{suffix}", &suffix);
            let sql = p.render(&step.sql.replace("{suffix}", &suffix))?;
            let df = scratch.sql(&sql).await.map_err(|e| crate::Error::Step {
                step: name.clone(),
                source: e,
            })?;
            if step.kind == StepKind::Output {
                out.push(Output {
                    table: name.clone(),
                    job: job.name,
                    schema: Arc::new(df.schema().as_arrow().clone()),
                });
            }
            scratch.deregister_table(name.as_str())?;
            scratch.register_table(name.as_str(), df.into_view())?;
        }
    }
    for (job, tables, sql) in NATIVE {
        let schema = Arc::new(scratch.sql(sql).await?.schema().as_arrow().clone());
        out.extend(tables.iter().map(|t| Output {
            table: t.to_string(),
            job,
            schema: schema.clone(),
        }));
    }
    Ok(out)
}

/// Registers every job output that `ctx` does not have yet as an empty table over its
/// (still empty) lake directory (see [`register`]); returns every output.
pub async fn register_empty(
    ctx: &SessionContext,
    lake: &Lake,
    set: &Overrides,
) -> Result<Vec<Output>> {
    let outputs = shapes(ctx, set).await?;
    register(ctx, lake, &outputs)?;
    Ok(outputs)
}

/// Registers each of `outputs` that `ctx` does not have yet, typed as a table of written
/// files reads: the files' columns with strings as `Utf8View`, then `dt`. Once a job writes,
/// the same table shows its rows.
pub fn register(ctx: &SessionContext, lake: &Lake, outputs: &[Output]) -> Result<()> {
    for Output { table, schema, .. } in outputs {
        if ctx.table_exist(table.as_str())? {
            continue;
        }
        let files = Schema::new(
            schema
                .fields()
                .iter()
                .filter(|f| f.name() != "dt")
                .map(|f| match f.data_type() {
                    DataType::Utf8 | DataType::LargeUtf8 => {
                        Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View))
                    }
                    _ => f.clone(),
                })
                .collect::<Vec<Arc<Field>>>(),
        );
        pulse_lake::catalog::register_listing(
            ctx,
            lake,
            table,
            &format!("agg/{table}"),
            Arc::new(files),
            vec![("dt".into(), DataType::Utf8)],
        )?;
    }
    Ok(())
}
