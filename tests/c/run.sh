#!/usr/bin/env bash
# The C and C++ tests of the C ABI (issue 6):
#   1. build the C library: cargo build -p cyberfly_store_c (bindings/c/lib,
#      libcyberfly_store.{so,a} in target/debug; no Python involved);
#   2. the header compiles cleanly as C99 (-Wall -Wextra -Werror -pedantic)
#      and as C++17, and so does the C++ header include/cyberfly_store.hpp
#      (C++17 and C++20);
#   3. every tests/c/*.c (gcc, C99) and tests/cpp/*.cpp (g++, C++17, through
#      the supported include/cyberfly_store.hpp) is linked
#      against the shared library and against the static one, run, and the
#      shared builds run again under valgrind (no leak, no invalid access);
#   4. examples/c/quickstart.c builds through the pkg-config file and runs;
#   5. scripts/install-c installs into a temporary prefix (the debug build of
#      step 1), and examples/c and examples/cpp are built with CMake
#      (find_package(cyberfly_store), cyberfly_store::cyberfly_store) against
#      that tree, linked shared and static, and run.
# Each test program prints "N passed, N failed"; this script adds them up
# (a failed build, crash or valgrind error counts as one failure) and prints
# the total last. Installs gcc, g++, valgrind, pkg-config, cmake if missing.
# Set CFS_C_TESTS_NO_VALGRIND=1 to skip the valgrind runs (quick local loop).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
if [ ${#missing[@]} -gt 0 ]; then
  echo "-- installing ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

work="$root/target/ctest"
rm -rf "$work"
mkdir -p "$work/bin" "$work/tmp"
export TMPDIR="$work/tmp"

# The libraries are linked where cargo writes them: no other crate of the
# workspace writes these file names (the Python module is
# libcyberfly_store_native.so).
lib="${CARGO_TARGET_DIR:-$root/target}/debug"
echo "-- cargo build -p cyberfly_store_c"
cargo build --locked -p cyberfly_store_c 2>&1 | grep -v '^\s*\(Compiling\|Blocking\)' || true
nm -D --defined-only "$lib/libcyberfly_store.so" | grep -q ' cfs_store_open$' ||
  { echo "the C library does not export cfs_store_open"; exit 1; }
if nm -D "$lib/libcyberfly_store.so" | grep -q ' U Py'; then
  echo "the C library needs libpython (Py* symbols undefined)"
  exit 1
fi

passed=0
failed=0
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -I"$root/include" -I"$root/tests/c" -g)
cxxflags=(-std=c++17 -Wall -Wextra -Werror -pedantic -I"$root/include" -I"$root/tests/cpp" -g)
shared=(-L"$lib" -Wl,-rpath,"$lib" -lcyberfly_store -lpthread -lm)
# The libraries rustc asks for with a static Rust library on Linux (as
# `--print native-static-libs` lists them; also in the pkg-config file).
static=("$lib/libcyberfly_store.a" -Wl,--gc-sections -Wl,-S -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)

echo "-- header"
printf '#include "cyberfly_store.h"\nint main(void) { return cfs_version() == 0; }\n' >"$work/h.c"
cp "$work/h.c" "$work/h.cpp"
if gcc "${cflags[@]}" -c "$work/h.c" -o "$work/h.o"; then
  passed=$((passed + 1)); echo "header: C99 -Wall -Wextra -Werror -pedantic ok"
else fail "header as C99"; fi
if g++ "${cxxflags[@]}" -c "$work/h.cpp" -o "$work/hpp.o"; then
  passed=$((passed + 1)); echo "header: C++17 -Wall -Wextra -Werror -pedantic ok"
else fail "header as C++17"; fi
printf '#include "cyberfly_store.hpp"\nint main() { return cfs::version().empty(); }\n' >"$work/hpp.cpp"
for std in c++17 c++20; do
  if g++ "${cxxflags[@]}" -std="$std" -Wshadow -Wconversion -Wsign-conversion -c "$work/hpp.cpp" -o "$work/hpp-$std.o"; then
    passed=$((passed + 1)); echo "C++ header: $std -Wall -Wextra -Werror -pedantic -Wshadow -Wconversion ok"
  else fail "C++ header as $std"; fi
done

# Run one binary; add its "N passed, N failed" line to the totals.
run() {
  local name="$1"; shift
  local log="$work/$name.log" rc=0
  "$@" >"$log" 2>&1 || rc=$?
  local line
  line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1 || true)"
  if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
  fi
  if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
    fail "$name (exit $rc)"
    tail -n 60 "$log"
  fi
  echo "$name: ${line:-no result line}"
}

# valgrind.supp: ring's AEAD under replication's QUIC (false positives).
vg=(valgrind -q --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
    --suppressions="$root/tests/c/valgrind.supp")

