"""PageRank and exact betweenness: Pulse beside igraph on the same edges, same machine, same run.

    python3 -m venv .venv && .venv/bin/pip install igraph numpy pyarrow
    cargo build --release -p pulse
    .venv/bin/python scripts/bench_graph.py --pulse target/release/pulse --work /tmp/graph-bench \
        [--musae ../shared/data/musae_twitch/edges/DE_edges.csv] [--nodes 1000000 --edges 10000000]

Each measurement runs in its own process under `/usr/bin/time` (wall seconds, peak RSS).
Pulse: `pulse run pagerank --set tol=1e-8` (NetworkX's stopping rule: L1 change < N x tol;
`--tol T --distance` runs it with `distance=true`: L1 distance to the fixed point < T) and
`pulse run betweenness` (exact); igraph: `Graph.pagerank()` (PRPACK, solved exactly) and
`Graph.betweenness()`. The same nodes (those on an edge) and edges go to both; the script
checks the answers agree (PageRank L1, betweenness max difference) before printing figures.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time; returns (wall seconds, peak RSS MiB, stderr)."""
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "@@maxrss %M"] + cmd, capture_output=True,
                       text=True, env=env)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd} failed:\n{p.stdout}\n{p.stderr}")
    rss = int(re.search(r"@@maxrss (\d+)", p.stderr).group(1)) / 1024
    return wall, rss, p.stdout + p.stderr


def read_edges(path):
    if path.endswith(".csv"):
        t = pacsv.read_csv(path)
    else:
        t = pq.read_table(path)
    return t.column(0).to_numpy().astype(np.int64), t.column(1).to_numpy().astype(np.int64)


def generate(path, nodes, edges, seed):
    """A random directed graph with a skewed in-degree (a few very popular targets)."""
    if os.path.exists(path):
        return
    rng = np.random.default_rng(seed)
    src = rng.integers(0, nodes, edges, dtype=np.int64)
    dst = (nodes * rng.random(edges) ** 2).astype(np.int64)
    pq.write_table(pa.table({"src": src, "dst": dst}), path)


def igraph_child(args):
    """Runs in its own process: load, compute, write scores for the parent to compare."""
    import igraph as ig

    src, dst = read_edges(args.edges)
    ids, inv = np.unique(np.concatenate([src, dst]), return_inverse=True)
    pairs = np.stack([inv[: len(src)], inv[len(src):]], axis=1)
    directed = args.directed == 1
    t0 = time.monotonic()
    g = ig.Graph(n=len(ids), edges=pairs, directed=directed)
    load = time.monotonic() - t0
    t0 = time.monotonic()
    if args.algo == "pagerank":
        scores = np.array(g.pagerank(damping=0.85, directed=directed))
    else:
        # As Pulse: simple graph (no repeats, no loops), scaled as NetworkX normalises.
        g.simplify()
        n = g.vcount()
        scores = np.array(g.betweenness(directed=directed)) / ((n - 1) * (n - 2))
        if not directed:
            scores *= 2
    compute = time.monotonic() - t0
    pq.write_table(pa.table({"node": ids.astype(str), "score": scores}), args.scores)
    print(f"@@igraph load {load:.3f} compute {compute:.3f}")


def pulse_scores(lake, table):
    # Runs over an edge file write the `_file` tables (docs/graph.md).
    files = glob.glob(f"{lake}/agg/{table}_file/dt=2026-01-01/*.parquet")
    t = pa.concat_tables([pq.read_table(f) for f in files])
    col = "rank" if table == "pagerank" else "score"
    return dict(zip(t.column("node").to_pylist(), t.column(col).to_pylist()))


PAGERANK_TOL, PAGERANK_DISTANCE = 1e-8, False


