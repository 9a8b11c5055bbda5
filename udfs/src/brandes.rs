//! `brandes_partial(s, d, n, directed)`: Brandes' betweenness from a subset of sources, as
//! an aggregate so a SQL plan can split the sources across tasks. Each group receives every
//! edge (`s -> d`, ids in `0..n`) and its own sources (rows with `d` NULL: `s` is a source);
//! it returns the unscaled dependency sums of every node it touched as a list of
//! `{node, score}`. Adding the lists of all groups gives the sums over all sources, which the
//! caller scales (NetworkX's normalisation). Unweighted shortest paths; parallel edges and
//! self loops do not count (as in a NetworkX `Graph`/`DiGraph`).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListArray, StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

/// An adjacency in compressed rows: the neighbours of `v` are `to[at[v]..at[v + 1]]`, sorted
/// and without repeats or self loops.
struct Csr {
    at: Vec<usize>,
    to: Vec<u32>,
}

impl Csr {
    fn new(n: usize, pairs: impl Iterator<Item = (u32, u32)>) -> Csr {
        let mut pairs: Vec<(u32, u32)> = pairs.filter(|(a, b)| a != b).collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut at = vec![0usize; n + 1];
        for (a, _) in &pairs {
            at[*a as usize + 1] += 1;
        }
        for v in 0..n {
            at[v + 1] += at[v];
        }
        Csr {
            at,
            to: pairs.into_iter().map(|(_, b)| b).collect(),
        }
    }

    fn of(&self, v: u32) -> &[u32] {
        &self.to[self.at[v as usize]..self.at[v as usize + 1]]
    }
}

/// The dependency sums `sum over sources s of delta_s(v)` for every node `v` of a graph with
/// nodes `0..n` (unscaled: each ordered pair counts once).
pub fn brandes(n: usize, edges: &[(u32, u32)], sources: &[u32], directed: bool) -> Vec<f64> {
    let out = if directed {
        Csr::new(n, edges.iter().copied())
    } else {
        Csr::new(n, edges.iter().flat_map(|&(a, b)| [(a, b), (b, a)]))
    };
    let inc = if directed {
        Some(Csr::new(n, edges.iter().map(|&(a, b)| (b, a))))
    } else {
        None
    };
    let preds = inc.as_ref().unwrap_or(&out);
    let mut bc = vec![0.0; n];
    let mut dist = vec![-1i64; n];
    let mut sigma = vec![0.0f64; n];
    let mut delta = vec![0.0f64; n];
    let mut order: Vec<u32> = Vec::new();
    for &s in sources {
        order.clear();
        dist[s as usize] = 0;
        sigma[s as usize] = 1.0;
        order.push(s);
        let mut head = 0;
        while head < order.len() {
            let v = order[head];
            head += 1;
            let dv = dist[v as usize];
            for &w in out.of(v) {
                let w = w as usize;
                if dist[w] < 0 {
                    dist[w] = dv + 1;
                    order.push(w as u32);
                }
                if dist[w] == dv + 1 {
                    sigma[w] += sigma[v as usize];
                }
            }
        }
        // Nodes in non-increasing distance: each passes its dependency to its predecessors.
        for &w in order.iter().rev() {
            let wu = w as usize;
            let coeff = (1.0 + delta[wu]) / sigma[wu];
            for &v in preds.of(w) {
                let v = v as usize;
                if dist[v] == dist[wu] - 1 {
                    delta[v] += sigma[v] * coeff;
                }
            }
            if w != s {
                bc[wu] += delta[wu];
            }
        }
        for &v in &order {
            dist[v as usize] = -1;
            sigma[v as usize] = 0.0;
            delta[v as usize] = 0.0;
        }
    }
    bc
}

/// The `brandes_partial` aggregate.
pub fn udaf() -> AggregateUDF {
    AggregateUDF::from(BrandesPartial {
        signature: Signature::exact(
            vec![
                DataType::Int64,
                DataType::Int64,
                DataType::Int64,
                DataType::Boolean,
            ],
            Volatility::Immutable,
        ),
    })
}

fn entry_fields() -> Fields {
    Fields::from(vec![
        Field::new("node", DataType::Int64, false),
        Field::new("score", DataType::Float64, false),
    ])
}

fn output_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(entry_fields()),
        true,
    )))
}

fn id_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Int64, true)))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BrandesPartial {
    signature: Signature,
}

impl AggregateUDFImpl for BrandesPartial {
    fn name(&self) -> &str {
        "brandes_partial"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(output_type())
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Acc::default()))
    }
    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new("s", id_list(), true)),
            Arc::new(Field::new("d", id_list(), true)),
            Arc::new(Field::new("n", DataType::Int64, true)),
            Arc::new(Field::new("directed", DataType::Boolean, true)),
        ])
    }
}

/// The edges and sources a group has seen.
#[derive(Debug, Default)]
struct Acc {
    s: Vec<i64>,
    d: Vec<Option<i64>>,
    n: Option<i64>,
    directed: Option<bool>,
}

