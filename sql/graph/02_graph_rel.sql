-- The relation rows of the interval (VIP, moderator, chatter lists, teams), by channel id;
-- written once (a smaller plan per step) and read by graph_edges.
SELECT 'VIP' AS type, channel_id, lower(vip_login) AS other FROM vips
WHERE dt >= {{start_date}} AND dt <= {{last_date}} AND observed_at >= {{start}} AND observed_at < {{end}}
UNION ALL
SELECT 'MODERATOR', channel_id, lower(moderator_login) FROM moderators
WHERE dt >= {{start_date}} AND dt <= {{last_date}} AND observed_at >= {{start}} AND observed_at < {{end}}
UNION ALL
SELECT 'CHATTER', channel_id, lower(chatter_login) FROM chatters
WHERE dt >= {{start_date}} AND dt <= {{last_date}} AND observed_at >= {{start}} AND observed_at < {{end}}
UNION ALL
SELECT 'IS_PART_OF', channel_id, team_name FROM teams
WHERE dt >= {{start_date}} AND dt <= {{last_date}} AND observed_at >= {{start}} AND observed_at < {{end}}
