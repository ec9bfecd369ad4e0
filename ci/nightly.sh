#!/usr/bin/env bash
# The nightly chaos run: the whole catalog on its default seeds, with determinism checked on the
# first two seeds of every scenario. Writes target/faultline/nightly/{summary.md,json,xml}.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo faultline nightly --check-determinism-sample 2 "$@"
