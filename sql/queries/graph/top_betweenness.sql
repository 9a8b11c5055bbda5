-- The seed's betweenness view: the streams and users with the highest betweenness centrality
-- of the latest run over the Twitch graph (`pulse run betweenness --date D`).
-- params: limit:int[1..1000]=50
SELECT n.label, n.name, b.score
FROM betweenness b JOIN graph_nodes n ON n.id = b.node AND n.dt = b.dt
WHERE b.dt = latest_dt('betweenness') AND n.label IN ('Stream', 'User')
ORDER BY b.score DESC, n.name LIMIT $1
