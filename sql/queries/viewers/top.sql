-- The viewers who watched most over every day computed, bots left out.
-- params: limit:int[1..1000]=20
SELECT v.viewer_login, sum(v.minutes) AS minutes, count(DISTINCT v.dt) AS days
FROM viewer_channel_day v
WHERE v.viewer_login NOT IN (SELECT viewer_login FROM bot_list WHERE dt = latest_dt('bot_list'))
GROUP BY v.viewer_login ORDER BY minutes DESC, v.viewer_login LIMIT $1
