#!/usr/bin/env bash
# Scheduling policies on real and synthetic traces, placement throughput and cell compaction
# (BENCHMARKS.md, issue 13).
#
#   bash bench/sim.sh [ALIBABA_POD_LIST.csv]
#
# The Alibaba 2023 GPU pod list (github.com/alibaba/clusterdata,
# cluster-trace-gpu-v2023/csv/openb_pod_list_default.csv) is not checked in; get it with the
# library's `fetch github:alibaba/clusterdata` and `git show HEAD:cluster-trace-gpu-v2023/csv/
# openb_pod_list_default.csv > /tmp/traces/openb_pod_list_default.csv`, or pass its path.
set -euo pipefail
cd "$(dirname "$0")/.."
pods=${1:-/tmp/traces/openb_pod_list_default.csv}
out=${OUT:-/tmp/bench-sim}
mkdir -p "$out"
cargo build --release -q
S=target/release/strata

if [[ -f $pods ]]; then
  echo "== Alibaba 2023 GPU pods on 3 nodes x 8 GPUs, every policy"
  /usr/bin/time -f "wall %e s" $S sim --trace "$pods" --trace-format alibaba --nodes 3 \
    --gpus-per-node 8 --cpus-per-node 96 --mem-per-node 768GiB --policy all --out "$out/alibaba"
else
  echo "(no $pods: skipping the Alibaba replay)"
fi

echo "== Philly-shaped synthetic trace, 20k jobs on 32 nodes x 4 GPUs, every policy"
$S gen dl-trace --jobs 20000 --jobs-per-hour 45 --tenants 4 --max-gpus 32 --seed 1 \
  --out "$out/philly-like.csv"
/usr/bin/time -f "wall %e s" $S sim --trace "$out/philly-like.csv" --nodes 32 --gpus-per-node 4 \
  --policy all --out "$out/philly"

echo "== placement throughput and compaction"
if [[ -f $pods ]]; then
  cargo bench -q -p strata-sched --bench placement -- --pods "$pods"
else
  cargo bench -q -p strata-sched --bench placement
fi
