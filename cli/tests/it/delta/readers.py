"""Reads Pulse's Delta tables without Pulse, two ways, and prints what each sees as JSON.

1. Python's `deltalake` package (delta-rs's Python binding).
2. A reader that does not come from delta-rs: it follows `_delta_log` itself (the newest
   checkpoint, then every JSON commit after it: adds and removes), and DuckDB reads just those
   files.

Usage: readers.py LAKE TABLE_DIR:CHECKSUM_COLUMN:KIND ...  (KIND: `len` sums the length of a
string column, `sum` sums an integer column). Prints {table: {reader: [rows, checksum]}}.
"""

import json
import os
import sys
from urllib.parse import unquote

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable


def live_files(root):
    log = os.path.join(root, "_delta_log")
    files, start = set(), -1
    last = os.path.join(log, "_last_checkpoint")
    if os.path.exists(last):
        with open(last) as f:
            start = json.load(f)["version"]
        cp = pq.read_table(os.path.join(log, f"{start:020d}.checkpoint.parquet"), columns=["add"])
        for a in cp.column("add").to_pylist():
            if a:
                files.add(unquote(a["path"]))
    versions = sorted(
        int(n[:20]) for n in os.listdir(log) if n.endswith(".json") and n[:20].isdigit()
    )
    for v in versions:
        if v <= start:
            continue
        with open(os.path.join(log, f"{v:020d}.json")) as f:
            for line in f:
                action = json.loads(line)
                if "add" in action:
                    files.add(unquote(action["add"]["path"]))
                if "remove" in action:
                    files.discard(unquote(action["remove"]["path"]))
    return [os.path.join(root, p) for p in sorted(files)]


def main():
    lake = sys.argv[1]
    out = {}
    for spec in sys.argv[2:]:
        rel, col, kind = spec.split(":")
        root = os.path.join(lake, rel)
        t = DeltaTable(root).to_pyarrow_table()
        values = pc.utf8_length(t[col]) if kind == "len" else t[col]
        delta_rs = [t.num_rows, pc.sum(values).as_py() or 0]
        files = live_files(root)
        expr = f"length({col})" if kind == "len" else col
        if files:
            rows, total = duckdb.sql(
                f"SELECT count(*), coalesce(sum({expr}), 0) FROM read_parquet({files!r})"
            ).fetchall()[0]
        else:
            rows, total = 0, 0
        out[rel] = {"deltalake": delta_rs, "log+duckdb": [rows, int(total)]}
    print(json.dumps(out))


main()
# The answer is out: leave without the interpreter's teardown, where the native libraries'
# thread pools once aborted the process ("terminate called without an active exception")
# on a loaded CI machine.
sys.stdout.flush()
os._exit(0)
