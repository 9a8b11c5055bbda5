-- The channels of the interval, each as last observed in it (login, followers, views,
-- language), keyed by channel id so relation rows (which carry the id) find their stream.
SELECT channel_id,
       last_value(login ORDER BY observed_at) AS login,
       last_value(followers ORDER BY observed_at) AS followers,
       last_value(total_views ORDER BY observed_at) AS total_views,
       last_value(language ORDER BY observed_at) AS language
FROM channels
WHERE dt >= {{start_date}} AND dt <= {{last_date}}
  AND observed_at >= {{start}} AND observed_at < {{end}}
GROUP BY channel_id
