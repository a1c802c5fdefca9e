"""Evaluation: a checkpoint's next-day forecasts over its test days scored beside the baselines
(:func:`evaluate`, :func:`format_evaluation`) and the experiment's metrics (:data:`METRICS`).
Imports torch when called."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ...core.checkpoint import sha256 as file_sha256
from ...core.errors import DataError
from .catalog import read_comcat
from .cells import _day, cell_series, grid
from .metrics import _fmt, score, score_baselines
from .model import _inputs_of, _quake_meta, load_model, predict_series


# metric -> which direction is better (the experiment's table; the first is plotted)
METRICS = {"model_M>=0_auc": "higher", "model_M>=5_auc": "higher", "model_M>=0_precision": "higher",
           "model_M>=0_recall": "higher",
           "model_M>=0_fpr_at_recall50": "lower", "model_M>=5_fpr_at_recall50": "lower", "model_M>=5_recall": "higher", "model_M>=0_predicted_share":
           "(share of test cell-days forecast M >= 0; the actual share is far smaller)", "test_loss": "lower",
           "historical_rate_M>=0_auc": "(baseline: each cell's rate before the test period)",
           "historical_rate_M>=5_auc": "(baseline: each cell's rate of M >= 5 before the test period)",
           "any_quake_rate_M>=5_auc": "(baseline: each cell's rate of any quake before the test period)",
           "yesterday_M>=0_auc": "(baseline: yesterday's value)"}


def _jsonable(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def evaluate(model_dir, *, catalog=None) -> dict:
    """Score a quake checkpoint's best model over its test days (flat, JSON-ready; NaN -> None).

    The model reads every day from the first (state carried, no training) and its next-day
    predictions on the test days are scored with :func:`score` (hit rule, detection precision /
    recall, AUC at M >= 0 and, as separate keys, M >= 5) next to :func:`score_baselines` on the same
    days and cells. Keys: ``<predictor>_M>=<t>_<metric>`` with predictor model / yesterday /
    historical_rate / any_quake_rate (the rates over every day before the test period), plus the
    test span, cell count, test and validation loss, whether the catalog is synthetic, and
    ``model_M>=0_predicted_share`` (how often the model forecasts a quake). ``catalog``: another CSV (default the
    one it was trained on, whose sha256 must match). CheckpointError for a model of another task.
    """
    return _evaluate(model_dir, catalog)[0]


def _evaluate(model_dir, catalog=None) -> tuple[dict, dict]:
    """(:func:`evaluate`'s result, the arrays behind it: days, series, pred, test start, meta)."""
    import torch

    from ...core.objectives import from_dict
    from ...core.train import training_threads

    meta = _quake_meta(model_dir)
    qm = meta["quake"]
    path = Path(catalog if catalog is not None else meta["data"]["catalog"])
    if catalog is None and not path.is_file() and meta["data"].get("synthetic"):
        path = Path(model_dir) / "catalog.csv"
    cat = read_comcat(path)  # first: a missing or unreadable file gets its one line
    same = file_sha256(path) == meta["data"]["catalog_sha256"]
    if catalog is None and not same:
        raise DataError(f"{path}: not the catalog this model was trained on (sha256 differs); pass catalog=")
    days, values = grid(cat, qm["first_day"], _day(qm["last_day"]) + np.timedelta64(1, "D"))
    series = cell_series(values, np.asarray(qm["cells"], np.int64))
    inputs = _inputs_of(values, qm)
    tt = int(np.searchsorted(days, _day(qm["splits"]["test"][0])))
    model, _ = load_model(model_dir)
    torch.set_num_threads(training_threads())
    pred, _ = predict_series(model, inputs)
    m = {"model_dir": str(model_dir), "catalog": str(path), "same_data": same,
         "synthetic": bool(meta["data"].get("synthetic")), "loss": qm["settings"]["loss"],
         "seed": qm["settings"]["seed"], "cells": int(series.shape[1]), "test_from": str(days[tt]),
         "test_to": str(days[-1]), "test_days": int(len(days) - tt),
         "test_loss": from_dict(meta.get("objective")).mean_over(pred[tt:], series[tt:]),
         "valid_loss": (meta.get("metrics") or {}).get("valid_loss")}
    rows = {"model": score(pred[tt:], series[tt:]), **score_baselines(series, tt)}
    for name, by_t in rows.items():
        for t, r in by_t.items():
            for k, v in r.items():
                m[f"{name}_{t}_{k}"] = v
    m["model_M>=0_predicted_share"] = m["model_M>=0_predicted"] / max(1, series[tt:].size)
    return ({k: _jsonable(v) for k, v in m.items()},
            {"days": days, "series": series, "pred": pred, "test_start": tt, "meta": meta})


def format_evaluation(m: dict) -> str:
    """A Markdown table of :func:`evaluate`'s result, the M >= 5 rows in a table of their own."""
    out = []
    for t in ("M>=0", "M>=5"):
        out += [f"### {t}", "", "| predictor | positives | AUC | hit precision | hit recall |", "|---|---|---|---|---|"]
        for name in ("model", "yesterday", "historical_rate", "any_quake_rate"):
            g = lambda k: m.get(f"{name}_{t}_{k}")
            out.append(f"| {name} | {g('positives')} | {_fmt(g('auc'))} | {_fmt(g('precision'))} | {_fmt(g('recall'))} |")
        out.append("")
    return "\n".join(out)
