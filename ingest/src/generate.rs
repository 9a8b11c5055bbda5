//! `pulse gen`: a seeded, believable Twitch + Twitter world, landed through the same
//! [`Lander`] as every ingest source.
//!
//! - Channels have power-law popularity, a main category, a language, and a regular daily
//!   schedule (start hour, duration), streaming most weekdays and fewer weekend days.
//! - Viewers have habits: one to three favourite channels (popular ones more likely; the
//!   first, their main channel, gets 70% of their sessions), an offset into the stream and a
//!   session length they keep, and their own weekday and weekend activity. The habits of the
//!   first viewers are written out (`gen/world-<seed>.json`) as the truth the profile jobs
//!   must recover.
//! - Bots sit in dozens of chats at once for most of the day.
//! - Tweets carry hashtags from a Zipf vocabulary, with bursts: each day two tags trend for
//!   an hour or two at twenty times their usual rate.
//!
//! Presence is built per hour straight into Arrow arrays, so a TwitchProfiler-scale day
//! (100 channels, about 900,000 viewers, 288 snapshots, about 20 million rows) fits in a few
//! hundred MB. The same seed gives the same world, byte for byte, on every machine.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use pulse_lake::land::Lander;
use pulse_lake::schema::RawTable;
use serde::Serialize;

use crate::records::{
    Buffers, CategoryRow, ChannelRow, MessageRow, Record, RelationRow, StreamRow,
};
use crate::rng::Rng;
use crate::{Error, Result};

/// The generator's knobs.
#[derive(Debug, Clone, Serialize)]
pub struct GenOptions {
    /// Seed of everything.
    pub seed: u64,
    /// First day (UTC).
    pub start: NaiveDate,
    /// Days to generate.
    pub days: u32,
    /// Channels.
    pub channels: usize,
    /// Viewer population (about 60% are active on a given day).
    pub viewers: usize,
    /// Bot accounts.
    pub bots: usize,
    /// Seconds between presence snapshots.
    pub snapshot_every_s: u32,
    /// Average tweets per second.
    pub tweets_per_sec: f64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            seed: 42,
            start: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default(),
            days: 1,
            channels: 20,
            viewers: 5_000,
            bots: 5,
            snapshot_every_s: 300,
            tweets_per_sec: 0.05,
        }
    }
}

/// What the generator wrote, and the truths it planted.
#[derive(Debug, Default, Clone, Serialize)]
pub struct GenReport {
    /// Rows per table.
    pub rows: std::collections::BTreeMap<String, u64>,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Distinct viewers (bots included) present per day.
    pub distinct_viewers_per_day: Vec<u64>,
    /// The bot accounts.
    pub bots: Vec<String>,
    /// Per day, the hashtags that burst and the hour they started (UTC).
    pub bursts: Vec<(String, String, u32)>,
    /// The habits of the first viewers (up to [`HABITS_WRITTEN`]).
    pub habits: Vec<Habit>,
}

/// How many viewers' habits the report and the world file carry.
pub const HABITS_WRITTEN: usize = 2_000;

/// A viewer's planted habit: when the main channel streams, the viewer joins `offset_min`
/// after its usual start and stays about `len_min` (both jittered by up to 20 minutes, and
/// the stream's start by up to 15 minutes either way).
#[derive(Debug, Clone, Serialize)]
pub struct Habit {
    /// The viewer's login.
    pub viewer: String,
    /// The channel that gets 70% of the viewer's sessions.
    pub main_channel: String,
    /// Minute of the UTC day the main channel usually starts.
    pub channel_start_min: u32,
    /// Minutes after the stream start the viewer usually joins.
    pub offset_min: u32,
    /// Minutes the viewer usually stays.
    pub len_min: u32,
    /// Chance of watching on a workday.
    pub weekday_p: f64,
    /// Chance of watching on a weekend day.
    pub weekend_p: f64,
}

