//! PageRank against plain power iteration (NetworkX's definition, written out in Rust) on
//! random small graphs with dangling nodes, self loops and disconnected parts, plain,
//! weighted and personalised; and a run stopped after a checkpoint resumes to the same ranks.

use std::collections::BTreeMap;

use pulse_ingest::rng::Rng;
use pulse_jobs::pagerank::{Edges, PageRankOptions, run};

use super::Env;

type Graph = Vec<(String, String, f64)>;

/// Random edges over `n` nodes: some self loops, a separate pair, and nodes without
/// out-edges.
fn random_graph(seed: u64, n: u64) -> Graph {
    let mut r = Rng::derive(seed, 0);
    let mut edges = Vec::new();
    for _ in 0..n * 3 {
        let (a, b) = (r.below(n), r.below(n));
        // Nodes 0..3 never point anywhere: dangling.
        if a >= 3 {
            edges.push((format!("n{a}"), format!("n{b}"), 1.0 + r.below(5) as f64));
        }
    }
    edges.push(("n7".into(), "n7".into(), 2.0));
    edges.push(("island_a".into(), "island_b".into(), 1.0));
    edges.push(("island_b".into(), "island_a".into(), 1.0));
    edges
}

/// Power iteration as NetworkX's `pagerank` does it.
fn brute(edges: &Graph, weighted: bool, personal: &[&str], d: f64) -> BTreeMap<String, f64> {
    let mut nodes: Vec<String> = edges
        .iter()
        .flat_map(|(a, b, _)| [a.clone(), b.clone()])
        .collect();
    nodes.sort();
    nodes.dedup();
    let n = nodes.len() as f64;
    let mut out: BTreeMap<&str, f64> = BTreeMap::new();
    for (a, _, w) in edges {
        *out.entry(a).or_default() += if weighted { *w } else { 1.0 };
    }
    let p: BTreeMap<&str, f64> = nodes
        .iter()
        .map(|v| {
            let share = if personal.is_empty() {
                1.0 / n
            } else if personal.contains(&v.as_str()) {
                1.0 / personal.len() as f64
            } else {
                0.0
            };
            (v.as_str(), share)
        })
        .collect();
    let mut x: BTreeMap<&str, f64> = nodes.iter().map(|v| (v.as_str(), 1.0 / n)).collect();
    for _ in 0..10_000 {
        let dangle: f64 = nodes
            .iter()
            .filter(|v| !out.contains_key(v.as_str()))
            .map(|v| x[v.as_str()])
            .sum();
        let mut next: BTreeMap<&str, f64> = nodes.iter().map(|v| (v.as_str(), 0.0)).collect();
        for (a, b, w) in edges {
            let w = if weighted { *w } else { 1.0 };
            *next.get_mut(b.as_str()).unwrap() += d * x[a.as_str()] * w / out[a.as_str()];
        }
        for v in &nodes {
            *next.get_mut(v.as_str()).unwrap() +=
                d * dangle * p[v.as_str()] + (1.0 - d) * p[v.as_str()];
        }
        let err: f64 = nodes
            .iter()
            .map(|v| (next[v.as_str()] - x[v.as_str()]).abs())
            .sum();
        x = next;
        if err < n * 1e-14 {
            break;
        }
    }
    x.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn write_csv(env: &Env, name: &str, edges: &Graph) -> String {
    let path = env.dir.path().join(name);
    let mut text = String::from("src,dst,weight\n");
    for (a, b, w) in edges {
        text.push_str(&format!("{a},{b},{w}\n"));
    }
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn options(path: &str) -> PageRankOptions {
    PageRankOptions {
        edges: Edges::File(path.to_string()),
        date: "2026-01-05".into(),
        damping: 0.85,
        tol: 1e-10,
        max_iter: 500,
        checkpoint_every: 1,
        weighted: false,
        directed: true,
        personalize: Vec::new(),
        native_edges: pulse_jobs::pagerank::NATIVE_EDGES,
        distance: false,
    }
}

async fn ranks(env: &Env) -> BTreeMap<String, f64> {
    env.rows("SELECT node, rank FROM pagerank_file WHERE dt = '2026-01-05'")
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap()))
        .collect()
}

