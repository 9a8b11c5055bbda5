-- Streamers by total_views.
-- params: limit:int[1..1000]=10
SELECT name AS streamer, total_views
FROM graph_nodes WHERE dt = latest_dt('graph_nodes') AND label = 'Stream' AND total_views IS NOT NULL
ORDER BY total_views DESC, streamer LIMIT $1
