-- Profiles as of a date ($1, 'YYYY-MM-DD'): each (viewer, kind)'s latest stored scores up to
-- that date, decayed to it, for viewers not on the ban list of day $2 (the latest list up to
-- $1, found by `pulse_jobs::profile::ban_day`). `last_seen` is the viewer's last day with
-- viewing.
WITH s AS (
  SELECT viewer_login, kind, item, score, decay, day_kind, dt, last_seen,
         max(dt) OVER (PARTITION BY viewer_login, kind) AS latest
  FROM profile_scores WHERE dt <= $1
),
bans AS (SELECT viewer_login FROM bot_list WHERE dt = $2)
SELECT viewer_login, kind, item,
       score * power(1 - decay, days_between(dt, $1, day_kind)) AS score,
       max(last_seen) OVER (PARTITION BY viewer_login) AS last_seen
FROM s
WHERE dt = latest
  AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.viewer_login = s.viewer_login)
