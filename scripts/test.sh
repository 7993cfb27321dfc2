#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (what CI runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BEYOND_BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/setup.sh"
cd "$BUILD"
# One LibTorch thread per test process: ctest runs two at a time on two cores.
OMP_NUM_THREADS=1 ctest -j "$(nproc)" --output-on-failure --timeout 600 "$@"
