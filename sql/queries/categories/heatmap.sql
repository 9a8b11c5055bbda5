-- Weekday x hour heatmap (weekday 0 = Sunday, UTC hours) of average viewers, live channels and
-- viewers per channel, for one category or (without it) all together, over the days from..to
-- (inclusive; default every day computed).
-- params: category:text=, from:date=, to:date=
WITH cells AS (
  SELECT dt, weekday, hour, sum(avg_viewers) AS viewers, sum(avg_channels) AS channels
  FROM category_hourly
  WHERE ($1 IS NULL OR category_name = $1) AND ($2 IS NULL OR dt >= $2) AND ($3 IS NULL OR dt <= $3)
  GROUP BY dt, weekday, hour
)
SELECT weekday, hour, avg(viewers) AS avg_viewers, avg(channels) AS avg_channels,
       CASE WHEN avg(channels) > 0 THEN avg(viewers) / avg(channels) END AS viewers_per_channel,
       count(*) AS days
FROM cells GROUP BY weekday, hour ORDER BY weekday, hour
