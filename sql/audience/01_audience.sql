-- The audience of each channel over the interval: every viewer seen in its chat on any day,
-- without the viewers on the ban list in force on the interval's last day.
SELECT DISTINCT lower(v.viewer_login) AS viewer, lower(v.channel_login) AS channel
FROM viewer_channel_day v
WHERE v.dt >= {{start_date}} AND v.dt <= {{last_date}}
  AND NOT EXISTS (SELECT 1 FROM bot_list b
                  WHERE b.dt = {{last_date}} AND b.viewer_login = lower(v.viewer_login))
