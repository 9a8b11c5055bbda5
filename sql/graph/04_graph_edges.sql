-- Output graph_edges: the network of the interval as of its last day (dt), one row per
-- (src, dst, type). Node ids are `<label>:<key>` (stream:, user:, game:, language:, team:).
--   stream -PLAYS-> game          weight = stream snapshots in that category
--   stream -SPEAKS-> language     weight 1
--   stream -IS_PART_OF-> team     weight 1
--   user -VIP-> / -MODERATOR-> stream   weight 1
--   user -CHATTER-> stream        weight = minutes seen in presence (sample x snapshots), or 1
--                                 when the viewer is only in a chatter list
WITH e AS (
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
  SELECT DISTINCT 'user:' || r.other, 'stream:' || s.login, r.type, 1.0
  FROM graph_rel r JOIN graph_streams s ON s.channel_id = r.channel_id WHERE r.type IN ('VIP', 'MODERATOR')
  UNION ALL
  SELECT 'user:' || COALESCE(c.other, p.viewer), 'stream:' || COALESCE(c.login, p.login), 'CHATTER',
         COALESCE(p.minutes, 1.0)
  FROM (SELECT DISTINCT r.other, s.login FROM graph_rel r JOIN graph_streams s ON s.channel_id = r.channel_id
        WHERE r.type = 'CHATTER') c
  FULL JOIN graph_seen p ON p.viewer = c.other AND p.login = c.login
)
SELECT {{last_date}} AS dt, src, dst, type, weight FROM e
