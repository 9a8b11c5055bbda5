//! `verify`: TwitchProfiler's daily sanity check. For a date, K viewers seen in the raw
//! presence that day are picked at random (seeded by the date), their day is rebuilt here
//! from raw presence rows in plain Rust, sharing no code or SQL with `viewer-day`, and
//! compared with what `viewer-day` stored (`viewer_channel_day` and `viewer_hour_day`). The
//! outcome is a `verification` row for the date; mismatches also fail the run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use chrono::{NaiveDate, Timelike};
use datafusion::prelude::{SessionContext, col, lit};

use crate::runner::{RunReport, write_days};
use crate::{Error, Result};

/// What to check.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The day.
    pub date: NaiveDate,
    /// Viewers to sample.
    pub k: usize,
    /// The sampling interval `viewer-day` used.
    pub sample: std::time::Duration,
}

/// One viewer-channel's day as rebuilt: minutes, first and last seen (µs), sessions.
type ChannelDay = (f64, i64, i64, i64);
/// Per (viewer, channel) days, and per (viewer, hour) minutes.
type Rebuilt = (
    BTreeMap<(String, String), ChannelDay>,
    BTreeMap<(String, i64), f64>,
);

/// FNV-1a of the date and the name: the seeded order viewers are sampled in.
fn rank(date: NaiveDate, viewer: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in date.to_string().bytes().chain([0]).chain(viewer.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn strings(b: &RecordBatch, i: usize) -> Result<Vec<String>> {
    let a = arrow::compute::cast(b.column(i), &DataType::Utf8)?;
    Ok(a.as_string::<i32>()
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

fn ints(b: &RecordBatch, i: usize, ty: &DataType) -> Result<Vec<i64>> {
    let a = arrow::compute::cast(b.column(i), ty)?;
    let a = arrow::compute::cast(&a, &DataType::Int64)?;
    Ok(a.as_primitive::<Int64Type>().values().to_vec())
}

/// Rebuilds the sampled viewers' day from raw presence rows (time µs, channel, viewer).
fn rebuild(rows: &[(i64, String, String)], sample_us: i64) -> Rebuilt {
    let minutes = sample_us as f64 / 60e6;
    let mut per_channel: BTreeMap<(String, String), BTreeSet<i64>> = BTreeMap::new();
    let mut per_viewer: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for (t, c, v) in rows {
        per_channel
            .entry((v.clone(), c.clone()))
            .or_default()
            .insert(*t);
        per_viewer.entry(v.clone()).or_default().insert(*t);
    }
    let channels = per_channel
        .into_iter()
        .map(|(k, times)| {
            let times: Vec<i64> = times.into_iter().collect();
            let mut sessions = 0;
            for (i, t) in times.iter().enumerate() {
                if i == 0 || 2 * (t - times[i - 1]) > 3 * sample_us {
                    sessions += 1;
                }
            }
            let first = times.first().copied().unwrap_or_default();
            let last = times.last().copied().unwrap_or_default();
            (k, (times.len() as f64 * minutes, first, last, sessions))
        })
        .collect();
    let mut hours = BTreeMap::new();
    for (v, times) in per_viewer {
        for t in times {
            let hour = chrono::DateTime::from_timestamp_micros(t).map_or(0, |d| d.hour() as i64);
            *hours.entry((v.clone(), hour)).or_insert(0.0) += minutes;
        }
    }
    (channels, hours)
}

/// Runs the check for one date and writes its `verification` row.
pub async fn run(
    lake: &pulse_lake::Lake,
    ctx: &SessionContext,
    o: &VerifyOptions,
) -> Result<RunReport> {
    let day = o.date.to_string();
    let sample_us = o.sample.as_micros() as i64;
    if sample_us <= 0 || o.k == 0 {
        return Err(Error::Usage(
            "verify needs k >= 1 and a sample interval".into(),
        ));
    }
    let mut rows_in = 0u64;
    // The viewers seen that day, and K of them in the date's seeded order.
    let viewers = ctx
        .table("presence")
        .await?
        .filter(col("dt").eq(lit(day.as_str())))?
        .select_columns(&["viewer_login"])?
        .distinct()?
        .collect()
        .await?;
    let mut names: Vec<String> = Vec::new();
    for b in &viewers {
        names.extend(strings(b, 0)?);
    }
    names.sort_by_cached_key(|v| (rank(o.date, v), v.clone()));
    names.truncate(o.k);
    let sampled: Vec<datafusion::prelude::Expr> = names.iter().map(|v| lit(v.as_str())).collect();
    let raw = ctx
        .table("presence")
        .await?
        .filter(col("dt").eq(lit(day.as_str())))?
        .filter(col("viewer_login").in_list(sampled.clone(), false))?
        .select_columns(&["snapshot_time", "channel_login", "viewer_login"])?
        .collect()
        .await?;
    let mut rows = Vec::new();
    for b in &raw {
        rows_in += b.num_rows() as u64;
        let t = ints(
            b,
            0,
            &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
        )?;
        let (c, v) = (strings(b, 1)?, strings(b, 2)?);
        for i in 0..b.num_rows() {
            rows.push((t[i], c[i].clone(), v[i].clone()));
        }
    }
    let (want_channels, want_hours) = rebuild(&rows, sample_us);

    // What viewer-day stored for them.
    let mut got_channels: BTreeMap<(String, String), ChannelDay> = BTreeMap::new();
    let mut got_hours: BTreeMap<(String, i64), f64> = BTreeMap::new();
    let stored = |table: &'static str, cols: &'static [&'static str]| {
        let sampled = sampled.clone();
        let day = day.clone();
        async move {
            if !ctx.table_exist(table)? {
                return Ok::<_, Error>(Vec::new());
            }
            Ok(ctx
                .table(table)
                .await?
                .filter(col("dt").eq(lit(day.as_str())))?
                .filter(col("viewer_login").in_list(sampled, false))?
                .select_columns(cols)?
                .collect()
                .await?)
        }
    };
    for b in stored(
        "viewer_channel_day",
        &[
            "viewer_login",
            "channel_login",
            "minutes",
            "first_seen",
            "last_seen",
            "sessions",
        ],
    )
    .await?
    {
        rows_in += b.num_rows() as u64;
        let ts = DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None);
        let (v, c) = (strings(&b, 0)?, strings(&b, 1)?);
        let m = arrow::compute::cast(b.column(2), &DataType::Float64)?;
        let m = m.as_primitive::<Float64Type>();
        let (f, l, s) = (
            ints(&b, 3, &ts)?,
            ints(&b, 4, &ts)?,
            ints(&b, 5, &DataType::Int64)?,
        );
        for i in 0..b.num_rows() {
            got_channels.insert((v[i].clone(), c[i].clone()), (m.value(i), f[i], l[i], s[i]));
        }
    }
    for b in stored("viewer_hour_day", &["viewer_login", "hour", "minutes"]).await? {
        rows_in += b.num_rows() as u64;
        let v = strings(&b, 0)?;
        let h = ints(&b, 1, &DataType::Int64)?;
        let m = arrow::compute::cast(b.column(2), &DataType::Float64)?;
        let m = m.as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            got_hours.insert((v[i].clone(), h[i]), m.value(i));
        }
    }

    // Compare both ways: a missing, extra or different row is a mismatch.
    let mut mismatches: Vec<String> = Vec::new();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
    for key in want_channels
        .keys()
        .chain(got_channels.keys())
        .collect::<BTreeSet<_>>()
    {
        match (want_channels.get(key), got_channels.get(key)) {
            (Some(w), Some(g)) if close(w.0, g.0) && w.1 == g.1 && w.2 == g.2 && w.3 == g.3 => {}
            (w, g) => mismatches.push(format!(
                "viewer_channel_day {}/{}: raw presence gives {w:?}, stored {g:?} (minutes, first, last, sessions)",
                key.0, key.1
            )),
        }
    }
    for key in want_hours
        .keys()
        .chain(got_hours.keys())
        .collect::<BTreeSet<_>>()
    {
        match (want_hours.get(key), got_hours.get(key)) {
            (Some(w), Some(g)) if close(*w, *g) => {}
            (w, g) => mismatches.push(format!(
                "viewer_hour_day {} hour {}: raw presence gives {w:?} minutes, stored {g:?}",
                key.0, key.1
            )),
        }
    }
    let checked = (want_channels.len() + want_hours.len()) as i64;
    let status = if mismatches.is_empty() {
        "ok"
    } else {
        "failed"
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("dt", DataType::Utf8, false),
        Field::new("sampled", DataType::Int64, false),
        Field::new("checked_rows", DataType::Int64, false),
        Field::new("mismatches", DataType::Int64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("first_mismatch", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![day.clone()])) as ArrayRef,
            Arc::new(Int64Array::from(vec![names.len() as i64])),
            Arc::new(Int64Array::from(vec![checked])),
            Arc::new(Int64Array::from(vec![mismatches.len() as i64])),
            Arc::new(StringArray::from(vec![status])),
            Arc::new(StringArray::from(vec![mismatches.first().cloned()])),
        ],
    )?;
    write_days(
        lake,
        "verification",
        &schema,
        &[batch],
        std::slice::from_ref(&day),
    )
    .await?;
    ctx.deregister_table("verification")?;
    pulse_lake::catalog::register_agg(ctx, lake, "verification").await?;
    tracing::info!(date = %day, sampled = names.len(), checked, mismatches = mismatches.len(), status, "verified");
    if let Some(first) = mismatches.first() {
        return Err(Error::Usage(format!(
            "verification of {day} failed: {} mismatch(es) among {} sampled viewers; first: {first}",
            mismatches.len(),
            names.len()
        )));
    }
    Ok(RunReport {
        outputs: vec![("verification".into(), 1, 1)],
        rows_in,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::rebuild;

    #[test]
    fn sessions_minutes_and_hours_by_hand() {
        let m = 60_000_000i64;
        let t0 = 1_767_571_200_000_000i64; // 2026-01-05 00:00 UTC
        let rows: Vec<(i64, String, String)> = [0, 5, 10, 25, 30, 55, 60, 60]
            .iter()
            .map(|min| (t0 + min * m, "c".to_string(), "v".to_string()))
            .collect();
        let (ch, hours) = rebuild(&rows, 5 * m);
        // Times 0,5,10 | 25,30 | 55,60 (60 twice): 7 distinct snapshots, 3 sessions.
        let got = ch[&("v".to_string(), "c".to_string())];
        assert_eq!(got, (35.0, t0, t0 + 60 * m, 3));
        assert_eq!(hours[&("v".to_string(), 0)], 30.0);
        assert_eq!(hours[&("v".to_string(), 1)], 5.0);
    }
}
