#!/usr/bin/env bash
# Differential check against Apache Flink: the same Nexmark events through Strata and through
# Flink SQL (bench/nexmark_flink.py --out), rows compared after normalising Flink's CSV
# (quotes, trimmed millisecond zeros).   bash bench/nexmark_flink_check.sh [EVENTS] [QUERIES...]
# Needs `cargo build --release` and `../shared/peers/setup.sh flink`. Two files, parallelism 2
# (see bench/stream.sh on why Flink needs one file per source task).
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-100000}; shift || true
queries=${*:-q2 q3 q5 q8 q11}
py=${STRATA_PEERS:-/tmp/strata-peers}/venv-flink/bin/python
bin=${STRATA_BIN:-target/release/strata}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$bin gen nexmark --events "$events" --partitions 2 --out "$work/in" 2>/dev/null
for q in $queries; do
  timeout 300 "$py" bench/nexmark_flink.py --out "$work/flink" "$work/in" "$events" 2 "$q" >/dev/null 2>&1
  $bin stream nexmark --query "$q" --input "$work/in" --out "$work/strata-$q" 2>/dev/null
  python3 - "$work/flink/$q" "$work/strata-$q" "$q" <<'PY'
import glob, re, sys
def norm(s):
    s = s.replace('"', '').rstrip('\n')
    return re.sub(r'(\d\d:\d\d:\d\d)(\.\d+)?', lambda m: m.group(1) + '.' + ((m.group(2) or '.')[1:] + '000')[:3], s)
f = sorted(norm(l) for p in glob.glob(sys.argv[1] + '/*') for l in open(p))
s = sorted(norm(l) for p in glob.glob(sys.argv[2] + '/part-*') for l in list(open(p))[1:])
print(f"{sys.argv[3]}: flink {len(f)} rows, strata {len(s)} rows: {'EQUAL' if f == s else 'DIFFERENT'}")
PY
done
