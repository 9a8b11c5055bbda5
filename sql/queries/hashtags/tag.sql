-- One hashtag's count in every window (size, slide) over the days from..to (inclusive;
-- default the latest day). Tags are stored without '#', lower case.
-- params: tag:text, size:duration=1h, slide:duration=10m, from:date=, to:date=
SELECT window_start, window_end, n
FROM hashtag_counts_{size}_{slide}
WHERE tag = lower(ltrim($1, '#'))
  AND dt >= coalesce($4, latest_dt('hashtag_counts_{size}_{slide}'))
  AND dt <= coalesce($5, $4, latest_dt('hashtag_counts_{size}_{slide}'))
ORDER BY window_start
