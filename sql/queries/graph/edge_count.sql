-- Edges of the latest graph, per type and in all.
-- params:
SELECT COALESCE(type, 'all') AS type, count(*) AS edges
FROM graph_edges WHERE dt = latest_dt('graph_edges')
GROUP BY ROLLUP (type) ORDER BY type = 'all', type
