-- Channels by hours watched over the days from..to (inclusive), or the last `days` days up to
-- `to` (default the latest day); only those streaming in `language` (their latest profile)
-- or having played `category` in the span, when given.
-- params: language:text=, category:text=, from:date=, to:date=, days:int[1..3650]=30, limit:int[1..1000]=50
WITH lang AS (
  SELECT login, last_value(language ORDER BY observed_at) AS language FROM channels GROUP BY login
),
played AS (
  SELECT DISTINCT c.channel_login FROM channel_categories c
  WHERE c.category_name = $2
    AND c.dt >= coalesce($3, to_char(CAST(coalesce($4, latest_dt('channel_daily')) AS DATE)
                                     - CAST(($5 - 1) || ' days' AS INTERVAL), '%Y-%m-%d'))
    AND c.dt <= coalesce($4, latest_dt('channel_daily'))
),
d AS (
  SELECT c.channel_login, sum(c.hours_watched) AS hours_watched, sum(c.airtime_hours) AS hours_streamed,
         max(c.peak_viewers) AS peak_viewers, sum(c.follower_change) AS followers_gained
  FROM channel_daily c
  WHERE c.dt >= coalesce($3, to_char(CAST(coalesce($4, latest_dt('channel_daily')) AS DATE)
                                     - CAST(($5 - 1) || ' days' AS INTERVAL), '%Y-%m-%d'))
    AND c.dt <= coalesce($4, latest_dt('channel_daily'))
  GROUP BY c.channel_login
)
SELECT d.channel_login, lang.language, d.hours_watched, d.hours_streamed,
       CASE WHEN d.hours_streamed > 0 THEN d.hours_watched / d.hours_streamed END AS avg_viewers,
       d.peak_viewers, d.followers_gained
FROM d LEFT JOIN lang ON lang.login = d.channel_login
WHERE ($1 IS NULL OR lang.language = $1)
  AND ($2 IS NULL OR d.channel_login IN (SELECT channel_login FROM played))
ORDER BY d.hours_watched DESC, d.channel_login LIMIT $6
