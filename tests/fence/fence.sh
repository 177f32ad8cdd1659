#!/usr/bin/env bash
# fence.sh BUILD_DIR SOURCE_DIR — a processor that includes a runtime header
# fails to build, and an #include that climbs out of its folder fails the
# style check (tests/fence/CMakeLists.txt).
set -uo pipefail
build=$1 src=$2
fail=0
out=$(mktemp); tmp=$(mktemp -d)
trap 'rm -rf "$out" "$tmp"' EXIT

if cmake --build "$build" --target nd_fence_ok >"$out" 2>&1; then
  echo "ok: a processor compiles against include/nudge and processors/lib"
else
  cat "$out"; echo "FAIL: the control probe does not build"; fail=1
fi

if cmake --build "$build" --target nd_fence_runtime >"$out" 2>&1; then
  echo "FAIL: a processor that includes kio.h built"; fail=1
elif grep -q 'kio.h: No such file' "$out"; then
  echo "ok: a processor that includes kio.h does not build (kio.h: No such file)"
else
  cat "$out"; echo "FAIL: the runtime probe failed for another reason"; fail=1
fi

# The style rule: a climbing include is refused, a plain one is not.
printf '#include "../../common/kio/kio.h"\n' >"$tmp/climb.c"
printf '#include "kio.h"\n' >"$tmp/plain.c"
if "$src/scripts/style-check.sh" true "$tmp/climb.c" >"$out" 2>&1; then
  cat "$out"; echo "FAIL: style check accepted #include \"../\""; fail=1
elif grep -q 'climbs out of its folder' "$out"; then
  echo "ok: style check refuses #include \"../...\""
else
  cat "$out"; echo "FAIL: style check failed for another reason"; fail=1
fi
if "$src/scripts/style-check.sh" true "$tmp/plain.c" >"$out" 2>&1; then
  echo "ok: style check accepts a plain #include"
else
  cat "$out"; echo "FAIL: style check refused a plain #include"; fail=1
fi
# The module map's system-header rules: librdkafka in common/kio only.
mkdir -p "$tmp/common/state" "$tmp/common/kio"
printf '#include <librdkafka/rdkafka.h>\n' >"$tmp/common/state/x.c"
cp "$tmp/common/state/x.c" "$tmp/common/kio/x.c"
if "$src/scripts/style-check.sh" true "$tmp/common/state/x.c" >"$out" 2>&1; then
  cat "$out"; echo "FAIL: style check let common/state include librdkafka"; fail=1
elif grep -q 'only common/kio/ includes librdkafka' "$out"; then
  echo "ok: style check refuses librdkafka outside common/kio"
else
  cat "$out"; echo "FAIL: style check failed for another reason"; fail=1
fi
if "$src/scripts/style-check.sh" true "$tmp/common/kio/x.c" >"$out" 2>&1; then
  echo "ok: style check lets common/kio include librdkafka"
else
  cat "$out"; echo "FAIL: style check refused librdkafka in common/kio"; fail=1
fi
[ $fail = 0 ] && echo "fence: 6 passed, 0 failed"
exit $fail
