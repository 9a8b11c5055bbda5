-- Trending hashtags over the days from..to (inclusive; default the latest day): windows where
-- a tag rose most above its baseline (the mean of the windows before), strongest first.
-- params: size:duration=1h, slide:duration=10m, from:date=, to:date=, limit:int[1..1000]=20
SELECT window_start, window_end, tag, n, baseline, score
FROM hashtag_trends_{size}_{slide}
WHERE dt >= coalesce($3, latest_dt('hashtag_trends_{size}_{slide}'))
  AND dt <= coalesce($4, $3, latest_dt('hashtag_trends_{size}_{slide}'))
ORDER BY score DESC, window_start, tag LIMIT $5
