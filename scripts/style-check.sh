#!/usr/bin/env bash
# style-check.sh [CLANG_FORMAT] [FILE...] — fails when a C file differs from
# .clang-format, or when an #include climbs out of its folder ("../"): the
# folders of common/ are layers and processors see include/ only (STYLE.md
# §2, docs/design.md "The tree"), and a relative path would bypass the
# include directories that CMake gives each layer. Without FILEs it checks
# every C file git tracks.
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
printf '%s\0' "${files[@]}" | xargs -0 "$cf" --dry-run --Werror || status=1
exit $status
