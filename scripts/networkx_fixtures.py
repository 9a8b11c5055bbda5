"""Writes the NetworkX answers the graph tests compare against.

For each fixture graph: `<name>.csv` (src,dst: the edges, read as directed or undirected) and
`<name>.expected.csv` with, per node, NetworkX's PageRank of the directed graph and its
betweenness centrality of the directed and undirected graph, normalised and not, and PageRank of the undirected graph. PageRank counts a repeated edge (either way round
when undirected) twice, as on a NetworkX multigraph; betweenness once. Run it again
only to add a graph; the stored files are the reference.

    pip install networkx==3.6.1 numpy scipy
    python3 scripts/networkx_fixtures.py jobs/tests/fixtures/networkx
"""

import csv
import os
import random
import sys

import networkx as nx


def fixtures():
    karate = nx.karate_club_graph()
    yield "karate", [(f"m{a}", f"m{b}") for a, b in karate.edges()]
    florentine = nx.florentine_families_graph()
    yield "florentine", [(a.replace(" ", "_"), b.replace(" ", "_")) for a, b in florentine.edges()]
    # A directed random graph with dangling nodes, a self loop, a repeated edge and an island.
    rng = random.Random(7)
    edges = []
    for _ in range(70):
        a, b = rng.randrange(25), rng.randrange(25)
        if a >= 3:
            edges.append((f"n{a}", f"n{b}"))
    edges += [("n9", "n9"), ("n4", "n5"), ("n4", "n5"), ("x", "y"), ("y", "z")]
    yield "random25", edges
    # The first two columns name the ends when there is no src/dst header (MUSAE's from,to).
    yield "florentine_fromto", [(a.replace(" ", "_"), b.replace(" ", "_")) for a, b in florentine.edges()]


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, edges in fixtures():
        with open(os.path.join(out, f"{name}.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["from", "to"] if name.endswith("_fromto") else ["src", "dst"])
            w.writerows(edges)
        d = nx.DiGraph(edges)
        u = nx.Graph(edges)
        # Pulse's PageRank adds parallel edges up, as NetworkX does on a multigraph.
        pr = nx.pagerank(nx.MultiDiGraph(edges), alpha=0.85, tol=1e-13, max_iter=10_000)
        pru = nx.pagerank(nx.MultiGraph(edges), alpha=0.85, tol=1e-13, max_iter=10_000)
        bd = nx.betweenness_centrality(d)
        bdr = nx.betweenness_centrality(d, normalized=False)
        bu = nx.betweenness_centrality(u)
        bur = nx.betweenness_centrality(u, normalized=False)
        with open(os.path.join(out, f"{name}.expected.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["node", "pagerank", "betweenness_directed", "betweenness_directed_raw",
                        "betweenness_undirected", "betweenness_undirected_raw", "pagerank_undirected"])
            for v in sorted(d.nodes()):
                w.writerow([v, repr(pr[v]), repr(bd[v]), repr(bdr[v]), repr(bu[v]), repr(bur[v]), repr(pru[v])])
    print("networkx", nx.__version__)


if __name__ == "__main__":
    main(sys.argv[1])
