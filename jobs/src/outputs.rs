//! Every table a job writes exists from the start: a new lake (or one where a job never ran)
//! answers `SELECT * FROM category_hourly` with no rows, not "table not found". The shapes
//! are the columns each job's manifest declares, named with the parameters the nightly DAG
//! gives it (its own and `[schedule.set]`, which name outputs such as `hashtag_top_1h_10m`).
//! `pulse job check` compares them with what the SQL plans; a test compares them with the
//! schema of the files a real run writes.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use pulse_lake::Lake;

use crate::Result;
use crate::registry::Registry;

/// A table a job writes.
#[derive(Debug, Clone)]
pub struct Output {
    /// The table.
    pub table: String,
    /// The job that writes it (`pulse run <job>`).
    pub job: String,
    /// Its rows' schema, `dt` among the columns.
    pub schema: SchemaRef,
}

/// Job parameters over the defaults, per job (`NAME=VALUE` pairs, as `[schedule.set]`).
pub type Overrides = std::collections::BTreeMap<String, Vec<(String, String)>>;

/// Registers every job output that `ctx` does not have yet as an empty table over its
/// (still empty) lake directory (see [`register`]); returns every output.
pub fn register_empty(
    ctx: &SessionContext,
    lake: &Lake,
    registry: &Registry,
    set: &Overrides,
) -> Result<Vec<Output>> {
    let outputs = registry.outputs(set)?;
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
