#!/usr/bin/env bash
# Real-mode produce benchmark (issue 13): a fresh `broker dev` cluster (three brokers, SASL_SSL,
# replication factor 3, an fsync before a write is acknowledged) driven by librdkafka through
# confluent-kafka (ci/bench-librdkafka.py). Each round saturates, then produces at half the
# saturated rate to measure latency at load. The operator's key produces: the application key
# is held to the Standard quota (100 MB/s per tenant) by design.
# Usage: bash ci/bench-real.sh [rounds] [records per saturating round]
# BROKER=path/to/broker measures another build (a before/after comparison) without building.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
records="${2:-400000}"
broker="${BROKER:-target/release/broker}"
[ -n "${BROKER:-}" ] || cargo build --release -p broker -q
if ! .venv/bin/python -c 'import confluent_kafka' >/dev/null 2>&1; then
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install -q 'confluent-kafka==2.16.1'
fi
dir=$(mktemp -d /tmp/bench-real.XXXXXX)
trap 'kill "${dev:-}" 2>/dev/null || true; rm -rf "$dir"' EXIT
for round in $(seq 1 "$rounds"); do
  rm -rf "$dir/dev"
  "$broker" dev --dir "$dir/dev" > "$dir/dev.log" 2>&1 &
  dev=$!
  for _ in $(seq 1 60); do
    [ -f "$dir/dev/operator.properties" ] && grep -q "listening" "$dir/dev.log" && break
    sleep 0.5
  done
  sleep 3
  echo "== round $round: saturating, $records records"
  .venv/bin/python ci/bench-librdkafka.py "$dir/dev/operator.properties" --records "$records" | tee "$dir/saturated.txt"
  half=$(awk '/throughput:/ { printf "%.0f", $2 / 2 }' "$dir/saturated.txt")
  echo "== round $round: paced at half, $half MB/s for 15 s"
  .venv/bin/python ci/bench-librdkafka.py "$dir/dev/operator.properties" --seconds 15 --rate-mb "$half"
  kill "$dev"; wait "$dev" 2>/dev/null || true
done
