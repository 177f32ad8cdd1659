#!/usr/bin/env bash
# style-check.sh [CLANG_FORMAT] — fails when a C file differs from .clang-format.
set -euo pipefail
cf=${1:-clang-format}
cd "$(dirname "$0")/.."
git ls-files '*.c' '*.h' | xargs "$cf" --dry-run --Werror
