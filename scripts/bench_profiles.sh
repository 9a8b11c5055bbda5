#!/usr/bin/env bash
# The nightly viewer chain on one generated TwitchProfiler-scale day (100 channels, 288
# snapshots, about 900,000 viewers, about 20 million presence rows): wall time and peak
# memory of each job, each in its own process. Usage: scripts/bench_profiles.sh [PULSE] [DIR]
# (PULSE defaults to the release build, DIR to a new temp directory).
set -euo pipefail
pulse=${1:-target/release/pulse}
dir=${2:-$(mktemp -d)}
lake="$dir/lake"
run() {
  local what=$1; shift
  /usr/bin/time -f "$what: %e s wall, peak RSS %M KiB" "$pulse" --lake "$lake" "$@" 2>&1 \
    | grep -v " INFO " || true
}
run gen gen --days 1 --channels 100 --viewers 1700000 --bots 50 --tweets-per-sec 0
"$pulse" --lake "$lake" sql "SELECT count(*) AS presence_rows, count(DISTINCT viewer_login) AS viewers FROM presence"
start=$(date +%s.%N)
for job in viewer-day bots profiles verify; do
  run "$job" run "$job" --date 2026-01-05
done
end=$(date +%s.%N)
echo "chain (viewer-day, bots, profiles, verify): $(echo "$end - $start" | bc) s wall"
