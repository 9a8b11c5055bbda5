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
-- (The small ban list is the join's first, hashed, side: the history can be hundreds of
-- millions of rows.)
SELECT x.dt, x.viewer_login, x.kind, x.item, sum(x.minutes) AS x
FROM (SELECT viewer_login FROM bot_list WHERE dt = {{last_date}}) b
RIGHT JOIN x ON b.viewer_login = x.viewer_login
WHERE b.viewer_login IS NULL
GROUP BY x.dt, x.viewer_login, x.kind, x.item
