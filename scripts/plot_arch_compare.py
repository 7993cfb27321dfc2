#!/usr/bin/env python3
"""Plots an arch_compare run's arch_compare.json into arch_compare.png: decoding tokens per second
against context, cache memory against context (measured solid, cache_memory.h's formula dashed;
log x), and each variant's validation loss against training step (from <variant>/metrics.jsonl).

Usage: plot_arch_compare.py RUN_DIR. Called by the arch_compare experiment at the end.
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402


def val_curve(run_dir: Path) -> tuple:
    steps, losses = {}, {}
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return [], []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if r.get("split") == "eval" and "val_loss" in r:
            steps[r["step"]] = r["val_loss"]  # a resumed run logs some steps twice: keep the last
    xs = sorted(steps)
    return xs, [steps[x] for x in xs]


def main(run_dir: Path) -> int:
    doc = json.loads((run_dir / "arch_compare.json").read_text())
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for i, v in enumerate(doc["variants"]):
        color = f"C{i}"
        rows = v["decode"]
        ctx = [r["context"] for r in rows]
        label = f'{v["label"]} ({v["layers"]})'
        axes[0].plot(ctx, [r["tokens_per_second"] for r in rows], marker="o", color=color, label=label)
        axes[1].plot(ctx, [r["cache_bytes"] / 2**20 for r in rows], marker="o", color=color, label=label + " measured")
        axes[1].plot(ctx, [r["formula_bytes"] / 2**20 for r in rows], ls="--", color=color, lw=1, label=label + " formula")
        xs, ys = val_curve(run_dir / v["name"])
        axes[2].plot(xs, ys, marker=".", color=color, label=label)
    for ax, title in zip(axes[:2], ["decoding tokens/s (batch 1)", "cache MiB"]):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("context (tokens)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    axes[2].set_xlabel("step")
    axes[2].set_title("validation loss (nats/token)")
    axes[2].grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=6)
    fig.suptitle(f'{doc.get("threads")} thread(s), {doc.get("new_tokens")} timed tokens per context')
    fig.tight_layout()
    fig.savefig(run_dir / "arch_compare.png", dpi=110)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
