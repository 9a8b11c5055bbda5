-- Trending hashtags over the days from..to (inclusive; default the latest day): windows where
-- a tag rose most above its baseline (the mean of the windows before), strongest first.
-- params: size:duration=1h, slide:duration=10m, from:date=, to:date=, limit:int[1..1000]=20
WITH d AS (SELECT max(dt) AS last FROM hashtag_trends_{size}_{slide})
SELECT window_start, window_end, tag, n, baseline, score
FROM hashtag_trends_{size}_{slide}, d
WHERE dt >= coalesce($3, d.last) AND dt <= coalesce($4, $3, d.last)
ORDER BY score DESC, window_start, tag LIMIT $5
