#!/usr/bin/env python3
"""Plots a run folder's metrics.jsonl into curves.png: training loss, and each eval metric.

Usage: plot_metrics.py RUN_DIR. Called by `beyond run` at the end of a run for report.md.
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(run_dir: Path) -> int:
    train, evals = [], []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        (train if record.get("split") == "train" else evals).append(record)
    eval_keys = sorted({k for r in evals for k in r if k not in ("step", "split")})
    panels = 1 + len(eval_keys)
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.4), squeeze=False)
    ax = axes[0][0]
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title("train loss")
    for ax, key in zip(axes[0][1:], eval_keys):
        points = [(r["step"], r[key]) for r in evals if key in r]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
        ax.set_xlabel("step")
        ax.set_title("eval " + key)
    fig.tight_layout()
    fig.savefig(run_dir / "curves.png", dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
