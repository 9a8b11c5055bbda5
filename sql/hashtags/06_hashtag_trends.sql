-- Output hashtag_trends_<size>_<slide>: a tag trends in a window when its count is well above
-- its baseline, the mean count over the previous `baseline_windows` windows (missing windows
-- count as 0). score = (n - baseline) / sqrt(baseline + 1), a Poisson-style z-score; only
-- tags with at least `min_support` occurrences and a positive score are kept, so one tweet
-- is no trend. The previous windows are found by an equi-join on (tag, ws - j * slide).
-- `prev_ws` is computed as a column first: DataFusion 55 drops a join condition like
-- `b.ws = c.ws - o.j * slide` whose one side mixes both inputs of a cross join.
WITH offsets AS (SELECT unnest(range(1, {{baseline_windows}} + 1)) AS j),
candidates AS (SELECT * FROM counts WHERE ws >= {{start_us}} AND n >= {{min_support}}),
targets AS (
  SELECT c.ws, c.tag, c.ws - o.j * {{slide}} AS prev_ws FROM candidates c CROSS JOIN offsets o
),
prior AS (
  SELECT t.ws, t.tag, sum(b.n) AS prior_sum
  FROM targets t JOIN counts b ON b.tag = t.tag AND b.ws = t.prev_ws
  GROUP BY t.ws, t.tag
),
scored AS (
  SELECT c.window_start, c.window_end, c.tag, c.n,
         CAST(COALESCE(p.prior_sum, 0) AS DOUBLE) / {{baseline_windows}} AS baseline, c.final, c.dt
  FROM candidates c LEFT JOIN prior p ON p.ws = c.ws AND p.tag = c.tag
)
SELECT window_start, window_end, tag, n, baseline, (n - baseline) / sqrt(baseline + 1) AS score, final, dt
FROM scored
WHERE n > baseline
