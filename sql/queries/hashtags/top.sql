-- The top k hashtags of each window (size, slide) over the days from..to (inclusive; default
-- the latest day), as the seeds' bar charts show them.
-- params: size:duration=1h, slide:duration=10m, k:int[1..100]=10, from:date=, to:date=
SELECT window_start, window_end, rank, tag, n, final
FROM hashtag_top_{size}_{slide}
WHERE rank <= $3
  AND dt >= coalesce($4, latest_dt('hashtag_top_{size}_{slide}'))
  AND dt <= coalesce($5, $4, latest_dt('hashtag_top_{size}_{slide}'))
ORDER BY window_start, rank
