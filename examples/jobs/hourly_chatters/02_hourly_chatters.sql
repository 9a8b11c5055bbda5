-- Output hourly_chatters: per day, channel and UTC hour, the regulars seen in the chat.
SELECT p.dt, p.channel_login,
       CAST(date_part('hour', p.snapshot_time) AS INT) AS hour,
       count(DISTINCT p.viewer_login) AS chatters
FROM presence p
JOIN regulars r
  ON r.dt = p.dt AND r.viewer_login = p.viewer_login AND r.channel_login = p.channel_login
WHERE p.dt >= {{start_date}} AND p.dt <= {{last_date}}
  AND p.snapshot_time >= {{start}} AND p.snapshot_time < {{end}}
GROUP BY p.dt, p.channel_login, CAST(date_part('hour', p.snapshot_time) AS INT)
