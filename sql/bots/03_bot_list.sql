-- Output bot_list: the ban list in force on each day of the interval. A viewer is on it when
-- detected on that day or before (reason 'detected', unless the overrides file allows them)
-- or denied in the overrides file (reason 'denied'; a deny wins over an allow).
-- Overrides: the lake's `ref/bot_overrides.csv` (viewer_login,action,note; action allow|deny).
WITH days AS (
  SELECT to_char(d, '%Y-%m-%d') AS dt
  FROM unnest(generate_series(CAST({{start_date}} AS DATE), CAST({{last_date}} AS DATE), INTERVAL '1 day')) AS u(d)
),
o AS (
  SELECT lower(trim(viewer_login)) AS viewer_login, lower(trim(action)) AS action,
         max(note) AS note
  FROM bot_overrides GROUP BY lower(trim(viewer_login)), lower(trim(action))
),
detected AS (
  SELECT days.dt, b.viewer_login, min(b.dt) AS first_detected, max(b.max_channels) AS max_channels
  FROM days JOIN bots b ON b.dt <= days.dt
  GROUP BY days.dt, b.viewer_login
),
denied AS (
  SELECT days.dt, o.viewer_login, o.note FROM days CROSS JOIN o WHERE o.action = 'deny'
)
SELECT COALESCE(d.dt, n.dt) AS dt, COALESCE(d.viewer_login, n.viewer_login) AS viewer_login,
       CASE WHEN n.viewer_login IS NOT NULL THEN 'denied' ELSE 'detected' END AS reason,
       d.first_detected, d.max_channels, n.note
FROM detected d FULL JOIN denied n ON n.dt = d.dt AND n.viewer_login = d.viewer_login
-- A join rather than NOT EXISTS under OR: DataFusion plans that as a mark join, which does
-- not survive the trip to a cluster scheduler (docs/cluster.md).
LEFT JOIN (SELECT DISTINCT viewer_login FROM o WHERE action = 'allow') a
  ON a.viewer_login = d.viewer_login
WHERE n.viewer_login IS NOT NULL OR a.viewer_login IS NULL
