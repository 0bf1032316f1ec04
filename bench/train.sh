#!/usr/bin/env bash
# GPT training, Strata vs PyTorch: the same model, data, batches, initial weights (Strata's
# step-0 model, loaded by the PyTorch script), optimizer and schedule; single process with
# 2 threads, then 2-rank data parallelism (1 thread each; PyTorch DDP on gloo). Prints the
# mean step time of each after 10 warm-up steps, and the largest loss difference.
# Needs the torch peer: bash ../shared/peers/setup.sh torch
#   STEPS=60 DIM=128 bash bench/train.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=${STRATA_PEERS:-/tmp/strata-peers}/venv/bin/python
S=target/release/strata
cargo build --release -q
steps=${STEPS:-60}
cfg=(--data data/shakespeare --layers "${LAYERS:-2}" --heads "${HEADS:-4}" --dim "${DIM:-128}"
     --context "${CONTEXT:-64}" --batch "${BATCH:-16}" --lr 0.003 --seed 1)
w=$(mktemp -d)
$S train gpt "${cfg[@]}" --steps 0 --out "$w/init" 2>/dev/null
cmp_losses() {  # strata-file torch-file
  paste "$1" "$2" | awk -F'\t' '{d=$2-$4; if (d<0) d=-d; if (d>m) m=d} END {printf "max |loss diff| %.5f, final %s vs %s\n", m, $2, $4}'
}
echo "== single process, 2 threads, $steps steps: ${cfg[*]}"
RAYON_NUM_THREADS=2 $S train gpt "${cfg[@]}" --steps "$steps" --out "$w/s1" > "$w/s1.txt" 2> "$w/s1.err"
"$py" bench/train_torch.py --init "$w/init/model.safetensors" "${cfg[@]}" --steps "$steps" --threads 2 > "$w/t1.txt" 2> "$w/t1.err"
echo "strata:  $(grep 'mean step' "$w/s1.err")"
echo "pytorch: $(grep 'mean step' "$w/t1.err")"
cmp_losses "$w/s1.txt" "$w/t1.txt"
echo "== 2-rank data parallel, 1 thread each"
$S train gpt "${cfg[@]}" --steps "$steps" --workers 2 --out "$w/s2" > "$w/s2.txt" 2> "$w/s2.err"
"$py" bench/train_torch.py --init "$w/init/model.safetensors" "${cfg[@]}" --steps "$steps" --threads 1 --workers 2 > "$w/t2.txt" 2> "$w/t2.err"
echo "strata:  $(grep 'mean step' "$w/s2.err")"
echo "pytorch: $(grep 'mean step' "$w/t2.err")"
cmp_losses "$w/s2.txt" "$w/t2.txt"
rm -rf "$w"
