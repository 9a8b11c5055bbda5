-- The run history (each run's latest state), newest first, filtered by the date it ran for,
-- its status and its job when given.
-- params: date:date=, status:text=, job:text=, limit:int[1..1000]=100
SELECT run_id, job, from_date, to_date, status, attempt, started_at, ended_at, duration_ms,
       rows_in, rows_out, error
FROM runs
WHERE ($1 IS NULL OR from_date = $1) AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR job = $3)
ORDER BY started_at DESC, run_id LIMIT $4
