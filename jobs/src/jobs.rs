//! Pulse's SQL jobs: the windowed ones, hashtags (seeds 001 and 004), categories (seed 003 and
//! SullyGnome) and channels (TwitchTracker), and TwitchProfiler's daily viewer pipeline
//! (seed 002): viewer-day, bots, profiles (incremental, or rebuilt from history) and
//! pipeline-stats; and the network graph of seed 000. Each is steps of SQL under `sql/<job>/` run by the
//! [`runner`](crate::runner); this file only names the steps and the parameters. (`verify`,
//! which must not share code with viewer-day, is in [`crate::verify`].)

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

pub use pulse_lake::schema::duration_text;

/// A duration parameter as it appears in output names (see [`duration_text`]).
fn duration_name(p: &Params, name: &str) -> String {
    p.duration(name).map(duration_text).unwrap_or_default()
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
    check: no_check,
    daily: false,
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
    check: no_check,
    daily: false,
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
    check: no_check,
    daily: false,
};

fn no_check(_: &Params) -> Result<()> {
    Ok(())
}

fn no_suffix(_: &Params) -> String {
    String::new()
}

fn viewer_day_defaults() -> Params {
    let mut p = Params::default();
    p.insert("sample", Value::Duration(Duration::from_secs(5 * 60)));
    p
}

fn viewer_day_derive(p: &mut Params) -> Result<()> {
    dur(p, "sample")?;
    Ok(())
}

/// `viewer-day`: TwitchProfiler's day processor, per viewer and day.
pub const VIEWER_DAY: JobDef = JobDef {
    name: "viewer-day",
    about: "minutes, first/last seen and sessions per viewer and channel, minutes per hour and per category (presence, streams -> agg/viewer_*_day)",
    defaults: viewer_day_defaults,
    derive: viewer_day_derive,
    data_params: &[],
    previous: &[],
    steps: &[
        step!("vd_presence", "viewer_day/01_presence.sql", View),
        step!("vd_rows", "viewer_day/02_rows.sql", View),
        step!(
            "viewer_channel_day",
            "viewer_day/03_viewer_channel_day.sql",
            Output
        ),
        step!(
            "viewer_hour_day",
            "viewer_day/04_viewer_hour_day.sql",
            Output
        ),
        step!(
            "viewer_category_day",
            "viewer_day/05_viewer_category_day.sql",
            Output
        ),
    ],
    suffix: no_suffix,
    check: no_check,
    daily: false,
};

fn bots_defaults() -> Params {
    let mut p = Params::default();
    p.insert("min_channels", Value::Int(10));
    p
}

fn bots_derive(p: &mut Params) -> Result<()> {
    if p.int("min_channels")? < 2 {
        return Err(Error::Usage("min_channels must be at least 2".into()));
    }
    Ok(())
}

/// The hand-kept overrides of the ban list (`ref/bot_overrides.csv`), empty when absent.
const BOT_OVERRIDES_EMPTY: (&str, &str) = (
    "bot_overrides",
    "SELECT 'x' AS viewer_login, 'x' AS action, 'x' AS note WHERE false",
);
const BOT_LIST_EMPTY: (&str, &str) = (
    "bot_list",
    "SELECT 'x' AS viewer_login, 'x' AS reason, 'x' AS first_detected, CAST(0 AS BIGINT) AS max_channels, \
     'x' AS note, 'x' AS dt WHERE false",
);

/// `bots`: viewers in too many chats at once, and the ban list.
pub const BOTS: JobDef = JobDef {
    name: "bots",
    about: "viewers present in at least min_channels chats in one snapshot, and the ban list in force (viewer_channel_day, presence, ref/bot_overrides.csv -> agg/bots, agg/bot_list)",
    defaults: bots_defaults,
    derive: bots_derive,
    data_params: &[],
    previous: &[BOT_OVERRIDES_EMPTY],
    steps: &[
        step!("bot_candidates", "bots/01_candidates.sql", View),
        step!("bots", "bots/02_bots.sql", Output),
        step!("bot_list", "bots/03_bot_list.sql", Output),
    ],
    suffix: no_suffix,
    check: no_check,
    daily: false,
};

