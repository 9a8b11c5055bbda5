-- The games (categories) a channel played over the days from..to (inclusive), or the last
-- `days` days up to `to` (default the latest day), with their share of its stream time.
-- params: channel:text, from:date=, to:date=, days:int[1..3650]=30
WITH last AS (SELECT max(dt) AS d FROM channel_daily),
     span AS (
       SELECT to_char(CAST(coalesce($2, $3, last.d) AS DATE) - CAST(($4 - 1) || ' days' AS INTERVAL), '%Y-%m-%d') AS from_dt,
              coalesce($3, last.d) AS to_dt
       FROM last
     ),
     g AS (
       SELECT c.category_name, sum(c.airtime_hours) AS hours_streamed
       FROM channel_categories c, span
       WHERE c.channel_login = lower($1) AND c.dt >= span.from_dt AND c.dt <= span.to_dt
       GROUP BY c.category_name
     )
SELECT category_name, hours_streamed, hours_streamed / sum(hours_streamed) OVER () AS share
FROM g ORDER BY hours_streamed DESC, category_name
