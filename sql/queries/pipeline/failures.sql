-- The latest failed runs, newest first.
-- params: limit:int[1..1000]=10
SELECT run_id, job, from_date, attempt, started_at, error
FROM runs WHERE status = 'failed'
ORDER BY started_at DESC, run_id LIMIT $1
