#!/usr/bin/env bash
# Issue 9's "cost of the shared runtime" benchmarks: word count, sort, PageRank and TPC-H SF1
# with two builds side by side in one run, alternating (OLD = before the runtime/storage
# work, NEW = this tree). Results go to stdout; BENCHMARKS.md records them.
#
#   OLD=/tmp/old NEW=/tmp/new bench/runtime.sh [ROUNDS]
#
# OLD and NEW are directories holding `strata` and `tpch` (the bench binary of
# `cargo build --release --bin strata --bench tpch`, copied from target/release/deps/tpch-*).
# TPC-H SF1 Parquet is read from $TPCH (default /tmp/tpch-sf1; `strata gen tpch --sf 1`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-/tmp/strata-runtime-bench}
TPCH=${TPCH:-/tmp/tpch-sf1}
OLD=$(cd "${OLD:?set OLD}" && pwd)
NEW=$(cd "${NEW:?set NEW}" && pwd)
ROUNDS=${1:-2}
T() { python3 "$here/bench/measure.py" "$@"; }
mkdir -p "$BENCH"; cd "$BENCH"
[ -f text/all.txt ] || { mkdir -p text; for i in $(seq 1 40); do cat "$here"/data/shakespeare/*; done > text/all.txt; }
[ -d tera ] || "$NEW/strata" gen terasort --records 3000000 --files 4 --out tera --quiet
[ -d graph ] || "$NEW/strata" gen rmat --scale 18 --edges 2000000 --out graph --quiet

jobs_() {  # jobs_ NAME DIR
  rm -rf "wc-$1" "sort-$1" "pr-$1"
  echo "  [$1] word count, $(du -sh text | cut -f1) of text"; T "$2/strata" run wordcount text --out "wc-$1" --threads 2 --quiet
  echo "  [$1] sort, 3 M TeraSort records"; T "$2/strata" run sort tera --out "sort-$1" --threads 2 --partitions 8 --quiet
  echo "  [$1] PageRank, R-MAT 2^18 nodes, 2 M edges, 10 iterations"; T "$2/strata" run pagerank graph --iterations 10 --out "pr-$1" --threads 2 --quiet
}

for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r: jobs, embedded, 2 threads"
  jobs_ old "$OLD"; jobs_ new "$NEW"
  echo "== round $r: TPC-H SF1 (fastest of 3 hot runs per query)"
  "$OLD/tpch" "$TPCH" --runs 3 | sed 's/^/  [old] /'
  "$NEW/tpch" "$TPCH" --runs 3 | sed 's/^/  [new] /'
done
