-- Output channel_categories: the categories a channel played each day and their share of its airtime.
SELECT dt, channel_id, max(channel_login) AS channel_login, category_name,
       sum(dur_us) / 3600000000.0 AS airtime_hours,
       CAST(sum(dur_us) AS DOUBLE) / sum(sum(dur_us)) OVER (PARTITION BY channel_id, dt) AS airtime_share
FROM live
GROUP BY channel_id, dt, category_name
