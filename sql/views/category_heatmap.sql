-- Weekday x hour heatmap of average viewers per category over every day computed
-- (weekday 0 = Sunday). Run with `pulse sql -f sql/views/category_heatmap.sql`.
SELECT category_name, weekday, hour, avg(avg_viewers) AS avg_viewers, count(*) AS days
FROM category_hourly
GROUP BY category_name, weekday, hour
ORDER BY category_name, weekday, hour;
