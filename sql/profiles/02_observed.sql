-- What each viewer did on each day up to the profile date, as (kind, item, x) rows: minutes
-- per hour for the schedule of the day's kind, per channel and per category for favourites.
-- Viewers on the ban list of the profile date are left out.
WITH x AS (
  SELECT dt, viewer_login,
         CASE WHEN date_part('dow', CAST(dt AS DATE)) IN (0, 6) THEN 'weekend' ELSE 'workday' END AS kind,
         lpad(CAST(hour AS VARCHAR), 2, '0') AS item, minutes
  FROM viewer_hour_day WHERE dt >= {{history_from}} AND dt <= {{last_date}}
  UNION ALL
  SELECT dt, viewer_login, k.kind, channel_login, minutes
  FROM viewer_channel_day CROSS JOIN (VALUES ('streamer_total'), ('streamer_recent')) AS k(kind)
  WHERE dt >= {{history_from}} AND dt <= {{last_date}}
  UNION ALL
  SELECT dt, viewer_login, k.kind, category, minutes
  FROM viewer_category_day CROSS JOIN (VALUES ('game_total'), ('game_recent')) AS k(kind)
  WHERE dt >= {{history_from}} AND dt <= {{last_date}}
)
SELECT dt, viewer_login, kind, item, sum(minutes) AS x
FROM x
WHERE NOT EXISTS (
  SELECT 1 FROM bot_list b WHERE b.dt = {{last_date}} AND b.viewer_login = x.viewer_login
)
GROUP BY dt, viewer_login, kind, item
