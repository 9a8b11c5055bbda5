-- Output graph_edges: the network of the interval as of its last day (dt), one row per
-- (src, dst, type). Node ids are `<label>:<key>` (stream:, user:, game:, language:, team:).
-- A person is one node: a VIP, moderator or chatter who streams in the interval is their
-- `stream:` node (Memgraph's :User:Stream), with its edges both ways.
--   stream -PLAYS-> game          weight = stream snapshots in that category
--   stream -SPEAKS-> language     weight 1
--   stream -IS_PART_OF-> team     weight 1
--   user|stream -VIP-> / -MODERATOR-> stream   weight 1
--   user|stream -CHATTER-> stream weight = minutes seen in presence (sample x snapshots), or 1
--                                 when the viewer is only in a chatter list
WITH streamer AS (SELECT DISTINCT lower(login) AS login FROM graph_streams),
e AS (
  SELECT 'stream:' || s.login AS src, 'game:' || st.category_name AS dst, 'PLAYS' AS type,
         CAST(count(*) AS DOUBLE) AS weight
  FROM streams st JOIN graph_streams s ON s.login = lower(st.channel_login)
  WHERE st.dt >= {{start_date}} AND st.dt <= {{last_date}}
    AND st.snapshot_time >= {{start}} AND st.snapshot_time < {{end}}
    AND st.category_name IS NOT NULL AND st.category_name <> ''
  GROUP BY s.login, st.category_name
  UNION ALL
  SELECT 'stream:' || login, 'language:' || language, 'SPEAKS', 1.0
  FROM graph_streams WHERE language IS NOT NULL AND language <> ''
  UNION ALL
  SELECT DISTINCT 'stream:' || s.login, 'team:' || r.other, 'IS_PART_OF', 1.0
  FROM graph_rel r JOIN graph_streams s ON s.channel_id = r.channel_id WHERE r.type = 'IS_PART_OF'
  UNION ALL
  SELECT DISTINCT COALESCE('stream:' || u.login, 'user:' || r.other), 'stream:' || s.login, r.type, 1.0
  FROM graph_rel r JOIN graph_streams s ON s.channel_id = r.channel_id
  LEFT JOIN streamer u ON u.login = r.other
  WHERE r.type IN ('VIP', 'MODERATOR')
  UNION ALL
  SELECT COALESCE('stream:' || u.login, 'user:' || x.who), 'stream:' || x.login, 'CHATTER', x.minutes
  FROM (
    SELECT COALESCE(c.other, p.viewer) AS who, COALESCE(c.login, p.login) AS login,
           COALESCE(p.minutes, 1.0) AS minutes
    FROM (SELECT DISTINCT r.other, s.login FROM graph_rel r JOIN graph_streams s ON s.channel_id = r.channel_id
          WHERE r.type = 'CHATTER') c
    FULL JOIN graph_seen p ON p.viewer = c.other AND p.login = c.login
  ) x
  LEFT JOIN streamer u ON u.login = x.who
)
SELECT {{last_date}} AS dt, src, dst, type, weight FROM e
