#!/usr/bin/env bash
# The data-safety issue's "no regression" benchmarks: the same measurements with two builds
# of Strata, side by side in one run (OLD = the commit before the data-safety work, NEW =
# this tree). Results go to stdout; BENCHMARKS.md records them.
#
#   OLD=/tmp/old-target/release NEW=target/release bench/safety.sh [dfs|jobs|partitions|all]
#
# OLD and NEW are directories holding `strata` and the `dfsio-*` bench binary (build each
# with `cargo build --release --bin strata --bench dfsio`). Data under $BENCH
# (default /tmp/strata-safety-bench).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-/tmp/strata-safety-bench}
OLD=$(cd "${OLD:?set OLD}" && pwd)
NEW=$(cd "${NEW:-$here/target/release}" && pwd)
T() { python3 "$here/bench/measure.py" "$@"; }
mkdir -p "$BENCH"; cd "$BENCH"
dfsio() { ls -t "$1"/deps/dfsio-* 2>/dev/null | grep -v '\.d$' | head -1; }

prepare() {
  [ -f text/all.txt ] || { mkdir -p text; for i in $(seq 1 40); do cat "$here"/data/shakespeare/*; done > text/all.txt; }
  [ -d tera ] || "$NEW/strata" gen terasort --records 3000000 --files 4 --out tera --quiet
  printf 'one two\nthree\n' > tiny.txt
}

dfs() {  # dfs NAME DIR PORT
  echo "== DFS ($1): local-cluster -n 3"
  rm -rf "lc-$1"; "$2/strata" local-cluster -n 3 --dir "lc-$1" --port "$3" > "lc-$1.log" 2>&1 &
  local lc=$!
  until grep -q "local cluster up" "lc-$1.log"; do sleep 0.2; done
  local b; b=$(dfsio "$2")
  "$b" --master "127.0.0.1:$3" --files 4 --size 512m --replication 3 | sed 's/^/  r=3 /'
  "$b" --master "127.0.0.1:$3" --files 4 --size 512m --replication 1 | sed 's/^/  r=1 /'
  "$b" --master "127.0.0.1:$3" --meta 20000 --threads 32 | sed 's/^/  /'
  kill "$lc"; wait "$lc" 2>/dev/null || true
}

jobs_() {  # jobs_ NAME DIR
  echo "== jobs ($1), embedded, 2 threads"
  rm -rf "wc-$1" "sort-$1"
  echo "  word count, $(du -sh text | cut -f1) of text"; T "$2/strata" run wordcount text --out "wc-$1" --threads 2 --quiet
  echo "  sort, 3 M TeraSort records"; T "$2/strata" run sort tera --out "sort-$1" --threads 2 --partitions 8 --quiet
}

partitions() {  # partitions NAME DIR
  echo "== scheduling ($1): word count of a 14-byte file into N partitions"
  for n in 10000 20000 100000; do
    rm -rf "p-$1"
    local t0; t0=$(date +%s.%N)
    if timeout 180 "$2/strata" run wordcount tiny.txt --out "p-$1" --partitions "$n" --threads 2 --quiet; then
      echo "  $n partitions: $(echo "$(date +%s.%N) - $t0" | bc) s"
    else
      echo "  $n partitions: over 180 s (stopped)"
    fi
  done
}

prepare
case "${1:-all}" in
  dfs) dfs old "$OLD" 7381; dfs new "$NEW" 7382 ;;
  jobs) jobs_ old "$OLD"; jobs_ new "$NEW" ;;
  partitions) partitions old "$OLD"; partitions new "$NEW" ;;
  all) dfs old "$OLD" 7381; dfs new "$NEW" 7382; jobs_ old "$OLD"; jobs_ new "$NEW"
       partitions old "$OLD"; partitions new "$NEW" ;;
esac
