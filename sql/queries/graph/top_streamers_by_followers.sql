-- Streamers by followers.
-- params: limit:int[1..1000]=10
SELECT name AS streamer, followers
FROM graph_nodes WHERE dt = latest_dt('graph_nodes') AND label = 'Stream' AND followers IS NOT NULL
ORDER BY followers DESC, streamer LIMIT $1
