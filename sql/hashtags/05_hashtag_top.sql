-- Output hashtag_top_<size>_<slide>: the top k tags of each window, ranked by count, ties broken by tag so
-- results are deterministic.
SELECT window_start, window_end, rank, tag, n, final, dt
FROM (
  SELECT window_start, window_end, tag, n, final, dt,
         row_number() OVER (PARTITION BY ws ORDER BY n DESC, tag) AS rank
  FROM counts
  WHERE ws >= {{start_us}}
)
WHERE rank <= {{k}}
