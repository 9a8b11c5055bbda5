//! Reading a single value (the first row's first column) out of a query result: the data
//! parameters of jobs, counts, the latest date.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

/// The first row's first column, cast to `ty`; `None` when there is no row or it is null.
pub fn first_cell(batches: &[RecordBatch], ty: &DataType) -> Option<ArrayRef> {
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let a = arrow::compute::cast(&b.column(0).slice(0, 1), ty).ok()?;
    (!a.is_null(0)).then_some(a)
}

/// [`first_cell`] as an integer.
pub fn first_i64(batches: &[RecordBatch]) -> Option<i64> {
    first_cell(batches, &DataType::Int64).map(|a| a.as_primitive::<Int64Type>().value(0))
}

/// [`first_cell`] as a float.
pub fn first_f64(batches: &[RecordBatch]) -> Option<f64> {
    first_cell(batches, &DataType::Float64).map(|a| a.as_primitive::<Float64Type>().value(0))
}

/// [`first_cell`] as text.
pub fn first_string(batches: &[RecordBatch]) -> Option<String> {
    first_cell(batches, &DataType::Utf8).map(|a| a.as_string::<i32>().value(0).to_string())
}
