#!/usr/bin/env bash
# Fuzz seeds from real traffic (issue 14): starts a fresh `broker dev --capture-requests`, runs
# unmodified clients against it (kcat: metadata, keyed idempotent produce, consume; kafka-python:
# admin, a consumer group, consume), stops it, and turns each connection's requests into seeds
# under sim/fuzz/seeds/<target>/captured-* (`broker capture-seeds`). SASL credentials are never
# captured: the connection target's zero-size step stands for authenticating.
#   bash ci/capture-seeds.sh [OUT]       # OUT defaults to sim/fuzz/seeds
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-sim/fuzz/seeds}
command -v kcat >/dev/null 2>&1 || { echo "kcat is missing: bash ci/test.sh installs it" >&2; exit 2; }
.venv/bin/python -c 'import kafka' 2>/dev/null || { echo ".venv lacks kafka-python: bash ci/test.sh installs it" >&2; exit 2; }
cargo build -q -p broker --bin broker
dir=$(mktemp -d /tmp/capture-seeds.XXXXXX)
trap 'kill "${dev:-}" 2>/dev/null || true; rm -rf "$dir"' EXIT
target/debug/broker dev --dir "$dir/dev" --capture-requests "$dir/capture" > "$dir/dev.log" 2>&1 &
dev=$!
for _ in $(seq 1 120); do grep -q "^connect with" "$dir/dev.log" && break; sleep 0.5; done
grep -q "^connect with" "$dir/dev.log" || { cat "$dir/dev.log" >&2; echo "broker dev did not start" >&2; exit 1; }
props="$dir/dev/client.properties"
clients=broker/tests/clients
echo "== kafka-python: create a topic, a consumer group, consume"
# The brokers register with the controller after `dev` prints: retry until three zones are up.
for attempt in $(seq 1 30); do
  .venv/bin/python "$clients/admin.py" "$props" captured 3 3 >/dev/null 2>"$dir/admin.err" && break
  [ "$attempt" -lt 30 ] || { cat "$dir/admin.err" >&2; exit 1; }
  sleep 1
done
.venv/bin/python "$clients/admin.py" "$props" captured-group 3 3 >/dev/null
echo "== kcat: metadata, keyed idempotent produce, consume"
kcat -F "$props" -L >/dev/null
seq 1 200 | sed 's/^/key-&:value-&/' | kcat -F "$props" -P -t captured -K: -X acks=all -X enable.idempotence=true
kcat -F "$props" -C -t captured -e -q >/dev/null
.venv/bin/python "$clients/consumer_group.py" "$props" captured-group >/dev/null
.venv/bin/python "$clients/consume_all.py" "$props" captured "$dir/consumed.txt" >/dev/null
kill "$dev"; wait "$dev" 2>/dev/null || true
echo "== seeds from $(find "$dir/capture" -name '*.session' | wc -l) connections"
target/debug/broker capture-seeds --from "$dir/capture" --to "$out" | tail -1
# The capture must hold no credential: the key's secret appears in no session and no seed.
secret=$(sed -n 's/^sasl.password=//p' "$props")
if [ -n "$secret" ] && grep -rlF "$secret" "$dir/capture" "$out" >&2; then
  echo "FAIL: the SASL secret is in the files above" >&2
  exit 1
fi
echo "no credential in the capture or the seeds"
