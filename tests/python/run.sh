#!/usr/bin/env bash
# run.sh — Python (fastavro) reads an action that nudge encoded.
# Installs fastavro with pip when missing, builds bench_serde (which writes
# the sample) in the given build directory, and runs the check.
# Usage: tests/python/run.sh [build dir]     (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
python3 -c "import fastavro" 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check fastavro
cmake --build "$build" --target bench_serde >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/bench/bench_serde" --write-action "$tmp/action.avro" "$tmp/action.json"
python3 "$here/tests/python/test_action_fastavro.py" "$tmp/action.avro" \
  "$tmp/action.json" "$here/schemas/action.avsc"
