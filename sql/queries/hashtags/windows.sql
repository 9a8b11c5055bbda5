-- The windows of the hashtags job (size, slide) over the days from..to (inclusive; default the
-- latest day), for the time slider.
-- params: size:duration=1h, slide:duration=10m, from:date=, to:date=
WITH d AS (SELECT max(dt) AS last FROM hashtag_top_{size}_{slide})
SELECT window_start, window_end, count(*) AS tags, max(n) AS top_n
FROM hashtag_top_{size}_{slide}, d
WHERE dt >= coalesce($3, d.last) AND dt <= coalesce($4, $3, d.last)
GROUP BY window_start, window_end ORDER BY window_start
