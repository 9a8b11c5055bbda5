-- Output viewer_hour_day: per day and viewer, minutes watched in each UTC hour that has any
-- (hours without viewing have no row: they are 0). A snapshot counts once however many chats
-- the viewer sits in at that time, so an hour holds at most 60 minutes.
WITH o AS (
  SELECT dt, viewer_login, t,
         CAST(date_part('hour', snapshot_time) AS INT) AS hour,
         lag(t) OVER (PARTITION BY dt, viewer_login ORDER BY t) AS prev_t
  FROM vd_presence
)
SELECT dt, viewer_login, hour,
       sum(CASE WHEN prev_t = t THEN 0 ELSE 1 END) * {{sample}} / 60000000.0 AS minutes
FROM o
GROUP BY dt, viewer_login, hour