fn l1(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> f64 {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    a.iter().map(|(k, v)| (v - b[k]).abs()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerank_equals_power_iteration_on_random_graphs() {
    let env = Env::new().await;
    for seed in 0..2 {
        let g = random_graph(seed, 12 + seed * 5);
        let path = write_csv(&env, &format!("g{seed}.csv"), &g);
        let variants = if seed == 0 {
            vec![(false, vec![]), (true, vec![]), (false, vec!["n5", "n9"])]
        } else {
            vec![(false, vec![])]
        };
        for (weighted, personal) in variants {
            // In memory (the default for small graphs) and as a plan per iteration.
            let mut both = Vec::new();
            for native_edges in [pulse_jobs::pagerank::NATIVE_EDGES, 0] {
                let mut o = options(&path);
                o.weighted = weighted;
                o.native_edges = native_edges;
                o.personalize = personal.iter().map(|s| s.to_string()).collect();
                let (_, report) = run(&env.lake, &env.ctx, &o).await.unwrap();
                assert!(report.iterations > 5, "{report:?}");
                let got = ranks(&env).await;
                let want = brute(&g, weighted, &personal, 0.85);
                let err = l1(&got, &want);
                assert!(
                    err < 1e-6,
                    "seed {seed} weighted {weighted} {personal:?} native_edges {native_edges}: L1 {err}"
                );
                assert!((got.values().sum::<f64>() - 1.0).abs() < 1e-9);
                both.push((got, report.iterations));
            }
            // The same iterations, so the same ranks up to the order of additions.
            assert_eq!(both[0].1, both[1].1);
            assert!(l1(&both[0].0, &both[1].0) < 1e-12);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_resumes_from_its_checkpoint_to_the_same_ranks() {
    let env = Env::new().await;
    let g = random_graph(9, 30);
    let path = write_csv(&env, "g.csv", &g);
    let mut o = options(&path);
    // Checkpoints are the plan-per-iteration path's.
    o.native_edges = 0;
    let (_, first) = run(&env.lake, &env.ctx, &o).await.unwrap();
    let unbroken = ranks(&env).await;
    // Stop after 5 iterations (as a killed run would, its checkpoints stay) ...
    o.max_iter = 5;
    let err = run(&env.lake, &env.ctx, &o).await.unwrap_err().to_string();
    assert!(err.contains("did not converge in 5"), "{err}");
    // ... then go on: the run starts at iteration 5, not 0.
    o.max_iter = 500;
    let (_, report) = run(&env.lake, &env.ctx, &o).await.unwrap();
    assert_eq!(report.resumed_from, Some(5));
    let d = l1(&ranks(&env).await, &unbroken);
    assert!(
        d < 1e-12,
        "L1 {d}, iterations {} then {}",
        first.iterations,
        report.iterations
    );
    // The checkpoints are gone once the ranks are written.
    for d in pulse_lake::catalog::list_dirs(&env.lake, "tmp")
        .await
        .unwrap()
    {
        let left = pulse_lake::catalog::list_files(&env.lake, &format!("tmp/{d}"))
            .await
            .unwrap();
        assert!(
            !d.starts_with("pagerank-") || left.is_empty(),
            "{d}: {left:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_distance_tol_bounds_the_l1_distance_to_the_fixed_point() {
    let env = Env::new().await;
    let g = random_graph(3, 40);
    let path = write_csv(&env, "d.csv", &g);
    let want = brute(&g, false, &[], 0.85);
    for tol in [1e-2, 1e-4, 1e-7] {
        for native_edges in [pulse_jobs::pagerank::NATIVE_EDGES, 0] {
            let mut o = options(&path);
            o.tol = tol;
            o.distance = true;
            o.native_edges = native_edges;
            let (_, report) = run(&env.lake, &env.ctx, &o).await.unwrap();
            let err = l1(&ranks(&env).await, &want);
            assert!(
                err < tol,
                "tol {tol} native_edges {native_edges}: L1 distance {err} after {} iterations",
                report.iterations
            );
        }
    }
}
