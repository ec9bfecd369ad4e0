#!/usr/bin/env bash
# Real-mode chaos (README): the dev cluster as separate processes, kafka-python clients, kill -9,
# a restart and a network partition (iptables) on real sockets; the recorded history is judged by
# the simulation's own checker (`faultline check-history`). Needs root for iptables; installs
# iptables, kcat and the venv's kafka-python if they are missing.
#   bash ci/chaos-real.sh [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-target/chaos-real}
need_apt=()
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]} (apt)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! .venv/bin/python -c 'import kafka' >/dev/null 2>&1; then
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install -q 'kafka-python==3.0.12'
fi
cargo build -q -p broker -p sim --bins
rm -rf "$run" && mkdir -p "$run"
exec .venv/bin/python ci/chaos_real.py target/debug/broker target/debug/faultline "$(cd "$run" && pwd)"
