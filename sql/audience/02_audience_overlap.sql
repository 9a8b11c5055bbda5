-- Output audience_overlap: pairs of channels (channel_a < channel_b) sharing at least
-- {{min_shared}} viewers over the interval, written under its last day: shared viewers, each
-- audience's size, and the Jaccard index shared / (audience_a + audience_b - shared). These
-- are the edges community maps of Twitch are drawn from.
WITH sizes AS (SELECT channel, count(*) AS audience FROM audience GROUP BY channel),
pairs AS (
  SELECT x.channel AS channel_a, y.channel AS channel_b, count(*) AS shared
  FROM audience x JOIN audience y ON x.viewer = y.viewer AND x.channel < y.channel
  GROUP BY x.channel, y.channel
  HAVING count(*) >= {{min_shared}}
)
SELECT {{last_date}} AS dt, p.channel_a, p.channel_b, p.shared,
       sa.audience AS audience_a, sb.audience AS audience_b,
       CAST(p.shared AS DOUBLE) / (sa.audience + sb.audience - p.shared) AS jaccard
FROM pairs p JOIN sizes sa ON sa.channel = p.channel_a JOIN sizes sb ON sb.channel = p.channel_b
