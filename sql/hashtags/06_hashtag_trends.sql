-- Output hashtag_trends_<size>_<slide>: a tag trends in a window when its count is well above its baseline,
-- the mean count over the previous `baseline_windows` windows (missing windows count as 0).
-- score = (n - baseline) / sqrt(baseline + 1), a Poisson-style z-score; only tags with at
-- least `min_support` occurrences and a positive score are kept, so one tweet is no trend.
SELECT c.window_start, c.window_end, c.tag, c.n,
       CAST(COALESCE(sum(b.n), 0) AS DOUBLE) / {{baseline_windows}} AS baseline,
       (c.n - CAST(COALESCE(sum(b.n), 0) AS DOUBLE) / {{baseline_windows}})
         / sqrt(CAST(COALESCE(sum(b.n), 0) AS DOUBLE) / {{baseline_windows}} + 1) AS score,
       c.final, c.dt
FROM counts c
LEFT JOIN counts b
  ON b.tag = c.tag AND b.ws >= c.ws - {{baseline_windows}} * {{slide}} AND b.ws < c.ws
WHERE c.ws >= {{start_us}} AND c.n >= {{min_support}}
GROUP BY c.ws, c.window_start, c.window_end, c.tag, c.n, c.final, c.dt
HAVING (c.n - CAST(COALESCE(sum(b.n), 0) AS DOUBLE) / {{baseline_windows}}) > 0