fn profile_defaults() -> Params {
    let mut p = Params::default();
    p.insert("workday_span", Value::Int(20));
    p.insert("weekend_span", Value::Int(8));
    p.insert("recent_span", Value::Int(28));
    p
}

fn profile_derive(p: &mut Params) -> Result<()> {
    // alpha = 2 / (span + 1): the weight of the newest day in an exponential moving average
    // whose "center of mass" is as old as a simple average over `span` days.
    for kind in ["workday", "weekend", "recent"] {
        let span = p.int(&format!("{kind}_span"))?;
        if span < 1 {
            return Err(Error::Usage(format!("{kind}_span must be at least 1")));
        }
        p.insert(
            &format!("{kind}_alpha"),
            Value::Float(2.0 / (span as f64 + 1.0)),
        );
    }
    Ok(())
}

fn profile_incremental_derive(p: &mut Params) -> Result<()> {
    profile_derive(p)?;
    let day = p.time("start")?.date_naive();
    p.insert("history_from", Value::Date(day));
    Ok(())
}

fn profile_rebuild_derive(p: &mut Params) -> Result<()> {
    profile_derive(p)?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    p.insert("history_from", Value::Date(epoch));
    Ok(())
}

fn profile_check(p: &Params) -> Result<()> {
    let missed = p.int("missed_days")?;
    if missed > 0 {
        return Err(Error::Usage(format!(
            "profiles for {} continue the stored profiles of the day before, but {missed} earlier \
             day(s) of viewer-day are not in them: run profiles for those days first, or \
             `pulse run profiles-rebuild --date {}`",
            p.time("start")?.date_naive(),
            p.time("start")?.date_naive(),
        )));
    }
    Ok(())
}

const PROFILE_SCORES_EMPTY: (&str, &str) = (
    "profile_scores",
    "SELECT 'x' AS viewer_login, 'x' AS kind, 'x' AS item, 0.0 AS score, 0.0 AS decay, \
     'x' AS day_kind, CAST('1970-01-01' AS DATE) AS last_seen, 'x' AS dt WHERE false",
);

/// `profiles`: TwitchProfiler's viewer analyser, one day at a time on top of the stored
/// profiles of the day before.
pub const PROFILES: JobDef = JobDef {
    name: "profiles",
    about: "workday/weekend schedules and favourite streamers and games per viewer, updated for the viewers seen on each day (viewer_*_day, bot_list -> agg/profile_scores)",
    defaults: profile_defaults,
    derive: profile_incremental_derive,
    data_params: &[(
        "missed_days",
        "SELECT count(DISTINCT dt) FROM viewer_channel_day WHERE dt < {{last_date}} \
         AND dt > COALESCE((SELECT max(dt) FROM profile_scores WHERE dt < {{last_date}}), '')",
    )],
    previous: &[PROFILE_SCORES_EMPTY, BOT_LIST_EMPTY],
    steps: &[
        step!("profile_kinds", "profiles/01_kinds.sql", View),
        step!("profile_observed", "profiles/02_observed.sql", View),
        step!("profile_scores", "profiles/03_profile_scores.sql", Output),
    ],
    suffix: no_suffix,
    check: profile_check,
    daily: true,
};

/// `profiles-rebuild`: every viewer's profile as of a day, from the whole viewer-day history.
pub const PROFILES_REBUILD: JobDef = JobDef {
    name: "profiles-rebuild",
    about: "every viewer's profile as of each day, recomputed from all viewer-day history (viewer_*_day, bot_list -> agg/profile_scores)",
    defaults: profile_defaults,
    derive: profile_rebuild_derive,
    data_params: &[],
    previous: &[PROFILE_SCORES_EMPTY, BOT_LIST_EMPTY],
    steps: &[
        step!("profile_kinds", "profiles/01_kinds.sql", View),
        step!("profile_observed", "profiles/02_observed.sql", View),
        step!(
            "profile_scores",
            "profiles/03_profile_scores_rebuild.sql",
            Output
        ),
    ],
    suffix: no_suffix,
    check: no_check,
    daily: true,
};

