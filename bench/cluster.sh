#!/usr/bin/env bash
# Issue 4's benchmarks: the cost of distribution and the ratio to Spark at the same shape.
#
#   bench/cluster.sh shape      # word count, sort, PageRank: embedded (2 threads) vs
#                               # `strata local-cluster -n 2` (1 core per worker) vs a Spark
#                               # standalone master + 2 workers (1 core each), one run
#   SKIP_SPARK=1 bench/cluster.sh shape   # Strata only
#   bench/cluster.sh recovery   # sort on local-cluster -n 3: normal time vs one worker
#                               # SIGKILLed half-way
#
# Data from `bench/run.sh prepare` ($BENCH, default /tmp/strata-bench); PySpark from
# ../shared/peers/setup.sh spark.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-/tmp/strata-bench}
PY=${PY:-/tmp/strata-peers/venv/bin/python}
strata="$here/target/release/strata"
T() { python3 "$here/bench/measure.py" "$@"; }
cd "$BENCH"
SPARK_HOME=$("$PY" -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')
PR_ITER=${PR_ITER:-10}

start_strata() {  # start_strata N PORT: a local cluster of N workers with 1 core each
  # Same total memory as embedded (--memory 2g): 1 GiB per one-core executor.
  printf '[dataflow]\nthreads = 1\nmemory = "1g"\n' > cluster.toml
  rm -rf lc; "$strata" local-cluster -n "$1" --dir lc --port "$2" --config cluster.toml > lc.log 2>&1 &
  LC=$!
  until grep -q "local cluster up" lc.log; do sleep 0.2; done
}
stop_strata() { kill "$LC"; wait "$LC" 2>/dev/null || true; }

start_spark() {
  export SPARK_HOME SPARK_LOG_DIR="$BENCH/spark-logs" SPARK_WORKER_DIR="$BENCH/spark-work"
  "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port 7177 \
    --webui-port 8190 > spark-master.log 2>&1 &
  SM=$!
  SW=()
  for i in 1 2; do
    "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker spark://127.0.0.1:7177 \
      --cores 1 --memory 4g --webui-port $((8190 + i)) > "spark-worker-$i.log" 2>&1 &
    SW+=($!)
  done
  until [ "$(grep -l "Successfully registered with master" spark-worker-*.log 2>/dev/null | wc -l)" = 2 ]; do sleep 0.5; done
}
stop_spark() { kill "$SM" "${SW[@]}"; wait 2>/dev/null || true; }

same() {  # same DIR_A DIR_B: sorted lines equal?
  cmp -s <(cat "$1"/part-* | sort) <(cat "$2"/part-* | sort) && echo "  outputs identical" \
    || echo "  outputs DIFFER"
}

shape() {
  start_strata 2 7190
  M=127.0.0.1:7190
  echo "== word count, $(du -shL wcdata | cut -f1): embedded 2 threads | local-cluster -n 2 | Spark standalone 2 x 1 core"
  rm -rf o-wc-e o-wc-c o-wc-s
  T "$strata" run wordcount wcdata --out o-wc-e --threads 2 --memory 2g --partitions 4 --quiet
  T "$strata" run wordcount wcdata --out o-wc-c --threads 2 --partitions 4 --quiet --master $M
  same o-wc-e o-wc-c
  echo "== sort, 10 M records (1 GB)"
  rm -rf o-s-e o-s-c
  T "$strata" run sort tera --out o-s-e --threads 2 --memory 2g --partitions 8 --quiet
  T "$strata" run sort tera --out o-s-c --threads 2 --partitions 8 --quiet --master $M
  cmp -s <(cat o-s-e/part-*) <(cat o-s-c/part-*) && echo "  outputs identical" || echo "  outputs DIFFER"
  echo "== PageRank, R-MAT 10.1 M edges, $PR_ITER iterations"
  rm -rf o-pr-e o-pr-c
  T "$strata" run pagerank rmat --iterations "$PR_ITER" --out o-pr-e --threads 2 --memory 2g --partitions 4 --quiet
  T "$strata" run pagerank rmat --iterations "$PR_ITER" --out o-pr-c --threads 2 --partitions 4 --quiet --master $M
  same o-pr-e o-pr-c
  stop_strata
  [ -n "${SKIP_SPARK:-}" ] && return
  start_spark
  export SPARK_MASTER=spark://127.0.0.1:7177
  rm -rf o-wc-s o-s-s o-pr-s
  echo "== Spark standalone (2 workers x 1 core): word count, sort, PageRank"
  T "$PY" "$here/bench/spark_wordcount.py" wcdata o-wc-s 2>&1 | grep -v WARN
  same o-wc-e o-wc-s
  T "$PY" "$here/bench/spark_sort.py" tera o-s-s 8 2>&1 | grep -v WARN
  T "$PY" "$here/bench/spark_pagerank.py" rmat o-pr-s "$PR_ITER" 4 2>&1 | grep -v WARN
  stop_spark
}

recovery() {
  echo "== recovery: sort of 10 M records on local-cluster -n 3"
  start_strata 3 7191
  rm -rf o-r1; s=$(date +%s.%N)
  "$strata" run sort tera --out o-r1 --threads 3 --partitions 12 --quiet --master 127.0.0.1:7191
  normal=$(echo "$(date +%s.%N) - $s" | bc); echo "  normal: ${normal}s"
  stop_strata; start_strata 3 7191
  rm -rf o-r2; s=$(date +%s.%N)
  "$strata" run sort tera --out o-r2 --threads 3 --partitions 12 --quiet --master 127.0.0.1:7191 &
  job=$!
  sleep "$(echo "$normal / 2" | bc -l)"
  victim=$(pgrep -f "worker --master 127.0.0.1:7191" | tail -1)
  kill -9 "$victim"; echo "  killed worker pid $victim at $(echo "$(date +%s.%N) - $s" | bc)s"
  wait $job
  failed=$(echo "$(date +%s.%N) - $s" | bc); echo "  with a worker killed half-way: ${failed}s"
  echo "  extra time: $(echo "100 * ($failed - $normal) / $normal" | bc -l | cut -c1-5)%"
  cmp -s <(cat o-r1/part-*) <(cat o-r2/part-*) && echo "  outputs identical" || echo "  outputs DIFFER"
  stop_strata
}

case "${1:-shape}" in
  shape) shape ;;
  recovery) recovery ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