def compare(work, name, algo, edges, directed, pulse):
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
    lake = f"{work}/lake-{slug}-{algo}"
    subprocess.run(["rm", "-rf", lake], check=True)
    sets = ["--set", f"edges={edges}", "--set", f"directed={directed}"]
    if algo == "pagerank":
        sets += ["--set", f"tol={PAGERANK_TOL}", "--set", "max_iter=500"]
        if PAGERANK_DISTANCE:
            sets += ["--set", "distance=true"]
    wall, rss, out = timed([pulse, "--lake", lake, "run", algo, "--date", "2026-01-01"] + sets,
                           env={**os.environ, "RUST_LOG": "info"})
    iters = re.search(r"iterations=(\d+)", out)
    scores_file = f"{work}/igraph-{slug}-{algo}.parquet"
    iwall, irss, iout = timed([sys.executable, __file__, "--igraph-child", "--algo", algo,
                               "--edges", edges, "--directed", str(directed),
                               "--scores", scores_file])
    m = re.search(r"@@igraph load ([\d.]+) compute ([\d.]+)", iout)
    mine = pulse_scores(lake, algo)
    theirs = dict(zip(*[c.to_pylist() for c in pq.read_table(scores_file).columns]))
    assert len(mine) == len(theirs), (len(mine), len(theirs))
    diffs = [abs(v - theirs[k]) for k, v in mine.items()]
    agree = sum(diffs) if algo == "pagerank" else max(diffs)
    print(f"| {name} | {algo} | {len(mine):,} | Pulse {wall:.1f} s, {rss:,.0f} MiB"
          f"{', ' + iters.group(1) + ' iterations' if iters else ''} "
          f"| igraph {iwall:.1f} s ({m.group(1)} s load, {m.group(2)} s compute), {irss:,.0f} MiB "
          f"| {wall / iwall:.2f}x | {'L1' if algo == 'pagerank' else 'max diff'} {agree:.2e} |",
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pulse")
    ap.add_argument("--work", default="/tmp/pulse-graph-bench")
    ap.add_argument("--musae")
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--edges", default=None)
    ap.add_argument("--edge-count", type=int, default=10_000_000)
    ap.add_argument("--bt-nodes", type=int, default=10_000)
    ap.add_argument("--bt-edges", type=int, default=50_000)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--skip-musae", action="store_true")
    ap.add_argument("--igraph-child", action="store_true")
    ap.add_argument("--algo")
    ap.add_argument("--directed", type=int, default=1)
    ap.add_argument("--scores")
    ap.add_argument("--tol", type=float, default=1e-8, help="Pulse's PageRank tol")
    ap.add_argument("--distance", action="store_true",
                    help="tol is the L1 distance to the fixed point (pagerank's distance=true)")
    args = ap.parse_args()
    global PAGERANK_TOL, PAGERANK_DISTANCE
    PAGERANK_TOL, PAGERANK_DISTANCE = args.tol, args.distance
    if args.igraph_child:
        return igraph_child(args)
    os.makedirs(args.work, exist_ok=True)
    print("| graph | algorithm | nodes | Pulse | igraph | Pulse / igraph | agreement |")
    print("|---|---|---|---|---|---|---|")
    if args.musae and not args.skip_musae:
        compare(args.work, "MUSAE DE (undirected)", "pagerank", args.musae, 0, args.pulse)
        compare(args.work, "MUSAE DE (undirected)", "betweenness", args.musae, 0, args.pulse)
    small = f"{args.work}/random-{args.bt_nodes}-{args.bt_edges}.parquet"
    generate(small, args.bt_nodes, args.bt_edges, 2)
    compare(args.work, f"random {args.bt_nodes:,} / {args.bt_edges:,}", "betweenness", small, 1,
            args.pulse)
    if not args.skip_large:
        big = f"{args.work}/random-{args.nodes}-{args.edge_count}.parquet"
        generate(big, args.nodes, args.edge_count, 1)
        compare(args.work, f"random {args.nodes:,} / {args.edge_count:,}", "pagerank", big, 1,
                args.pulse)


if __name__ == "__main__":
    main()
