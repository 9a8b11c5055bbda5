-- When a channel is live: average minutes live per weekday x hour cell (weekday 0 = Sunday,
-- UTC hours) over the days from..to (inclusive), or the last `days` days up to `to` (default
-- the latest day), averaged over the days of each weekday in that span that have data.
-- params: channel:text, from:date=, to:date=, days:int[1..3650]=30
WITH days AS (
  SELECT CAST(date_part('dow', CAST(d.dt AS DATE)) AS INT) AS weekday, count(*) AS n
  FROM (
    SELECT DISTINCT c.dt FROM channel_daily c
    WHERE c.dt >= coalesce($2, to_char(CAST(coalesce($3, latest_dt('channel_daily')) AS DATE)
                                       - CAST(($4 - 1) || ' days' AS INTERVAL), '%Y-%m-%d'))
      AND c.dt <= coalesce($3, latest_dt('channel_daily'))
  ) d
  GROUP BY 1
)
SELECT h.weekday, h.hour, sum(h.minutes_live) / max(days.n) AS avg_minutes_live
FROM channel_hourly h JOIN days ON days.weekday = h.weekday
WHERE h.channel_login = lower($1)
  AND h.dt >= coalesce($2, to_char(CAST(coalesce($3, latest_dt('channel_daily')) AS DATE)
                                   - CAST(($4 - 1) || ' days' AS INTERVAL), '%Y-%m-%d'))
  AND h.dt <= coalesce($3, latest_dt('channel_daily'))
GROUP BY h.weekday, h.hour ORDER BY h.weekday, h.hour
