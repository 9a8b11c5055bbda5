-- The windows of the hashtags job (size, slide) over the days from..to (inclusive; default the
-- latest day), for the time slider.
-- params: size:duration=1h, slide:duration=10m, from:date=, to:date=
SELECT window_start, window_end, count(*) AS tags, max(n) AS top_n
FROM hashtag_top_{size}_{slide}
WHERE dt >= coalesce($3, latest_dt('hashtag_top_{size}_{slide}'))
  AND dt <= coalesce($4, $3, latest_dt('hashtag_top_{size}_{slide}'))
GROUP BY window_start, window_end ORDER BY window_start
