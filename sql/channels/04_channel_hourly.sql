-- Output channel_hourly: minutes live per channel in each UTC hour of each day, with its
-- weekday (0 = Sunday): the cells of the live-schedule heatmap (sql/views/channel_schedule.sql).
SELECT dt, channel_id, max(channel_login) AS channel_login,
       CAST(date_part('dow', snapshot_time) AS INT) AS weekday, CAST(date_part('hour', snapshot_time) AS INT) AS hour,
       sum(dur_us) / 60000000.0 AS minutes_live
FROM live
GROUP BY channel_id, dt, date_part('dow', snapshot_time), date_part('hour', snapshot_time)
