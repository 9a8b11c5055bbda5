-- Categories by hours watched over the days from..to (inclusive; default every day), with
-- their share of all hours watched.
-- params: window:duration=1d, from:date=, to:date=, limit:int[1..1000]=50
WITH s AS (
  SELECT category_name, sum(hours_watched) AS hours_watched, max(peak_viewers) AS peak_viewers
  FROM category_stats_{window}
  WHERE ($2 IS NULL OR dt >= $2) AND ($3 IS NULL OR dt <= $3)
  GROUP BY category_name
)
SELECT category_name, hours_watched, hours_watched / sum(hours_watched) OVER () AS share, peak_viewers
FROM s ORDER BY hours_watched DESC, category_name LIMIT $4
