#!/usr/bin/env bash
# build-matrix.sh — build the whole tree (engine, processors, tools, tests,
# benchmarks; compile and link only, no test is run) in the configurations
# that scripts/test.sh does not build itself, so that a warning that only
# one optimiser or one set of flags sees breaks the test command and not
# someone's packaging:
#
#   Release         -O3 (what `cmake -DCMAKE_BUILD_TYPE=Release` users get)
#   MinSizeRel      -Os
#   deb-hardening   Debian's hardening flags from dpkg-buildflags
#                   (-O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2
#                   -Werror=format-security, relro), no build type
#
# (test.sh builds RelWithDebInfo in build/ and Debug with ASan+UBSan in
# build-asan/.) Every build has the project's -Werror, so any warning fails
# it. The fuzz targets are left out (they need clang and are built by
# scripts/fuzz.sh). Each build has its own directory under build-matrix/
# (git-ignored, reused: a second run only rebuilds what changed).
#
# Prints one line per build, "build-matrix: Release ok" or "build-matrix:
# Release FAILED" followed by the first errors (the whole log is
# build-matrix/<name>.log), and exits non-zero when any build failed.
#
# Environment: ND_MATRIX_JOBS  parallel jobs (default: nproc)
#              ND_MATRIX_DIR   where the build directories go
#                              (default: build-matrix/ in the source tree)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
jobs=${ND_MATRIX_JOBS:-$(nproc)}
top=${ND_MATRIX_DIR:-$here/build-matrix}
mkdir -p "$top"

failed=0

# build <name> <cmake arguments...>: configure and build one directory.
# Every flag variable is given explicitly, so neither the caller's CFLAGS nor
# what a previous run left in the cache decides the flags.
build() {
  local name=$1; shift
  local dir=$top/$name log=$top/$name.log start=$SECONDS
  if cmake -S "$here" -B "$dir" -DND_TESTS=ON -DND_BENCH=ON -DND_FUZZ=OFF \
       -DND_ASAN=OFF -DND_UBSAN=OFF "$@" >"$log" 2>&1 &&
     cmake --build "$dir" -j "$jobs" >>"$log" 2>&1; then
    echo "build-matrix: $name ok ($((SECONDS - start))s)"
  else
    failed=$((failed + 1))
    echo "build-matrix: $name FAILED (log: ${log#"$here"/})"
    # The first errors, which are what to fix; the rest often follow.
    grep -E ': (fatal )?error|: warning:|undefined reference|CMake Error' "$log" |
      head -n 12 | sed 's/^/  /'
  fi
}

build Release -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS= \
  -DCMAKE_EXE_LINKER_FLAGS=
build MinSizeRel -DCMAKE_BUILD_TYPE=MinSizeRel -DCMAKE_C_FLAGS= \
  -DCMAKE_EXE_LINKER_FLAGS=

# Debian's flags, as a package build would pass them (CPPFLAGS carries
# -D_FORTIFY_SOURCE=2, which only works with optimisation). No build type is
# given, so the project's default (RelWithDebInfo) adds its own -O2 -g.
if command -v dpkg-buildflags >/dev/null; then
  build deb-hardening -UCMAKE_BUILD_TYPE \
    -DCMAKE_C_FLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
    -DCMAKE_EXE_LINKER_FLAGS="$(dpkg-buildflags --get LDFLAGS)"
else
  failed=$((failed + 1))
  echo "build-matrix: deb-hardening FAILED (dpkg-buildflags not found: install dpkg-dev)"
fi

[ "$failed" = 0 ]
