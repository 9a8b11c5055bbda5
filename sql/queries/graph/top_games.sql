-- Games by the number of streamers playing them.
-- params: limit:int[1..1000]=10
SELECT substr(dst, 6) AS game, count(DISTINCT src) AS streamers
FROM graph_edges WHERE dt = latest_dt('graph_edges') AND type = 'PLAYS'
GROUP BY dst ORDER BY streamers DESC, game LIMIT $1
