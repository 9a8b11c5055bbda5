-- Streamers speaking a language (a code such as en).
-- params: language:text
SELECT substr(src, 8) AS streamer
FROM graph_edges WHERE dt = (SELECT max(dt) FROM graph_edges) AND type = 'SPEAKS' AND dst = 'language:' || $1
ORDER BY streamer
