-- What a viewer watched on one day (default their latest day): channel, minutes, first and
-- last seen, sessions.
-- params: viewer:text, date:date=
WITH v AS (
  SELECT *, max(dt) OVER () AS last FROM viewer_channel_day WHERE viewer_login = lower($1)
)
SELECT dt, channel_login, minutes, first_seen, last_seen, sessions
FROM v
WHERE dt = coalesce($2, last)
ORDER BY first_seen, channel_login
