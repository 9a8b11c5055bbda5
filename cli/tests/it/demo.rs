//! `pulse demo`, the README's main command, runs end to end, finds the truths the generator
//! planted, and gives the same answers when rerun on the same lake.

use super::Pulse;

#[test]
fn demo_runs_end_to_end_finds_planted_truth_and_reruns_identically() {
    let p = Pulse::new();
    let args = ["demo", "--days", "1", "--channels", "6", "--viewers", "300"];
    let first = p.ok(&args);
    for section in [
        "1. generated",
        "2. ran the nightly DAG for 2026-01-05: compact, ",
        "hashtags",
        "categories",
        "channels",
        "viewer-day",
        "bots",
        "profiles",
        "verify",
        "pagerank",
        "betweenness",
        "pipeline-stats",
        "4. the profile of the viewer who watched most",
        "workday       |",
        "Rows landed per raw table",
        "Top channels by hours watched",
        "The strongest hashtag trend of each day",
        "_bot",
    ] {
        assert!(first.contains(section), "missing {section:?} in:\n{first}");
    }
    // The strongest trend of the day is one of the two hashtags the generator made burst.
    let truth = first.lines().find(|l| l.contains("planted truth")).unwrap();
    let trend = first
        .split("The strongest hashtag trend")
        .nth(1)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("| 2026-01-05"))
        .unwrap();
    let tag = trend.split('|').nth(2).unwrap().trim();
    assert!(
        truth.contains(&format!("\"{tag}\"")),
        "trend {tag:?} is not a planted burst: {truth}"
    );
    // It ends with the command that shows it all in a browser.
    let last = first.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(
        last.contains("pulse --lake ") && last.contains(" serve"),
        "{last}"
    );
    let answers = |s: &str| s.split("3. answers").nth(1).unwrap().to_string();
    let second = p.ok(&args);
    assert_eq!(answers(&first), answers(&second));
    // Every output of the nightly DAG exists on a new lake, empty, with the same columns.
    assert!(super::outputs_exist_empty_on_a_new_lake(&p) >= 20);
}

/// Commands print results on stdout and, by default, nothing but warnings on stderr; `-v`
/// brings back the info lines.
#[test]
fn output_is_quiet_by_default_and_informative_with_v() {
    let p = Pulse::new();
    let run = |extra: &[&str], args: &[&str]| {
        let mut c = p.cmd();
        c.env_remove("RUST_LOG");
        let out = c.args(extra).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    };
    let demo = ["demo", "--days", "1", "--channels", "3", "--viewers", "60"];
    let quiet = run(&[], &demo);
    assert!(!quiet.contains(" INFO "), "{quiet}");
    let backfill = [
        "backfill",
        "--from",
        "2026-01-05",
        "--to",
        "2026-01-06",
        "--reprocess",
        "all",
    ];
    let quiet = run(&[], &backfill);
    assert!(!quiet.contains(" INFO "), "{quiet}");
    let loud = run(&["-v"], &backfill);
    assert!(loud.contains(" INFO "), "{loud}");
}
