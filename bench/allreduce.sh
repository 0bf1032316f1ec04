#!/usr/bin/env bash
# All-reduce bandwidth: strata-collective vs PyTorch gloo (CPU), same ranks and sizes, in
# one run. Needs the torch peer: bash ../shared/peers/setup.sh torch
#   bash bench/allreduce.sh [RANKS...]
set -euo pipefail
cd "$(dirname "$0")/.."
py=${STRATA_PEERS:-/tmp/strata-peers}/venv/bin/python
cargo bench --bench allreduce -- "$@" 2>/dev/null
"$py" bench/allreduce_gloo.py "$@" | tail -n +2
