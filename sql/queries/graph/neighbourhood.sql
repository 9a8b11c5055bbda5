-- A streamer's links, both ways (the seed's D3 view of one streamer); `pulse graph
-- neighbourhood NAME` prints them as {"nodes": [...], "links": [...]}. Unknown: no rows.
-- params: streamer:text
WITH g AS (SELECT * FROM graph_edges WHERE dt = latest_dt('graph_edges'))
SELECT src AS source, dst AS target, type, weight FROM g
WHERE src = 'stream:' || lower($1) OR dst = 'stream:' || lower($1)
ORDER BY type, source, target
