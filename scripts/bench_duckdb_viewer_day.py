#!/usr/bin/env python3
"""viewer-day's three outputs (sql/viewer_day/) in DuckDB, on the same lake, for one day.

Usage: python3 scripts/bench_duckdb_viewer_day.py LAKE_DIR DATE [THREADS] [OUT_DIR] [FORM]
Reads the live files of the lake's `presence` and `streams` Delta tables (their logs, through
delta-rs's Python binding), runs the three outputs, writes each as zstd Parquet, and prints
the rows of each and the wall time (reading to written files). FORM `hash` (the default) is
Pulse's job in DuckDB's spelling: hash aggregates, distinct snapshots as count(DISTINCT t) or
a sorted list of them, sessions counted over that list (Pulse's `watch()`); `window` is the
job's earlier form, a lag() window over the rows sorted by viewer, channel and time.
Both give the same rows. Needs `pip install duckdb deltalake`.
"""
import datetime
import os
import sys
import tempfile
import time

import deltalake
import duckdb

lake, date = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
out = sys.argv[4] if len(sys.argv) > 4 else tempfile.mkdtemp()
form = sys.argv[5] if len(sys.argv) > 5 else "hash"
sample = 300_000_000  # µs, viewer-day's default
day = datetime.date.fromisoformat(date)
start = f"TIMESTAMPTZ '{day} 00:00:00+00'"
end = f"TIMESTAMPTZ '{day + datetime.timedelta(days=1)} 00:00:00+00'"


def files(table):
    t = deltalake.DeltaTable(os.path.join(lake, "raw", table))
    return [u.removeprefix("file://") for u in t.file_uris() if f"/dt={date}/" in u]


con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute("SET TimeZone = 'UTC'")
began = time.perf_counter()
con.execute(
    f"""CREATE VIEW vd_presence AS
    SELECT dt, snapshot_time, epoch_us(snapshot_time) AS t, channel_login, viewer_login
    FROM read_parquet({files('presence')}, hive_partitioning = true)
    WHERE snapshot_time >= {start} AND snapshot_time < {end}"""
)
if form == "window":
    con.execute(
        """CREATE VIEW vd_rows AS
        SELECT dt, viewer_login, channel_login, snapshot_time, t,
               lag(t) OVER (PARTITION BY dt, viewer_login, channel_login ORDER BY t) AS prev_t
        FROM vd_presence"""
    )
streams = f"""
  SELECT channel_login, time_bucket(INTERVAL '{sample} microseconds', snapshot_time) AS bucket,
         arg_max(category_name, snapshot_time) AS category
  FROM read_parquet({files('streams')}, hive_partitioning = true)
  WHERE snapshot_time >= {start} AND snapshot_time < {end}
  GROUP BY 1, 2"""
forms = {
    "hash": {
        "viewer_channel_day": f"""
WITH g AS (
  SELECT dt, viewer_login, channel_login, list_sort(list(DISTINCT t)) AS ts,
         min(snapshot_time) AS first_seen, max(snapshot_time) AS last_seen
  FROM vd_presence GROUP BY dt, viewer_login, channel_login)
SELECT dt, viewer_login, channel_login, len(ts) * {sample} / 60000000.0 AS minutes,
       first_seen, last_seen,
       1 + len(list_filter(range(1, len(ts)), lambda i: ts[i + 1] - ts[i] > {sample} * 3 // 2))
         AS sessions
FROM g""",
        "viewer_hour_day": f"""
SELECT dt, viewer_login, CAST(date_part('hour', snapshot_time) AS INT) AS hour,
       count(DISTINCT t) * {sample} / 60000000.0 AS minutes
FROM vd_presence GROUP BY dt, viewer_login, CAST(date_part('hour', snapshot_time) AS INT)""",
        "viewer_category_day": f"""
WITH s AS ({streams}),
per_chat AS (
  SELECT p.dt, p.viewer_login, p.channel_login, COALESCE(s.category, '(unknown)') AS category,
         count(DISTINCT p.t) AS snapshots
  FROM vd_presence p LEFT JOIN s ON s.channel_login = p.channel_login
    AND s.bucket = time_bucket(INTERVAL '{sample} microseconds', p.snapshot_time)
  GROUP BY p.dt, p.viewer_login, p.channel_login, COALESCE(s.category, '(unknown)'))
SELECT dt, viewer_login, category, sum(snapshots) * {sample} / 60000000.0 AS minutes
FROM per_chat GROUP BY dt, viewer_login, category""",
    },
    "window": {
        "viewer_channel_day": f"""
SELECT dt, viewer_login, channel_login,
       sum(CASE WHEN prev_t = t THEN 0 ELSE 1 END) * {sample} / 60000000.0 AS minutes,
       min(snapshot_time) AS first_seen, max(snapshot_time) AS last_seen,
       sum(CASE WHEN prev_t IS NULL OR t - prev_t > {sample} * 3 / 2 THEN 1 ELSE 0 END) AS sessions
FROM vd_rows GROUP BY dt, viewer_login, channel_login""",
        "viewer_hour_day": f"""
WITH o AS (
  SELECT dt, viewer_login, t, CAST(date_part('hour', snapshot_time) AS INT) AS hour,
         lag(t) OVER (PARTITION BY dt, viewer_login ORDER BY t) AS prev_t
  FROM vd_presence)
SELECT dt, viewer_login, hour,
       sum(CASE WHEN prev_t = t THEN 0 ELSE 1 END) * {sample} / 60000000.0 AS minutes
FROM o GROUP BY dt, viewer_login, hour""",
        "viewer_category_day": f"""
WITH s AS ({streams}),
p AS (
  SELECT dt, viewer_login, channel_login,
         time_bucket(INTERVAL '{sample} microseconds', snapshot_time) AS bucket
  FROM vd_rows WHERE prev_t IS NULL OR prev_t <> t)
SELECT p.dt, p.viewer_login, COALESCE(s.category, '(unknown)') AS category,
       count(*) * {sample} / 60000000.0 AS minutes
FROM p LEFT JOIN s ON s.channel_login = p.channel_login AND s.bucket = p.bucket
GROUP BY p.dt, p.viewer_login, COALESCE(s.category, '(unknown)')""",
    },
}
queries = forms[form]
for name, q in queries.items():
    path = os.path.join(out, f"{name}.parquet")
    con.execute(f"COPY ({q}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
elapsed = time.perf_counter() - began
rows = {
    name: con.execute(f"SELECT count(*) FROM read_parquet('{os.path.join(out, name)}.parquet')").fetchone()[0]
    for name in queries
}
print(f"duckdb {duckdb.__version__}, {threads} threads, {form} form: {rows} in {elapsed:.1f} s")
