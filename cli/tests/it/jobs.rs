//! `pulse run`: each windowed job end to end from `pulse gen` output and from replayed real
//! data, reruns idempotent, every output queryable by name with `pulse sql`.

use super::{Pulse, assert_same_outputs, job_outputs};

#[test]
fn jobs_run_on_generated_data_and_rerun_identically() {
    let p = Pulse::new();
    p.ok(&[
        "gen",
        "--days",
        "2",
        "--channels",
        "8",
        "--viewers",
        "400",
        "--tweets-per-sec",
        "0.05",
    ]);
    let run = |job: &str, extra: &[&str]| {
        let mut args = vec!["run", job, "--from", "2026-01-05", "--to", "2026-01-07"];
        args.extend_from_slice(extra);
        p.ok(&args)
    };
    run("hashtags", &["--set", "size=1h", "--set", "slide=10m"]);
    run("categories", &[]);
    run("channels", &[]);
    let first = job_outputs(&p);
    let names: Vec<&str> = first.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        names,
        [
            "category_hourly",
            "category_stats_30m",
            "category_top_channels_30m",
            "channel_categories",
            "channel_daily",
            "channel_hourly",
            "hashtag_counts_1h_10m",
            "hashtag_late_1h_10m",
            "hashtag_top_1h_10m",
            "hashtag_trends_1h_10m",
        ]
    );
    for (t, rows) in &first {
        if !t.contains("late") {
            assert!(!rows.is_empty(), "{t} is empty");
        }
    }
    // Independent checks against the raw tables.
    // Each tag occurrence is in size / slide = 6 windows; those starting before the interval
    // (covering its first 50 minutes) are not output.
    let occurrences = p.count("SELECT count(*) FROM (SELECT unnest(hashtags(text)) FROM messages)");
    let missing = p.count(
        "SELECT CAST(sum(GREATEST(0, 5 - CAST(date_part('minute', event_time) AS BIGINT) / 10)) AS BIGINT) FROM \
         (SELECT event_time, unnest(hashtags(text)) FROM messages) WHERE event_time < arrow_cast(1767574200000000, 'Timestamp(µs, \"UTC\")')",
    );
    assert_eq!(
        p.count("SELECT CAST(sum(n) AS BIGINT) FROM hashtag_counts_1h_10m"),
        6 * occurrences - missing
    );
    let peak =
        p.sql("SELECT channel_login, max(peak_viewers) FROM channel_daily GROUP BY 1 ORDER BY 1");
    let raw_peak = p.sql("SELECT channel_login, max(viewers) FROM streams GROUP BY 1 ORDER BY 1");
    assert_eq!(peak, raw_peak);
    run("hashtags", &["--set", "size=1h", "--set", "slide=10m"]);
    run("categories", &[]);
    run("channels", &[]);
    assert_same_outputs(&job_outputs(&p), &first, "a rerun changed an output");
}

#[test]
fn bad_job_arguments_are_clear_errors() {
    let p = Pulse::new();
    let cases: [(&[&str], &str); 4] = [
        (
            &["run", "nope", "--from", "2026-01-05", "--to", "2026-01-06"],
            "unknown job",
        ),
        (
            &[
                "run",
                "hashtags",
                "--from",
                "2026-01-06",
                "--to",
                "2026-01-05",
            ],
            "empty interval",
        ),
        (
            &[
                "run",
                "hashtags",
                "--from",
                "2026-01-05",
                "--to",
                "2026-01-06",
                "--set",
                "size=lots",
            ],
            "not a duration",
        ),
        (
            &[
                "run",
                "hashtags",
                "--from",
                "2026-01-05",
                "--to",
                "2026-01-06",
                "--set",
                "colour=red",
            ],
            "unknown parameter colour",
        ),
    ];
    for (args, msg) in cases {
        let out = p.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
}

use super::shared_data as data;

#[test]
fn jobs_run_on_replayed_real_tweets_and_category_snapshots() {
    let (Some(tweets), Some(games)) = (
        data("tweets/szymsta_spark_twitter_pipeline/covid19_tweets.csv"),
        data("twitch_category_snapshots_2023/games.csv"),
    ) else {
        return;
    };
    let p = Pulse::new();
    p.ok(&["ingest", "replay", tweets.to_str().unwrap()]);
    p.ok(&[
        "run",
        "hashtags",
        "--from",
        "2020-07-25",
        "--to",
        "2020-07-26",
        "--set",
        "size=1h",
        "--set",
        "slide=30m",
    ]);
    // COVID-19 tweets: #covid19 tops every hour window.
    let tops = p.sql("SELECT DISTINCT tag FROM hashtag_top_1h_30m WHERE rank = 1");
    assert_eq!(tops, vec![vec!["covid19"]]);
    p.ok(&["ingest", "replay", games.to_str().unwrap()]);
    p.ok(&[
        "run",
        "categories",
        "--from",
        "2023-07-22",
        "--to",
        "2023-07-31",
        "--set",
        "window=1d",
        "--set",
        "sample=15m",
    ]);
    let days = p.count("SELECT count(DISTINCT window_start) FROM category_stats_1day");
    assert_eq!(days, 9);
    // Shares of each window add up to 1.
    let bad = p.count("SELECT count(*) FROM (SELECT window_start, sum(viewer_share) s FROM category_stats_1day GROUP BY 1) WHERE abs(s - 1) > 1e-9");
    assert_eq!(bad, 0);
    let top = p.sql("SELECT category_name FROM category_stats_1day WHERE rank = 1 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1");
    assert_eq!(top, vec![vec!["Just Chatting"]]);
}
