//! The windowed jobs: hashtags (seeds 001 and 004), categories (seed 003 and SullyGnome) and
//! channels (TwitchTracker). Each is steps of SQL under `sql/<job>/` run by the
//! [`runner`](crate::runner); this file only names the steps and the parameters.

use std::time::Duration;

use crate::params::{Params, Value};
use crate::runner::{JobDef, Step, StepKind, derive_read_from};
use crate::{Error, Result};

macro_rules! step {
    ($name:expr, $file:expr, $kind:ident) => {
        Step {
            name: $name,
            sql: include_str!(concat!("../../sql/", $file)),
            kind: StepKind::$kind,
        }
    };
}

fn dur(p: &Params, name: &str) -> Result<u128> {
    let d = p.duration(name)?.as_micros();
    if d == 0 {
        return Err(Error::Usage(format!("{name} must be longer than zero")));
    }
    Ok(d)
}

/// A duration parameter as it appears in output names: `30m`, `1h`, `1day`, `1m30s`.
fn duration_name(p: &Params, name: &str) -> String {
    p.duration(name)
        .map(|d| humantime::format_duration(d).to_string().replace(' ', ""))
        .unwrap_or_default()
}

fn hashtag_defaults() -> Params {
    let mut p = Params::default();
    p.insert("size", Value::Duration(Duration::from_secs(20)));
    p.insert("slide", Value::Duration(Duration::from_secs(10)));
    p.insert("k", Value::Int(10));
    p.insert("baseline_windows", Value::Int(6));
    p.insert("min_support", Value::Int(3));
    p.insert("lateness", Value::Duration(Duration::from_secs(0)));
    p
}

fn hashtag_derive(p: &mut Params) -> Result<()> {
    let (size, slide) = (dur(p, "size")?, dur(p, "slide")?);
    if size % slide != 0 && slide % size != 0 {
        return Err(Error::Usage(format!(
            "window size {:?} and slide {:?} must divide into each other",
            p.duration("size")?,
            p.duration("slide")?
        )));
    }
    let baseline = p.int("baseline_windows")?;
    if baseline < 1 || p.int("k")? < 1 {
        return Err(Error::Usage(
            "k and baseline_windows must be at least 1".into(),
        ));
    }
    // Windows covering one row, and the input needed for the baseline of the first window.
    p.insert("windows_per_row", Value::Int(size.div_ceil(slide) as i64));
    let start_us = p.int("start_us")?;
    let counts_from = start_us - baseline * slide as i64;
    p.insert("counts_from_us", Value::Int(counts_from));
    derive_read_from(
        p,
        Duration::from_micros((start_us - counts_from) as u64 + size as u64),
    )
}

/// `hashtags`: sliding-window hashtag counts, top k, trends and late rows.
pub const HASHTAGS: JobDef = JobDef {
    name: "hashtags",
    about: "hashtag counts, top k and trends per sliding event-time window (messages -> agg/hashtag_*)",
    defaults: hashtag_defaults,
    derive: hashtag_derive,
    data_params: &[(
        "watermark_us",
        "SELECT CAST(max(event_time) AS BIGINT) FROM messages",
    )],
    previous: &[(
        "hashtag_counts_{suffix}",
        "SELECT arrow_cast(0, 'Timestamp(µs, \"UTC\")') AS window_start, CAST(0 AS BIGINT) AS n, 'x' AS tag, \
         true AS final, CAST(0 AS BIGINT) AS late_rows, 'x' AS dt WHERE false",
    )],
    steps: &[
        step!("counts_raw", "hashtags/01_counts.sql", View),
        step!("counts", "hashtags/02_windows.sql", Materialize),
        step!(
            "hashtag_counts_{suffix}",
            "hashtags/03_hashtag_counts.sql",
            Output
        ),
        step!(
            "hashtag_late_{suffix}",
            "hashtags/04_hashtag_late.sql",
            Output
        ),
        step!(
            "hashtag_top_{suffix}",
            "hashtags/05_hashtag_top.sql",
            Output
        ),
        step!(
            "hashtag_trends_{suffix}",
            "hashtags/06_hashtag_trends.sql",
            Output
        ),
    ],
    suffix: |p| format!("{}_{}", duration_name(p, "size"), duration_name(p, "slide")),
};

fn category_defaults() -> Params {
    let mut p = Params::default();
    p.insert("window", Value::Duration(Duration::from_secs(30 * 60)));
    p.insert("sample", Value::Duration(Duration::from_secs(5 * 60)));
    p.insert("top_channels", Value::Int(5));
    p
}

fn category_derive(p: &mut Params) -> Result<()> {
    let w = dur(p, "window")?;
    dur(p, "sample")?;
    if 86_400_000_000 % w != 0 {
        return Err(Error::Usage(
            "the window must divide a day (e.g. 30m, 1h, 1d)".into(),
        ));
    }
    Ok(())
}

/// `categories`: per-window category statistics, top channels and the hourly heatmap cells.
pub const CATEGORIES: JobDef = JobDef {
    name: "categories",
    about: "viewers, channels, shares and top channels per category and window (categories, streams -> agg/category_*)",
    defaults: category_defaults,
    derive: category_derive,
    data_params: &[],
    previous: &[],
    steps: &[
        step!("cat_snapshots", "categories/01_snapshots.sql", View),
        step!(
            "category_stats_{suffix}",
            "categories/02_category_stats.sql",
            Output
        ),
        step!(
            "category_top_channels_{suffix}",
            "categories/03_category_top_channels.sql",
            Output
        ),
        step!(
            "category_hourly",
            "categories/04_category_hourly.sql",
            Output
        ),
    ],
    suffix: |p| duration_name(p, "window"),
};

fn channel_defaults() -> Params {
    let mut p = Params::default();
    p.insert("sample", Value::Duration(Duration::from_secs(5 * 60)));
    p.insert("gap", Value::Duration(Duration::from_secs(30 * 60)));
    p.insert(
        "follower_lookback",
        Value::Duration(Duration::from_secs(7 * 86_400)),
    );
    p
}

fn channel_derive(p: &mut Params) -> Result<()> {
    dur(p, "sample")?;
    dur(p, "gap")?;
    let lb = p.duration("follower_lookback")?;
    derive_read_from(p, lb)
}

/// `channels`: per channel and day, TwitchTracker's figures, categories and schedule cells.
pub const CHANNELS: JobDef = JobDef {
    name: "channels",
    about: "hours watched, average and peak viewers, airtime, streams, categories and followers per channel and day",
    defaults: channel_defaults,
    derive: channel_derive,
    data_params: &[],
    previous: &[],
    steps: &[
        step!("live", "channels/01_live.sql", View),
        step!("channel_daily", "channels/02_channel_daily.sql", Output),
        step!(
            "channel_categories",
            "channels/03_channel_categories.sql",
            Output
        ),
        step!("channel_hourly", "channels/04_channel_hourly.sql", Output),
    ],
    suffix: |_| String::new(),
};

/// Every windowed job.
pub const ALL: [&JobDef; 3] = [&HASHTAGS, &CATEGORIES, &CHANNELS];

/// A job by name.
pub fn by_name(name: &str) -> Option<&'static JobDef> {
    ALL.into_iter().find(|j| j.name == name)
}