programs=()
for src in tests/c/*.c tests/cpp/*.cpp; do
  [ -e "$src" ] || continue
  base="$(basename "${src%.*}")"
  case "$src" in
    *.c) cc=(gcc "${cflags[@]}") ;;
    *) cc=(g++ "${cxxflags[@]}") ;;
  esac
  for mode in shared static; do
    if [ "$mode" = shared ]; then libs=("${shared[@]}"); else libs=("${static[@]}"); fi
    exe="$work/bin/$base-$mode"
    if "${cc[@]}" "$src" -o "$exe" "${libs[@]}"; then
      programs+=("$exe")
    else
      fail "build $src ($mode)"
    fi
  done
done

echo "-- run"
for exe in "${programs[@]}"; do run "$(basename "$exe")" "$exe"; done

if [ "${CFS_C_TESTS_NO_VALGRIND:-0}" != 1 ]; then
  echo "-- run under valgrind"
  # The shared builds only: the static ones run the same code (they are
  # run natively above, for the link), and valgrind is most of this
  # script's time.
  for exe in "${programs[@]}"; do
    case "$exe" in *-static) continue ;; esac
    run "valgrind $(basename "$exe")" "${vg[@]}" "$exe"
  done
fi

echo "-- examples/c/quickstart.c through pkg-config"
scripts/c-pkgconfig "$work/pkgconfig" "$root" "$root/include" "$lib" >/dev/null
# shellcheck disable=SC2046
if gcc -std=c99 -Wall -Wextra -Werror -pedantic examples/c/quickstart.c -o "$work/bin/quickstart" \
    $(PKG_CONFIG_PATH="$work/pkgconfig" pkg-config --cflags --libs cyberfly_store) &&
   "$work/bin/quickstart" "$work/tmp/quickstart-store" >"$work/quickstart.log" 2>&1 &&
   grep -q 'mydb:greeting = hello' "$work/quickstart.log"; then
  passed=$((passed + 1)); echo "quickstart: ok"
else
  fail "quickstart"; cat "$work/quickstart.log" 2>/dev/null || true
fi

echo "-- CMake: scripts/install-c into a temporary prefix, examples/c and examples/cpp"
prefix="$work/prefix"
if CFS_PROFILE=debug PREFIX="$prefix" scripts/install-c >"$work/install.log" 2>&1; then
  passed=$((passed + 1)); echo "install-c: ok ($(cd "$prefix" && find . -type f | sort | tr '\n' ' '))"
  for ex in c cpp; do
    for linkage in shared static; do
      name="cmake $ex $linkage"
      build="$work/cmake/$ex-$linkage"
      static_on=OFF
      [ "$linkage" = static ] && static_on=ON
      log="$work/cmake-$ex-$linkage.log"
      if cmake -S "examples/$ex" -B "$build" -DCMAKE_PREFIX_PATH="$prefix" \
           -DCYBERFLY_STORE_STATIC="$static_on" -DCMAKE_BUILD_TYPE=Debug >"$log" 2>&1 &&
         cmake --build "$build" >>"$log" 2>&1 &&
         "$build/quickstart" "$work/tmp/cmake-$ex-$linkage" >>"$log" 2>&1 &&
         grep -q 'mydb:greeting = hello' "$log" &&
         grep -q 'expected error' "$log"; then
        # shared: the program needs libcyberfly_store.so (found through its
        # run path, the prefix); static: it does not.
        if readelf -d "$build/quickstart" | grep -q 'NEEDED.*libcyberfly_store'; then needed=yes; else needed=no; fi
        if { [ "$linkage" = shared ] && [ "$needed" = yes ]; } || { [ "$linkage" = static ] && [ "$needed" = no ]; }; then
          passed=$((passed + 1)); echo "$name: ok"
        else
          fail "$name: libcyberfly_store.so needed: $needed"
        fi
      else
        fail "$name"; tail -n 40 "$log"
      fi
    done
  done
  # A version the package cannot satisfy is refused by find_package (before
  # 1.0 a new minor version may break: 0.1.x does not satisfy 0.2).
  for want in 9.0 0.2; do
    vdir="$work/cmake/version-$want"
    mkdir -p "$vdir"
    printf 'cmake_minimum_required(VERSION 3.11)\nproject(v LANGUAGES NONE)\nfind_package(cyberfly_store %s REQUIRED)\n' \
      "$want" >"$vdir/CMakeLists.txt"
    if cmake -S "$vdir" -B "$vdir/build" -DCMAKE_PREFIX_PATH="$prefix" >"$vdir.log" 2>&1; then
      fail "find_package(cyberfly_store $want) accepted $(sed -n 's/^set(PACKAGE_VERSION "\(.*\)")$/\1/p' \
        "$prefix/lib/cmake/cyberfly_store/cyberfly_storeConfigVersion.cmake")"
    elif grep -q "compatible with requested version \"$want\"" "$vdir.log"; then
      passed=$((passed + 1)); echo "cmake find_package(cyberfly_store $want) refused: ok"
    else
      fail "cmake version check $want"; tail -n 20 "$vdir.log"
    fi
  done
else
  fail "install-c"; tail -n 40 "$work/install.log"
fi

rm -rf "$work/tmp" "$work/bin" "$work/prefix" "$work/cmake"
echo "capi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
