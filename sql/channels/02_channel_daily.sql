-- Output channel_daily: what TwitchTracker shows for a streamer, per UTC day. Hours watched
-- = sum of viewers x time each snapshot stands for; average viewers are time-weighted
-- (hours watched / airtime); streams are those live on the day, so one crossing midnight
-- counts on both days (and a one-day rerun agrees with a longer run). Follower change
-- is the last followers seen on the day minus the last seen before it (within `follower_lookback`).
WITH daily AS (
  SELECT channel_id, dt, max(channel_login) AS channel_login,
         sum(CAST(viewers AS DOUBLE) * dur_us) / 3600000000.0 AS hours_watched,
         sum(dur_us) / 3600000000.0 AS airtime_hours,
         max(viewers) AS peak_viewers,
         sum(CASE WHEN starts_stream OR first_of_day THEN 1 ELSE 0 END) AS streams
  FROM live GROUP BY channel_id, dt
),
f AS (
  SELECT channel_id, to_char(observed_at, '%Y-%m-%d') AS day, observed_at, followers
  FROM channels
  WHERE dt >= {{read_from_date}} AND dt <= {{last_date}} AND followers IS NOT NULL
    AND observed_at >= {{read_from}} AND observed_at < {{end}}
),
f_last AS (
  SELECT channel_id, day, last_value(followers ORDER BY observed_at) AS followers FROM f GROUP BY channel_id, day
),
f_change AS (
  SELECT channel_id, day, followers,
         followers - lag(followers) OVER (PARTITION BY channel_id ORDER BY day) AS follower_change
  FROM f_last
)
SELECT d.dt, d.channel_id, d.channel_login, d.hours_watched, d.airtime_hours,
       CASE WHEN d.airtime_hours > 0 THEN d.hours_watched / d.airtime_hours END AS avg_viewers,
       d.peak_viewers, d.streams, fc.followers, fc.follower_change
FROM daily d LEFT JOIN f_change fc ON fc.channel_id = d.channel_id AND fc.day = d.dt
