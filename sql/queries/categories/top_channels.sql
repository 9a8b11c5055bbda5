-- A category's top channels over the days from..to (inclusive; default every day): how often
-- each was among its top channels of a window, and its average and peak viewers there.
-- params: category:text, window:duration=1d, from:date=, to:date=, limit:int[1..1000]=10
SELECT channel_login, count(*) AS windows, avg(avg_viewers) AS avg_viewers, max(peak_viewers) AS peak_viewers
FROM category_top_channels_{window}
WHERE category_name = $1 AND ($3 IS NULL OR dt >= $3) AND ($4 IS NULL OR dt <= $4)
GROUP BY channel_login ORDER BY avg_viewers DESC, channel_login LIMIT $5
