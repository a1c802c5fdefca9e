"""Training: the task's settings (:class:`Settings`, :func:`check_settings`), the chronological
split (:func:`split_days`) and :func:`train` (the core's ``fit`` on a ComCat or synthetic ETAS
catalog, then the first online state committed). Imports torch when called."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ...core.checkpoint import sha256 as file_sha256
from ...core.errors import DataError
from ...core.runs import check_core, start
from .catalog import Catalog, read_comcat, write_comcat
from .etas import etas_catalog
from .cells import NO_QUAKE, active_cells, cell_series, grid
from .model import CELL_FEATURES, DEFAULT_MODEL, LAYOUTS, TASK, _meta_of, load_model, model_inputs, predict_series
from .online import ONLINE, _commit, last_complete_day


DEFAULT_STEPS = 600
SPLIT = (0.8, 0.1)  # train, validation shares of the days; the rest is the test period


def split_days(n: int, shares=SPLIT) -> tuple[int, int]:
    """(first validation day, first test day) as indices into n days, chronologically."""
    tv, tt = int(round(n * shares[0])), int(round(n * (shares[0] + shares[1])))
    if tv < 8 or tt - tv < 2 or n - tt < 2:
        raise DataError(f"{n} days are too few to split {shares[0]:.0%}/{shares[1]:.0%}/rest into train, "
                        "validation and test (need at least about 20)")
    return tv, tt


def _load_catalog(out: Path, catalog, years: float, data_seed: int, log) -> tuple[Path, Catalog, dict | None, bytes | None]:
    """(path, catalog, synthetic settings or None, the synthetic CSV's bytes to write to path or None).
    A synthetic catalog is simulated and read back from a temporary file; train writes it into OUT
    only once OUT is known to be free (or forced), so a refused call leaves OUT as it was."""
    if catalog is None:
        import tempfile

        synthetic = {"etas_days": float(years * 365), "seed": int(data_seed), "years": years}
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = write_comcat(etas_catalog(years * 365, data_seed), Path(tmp) / "catalog.csv")
            cat, text = read_comcat(tmp_path), tmp_path.read_bytes()
        path = out / "catalog.csv"
        cat.source = str(path)
        return path, cat, synthetic, text
    path = Path(catalog)
    cat = read_comcat(path)
    if cat.bad_rows:
        log(f"{path}: {cat.problems()}")
    return path, cat, None, None



def resume_options(meta: dict) -> dict:
    """The options a resumed run takes from its record when they are not given again: its
    settings, and its data (the synthetic catalog's years and seed, or the catalog file)."""
    data = meta.get("data") or {}
    syn = data.get("synthetic")
    own = {"years": syn["years"], "data_seed": syn["seed"]} if syn else {"catalog": data.get("catalog")}
    return {**((meta.get(TASK) or {}).get("settings") or {}), **own}

@dataclass
class Settings:
    """What an experiment arm may change besides the core's model and training settings
    (``core.settings.CORE_MODEL`` / ``CORE_TRAIN``); ``years`` and ``data_seed`` shape the
    synthetic catalog used when no catalog is given."""

    loss: str = "smooth-l1"
    layout: str = "cells"
    min_events: int = 1
    years: float = 10.0
    data_seed: int = 2024


def check_settings(*, loss: str = "smooth-l1", layout: str = "cells", min_events: int = 1,
                   hidden: int = DEFAULT_MODEL["hidden"], bptt: int = 64, years: float = 10, data_seed: int = 2024,
                   **core) -> tuple[dict, dict]:
    """Refuse (SettingsError, one line) settings no run can use, before any catalog is read or
    simulated; returns the core's (model, training) settings (``core.settings.check_core``)."""
    from ...core.errors import SettingsError
    from ...core.objectives import Regression

    Regression(loss)  # an unknown loss: one line naming the choices
    if min_events < 1 or hidden < 1 or bptt < 2:
        raise SettingsError(f"min_events and hidden must be >= 1 and bptt >= 2 (got {min_events}, {hidden}, {bptt})")
    if not years > 0:
        raise SettingsError(f"years must be > 0 (got {years})")
    if layout not in LAYOUTS:
        raise SettingsError(f"unknown layout {layout!r}: choose from {', '.join(LAYOUTS)}")
    if layout == "grid" and "batch" in core:
        raise SettingsError("the grid layout reads one stream of days (batch 1); batch cannot change")
    return check_core(core, DEFAULT_MODEL)


def train(out, *, catalog=None, years: float = 10, data_seed: int = 2024, seed: int = 0, loss: str = "smooth-l1",
          min_events: int = 1, steps: int | None = None, minutes: float | None = None, resume: bool = False,
          force: bool = False, progress: bool = True, log: Callable[[str], None] = print,
          hidden: int = DEFAULT_MODEL["hidden"], embed: int = DEFAULT_MODEL["embed"], bptt: int = 64,
          lr: float = 3e-3, patience: int = 10, through=None, max_steps: int | None = None, layout: str = "cells",
          **core) -> dict:
    """Train the online next-day model into the checkpoint folder ``out``.

    Data: ``catalog`` (a ComCat CSV path) or, by default, a synthetic ETAS catalog of ``years`` years
    simulated with ``data_seed`` (written to OUT/catalog.csv; ``force`` keeps nothing of an old one). Days: the catalog's first day to its
    last complete day (:func:`last_complete_day`; ``through`` overrides), split chronologically
    80/10/10 into train, validation and test. Cells: the ones with at least ``min_events`` quake days
    among the training days only. ``layout`` "grid" (the original predictor's input): the model (the core's
    RNN, ``features = outputs = C``) reads day d's values of the C cells and predicts day d+1's, in
    one long stream whose state carries across all days (``FeatureStreams``, batch 1, truncated BPTT
    of ``bptt`` days). ``layout`` "cells": one small RNN with weights shared by every cell reads each
    cell's own stream of :data:`CELL_FEATURES` and predicts its next day (C streams, state carried
    along each; ``batch`` streams a step, default 64); the default, as it forecasts better
    (docs/research.md). Either is trained by
    ``core.train.fit`` on the training days, validated (model selection, early stopping) on the
    validation days, the test days scored once at the end. Length: ``steps``, else ``minutes``
    worth, else 600 steps. ``resume`` continues the run in ``out``; ``force`` replaces a model there.
    ``core``: other settings of the core's model and training loop (``core.settings.CORE_MODEL`` /
    ``CORE_TRAIN``: cell, activation, attention, grad_scale, ...), recorded with the run.

    When the run finishes, the best model reads every day (state only, no training) and its online
    state and the forecast for the day after the last one are committed under OUT/online (what
    :func:`update` continues). Returns fit's summary; config.json records ``task: quake`` and under
    ``quake`` the cells, first / last day, splits, the catalog's sha256 and the settings.
    """
    import hashlib

    import torch

    from ... import __version__
    from ...core import models
    from ...core.data import FeatureStreams
    from ...core.objectives import Regression
    from ...core.train import TrainConfig, fit, training_threads

    out = Path(out)
    model_over, train_over = check_settings(loss=loss, layout=layout, min_events=min_events, hidden=hidden,
                                            bptt=bptt, years=years, **core)
    path, cat, synthetic, text = _load_catalog(out, catalog, years, data_seed, log)
    sha = hashlib.sha256(text).hexdigest() if text is not None else file_sha256(path)
    last = last_complete_day(cat, through)
    days, values = grid(cat, cat.days()[0], last + np.timedelta64(1, "D"))
    tv, tt = split_days(len(days))
    cells = active_cells(values[:tv], min_events)
    if cells.size == 0:
        raise DataError(f"no cell has {min_events}+ quake days in the {tv} training days")
    series = cell_series(values, cells)
    rates = (values[:tv].reshape(tv, -1)[:, cells] > NO_QUAKE).mean(0).round(6) if layout == "cells" else None
    inputs = model_inputs(values, cells, layout, rates)
    del values
    model_cfg = {**DEFAULT_MODEL, "hidden": int(hidden), "embed": int(embed), **model_over}
    settings = {"loss": loss, "seed": int(seed), "min_events": int(min_events), "model": model_cfg, "bptt": int(bptt),
                "lr": float(lr), "patience": int(patience), "catalog_sha256": sha, "through": str(last)}
    settings["layout"] = layout
    if core:
        settings["core"] = dict(sorted(core.items()))
    start(out, resume=resume, force=force, task=TASK, settings=settings, extra=("online", "forecasts"))
    if text is not None and not (path.is_file() and path.read_bytes() == text):
        from ...core.files import atomic_write

        atomic_write(path, lambda p: p.write_bytes(text))
    objective = Regression(loss)
    width = int(cells.size) if layout == "grid" else len(CELL_FEATURES)
    cfg = models.make_config("rnn", {**model_cfg, "vocab_size": 1, "features": width,
                                     "outputs": int(cells.size) if layout == "grid" else 1})
    if steps is None and minutes is None:
        steps = DEFAULT_STEPS
    tcfg = TrainConfig(**{"seed": seed, "batch": 1 if layout == "grid" else 64, "bptt": bptt, "lr": lr, "steps": steps,
                          "minutes": minutes, "max_steps": max_steps, "patience": patience, **train_over}).validate()
    # position i reads day i and predicts day i+1; every predicted day is a training day
    if layout == "grid":
        batches = FeatureStreams([inputs[:tv - 1]], [series[1:tv]], batch=1, bptt=bptt, seed=seed, shuffle=False)
    else:  # one stream per cell, in a shuffled order, laid end to end in `batch` lanes (state reset between cells)
        batches = FeatureStreams([inputs[:tv - 1, c] for c in range(cells.size)],
                                 [series[1:tv, c, None] for c in range(cells.size)], batch=tcfg.batch, bptt=bptt,
                                 seed=seed, shuffle=True)

    def scored(model, first: int, upto: int) -> dict:
        pred, _ = predict_series(model, inputs[:upto])
        return {"loss": objective.mean_over(pred[first:upto], series[first:upto]), "positions": upto - first}

    span = lambda a, b: [str(days[a]), str(days[b - 1])]
    meta = {"musicrnn_version": __version__, "task": TASK,
            "data": {"catalog": str(path.resolve()), "catalog_sha256": sha, "synthetic": synthetic,
                     "days": int(len(days))},
            "quake": {"cells": [int(c) for c in cells], "first_day": str(days[0]), "last_day": str(days[-1]),
                      "splits": {"train": span(0, tv), "valid": span(tv, tt), "test": span(tt, len(days))},
                      "settings": settings, "online": dict(ONLINE), "layout": layout,
                      "input": "day d's cell values (magnitude of summed energy, -1 = none); target day d+1's"
                      if layout == "grid" else "per cell and day d: " + "; ".join(CELL_FEATURES)
                      + "; target the cell's day d+1 value"}}
    if rates is not None:
        meta["quake"]["rates"] = [float(r) for r in rates]
    log(f"online RNN ({layout} layout), {cells.size} cells, {loss}: train {days[0]}..{days[tv - 1]} ({tv} days), validation "
        f"{days[tv]}..{days[tt - 1]} ({tt - tv}), test {days[tt]}..{days[-1]} ({len(days) - tt})")
    model = models.build("rnn", cfg, seed=seed)
    summary = fit(model, objective, batches, lambda m: scored(m, tv, tt), tcfg, out,
                  test=lambda m: scored(m, tt, len(days)), meta=meta, resume=resume,
                  valid_size=tt * cells.size, progress=progress, log=log)
    if summary.get("finished"):
        best, _ = load_model(out)
        torch.set_num_threads(training_threads())
        _, state = predict_series(best, inputs)
        _commit(out, best, _meta_of(out), state, inputs[-1], days[-1], {"days_updated": 0, "catalog_sha256": sha})
    return summary
