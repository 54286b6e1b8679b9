#!/usr/bin/env bash
# Builds and runs the whole test suite twice: a normal build, then ASan+UBSan.
# Incremental: a second run rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$jobs"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPIPELINE_SANITIZE=address,undefined \
  -DPIPELINE_WERROR=ON >/dev/null
cmake --build build-asan -j "$jobs"

echo "== tests: ASan+UBSan build =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 300
echo "== tests: release build =="
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300
