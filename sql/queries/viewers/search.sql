-- Viewers whose login starts with `q` (any case), those watched most first: the search box.
-- params: q:text, limit:int[1..1000]=20
SELECT viewer_login, sum(minutes) AS minutes, count(DISTINCT dt) AS days
FROM viewer_channel_day
WHERE starts_with(viewer_login, lower($1))
GROUP BY viewer_login ORDER BY minutes DESC, viewer_login LIMIT $2
