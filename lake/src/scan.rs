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
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::filter::FilterExecBuilder;
use datafusion::physical_plan::projection::ProjectionExec;
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
        // Columns of the table's schema that its log does not have yet (a column added
        // since its last commit) read as NULL, as in a listing table; the rest are read
        // with Pulse's own types (plain strings for `dt`, not delta-rs's dictionaries).
        let in_log = snapshot.arrow_schema();
        let full = &self.schema;
        let present: Vec<usize> = (0..full.fields().len())
            .filter(|&i| in_log.field_with_name(full.field(i).name()).is_ok())
            .collect();
        let position = |i: usize| present.iter().position(|&p| p == i);
        let mut config = DeltaScanConfig::new_from_session(state)
            .with_wrap_partition_values(false)
            .with_schema(Arc::new(full.project(&present)?));
        // Strings are read as the table declares them (views for job outputs, see
        // `register_agg`), not cast after reading.
        config.schema_force_view_types = full
            .fields()
            .iter()
            .any(|f| f.data_type() == &DataType::Utf8View);
        let scan = DeltaScanNext::new(snapshot, config)?;

        // Filters on partition columns are applied in full (see `supports_filters_pushdown`):
        // by delta-rs where it prunes them exactly, here otherwise.
        let readable: Vec<Expr> = filters
            .iter()
            .filter(|f| {
                f.column_refs()
                    .iter()
                    .all(|c| full.index_of(&c.name).is_ok_and(|i| position(i).is_some()))
            })
            .cloned()
            .collect();
        let readable_refs: Vec<&Expr> = readable.iter().collect();
        let delta_applies = scan.supports_filters_pushdown(&readable_refs)?;
        let residual: Vec<Expr> = filters
            .iter()
            .filter(|f| self.on_partitions(f))
            .filter(|f| {
                let exact = readable.iter().zip(&delta_applies).any(|(r, how)| {
                    r == *f && *how == TableProviderFilterPushDown::Exact && prunes_exactly(r)
                });
                !exact
            })
            .cloned()
            .collect();
        let residual = conjunction(residual);

        let requested: Vec<usize> = projection
            .cloned()
            .unwrap_or_else(|| (0..full.fields().len()).collect());
        let mut needed = requested.clone();
        if let Some(r) = &residual {
            for c in r.column_refs() {
                needed.push(full.index_of(&c.name)?);
            }
        }
        needed.sort_unstable();
        needed.dedup();
        let scanned: Vec<usize> = needed.iter().filter_map(|&i| position(i)).collect();
        // A limit below a filter would cut rows before they are filtered.
        let limit = if residual.is_none() { limit } else { None };
        let plan = scan.scan(state, Some(&scanned), &readable, limit).await?;
        if residual.is_none() && needed == requested && scanned.len() == requested.len() {
            return Ok(plan);
        }
        let scanned_schema = plan.schema();
        let plan: Arc<dyn ExecutionPlan> = match residual {
            Some(r) => {
                let df_schema = DFSchema::try_from(scanned_schema.as_ref().clone())?;
                let predicate = state.create_physical_expr(r, &df_schema)?;
                Arc::new(FilterExecBuilder::new(predicate, plan).build()?)
            }
            None => plan,
        };
        let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = Vec::new();
        for &i in &requested {
            let field = full.field(i);
            let expr: Arc<dyn PhysicalExpr> = match scanned_schema.index_of(field.name()) {
                Ok(at) => Arc::new(Column::new(field.name(), at)),
                Err(_) => Arc::new(Literal::new(ScalarValue::try_from(field.data_type())?)),
            };
            exprs.push((expr, field.name().clone()));
        }
        Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
    }
}

/// True for the filters delta-rs's pruning decides exactly from partition values: a column
/// compared with a literal, `IN` a list of them, `BETWEEN` two, `IS [NOT] NULL`, and `AND` and
/// `OR` of those. delta-rs may call others exact too (say `hour + hour = 0`) yet keep every
/// file for them, so those are applied above its scan.
fn prunes_exactly(e: &Expr) -> bool {
    use datafusion::logical_expr::{Between, BinaryExpr, Operator};
    let column = |e: &Expr| matches!(e, Expr::Column(_));
    let literal = |e: &Expr| matches!(e, Expr::Literal(..));
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And | Operator::Or => prunes_exactly(left) && prunes_exactly(right),
            Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq => {
                (column(left) && literal(right)) || (literal(left) && column(right))
            }
            _ => false,
        },
        Expr::InList(l) => column(&l.expr) && l.list.iter().all(literal),
        Expr::Between(Between {
            expr, low, high, ..
        }) => column(expr) && literal(low) && literal(high),
        Expr::IsNull(c) | Expr::IsNotNull(c) => column(c),
        _ => false,
    }
}
