-- Channels whose audiences overlap most with a streamer's, from the latest `audience-overlap`
-- run (Jaccard index of their viewers). Unknown streamer: no rows.
-- params: streamer:text, limit:int[1..1000]=20
WITH o AS (SELECT * FROM audience_overlap WHERE dt = latest_dt('audience_overlap'))
SELECT CASE WHEN channel_a = lower($1) THEN channel_b ELSE channel_a END AS channel,
       shared, jaccard
FROM o WHERE channel_a = lower($1) OR channel_b = lower($1)
ORDER BY jaccard DESC, channel LIMIT $2
