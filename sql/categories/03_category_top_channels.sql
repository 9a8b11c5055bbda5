-- Output category_top_channels_<window>: the top channels within each category and window,
-- by average viewers over the window's snapshots; ties broken by channel.
WITH s AS (
  SELECT CAST(snapshot_time AS BIGINT) / {{window}} * {{window}} AS ws, snapshot_time,
         category_name, channel_login, COALESCE(viewers, 0) AS viewers
  FROM streams
  WHERE dt >= {{start_date}} AND dt <= {{last_date}}
    AND snapshot_time >= {{start}} AND snapshot_time < {{end}} AND category_name IS NOT NULL
),
per_window AS (SELECT ws, count(DISTINCT snapshot_time) AS snapshots FROM s GROUP BY ws),
per_channel AS (
  SELECT s.ws, category_name, channel_login, CAST(sum(viewers) AS DOUBLE) / max(w.snapshots) AS avg_viewers,
         max(viewers) AS peak_viewers
  FROM s JOIN per_window w ON w.ws = s.ws GROUP BY s.ws, category_name, channel_login
)
SELECT arrow_cast(ws, 'Timestamp(µs, "UTC")') AS window_start,
       arrow_cast(ws + {{window}}, 'Timestamp(µs, "UTC")') AS window_end,
       category_name, rank, channel_login, avg_viewers, peak_viewers,
       to_char(arrow_cast(ws, 'Timestamp(µs, "UTC")'), '%Y-%m-%d') AS dt
FROM (
  SELECT *, row_number() OVER (PARTITION BY ws, category_name ORDER BY avg_viewers DESC, channel_login) AS rank
  FROM per_channel
)
WHERE rank <= {{top_channels}}
