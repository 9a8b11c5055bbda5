-- A channel's TwitchTracker figures over the days from..to (inclusive), or the last `days` days
-- up to `to` (default the latest day): average viewers (hours watched / hours streamed), peak
-- viewers, hours watched, hours streamed, followers gained, streams and days live.
-- params: channel:text, from:date=, to:date=, days:int[1..3650]=30
WITH span AS (
  SELECT coalesce($2, to_char(CAST(coalesce($3, latest_dt('channel_daily')) AS DATE)
                              - CAST(($4 - 1) || ' days' AS INTERVAL), '%Y-%m-%d')) AS from_dt,
         coalesce($3, latest_dt('channel_daily')) AS to_dt
),
c AS (
  SELECT * FROM channel_daily
  WHERE channel_login = lower($1)
    AND dt >= coalesce($2, to_char(CAST(coalesce($3, latest_dt('channel_daily')) AS DATE)
                                   - CAST(($4 - 1) || ' days' AS INTERVAL), '%Y-%m-%d'))
    AND dt <= coalesce($3, latest_dt('channel_daily'))
)
SELECT min(span.from_dt) AS from_date, min(span.to_dt) AS to_date,
       CASE WHEN sum(c.airtime_hours) > 0 THEN sum(c.hours_watched) / sum(c.airtime_hours) END AS avg_viewers,
       max(c.peak_viewers) AS peak_viewers, sum(c.hours_watched) AS hours_watched,
       sum(c.airtime_hours) AS hours_streamed, sum(c.follower_change) AS followers_gained,
       max(c.followers) AS followers, sum(c.streams) AS streams, count(DISTINCT c.dt) AS days_live
FROM span LEFT JOIN c ON true
HAVING count(c.dt) > 0
