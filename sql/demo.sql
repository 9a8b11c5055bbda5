-- The demo's questions over the lake (run by `pulse demo`; any of them works in `pulse sql`).

-- Rows landed per raw table.
SELECT 'streams' AS "table", count(*) AS "rows" FROM streams
UNION ALL SELECT 'categories', count(*) FROM categories
UNION ALL SELECT 'presence', count(*) FROM presence
UNION ALL SELECT 'messages', count(*) FROM messages
UNION ALL SELECT 'channels', count(*) FROM channels
ORDER BY 1;

-- Top channels by peak and average viewers.
SELECT channel_login, max(viewers) AS peak_viewers, round(avg(viewers)) AS avg_viewers,
       count(DISTINCT dt) AS days_live
FROM streams GROUP BY channel_login ORDER BY peak_viewers DESC, channel_login LIMIT 5;

-- Categories by share of all viewers.
SELECT category_name, sum(viewers) AS viewer_snapshots,
       round(100.0 * sum(viewers) / sum(sum(viewers)) OVER (), 1) AS share_pct
FROM categories GROUP BY category_name ORDER BY viewer_snapshots DESC, category_name LIMIT 5;

-- Top hashtags of each day.
SELECT dt, tag, n FROM (
  SELECT dt, tag, count(*) AS n, row_number() OVER (PARTITION BY dt ORDER BY count(*) DESC, tag) AS rk
  FROM (SELECT dt, unnest(hashtags(text)) AS tag FROM messages) GROUP BY dt, tag
) WHERE rk <= 3 ORDER BY dt, n DESC, tag;

-- Accounts in the most chats at once: the bots stand out.
SELECT viewer_login, max(chats) AS max_concurrent_chats, count(*) AS snapshots_seen
FROM (SELECT snapshot_time, viewer_login, count(*) AS chats FROM presence GROUP BY 1, 2)
GROUP BY viewer_login ORDER BY max_concurrent_chats DESC, viewer_login LIMIT 5;
