//! `pulse profile <viewer>`: a viewer's profile as a terminal page: the workday and weekend
//! schedules as 24-hour strips, favourite streamers and games (all time and recent), bot
//! status and the last day seen.

use anyhow::Context;
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use pulse_jobs::profile::{Profile, latest_date, read};

const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A 24-hour strip: each hour's value as a block scaled to the largest.
fn strip(hours: &[f64; 24]) -> String {
    let max = hours.iter().copied().fold(0.0, f64::max);
    hours
        .iter()
        .map(|v| {
            if max <= 0.0 {
                '·'
            } else {
                let i = (v / max * 8.0).round() as usize;
                if i == 0 { '·' } else { LEVELS[i.min(8)] }
            }
        })
        .collect()
}

fn peak(hours: &[f64; 24]) -> String {
    let (h, v) = hours
        .iter()
        .enumerate()
        .fold((0, 0.0), |a, (h, v)| if *v > a.1 { (h, *v) } else { a });
    if v > 0.0 {
        format!("peak {h:02}:00-{:02}:00 UTC, {v:.1} min", (h + 1) % 24)
    } else {
        "no viewing".into()
    }
}

fn top(list: &[(String, f64)], unit: &str) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .take(5)
        .map(|(k, v)| format!("{k} ({v:.1}{unit})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders a profile as text.
pub fn render(p: &Profile) -> String {
    let mut out = format!(
        "viewer {}   as of {}   last seen {}\n",
        p.viewer,
        p.as_of,
        p.last_seen.as_deref().unwrap_or("-")
    );
    match &p.bot {
        Some(b) => {
            out += &format!(
                "bot: yes ({}{}{}); left out of profiles\n",
                b.reason,
                b.first_detected
                    .as_ref()
                    .map(|d| format!(", first detected {d}"))
                    .unwrap_or_default(),
                b.max_channels
                    .map(|n| format!(", {n} chats at once"))
                    .unwrap_or_default()
            );
            return out;
        }
        None => out += "bot: no\n",
    }
    out += "               0     6     12    18   (UTC hour)\n";
    out += &format!(
        "workday       |{}|  {}\n",
        strip(&p.workday),
        peak(&p.workday)
    );
    out += &format!(
        "weekend       |{}|  {}\n",
        strip(&p.weekend),
        peak(&p.weekend)
    );
    out += &format!("streamers     {}\n", top(&p.streamers_total, " min"));
    out += &format!("  recently    {}\n", top(&p.streamers_recent, ""));
    out += &format!("games         {}\n", top(&p.games_total, " min"));
    out += &format!("  recently    {}\n", top(&p.games_recent, ""));
    out
}

/// Prints `viewer`'s profile as of `date` (default: the latest profile date).
pub async fn print(ctx: &SessionContext, viewer: &str, date: Option<&str>) -> anyhow::Result<()> {
    let date = match date {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .with_context(|| format!("--date {d:?} is not a date (YYYY-MM-DD)"))?,
        None => latest_date(ctx)
            .await?
            .context("no profiles in this lake yet: run `pulse run profiles` first")?,
    };
    match read(ctx, viewer, date).await? {
        Some(p) => {
            print!("{}", render(&p));
            Ok(())
        }
        None => {
            anyhow::bail!("no profile for viewer {viewer:?} as of {date}: not seen, or unknown")
        }
    }
}

/// `pulse profile`.
#[derive(clap::Args, Debug)]
pub struct ProfileArgs {
    /// The viewer's login.
    viewer: String,
    /// The date the profile is as of [default: the latest profile date].
    #[arg(long)]
    date: Option<String>,
}

/// `pulse profile`: prints a viewer's profile.
pub async fn command(e: &crate::engine::Engine, a: ProfileArgs) -> anyhow::Result<()> {
    let lake = e.lake()?;
    let registry = e.registry(&lake).await?;
    let ctx = e
        .query_session(&lake, &registry, Some(e.memory_limit))
        .await?;
    print(&ctx, &a.viewer, a.date.as_deref()).await
}
