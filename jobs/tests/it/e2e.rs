//! The jobs end to end over a lake: reruns give identical outputs, and a fresh session finds
//! every output table by name.

use super::Env;

async fn all_outputs(env: &Env) -> Vec<(String, Vec<Vec<String>>)> {
    let mut out = Vec::new();
    for t in pulse_lake::catalog::list_dirs(&env.lake, "agg")
        .await
        .unwrap()
    {
        let mut rows = env.rows(&format!("SELECT * FROM {t}")).await;
        rows.sort();
        out.push((t, rows));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reruns_are_idempotent_and_outputs_are_registered() {
    let env = Env::new().await;
    // 5,000 tweets, one every 7 s from midnight, each with #all and one of seven tags.
    env.ctx
        .sql(
            "CREATE OR REPLACE VIEW messages AS SELECT arrow_cast(1767571200000000 + v * 7000000, 'Timestamp(µs, \"UTC\")') AS event_time, \
             concat('#tag', CAST(v % 7 AS VARCHAR), ' #all') AS text, '2026-01-05' AS dt FROM unnest(range(0, 5000)) AS r(v)",
        )
        .await
        .unwrap();
    env.run(
        "hashtags",
        "2026-01-05",
        "2026-01-06",
        &[("size", "1h"), ("slide", "15m")],
    )
    .await
    .unwrap();
    let first = all_outputs(&env).await;
    env.run(
        "hashtags",
        "2026-01-05",
        "2026-01-06",
        &[("size", "1h"), ("slide", "15m")],
    )
    .await
    .unwrap();
    assert_eq!(all_outputs(&env).await, first);
    // #all is in every tweet: 3600 / 7 tweets per full hour window.
    let top = env.rows("SELECT n FROM hashtag_top_1h_15m WHERE rank = 1 AND window_start = arrow_cast(1767571200000000, 'Timestamp(µs, \"UTC\")')").await;
    assert_eq!(top, vec![vec![(3600 / 7 + 1).to_string()]]);
    // A new session over the same lake sees every output.
    let fresh = pulse_lake::catalog::session(&env.lake).await.unwrap();
    for (t, rows) in &first {
        let n = fresh
            .sql(&format!("SELECT count(*) FROM {t}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let n = super::slt::format_rows(&n)[0][0].parse::<usize>().unwrap();
        assert_eq!(n, rows.len(), "{t}");
    }
}
