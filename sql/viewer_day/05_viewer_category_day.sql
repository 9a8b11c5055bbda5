-- Output viewer_category_day: per day and viewer, the minutes spent on each category. A
-- presence snapshot takes the category of the channel's stream snapshot in the same
-- sampling interval (the latest one there); '(unknown)' when the channel has none. Minutes
-- add up over channels, so a viewer's categories sum to their channel minutes.
WITH s AS (
  SELECT channel_login, date_bin(INTERVAL '{{sample}} microseconds', snapshot_time) AS bucket,
         last_value(category_name ORDER BY snapshot_time) AS category
  FROM streams
  WHERE dt >= {{start_date}} AND dt <= {{last_date}}
    AND snapshot_time >= {{start}} AND snapshot_time < {{end}}
  GROUP BY channel_login, date_bin(INTERVAL '{{sample}} microseconds', snapshot_time)
),
p AS (
  SELECT dt, viewer_login, channel_login,
         date_bin(INTERVAL '{{sample}} microseconds', snapshot_time) AS bucket
  FROM vd_rows WHERE prev_t IS NULL OR prev_t <> t
)
SELECT p.dt, p.viewer_login, COALESCE(s.category, '(unknown)') AS category,
       count(*) * {{sample}} / 60000000.0 AS minutes
FROM p LEFT JOIN s ON s.channel_login = p.channel_login AND s.bucket = p.bucket
GROUP BY p.dt, p.viewer_login, COALESCE(s.category, '(unknown)')
