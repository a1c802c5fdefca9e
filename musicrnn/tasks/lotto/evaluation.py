"""Evaluation: a checkpoint's mean matches against chance on held-out draws (:func:`evaluate`), and
the experiment's metrics (:data:`METRICS`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.errors import CheckpointError, DataError
from .data import _check_history, _sha, import_csv
from .model import HISTORY, TASK, _brier, _logits, _nll, features, load, output_of, splits, targets, top7
from .stats import match_test, matches_of


# metric -> which direction is better (the experiment's table; the first is plotted)
METRICS = {"mean_matches": "higher", "excess": "higher", "z": "higher", "nll_per_draw": "lower", "brier_per_draw": "lower",
           "p_value": "(one-sided, against chance)"}


def evaluate(model_dir, *, data=None) -> dict:
    """Mean matches of the model's top-7 against the hypergeometric chance, with the exact
    one-sided test. ``data`` None: the test split of the history the model was trained on
    (``history.csv``); else a CSV (or (N, 8) array) of draws it has not seen: the model
    reads it from its first draw and every later draw is scored."""
    model, meta = load(model_dir)
    info = meta.get("data", {})
    if data is None:
        path = Path(meta["_folder"]) / HISTORY
        if not path.is_file():
            raise CheckpointError(f"{model_dir}: {HISTORY} is missing (the history the model was trained on)")
        history = import_csv(path)
        lo, hi = splits(len(history))["test"]
        source, split = info.get("generator", "?"), "test"
    else:
        history = _check_history(data) if isinstance(data, np.ndarray) else import_csv(data)
        if len(history) < 2:
            raise DataError(f"{data}: need at least 2 draws to score a prediction")
        lo, hi, source, split = 0, len(history) - 1, "csv" if not isinstance(data, np.ndarray) else "array", "all"
    z = _logits(model, features(history[:-1])[:hi])
    m = matches_of(top7(z[lo:hi]), history[lo + 1:hi + 1])
    y = targets(history[lo + 1:hi + 1])
    res = match_test(m)
    return {"task": TASK, "model_dir": str(model_dir), "generator": source, "trained_on": info.get("generator"),
            "data_seed": info.get("data_seed"), "seed": meta.get("train", {}).get("seed"), "split": split,
            "history_draws": int(len(history)), "history_sha": _sha(history), **res,
            "output": output_of(meta), "nll_per_draw": _nll(z[lo:hi], y, output_of(meta)),
            "brier_per_draw": _brier(z[lo:hi], y, output_of(meta))}
