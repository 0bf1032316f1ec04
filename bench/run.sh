#!/usr/bin/env bash
# Side-by-side benchmarks of issue 2: Strata (embedded, 2 threads) against its peers, in one
# run on the same machine. Results go to stdout; BENCHMARKS.md records them.
#
#   bench/run.sh prepare          # data under $BENCH (default /tmp/strata-bench)
#   bench/run.sh wordcount|sort|pagerank|all
#
# Needs: ../shared/peers/setup.sh spark (PySpark in /tmp/strata-peers/venv), GNU sort,
# Debian packages dict-gcide and linux-source-6.1 (for `prepare`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-/tmp/strata-bench}
PY=${PY:-/tmp/strata-peers/venv/bin/python}
strata="$here/target/release/strata"
T() { python3 "$here/bench/measure.py" "$@"; }
mkdir -p "$BENCH"

prepare() {
  cargo build --release --manifest-path "$here/Cargo.toml" --bench pagerank_csr >/dev/null
  cd "$BENCH"
  if [ ! -d wcdata ]; then
    apt-get download dict-gcide linux-source-6.1 >/dev/null
    mkdir -p x wcdata && dpkg-deb -x dict-gcide_*.deb x && dpkg-deb -x linux-source-6.1_*.deb x
    zcat x/usr/share/dictd/gcide.dict.dz > wcdata/gcide.txt
    tar xJf x/usr/src/linux-source-6.1.tar.xz -C x
    # ~480 MB of kernel sources and docs, packed into 48 MB files (many tiny files would
    # measure per-file overhead, not word counting).
    find x/linux-source-6.1 -type f \( -name '*.c' -o -name '*.h' -o -name '*.rst' -o -name '*.txt' \
      -o -name 'Kconfig*' -o -name '*.S' \) | sort | head -c 100000000 | \
      python3 -c '
import sys
out=None; size=total=idx=0
for f in sys.stdin.read().split("\n"):
    if not f or total >= 480 << 20: continue
    if out is None or size >= 48 << 20:
        out and out.close(); out=open(f"wcdata/linux-{idx:02d}.txt","wb"); idx+=1; size=0
    b=open(f,"rb").read(); out.write(b); size+=len(b); total+=len(b)'
    rm -rf x
  fi
  [ -d tera ] || "$strata" gen terasort --records 10000000 --files 10 --out tera --quiet
  [ -d rmat ] || "$strata" gen rmat --scale 22 --edges 10100000 --files 8 --out rmat --quiet
  du -sh wcdata tera rmat
}

wordcount() {
  cd "$BENCH"; echo "== word count: $(du -shL wcdata | cut -f1) of text"
  rm -rf out-wc out-wc-spark
  echo "  strata (embedded, 2 threads)"; T "$strata" run wordcount wcdata --out out-wc --threads 2 --quiet
  echo "  pyspark local[2]"; T "$PY" "$here/bench/spark_wordcount.py" wcdata out-wc-spark 2>&1 | grep -v WARN
  cat out-wc/part-* | sort > wc-strata.txt; cat out-wc-spark/part-* | sort > wc-spark.txt
  cmp -s wc-strata.txt wc-spark.txt && echo "  outputs identical ($(wc -l < wc-strata.txt) words)" \
    || echo "  outputs DIFFER: $(diff wc-strata.txt wc-spark.txt | wc -l) lines"
}

sort_() {
  cd "$BENCH"; echo "== sort: 10 M TeraSort records (1 GB)"
  rm -rf out-sort out-sort-spark; cat tera/part-* > tera.all
  echo "  strata (embedded, 2 threads)"; T "$strata" run sort tera --out out-sort --threads 2 --partitions 8 --quiet
  echo "  GNU sort (LC_ALL=C, --parallel=2, -S 4G)"; LC_ALL=C T sort --parallel=2 -S 4G tera.all -o tera.sorted
  echo "  pyspark local[2]"; T "$PY" "$here/bench/spark_sort.py" tera out-sort-spark 8 2>&1 | grep -v WARN
  cat out-sort/part-* | cmp -s - tera.sorted && echo "  strata output identical to GNU sort's" \
    || echo "  strata output differs from GNU sort's (ties ordered differently?)"
  rm -f tera.all tera.sorted
}

pagerank() {
  cd "$BENCH"; echo "== PageRank: R-MAT scale 22, 10.1 M edges, 20 iterations"
  rm -rf out-pr
  echo "  strata (embedded, 2 threads)"; T "$strata" run pagerank rmat --iterations 20 --out out-pr --threads 2 --quiet
  echo "  strata (embedded, 1 thread)"; rm -rf out-pr; T "$strata" run pagerank rmat --iterations 20 --out out-pr --threads 1 --quiet
  echo "  single-thread CSR loop (COST baseline)"; T $(ls "$here"/target/release/deps/pagerank_csr-* | grep -v "\.d$" | head -1) rmat --iterations 20
}

case "${1:-all}" in
  prepare) prepare ;;
  wordcount) wordcount ;;
  sort) sort_ ;;
  pagerank) pagerank ;;
  all) wordcount; sort_; pagerank ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
