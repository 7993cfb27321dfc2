#!/usr/bin/env bash
# Installs what is missing, builds, and runs the quickstart experiment (no data needed).
# Extra arguments are config overrides, e.g. scripts/quickstart.sh train.steps=300
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BEYOND_BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$BUILD/beyond" run experiments/configs/quickstart.toml "$@"
