-- Output viewer_channel_day: per day, viewer and channel, minutes watched (distinct snapshots
-- x the sampling interval; a snapshot landed twice counts once), first and last seen, and
-- watch sessions. A session is a run of snapshots at most 1.5 sampling intervals apart.
-- `watch()` sorts each group's own times (no sort of the day's rows). Days are independent:
-- a session crossing midnight counts on both days.
SELECT dt, viewer_login, channel_login,
       w['snapshots'] * {{sample}} / 60000000.0 AS minutes,
       first_seen, last_seen,
       w['sessions'] AS sessions
FROM (
  SELECT dt, viewer_login, channel_login, watch(t, {{sample}} * 3 / 2) AS w,
         min(snapshot_time) AS first_seen, max(snapshot_time) AS last_seen
  FROM vd_presence
  GROUP BY dt, viewer_login, channel_login
)
