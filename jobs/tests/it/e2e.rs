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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_dt_follows_new_days_and_reads_only_that_day() {
    let env = Env::new().await;
    // Three days of tweets, one a minute.
    env.ctx
        .sql(
            "CREATE OR REPLACE VIEW messages AS SELECT arrow_cast(1767571200000000 + v * 60000000, 'Timestamp(µs, \"UTC\")') AS event_time, \
             '#pulse' AS text, to_char(arrow_cast(1767571200000000 + v * 60000000, 'Timestamp(µs, \"UTC\")'), '%Y-%m-%d') AS dt \
             FROM unnest(range(0, 3 * 1440)) AS r(v)",
        )
        .await
        .unwrap();
    let latest = |env: &Env| {
        let ctx = env.ctx.clone();
        async move {
            let b = ctx
                .sql("SELECT latest_dt('hashtag_counts_1h_1h'), latest_dt('no_such_table')")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            super::slt::format_rows(&b)[0].clone()
        }
    };
    let set = [("size", "1h"), ("slide", "1h")];
    env.run("hashtags", "2026-01-05", "2026-01-06", &set)
        .await
        .unwrap();
    assert_eq!(latest(&env).await, vec!["2026-01-05", "NULL"]);
    // The same session sees the next day once the job has written it.
    env.run("hashtags", "2026-01-06", "2026-01-08", &set)
        .await
        .unwrap();
    assert_eq!(latest(&env).await, vec!["2026-01-07", "NULL"]);
    let max = env.rows("SELECT max(dt) FROM hashtag_counts_1h_1h").await;
    assert_eq!(max, vec![vec!["2026-01-07".to_string()]]);
    // Planned as a constant: the scan lists the one day's file, not the three.
    let plan = env
        .rows(
            "EXPLAIN SELECT tag, n FROM hashtag_counts_1h_1h WHERE dt = latest_dt('hashtag_counts_1h_1h')",
        )
        .await;
    let text = format!("{plan:?}");
    assert!(text.contains("dt=2026-01-07"), "{text}");
    assert!(
        !text.contains("dt=2026-01-06") && !text.contains("dt=2026-01-05"),
        "{text}"
    );
    let n = env
        .rows("SELECT count(*) FROM hashtag_counts_1h_1h WHERE dt = latest_dt('hashtag_counts_1h_1h')")
        .await;
    assert_eq!(n, vec![vec!["24".to_string()]]);
}
