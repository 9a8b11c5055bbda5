-- Output viewer_hour_day: per day and viewer, minutes watched in each UTC hour that has any
-- (hours without viewing have no row: they are 0). A snapshot counts once however many chats
-- the viewer sits in at that time, so an hour holds at most 60 minutes: the distinct snapshot
-- times of the viewer in the hour.
SELECT dt, viewer_login, CAST(date_part('hour', snapshot_time) AS INT) AS hour,
       watch(t, 0)['snapshots'] * {{sample}} / 60000000.0 AS minutes
FROM vd_presence
GROUP BY dt, viewer_login, CAST(date_part('hour', snapshot_time) AS INT)
