//! `pagerank_native(s, d, p, n, damping, tol, max_iter)`: the whole PageRank power iteration
//! in one aggregate, for graphs that fit in memory. Rows with `d` set are edges `s -> d` with
//! transition probability `p` (each source's `p` summing to 1); rows with `d` NULL give node
//! `s` its restart share `p`. Node ids are dense, `0..n`. It builds a compressed sparse row
//! layout of the in-edges once and iterates over it on every core, with the definition of
//! `pagerank_update` (NetworkX's: dangling rank spread like the restart; stop when the L1
//! change is below `n * tol`). Being an aggregate, it runs inside the job's one plan, on an
//! executor as well as embedded. Returns `{iterations, l1, ranks: [{node, rank}]}`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, ListArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

/// The result of a power iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranks {
    /// Iterations done.
    pub iterations: usize,
    /// The L1 change of the last iteration.
    pub l1: f64,
    /// The ranks, by node id.
    pub rank: Vec<f64>,
}

/// PageRank of nodes `0..n` over `edges` (source, target, probability), with `restart`
/// shares per node: at most `max_iter` iterations from the uniform start, stopping once the
/// L1 change is below `n * tol`. Each node's in-edges are added in the order given and the
/// L1 change in node order, so the result does not depend on the core count.
pub fn power_iteration(
    n: usize,
    edges: &[(u32, u32, f64)],
    restart: &[f64],
    damping: f64,
    tol: f64,
    max_iter: usize,
) -> Ranks {
    if n == 0 {
        return Ranks {
            iterations: 0,
            l1: 0.0,
            rank: Vec::new(),
        };
    }
    // In-edges by target.
    let mut at = vec![0usize; n + 1];
    let mut dangling = vec![true; n];
    for &(s, d, _) in edges {
        at[d as usize + 1] += 1;
        dangling[s as usize] = false;
    }
    for v in 0..n {
        at[v + 1] += at[v];
    }
    let mut fill = at.clone();
    let mut from = vec![0u32; edges.len()];
    let mut prob = vec![0.0f64; edges.len()];
    for &(s, d, p) in edges {
        let k = fill[d as usize];
        from[k] = s;
        prob[k] = p;
        fill[d as usize] += 1;
    }
    let dangling: Vec<u32> = (0..n as u32).filter(|v| dangling[*v as usize]).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .clamp(1, 16);
    let chunk = n.div_ceil(threads).max(1024);
    let mut x = vec![1.0 / n as f64; n];
    let mut next = vec![0.0f64; n];
    let mut diff = vec![0.0f64; n];
    let (mut iterations, mut l1) = (0, f64::INFINITY);
    while iterations < max_iter {
        iterations += 1;
        let mass: f64 = dangling.iter().map(|v| x[*v as usize]).sum();
        let xs = &x;
        let (at, from, prob) = (&at, &from, &prob);
        let step = |start: usize, out: &mut [f64], diff: &mut [f64]| {
            for (i, (slot, change)) in out.iter_mut().zip(diff.iter_mut()).enumerate() {
                let v = start + i;
                let mut incoming = 0.0;
                for k in at[v]..at[v + 1] {
                    incoming += xs[from[k] as usize] * prob[k];
                }
                let r = restart[v];
                let y = damping * (incoming + mass * r) + (1.0 - damping) * r;
                *change = (y - xs[v]).abs();
                *slot = y;
            }
        };
        std::thread::scope(|scope| {
            for (c, (out, diff)) in next
                .chunks_mut(chunk)
                .zip(diff.chunks_mut(chunk))
                .enumerate()
            {
                scope.spawn(move || step(c * chunk, out, diff));
            }
        });
        // Summed in node order, so the stopping test is the same on any number of cores.
        l1 = diff.iter().sum();
        std::mem::swap(&mut x, &mut next);
        if l1 < n as f64 * tol {
            break;
        }
    }
    Ranks {
        iterations,
        l1,
        rank: x,
    }
}

