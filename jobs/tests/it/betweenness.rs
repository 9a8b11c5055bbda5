//! Betweenness against independent answers: every shortest path counted pair by pair in plain
//! Rust on random small graphs (directed and undirected, self loops, repeated edges, dangling
//! nodes, disconnected parts; exact and sampled, split into different numbers of parts), and
//! NetworkX's values for fixture graphs stored by `scripts/networkx_fixtures.py` (betweenness
//! and PageRank, directed and undirected; one file with `from,to` columns).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use pulse_ingest::rng::Rng;
use pulse_jobs::betweenness::{BetweennessOptions, run};
use pulse_jobs::edges::Edges;

use super::Env;

type Graph = Vec<(String, String)>;

fn random_graph(seed: u64, n: u64, m: u64) -> Graph {
    let mut r = Rng::derive(seed, 1);
    let mut edges = Vec::new();
    for _ in 0..m {
        let (a, b) = (r.below(n), r.below(n));
        // Nodes 0..2 have no out-edges.
        if a >= 2 {
            edges.push((format!("n{a}"), format!("n{b}")));
        }
    }
    edges.push(("n5".into(), "n5".into()));
    if let Some(e) = edges.first().cloned() {
        edges.push(e);
    }
    edges.push(("island_a".into(), "island_b".into()));
    edges.push(("island_b".into(), "island_c".into()));
    edges
}

/// Shortest-path distances and counts from `s` (BFS).
fn paths(adj: &BTreeMap<&str, BTreeSet<&str>>, s: &str) -> BTreeMap<String, (u64, f64)> {
    let mut seen = BTreeMap::from([(s.to_string(), (0u64, 1.0f64))]);
    let mut queue = VecDeque::from([s]);
    while let Some(v) = queue.pop_front() {
        let (dv, sv) = seen[v];
        for w in adj.get(v).into_iter().flatten() {
            match seen.get_mut(*w) {
                None => {
                    seen.insert(w.to_string(), (dv + 1, sv));
                    queue.push_back(w);
                }
                Some((dw, sw)) if *dw == dv + 1 => *sw += sv,
                Some(_) => {}
            }
        }
    }
    seen
}

/// The unscaled betweenness by definition: for every ordered pair (s, t), s a source, each
/// node v on a shortest path gets sigma(s, v) sigma(v, t) / sigma(s, t).
fn brute(
    edges: &Graph,
    directed: bool,
    sources: Option<&BTreeSet<String>>,
) -> BTreeMap<String, f64> {
    let mut adj: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut nodes = BTreeSet::new();
    for (a, b) in edges {
        nodes.insert(a.as_str());
        nodes.insert(b.as_str());
        if a != b {
            adj.entry(a).or_default().insert(b);
            if !directed {
                adj.entry(b).or_default().insert(a);
            }
        }
    }
    let all: BTreeMap<&str, _> = nodes.iter().map(|v| (*v, paths(&adj, v))).collect();
    let mut bc: BTreeMap<String, f64> = nodes.iter().map(|v| (v.to_string(), 0.0)).collect();
    for s in &nodes {
        if sources.is_some_and(|set| !set.contains(*s)) {
            continue;
        }
        for (t, (dst, sst)) in &all[s] {
            if t == s {
                continue;
            }
            for v in &nodes {
                if v == s || v == t {
                    continue;
                }
                if let (Some((dsv, ssv)), Some((dvt, svt))) = (all[s].get(*v), all[v].get(t))
                    && dsv + dvt == *dst
                {
                    *bc.get_mut(*v).unwrap() += ssv * svt / sst;
                }
            }
        }
    }
    bc
}

fn write_csv(env: &Env, name: &str, edges: &Graph) -> String {
    let path = env.dir.path().join(name);
    let mut text = String::from("src,dst\n");
    for (a, b) in edges {
        text.push_str(&format!("{a},{b}\n"));
    }
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn options(path: &str) -> BetweennessOptions {
    BetweennessOptions {
        edges: Edges::File(path.to_string()),
        date: "2026-01-05".into(),
        directed: true,
        normalized: true,
        samples: None,
        seed: 0,
        parts: None,
    }
}

/// (node -> score, the sampled sources).
async fn scores(env: &Env) -> (BTreeMap<String, f64>, BTreeSet<String>) {
    let rows = env
        .rows("SELECT node, score, source FROM betweenness_file WHERE dt = '2026-01-05'")
        .await;
    let sources = rows
        .iter()
        .filter(|r| r[2] == "true")
        .map(|r| r[0].clone())
        .collect();
    let scores = rows
        .into_iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap()))
        .collect();
    (scores, sources)
}

