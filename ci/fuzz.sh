#!/usr/bin/env bash
# Runs every fuzz target (sim/fuzz, cargo-fuzz with libFuzzer) for SECONDS each, or only the
# TARGETs named, and prints a table: executions, coverage, crashes. Installs cargo-fuzz if it is
# missing. Stable toolchain: no sanitizer (`-s none`); Rust's own bounds checks and the targets'
# assertions are the oracles.
#   bash ci/fuzz.sh [--dev] [SECONDS] [TARGET[:SECONDS]...]   # 600 s each by default (the nightly budget)
# --dev builds the targets without optimisation (half the build time, for the test command's
# smoke run of a few seconds; the long runs want the optimised build).
# A target's own SECONDS (kafka_connection:9000) overrides the default for it: slow targets
# need hours for 10 million executions, fast ones minutes.
# Corpora grow in target/fuzz/corpus/<target>, seeded from sim/fuzz/seeds/<target>; a crash
# leaves its input in target/fuzz/artifacts/<target>/ and makes the script fail. Check a
# minimized crash in under broker/tests/hostile/<target>/ with its fix.
set -euo pipefail
cd "$(dirname "$0")/.."
options=(--fuzz-dir sim/fuzz -s none --target-dir target/fuzz)
if [ "${1:-}" = --dev ]; then
  options=(--fuzz-dir sim/fuzz -s none --target-dir target/fuzz-dev --dev)
  shift
fi
seconds=${1:-600}
shift || true
command -v cargo-fuzz >/dev/null 2>&1 || cargo fuzz --version >/dev/null 2>&1 || {
  echo "== installing cargo-fuzz (cargo install)"
  cargo install cargo-fuzz --version 0.13.2 --locked -q
}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cd sim/fuzz/fuzz_targets && ls *.rs | sed "s/\.rs$//")
for target in "${targets[@]}"; do
  [ -f "sim/fuzz/fuzz_targets/${target%%:*}.rs" ] || { echo "no fuzz target ${target%%:*}" >&2; exit 2; }
done
echo "== building ${#targets[@]} fuzz targets"
cargo fuzz build "${options[@]}" >/dev/null
printf '%-16s %12s %10s %8s %s\n' target executions exec/s cov result
failed=0
for entry in "${targets[@]}"; do
  target=${entry%%:*} budget=$seconds
  [ "$entry" = "$target" ] || budget=${entry#*:}
  corpus=target/fuzz/corpus/$target artifacts=target/fuzz/artifacts/$target
  mkdir -p "$corpus" "$artifacts" "sim/fuzz/seeds/$target"
  log=target/fuzz/$target.log
  result=ok
  # The catalog's scenario files are scenario_toml's seeds.
  seeds=("sim/fuzz/seeds/$target")
  [ "$target" != scenario_toml ] || seeds+=(scenarios)
  cargo fuzz run "${options[@]}" "$target" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$budget" -print_final_stats=1 -artifact_prefix="$artifacts/" -rss_limit_mb=2048 \
    >"$log" 2>&1 || { result="CRASH: $(ls -t "$artifacts" | head -1) (log: $log)"; failed=1; }
  runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -1)
  rate=$(awk '/stat::average_exec_per_sec/ { print $2 }' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-16s %12s %10s %8s %s\n' "$target" "${runs:-?}" "${rate:-?}" "${cov:-?}" "$result"
done
exit $failed
