-- Per day: viewers tracked (profiles' users), the verification status and its mismatches, and
-- the rows the pipeline wrote: the seed's sanity panel.
-- params: limit:int[1..3650]=60
WITH tracked AS (SELECT dt, max(viewers_tracked) AS viewers_tracked, sum(rows_out) AS rows_out,
                        sum(wall_ms) AS wall_ms FROM pipeline_stats GROUP BY dt)
SELECT t.dt, t.viewers_tracked, t.rows_out, t.wall_ms, v.status AS verification, v.sampled,
       v.mismatches, v.first_mismatch
FROM tracked t LEFT JOIN verification v ON v.dt = t.dt
ORDER BY t.dt DESC LIMIT $1
