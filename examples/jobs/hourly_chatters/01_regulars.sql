-- The channels' regular viewers on each day of the interval: at least min_minutes watched.
SELECT dt, viewer_login, channel_login
FROM viewer_channel_day
WHERE dt >= {{start_date}} AND dt <= {{last_date}} AND minutes >= {{min_minutes}}
