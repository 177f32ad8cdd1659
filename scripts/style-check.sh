#!/usr/bin/env bash
# style-check.sh [CLANG_FORMAT] [FILE...] — fails when a C file differs from
# .clang-format, or when an #include climbs out of its folder ("../"): the
# folders of common/ are layers and processors see include/ only (STYLE.md
# §2, docs/design.md "The tree"), and a relative path would bypass the
# include directories that CMake gives each layer. Also the two rules of
# the module map that include paths cannot enforce (system headers are
# visible to every layer): only common/kio/ includes librdkafka's headers
# and only common/serde/ includes avro.h (tests and benchmarks may, to check
# against them). Without FILEs it checks every C file git tracks.
set -euo pipefail
cf=${1:-clang-format}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files '*.c' '*.h')
fi
status=0
if climbs=$(grep -Hn -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\.\./' "${files[@]}"); then
  echo "$climbs"
  echo "style: #include climbs out of its folder (link the layer's library instead)" >&2
  status=1
fi
# only FOLDER may include HEADER-REGEX: the files elsewhere that do
only() {
  local folder=$1 re=$2 f
  for f in "${files[@]}"; do
    case "/$f" in */"$folder"/* | */tests/* | */bench/*) continue ;; esac
    grep -Hn -E "^[[:space:]]*#[[:space:]]*include[[:space:]]*<$re" "$f" || true
  done
}
if out=$(only common/kio 'librdkafka/') && [ -n "$out" ]; then
  echo "$out"
  echo "style: only common/kio/ includes librdkafka (go through a kio function)" >&2
  status=1
fi
if out=$(only common/serde 'avro\.h>') && [ -n "$out" ]; then
  echo "$out"
  echo "style: only common/serde/ includes avro.h (go through a serde function)" >&2
  status=1
fi
printf '%s\0' "${files[@]}" | xargs -0 "$cf" --dry-run --Werror || status=1
exit $status
