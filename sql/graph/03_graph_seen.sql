-- Minutes each viewer was seen in each chat over the interval (presence snapshots x sample).
SELECT lower(viewer_login) AS viewer, lower(channel_login) AS login,
       count(DISTINCT snapshot_time) * {{sample}} / 60000000.0 AS minutes
FROM presence
WHERE dt >= {{start_date}} AND dt <= {{last_date}} AND snapshot_time >= {{start}} AND snapshot_time < {{end}}
GROUP BY lower(viewer_login), lower(channel_login)
