#!/usr/bin/env python3
"""Plots `beyond compare-decoding`'s decoding.json into decoding.png: the judge's bits per
character and the samples' unigram entropy, each against forward passes (NFE) and against wall
time per sample (log x), one marker series per sampler family; the held-out reference as a line.

Usage: plot_decoding.py OUT_DIR. Called by `beyond compare-decoding` at the end.
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402


def family(row: dict) -> str:
    if row["model"] == "ar":
        return "AR"
    method = row.get("method", "")
    if method == "llada":
        return f"llada b{row.get('block_length')} {row.get('remasking')}"
    if method == "threshold":
        return f"threshold b{row.get('block_length')}" + (" cache" if row.get("prefix_cache") else "")
    return method


def main(out_dir: Path) -> int:
    doc = json.loads((out_dir / "decoding.json").read_text())
    rows = [r for r in doc["rows"] if r.get("nfe")]
    ref = doc.get("reference", {})
    groups: dict = {}
    for r in rows:
        groups.setdefault(family(r), []).append(r)
    panels = [("nfe", "judge_bpc"), ("seconds_per_sample", "judge_bpc"), ("nfe", "entropy_bits"),
              ("seconds_per_sample", "entropy_bits")]
    labels = {"nfe": "forward passes per sequence (NFE)", "seconds_per_sample": "wall seconds per sample",
              "judge_bpc": "judge bits per character (lower: more likely)",
              "entropy_bits": "unigram entropy of a sample (bits)"}
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), squeeze=False)
    markers = "os^vD<>pxh*+"
    for ax, (x, y) in zip([a for row in axes for a in row], panels):
        for i, (name, rs) in enumerate(sorted(groups.items())):
            rs = sorted(rs, key=lambda r: r[x])
            ax.plot([r[x] for r in rs], [r[y] for r in rs], marker=markers[i % len(markers)], lw=1, ms=5,
                    ls="none" if name == "AR" else "-", label=name)
            if name == "AR":
                for r in rs:
                    ax.annotate(r["decoder"], (r[x], r[y]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        if y in ref:
            ax.axhline(ref[y], color="gray", ls="--", lw=1, label="held-out text")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel(labels[x])
        ax.set_ylabel(labels[y])
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{doc.get('samples')} samples of {doc.get('gen_length')} characters per setting")
    fig.tight_layout()
    fig.savefig(out_dir / "decoding.png", dpi=110)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
