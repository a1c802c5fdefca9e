"""Calibration of next-token predictions: NLL, accuracy, expected calibration error (ECE)
and a reliability diagram.

Confidence is the largest probability under the model's own output activation (softmax,
or Topcat, whose probabilities may sum to less than 1); NLL is that of the renormalised
distribution the model samples from. Every held-out token is scored once, through the
exact scorer (``evaluate.score_tokens``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from .evaluate import score_tokens


def reliability(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> dict:
    """Equal-width confidence bins: per bin count, mean confidence and accuracy; and the ECE."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    count = np.bincount(idx, minlength=bins)
    mean_conf = np.bincount(idx, conf, bins) / np.maximum(count, 1)
    acc = np.bincount(idx, correct.astype(float), bins) / np.maximum(count, 1)
    ece = float(np.sum(count / max(len(conf), 1) * np.abs(acc - mean_conf)))
    return {"edges": edges.tolist(), "count": count.tolist(), "confidence": mean_conf.tolist(),
            "accuracy": acc.tolist(), "ece": ece}


def calibration_report(model, seqs: Sequence[np.ndarray], bins: int = 15, output: str = "softmax") -> dict:
    """``output``: the output activation the model was trained with (its objective's)."""
    pr = score_tokens(model, seqs, output=output)
    rel = reliability(pr["confidence"], pr["correct"], bins)
    return {"tokens": int(len(pr["correct"])), "nll_bits_per_token": float(-pr["loglik"].mean() / math.log(2)),
            "accuracy": float(pr["correct"].mean()), "mean_confidence": float(pr["confidence"].mean()),
            "ece": rel["ece"], "bins": rel}


def plot_reliability(reports: dict[str, dict], path: str | Path) -> Path:
    """One reliability diagram (PNG) with a curve per named report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, gap) = plt.subplots(1, 2, figsize=(10, 4.6))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect calibration")
    gap.axhline(0, ls="--", c="grey", lw=1)
    for name, rep in reports.items():
        b = rep["bins"]
        used = np.array(b["count"]) > 0
        conf, acc = np.array(b["confidence"])[used], np.array(b["accuracy"])[used]
        line, = ax.plot(conf, acc, marker="o", ms=3, label=f"{name} (ECE {rep['ece']:.3f})")
        gap.plot(conf, acc - conf, marker="o", ms=3, color=line.get_color())
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Next-token reliability")
    gap.set_xlabel("confidence (top probability)")
    gap.set_ylabel("accuracy − confidence (> 0: under-confident)")
    gap.set_xlim(0, 1)
    gap.set_title("The gap, magnified")
    rows = (len(reports) + 2) // 2
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.045 * rows + 0.02, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_pooled_reliability(runs: dict[str, list[Path]], path: Path) -> None:
    """One reliability diagram, one curve per variant: the confidence bins of its seeds'
    calibration reports (``calibration.json``) summed."""
    pooled = {}
    for name, files in runs.items():
        reps = [json.loads(f.read_text()) for f in files]
        count = np.sum([r["bins"]["count"] for r in reps], 0)
        w = lambda key: np.sum([np.array(r["bins"][key]) * r["bins"]["count"] for r in reps], 0) / np.maximum(count, 1)
        conf, acc = w("confidence"), w("accuracy")
        ece = float(np.sum(count / max(count.sum(), 1) * np.abs(acc - conf)))
        pooled[f"{name or 'baseline'}, {len(reps)} seeds"] = {
            "ece": ece, "bins": {"count": count.tolist(), "confidence": conf.tolist(), "accuracy": acc.tolist()}}
    plot_reliability(pooled, path)


def plot_runs_reliability(runs: dict[str, list[Path]], path: Path) -> None:
    """:func:`plot_pooled_reliability` of run folders (each holds its ``calibration.json``)."""
    plot_pooled_reliability({n: [f / "calibration.json" for f in folders] for n, folders in runs.items()}, path)
