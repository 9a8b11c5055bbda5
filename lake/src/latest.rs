//! `latest_dt('table')`: the newest day of a job output as this session knows it, given to the
//! planner as a constant. `WHERE dt = (SELECT max(dt) FROM t)` opens every day's file of `t`
//! to find that day and then reads them all again (a subquery cannot prune partitions), while
//! `WHERE dt = latest_dt('t')` reads the one day. The days are those
//! [`register_agg`](crate::catalog::register_agg) found when it registered each table, so a
//! long-lived session sees a newer day only once the table is registered again.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

use arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// The function's name in SQL.
pub const NAME: &str = "latest_dt";

/// `latest_dt(table)`: `'YYYY-MM-DD'`, or NULL for a table with no day yet (or no such job
/// output).
#[derive(Debug)]
pub struct LatestDt {
    days: Arc<RwLock<BTreeMap<String, String>>>,
    signature: Signature,
}

impl PartialEq for LatestDt {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.days, &other.days)
    }
}

impl Eq for LatestDt {}

impl Hash for LatestDt {
    fn hash<H: Hasher>(&self, state: &mut H) {
        NAME.hash(state);
    }
}

impl LatestDt {
    fn new() -> Self {
        Self {
            days: Arc::default(),
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Stable),
        }
    }

    fn day(&self, table: &str) -> Option<String> {
        match self.days.read() {
            Ok(d) => d.get(table).cloned(),
            Err(poisoned) => poisoned.into_inner().get(table).cloned(),
        }
    }

    fn set(&self, table: &str, day: Option<String>) {
        let mut d = match self.days.write() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        match day {
            Some(day) => d.insert(table.to_string(), day),
            None => d.remove(table),
        };
    }
}

/// Gives `ctx` a `latest_dt` that knows no table yet, unless it has one.
pub fn install(ctx: &SessionContext) {
    if !ours(ctx, |_| ()) {
        ctx.register_udf(ScalarUDF::new_from_impl(LatestDt::new()));
    }
}

/// Records `day` as `table`'s newest in `ctx`'s `latest_dt` (installed first when missing).
pub fn record(ctx: &SessionContext, table: &str, day: Option<String>) {
    install(ctx);
    ours(ctx, |f| f.set(table, day));
}

/// Runs `f` on `ctx`'s `latest_dt`; false when the session has none of ours.
fn ours(ctx: &SessionContext, f: impl FnOnce(&LatestDt)) -> bool {
    let udf = ctx.udf(NAME).ok();
    match udf
        .as_ref()
        .and_then(|u| (u.inner().as_ref() as &dyn std::any::Any).downcast_ref::<LatestDt>())
    {
        Some(l) => {
            f(l);
            true
        }
        None => false,
    }
}

impl ScalarUDFImpl for LatestDt {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        match args.as_slice() {
            [Expr::Literal(ScalarValue::Utf8(table), _)] => {
                Ok(ExprSimplifyResult::Simplified(Expr::Literal(
                    ScalarValue::Utf8(table.as_deref().and_then(|t| self.day(t))),
                    None,
                )))
            }
            _ => Ok(ExprSimplifyResult::Original(args)),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.as_slice() {
            [ColumnarValue::Scalar(ScalarValue::Utf8(table))] => Ok(ColumnarValue::Scalar(
                ScalarValue::Utf8(table.as_deref().and_then(|t| self.day(t))),
            )),
            _ => exec_err!("{NAME} takes a table's name as a constant string"),
        }
    }
}