const VIEWER_CHANNEL_DAY_EMPTY: (&str, &str) = (
    "viewer_channel_day",
    "SELECT 'x' AS viewer_login, 'x' AS channel_login, 'x' AS dt WHERE false",
);

/// `pipeline-stats`: the daily pipeline's own figures, from the run history.
pub const PIPELINE_STATS: JobDef = JobDef {
    name: "pipeline-stats",
    about: "per day: viewers tracked, and rows read/written and wall time of each job's latest run (runs, viewer_channel_day -> agg/pipeline_stats)",
    defaults: Params::default,
    derive: |_| Ok(()),
    data_params: &[],
    previous: &[VIEWER_CHANNEL_DAY_EMPTY],
    steps: &[step!(
        "pipeline_stats",
        "pipeline_stats/01_pipeline_stats.sql",
        Output
    )],
    suffix: no_suffix,
    check: no_check,
    daily: false,
};

fn graph_defaults() -> Params {
    let mut p = Params::default();
    p.insert("sample", Value::Duration(Duration::from_secs(5 * 60)));
    p
}

/// `graph`: the Twitch network (seed 000's Memgraph model) as node and edge tables.
pub const GRAPH: JobDef = JobDef {
    name: "graph",
    about: "the Twitch network of the interval as of its last day: streams, users, games, languages, teams and their links (channels, streams, vips, moderators, chatters, teams, presence -> agg/graph_nodes, agg/graph_edges)",
    defaults: graph_defaults,
    derive: |p| dur(p, "sample").map(|_| ()),
    data_params: &[],
    previous: &[],
    steps: &[
        // Materialized in smaller plans: one plan for all of it can hang on a cluster.
        step!("graph_streams", "graph/01_graph_streams.sql", Materialize),
        step!("graph_rel", "graph/02_graph_rel.sql", Materialize),
        step!("graph_seen", "graph/03_graph_seen.sql", Materialize),
        step!("graph_edges", "graph/04_graph_edges.sql", Output),
        step!("graph_nodes", "graph/05_graph_nodes.sql", Output),
    ],
    suffix: no_suffix,
    check: no_check,
    daily: false,
};

fn audience_defaults() -> Params {
    let mut p = Params::default();
    p.insert("min_shared", Value::Int(2));
    p
}

/// `audience-overlap`: channels sharing viewers over the interval, bots excluded.
pub const AUDIENCE_OVERLAP: JobDef = JobDef {
    name: "audience-overlap",
    about: "pairs of channels sharing at least min_shared (2) viewers over the interval, with the Jaccard index; bots on the last day's ban list excluded (viewer_channel_day, bot_list -> agg/audience_overlap)",
    defaults: audience_defaults,
    derive: |p| {
        if p.int("min_shared")? < 1 {
            return Err(Error::Usage("min_shared must be at least 1".into()));
        }
        Ok(())
    },
    data_params: &[],
    previous: &[VIEWER_CHANNEL_DAY_EMPTY, BOT_LIST_EMPTY],
    steps: &[
        step!("audience", "audience/01_audience.sql", View),
        step!(
            "audience_overlap",
            "audience/02_audience_overlap.sql",
            Output
        ),
    ],
    suffix: no_suffix,
    check: no_check,
    daily: false,
};

/// Every SQL job.
pub const ALL: [&JobDef; 10] = [
    &GRAPH,
    &AUDIENCE_OVERLAP,
    &PIPELINE_STATS,
    &HASHTAGS,
    &CATEGORIES,
    &CHANNELS,
    &VIEWER_DAY,
    &BOTS,
    &PROFILES,
    &PROFILES_REBUILD,
];

/// A job by name.
pub fn by_name(name: &str) -> Option<&'static JobDef> {
    ALL.into_iter().find(|j| j.name == name)
}
