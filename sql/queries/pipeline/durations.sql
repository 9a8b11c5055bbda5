-- Processing time per job over its successful runs: runs, average, longest and latest duration.
-- params:
SELECT job, count(*) AS runs, avg(duration_ms) AS avg_ms, max(duration_ms) AS max_ms,
       last_value(duration_ms ORDER BY started_at) AS last_ms
FROM runs WHERE status = 'succeeded'
GROUP BY job ORDER BY avg_ms DESC, job
