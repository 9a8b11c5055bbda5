-- Output category_stats_<window>: per window and category, what SullyGnome shows. Averages
-- are over all snapshots taken in the window (a category absent from a snapshot had 0
-- viewers then); hours watched = sum of viewers x sample interval.
WITH per_window AS (SELECT ws, count(DISTINCT snapshot_time) AS snapshots FROM cat_snapshots GROUP BY ws),
per_cat AS (
  SELECT ws, category_name, sum(viewers) AS viewer_sum, max(viewers) AS peak_viewers,
         sum(live_channels) AS channel_sum
  FROM cat_snapshots GROUP BY ws, category_name
),
stats AS (
  SELECT c.ws, c.category_name, w.snapshots,
         CAST(c.viewer_sum AS DOUBLE) / w.snapshots AS avg_viewers, c.peak_viewers,
         CAST(c.channel_sum AS DOUBLE) / w.snapshots AS avg_channels,
         CAST(c.viewer_sum AS DOUBLE) * {{sample}} / 3600000000.0 AS hours_watched
  FROM per_cat c JOIN per_window w ON w.ws = c.ws
)
SELECT arrow_cast(ws, 'Timestamp(µs, "UTC")') AS window_start,
       arrow_cast(ws + {{window}}, 'Timestamp(µs, "UTC")') AS window_end,
       category_name, snapshots, avg_viewers, peak_viewers, avg_channels,
       CASE WHEN avg_channels > 0 THEN avg_viewers / avg_channels END AS viewers_per_channel,
       avg_viewers / sum(avg_viewers) OVER (PARTITION BY ws) AS viewer_share,
       hours_watched,
       hours_watched / sum(hours_watched) OVER (PARTITION BY ws) AS hours_watched_share,
       rank() OVER (PARTITION BY ws ORDER BY avg_viewers DESC) AS rank,
       to_char(arrow_cast(ws, 'Timestamp(µs, "UTC")'), '%Y-%m-%d') AS dt
FROM stats
