-- What a viewer watched on one day (default their latest day): channel, minutes, first and
-- last seen, sessions; then their minutes per hour of that day in `hours`.
-- params: viewer:text, date:date=
WITH d AS (SELECT max(dt) AS last FROM viewer_channel_day WHERE viewer_login = lower($1))
SELECT v.dt, v.channel_login, v.minutes, v.first_seen, v.last_seen, v.sessions
FROM viewer_channel_day v, d
WHERE v.viewer_login = lower($1) AND v.dt = coalesce($2, d.last)
ORDER BY v.first_seen, v.channel_login
