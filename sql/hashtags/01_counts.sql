-- Hashtag counts per event-time window, Spark's semantics: windows [ws, ws + size) start at
-- multiples of `slide` since the epoch, and a tweet counts in every window that covers it
-- (size / slide of them when slide divides size). Covers windows from `baseline_windows`
-- slides before the interval, so trend baselines are complete at its start. Times are
-- integer microseconds; `final` is true once the data landed (the watermark) reaches past
-- the window's end plus the allowed lateness.
WITH tags AS (
  SELECT CAST(event_time AS BIGINT) AS t, unnest(hashtags(text)) AS tag
  FROM messages
  WHERE dt >= {{read_from_date}} AND dt <= {{last_date}}
    AND event_time >= {{read_from}} AND event_time < {{end}}
),
windows AS (
  SELECT tag, t, (t / {{slide}} - o.n) * {{slide}} AS ws
  FROM tags CROSS JOIN (SELECT unnest(range(0, {{windows_per_row}})) AS n) AS o
)
SELECT ws, tag, count(*) AS n
FROM windows
WHERE t < ws + {{size}} AND ws >= {{counts_from_us}} AND ws < {{end_us}}
GROUP BY ws, tag
