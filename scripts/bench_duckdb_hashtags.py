#!/usr/bin/env python3
"""The hashtags benchmark query (sql/bench/hashtags_top10.sql) in DuckDB, on the same Parquet.

Usage: python3 scripts/bench_duckdb_hashtags.py LAKE_DIR [THREADS]
Prints the same checksum as `pulse sql -f sql/bench/hashtags_top10.sql` and the wall time.
DuckDB has no hashtags() function; regexp_extract_all with Twitter's core rule (a # not
preceded by a word character or &) stands in for it. Needs `pip install duckdb`.
"""
import sys
import time

import duckdb

lake = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
query = f"""
WITH m AS (SELECT epoch_us(event_time) AS t, text FROM read_parquet('{lake}/raw/messages/*/*/*.parquet')),
tags AS (SELECT t, lower(unnest(regexp_extract_all(text, '(?:^|[^\\w&])#(\\w*[^\\W\\d_]\\w*)', 1))) AS tag FROM m),
w AS (SELECT tag, t, (t // 10000000 - o.n) * 10000000 AS ws FROM tags CROSS JOIN (VALUES (0), (1)) AS o(n)),
c AS (SELECT ws, tag, count(*) AS n FROM w WHERE t < ws + 20000000 GROUP BY ws, tag),
top AS (SELECT ws, tag, n, row_number() OVER (PARTITION BY ws ORDER BY n DESC, tag) AS rank FROM c)
SELECT count(*) AS top_rows, sum(n) AS top_total, count(DISTINCT ws) AS windows FROM top WHERE rank <= 10
"""
start = time.perf_counter()
rows = con.execute(query).fetchall()
elapsed = time.perf_counter() - start
print(f"duckdb {duckdb.__version__}, {threads} threads: {rows[0]} in {elapsed:.2f} s")
