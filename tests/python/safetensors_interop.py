"""Interop check between beyond's C++ safetensors code and Python's `safetensors`.

  safetensors_interop.py write FILE   writes the recipe below with safetensors.torch.save_file
  safetensors_interop.py check FILE   loads FILE with safetensors and compares it with the recipe

tests/core/test_safetensors.cpp builds the same recipe in C++; keep the two in step.
Exits non-zero on any mismatch.
"""
import argparse
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

METADATA = {"format": "beyond-interop", "step": "42", "note": "h\u00e9llo \u2713"}


def recipe():
    # Every value is exactly representable in its dtype, so both sides agree bit for bit.
    return {
        "f32": torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 8 - 1,
        "f64": torch.arange(6, dtype=torch.float64).reshape(3, 2) / 4 + 1e10,
        "i64": (torch.arange(10, dtype=torch.int64) - 5) * 1_000_000_007,
        "bf16": (torch.arange(16, dtype=torch.float32).reshape(4, 4) / 4 - 2).to(torch.bfloat16),
        "bool": torch.arange(7) % 3 == 0,
        "empty": torch.zeros(0, 3, dtype=torch.float32),
        "scalar": torch.tensor(3.5, dtype=torch.float32),
    }


def check(path):
    got = load_file(path)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
    errors = []
    want = recipe()
    if sorted(got) != sorted(want):
        errors.append(f"tensor names {sorted(got)} != {sorted(want)}")
    for name in sorted(set(got) & set(want)):
        g, w = got[name], want[name]
        if g.dtype != w.dtype or g.shape != w.shape or not torch.equal(g, w):
            errors.append(f"{name}: got {g.dtype} {tuple(g.shape)} {g.flatten()[:8].tolist()}, "
                          f"want {w.dtype} {tuple(w.shape)} {w.flatten()[:8].tolist()}")
    if metadata != METADATA:
        errors.append(f"metadata {metadata} != {METADATA}")
    for e in errors:
        print(f"{path}: {e}", file=sys.stderr)
    return 1 if errors else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("check", "write"):
        sub.add_parser(name).add_argument("file")
    args = parser.parse_args()
    if args.command == "write":
        save_file(recipe(), args.file, metadata=METADATA)
        return 0
    return check(args.file)


if __name__ == "__main__":
    sys.exit(main())
