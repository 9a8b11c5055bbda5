-- The games (categories) a channel played over the days from..to (inclusive), or the last
-- `days` days up to `to` (default the latest day), with their share of its stream time.
-- params: channel:text, from:date=, to:date=, days:int[1..3650]=30
WITH g AS (
  SELECT c.category_name, sum(c.airtime_hours) AS hours_streamed
  FROM channel_categories c
  WHERE c.channel_login = lower($1)
    AND c.dt >= coalesce($2, to_char(CAST(coalesce($3, latest_dt('channel_daily')) AS DATE)
                                     - CAST(($4 - 1) || ' days' AS INTERVAL), '%Y-%m-%d'))
    AND c.dt <= coalesce($3, latest_dt('channel_daily'))
  GROUP BY c.category_name
)
SELECT category_name, hours_streamed, hours_streamed / sum(hours_streamed) OVER () AS share
FROM g ORDER BY hours_streamed DESC, category_name
