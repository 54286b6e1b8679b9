#!/usr/bin/env bash
# Builds and runs the whole test suite: a release build, an ASan+UBSan build, and a clang
# build (unit tests). The release build's ctest summary comes last.
# Incremental: a second run rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$jobs"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPIPELINE_SANITIZE=address,undefined \
  -DPIPELINE_WERROR=ON >/dev/null
cmake --build build-asan -j "$jobs"

# clang 14 must compile everything warning-free too (its unit tests run as well).
cmake -S . -B build-clang -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DPIPELINE_WERROR=ON >/dev/null
cmake --build build-clang -j "$jobs"

echo "== tests: clang build (unit) =="
ctest --test-dir build-clang -L unit -j "$jobs" --timeout 300 | grep -E "^[0-9]+% tests passed|\(Failed\)|\(Timeout\)|\(Subprocess aborted\)"
echo "== tests: ASan+UBSan build =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 300
echo "== tests: release build =="
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300
