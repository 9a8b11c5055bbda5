-- Viewers seen in at least min_channels chats on a day of the interval: the only ones that
-- can have been in that many at once (from viewer-day, so presence is read once more only
-- for them).
SELECT DISTINCT viewer_login FROM (
  SELECT dt, viewer_login FROM viewer_channel_day
  WHERE dt >= {{start_date}} AND dt <= {{last_date}}
  GROUP BY dt, viewer_login
  HAVING count(*) >= {{min_channels}}
) c
