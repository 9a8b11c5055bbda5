-- Nodes of the latest graph, per label and in all.
-- params:
SELECT COALESCE(label, 'all') AS label, count(*) AS nodes
FROM graph_nodes WHERE dt = latest_dt('graph_nodes')
GROUP BY ROLLUP (label) ORDER BY label = 'all', label
