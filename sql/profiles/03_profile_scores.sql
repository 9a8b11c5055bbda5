-- Output profile_scores (incremental): the profile as of day D for the viewers seen on D.
-- Their latest stored scores (a partition before D) are decayed to D at read time,
--   S(D) = S(stored) * (1 - decay)^days_between(stored, D, day_kind) + weight * x(D),
-- which equals stepping the moving average through every day in between with x = 0. Only
-- the (viewer, kind) pairs touched on D are written; readers take each pair's latest row
-- (see sql/views/profiles_asof.sql), so nobody else is rewritten.
WITH today AS (SELECT * FROM profile_observed WHERE dt = {{last_date}}),
keys AS (SELECT DISTINCT viewer_login, kind FROM today),
stored AS (
  SELECT s.viewer_login, s.kind, s.item, s.score, s.dt, s.decay, s.day_kind,
         max(s.dt) OVER (PARTITION BY s.viewer_login, s.kind) AS latest
  FROM profile_scores s JOIN keys k ON k.viewer_login = s.viewer_login AND k.kind = s.kind
  WHERE s.dt < {{last_date}}
),
decayed AS (
  SELECT viewer_login, kind, item,
         score * power(1 - decay, days_between(dt, {{last_date}}, day_kind)) AS score
  FROM stored
  WHERE dt = latest
)
SELECT {{last_date}} AS dt,
       COALESCE(d.viewer_login, t.viewer_login) AS viewer_login,
       COALESCE(d.kind, t.kind) AS kind,
       COALESCE(d.item, t.item) AS item,
       COALESCE(d.score, 0.0) + COALESCE(k.weight * t.x, 0.0) AS score,
       k.decay, k.day_kind,
       CAST({{last_date}} AS DATE) AS last_seen
FROM decayed d
FULL JOIN today t ON t.viewer_login = d.viewer_login AND t.kind = d.kind AND t.item = d.item
JOIN profile_kinds k ON k.kind = COALESCE(d.kind, t.kind)
-- Sorted by viewer: a reader after one viewer skips the other pages of each day's file.
ORDER BY viewer_login, kind, item
