-- One hashtag's count in every window (size, slide) over the days from..to (inclusive;
-- default the latest day). Tags are stored without '#', lower case.
-- params: tag:text, size:duration=1h, slide:duration=10m, from:date=, to:date=
WITH d AS (SELECT max(dt) AS last FROM hashtag_counts_{size}_{slide})
SELECT window_start, window_end, n
FROM hashtag_counts_{size}_{slide}, d
WHERE tag = lower(ltrim($1, '#')) AND dt >= coalesce($4, d.last) AND dt <= coalesce($5, $4, d.last)
ORDER BY window_start
