-- Streamers playing a game.
-- params: game:text
SELECT substr(src, 8) AS streamer, weight AS snapshots
FROM graph_edges WHERE dt = latest_dt('graph_edges') AND type = 'PLAYS' AND dst = 'game:' || $1
ORDER BY streamer
