-- The profile's score kinds: schedules per hour of workdays and of weekend days, favourite
-- streamers and games over all time (total minutes) and recently. Moving averages follow
--   S(d) = (1 - alpha) * S(d - 1) + alpha * x(d),  alpha = 2 / (span + 1)
-- over the days of their kind (`day_kind`), a day without viewing counting as x = 0; totals
-- add up (weight 1, decay 0). Each stored score keeps its decay and day kind, so it can be
-- decayed to any later date: S(to) = S(from) * (1 - decay)^days_between(from, to, day_kind).
SELECT * FROM (VALUES
  ('workday',         {{workday_alpha}}, {{workday_alpha}}, 'workday'),
  ('weekend',         {{weekend_alpha}}, {{weekend_alpha}}, 'weekend'),
  ('streamer_recent', {{recent_alpha}},  {{recent_alpha}},  'all'),
  ('game_recent',     {{recent_alpha}},  {{recent_alpha}},  'all'),
  ('streamer_total',  1.0,               0.0,               'all'),
  ('game_total',      1.0,               0.0,               'all')
) AS k(kind, weight, decay, day_kind)
