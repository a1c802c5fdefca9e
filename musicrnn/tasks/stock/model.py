"""The models' predictions: :func:`predict_z` (stateful or stateless, from the past only), a
checkpoint's (:func:`load_model`, :func:`predictions`). Imports torch when called."""

from __future__ import annotations

import numpy as np

from .data import HISTORY, normalise


TASK = "stock"
DEFAULT_MODEL = {"cell": "lstm", "embed": 16, "hidden": 32, "layers": 1, "dropout": 0.0}


def predict_z(model, z: np.ndarray, stateful: bool, history: int = HISTORY, chunk: int = 1024) -> np.ndarray:
    """Day-indexed predicted normalised deltas: ``out[t]`` from ``z[1..t-1]`` only (nan where
    there is too little history: ``t < 2``, stateless ``t <= history``)."""
    import torch

    n = len(z)
    out = np.full(n, np.nan)
    if n < 3:
        return out
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    src = np.asarray(z[1:n - 1], np.float32)  # days 1..n-2; position i predicts day i + 2
    with torch.no_grad():
        if stateful:
            x = torch.from_numpy(src).to(device).view(1, -1, 1)
            state, parts = None, []
            for a in range(0, x.shape[1], chunk):
                y, state = model(x[:, a:a + chunk], state)
                parts.append(y[0, :, 0].float().cpu().numpy())
            out[2:] = np.concatenate(parts)
        elif len(src) >= history:
            windows = np.lib.stride_tricks.sliding_window_view(src, history)  # window j: days j+1..j+H
            parts = []
            for a in range(0, len(windows), chunk):
                x = torch.from_numpy(np.ascontiguousarray(windows[a:a + chunk])).to(device)[..., None]
                y, _ = model(x)
                parts.append(y[:, -1, 0].float().cpu().numpy())
            out[history + 1:] = np.concatenate(parts)  # window j predicts day j + H + 1
    model.train(was)
    return out


def _stock_meta(model_dir) -> dict:
    from ...core.checkpoint import task_config

    return task_config(model_dir, TASK, TASK)


def load_model(model_dir):
    """(torch model, config) of a stock checkpoint; CheckpointError for any other task's."""
    from ...core.runs import load_task_model

    return load_task_model(model_dir, TASK, TASK)


def predictions(model_dir, closes: np.ndarray) -> np.ndarray:
    """Day-indexed predicted log-price deltas of a stock checkpoint (``out[t]`` from closes
    up to day ``t-1``; nan where the model has too little history)."""
    model, meta = load_model(model_dir)
    s = meta["stock"]
    zhat = predict_z(model, normalise(closes, s["norm"]), s["stateful"], s["history"])
    return s["norm"]["mean"] + s["norm"]["std"] * zhat
