//! `watch(t, max_gap)`: a group's distinct times (integers, e.g. microseconds of presence
//! snapshots) and the sessions they make, as `{snapshots, sessions}`. A session is a run of
//! distinct times each at most `max_gap` after the one before. Times may come in any order
//! and repeat (a snapshot landed twice is one snapshot); NULL times are skipped, and a group
//! with none gives `{0, 0}`. `max_gap` must be the same on every row (a constant) and not
//! negative.
//!
//! It exists so viewer-day counts minutes and sessions with hash aggregates, each group
//! sorting only its own few dozen times in a plain vector, instead of sorting the day's
//! presence rows for a `lag()` window or keeping every (group, time) pair in a hash set as
//! `count(DISTINCT t)` does.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err, not_impl_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// The `watch` aggregate.
pub fn udaf() -> AggregateUDF {
    AggregateUDF::from(Watch {
        signature: Signature::exact(
            vec![DataType::Int64, DataType::Int64],
            Volatility::Immutable,
        ),
    })
}

/// The distinct times in `times` (sorted in place) and the sessions they make: runs whose
/// consecutive distinct times are at most `max_gap` apart.
pub fn snapshots_and_sessions(times: &mut [i64], max_gap: i64) -> (i64, i64) {
    times.sort_unstable();
    let (mut snapshots, mut sessions) = (0, 0);
    let mut prev: Option<i64> = None;
    for &t in times.iter() {
        if prev != Some(t) {
            snapshots += 1;
            if prev.is_none_or(|p| t.abs_diff(p) > max_gap.unsigned_abs()) {
                sessions += 1;
            }
        }
        prev = Some(t);
    }
    (snapshots, sessions)
}

fn output_fields() -> Fields {
    Fields::from(vec![
        Field::new("snapshots", DataType::Int64, false),
        Field::new("sessions", DataType::Int64, false),
    ])
}

/// The element of a state's list of times.
fn time_item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Int64, true))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Watch {
    signature: Signature,
}

impl AggregateUDFImpl for Watch {
    fn name(&self) -> &str {
        "watch"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(output_fields()))
    }
    fn is_nullable(&self) -> bool {
        false
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(One(Groups::default())))
    }
    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new("times", DataType::List(time_item()), true)),
            Arc::new(Field::new("max_gap", DataType::Int64, true)),
        ])
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Groups::default()))
    }
}

/// Every group's times so far, and the one `max_gap`.
#[derive(Debug, Default)]
struct Groups {
    times: Vec<Vec<i64>>,
    /// The capacity of every vector in `times`, kept as they grow (DataFusion asks for the
    /// size after each batch).
    capacity: usize,
    max_gap: Option<i64>,
}

impl Groups {
    fn set_gap(&mut self, gaps: &Int64Array) -> Result<()> {
        for g in gaps.iter().flatten() {
            if g < 0 {
                return exec_err!("watch: max_gap must not be negative, got {g}");
            }
            match self.max_gap {
                Some(m) if m != g => {
                    return exec_err!("watch: max_gap must be the same on every row");
                }
                _ => self.max_gap = Some(g),
            }
        }
        Ok(())
    }

    /// Adds the rows of `(t, gap)` (times and gaps, or a state's lists and gaps) to the
    /// groups `group_indices` names, skipping NULLs and the rows `filter` leaves out: `each`
    /// appends row `row` of `t` (downcast once by the caller) to its group's times.
    fn add(
        &mut self,
        (t, gap): (&ArrayRef, &ArrayRef),
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
        total_num_groups: usize,
        each: impl Fn(&mut Vec<i64>, usize),
    ) -> Result<()> {
        self.set_gap(gap.as_primitive::<Int64Type>())?;
        self.times.resize_with(total_num_groups, Vec::new);
        for (row, &g) in group_indices.iter().enumerate() {
            if filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) || t.is_null(row) {
                continue;
            }
            let group = &mut self.times[g];
            let before = group.capacity();
            each(group, row);
            self.capacity += group.capacity() - before;
        }
        Ok(())
    }

    /// The groups `emit_to` names, taken out.
    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<i64>> {
        let groups = emit_to.take_needed(&mut self.times);
        self.capacity -= groups.iter().map(Vec::capacity).sum::<usize>();
        groups
    }

    fn evaluate_groups(&mut self, emit_to: EmitTo) -> ArrayRef {
        let gap = self.max_gap.unwrap_or(0);
        let (snapshots, sessions): (Vec<i64>, Vec<i64>) = self
            .take(emit_to)
            .into_iter()
            .map(|mut t| snapshots_and_sessions(&mut t, gap))
            .unzip();
        Arc::new(StructArray::new(
            output_fields(),
            vec![
                Arc::new(Int64Array::from(snapshots)),
                Arc::new(Int64Array::from(sessions)),
            ],
            None,
        ))
    }

    fn state_groups(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let mut groups = self.take(emit_to);
        // Each group's distinct times only: less to send on and to merge.
        for g in &mut groups {
            g.sort_unstable();
            g.dedup();
        }
        let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
        let values = Int64Array::from(groups.concat());
        let list = ListArray::try_new(time_item(), offsets, Arc::new(values), None)?;
        let gaps = Int64Array::from(vec![self.max_gap; list.len()]);
        Ok(vec![Arc::new(list), Arc::new(gaps)])
    }

    fn bytes(&self) -> usize {
        self.times.capacity() * size_of::<Vec<i64>>() + self.capacity * size_of::<i64>()
    }
}

