#!/usr/bin/env bash
# fuzz.sh — build serde's libFuzzer targets with clang and run each one for a
# bounded time on its seed corpus (tests/fuzz/corpus/<target>/).
#
#   ND_FUZZ_SECONDS  seconds per target (default 20)
#   ND_FUZZ_BUILD    build directory (default build-fuzz/)
#   ND_FUZZ_CC       compiler (default clang, else clang-14)
#
# Exits non-zero when a target crashes, leaks, reads out of bounds or hits
# undefined behaviour; the reproducer is left as <build>/fuzz-<target>-crash-*
# (replay: <build>/tests/fuzz/fuzz_<target> <file>). New inputs the fuzzer
# finds go to a scratch directory, so the committed corpus only changes when
# someone copies interesting inputs in on purpose.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${ND_FUZZ_BUILD:-$here/build-fuzz}
secs=${ND_FUZZ_SECONDS:-20}
cc=${ND_FUZZ_CC:-$(command -v clang || command -v clang-14 || true)}
targets=(avro json ocf)

if [ -z "$cc" ]; then
  echo "fuzz: clang not found (scripts/setup.sh installs it)" >&2
  exit 2
fi

cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Debug -DND_FUZZ=ON -DND_ASAN=ON -DND_UBSAN=ON \
  -DND_BENCH=OFF -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  echo "fuzz: fuzz_$t for ${secs}s"
  if ! "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-$t-" \
      "$scratch/$t" "$here/tests/fuzz/corpus/$t" 2>"$scratch/$t.log"; then
    tail -n 60 "$scratch/$t.log" >&2
    echo "fuzz: fuzz_$t FAILED; reproducer: $(ls "$build"/fuzz-"$t"-* 2>/dev/null | head -1)" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$scratch/$t.log" | tail -2 || true
done
echo "fuzz: all targets ran ${secs}s each without a finding"
