-- A channel's figures per day over the days from..to (inclusive), or the last `days` days up
-- to `to` (default the latest day): the channel page's charts.
-- params: channel:text, from:date=, to:date=, days:int[1..3650]=30
WITH last AS (SELECT max(dt) AS d FROM channel_daily),
     span AS (
       SELECT to_char(CAST(coalesce($2, $3, last.d) AS DATE) - CAST(($4 - 1) || ' days' AS INTERVAL), '%Y-%m-%d') AS from_dt,
              coalesce($3, last.d) AS to_dt
       FROM last
     )
SELECT c.dt, c.hours_watched, c.airtime_hours AS hours_streamed, c.avg_viewers, c.peak_viewers,
       c.streams, c.followers, c.follower_change
FROM channel_daily c, span
WHERE c.channel_login = lower($1) AND c.dt >= span.from_dt AND c.dt <= span.to_dt
ORDER BY c.dt
