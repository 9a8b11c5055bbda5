//! Reading viewer profiles: the stored scores of `profile_scores` as of a date (each
//! (viewer, kind)'s latest row, decayed to that date by `sql/views/profiles_asof.sql`), and
//! one viewer's profile for `pulse profile`. Names are bound as parameters, never pasted
//! into SQL.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use chrono::NaiveDate;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::scalar::ScalarValue;

use crate::Result;

/// The profiles-as-of view; `$1` is the date (`'YYYY-MM-DD'`), `$2` its [`ban_day`].
pub const PROFILES_ASOF: &str = include_str!("../../sql/views/profiles_asof.sql");

/// Every viewer's scores as of `date`: viewer_login, kind, item, score, last_seen.
pub async fn scores_asof(ctx: &SessionContext, date: NaiveDate) -> Result<DataFrame> {
    let bans = ban_day(ctx, date).await?;
    scores_banned_by(ctx, date, bans).await
}

/// [`scores_asof`] with its [`ban_day`] already found.
async fn scores_banned_by(
    ctx: &SessionContext,
    date: NaiveDate,
    bans: Option<String>,
) -> Result<DataFrame> {
    Ok(ctx.sql(PROFILES_ASOF).await?.with_param_values(vec![
        ScalarValue::Utf8(Some(date.to_string())),
        ScalarValue::Utf8(bans),
    ])?)
}

/// The day of the ban list in force on `date`: the latest `bot_list` day up to it (`None`
/// when there is none). Given as a constant, a query reads that day's file alone; the
/// session's newest day (`latest_dt`) answers without opening a file when `date` is past it.
pub async fn ban_day(ctx: &SessionContext, date: NaiveDate) -> Result<Option<String>> {
    if !ctx.table_exist("bot_list")? {
        return Ok(None);
    }
    let day = date.to_string();
    let newest = ctx
        .sql("SELECT latest_dt('bot_list')")
        .await?
        .collect()
        .await?;
    if let Some(newest) = crate::scalar::first_string(&newest).filter(|n| *n <= day) {
        return Ok(Some(newest));
    }
    let b = ctx
        .sql("SELECT max(dt) FROM bot_list WHERE dt <= $1")
        .await?
        .with_param_values(vec![ScalarValue::Utf8(Some(day))])?
        .collect()
        .await?;
    Ok(crate::scalar::first_string(&b))
}

/// Why a viewer is on the ban list.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BotStatus {
    /// `detected` or `denied`.
    pub reason: String,
    /// The first day the viewer was detected, if detected.
    pub first_detected: Option<String>,
    /// The most chats the viewer sat in at once.
    pub max_channels: Option<i64>,
}

/// One viewer's profile as of a date.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Profile {
    /// The viewer.
    pub viewer: String,
    /// The date the scores are decayed to.
    pub as_of: String,
    /// The viewer's last day with viewing.
    pub last_seen: Option<String>,
    /// Workday schedule: the moving average of minutes watched in each UTC hour.
    pub workday: [f64; 24],
    /// Weekend schedule.
    pub weekend: [f64; 24],
    /// All-time minutes per streamer, largest first.
    pub streamers_total: Vec<(String, f64)>,
    /// Recent score per streamer, largest first.
    pub streamers_recent: Vec<(String, f64)>,
    /// All-time minutes per game, largest first.
    pub games_total: Vec<(String, f64)>,
    /// Recent score per game, largest first.
    pub games_recent: Vec<(String, f64)>,
    /// Set when the viewer is on the ban list (then the scores are empty).
    pub bot: Option<BotStatus>,
}

/// The latest date with stored profiles, if any.
pub async fn latest_date(ctx: &SessionContext) -> Result<Option<NaiveDate>> {
    if !ctx.table_exist("profile_scores")? {
        return Ok(None);
    }
    // The day the session registered (see `pulse_lake::latest`): no file is opened.
    let b = ctx
        .sql("SELECT latest_dt('profile_scores')")
        .await?
        .collect()
        .await?;
    Ok(
        crate::scalar::first_string(&b)
            .and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok()),
    )
}

/// `viewer`'s profile as of `date`; `None` when the lake knows nothing of the viewer.
pub async fn read(ctx: &SessionContext, viewer: &str, date: NaiveDate) -> Result<Option<Profile>> {
    // The ban list and the scores are independent questions: asked at once, both over the
    // one ban list day.
    let bans = ban_day(ctx, date).await?;
    let bot = async {
        let Some(day) = bans.clone() else {
            return Ok::<_, crate::Error>(None);
        };
        let b = ctx
            .sql(
                "SELECT reason, first_detected, max_channels FROM bot_list \
                 WHERE viewer_login = $1 AND dt = $2",
            )
            .await?
            .with_param_values(vec![
                ScalarValue::Utf8(Some(viewer.to_string())),
                ScalarValue::Utf8(Some(day)),
            ])?
            .collect()
            .await?;
        Ok(b.iter().find(|b| b.num_rows() > 0).map(|b| {
            let s = |i: usize| -> Option<String> {
                let a = arrow::compute::cast(b.column(i), &DataType::Utf8).ok()?;
                let a = a.as_string::<i32>();
                (!a.is_null(0)).then(|| a.value(0).to_string())
            };
            BotStatus {
                reason: s(0).unwrap_or_default(),
                first_detected: s(1),
                max_channels: s(2).and_then(|v| v.parse().ok()),
            }
        }))
    };
    let scores = async {
        if !ctx.table_exist("profile_scores")? {
            return Ok::<_, crate::Error>(Vec::new());
        }
        Ok(scores_banned_by(ctx, date, bans.clone())
            .await?
            .filter(datafusion::prelude::col("viewer_login").eq(datafusion::prelude::lit(viewer)))?
            .select_columns(&["kind", "item", "score", "last_seen"])?
            .collect()
            .await?)
    };
    let (bot, rows) = futures::try_join!(bot, scores)?;
    let mut p = Profile {
        viewer: viewer.to_string(),
        as_of: date.to_string(),
        bot,
        ..Default::default()
    };
    let mut any = false;
    for b in &rows {
        let kind = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let item = arrow::compute::cast(b.column(1), &DataType::Utf8)?;
        let score = arrow::compute::cast(b.column(2), &DataType::Float64)?;
        let seen = arrow::compute::cast(b.column(3), &DataType::Utf8)?;
        let (kind, item, score, seen) = (
            kind.as_string::<i32>(),
            item.as_string::<i32>(),
            score.as_primitive::<Float64Type>(),
            seen.as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            any = true;
            if !seen.is_null(i) {
                p.last_seen = Some(seen.value(i).to_string());
            }
            let (item, v) = (item.value(i).to_string(), score.value(i));
            match kind.value(i) {
                "workday" | "weekend" => {
                    let hour: usize = item.parse().unwrap_or(24);
                    let strip = if kind.value(i) == "workday" {
                        &mut p.workday
                    } else {
                        &mut p.weekend
                    };
                    if let Some(h) = strip.get_mut(hour) {
                        *h = v;
                    }
                }
                "streamer_total" => p.streamers_total.push((item, v)),
                "streamer_recent" => p.streamers_recent.push((item, v)),
                "game_total" => p.games_total.push((item, v)),
                "game_recent" => p.games_recent.push((item, v)),
                _ => {}
            }
        }
    }
    for list in [
        &mut p.streamers_total,
        &mut p.streamers_recent,
        &mut p.games_total,
        &mut p.games_recent,
    ] {
        list.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    Ok((any || p.bot.is_some()).then_some(p))
}
