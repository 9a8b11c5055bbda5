-- Benchmark query: the top 10 hashtags of every 20 s window sliding every 10 s over all
-- messages, reduced to a checksum (windows x ranks, total count) so the answer can be
-- compared with DuckDB's (scripts/bench_duckdb_hashtags.py runs the same query there).
WITH tags AS (SELECT CAST(event_time AS BIGINT) AS t, unnest(hashtags(text)) AS tag FROM messages),
w AS (SELECT tag, t, (t / 10000000 - o.n) * 10000000 AS ws FROM tags CROSS JOIN (VALUES (0), (1)) AS o(n)),
c AS (SELECT ws, tag, count(*) AS n FROM w WHERE t < ws + 20000000 GROUP BY ws, tag),
top AS (
  SELECT ws, tag, n, row_number() OVER (PARTITION BY ws ORDER BY n DESC, tag) AS rank FROM c
)
SELECT count(*) AS top_rows, sum(n) AS top_total, count(DISTINCT ws) AS windows FROM top WHERE rank <= 10;
