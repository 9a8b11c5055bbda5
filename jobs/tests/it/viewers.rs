//! The viewer pipeline on a generated month: the generator's planted truth (habits, bots)
//! is recovered, 30 incremental profile days equal a rebuild from the raw history, and
//! `verify` passes on a clean day and fails once viewer-day's output is tampered with.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use chrono::NaiveDate;
use object_store::ObjectStoreExt;
use pulse_ingest::generate::{GenOptions, GenReport, generate};
use pulse_lake::land::{Lander, encode_parquet};

use super::Env;

const DAYS: u32 = 30;

async fn month(env: &Env) -> GenReport {
    let o = GenOptions {
        seed: 7,
        days: DAYS,
        channels: 30,
        viewers: 600,
        bots: 3,
        tweets_per_sec: 0.0,
        ..Default::default()
    };
    generate(&Lander::new(env.lake.clone()), &o, &|_, _| {})
        .await
        .unwrap()
}

/// `days` generated days of 8 channels and `viewers` viewers, no bots or tweets.
async fn small_world(env: &Env, days: u32, viewers: usize) {
    let o = GenOptions {
        days,
        channels: 8,
        viewers,
        bots: 0,
        tweets_per_sec: 0.0,
        ..Default::default()
    };
    generate(&Lander::new(env.lake.clone()), &o, &|_, _| {})
        .await
        .unwrap();
}

async fn named(env: &Env, job: &str, from: &str, to: &str) -> pulse_jobs::Result<()> {
    env.run(job, from, to, &[]).await.map(|_| ())
}

type Scores = BTreeMap<(String, String, String), f64>;

