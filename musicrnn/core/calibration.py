"""Calibration of next-token predictions: NLL, accuracy, expected calibration error (ECE)
and a reliability diagram.

Confidence is the largest probability under the model's own output activation (softmax,
or Topcat, whose probabilities may sum to less than 1); NLL is always that of the
renormalised distribution (softmax of the logits), so models are comparable.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .data import Streams
from .rnn import CharRNN


@torch.no_grad()
def predictions(model: CharRNN, seqs: Sequence[np.ndarray], batch: int = 16, bptt: int = 128) -> dict:
    """Per target token: confidence, whether the top guess was right, and its log-likelihood."""
    model.eval()
    device = next(model.parameters()).device
    conf, correct, ll = [], [], []
    state = None
    for _, w in Streams.for_evaluation(seqs, batch, bptt).epoch(0, device=device):
        logits, state = model(w.x, state, w.reset)
        z = logits.flatten(0, 1).float()
        y = w.y.flatten()
        if model.cfg.output == "softmax":
            p = torch.softmax(z, -1)
        else:
            from .activations import topcat_probs

            p = topcat_probs(z, model.cfg.output)
        c, guess = p.max(-1)
        conf.append(c.cpu())
        correct.append((guess == y).cpu())
        ll.append(-F.cross_entropy(z, y, reduction="none").cpu())
    return {"confidence": torch.cat(conf).numpy(), "correct": torch.cat(correct).numpy(),
            "loglik": torch.cat(ll).numpy()}


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


def calibration_report(model: CharRNN, seqs: Sequence[np.ndarray], bins: int = 15) -> dict:
    pr = predictions(model, seqs)
    rel = reliability(pr["confidence"], pr["correct"], bins)
    return {"tokens": int(len(pr["correct"])), "nll_bits_per_token": float(-pr["loglik"].mean() / math.log(2)),
            "accuracy": float(pr["correct"].mean()), "mean_confidence": float(pr["confidence"].mean()),
            "ece": rel["ece"], "bins": rel}


def plot_reliability(reports: dict[str, dict], path: str | Path) -> Path:
    """One reliability diagram (PNG) with a curve per named report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect calibration")
    for name, rep in reports.items():
        b = rep["bins"]
        used = np.array(b["count"]) > 0
        ax.plot(np.array(b["confidence"])[used], np.array(b["accuracy"])[used], marker="o",
                label=f"{name} (ECE {rep['ece']:.3f})")
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Next-token reliability")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
