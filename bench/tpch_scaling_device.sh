#!/usr/bin/env bash
# TPC-H thread scaling on a lent 16-core machine: generates SF $SF, then runs the 22
# queries as whole `strata sql` processes at 1..16 threads (bench/tpch_threads.sh).
# The release binary travels gzipped in target/device/ (built and stripped on the dev
# machine: the device has no registry access to build it).
#
#   run: bash bench/tpch_scaling_device.sh    (writes $OUT/scaling.txt)
set -euo pipefail
SF=${SF:-5}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
gunzip -c target/device/strata.gz > /tmp/strata && chmod +x /tmp/strata
{ nproc; lscpu | grep -E "Model name|^CPU\(s\)|Thread|Socket" || true; free -g | head -2; } | tee "$OUT/machine.txt"
s=$(date +%s.%N)
/tmp/strata --quiet gen tpch --sf "$SF" --out /tmp/tpch > /dev/null
echo "gen sf=$SF: $(python3 -c "print(round($(date +%s.%N) - $s, 1))") s" | tee -a "$OUT/machine.txt"
STRATA=/tmp/strata TPCH=/tmp/tpch RUNS=${RUNS:-2} bash bench/tpch_threads.sh 1 2 4 8 16 | tee "$OUT/scaling.txt"
