#!/usr/bin/env bash
# TPC-H thread scaling, embedded: each query as a whole `strata sql` process with
# --threads T for each T given, fastest of RUNS, over local Parquet ($TPCH, default
# /tmp/tpch-sf1 from `strata gen tpch --sf 1`).
#
#   STRATA=target/release/strata RUNS=3 bench/tpch_threads.sh 1 2 4 16
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
strata=$(realpath "${STRATA:-$here/target/release/strata}")
TPCH=${TPCH:-/tmp/tpch-sf1}
RUNS=${RUNS:-3}
THREADS=${*:-1 2}
Q=$here/crates/strata-sql/tests/tpch/queries
tables=()
for t in $(ls "$TPCH"); do tables+=(--table "$t=$TPCH/$t"); done
printf '%-5s' query; for t in $THREADS; do printf ' %8s' "t=$t"; done; echo
for q in $(seq 1 22); do
  printf 'q%-4s' "$q"
  for t in $THREADS; do
    b=999
    for _ in $(seq 1 "$RUNS"); do
      s=$(date +%s.%N)
      "$strata" --threads "$t" sql "${tables[@]}" -f "$Q/q$q.sql" > /dev/null
      e=$(date +%s.%N)
      b=$(python3 -c "print(min($b, $e - $s))")
    done
    printf ' %8.3f' "$b"
  done
  echo
done
