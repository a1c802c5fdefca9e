"""Draw the figures of docs/research.md from the library's own functions.

    python docs/plot_research.py   # writes docs/img/losses.png and docs/img/activations.png
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from musicrnn.core.activations import hidden_activation
from musicrnn.core.losses import exp_or_log, smooth_l1, smooth_l1_or_l2

IMG = Path(__file__).resolve().parent / "img"


def curve(fn, x):
    x = x.clone().requires_grad_(True)
    y = fn(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    return y.detach().numpy(), g.numpy()


def save(fig, name: str) -> Path:
    fig.tight_layout()
    path = IMG / name
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def losses() -> Path:
    e = torch.linspace(-3, 3, 601, dtype=torch.double)
    fns = {"Smooth L1 (beta 1)": smooth_l1,
           "Exp Or Log (under='steep')": lambda x: exp_or_log(x, "steep"),
           "Smooth L1 Or L2 (under='steep')": lambda x: smooth_l1_or_l2(x, "steep"),
           "squared error / 2": lambda x: 0.5 * x * x}
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for name, fn in fns.items():
        y, g = curve(fn, e)
        ls = ":" if name.startswith("squared") else "-"
        a.plot(e, y, ls=ls, label=name)
        b.plot(e, g, ls=ls, label=name)
    a.set_ylim(0, 6)
    b.set_ylim(-8, 4)
    for ax, t in ((a, "loss"), (b, "gradient d loss / d prediction")):
        ax.axvline(0, c="grey", lw=0.5)
        ax.set_xlabel("error = prediction - target  (< 0: under-prediction)")
        ax.set_title(t)
    a.legend(fontsize=8)
    return save(fig, "losses.png")


def activations() -> Path:
    x = torch.linspace(-5, 5, 501, dtype=torch.double)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for name in ("tanh", "phi-tanh", "iris2", "iris"):
        y, g = curve(hidden_activation(name), x)
        a.plot(x, y, label=name)
        b.plot(x, g, label=name)
    a.set_title("activation")
    b.set_title("derivative")
    for ax in (a, b):
        ax.axhline(0, c="grey", lw=0.5)
        ax.axvline(0, c="grey", lw=0.5)
        ax.set_xlabel("x")
    a.legend(fontsize=8)
    return save(fig, "activations.png")


if __name__ == "__main__":
    IMG.mkdir(exist_ok=True)
    for p in (losses(), activations()):
        print(p)
