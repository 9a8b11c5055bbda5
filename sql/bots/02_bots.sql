-- Output bots: per day, the viewers present in at least min_channels chats in one snapshot,
-- with the evidence: the most chats at once, snapshots seen, snapshots over the threshold,
-- and the first of those.
WITH per_snap AS (
  SELECT p.dt, p.viewer_login, p.snapshot_time, count(DISTINCT p.channel_login) AS channels
  FROM presence p JOIN bot_candidates c ON c.viewer_login = p.viewer_login
  WHERE p.dt >= {{start_date}} AND p.dt <= {{last_date}}
    AND p.snapshot_time >= {{start}} AND p.snapshot_time < {{end}}
  GROUP BY p.dt, p.viewer_login, p.snapshot_time
)
SELECT dt, viewer_login,
       max(channels) AS max_channels,
       count(*) AS snapshots_seen,
       sum(CASE WHEN channels >= {{min_channels}} THEN 1 ELSE 0 END) AS snapshots_flagged,
       min(CASE WHEN channels >= {{min_channels}} THEN snapshot_time END) AS first_flagged
FROM per_snap
GROUP BY dt, viewer_login
HAVING max(channels) >= {{min_channels}}
