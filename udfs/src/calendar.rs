//! `days_between(from, to, kind)`: how many days `d` with `from < d <= to` are of `kind`
//! (`'workday'` = Monday to Friday, `'weekend'` = Saturday and Sunday, `'all'`). Dates are
//! UTC calendar dates (`DATE` or `'YYYY-MM-DD'` text); `to <= from` gives 0.
//!
//! The viewer profiles decay their moving averages at read time with it: a score stored on
//! `from` is worth `(1 - alpha)^days_between(from, to, kind)` on `to`.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Builder};
use arrow::datatypes::{DataType, Date32Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Which days count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// Monday to Friday.
    Workday,
    /// Saturday and Sunday.
    Weekend,
    /// Every day.
    All,
}

impl DayKind {
    /// Parses `workday`, `weekend` or `all`.
    pub fn parse(s: &str) -> Option<DayKind> {
        match s {
            "workday" => Some(DayKind::Workday),
            "weekend" => Some(DayKind::Weekend),
            "all" => Some(DayKind::All),
            _ => None,
        }
    }

    /// Whether the day `days` after 1970-01-01 is of this kind.
    pub fn contains(self, days: i32) -> bool {
        // 1970-01-01 was a Thursday: Monday is 0.
        let weekday = (days as i64 + 3).rem_euclid(7);
        match self {
            DayKind::Workday => weekday < 5,
            DayKind::Weekend => weekday >= 5,
            DayKind::All => true,
        }
    }
}

/// Days `d` with `from < d <= to` of `kind` (dates as days since 1970-01-01).
pub fn count(from: i32, to: i32, kind: DayKind) -> i64 {
    if to <= from {
        return 0;
    }
    let n = to as i64 - from as i64;
    let per_week = match kind {
        DayKind::Workday => 5,
        DayKind::Weekend => 2,
        DayKind::All => 7,
    };
    let weeks = n / 7;
    // Whole weeks hold every weekday once; the rest are counted one by one.
    let rest = ((from as i64 + weeks * 7 + 1)..=(to as i64))
        .filter(|d| kind.contains(*d as i32))
        .count() as i64;
    weeks * per_week + rest
}

/// The `days_between` function.
pub fn udf() -> ScalarUDF {
    ScalarUDF::from(DaysBetween {
        signature: Signature::any(3, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DaysBetween {
    signature: Signature,
}

impl ScalarUDFImpl for DaysBetween {
    fn name(&self) -> &str {
        "days_between"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [from, to, kind] = args.args.as_slice() else {
            return exec_err!("days_between takes (from, to, kind)");
        };
        let n = args.number_rows;
        let date = |v: &ColumnarValue| -> Result<Arc<dyn Array>> {
            Ok(arrow::compute::cast(&v.to_array(n)?, &DataType::Date32)?)
        };
        let (from, to) = (date(from)?, date(to)?);
        let kind = arrow::compute::cast(&kind.to_array(n)?, &DataType::Utf8)?;
        let (from, to, kind) = (
            from.as_primitive::<Date32Type>(),
            to.as_primitive::<Date32Type>(),
            kind.as_string::<i32>(),
        );
        let mut out = Int64Builder::with_capacity(n);
        for i in 0..n {
            if from.is_null(i) || to.is_null(i) || kind.is_null(i) {
                out.append_null();
                continue;
            }
            let Some(k) = DayKind::parse(kind.value(i)) else {
                return exec_err!(
                    "days_between: kind {:?} is not workday, weekend or all",
                    kind.value(i)
                );
            };
            out.append_value(count(from.value(i), to.value(i), k));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::{DayKind, count};

    /// Days since 1970-01-01 of a date.
    fn d(y: i32, m: u32, day: u32) -> i32 {
        let epoch = chrono_free_days(1970, 1, 1);
        chrono_free_days(y, m, day) - epoch
    }

    /// Days from civil (Howard Hinnant's algorithm), independent of the code under test.
    fn chrono_free_days(y: i32, m: u32, d: u32) -> i32 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m as i32 + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d as i32 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe
    }

    #[test]
    fn weekdays_of_known_dates() {
        // 2026-01-05 is a Monday, 2026-01-10 a Saturday.
        assert!(DayKind::Workday.contains(d(2026, 1, 5)));
        assert!(DayKind::Weekend.contains(d(2026, 1, 10)));
        assert!(DayKind::Weekend.contains(d(2026, 1, 11)));
        assert!(!DayKind::Weekend.contains(d(2026, 1, 12)));
        assert!(DayKind::Workday.contains(d(1969, 12, 31)));
    }

    #[test]
    fn counts_match_day_by_day_counting() {
        let base = d(2025, 12, 20);
        for from in base..base + 10 {
            for to in from - 3..from + 40 {
                for k in [DayKind::Workday, DayKind::Weekend, DayKind::All] {
                    let brute = ((from + 1)..=to).filter(|x| k.contains(*x)).count() as i64;
                    assert_eq!(count(from, to, k), brute, "{from} {to} {k:?}");
                }
            }
        }
        // Mon 2026-01-05 to Mon 2026-01-12: 5 workdays (Tue..Fri, Mon), 2 weekend days.
        assert_eq!(count(d(2026, 1, 5), d(2026, 1, 12), DayKind::Workday), 5);
        assert_eq!(count(d(2026, 1, 5), d(2026, 1, 12), DayKind::Weekend), 2);
    }
}
