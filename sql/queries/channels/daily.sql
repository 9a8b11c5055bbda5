-- A channel's figures per day over the days from..to (inclusive), or the last `days` days up
-- to `to` (default the latest day): the channel page's charts.
-- params: channel:text, from:date=, to:date=, days:int[1..3650]=30
SELECT c.dt, c.hours_watched, c.airtime_hours AS hours_streamed, c.avg_viewers, c.peak_viewers,
       c.streams, c.followers, c.follower_change
FROM channel_daily c
WHERE c.channel_login = lower($1)
  AND c.dt >= coalesce($2, to_char(CAST(coalesce($3, latest_dt('channel_daily')) AS DATE)
                                   - CAST(($4 - 1) || ' days' AS INTERVAL), '%Y-%m-%d'))
  AND c.dt <= coalesce($3, latest_dt('channel_daily'))
ORDER BY c.dt
