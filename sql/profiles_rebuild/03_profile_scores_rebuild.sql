-- Output profile_scores (rebuild): every viewer's profile as of day D straight from the
-- viewer-day history, with the moving averages in closed form,
--   S(D) = sum over days d: weight * (1 - decay)^days_between(d, D, day_kind) * x(d),
-- an independent way to the numbers the incremental job reaches step by step. Also the way
-- to start profiles over a history, or after changing the spans or the ban list.
-- `last_seen` is the item's last day with viewing; a viewer's last day is the largest of
-- its rows' (as readers take it).
SELECT {{last_date}} AS dt, o.viewer_login, o.kind, o.item,
       sum(k.weight * power(1 - k.decay, days_between(o.dt, {{last_date}}, k.day_kind)) * o.x) AS score,
       max(k.decay) AS decay, max(k.day_kind) AS day_kind,
       CAST(max(o.dt) AS DATE) AS last_seen
FROM profile_kinds k
JOIN profile_observed o ON o.kind = k.kind
GROUP BY o.viewer_login, o.kind, o.item
-- Sorted by viewer: a reader after one viewer skips the other pages of each day's file.
ORDER BY viewer_login, kind, item
