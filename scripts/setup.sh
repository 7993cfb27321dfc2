#!/usr/bin/env bash
# Installs what is missing, finds LibTorch, configures and builds. Idempotent: a second run only
# re-checks and lets ninja rebuild what changed.
#
#   LibTorch is taken, in order, from: $Torch_DIR, $LIBTORCH (an unpacked LibTorch zip),
#   an importable python3 torch >= 2.4, else a project-local .venv with torch==2.13.0.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BEYOND_BUILD_DIR:-$ROOT/build}"
cd "$ROOT"

say() { echo "[setup] $*" >&2; }

# --- Debian packages ---------------------------------------------------------------------------
PACKAGES=(g++ cmake ninja-build ccache pkg-config libeigen3-dev libcli11-dev libspdlog-dev
          libfmt-dev libgtest-dev libgmock-dev libtomlplusplus-dev nlohmann-json3-dev python3-venv)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- LibTorch and the Python tools the tests use ----------------------------------------------
torch_ok='import sys, torch; v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); sys.exit(0 if v >= (2, 4) else 1)'
VENV="$ROOT/.venv"
if [ -n "${Torch_DIR:-}" ]; then
  TORCH_DIR="$Torch_DIR"
elif [ -n "${LIBTORCH:-}" ]; then
  TORCH_DIR="$LIBTORCH/share/cmake/Torch"
elif [ ! -x "$VENV/bin/python" ] && python3 -c "$torch_ok" 2>/dev/null; then
  TORCH_DIR="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')/Torch"
  SYSTEM_TORCH=1
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  python3 -m venv ${SYSTEM_TORCH:+--system-site-packages} "$VENV"
fi
if [ -z "${TORCH_DIR:-}" ] && ! "$VENV/bin/python" -c "$torch_ok" 2>/dev/null; then
  say "installing torch==2.13.0 into $VENV (CPU wheel)"
  "$VENV/bin/pip" install -q "torch==2.13.0"
fi
if ! "$VENV/bin/python" -c "import safetensors, numpy, matplotlib" 2>/dev/null; then
  say "installing safetensors, numpy and matplotlib into $VENV (interop tests, report plots)"
  "$VENV/bin/pip" install -q safetensors numpy matplotlib
fi
if [ -z "${TORCH_DIR:-}" ]; then
  TORCH_DIR="$("$VENV/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)')/Torch"
fi
[ -f "$TORCH_DIR/TorchConfig.cmake" ] || { echo "setup: no TorchConfig.cmake in $TORCH_DIR" >&2; exit 2; }

# --- Configure and build -----------------------------------------------------------------------
export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
if [ ! -f "$BUILD/build.ninja" ] || ! grep -qF "Torch_DIR:PATH=$TORCH_DIR" "$BUILD/CMakeCache.txt" 2>/dev/null; then
  say "configuring $BUILD (Torch_DIR=$TORCH_DIR)"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DTorch_DIR="$TORCH_DIR" -DBEYOND_PYTHON="$VENV/bin/python" \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
fi
say "building"
cmake --build "$BUILD" -j "$(nproc)"
