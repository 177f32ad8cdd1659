#!/usr/bin/env bash
# demo.sh — the README's first command: install what is missing, build, and
# run `nudge demo` on the embedded broker. Extra arguments go to nudge demo
# (for example: scripts/demo.sh --duration 60s --rate 5000).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
cd "$here"
exec "$here/build/nudge" demo -c "$here/config/demo.yaml" "$@"
