-- Output graph_nodes: every node of graph_edges plus every stream of the interval, with its
-- label (Stream, User, Game, Language, Team), name, and a stream's followers and total views.
WITH ids AS (
  SELECT src AS id FROM graph_edges WHERE dt = {{last_date}}
  UNION SELECT dst FROM graph_edges WHERE dt = {{last_date}}
  UNION SELECT 'stream:' || login FROM graph_streams
)
SELECT {{last_date}} AS dt, ids.id,
       CASE split_part(ids.id, ':', 1)
         WHEN 'stream' THEN 'Stream' WHEN 'user' THEN 'User' WHEN 'game' THEN 'Game'
         WHEN 'language' THEN 'Language' ELSE 'Team' END AS label,
       substr(ids.id, strpos(ids.id, ':') + 1) AS name,
       s.followers, s.total_views
FROM ids LEFT JOIN graph_streams s ON ids.id = 'stream:' || s.login
