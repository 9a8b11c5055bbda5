-- Stream snapshots of the interval per channel, each standing for the time until the next
-- snapshot of that channel, or `sample` when that is longer than `gap` (the stream ended)
-- or there is none. A gap longer than `gap` starts a new stream.
-- `first_of_day` marks a channel's first snapshot of a UTC day.
WITH s AS (
  SELECT channel_id, channel_login, snapshot_time, COALESCE(viewers, 0) AS viewers, category_name, dt,
         CAST(snapshot_time AS BIGINT) AS t
  FROM streams
  WHERE dt >= {{start_date}} AND dt <= {{last_date}}
    AND snapshot_time >= {{start}} AND snapshot_time < {{end}}
),
o AS (
  SELECT *, lag(t) OVER (PARTITION BY channel_id ORDER BY t) AS prev_t,
            lead(t) OVER (PARTITION BY channel_id ORDER BY t) AS next_t,
            lag(t) OVER (PARTITION BY channel_id, dt ORDER BY t) AS prev_t_same_day
  FROM s
)
SELECT channel_id, channel_login, snapshot_time, viewers, category_name, dt,
       COALESCE(CASE WHEN next_t - t <= {{gap}} THEN next_t - t END, {{sample}}) AS dur_us,
       COALESCE(t - prev_t > {{gap}}, true) AS starts_stream,
       prev_t_same_day IS NULL AS first_of_day
FROM o