const GAMES: [&str; 16] = [
    "Just Chatting",
    "League of Legends",
    "Grand Theft Auto V",
    "Valorant",
    "Counter-Strike",
    "Minecraft",
    "Fortnite",
    "World of Warcraft",
    "Dota 2",
    "Apex Legends",
    "Chess",
    "Hearthstone",
    "Rocket League",
    "Elden Ring",
    "Teamfight Tactics",
    "Music",
];
const LANGS: [&str; 7] = ["en", "en", "en", "fr", "de", "es", "pt"];
const TAGS: [&str; 24] = [
    "twitch",
    "gaming",
    "live",
    "esports",
    "valorant",
    "lol",
    "minecraft",
    "speedrun",
    "chess",
    "music",
    "gta",
    "fortnite",
    "ai",
    "rust",
    "streamer",
    "cosplay",
    "worlds",
    "irl",
    "retro",
    "indiegame",
    "pixelart",
    "community",
    "giveaway",
    "clips",
];
const SYL: [&str; 16] = [
    "ka", "zu", "mi", "ro", "ta", "ne", "lo", "vi", "sa", "ko", "ri", "do", "pe", "xa", "jo", "fu",
];

fn name(rng_seed: u64, kind: &str, i: usize) -> String {
    let mut r = Rng::derive(rng_seed, i as u64 ^ 0xA5A5);
    let mut s = String::new();
    for _ in 0..(2 + r.below(2)) {
        s.push_str(SYL[r.below(SYL.len() as u64) as usize]);
    }
    format!("{s}_{kind}{i}")
}

struct Channel {
    id: String,
    login: String,
    game: usize,
    lang: &'static str,
    start_min: u32,
    dur_min: u32,
    weekday_p: f64,
    weekend_p: f64,
    followers: i64,
    team: Option<usize>,
}

