//! Embedded reads of a lake table through delta-rs's DataFusion table provider.
//!
//! [`DeltaRead`] is what an embedded session registers for each lake table: every scan brings
//! the process's copy of the table up to date (only the commits made since, see
//! [`crate::delta::Tables`]) and hands the snapshot to delta-rs's scan, which picks the files
//! from the log itself, pruning by partition values (`dt`, `hour`) and by the statistics each
//! add records. So a long-lived session (the prompt, the web app) sees every commit, and one
//! scan reads one version.
//!
//! Sessions whose plans travel to a cluster read the same tables as listing tables over the
//! lake's view ([`crate::view::LakeStore`]) instead: Ballista's executors cannot carry
//! delta-rs's scan (see docs/cluster.md). Both read the files of the newest version.

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DFSchema;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::filter::FilterExecBuilder;
use deltalake_core::delta_datafusion::{DeltaScanConfig, DeltaScanNext};

use crate::delta::{LakeTable, Shape};

/// A lake table read through delta-rs's scan at its newest version on every scan.
#[derive(Debug)]
pub struct DeltaRead {
    table: LakeTable,
    /// File columns, then partition columns.
    schema: SchemaRef,
    partitions: Vec<String>,
}

impl DeltaRead {
    /// The table `table` of the given shape.
    pub fn new(table: LakeTable, shape: &Shape) -> DeltaRead {
        DeltaRead {
            table,
            schema: Arc::new(shape.table_schema()),
            partitions: shape.partitions.iter().map(|(n, _)| n.clone()).collect(),
        }
    }

    /// The table's directory, relative to the lake root.
    pub fn rel(&self) -> &str {
        self.table.rel()
    }

    /// True for a filter on partition columns alone, which the scan applies in full (see
    /// [`TableProvider::scan`] below).
    fn on_partitions(&self, filter: &Expr) -> bool {
        let columns = filter.column_refs();
        !columns.is_empty()
            && columns.iter().all(|c| self.partitions.contains(&c.name))
            && !filter.is_volatile()
    }
}

/// A lake error as the store error a listing table's scan meets for it (see
/// [`crate::view`]), so retries tell a network failure from a bad lake the same way.
fn external(e: crate::Error) -> DataFusionError {
    DataFusionError::ObjectStore(Box::new(crate::view::to_store_error(e)))
}

#[async_trait]
impl TableProvider for DeltaRead {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Filters on `dt` and `hour` choose files, so the scan applies them in full, as a
        // listing table does: a filter above the scan would tell DataFusion that `dt` is
        // one value, and its aggregations then take a path for partly sorted input that is
        // many times slower. Others only prune files; DataFusion applies them to the rows.
        Ok(filters
            .iter()
            .map(|f| match self.on_partitions(f) {
                true => TableProviderFilterPushDown::Exact,
                false => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let Some(table) = self.table.load().await.map_err(external)? else {
            // No log: a table nothing was written to yet, or one from an older lake.
            self.table.refuse_unmigrated().await.map_err(external)?;
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        };
        let snapshot = table
            .snapshot()
            .map_err(|e| external(self.table.error(e)))?
            .snapshot()
            .clone();
        // Pulse's own column types (plain strings for `dt`, not delta-rs's dictionaries), so
        // embedded and cluster plans, and the jobs' outputs, have one schema.
        let mut config = DeltaScanConfig::new_from_session(state)
            .with_wrap_partition_values(false)
            .with_schema(self.schema.clone());
        // Strings are read as the table declares them (views for job outputs, see
        // `register_agg`), not cast after reading.
        config.schema_force_view_types = self
            .schema
            .fields()
            .iter()
            .any(|f| f.data_type() == &DataType::Utf8View);
        let scan = DeltaScanNext::new(snapshot, config)?;
        // Partition filters delta-rs cannot apply in full (a function of `dt`, say) are
        // applied here, on every column, before the projection.
        let filter_refs: Vec<&Expr> = filters.iter().collect();
        let delta_applies = scan.supports_filters_pushdown(&filter_refs)?;
        let residual: Vec<Expr> = filters
            .iter()
            .zip(&delta_applies)
            .filter(|(f, how)| self.on_partitions(f) && **how != TableProviderFilterPushDown::Exact)
            .map(|(f, _)| f.clone())
            .collect();
        let Some(residual) = conjunction(residual) else {
            return scan.scan(state, projection, filters, limit).await;
        };
        let all = scan.scan(state, None, filters, None).await?;
        let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
        let predicate = state.create_physical_expr(residual, &df_schema)?;
        let filtered = FilterExecBuilder::new(predicate, all)
            .apply_projection(projection.cloned())?
            .build()?;
        Ok(Arc::new(filtered))
    }
}
