#!/usr/bin/env bash
# Recovery after a rank's death: periodic checkpoints only vs just-in-time checkpoints vs
# in-memory recovery (Gemini), 2 data-parallel ranks. Rank 1 is SIGKILLed once step
# KILL_AT has been printed; the launcher's recovery.log gives the steps lost and the time
# from the death being seen to the first step of the recovered group being ready.
#   STEPS=60 KILL_AT=23 EVERY=10 bash bench/recovery.sh
set -euo pipefail
cd "$(dirname "$0")/.."
S=target/release/strata
cargo build --release -q
steps=${STEPS:-60}; kill_at=${KILL_AT:-23}; every=${EVERY:-10}
cfg=(--data data/shakespeare --layers "${LAYERS:-4}" --heads 4 --dim "${DIM:-256}" --context 64
     --batch 16 --seed 1 --steps "$steps" --workers 2)
w=$(mktemp -d)
run() {  # name extra-args...
  local name=$1; shift
  "$S" train gpt "${cfg[@]}" --out "$w/$name" --checkpoint-dir "$w/$name-ck" "$@" \
      > "$w/$name.txt" 2> "$w/$name.err" &
  local job=$!
  until [ "$(cat "$w/$name.txt" 2>/dev/null | wc -l)" -ge "$kill_at" ]; do sleep 0.05; done
  kill -9 "$(awk '$2==1 {print $3}' "$w/$name/ranks.txt" | tail -1)"
  wait "$job"
  printf '%-10s %s  final %s\n' "$name" "$(cat "$w/$name/recovery.log")" "$(tail -1 "$w/$name.txt")"
}
"$S" train gpt "${cfg[@]}" --out "$w/whole" > "$w/whole.txt" 2>/dev/null
echo "uninterrupted final $(tail -1 "$w/whole.txt")"
run periodic --checkpoint-every "$every" --no-jit
run jit --checkpoint-every "$every"
run memory --checkpoint-every "$every" --in-memory-checkpoints
rm -rf "$w"
