//! `pulse demo`, the README's main command, runs end to end and gives the same answers when
//! rerun on the same lake.

use super::Pulse;

#[test]
fn demo_runs_end_to_end_and_reruns_identically() {
    let p = Pulse::new();
    let args = ["demo", "--days", "1", "--channels", "6", "--viewers", "300"];
    let first = p.ok(&args);
    for section in [
        "1. generated",
        "2. compacted 2026-01-05",
        "Rows landed per raw table",
        "Top hashtags of each day",
        "_bot",
    ] {
        assert!(first.contains(section), "missing {section:?} in:\n{first}");
    }
    let answers = |s: &str| s.split("3. answers").nth(1).unwrap().to_string();
    let second = p.ok(&args);
    assert_eq!(answers(&first), answers(&second));
}
