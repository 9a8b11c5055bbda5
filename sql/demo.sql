-- The demo's questions over the lake (run by `pulse demo`; any of them works in `pulse sql`).

-- Rows landed per raw table.
SELECT 'streams' AS "table", count(*) AS "rows" FROM streams
UNION ALL SELECT 'categories', count(*) FROM categories
UNION ALL SELECT 'presence', count(*) FROM presence
UNION ALL SELECT 'messages', count(*) FROM messages
UNION ALL SELECT 'channels', count(*) FROM channels
ORDER BY 1;

-- Top channels by hours watched (channels job).
SELECT channel_login, round(sum(hours_watched)) AS hours_watched, round(sum(airtime_hours), 1) AS airtime_hours,
       max(peak_viewers) AS peak_viewers, sum(streams) AS streams
FROM channel_daily GROUP BY channel_login ORDER BY hours_watched DESC, channel_login LIMIT 5;

-- Categories by share of hours watched per day (categories job, daily windows).
SELECT dt, category_name, round(hours_watched) AS hours_watched, round(100 * hours_watched_share, 1) AS share_pct
FROM category_stats_1day WHERE rank <= 3 ORDER BY dt, rank;

-- The strongest hashtag trend of each day (hashtags job, 1 h windows sliding every 10 min):
-- the generator's planted bursts.
SELECT dt, tag, window_start, n, round(baseline, 1) AS baseline, round(score, 1) AS score FROM (
  SELECT *, row_number() OVER (PARTITION BY dt ORDER BY score DESC, window_start, tag) AS rk FROM hashtag_trends_1h_10m
) WHERE rk = 1 ORDER BY dt;

-- Accounts in the most chats at once: the bots stand out.
SELECT viewer_login, max(chats) AS max_concurrent_chats, count(*) AS snapshots_seen
FROM (SELECT snapshot_time, viewer_login, count(*) AS chats FROM presence GROUP BY 1, 2)
GROUP BY viewer_login ORDER BY max_concurrent_chats DESC, viewer_login LIMIT 5;
