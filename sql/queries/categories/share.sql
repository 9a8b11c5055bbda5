-- Each category's share of hours watched per window over the days from..to (inclusive;
-- default every day): the share-over-time chart.
-- params: window:duration=1d, from:date=, to:date=
SELECT window_start, category_name, hours_watched, hours_watched_share AS share, avg_viewers, rank
FROM category_stats_{window}
WHERE ($2 IS NULL OR dt >= $2) AND ($3 IS NULL OR dt <= $3)
ORDER BY window_start, rank