/// The aggregate's two arguments (or a state's two columns).
fn args(values: &[ArrayRef]) -> Result<(&ArrayRef, &ArrayRef)> {
    match values {
        [t, gap] => Ok((t, gap)),
        _ => exec_err!("watch takes (t, max_gap)"),
    }
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let args = args(values)?;
        let times = args.0.as_primitive::<Int64Type>();
        self.add(
            args,
            group_indices,
            opt_filter,
            total_num_groups,
            |g, row| g.push(times.value(row)),
        )
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let args = args(values)?;
        let lists = args.0.as_list::<i32>();
        let (times, offsets) = (lists.values().as_primitive::<Int64Type>(), lists.offsets());
        self.add(args, group_indices, None, total_num_groups, |g, row| {
            let (from, to) = (offsets[row] as usize, offsets[row + 1] as usize);
            g.extend(
                (from..to)
                    .filter(|&i| times.is_valid(i))
                    .map(|i| times.value(i)),
            )
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.evaluate_groups(emit_to))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.state_groups(emit_to)
    }

    fn convert_to_state(
        &self,
        _values: &[ArrayRef],
        _opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        not_impl_err!("watch does not convert rows to states")
    }

    fn size(&self) -> usize {
        self.bytes()
    }
}

/// The aggregate without grouping (or where DataFusion asks for one accumulator a group):
/// one group of [`Groups`].
#[derive(Debug)]
struct One(Groups);

impl One {
    /// A copy of the one group: `state` and `evaluate` leave the accumulator as it is (a
    /// window evaluates it again after each row it adds).
    fn copy(&self) -> Groups {
        let times = self.0.times.first().cloned().unwrap_or_default();
        Groups {
            capacity: times.capacity(),
            times: vec![times],
            max_gap: self.0.max_gap,
        }
    }
}

impl Accumulator for One {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map_or(0, |v| v.len());
        GroupsAccumulator::update_batch(&mut self.0, values, &vec![0; n], None, 1)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map_or(0, |v| v.len());
        GroupsAccumulator::merge_batch(&mut self.0, states, &vec![0; n], 1)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let cols = self.copy().state_groups(EmitTo::All)?;
        cols.iter()
            .map(|c| ScalarValue::try_from_array(c, 0))
            .collect()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let out = self.copy().evaluate_groups(EmitTo::All);
        ScalarValue::try_from_array(&out, 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.0.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_past_the_gap() {
        // 0, 5, 10 | 30 | 50, 55 with max_gap 7; repeats and order do not matter.
        let t = [55, 0, 10, 5, 30, 5, 50, 30];
        assert_eq!(snapshots_and_sessions(&mut t.clone(), 7), (6, 3));
        assert_eq!(snapshots_and_sessions(&mut t.clone(), 20), (6, 1));
        assert_eq!(snapshots_and_sessions(&mut t.clone(), 4), (6, 6));
        assert_eq!(snapshots_and_sessions(&mut [], 5), (0, 0));
        assert_eq!(snapshots_and_sessions(&mut [4, 4, 4], 0), (1, 1));
        assert_eq!(snapshots_and_sessions(&mut [1, 2, 3], 0), (3, 3));
    }
}
