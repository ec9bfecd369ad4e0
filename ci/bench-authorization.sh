#!/usr/bin/env bash
# The cost of authorization, tenancy and quota accounting on the produce path, in real mode:
# the same load (3 partitions, one request in flight each, 64 x 1 KiB records per request:
# below the Standard quota, so nothing is throttled) from the operator's key (none of them
# apply) and from the dev cluster's application key (ACLs, tenant namespace, quota), in turn,
# on a fresh `broker dev` cluster per round. Prints throughput and the brokers' CPU time per
# record (perf's task-clock: hardware counters are not available on these VMs).
# Usage: bash ci/bench-authorization.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
cargo build --release -p broker -q
broker=target/release/broker
dir=$(mktemp -d /tmp/bench-authorization.XXXXXX)
trap 'kill "${dev:-}" 2>/dev/null || true; rm -rf "$dir"' EXIT
for round in $(seq 1 "$rounds"); do
  rm -rf "$dir/dev"
  "$broker" dev --dir "$dir/dev" > "$dir/dev.log" 2>&1 &
  dev=$!
  sleep 12
  for key in operator client; do
    perf stat -e task-clock -p "$dev" -x, -o "$dir/perf.txt" -- sleep 7 &
    perf=$!
    "$broker" bench --dir "$dir/dev" --properties "$dir/dev/$key.properties" --seconds 6 \
      --partitions 3 --in-flight 1 --batch-records 64 > "$dir/bench.txt"
    wait "$perf"
    records=$(grep -o '[0-9]* records/s' "$dir/bench.txt" | cut -d' ' -f1)
    cpu_ms=$(grep task-clock "$dir/perf.txt" | cut -d, -f1)
    throttled=$(grep -o 'quota: [0-9]* responses' "$dir/bench.txt" | cut -d' ' -f2)
    python3 -c "print(f'round $round $key: {$records} records/s, {$cpu_ms * 1000 / ($records * 6):.2f} us of broker CPU per record, $throttled throttled responses')"
  done
  kill "$dev"; wait "$dev" 2>/dev/null || true
  # Data is never deleted by retention yet: a round writes gigabytes.
  rm -rf "$dir/dev"
done
