-- Output hashtag_counts_<size>_<slide>: every tag of every window in the interval. Rows that
-- arrive after their window was final (late rows) are folded in when the interval is rerun, and counted
-- in late_rows (cumulative over reruns) instead of vanishing silently.
WITH prev AS (
  SELECT window_start, tag, n, final, late_rows FROM hashtag_counts_{suffix}
  WHERE dt >= {{start_date}} AND dt <= {{last_date}}
),
closed AS (SELECT DISTINCT window_start FROM prev WHERE final)
SELECT c.window_start, c.window_end, c.tag, c.n, c.final,
       COALESCE(p.late_rows, 0)
         + CASE WHEN w.window_start IS NOT NULL AND c.n > COALESCE(p.n, 0) THEN c.n - COALESCE(p.n, 0) ELSE 0 END
         AS late_rows,
       c.dt
FROM counts c
LEFT JOIN closed w ON w.window_start = c.window_start
LEFT JOIN prev p ON p.window_start = c.window_start AND p.tag = c.tag
WHERE c.ws >= {{start_us}}
