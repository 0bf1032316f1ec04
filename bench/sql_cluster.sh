#!/usr/bin/env bash
# Distributed SQL: the 22 TPC-H queries from the DFS, embedded (`strata sql` in one process,
# all cores) and on a local cluster of 3 workers on this machine (`strata sql --master`),
# whole processes, alternating, fastest of RUNS; each answer compared between the two.
#
#   STRATA=target/release/strata bench/sql_cluster.sh [RUNS] [QUERIES...]
#
# TPC-H Parquet is read from $TPCH (default /tmp/tpch-sf1; `strata gen tpch --sf 1`) and
# copied into the cluster's DFS (replication 3).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
strata=$(realpath "${STRATA:-$here/target/release/strata}")
TPCH=${TPCH:-/tmp/tpch-sf1}
BENCH=${BENCH:-/tmp/strata-sql-cluster-bench}
RUNS=${1:-3}
shift || true
QUERIES=${*:-$(seq 1 22)}
PORT=${PORT:-7392}
rm -rf "$BENCH"; mkdir -p "$BENCH"
cp "$strata" "$BENCH/strata"; strata=$BENCH/strata   # workers start executors from it
cd "$BENCH"
"$strata" local-cluster -n 3 --dir lc --port "$PORT" > lc.log 2>&1 &
LC=$!
trap 'kill $LC; wait $LC 2>/dev/null || true' EXIT
until grep -q "local cluster up" lc.log; do sleep 0.2; done
export STRATA_MASTER=127.0.0.1:$PORT
tables=()
"$strata" dfs mkdir /tpch
for t in $(ls "$TPCH"); do
  "$strata" dfs mkdir "/tpch/$t"
  for f in "$TPCH/$t"/*; do "$strata" -q dfs put "$f" "/tpch/$t/" > /dev/null; done
  tables+=(--table "$t=dfs:///tpch/$t")
done
Q=$here/crates/strata-sql/tests/tpch/queries
run() {  # run WHERE SQLFILE NAME -> seconds (fastest of RUNS); output in WHERE-NAME.csv
  local b=999 extra=()
  [ "$1" = cluster ] && extra=(--master "127.0.0.1:$PORT")
  for _ in $(seq 1 "$RUNS"); do
    local s e
    s=$(date +%s.%N)
    "$strata" -q sql "${tables[@]}" --format csv -f "$2" "${extra[@]}" > "$1-$3.csv"
    e=$(date +%s.%N)
    b=$(python3 -c "print(min($b, $e - $s))")
  done
  printf '%.3f' "$b"
}
printf '%-5s %9s %9s %8s %s\n' query embedded cluster ratio same
for q in $QUERIES; do
  l=$(run embedded "$Q/q$q.sql" "q$q"); c=$(run cluster "$Q/q$q.sql" "q$q")
  same=$(python3 - "embedded-q$q.csv" "cluster-q$q.csv" <<'PY'
import csv, sys
a, b = (list(csv.reader(open(f))) for f in sys.argv[1:])
def eq(x, y):
    try:
        return x == y or abs(float(x) - float(y)) <= 1e-9 * max(abs(float(x)), abs(float(y)), 1)
    except ValueError:
        return False
ok = len(a) == len(b) and all(len(r) == len(s) and all(map(eq, r, s)) for r, s in zip(a, b))
print("yes" if ok else "DIFF")
PY
)
  printf 'q%-4s %9s %9s %8s %s\n' "$q" "$l" "$c" "$(python3 -c "print(f'{$c / $l:.2f}x')")" "$same"
done
# All 22 as one script: one application, executors started once.
all=$BENCH/all.sql
for q in $QUERIES; do sed 's/;[[:space:]]*$//' "$Q/q$q.sql"; echo ";"; done > "$all"
l=$(run embedded "$all" all); c=$(run cluster "$all" all)
printf '%-5s %9s %9s %8s\n' all "$l" "$c" "$(python3 -c "print(f'{$c / $l:.2f}x')")"
