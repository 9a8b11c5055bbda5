-- Output category_hourly: average viewers and live channels per category in each UTC hour of
-- each day, with its weekday (0 = Sunday): the cells of the weekday x hour heatmaps
-- (sql/queries/categories/heatmap.sql).
WITH h AS (
  SELECT date_trunc('hour', snapshot_time) AS hour_start, snapshot_time, category_name, viewers,
         live_channels
  FROM cat_snapshots
),
per_hour AS (SELECT hour_start, count(DISTINCT snapshot_time) AS snapshots FROM h GROUP BY hour_start)
SELECT CAST(date_part('dow', h.hour_start) AS INT) AS weekday, CAST(date_part('hour', h.hour_start) AS INT) AS hour,
       category_name, CAST(sum(viewers) AS DOUBLE) / max(p.snapshots) AS avg_viewers,
       CAST(sum(live_channels) AS DOUBLE) / max(p.snapshots) AS avg_channels,
       to_char(h.hour_start, '%Y-%m-%d') AS dt
FROM h JOIN per_hour p ON p.hour_start = h.hour_start
GROUP BY h.hour_start, category_name
