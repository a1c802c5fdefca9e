"""Training: the task's settings (:class:`Settings`, :func:`check_settings`) and :func:`train`
(the core's ``fit``, stateful or stateless, on the training period). Imports torch when called."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ...core.checkpoint import sha256 as file_sha256
from ...core.errors import SettingsError
from ...core.runs import check_core, start
from .data import DEFAULT_CSV, HISTORY, TEST_FROM, VALID_FROM, load_closes, normalise, normaliser, split_days
from .model import DEFAULT_MODEL, TASK, predict_z


DEFAULT_STEPS = 600  # the run's length when neither steps nor minutes is given



def resume_options(meta: dict) -> dict:
    """The options a resumed run takes from its record when they are not given again: its
    settings and its CSV of closes."""
    return {**((meta.get(TASK) or {}).get("settings") or {}), "data": (meta.get("data") or {}).get("csv")}

@dataclass
class Settings:
    """What an experiment arm may change besides the core's model and training settings
    (``core.settings.CORE_MODEL`` / ``CORE_TRAIN``)."""

    stateful: bool = True
    loss: str = "smooth-l1"
    history: int = HISTORY


def check_settings(*, stateful: bool = True, loss: str = "smooth-l1", history: int = HISTORY,
                   hidden: int = DEFAULT_MODEL["hidden"], **core) -> tuple[dict, dict]:
    """Refuse (SettingsError, one line) settings no run can use, before any data is read;
    returns the core's (model, training) settings (``core.settings.check_core``)."""
    from ...core.objectives import Regression

    Regression(loss)  # an unknown loss: one line naming the choices
    if history < 2 or hidden < 1:
        raise SettingsError(f"history must be >= 2 and hidden >= 1 (got {history}, {hidden})")
    if not stateful and "bptt" in core:
        raise SettingsError("the stateless model reads windows of `history` days: change history, not bptt")
    return check_core(core, DEFAULT_MODEL)


def train(out, *, data=DEFAULT_CSV, seed: int = 0, stateful: bool = True, loss: str = "smooth-l1",
          minutes: float | None = None, steps: int | None = None, resume: bool = False, force: bool = False,
          progress: bool = True, log: Callable[[str], None] = print, hidden: int = DEFAULT_MODEL["hidden"],
          history: int = HISTORY, batch: int | None = None, lr: float = 3e-3, patience: int = 10,
          valid_from: str = VALID_FROM, test_from: str = TEST_FROM, max_steps: int | None = None,
          **core) -> dict:
    """Train a next-delta model on the closes in ``data`` into the checkpoint folder ``out``.

    ``stateful``: the online RNN (state carried over the whole history) or, if False, the
    same RNN reset every ``history``-day window. ``loss``: smooth-l1, exp-or-log or
    smooth-l1-or-l2 (the asymmetric ones punish under-prediction more). Length:
    ``steps``, else ``minutes`` worth, else 600 steps. ``resume`` continues the run in
    ``out`` (its settings must match); ``force`` replaces a model already there;
    ``max_steps`` stops early, resumably. ``core``: other settings of the core's model and
    training loop (``core.settings.CORE_MODEL`` / ``CORE_TRAIN``: cell, activation, attention,
    grad_scale, ...), recorded with the run. Returns ``core.train.fit``'s summary (also
    OUT/metrics.json); config.json records ``task: stock`` and the task's settings
    (normalisation, splits, data hash) under ``stock``.
    """
    from ... import __version__
    from ...core import models
    from ...core.data import Clips, FeatureStreams
    from ...core.objectives import Regression
    from ...core.train import TrainConfig, fit

    out = Path(out)
    model_over, train_over = check_settings(stateful=stateful, loss=loss, history=history, hidden=hidden, **core)
    batch = batch or (4 if stateful else max(1, 256 // history))  # 256 positions a step either way
    dates, closes = load_closes(data, log=log)
    iv, it = split_days(dates, valid_from, test_from)
    sha = file_sha256(data)
    model_cfg = {**DEFAULT_MODEL, "hidden": hidden, **model_over}
    settings = {"stateful": bool(stateful), "loss": loss, "seed": int(seed), "model": dict(model_cfg),
                "history": int(history), "batch": int(batch), "lr": float(lr), "valid_from": valid_from,
                "test_from": test_from, "csv_sha256": sha, "patience": int(patience)}
    if core:
        settings["core"] = dict(sorted(core.items()))
    start(out, resume=resume, force=force, task=TASK, settings=settings)
    norm = normaliser(dates, closes, valid_from)
    z = normalise(closes, norm)
    objective = Regression(loss)
    cfg = models.make_config("rnn", {**model_cfg, "vocab_size": 1, "features": 1, "outputs": 1})
    if steps is None and minutes is None:
        steps = DEFAULT_STEPS
    tcfg = TrainConfig(**{"seed": seed, "batch": batch, "bptt": 64 if stateful else history, "lr": lr, "steps": steps,
                          "minutes": minutes, "max_steps": max_steps, "patience": patience, **train_over}).validate()
    # training pairs: position i reads day i+1 and predicts day i+2, every predicted day before valid_from
    xs, ys = z[1:iv - 1, None].astype(np.float32), z[2:iv, None].astype(np.float32)
    if stateful:
        batches = FeatureStreams([xs], [ys], batch=tcfg.batch, bptt=tcfg.bptt, seed=seed, shuffle=False)
    else:
        clips = [(xs[j:j + history], ys[j:j + history]) for j in range(0, len(xs) - history + 1, history)]
        batches = Clips(clips, batch=tcfg.batch, seed=seed)

    def score(model, upto: int, first: int) -> dict:
        zhat = predict_z(model, z[:upto], stateful, history)
        return {"loss": objective.mean_over(zhat[first:upto], z[first:upto]), "positions": upto - first}

    span = lambda a, b: [str(dates[a]), str(dates[b - 1])]
    meta = {"musicrnn_version": __version__, "task": TASK,
            "data": {"csv": str(Path(data).resolve()), "csv_sha256": sha, "days": len(dates)},
            "stock": {"stateful": bool(stateful), "history": int(history), "norm": norm, "settings": settings,
                      "delta": "log(close[t] / close[t-1])",
                      "splits": {"train": span(1, iv), "valid": span(iv, it), "test": span(it, len(dates))}}}
    log(f"{'stateful' if stateful else f'stateless ({history}-day window)'} RNN, {loss}: train "
        f"{dates[1]}..{dates[iv - 1]} ({iv - 1} days), validation {dates[iv]}..{dates[it - 1]} ({it - iv}), "
        f"test {dates[it]}..{dates[-1]} ({len(dates) - it})")
    model = models.build("rnn", cfg, seed=seed)
    return fit(model, objective, batches, lambda m: score(m, it, iv), tcfg, out,
               test=lambda m: score(m, len(dates), it), meta=meta, resume=resume,
               valid_size=it * (1 if stateful else history), progress=progress, log=log)
