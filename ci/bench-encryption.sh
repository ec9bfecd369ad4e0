#!/usr/bin/env bash
# What encryption at rest costs on the produce path, in real mode: `broker bench` (acks=all,
# 1 KiB records, 6 partitions, 2 requests in flight per partition, the operator's key) against
# a fresh `broker dev` cluster, alternating between two broker binaries round by round so that
# the machine's noise falls on both alike. Prints MB/s per round and the median of each.
# Usage: bash ci/bench-encryption.sh BEFORE_BINARY AFTER_BINARY [rounds] [seconds]
#   e.g. git worktree add /tmp/before <commit>; (cd /tmp/before && cargo build --release -p broker
#        --target-dir target/bench-before); bash ci/bench-encryption.sh
#        target/bench-before/release/broker target/release/broker 5
set -euo pipefail
cd "$(dirname "$0")/.."
before="$1"; after="$2"; rounds="${3:-5}"; seconds="${4:-10}"
dir=$(mktemp -d /tmp/bench-encryption.XXXXXX)
trap 'kill "${dev:-}" 2>/dev/null || true; rm -rf "$dir"' EXIT
for round in $(seq 1 "$rounds"); do
  for which in before after; do
    binary="${!which}"
    rm -rf "$dir/dev"
    "$binary" dev --dir "$dir/dev" > "$dir/dev.log" 2>&1 &
    dev=$!
    sleep 12
    "$binary" bench --dir "$dir/dev" --properties "$dir/dev/operator.properties" --seconds "$seconds" > "$dir/bench.txt"
    mbs=$(grep -o '[0-9.]* MB/s' "$dir/bench.txt" | head -1 | cut -d' ' -f1)
    echo "round $round $which: $mbs MB/s"
    echo "$which $mbs" >> "$dir/all.txt"
    kill "$dev"; wait "$dev" 2>/dev/null || true
  done
done
python3 - "$dir/all.txt" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    which, mbs = line.split()
    runs.setdefault(which, []).append(float(mbs))
for which, values in runs.items():
    print(f"{which}: median {statistics.median(values):.1f} MB/s over {len(values)} rounds ({', '.join(f'{v:.1f}' for v in values)})")
print(f"after/before: {statistics.median(runs['after']) / statistics.median(runs['before']):.3f}")
PY
