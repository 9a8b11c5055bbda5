-- When a channel is live: average minutes live per weekday x hour cell (weekday 0 = Sunday,
-- UTC hours) over the days from..to (inclusive), or the last `days` days up to `to` (default
-- the latest day), averaged over the days of each weekday in that span that have data.
-- params: channel:text, from:date=, to:date=, days:int[1..3650]=30
WITH last AS (SELECT max(dt) AS d FROM channel_daily),
     span AS (
       SELECT to_char(CAST(coalesce($2, $3, last.d) AS DATE) - CAST(($4 - 1) || ' days' AS INTERVAL), '%Y-%m-%d') AS from_dt,
              coalesce($3, last.d) AS to_dt
       FROM last
     ),
     days AS (
       SELECT CAST(date_part('dow', CAST(d.dt AS DATE)) AS INT) AS weekday, count(*) AS n
       FROM (SELECT DISTINCT c.dt FROM channel_daily c, span WHERE c.dt >= span.from_dt AND c.dt <= span.to_dt) d
       GROUP BY 1
     )
SELECT h.weekday, h.hour, sum(h.minutes_live) / max(days.n) AS avg_minutes_live
FROM channel_hourly h JOIN days ON days.weekday = h.weekday, span
WHERE h.channel_login = lower($1) AND h.dt >= span.from_dt AND h.dt <= span.to_dt
GROUP BY h.weekday, h.hour ORDER BY h.weekday, h.hour
