-- Weekday x hour live schedule per channel: average minutes live in each cell over the days
-- computed (weekday 0 = Sunday). Run with `pulse sql -f sql/views/channel_schedule.sql`.
SELECT channel_login, weekday, hour, sum(minutes_live) / count(DISTINCT dt) AS avg_minutes_live
FROM channel_hourly
GROUP BY channel_login, weekday, hour
ORDER BY channel_login, weekday, hour;
