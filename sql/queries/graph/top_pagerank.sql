-- The seed's PageRank view: the highest-ranked streams and users of the latest ranking of the
-- Twitch graph (`pulse run pagerank --date D`).
-- params: limit:int[1..1000]=50
SELECT n.label, n.name, p.rank
FROM pagerank p JOIN graph_nodes n ON n.id = p.node AND n.dt = p.dt
WHERE p.dt = latest_dt('pagerank') AND n.label IN ('Stream', 'User')
ORDER BY p.rank DESC, n.name LIMIT $1
