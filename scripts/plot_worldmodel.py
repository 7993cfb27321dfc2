#!/usr/bin/env python3
"""Plots a trace_worldmodel run: accuracy against program length from each sub-run's per-program
evaluation (SUB/eval_id.jsonl and SUB/eval_ood.jsonl).

  accuracy_vs_length.png  output accuracy of every model, and trace exact match of the full-trace
                          and markov models, against statements, lines, loop iterations and
                          trace events (solid: in distribution, dashed: length OOD)
  rollouts.png            full-trace and markov models: teacher-forced next-frame exact match and
                          the share of frames right before the first wrong one, against the same

Usage: plot_worldmodel.py RUN_DIR. Called by the trace_worldmodel experiment at the end.
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MODELS = [("trace", "full trace"), ("direct_tokens", "direct, equal tokens"),
          ("direct_programs", "direct, equal programs"), ("markov", "markov rollout")]
SPLITS = [("id", "-", "in distribution"), ("ood", "--", "length OOD")]
MIN_PER_BIN = 3


def read(path: Path) -> list:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def binned(rows: list, feature: str, metric, width: int) -> tuple:
    """Per bin of `width` values of feature (bins with too few programs left out): the mean of
    metric, or, for a pair (right, total) of fields, sum(right) / sum(total)."""
    bins: dict = {}
    for r in rows:
        bins.setdefault(r[feature] // width * width, []).append(r)
    xs, ys = [], []
    for b in sorted(bins):
        group = bins[b]
        if len(group) < MIN_PER_BIN:
            continue
        if isinstance(metric, tuple):
            total = sum(r.get(metric[1], 0) for r in group)
            if total == 0:
                continue
            ys.append(sum(r.get(metric[0], 0) for r in group) / total)
        else:
            ys.append(sum(float(r[metric]) for r in group) / len(group))
        xs.append(b + (width - 1) / 2)
    return xs, ys


def width_for(rows: list, feature: str) -> int:
    values = [r[feature] for r in rows]
    return max(1, (max(values) - min(values) + 1) // 12) if values else 1


FEATURES = [("n_statements", "statements in the program"), ("n_lines", "lines of the program"),
            ("loop_iters", "most iterations of one loop"), ("n_events", "events in the trace")]


def grid(data: dict, widths: dict, panels: list, title: str, path: Path) -> None:
    """One row per (metric, label, models) panel, one column per feature."""
    colors = {m: f"C{i}" for i, (m, _) in enumerate(MODELS)}
    fig, axes = plt.subplots(len(panels), len(FEATURES), figsize=(4.2 * len(FEATURES), 3.6 * len(panels)),
                             squeeze=False)
    for row, (metric, label, models) in zip(axes, panels):
        for ax, (feature, feature_label) in zip(row, FEATURES):
            for model, name in MODELS:
                if model not in models:
                    continue
                for split, style, split_name in SPLITS:
                    xs, ys = binned(data[(model, split)], feature, metric, widths[feature])
                    if xs:
                        ax.plot(xs, ys, style, marker="o", ms=3, color=colors[model], label=f"{name}, {split_name}")
            ax.set_xlabel(feature_label)
            ax.set_ylabel(label)
            ax.set_ylim(-0.03, 1.03)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(run_dir: Path) -> int:
    data = {(m, s): read(run_dir / m / f"eval_{s}.jsonl") for m, _ in MODELS for s, _, _ in SPLITS}
    everything = [r for rows in data.values() for r in rows]
    if not everything:
        print("no eval_*.jsonl in the sub-runs of", run_dir)
        return 1
    widths = {f: width_for(everything, f) for f, _ in FEATURES}
    all_models = [m for m, _ in MODELS]
    tracing = ["trace", "markov"]
    grid(data, widths, [("output_correct", "output accuracy", all_models), ("exact", "trace exact match", tracing)],
         "Accuracy against program length (greedy; solid: in distribution, dashed: length OOD; "
         f"bins of at least {MIN_PER_BIN} programs)", run_dir / "accuracy_vs_length.png")
    grid(data, widths, [(("tf_frames_right", "tf_frames"), "next frame right, teacher-forced", tracing),
                        ("right_share", "frames right before the first wrong one", tracing)],
         "Frames: teacher-forced next-frame exact match and free-running traces (full-trace greedy, markov rollout)",
         run_dir / "rollouts.png")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