struct Viewer {
    favs: [u16; 3],
    nfav: u8,
    offset_min: u32,
    len_min: u32,
    weekday_p: f64,
    weekend_p: f64,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Generates the world into `lander`'s lake. `progress(done, total)` is called per hour.
pub async fn generate(
    lander: &Lander,
    o: &GenOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<GenReport> {
    if o.channels == 0
        || o.channels > u16::MAX as usize
        || o.snapshot_every_s == 0
        || 86_400 % o.snapshot_every_s != 0
    {
        return Err(Error::Usage(
            "need 1..65535 channels and a snapshot interval that divides a day".into(),
        ));
    }
    let mut rng = Rng::derive(o.seed, 1);
    let channels: Vec<Channel> = (0..o.channels)
        .map(|c| {
            let pop = 1.0 / (c as f64 + 1.0).powf(1.1);
            Channel {
                id: format!("{}", 40_000_000 + c),
                login: name(o.seed, "tv", c),
                game: rng.zipf(GAMES.len(), 1.0),
                lang: LANGS[rng.below(LANGS.len() as u64) as usize],
                // Most streams start in the afternoon or evening (UTC).
                start_min: ((11 + rng.below(12)) * 60 + rng.below(4) * 15) as u32,
                dur_min: (180 + rng.below(6) * 60) as u32,
                weekday_p: 0.75 + 0.2 * rng.f64(),
                weekend_p: 0.4 + 0.3 * rng.f64(),
                followers: (2_000_000.0 * pop) as i64 + rng.below(5_000) as i64,
                team: if rng.chance(0.4) {
                    Some(rng.below(4) as usize)
                } else {
                    None
                },
            }
        })
        .collect();
    let mut vr = Rng::derive(o.seed, 2);
    let viewers: Vec<Viewer> = (0..o.viewers)
        .map(|_| {
            let nfav = 1 + vr.below(3) as u8;
            let mut favs = [0u16; 3];
            for f in favs.iter_mut().take(nfav as usize) {
                *f = vr.zipf(o.channels, 1.1) as u16;
            }
            Viewer {
                favs,
                nfav,
                offset_min: vr.below(90) as u32,
                len_min: (30 + vr.below(150)) as u32,
                weekday_p: 0.3 + 0.6 * vr.f64(),
                weekend_p: 0.3 + 0.6 * vr.f64(),
            }
        })
        .collect();
    let viewer_names: Vec<String> = (0..o.viewers)
        .map(|v| name(o.seed ^ 0x77, "v", v))
        .collect();
    let bots: Vec<String> = (0..o.bots)
        .map(|b| format!("{}_bot", name(o.seed ^ 0xB0, "b", b)))
        .collect();
    let mut report = GenReport {
        bots: bots.clone(),
        habits: viewers
            .iter()
            .zip(&viewer_names)
            .take(HABITS_WRITTEN)
            .map(|(v, name)| Habit {
                viewer: name.clone(),
                main_channel: channels[v.favs[0] as usize].login.clone(),
                channel_start_min: channels[v.favs[0] as usize].start_min,
                offset_min: v.offset_min,
                len_min: v.len_min,
                weekday_p: v.weekday_p,
                weekend_p: v.weekend_p,
            })
            .collect(),
        ..Default::default()
    };
    let mut buf = Buffers::default();
    let snaps_per_day = 86_400 / o.snapshot_every_s;
    let snaps_per_hour = (3600 / o.snapshot_every_s).max(1);
    let total_hours = o.days as u64 * 24;

    // Dimensions and relations, observed at the start.
    let t_start = micros(o.start.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    let teams = ["nightowls", "pixelpact", "crewmates", "arena"];
    for (c, ch) in channels.iter().enumerate() {
        if let Some(t) = ch.team {
            buf.push(Record::Relation(
                RawTable::Teams,
                RelationRow {
                    observed_at: t_start,
                    channel_id: ch.id.clone(),
                    other: teams[t].into(),
                },
            ));
        }
        let mut r = Rng::derive(o.seed, 1000 + c as u64);
        for m in ["nightbot", "streamelements"]
            .iter()
            .take(1 + r.below(2) as usize)
        {
            buf.push(Record::Relation(
                RawTable::Moderators,
                RelationRow {
                    observed_at: t_start,
                    channel_id: ch.id.clone(),
                    other: m.to_string(),
                },
            ));
        }
        if !viewer_names.is_empty() {
            for _ in 0..(2 + r.below(4)) {
                let v = r.below(viewer_names.len() as u64) as usize;
                let table = if r.chance(0.5) {
                    RawTable::Vips
                } else {
                    RawTable::Moderators
                };
                buf.push(Record::Relation(
                    table,
                    RelationRow {
                        observed_at: t_start,
                        channel_id: ch.id.clone(),
                        other: viewer_names[v].clone(),
                    },
                ));
            }
        }
    }

    let mut trng = Rng::derive(o.seed, 3);
    for day in 0..o.days {
        let date = o.start + chrono::Days::new(day as u64);
        let day0 = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let mut dr = Rng::derive(o.seed, 10_000 + day as u64);
        // Which channels stream today, from which snapshot to which.
        let live: Vec<Option<(u32, u32)>> = channels
            .iter()
            .map(|ch| {
                let p = if weekend { ch.weekend_p } else { ch.weekday_p };
                if !dr.chance(p) {
                    return None;
                }
                let start = (ch.start_min + dr.below(31) as u32).saturating_sub(15) * 60
                    / o.snapshot_every_s;
                let end = (start + ch.dur_min * 60 / o.snapshot_every_s).min(snaps_per_day);
                Some((start, end))
            })
            .collect();
        for (c, ch) in channels.iter().enumerate() {
            buf.push(Record::Channel(ChannelRow {
                observed_at: micros(day0),
                channel_id: ch.id.clone(),
                login: ch.login.clone(),
                display_name: Some(ch.login.to_uppercase()),
                followers: Some(ch.followers + day as i64 * (ch.followers / 500 + 3)),
                total_views: Some(ch.followers * 40 + day as i64 * 1000),
                created_at: Some(micros(day0) - (c as i64 + 1) * 86_400_000_000 * 97),
                description: Some(format!(
                    "{} streams {} in {}",
                    ch.login, GAMES[ch.game], ch.lang
                )),
                language: Some(ch.lang.into()),
                team: ch.team.map(|t| teams[t].to_string()),
            }));
        }
        // Viewer sessions for the day, bucketed by hour: (snapshot, channel, viewer).
        let mut by_hour: Vec<Vec<(u16, u16, u32)>> = vec![Vec::new(); 24];
        let mut active = vec![false; o.viewers + o.bots];
        for (vi, v) in viewers.iter().enumerate() {
            let mut r = Rng::derive(o.seed ^ (day as u64) << 32, vi as u64);
            let p = if weekend { v.weekend_p } else { v.weekday_p };
            if !r.chance(p) {
                continue;
            }
            let sessions = if r.chance(0.25) { 2 } else { 1 };
            for _ in 0..sessions {
                let c = if r.chance(0.7) {
                    v.favs[0]
                } else {
                    v.favs[r.below(v.nfav as u64) as usize]
                } as usize;
                let Some((ls, le)) = live[c] else { continue };
                let jitter = r.below(21) as u32;
                let s = ls + (v.offset_min + jitter) * 60 / o.snapshot_every_s;
                let e = (s + (v.len_min + jitter) * 60 / o.snapshot_every_s).min(le);
                for snap in s..e {
                    by_hour[(snap / snaps_per_hour) as usize].push((
                        snap as u16,
                        c as u16,
                        vi as u32,
                    ));
                    active[vi] = true;
                }
            }
        }
        // Bots: in 20 to 40 live channels at once, for most of the day.
        for b in 0..o.bots {
            let mut r = Rng::derive(o.seed ^ 0xB07, (day as u64) << 20 | b as u64);
            let want = 20 + r.below(21) as usize;
            let from = r.below(snaps_per_day as u64 / 4) as u32;
            let to = snaps_per_day - r.below(snaps_per_day as u64 / 8) as u32;
            for snap in from..to {
                let mut n = 0;
                for (c, l) in live.iter().enumerate() {
                    if n >= want {
                        break;
                    }
                    if l.is_some_and(|(s, e)| snap >= s && snap < e) {
                        by_hour[(snap / snaps_per_hour) as usize].push((
                            snap as u16,
                            c as u16,
                            (o.viewers + b) as u32,
                        ));
                        active[o.viewers + b] = true;
                        n += 1;
                    }
                }
            }
        }
        report
            .distinct_viewers_per_day
            .push(active.iter().filter(|a| **a).count() as u64);
        // Hashtag bursts of the day.
        let burst_tags: Vec<(usize, u32)> = (0..2)
            .map(|_| {
                (
                    dr.below(TAGS.len() as u64) as usize,
                    8 + dr.below(12) as u32,
                )
            })
            .collect();
        for (t, h) in &burst_tags {
            report
                .bursts
                .push((date.to_string(), TAGS[*t].to_string(), *h));
        }
        for (hour, mut rows) in by_hour.into_iter().enumerate() {
            rows.sort_unstable();
            let n = rows.len();
            let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
            let mut cb = StringBuilder::with_capacity(n, n * 12);
            let mut vb = StringBuilder::with_capacity(n, n * 16);
            let mut counts: std::collections::BTreeMap<(u16, u16), i64> =
                std::collections::BTreeMap::new();
            for &(snap, c, v) in &rows {
                ts.append_value(micros(day0) + snap as i64 * o.snapshot_every_s as i64 * 1_000_000);
                cb.append_value(&channels[c as usize].login);
                let name = match viewer_names.get(v as usize) {
                    Some(n) => n.as_str(),
                    None => &bots[v as usize - o.viewers],
                };
                vb.append_value(name);
                *counts.entry((snap, c)).or_default() += 1;
            }
            let batch = RecordBatch::try_new(
                RawTable::Presence.schema(),
                vec![
                    Arc::new(ts.finish()),
                    Arc::new(cb.finish()),
                    Arc::new(vb.finish()),
                ],
            )?;
            let stem = format!("gen-{}-d{day}-h{hour:02}", o.seed);
            for l in lander.land(RawTable::Presence, &batch, &stem).await? {
                report.files += 1;
                report.bytes += l.bytes as u64;
            }
            *report.rows.entry("presence".into()).or_default() += n as u64;
            // Streams and categories of each snapshot in the hour.
            for snap in (hour as u32 * snaps_per_hour)..((hour as u32 + 1) * snaps_per_hour) {
                let t = micros(day0) + snap as i64 * o.snapshot_every_s as i64 * 1_000_000;
                let mut cats: std::collections::BTreeMap<usize, (i64, i64)> =
                    std::collections::BTreeMap::new();
                for (c, ch) in channels.iter().enumerate() {
                    let Some((s, e)) = live[c] else { continue };
                    if snap < s || snap >= e {
                        continue;
                    }
                    let chat = counts.get(&(snap as u16, c as u16)).copied().unwrap_or(0);
                    // Logged-out viewers are not in chat: about a third more watch.
                    let viewers = chat + chat / 3 + 1;
                    let game = if (snap - s) < 6 && ch.game != 0 {
                        0
                    } else {
                        ch.game
                    };
                    let e = cats.entry(game).or_default();
                    e.0 += viewers;
                    e.1 += 1;
                    buf.push(Record::Stream(StreamRow {
                        snapshot_time: t,
                        channel_id: ch.id.clone(),
                        channel_login: ch.login.clone(),
                        title: Some(format!("{} | day {} with chat", GAMES[game], day + 1)),
                        category_id: Some(format!("{}", 500 + game)),
                        category_name: Some(GAMES[game].into()),
                        language: Some(ch.lang.into()),
                        viewers: Some(viewers),
                        started_at: Some(
                            micros(day0) + s as i64 * o.snapshot_every_s as i64 * 1_000_000,
                        ),
                        tags: Some(vec![
                            ch.lang.to_uppercase(),
                            GAMES[game].split(' ').next().unwrap_or("").to_string(),
                        ]),
                    }));
                }
                let mut ranked: Vec<(usize, (i64, i64))> = cats.into_iter().collect();
                ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
                for (rank, (g, (v, n))) in ranked.into_iter().enumerate() {
                    buf.push(Record::Category(CategoryRow {
                        snapshot_time: t,
                        category_id: Some(format!("{}", 500 + g)),
                        category_name: GAMES[g].into(),
                        viewers: Some(v),
                        live_channels: Some(n),
                        rank: Some(rank as i64 + 1),
                    }));
                }
            }
            // Tweets of the hour.
            let expected = o.tweets_per_sec * 3600.0;
            let count =
                (expected.floor() as u64 + u64::from(trng.chance(expected.fract()))) as usize;
            let mut times: Vec<i64> = (0..count)
                .map(|_| trng.below(3_600_000_000) as i64)
                .collect();
            times.sort_unstable();
            for (k, off) in times.into_iter().enumerate() {
                let mut tags: Vec<&str> = Vec::new();
                for (t, h) in &burst_tags {
                    let in_burst =
                        *h as usize == hour || (*h as usize + 1 == hour && trng.chance(0.5));
                    if in_burst && trng.chance(0.6) {
                        tags.push(TAGS[*t]);
                    }
                }
                for _ in 0..trng.below(3) {
                    tags.push(TAGS[trng.zipf(TAGS.len(), 1.2)]);
                }
                let author = viewer_names
                    .get(trng.below(o.viewers.max(1) as u64) as usize)
                    .cloned();
                let text = format!(
                    "{} {}",
                    [
                        "watching now",
                        "what a play",
                        "gg",
                        "new video up",
                        "who is live?",
                        "hype"
                    ][trng.below(6) as usize],
                    tags.iter()
                        .map(|t| format!("#{t}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                buf.push(Record::Message(MessageRow {
                    event_time: micros(day0) + hour as i64 * 3_600_000_000 + off,
                    source: "twitter".into(),
                    message_id: Some(format!("{}{:02}{:06}", day, hour, k)),
                    channel: None,
                    author,
                    text: text.trim_end().to_string(),
                    language: Some("en".into()),
                }));
            }
            flush(
                lander,
                &mut buf,
                &format!("gen-{}-d{day}-h{hour:02}", o.seed),
                &mut report,
            )
            .await?;
            progress(day as u64 * 24 + hour as u64 + 1, total_hours);
        }
    }
    flush(
        lander,
        &mut buf,
        &format!("gen-{}-dims", o.seed),
        &mut report,
    )
    .await?;
    let world = serde_json::json!({
        "options": o,
        "bots": report.bots,
        "bursts": report.bursts,
        "habits": report.habits,
    });
    let path = lander.lake().path(&format!("gen/world-{}.json", o.seed));
    let body = serde_json::to_vec_pretty(&world).unwrap_or_default();
    use object_store::ObjectStoreExt;
    lander
        .lake()
        .store()
        .put(&path, body.into())
        .await
        .map_err(pulse_lake::Error::from)?;
    Ok(report)
}

async fn flush(
    lander: &Lander,
    buf: &mut Buffers,
    stem: &str,
    report: &mut GenReport,
) -> Result<()> {
    for (table, landed) in buf.land(lander, stem).await? {
        for l in landed {
            *report.rows.entry(table.name().into()).or_default() += l.rows as u64;
            report.files += 1;
            report.bytes += l.bytes as u64;
        }
    }
    buf.clear();
    Ok(())
}
