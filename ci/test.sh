#!/usr/bin/env bash
# The test command (README): installs what the tests need if it is missing (kcat, openssl, oathtool, iptables,
# curl, dig, chromium, postgresql, a Python venv with kafka-python, schemathesis and cryptography), then runs the real-mode suites, the simulation suites
# and a short smoke run of every fuzz target (installing cargo-fuzz if it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

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
# The HTML report is checked in a real browser; the run history against a real PostgreSQL server.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]} (apt)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! .venv/bin/python -c 'import kafka, cryptography' >/dev/null 2>&1 || [ ! -x .venv/bin/schemathesis ]; then
  echo "== creating .venv with kafka-python, schemathesis and cryptography"
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install -q 'kafka-python==3.0.12' 'schemathesis==4.32.5' 'cryptography==50.0.2'
fi

echo "== formatting and lints (both builds; clippy.toml bans nondeterminism)"
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

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== real mode: broker (unit, property, kcat, kafka-python, openssl, kill -9), reports, sim's pure modules"
# The real-mode integration tests share 127.0.0.1-3:9092, so they run one at a time.
cargo test --workspace --tests -- --test-threads=1 2>&1 | tee -a "$log"

echo "== simulation mode (--cfg madsim): the harness, determinism, planted bugs"
cargo sim-test -p sim --tests 2>&1 | tee -a "$log"

echo "== real-mode chaos: kill -9, restart and a partition of real processes, judged by the simulation's checker"
bash ci/chaos-real.sh

echo "== fuzz targets: a few seconds each, so that they build and run (the long runs: ci/fuzz.sh)"
bash ci/fuzz.sh 5

# One closing tally over every test binary of both builds.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all suites: %d passed, %d failed\n", p, f; exit (f > 0) }' "$log"
