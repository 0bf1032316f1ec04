#!/usr/bin/env bash
# Nexmark on Strata Stream and on Apache Flink (PyFlink), side by side on the same event files.
#
#   bash bench/stream.sh [EVENTS] [QUERIES...]      (default 2000000 events, q0-q8 minus q6, q11)
#
# Events are in 2 files (one per source task of each engine: Flink reads the files of a task
# one after another, so with more files than tasks its watermark runs ahead and it drops
# the later files as late data). Needs `cargo build --release` and `../shared/peers/setup.sh flink`. Both engines run at
# parallelism 2 (this machine has 2 cores) with checkpoints every 10 s, reading the JSON-lines
# files `strata gen nexmark` writes; Flink writes to a blackhole sink, Strata to CSV part
# files (two-phase commit). Flink's time is from INSERT submission to job end (its local
# cluster start-up is excluded; `flink_small` is the same on 20k events, the fixed cost).
# Prints CSV: query,events,strata_s,strata_nockpt_s,flink_s,flink_small_s
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-2000000}; shift || true
queries=${*:-q0 q1 q2 q3 q4 q5 q7 q8 q11}
py=${STRATA_PEERS:-/tmp/strata-peers}/venv-flink/bin/python
bin=${STRATA_BIN:-target/release/strata}
work=${BENCH_DIR:-/tmp/strata-bench-stream}
mkdir -p "$work"
[ -d "$work/in-$events" ] || $bin gen nexmark --events "$events" --partitions 2 --out "$work/in-$events" 2>/dev/null
[ -d "$work/in-20000" ] || $bin gen nexmark --events 20000 --partitions 2 --out "$work/in-20000" 2>/dev/null
secs() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc; }
echo "query,events,strata_s,strata_nockpt_s,flink_s,flink_small_s"
for q in $queries; do
  rm -rf "$work/out" "$work/chk"
  s=$(secs $bin stream nexmark --query "$q" --input "$work/in-$events" --out "$work/out" \
        --checkpoint-dir "$work/chk" --checkpoint-interval 10s --parallelism 2)
  rm -rf "$work/out"
  n=$(secs $bin stream nexmark --query "$q" --input "$work/in-$events" --out "$work/out" --parallelism 2)
  f=$(timeout 300 "$py" bench/nexmark_flink.py "$work/in-$events" "$events" 2 "$q" 2>/dev/null | cut -d, -f3 || echo NA)
  fs=$(timeout 300 "$py" bench/nexmark_flink.py "$work/in-20000" 20000 2 "$q" 2>/dev/null | cut -d, -f3 || echo NA)
  echo "$q,$events,$s,$n,$f,$fs"
done
