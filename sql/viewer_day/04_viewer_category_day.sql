-- Output viewer_category_day: per day and viewer, the minutes spent on each category. A
-- presence snapshot takes the category of the channel's stream snapshot in the same
-- sampling interval (the latest one there); '(unknown)' when the channel has none. Minutes
-- add up over channels, so a viewer's categories sum to their channel minutes: each chat's
-- distinct snapshots count once (a snapshot landed twice is one).
WITH s AS (
  SELECT channel_login, date_bin(INTERVAL '{{sample}} microseconds', snapshot_time) AS bucket,
         last_value(category_name ORDER BY snapshot_time) AS category
  FROM streams
  WHERE dt >= {{start_date}} AND dt <= {{last_date}}
    AND snapshot_time >= {{start}} AND snapshot_time < {{end}}
  GROUP BY channel_login, date_bin(INTERVAL '{{sample}} microseconds', snapshot_time)
),
per_chat AS (
  SELECT p.dt, p.viewer_login, p.channel_login, COALESCE(s.category, '(unknown)') AS category,
         watch(p.t, 0)['snapshots'] AS snapshots
  FROM vd_presence p
  LEFT JOIN s ON s.channel_login = p.channel_login
             AND s.bucket = date_bin(INTERVAL '{{sample}} microseconds', p.snapshot_time)
  GROUP BY p.dt, p.viewer_login, p.channel_login, COALESCE(s.category, '(unknown)')
)
SELECT dt, viewer_login, category, sum(snapshots) * {{sample}} / 60000000.0 AS minutes
FROM per_chat
GROUP BY dt, viewer_login, category
