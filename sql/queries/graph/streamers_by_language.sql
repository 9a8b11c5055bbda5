-- Streamers speaking a language (a code such as en).
-- params: language:text
SELECT substr(src, 8) AS streamer
FROM graph_edges WHERE dt = latest_dt('graph_edges') AND type = 'SPEAKS' AND dst = 'language:' || $1
ORDER BY streamer
