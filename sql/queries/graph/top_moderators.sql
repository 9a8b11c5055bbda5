-- Users by the number of channels that gave them the MODERATOR badge.
-- params: limit:int[1..1000]=10
SELECT substr(src, 6) AS "user", count(DISTINCT dst) AS channels
FROM graph_edges WHERE dt = latest_dt('graph_edges') AND type = 'MODERATOR'
GROUP BY src ORDER BY channels DESC, "user" LIMIT $1
