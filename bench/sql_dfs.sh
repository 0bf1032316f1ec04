#!/usr/bin/env bash
# SQL scans through the storage layer: the same TPC-H queries over the same Parquet files on
# local disk and in the DFS (a local cluster of 3 workers on this machine, replication 3),
# whole `strata sql` processes, alternating, fastest of RUNS.
#
#   STRATA=target/release/strata bench/sql_dfs.sh [RUNS]
#
# TPC-H SF1 Parquet is read from $TPCH (default /tmp/tpch-sf1; `strata gen tpch --sf 1`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
strata=$(cd "$(dirname "${STRATA:-$here/target/release/strata}")" && pwd)/strata
TPCH=${TPCH:-/tmp/tpch-sf1}
BENCH=${BENCH:-/tmp/strata-sql-dfs-bench}
RUNS=${1:-3}
PORT=${PORT:-7390}
rm -rf "$BENCH"; mkdir -p "$BENCH"; cd "$BENCH"
"$strata" local-cluster -n 3 --dir lc --port "$PORT" > lc.log 2>&1 &
LC=$!
trap 'kill $LC; wait $LC 2>/dev/null || true' EXIT
until grep -q "local cluster up" lc.log; do sleep 0.2; done
export STRATA_MASTER=127.0.0.1:$PORT
for t in lineitem orders customer; do
  "$strata" dfs mkdir -p "/tpch/$t"
  for f in "$TPCH/$t"/*; do "$strata" dfs put "$f" "/tpch/$t/" --quiet; done
done
q1="SELECT l_returnflag, l_linestatus, sum(l_quantity), sum(l_extendedprice), avg(l_discount), count(*) FROM lineitem WHERE l_shipdate <= DATE '1998-09-02' GROUP BY 1, 2 ORDER BY 1, 2"
q6="SELECT sum(l_extendedprice * l_discount) FROM lineitem WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01' AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24"
q3="SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate FROM customer, orders, lineitem WHERE c_mktsegment = 'BUILDING' AND c_custkey = o_custkey AND l_orderkey = o_orderkey AND o_orderdate < DATE '1995-03-15' AND l_shipdate > DATE '1995-03-15' GROUP BY l_orderkey, o_orderdate ORDER BY revenue DESC LIMIT 10"
star="SELECT count(*) FROM (SELECT * FROM lineitem WHERE l_comment LIKE '%special%') t"
best() {  # best WHERE QUERY
  local b=999
  for _ in $(seq 1 "$RUNS"); do
    local s e
    s=$(date +%s.%N)
    if [ "$1" = local ]; then
      "$strata" sql --table lineitem="$TPCH/lineitem" --table orders="$TPCH/orders" --table customer="$TPCH/customer" "$2" > /dev/null
    else
      "$strata" sql --table lineitem=dfs:///tpch/lineitem --table orders=dfs:///tpch/orders --table customer=dfs:///tpch/customer "$2" > /dev/null
    fi
    e=$(date +%s.%N)
    b=$(python3 -c "print(min($b, $e - $s))")
  done
  printf '%.3f' "$b"
}
printf '%-6s %8s %8s %8s\n' query local dfs ratio
for q in q1 q6 q3 star; do
  l=$(best local "${!q}"); d=$(best dfs "${!q}")
  printf '%-6s %8s %8s %8s\n' "$q" "$l" "$d" "$(python3 -c "print(f'{$d / $l:.2f}x')")"
done
