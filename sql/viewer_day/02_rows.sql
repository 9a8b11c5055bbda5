-- Presence rows with the previous snapshot time of the same viewer in the same chat that day
-- (NULL for the first). A row whose time equals the previous one was landed twice.
SELECT dt, viewer_login, channel_login, snapshot_time, t,
       lag(t) OVER (PARTITION BY dt, viewer_login, channel_login ORDER BY t) AS prev_t
FROM vd_presence
