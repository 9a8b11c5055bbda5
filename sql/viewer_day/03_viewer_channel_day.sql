-- Output viewer_channel_day: per day, viewer and channel, minutes watched (distinct snapshots
-- x the sampling interval), first and last seen, and watch sessions. A session is a run of
-- snapshots at most 1.5 sampling intervals apart. Days are independent: a session crossing
-- midnight counts on both days.
SELECT dt, viewer_login, channel_login,
       sum(CASE WHEN prev_t = t THEN 0 ELSE 1 END) * {{sample}} / 60000000.0 AS minutes,
       min(snapshot_time) AS first_seen,
       max(snapshot_time) AS last_seen,
       sum(CASE WHEN prev_t IS NULL OR t - prev_t > {{sample}} * 3 / 2 THEN 1 ELSE 0 END) AS sessions
FROM vd_rows
GROUP BY dt, viewer_login, channel_login
