-- Teams by the number of member streams.
-- params: limit:int[1..1000]=10
SELECT substr(dst, 6) AS team, count(DISTINCT src) AS members
FROM graph_edges WHERE dt = latest_dt('graph_edges') AND type = 'IS_PART_OF'
GROUP BY dst ORDER BY members DESC, team LIMIT $1
