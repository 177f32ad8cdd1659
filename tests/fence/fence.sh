#!/usr/bin/env bash
# fence.sh BUILD_DIR SOURCE_DIR — a processor that includes a runtime header
# fails to build, and the style check refuses an #include that climbs out of
# its folder or a library header outside the one folder allowed to use it
# (tests/fence/CMakeLists.txt, docs/design.md "The tree").
set -uo pipefail
build=$1 src=$2
fail=0 ok=0
out=$(mktemp); tmp=$(mktemp -d)
trap 'rm -rf "$out" "$tmp"' EXIT

pass() { echo "ok: $*"; ok=$((ok + 1)); }
flunk() { cat "$out"; echo "FAIL: $*"; fail=$((fail + 1)); }

# builds TARGET WHAT: the probe must build
builds() {
  if cmake --build "$build" --target "$1" >"$out" 2>&1; then pass "$2"
  else flunk "$2 (it did not build)"; fi
}
# refuses CMD WHY WHAT: CMD must fail, saying WHY
refuses() {
  local why=$2 what=$3
  if eval "$1" >"$out" 2>&1; then flunk "$what (it was accepted)"
  elif grep -q "$why" "$out"; then pass "$what"
  else flunk "$what (it failed for another reason)"; fi
}
style() { echo "'$src/scripts/style-check.sh' true '$1'"; }

builds nd_fence_ok "a processor compiles against include/nudge and processors/lib"
refuses "cmake --build '$build' --target nd_fence_runtime" 'kio.h: No such file' \
  "a processor that includes kio.h does not build"

mkdir -p "$tmp/common/state" "$tmp/common/kio"
printf '#include "../../common/kio/kio.h"\n' >"$tmp/climb.c"
printf '#include "kio.h"\n' >"$tmp/plain.c"
printf '#include <librdkafka/rdkafka.h>\n' >"$tmp/common/state/x.c"
cp "$tmp/common/state/x.c" "$tmp/common/kio/x.c"

refuses "$(style "$tmp/climb.c")" 'climbs out of its folder' \
  'style check refuses #include "../..."'
refuses "$(style "$tmp/common/state/x.c")" 'only common/kio/ includes librdkafka' \
  "style check refuses librdkafka outside common/kio"
if eval "$(style "$tmp/plain.c")" >"$out" 2>&1; then
  pass "style check accepts a plain #include"
else flunk "style check refused a plain #include"; fi
if eval "$(style "$tmp/common/kio/x.c")" >"$out" 2>&1; then
  pass "style check lets common/kio include librdkafka"
else flunk "style check refused librdkafka in common/kio"; fi

echo "fence: $ok passed, $fail failed"
[ $fail = 0 ]
