-- A viewer's watch time per weekday x hour cell (weekday 0 = Sunday, UTC hours): minutes
-- watched in the cell over the days from..to (inclusive; default every day), divided by the
-- days of that weekday the lake has in the span.
-- params: viewer:text, from:date=, to:date=
WITH days AS (
  SELECT CAST(date_part('dow', CAST(dt AS DATE)) AS INT) AS weekday, count(*) AS n
  FROM (SELECT DISTINCT dt FROM viewer_hour_day WHERE ($2 IS NULL OR dt >= $2) AND ($3 IS NULL OR dt <= $3))
  GROUP BY 1
)
SELECT CAST(date_part('dow', CAST(v.dt AS DATE)) AS INT) AS weekday, v.hour,
       sum(v.minutes) / max(days.n) AS avg_minutes
FROM viewer_hour_day v JOIN days ON days.weekday = CAST(date_part('dow', CAST(v.dt AS DATE)) AS INT)
WHERE v.viewer_login = lower($1) AND ($2 IS NULL OR v.dt >= $2) AND ($3 IS NULL OR v.dt <= $3)
GROUP BY 1, v.hour ORDER BY 1, v.hour
