"""The network's side of the task: its inputs and targets (:func:`features`, :func:`targets`), the
splits, running it over a history and its top 7 (:func:`top7`), loading a checkpoint (:func:`load`).
Imports torch when called."""

from __future__ import annotations

import numpy as np

from .data import NUMBERS, PICK


TASK = "lotto"
FEATURES = 2 * NUMBERS  # main multi-hot + bonus one-hot
HISTORY = "history.csv"  # the history a model was trained on, saved beside it

VALID_FRACTION, TEST_FRACTION = 0.1, 0.1
MODEL_DEFAULTS = {"hidden": 64, "embed": 32, "layers": 1, "cell": "lstm", "dropout": 0.0}
# chosen on lcg/mt histories of 3,000 draws (seed 0): lr 3e-3 or patience 5 stop on the plateau at the
# marginal frequencies (20.25 nats/draw) before the lcg's structure is found; longer runs overfit
TRAIN_DEFAULTS = {"batch": 16, "bptt": 25, "lr": 1e-2, "epochs": 40, "patience": 10, "warmup": 0.05}


def features(draws: np.ndarray) -> np.ndarray:
    """(N, 100) float32: the main numbers multi-hot, then the bonus one-hot."""
    x = np.zeros((len(draws), FEATURES), np.float32)
    rows = np.arange(len(draws))[:, None]
    x[rows, draws[:, :PICK] - 1] = 1.0
    x[np.arange(len(draws)), NUMBERS + draws[:, PICK] - 1] = 1.0
    return x


def targets(draws: np.ndarray) -> np.ndarray:
    """(N, 50) float32: the main numbers multi-hot."""
    y = np.zeros((len(draws), NUMBERS), np.float32)
    y[np.arange(len(draws))[:, None], draws[:, :PICK] - 1] = 1.0
    return y


def splits(n_draws: int) -> dict[str, tuple[int, int]]:
    """Position ranges [lo, hi) per split; position t reads draw t and predicts draw t + 1."""
    n_pos = n_draws - 1
    n_test = max(1, int(round(TEST_FRACTION * n_draws)))
    n_valid = max(1, int(round(VALID_FRACTION * n_draws)))
    n_train = n_pos - n_valid - n_test
    return {"train": (0, n_train), "valid": (n_train, n_train + n_valid), "test": (n_train + n_valid, n_pos)}


def _logits(model, x: np.ndarray) -> np.ndarray:
    """The model's logits for every position, reading the whole history from a zero state."""
    import torch

    was = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        out, state, parts = None, None, []
        xt = torch.from_numpy(x)[None].to(device)
        for c in range(0, xt.shape[1], 1024):
            out, state = model(xt[:, c:c + 1024], state)
            parts.append(out[0].float().cpu().numpy())
    model.train(was)
    return np.concatenate(parts) if parts else np.zeros((0, NUMBERS), np.float32)


def top7(logits: np.ndarray) -> np.ndarray:
    """The 7 numbers (1..50) with the largest logits per row; ties go to the lower number."""
    return np.argsort(-logits, axis=1, kind="stable")[:, :PICK] + 1


def _nll(logits: np.ndarray, y: np.ndarray, output: str = "sigmoid") -> float:
    """Nats per draw of the draw's 50 in/out outcomes under the chance of each number that the
    ``output`` states (``core.objectives.inclusion_probs``; one sigmoid each: FrameBCE's own
    score), so that models with different outputs compare."""
    z = logits.astype(np.float64)
    if output == "sigmoid":
        return float((np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).sum(-1).mean())
    q = np.clip(_inclusion(z, output), 1e-12, 1 - 1e-12)
    return float(-(y * np.log(q) + (1 - y) * np.log1p(-q)).sum(-1).mean())


def _inclusion(logits: np.ndarray, output: str) -> np.ndarray:
    from ...core.objectives import inclusion_probs

    return inclusion_probs(logits, output, PICK).numpy()


def _brier(logits: np.ndarray, y: np.ndarray, output: str = "sigmoid") -> float:
    """Brier score per draw: the squared error of each number's stated chance, summed over the 50."""
    return float(((_inclusion(logits.astype(np.float64), output) - y) ** 2).sum(-1).mean())


def output_of(meta: dict) -> str:
    """The set output a lotto checkpoint was trained with (its objective's; older ones: sigmoid)."""
    return (meta.get("objective") or {}).get("output", "sigmoid")


def load(model_dir):
    """(torch model, config) of a lotto checkpoint; another task's model is refused."""
    from ...core.runs import load_task_model

    return load_task_model(model_dir, TASK)