async fn scores(env: &Env, date: NaiveDate) -> Scores {
    let batches = pulse_jobs::profile::scores_asof(&env.ctx, date)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut out = Scores::new();
    for b in &batches {
        let s = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8).unwrap();
        let (v, k, i) = (s(0), s(1), s(2));
        let score = b.column(3).as_primitive::<Float64Type>();
        for r in 0..b.num_rows() {
            let key = (
                v.as_string::<i32>().value(r).to_string(),
                k.as_string::<i32>().value(r).to_string(),
                i.as_string::<i32>().value(r).to_string(),
            );
            out.insert(key, score.value(r));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_month_recovers_habits_and_bots_and_incremental_equals_rebuild() {
    let env = Env::new().await;
    let world = month(&env).await;
    let (first, end) = ("2026-01-05", "2026-02-04");
    let last = NaiveDate::from_ymd_opt(2026, 2, 3).unwrap();
    for job in ["viewer-day", "bots"] {
        named(&env, job, first, end).await.unwrap();
    }
    // Bots: exactly the generated ones, no ordinary viewer.
    let caught: BTreeSet<String> = env
        .rows("SELECT DISTINCT viewer_login FROM bots")
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let planted: BTreeSet<String> = world.bots.iter().cloned().collect();
    assert_eq!(caught, planted);

    // 30 incremental days, one run per day.
    named(&env, "profiles", first, end).await.unwrap();
    let incremental = scores(&env, last).await;
    assert!(incremental.len() > 5_000, "{} scores", incremental.len());
    assert!(incremental.keys().all(|(v, _, _)| !planted.contains(v)));

    // Planted habits: viewers whose main channel streams in the evening (UTC) and who watch
    // on most workdays have that channel as favourite and their workday peak in its hours.
    let mut checked = 0;
    let (mut fav_ok, mut peak_ok) = (0, 0);
    for h in &world.habits {
        let join = h.channel_start_min + h.offset_min;
        if h.weekday_p < 0.6 || !(17 * 60..21 * 60).contains(&join) {
            continue;
        }
        let mine = |kind: &str| -> Vec<(String, f64)> {
            incremental
                .iter()
                .filter(|((v, k, _), _)| v == &h.viewer && k == kind)
                .map(|((_, _, i), s)| (i.clone(), *s))
                .collect()
        };
        let Some((fav, _)) = mine("streamer_total")
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            continue;
        };
        checked += 1;
        fav_ok += usize::from(fav == h.main_channel);
        let peak = mine("workday")
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(hour, _)| hour.parse::<u32>().unwrap() * 60)
            .unwrap_or(9999);
        // The viewer joins 0-20 minutes late into a stream starting +-15 minutes around its
        // slot, and stays len + 0-20 minutes.
        let (from, to) = (join.saturating_sub(15), join + h.len_min + 40);
        peak_ok += usize::from(peak + 59 >= from && peak <= to);
    }
    assert!(checked >= 20, "only {checked} evening viewers");
    assert!(
        fav_ok * 10 >= checked * 9,
        "favourite right for {fav_ok} of {checked}"
    );
    assert!(
        peak_ok * 10 >= checked * 9,
        "peak right for {peak_ok} of {checked}"
    );

    // The rebuild from the raw history gives the same profiles, to floating-point tolerance.
    named(&env, "profiles-rebuild", "2026-02-03", end)
        .await
        .unwrap();
    let rebuilt = scores(&env, last).await;
    assert_eq!(
        incremental.keys().collect::<Vec<_>>(),
        rebuilt.keys().collect::<Vec<_>>()
    );
    for (k, a) in &incremental {
        let b = rebuilt[k];
        assert!(
            (a - b).abs() <= 1e-9 * a.abs().max(1.0),
            "{k:?}: {a} vs {b}"
        );
    }

    // Verification passes on a clean day...
    named(&env, "verify", "2026-01-20", "2026-01-21")
        .await
        .unwrap();
    assert_eq!(
        env.rows("SELECT status, mismatches, sampled FROM verification WHERE dt = '2026-01-20'")
            .await,
        vec![vec!["ok".to_string(), "0".to_string(), "50".to_string()]]
    );
    // ... and fails when another writer replaces a viewer-day file with altered rows (a
    // Delta commit, as any tool writing the table makes).
    let files = pulse_lake::catalog::list_files(&env.lake, "agg/viewer_channel_day/dt=2026-01-20")
        .await
        .unwrap();
    let (path, _) = files
        .into_iter()
        .find(|(p, _)| p.as_ref().ends_with(".parquet"))
        .unwrap();
    let bytes = env
        .lake
        .store()
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 8192).unwrap();
    let mut tampered: Vec<RecordBatch> = Vec::new();
    let mut schema = None;
    for b in reader {
        let b = b.unwrap();
        let i = b.schema().index_of("minutes").unwrap();
        let plus = arrow::compute::kernels::numeric::add(
            b.column(i),
            &arrow::array::Float64Array::new_scalar(5.0),
        )
        .unwrap();
        let mut cols = b.columns().to_vec();
        cols[i] = plus;
        schema = Some(b.schema());
        tampered.push(RecordBatch::try_new(b.schema(), cols).unwrap());
    }
    let schema = schema.unwrap();
    let body = encode_parquet(&schema, &tampered).unwrap();
    let table = pulse_lake::delta::LakeTable::new(&env.lake, "agg/viewer_channel_day");
    let loaded = table.load().await.unwrap().unwrap();
    let shape = table.shape(&loaded).unwrap();
    let old = pulse_lake::view::rel_under(&path, &env.lake.path("agg/viewer_channel_day")).unwrap();
    let new = "dt=2026-01-20/altered.parquet".to_string();
    env.lake
        .store()
        .put(
            &env.lake.path(&format!("agg/viewer_channel_day/{new}")),
            body.clone().into(),
        )
        .await
        .unwrap();
    let file = pulse_lake::delta::DataFile::from_bytes(
        new,
        &body,
        vec![("dt".into(), "2026-01-20".into())],
        &schema,
    )
    .unwrap();
    table
        .commit(
            &shape,
            &[file],
            pulse_lake::delta::Change::Rewrite(vec![old]),
        )
        .await
        .unwrap();
    let err = named(&env, "verify", "2026-01-20", "2026-01-21")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("verification of 2026-01-20 failed"), "{err}");
    assert_eq!(
        env.rows("SELECT status FROM verification WHERE dt = '2026-01-20'")
            .await,
        vec![vec!["failed".to_string()]]
    );
    // Every run is in the history, the failed one with its cause.
    let failed = env
        .rows("SELECT job, error FROM runs WHERE status = 'failed'")
        .await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0][0] == "verify" && failed[0][1].contains("mismatch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_refuse_to_skip_days() {
    let env = Env::new().await;
    small_world(&env, 3, 200).await;
    named(&env, "viewer-day", "2026-01-05", "2026-01-08")
        .await
        .unwrap();
    named(&env, "profiles", "2026-01-05", "2026-01-06")
        .await
        .unwrap();
    // Day 3 without day 2 would silently lose day 2's viewing.
    let err = named(&env, "profiles", "2026-01-07", "2026-01-08")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1 earlier") && err.contains("profiles-rebuild"),
        "{err}"
    );
    named(&env, "profiles", "2026-01-06", "2026-01-08")
        .await
        .unwrap();
}

/// Runs of one job for different dates at once (the nightly runner's max_concurrent), each
/// in its own session: each has its own scratch space, so one ending does not remove what
/// the other still reads (graph materializes three scratch tables).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_one_job_for_other_dates_at_once_keep_their_scratch_apart() {
    let env = Env::new().await;
    small_world(&env, 4, 300).await;
    let registry = pulse_jobs::registry::Registry::builtin().unwrap();
    let run = |day: u32| {
        let (lake, registry) = (env.lake.clone(), registry.clone());
        async move {
            let ctx = pulse_lake::catalog::session(&lake).await.unwrap();
            let start = NaiveDate::from_ymd_opt(2026, 1, 5 + day)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc();
            let o = pulse_jobs::RunOptions::default();
            pulse_jobs::run_with(
                &lake,
                &ctx,
                &registry,
                "graph",
                start,
                start + chrono::Duration::days(1),
                &[],
                &o,
            )
            .await
        }
    };
    let (a, b, c, d) = tokio::join!(run(0), run(1), run(2), run(3));
    for r in [a, b, c, d] {
        assert!(r.unwrap().rows_out() > 0);
    }
    let ctx = pulse_lake::catalog::session(&env.lake).await.unwrap();
    let days = ctx
        .sql("SELECT count(DISTINCT dt) FROM graph_edges")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(pulse_jobs::scalar::first_i64(&days), Some(4));
}
