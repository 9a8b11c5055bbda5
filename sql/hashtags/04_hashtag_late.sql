-- Output hashtag_late_<size>_<slide>: the side table of late rows, per window and tag.
SELECT window_start, window_end, tag, n, late_rows, dt
FROM hashtag_counts_{suffix}
WHERE late_rows > 0 AND dt >= {{start_date}} AND dt <= {{last_date}}