/// The `pagerank_native` aggregate.
pub fn udaf() -> AggregateUDF {
    AggregateUDF::from(PageRankNative {
        signature: Signature::exact(
            vec![
                DataType::Int64,
                DataType::Int64,
                DataType::Float64,
                DataType::Int64,
                DataType::Float64,
                DataType::Float64,
                DataType::Int64,
            ],
            Volatility::Immutable,
        ),
    })
}

fn entry_fields() -> Fields {
    Fields::from(vec![
        Field::new("node", DataType::Int64, false),
        Field::new("rank", DataType::Float64, false),
    ])
}

fn ranks_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(entry_fields()),
        true,
    )))
}

fn output_fields() -> Fields {
    Fields::from(vec![
        Field::new("iterations", DataType::Int64, false),
        Field::new("l1", DataType::Float64, false),
        Field::new("ranks", ranks_type(), false),
    ])
}

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, true)))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PageRankNative {
    signature: Signature,
}

impl AggregateUDFImpl for PageRankNative {
    fn name(&self) -> &str {
        "pagerank_native"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(output_fields()))
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Acc::default()))
    }
    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new("s", list_of(DataType::Int64), true)),
            Arc::new(Field::new("d", list_of(DataType::Int64), true)),
            Arc::new(Field::new("p", list_of(DataType::Float64), true)),
            Arc::new(Field::new("knobs", list_of(DataType::Float64), true)),
        ])
    }
}

/// What a group has seen: the rows, and the constants (n, damping, tol, max_iter).
#[derive(Debug, Default)]
struct Acc {
    s: Vec<i64>,
    d: Vec<Option<i64>>,
    p: Vec<f64>,
    knobs: Option<[f64; 4]>,
}

impl Acc {
    fn add(&mut self, s: &Int64Array, d: &Int64Array, p: &Float64Array) {
        for i in 0..s.len() {
            if s.is_valid(i) && p.is_valid(i) {
                self.s.push(s.value(i));
                self.d.push(d.is_valid(i).then(|| d.value(i)));
                self.p.push(p.value(i));
            }
        }
    }

    fn set_knobs(&mut self, k: [f64; 4]) -> Result<()> {
        if self.knobs.is_some_and(|old| old != k) {
            return exec_err!("pagerank_native: n, damping, tol and max_iter must not vary");
        }
        self.knobs = Some(k);
        Ok(())
    }
}

