"""The network's side of the task: what it reads each day (:data:`LAYOUTS`, :func:`model_inputs`),
its checkpoint (:func:`load_model`) and running it over the days from a zero state
(:func:`predict_series`). Imports torch when called."""

from __future__ import annotations

import numpy as np

from .cells import cell_series, neighbour_max

TASK = "quake"
DEFAULT_MODEL = {"cell": "lstm", "embed": 16, "hidden": 32, "layers": 1, "dropout": 0.0}

# The "cells" layout's inputs per cell and day (the same small RNN reads every cell's own stream)
CELL_FEATURES = ("the cell's value", "the largest value of its 8 neighbours",
                 "log10 of the cell's share of quake days over the training days")
LAYOUTS = ("grid", "cells")


def model_inputs(values: np.ndarray, cells: np.ndarray, layout: str = "grid", rates=None) -> np.ndarray:
    """What a model reads on each day, from the gridded ``values`` (D, 90, 180): ``grid`` layout,
    (D, C) the chosen cells' values (one stream, every cell an input, as the original predictor);
    ``cells`` layout, (D, C, 3) per cell :data:`CELL_FEATURES` (C streams, weights shared), with
    ``rates`` (C,) the cells' training-day quake shares."""
    if layout == "grid":
        return cell_series(values, cells)
    own = cell_series(values, cells)
    rate = np.broadcast_to(np.log10(np.asarray(rates, np.float32) + 1e-4), own.shape)
    return np.stack([own, neighbour_max(values, cells), rate], axis=-1).astype(np.float32)


def _quake_meta(model_dir) -> dict:
    from ...core.checkpoint import task_config

    return task_config(model_dir, TASK, TASK)


def load_model(model_dir):
    """(torch model, config) of a quake checkpoint; CheckpointError for any other task's."""
    from ...core.runs import load_task_model

    return load_task_model(model_dir, TASK, TASK)


def _batch_of(inputs: np.ndarray):
    """A model's input tensor for days of ``inputs``: (T, C) grid layout -> (1, T, C); (T, C, F)
    cells layout -> (C, T, F), one stream per cell."""
    import torch

    x = np.asarray(inputs, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x[None] if x.ndim == 2 else x.transpose(1, 0, 2)))


def _per_cell(y) -> np.ndarray:
    """A model's output (1, T, C) or (C, T, 1) as (T, C)."""
    return y[0].numpy() if y.shape[-1] != 1 or y.shape[0] == 1 else y[..., 0].numpy().T


def predict_series(model, inputs: np.ndarray, chunk: int = 512) -> tuple[np.ndarray, tuple | None]:
    """Run the stateful model over ``inputs`` (:func:`model_inputs`: (D, C) or (D, C, F)) from a
    zero state. Returns (pred (D, C) with ``pred[d]`` read from days 0..d-1 only (row 0 NaN), the
    state after reading days 0..D-2)."""
    import torch

    D, C = inputs.shape[:2]
    pred = np.full((D, C), np.nan, np.float32)
    state = None
    if D < 2:
        return pred, state
    was = model.training
    model.eval()
    x = _batch_of(inputs[:-1])
    with torch.no_grad():
        for a in range(0, D - 1, chunk):
            y, state = model(x[:, a:a + chunk], state)
            pred[1 + a:1 + a + y.shape[1]] = _per_cell(y)
    model.train(was)
    return pred, state


def _inputs_of(values: np.ndarray, qm: dict) -> np.ndarray:
    """:func:`model_inputs` for a model's config (its cells, layout and training-day rates)."""
    return model_inputs(values, np.asarray(qm["cells"], np.int64), qm.get("layout", "grid"), qm.get("rates"))


def _meta_of(model_dir) -> dict:
    meta = _quake_meta(model_dir)
    for k in ("_folder", "format", "format_version", "weights_sha256", "metrics"):
        meta.pop(k, None)
    return meta
