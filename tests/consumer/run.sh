#!/usr/bin/env bash
# Consumer tests of an installed blecrypt (run by CTest, see tests/consumer/CMakeLists.txt).
#   run.sh install BUILD_DIR PREFIX              cmake --install BUILD_DIR into a fresh PREFIX
#   run.sh find_package PREFIX WORK BACKEND      configure, build and run tests/consumer/app
#   run.sh pkg_config PREFIX WORK BACKEND        compile main.cpp with `pkg-config blecrypt-BACKEND`
# CXX and CXXFLAGS_EXTRA (e.g. sanitizer flags of the build under test) come from the environment.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=$1
shift
case "$mode" in
  install)
    build=$1 prefix=$2
    rm -rf "$prefix"
    cmake --install "$build" --prefix "$prefix" >/dev/null
    test -f "$prefix/lib/cmake/blecrypt/blecryptConfig.cmake"
    test -f "$prefix/lib/pkgconfig/blecrypt.pc"
    test -f "$prefix/include/blecrypt/crypto.hpp"
    echo "installed into $prefix"
    ;;
  find_package)
    prefix=$1 work=$2 backend=$3
    rm -rf "$work"
    cmake -S "$here/app" -B "$work" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_CXX_COMPILER="${CXX:-c++}" -DCMAKE_CXX_FLAGS="${CXXFLAGS_EXTRA:-}" \
      -DCMAKE_EXE_LINKER_FLAGS="${CXXFLAGS_EXTRA:-}" -DBACKEND="$backend" >"$work.log" 2>&1 || { cat "$work.log"; exit 1; }
    cmake --build "$work" >>"$work.log" 2>&1 || { cat "$work.log"; exit 1; }
    "$work/consumer" "$backend"
    ;;
  pkg_config)
    prefix=$1 work=$2 backend=$3
    rm -rf "$work" && mkdir -p "$work"
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    flags=$(pkg-config --cflags --libs "blecrypt-$backend")
    echo "pkg-config --cflags --libs blecrypt-$backend: $flags"
    # shellcheck disable=SC2086  # the flags are words
    "${CXX:-c++}" ${CXXFLAGS_EXTRA:-} -O1 "$here/app/main.cpp" -o "$work/consumer" $flags
    "$work/consumer" "$backend"
    ;;
  *)
    echo "run.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