impl Accumulator for Acc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [s, d, p, n, damping, tol, max_iter] = values else {
            return exec_err!("pagerank_native takes (s, d, p, n, damping, tol, max_iter)");
        };
        self.add(
            s.as_primitive::<Int64Type>(),
            d.as_primitive::<Int64Type>(),
            p.as_primitive::<Float64Type>(),
        );
        let (n, max_iter) = (
            n.as_primitive::<Int64Type>(),
            max_iter.as_primitive::<Int64Type>(),
        );
        let (damping, tol) = (
            damping.as_primitive::<Float64Type>(),
            tol.as_primitive::<Float64Type>(),
        );
        for i in 0..n.len() {
            if n.is_valid(i) && damping.is_valid(i) && tol.is_valid(i) && max_iter.is_valid(i) {
                self.set_knobs([
                    n.value(i) as f64,
                    damping.value(i),
                    tol.value(i),
                    max_iter.value(i) as f64,
                ])?;
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [s, d, p, knobs] = states else {
            return exec_err!("pagerank_native: a state has four columns");
        };
        let (s, d, p, knobs) = (
            s.as_list::<i32>(),
            d.as_list::<i32>(),
            p.as_list::<i32>(),
            knobs.as_list::<i32>(),
        );
        for row in 0..s.len() {
            if s.is_valid(row) && d.is_valid(row) && p.is_valid(row) {
                self.add(
                    s.value(row).as_primitive::<Int64Type>(),
                    d.value(row).as_primitive::<Int64Type>(),
                    p.value(row).as_primitive::<Float64Type>(),
                );
            }
            if knobs.is_valid(row) {
                let k = knobs.value(row);
                let k = k.as_primitive::<Float64Type>();
                if k.len() == 4 {
                    self.set_knobs([k.value(0), k.value(1), k.value(2), k.value(3)])?;
                }
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let ints = |v: Vec<Option<i64>>| {
            ScalarValue::List(Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
                [Some(v)],
            )))
        };
        let floats = |v: Vec<Option<f64>>| {
            ScalarValue::List(Arc::new(
                ListArray::from_iter_primitive::<Float64Type, _, _>([Some(v)]),
            ))
        };
        let s = std::mem::take(&mut self.s).into_iter().map(Some).collect();
        let p = std::mem::take(&mut self.p).into_iter().map(Some).collect();
        let knobs = match self.knobs {
            Some(k) => floats(k.iter().map(|v| Some(*v)).collect()),
            None => ScalarValue::List(Arc::new(ListArray::new_null(
                Arc::new(Field::new("item", DataType::Float64, true)),
                1,
            ))),
        };
        Ok(vec![
            ints(s),
            ints(std::mem::take(&mut self.d)),
            floats(p),
            knobs,
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let Some([n, damping, tol, max_iter]) = self.knobs else {
            return exec_err!("pagerank_native: no rows");
        };
        let Ok(nu) = u32::try_from(n as i64) else {
            return exec_err!("pagerank_native: n = {n} is not a node count");
        };
        let id = |v: i64| match u32::try_from(v) {
            Ok(x) if x < nu => Ok(x),
            _ => exec_err!("pagerank_native: node id {v} is not in 0..{n}"),
        };
        let mut restart = vec![0.0; nu as usize];
        let mut edges = Vec::with_capacity(self.s.len());
        for ((s, d), p) in self.s.iter().zip(&self.d).zip(&self.p) {
            match d {
                Some(d) => edges.push((id(*s)?, id(*d)?, *p)),
                None => restart[id(*s)? as usize] = *p,
            }
        }
        // Rows arrive in any order; sorting makes the sums the same on every run and cluster.
        edges.sort_unstable_by_key(|e| (e.1, e.0));
        let r = power_iteration(
            nu as usize,
            &edges,
            &restart,
            damping,
            tol,
            max_iter.max(0.0) as usize,
        );
        let len = r.rank.len();
        let entries = StructArray::new(
            entry_fields(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..len as i64)),
                Arc::new(Float64Array::from(r.rank)),
            ],
            None,
        );
        let DataType::List(item) = ranks_type() else {
            return exec_err!("pagerank_native: output type");
        };
        let list = ListArray::new(
            item,
            OffsetBuffer::from_lengths([len]),
            Arc::new(entries),
            None,
        );
        let out = StructArray::new(
            output_fields(),
            vec![
                Arc::new(Int64Array::from(vec![r.iterations as i64])),
                Arc::new(Float64Array::from(vec![r.l1])),
                Arc::new(list),
            ],
            None,
        );
        Ok(ScalarValue::Struct(Arc::new(out)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.s.capacity() * std::mem::size_of::<i64>()
            + self.d.capacity() * std::mem::size_of::<Option<i64>>()
            + self.p.capacity() * std::mem::size_of::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::power_iteration;

    #[test]
    fn a_cycle_is_uniform_and_a_sink_gathers_rank() {
        let third = 1.0 / 3.0;
        let r = power_iteration(
            3,
            &[(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0)],
            &[third; 3],
            0.85,
            1e-10,
            100,
        );
        for x in &r.rank {
            assert!((x - third).abs() < 1e-12);
        }
        // 0 -> 1, 1 dangling (its rank spread evenly): x0 = 0.85 x1 / 2 + 0.075, and x0 + x1 = 1.
        let r = power_iteration(2, &[(0, 1, 1.0)], &[0.5, 0.5], 0.85, 1e-14, 1000);
        let x0 = (1.0 - 0.85) / 2.0 + 0.85 * r.rank[1] / 2.0;
        assert!((r.rank[0] - x0).abs() < 1e-12, "{r:?}");
        assert!((r.rank.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(r.rank[1] > r.rank[0]);
    }
}
