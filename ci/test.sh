#!/usr/bin/env bash
# The test command (README), in two tiers of the same tests:
#   bash ci/test.sh          the fast tier, which CI runs: every kind of test the project has (unit
#                            and property tests, the real clients nobody here wrote, Chromium and
#                            PostgreSQL, real-mode chaos, the documentation's commands, a sample of
#                            determinism double runs and of planted-bug pins, the fuzz smoke)
#   bash ci/test.sh --full   the full tier: the same, and the tests marked
#                            #[ignore = "full tier: ..."] (every catalog scenario's determinism
#                            double run, every planted-bug pin, the long real-mode tests)
# It installs what the tests need if it is missing (kcat, openssl, oathtool, iptables, curl, dig,
# zstd, chromium, postgresql, cargo-nextest, cargo-fuzz, a Python venv with kafka-python,
# schemathesis and cryptography), prints the 20 slowest tests and a closing tally.
set -euo pipefail
cd "$(dirname "$0")/.."
tier=fast
case "${1:-}" in
  "") ;;
  --full) tier=full ;;
  *) echo "usage: bash ci/test.sh [--full]" >&2; exit 2 ;;
esac
started=$(date +%s)
# Each stage says how far into the run it starts.
stage() { local t=$(( $(date +%s) - started )); echo "== [$((t / 60))m$(printf %02d $((t % 60)))s] $*"; }

# A run from a fresh clone builds both modes and writes a few GB under target/; say up front
# what the disk has, so that a full disk reads as that and not as a compiler error.
echo "== $(df -Ph . | awk 'NR == 2 { print $4 }') free for target/ ($(du -sh target 2>/dev/null | cut -f1 || echo 0) used)"
# Incremental caches only pay off across edits; here they would double the debug build's size.
export CARGO_INCREMENTAL=0

need_apt=()
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v oathtool >/dev/null 2>&1 || need_apt+=(oathtool)
command -v dig >/dev/null 2>&1 || need_apt+=(bind9-dnsutils)
command -v zstd >/dev/null 2>&1 || need_apt+=(zstd)
# The HTML report is checked in a real browser; the run history against a real PostgreSQL server.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  stage "installing ${need_apt[*]} (apt)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! .venv/bin/python -c 'import kafka, cryptography' >/dev/null 2>&1 || [ ! -x .venv/bin/schemathesis ]; then
  stage "creating .venv with kafka-python, schemathesis and cryptography"
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install -q 'kafka-python==3.0.12' 'schemathesis==4.32.5' 'cryptography==50.0.2'
fi

cargo nextest --version >/dev/null 2>&1 || {
  stage "installing cargo-nextest (cargo install)"
  cargo install cargo-nextest --version 0.9.143 --locked -q
}

stage "formatting and lints (both builds; clippy.toml bans nondeterminism)"
for tool in rustfmt clippy; do
  cargo "${tool/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$tool"
done
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# The simulation build has its own list of bans (see ci/clippy-madsim/clippy.toml).
CLIPPY_CONF_DIR="$PWD/ci/clippy-madsim" cargo clippy --release --config "build.rustflags=['--cfg','madsim']" \
  --target-dir target/sim -p broker --lib -- -D warnings
CLIPPY_CONF_DIR="$PWD/ci/clippy-madsim" cargo clippy --release --config "build.rustflags=['--cfg','madsim']" \
  --target-dir target/sim -p sim --all-targets -- -D warnings

# nextest runs each test in its own process and binaries side by side; the real-mode
# integration tests, which share 127.0.0.1-6's fixed ports, run one at a time
# (.config/nextest.toml). Each run writes JUnit with every test's time.
ignored=(--run-ignored default)
[ "$tier" = fast ] || ignored=(--run-ignored all)
sim=(--release --config "build.rustflags=['--cfg','madsim']" --target-dir target/sim -p sim)
status=0

stage "building the real-mode tests"
cargo nextest run --workspace --no-run
# The real-mode integration tests mostly wait on their clusters' timers (their processes used
# about a fifth of a core), so the simulation build, cargo-fuzz and the fuzz targets' build run
# beside them at the lowest priority: each configuration is built once, and no core idles.
builds=target/test-builds.log
mkdir -p target
(
  set -e
  nice -n 19 cargo nextest run "${sim[@]}" --no-run
  command -v cargo-fuzz >/dev/null 2>&1 || nice -n 19 cargo install cargo-fuzz --version 0.13.2 --locked -q
  nice -n 19 cargo fuzz build --fuzz-dir sim/fuzz -s none --target-dir target/fuzz-dev --dev
) >"$builds" 2>&1 &
builds_pid=$!

stage "real mode ($tier tier): broker (unit, property, kcat, kafka-python, openssl, schemathesis, kill -9), reports (PostgreSQL), sim's pure modules"
cargo nextest run --workspace "${ignored[@]}" || status=1
# nextest keeps one store (target/nextest) whatever the target directory: keep each run's JUnit.
cp target/nextest/default/junit.xml target/junit-real.xml || status=1

stage "the simulation build, cargo-fuzz and the fuzz targets (beside the real-mode tests)"
wait "$builds_pid" || { tail -50 "$builds"; echo "a build failed (whole log: $builds)"; exit 1; }

stage "simulation mode ($tier tier, --cfg madsim): the harness, determinism, planted bugs, the HTML report in Chromium, the documentation's commands"
cargo nextest run "${sim[@]}" "${ignored[@]}" || status=1
cp target/nextest/default/junit.xml target/junit-sim.xml || status=1

stage "real-mode chaos: kill -9, restart and a partition of real processes, judged by the simulation's checker"
bash ci/chaos-real.sh || status=1

stage "fuzz targets: a few seconds each, so that they build and run (the long runs: ci/fuzz.sh)"
fuzz_seconds=5
[ "$tier" = fast ] || fuzz_seconds=20
bash ci/fuzz.sh --dev "$fuzz_seconds" || status=1

stage "$tier tier"
python3 ci/slowest.py -n 20 target/junit-real.xml target/junit-sim.xml || status=1
echo "== $tier tier: $(( $(date +%s) - started )) s, $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
