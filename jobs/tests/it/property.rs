//! Property: the hashtags job's sliding-window counts equal a brute-force count over random
//! events, for several window geometries (slide dividing size, tumbling, and gaps).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema};

use super::Env;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const DAY0: i64 = 1_767_571_200_000_000; // 2026-01-05T00:00:00Z

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_counts_equal_brute_force() {
    for (seed, (size_s, slide_s)) in [(20, 10), (30, 30), (60, 15), (10, 30), (40, 20)]
        .into_iter()
        .enumerate()
    {
        let mut rng = Lcg(seed as u64 + 1);
        // 400 events from 2 minutes before the day to 10 minutes into it, some at exact
        // window boundaries, with 0 to 3 tags each (a tag may repeat).
        let mut times = Vec::new();
        let mut texts = Vec::new();
        for _ in 0..400 {
            let t = if rng.next(5) == 0 {
                DAY0 + (rng.next(60) as i64 - 12) * 10_000_000
            } else {
                DAY0 - 120_000_000 + rng.next(720_000_000) as i64
            };
            let tags: Vec<String> = (0..rng.next(4))
                .map(|_| format!("#t{}", rng.next(5)))
                .collect();
            times.push(t);
            texts.push(format!("msg {}", tags.join(" ")));
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "event_time",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("text", DataType::Utf8, false),
            Field::new("dt", DataType::Utf8, false),
        ]));
        let dts: Vec<String> = times
            .iter()
            .map(|t| {
                chrono::DateTime::from_timestamp_micros(*t)
                    .unwrap()
                    .format("%Y-%m-%d")
                    .to_string()
            })
            .collect();
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMicrosecondArray::from(times.clone()).with_timezone("UTC")),
                Arc::new(StringArray::from(texts.clone())),
                Arc::new(StringArray::from(dts)),
            ],
        )
        .unwrap();
        let env = Env::new().await;
        env.ctx.deregister_table("messages").unwrap();
        env.ctx.register_batch("messages", batch).unwrap();
        let (size, slide) = (format!("{size_s}s"), format!("{slide_s}s"));
        env.run(
            "hashtags",
            "2026-01-05",
            "2026-01-06",
            &[("size", &size), ("slide", &slide)],
        )
        .await
        .unwrap();
        let name = |s: i64| {
            humantime::format_duration(std::time::Duration::from_secs(s as u64)).to_string()
        };
        let table = format!("hashtag_counts_{}_{}", name(size_s), name(slide_s));
        let got: BTreeMap<(i64, String), i64> = env
            .rows(&format!(
                "SELECT CAST(window_start AS BIGINT), tag, n FROM {table}"
            ))
            .await
            .into_iter()
            .map(|r| ((r[0].parse().unwrap(), r[1].clone()), r[2].parse().unwrap()))
            .collect();

        // Brute force: every window start (a multiple of slide within the day) against every event.
        let (size_us, slide_us) = (size_s * 1_000_000, slide_s * 1_000_000);
        let mut want: BTreeMap<(i64, String), i64> = BTreeMap::new();
        let mut ws = DAY0;
        // Events end 10 minutes into the day: later windows are empty.
        while ws < DAY0 + 720_000_000 {
            for (t, text) in times.iter().zip(&texts) {
                if *t >= ws && *t < ws + size_us {
                    for tag in text.split_whitespace().filter_map(|w| w.strip_prefix('#')) {
                        *want.entry((ws, tag.to_string())).or_default() += 1;
                    }
                }
            }
            ws += slide_us;
        }
        assert!(!want.is_empty());
        assert_eq!(got, want, "size {size_s}s slide {slide_s}s");
    }
}