impl Acc {
    fn add(&mut self, s: &Int64Array, d: &Int64Array) {
        for i in 0..s.len() {
            if s.is_valid(i) {
                self.s.push(s.value(i));
                self.d.push(d.is_valid(i).then(|| d.value(i)));
            }
        }
    }

    fn set_constants(&mut self, n: &Int64Array, directed: &BooleanArray) -> Result<()> {
        for i in 0..n.len() {
            if n.is_valid(i) {
                let v = n.value(i);
                if self.n.is_some_and(|m| m != v) {
                    return exec_err!("brandes_partial: n must be the same on every row");
                }
                self.n = Some(v);
            }
            if directed.is_valid(i) {
                self.directed = Some(directed.value(i));
            }
        }
        Ok(())
    }
}

impl Accumulator for Acc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [s, d, n, directed] = values else {
            return exec_err!("brandes_partial takes (s, d, n, directed)");
        };
        self.add(s.as_primitive::<Int64Type>(), d.as_primitive::<Int64Type>());
        self.set_constants(n.as_primitive::<Int64Type>(), directed.as_boolean())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [s, d, n, directed] = states else {
            return exec_err!("brandes_partial: a state has four columns");
        };
        let (s, d) = (s.as_list::<i32>(), d.as_list::<i32>());
        for row in 0..s.len() {
            if s.is_valid(row) && d.is_valid(row) {
                let (rs, rd) = (s.value(row), d.value(row));
                self.add(
                    rs.as_primitive::<Int64Type>(),
                    rd.as_primitive::<Int64Type>(),
                );
            }
        }
        self.set_constants(n.as_primitive::<Int64Type>(), directed.as_boolean())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let s = Int64Array::from(std::mem::take(&mut self.s));
        let d = Int64Array::from(std::mem::take(&mut self.d));
        Ok(vec![
            ScalarValue::List(Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
                [Some(s.iter().collect::<Vec<_>>())],
            ))),
            ScalarValue::List(Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
                [Some(d.iter().collect::<Vec<_>>())],
            ))),
            ScalarValue::Int64(self.n),
            ScalarValue::Boolean(self.directed),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let n = self.n.unwrap_or(0);
        let Ok(nu) = u32::try_from(n) else {
            return exec_err!("brandes_partial: n = {n} is not a node count");
        };
        let id = |v: i64| match u32::try_from(v) {
            Ok(x) if x < nu => Ok(x),
            _ => exec_err!("brandes_partial: node id {v} is not in 0..{n}"),
        };
        let mut edges = Vec::new();
        let mut sources = Vec::new();
        for (s, d) in self.s.iter().zip(&self.d) {
            match d {
                Some(d) => edges.push((id(*s)?, id(*d)?)),
                None => sources.push(id(*s)?),
            }
        }
        sources.sort_unstable();
        sources.dedup();
        let bc = brandes(nu as usize, &edges, &sources, self.directed.unwrap_or(true));
        let (nodes, scores): (Vec<i64>, Vec<f64>) = bc
            .iter()
            .enumerate()
            .filter(|(_, b)| **b != 0.0)
            .map(|(v, b)| (v as i64, *b))
            .unzip();
        let len = nodes.len();
        let entries = StructArray::new(
            entry_fields(),
            vec![
                Arc::new(Int64Array::from(nodes)),
                Arc::new(Float64Array::from(scores)),
            ],
            None,
        );
        let DataType::List(item) = output_type() else {
            return exec_err!("brandes_partial: output type");
        };
        let list = ListArray::new(
            item,
            OffsetBuffer::from_lengths([len]),
            Arc::new(entries),
            None,
        );
        Ok(ScalarValue::List(Arc::new(list)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.s.capacity() * std::mem::size_of::<i64>()
            + self.d.capacity() * std::mem::size_of::<Option<i64>>()
    }
}

#[cfg(test)]
mod tests {
    use super::brandes;

    #[test]
    fn a_path_by_hand() {
        // 0 - 1 - 2 undirected: the middle node lies on 0..2 and 2..0.
        let bc = brandes(3, &[(0, 1), (1, 2)], &[0, 1, 2], false);
        assert_eq!(bc, vec![0.0, 2.0, 0.0]);
        // Directed 0 -> 1 -> 2: only the pair (0, 2).
        let bc = brandes(3, &[(0, 1), (1, 2), (1, 1), (0, 1)], &[0, 1, 2], true);
        assert_eq!(bc, vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn two_shortest_paths_share_the_dependency() {
        // A diamond 0 -> {1, 2} -> 3: each middle node carries half of (0, 3).
        let bc = brandes(4, &[(0, 1), (0, 2), (1, 3), (2, 3)], &[0, 1, 2, 3], true);
        assert_eq!(bc, vec![0.0, 0.5, 0.5, 0.0]);
    }
}
