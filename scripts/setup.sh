#!/usr/bin/env bash
# setup.sh — install what nudge needs from Debian's packages, then build it.
#
# Non-interactive and idempotent: packages already present are not touched,
# and apt is only consulted when something is missing. Run as root (or with
# sudo available). Usage: scripts/setup.sh [--no-build] [--asan]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

# Build and runtime dependencies. Why each one is there: README.md, "Dependencies".
pkgs=(
  build-essential cmake pkg-config git ca-certificates
  librdkafka-dev libavro-dev libjemalloc-dev libyaml-dev libxxhash-dev
  check libsubunit-dev
  libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev zlib1g-dev
  clang libclang-rt-14-dev clang-format
  kcat iproute2 util-linux python3-venv
  openjdk-17-jre-headless maven
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all packages present"
fi

build=1; asan=0
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    --asan) asan=1 ;;
    *) echo "setup: unknown option $a" >&2; exit 2 ;;
  esac
done

jobs=$(nproc 2>/dev/null || echo 2)
if [ $build = 1 ]; then
  cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$here/build" -j "$jobs"
fi
if [ $asan = 1 ]; then
  cmake -S "$here" -B "$here/build-asan" -DCMAKE_BUILD_TYPE=Debug -DND_ASAN=ON -DND_UBSAN=ON >/dev/null
  cmake --build "$here/build-asan" -j "$jobs"
fi
