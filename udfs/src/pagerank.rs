//! `pagerank_update(incoming, restart, dangling_mass, damping)`: one PageRank step for a
//! node, `damping * (incoming + dangling_mass * restart) + (1 - damping) * restart`, where
//! `incoming` is the rank flowing in over edges, `restart` the node's share of the restart
//! (teleport) distribution and `dangling_mass` the rank of nodes without out-edges, which is
//! spread like the restart (NetworkX's definition). A UDF so the iteration's plan carries it to
//! a cluster unchanged.

use std::sync::Arc;

use arrow::array::{AsArray, Float64Array};
use arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The step for one node.
pub fn update(incoming: f64, restart: f64, dangling_mass: f64, damping: f64) -> f64 {
    damping * (incoming + dangling_mass * restart) + (1.0 - damping) * restart
}

/// The `pagerank_update` function.
pub fn udf() -> ScalarUDF {
    ScalarUDF::from(PageRankUpdate {
        signature: Signature::uniform(4, vec![DataType::Float64], Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PageRankUpdate {
    signature: Signature,
}

impl ScalarUDFImpl for PageRankUpdate {
    fn name(&self) -> &str {
        "pagerank_update"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let cols = args
            .args
            .iter()
            .map(|a| a.to_array(n))
            .collect::<Result<Vec<_>>>()?;
        let [inc, restart, dangling, damping] = cols.as_slice() else {
            return exec_err!("pagerank_update takes (incoming, restart, dangling_mass, damping)");
        };
        let f = |a: &Arc<dyn arrow::array::Array>| a.as_primitive::<Float64Type>().clone();
        let (inc, restart, dangling, damping) = (f(inc), f(restart), f(dangling), f(damping));
        let out: Float64Array = (0..n)
            .map(|i| {
                Some(update(
                    inc.value(i),
                    restart.value(i),
                    dangling.value(i),
                    damping.value(i),
                ))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_step_by_hand() {
        // 0.85 * (0.2 + 0.1 * 0.25) + 0.15 * 0.25 = 0.22875
        assert!((super::update(0.2, 0.25, 0.1, 0.85) - 0.22875).abs() < 1e-15);
    }
}
