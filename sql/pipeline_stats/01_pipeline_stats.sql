-- Output pipeline_stats: per day, what the seed's website charted: distinct viewers tracked
-- (in viewer-day's output) and, per job, the rows read and written and the wall time of its
-- latest successful run covering the day (from the run history, `runs`). A job's row is
-- missing when it has not run for the day; a run over several days reports its totals.
WITH days AS (
  SELECT to_char(d, '%Y-%m-%d') AS dt
  FROM unnest(generate_series(CAST({{start_date}} AS DATE), CAST({{last_date}} AS DATE), INTERVAL '1 day')) AS u(d)
),
r AS (
  SELECT days.dt, runs.job, runs.run_id, runs.rows_in, runs.rows_out, runs.duration_ms,
         row_number() OVER (PARTITION BY days.dt, runs.job ORDER BY runs.started_at DESC, runs.run_id DESC) AS n
  FROM days JOIN runs ON runs.from_date <= days.dt AND runs.to_date > days.dt
  WHERE runs.status = 'succeeded' AND runs.dt <= {{last_date}} AND runs.job <> 'pipeline-stats'
),
v AS (
  SELECT dt, count(DISTINCT viewer_login) AS viewers_tracked
  FROM viewer_channel_day WHERE dt >= {{start_date}} AND dt <= {{last_date}}
  GROUP BY dt
)
SELECT days.dt, r.job, r.run_id, r.rows_in, r.rows_out, r.duration_ms AS wall_ms,
       COALESCE(v.viewers_tracked, 0) AS viewers_tracked
FROM days
JOIN r ON r.dt = days.dt AND r.n = 1
LEFT JOIN v ON v.dt = days.dt