fn max_diff(got: &BTreeMap<String, f64>, want: &BTreeMap<String, f64>) -> f64 {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    got.iter()
        .map(|(k, v)| (v - want[k]).abs())
        .fold(0.0, f64::max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_betweenness_equals_counting_every_shortest_path() {
    let env = Env::new().await;
    for (seed, n, m, parts) in [
        (0, 12, 30, None),
        (1, 25, 60, Some(1)),
        (2, 40, 70, Some(7)),
    ] {
        let g = random_graph(seed, n, m);
        let path = write_csv(&env, &format!("g{seed}.csv"), &g);
        for directed in [true, false] {
            let raw = brute(&g, directed, None);
            let nodes = raw.len() as f64;
            for normalized in [true, false] {
                let mut o = options(&path);
                (o.directed, o.normalized, o.parts) = (directed, normalized, parts);
                run(&env.lake, &env.ctx, &o).await.unwrap();
                let (got, _) = scores(&env).await;
                // NetworkX's scaling: per pair of other nodes, or each unordered pair once.
                let div = match (normalized, directed) {
                    (true, _) => (nodes - 1.0) * (nodes - 2.0),
                    (false, true) => 1.0,
                    (false, false) => 2.0,
                };
                let want = raw.iter().map(|(k, v)| (k.clone(), v / div)).collect();
                let err = max_diff(&got, &want);
                assert!(
                    err < 1e-9,
                    "seed {seed} directed {directed} normalized {normalized}: {err}"
                );
                assert!(got.values().any(|v| *v > 0.0));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_betweenness_sums_its_sources_and_estimates_the_exact_scores() {
    let env = Env::new().await;
    let g = random_graph(5, 120, 300);
    let path = write_csv(&env, "g.csv", &g);
    let exact = {
        run(&env.lake, &env.ctx, &options(&path)).await.unwrap();
        scores(&env).await.0
    };
    let n = exact.len() as f64;
    let mut o = options(&path);
    o.samples = Some(60);
    o.seed = 42;
    run(&env.lake, &env.ctx, &o).await.unwrap();
    let (got, sources) = scores(&env).await;
    assert_eq!(sources.len(), 60);
    // Exactly the sums over the sampled sources, scaled up as NetworkX does (a sampled node
    // cannot be the source of a path through itself, so its share is over k - 1 sources).
    let raw = brute(&g, true, Some(&sources));
    let k = sources.len() as f64;
    let want = raw
        .iter()
        .map(|(v, b)| {
            let pairs = if sources.contains(v) { k - 1.0 } else { k } * (n - 2.0);
            (v.clone(), b / pairs)
        })
        .collect();
    assert!(max_diff(&got, &want) < 1e-9);
    // An estimate: half the sources give the exact scores to within a fifth (L1, seeded).
    let l1: f64 = got.iter().map(|(v, b)| (b - exact[v]).abs()).sum();
    let norm: f64 = exact.values().sum();
    assert!(l1 / norm < 0.2, "relative L1 error {}", l1 / norm);
    // The same seed draws the same sources; another seed others.
    run(&env.lake, &env.ctx, &o).await.unwrap();
    assert_eq!(scores(&env).await.1, sources);
    o.seed = 43;
    run(&env.lake, &env.ctx, &o).await.unwrap();
    assert_ne!(scores(&env).await.1, sources);
    // A sample as large as the graph is the exact answer.
    o.samples = Some(10_000);
    run(&env.lake, &env.ctx, &o).await.unwrap();
    assert!(max_diff(&scores(&env).await.0, &exact) < 1e-12);
    o.samples = Some(1);
    let err = run(&env.lake, &env.ctx, &o).await.unwrap_err();
    assert!(err.to_string().contains("samples >= 2"), "{err}");
}

fn fixture(name: &str) -> (String, Vec<BTreeMap<String, f64>>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/networkx");
    let mut cols: Vec<BTreeMap<String, f64>> = vec![BTreeMap::new(); 6];
    let mut r = csv::Reader::from_path(format!("{dir}/{name}.expected.csv")).unwrap();
    for row in r.records() {
        let row = row.unwrap();
        for (i, col) in cols.iter_mut().enumerate() {
            col.insert(row[0].to_string(), row[i + 1].parse().unwrap());
        }
    }
    (format!("{dir}/{name}.csv"), cols)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn betweenness_and_pagerank_match_stored_networkx_values() {
    let env = Env::new().await;
    for name in ["karate", "florentine", "random25", "florentine_fromto"] {
        let (path, want) = fixture(name);
        for (i, (directed, normalized)) in
            [(true, true), (true, false), (false, true), (false, false)]
                .into_iter()
                .enumerate()
        {
            let mut o = options(&path);
            (o.directed, o.normalized) = (directed, normalized);
            run(&env.lake, &env.ctx, &o).await.unwrap();
            let err = max_diff(&scores(&env).await.0, &want[i + 1]);
            assert!(
                err < 1e-9,
                "{name} directed {directed} normalized {normalized}: {err}"
            );
        }
        for (directed, col) in [(true, 0), (false, 5)] {
            let o = pulse_jobs::pagerank::PageRankOptions {
                edges: Edges::File(path.clone()),
                date: "2026-01-05".into(),
                damping: 0.85,
                tol: 1e-10,
                max_iter: 1000,
                // No checkpoint before the end: plans must still not nest the earlier steps.
                checkpoint_every: 1000,
                weighted: false,
                directed,
                personalize: Vec::new(),
                native_edges: pulse_jobs::pagerank::NATIVE_EDGES,
                distance: false,
            };
            pulse_jobs::pagerank::run(&env.lake, &env.ctx, &o)
                .await
                .unwrap();
            let got: BTreeMap<String, f64> = env
                .rows("SELECT node, rank FROM pagerank_file WHERE dt = '2026-01-05'")
                .await
                .into_iter()
                .map(|r| (r[0].clone(), r[1].parse().unwrap()))
                .collect();
            let l1: f64 = got.iter().map(|(v, r)| (r - want[col][v]).abs()).sum();
            assert_eq!(got.len(), want[col].len());
            assert!(l1 < 1e-6, "{name} directed {directed}: pagerank L1 {l1}");
        }
    }
}
