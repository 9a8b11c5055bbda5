-- Presence snapshots of the interval: who sat in which chat at each sampling time.
SELECT dt, snapshot_time, CAST(snapshot_time AS BIGINT) AS t, channel_login, viewer_login
FROM presence
WHERE dt >= {{start_date}} AND dt <= {{last_date}}
  AND snapshot_time >= {{start}} AND snapshot_time < {{end}}
