"""The online state of a trained model and the daily update: the last complete day of a catalog
(:func:`last_complete_day`), the kill-safe commit of a state and its next-day forecast, the
latest forecast (:func:`forecast`) and :func:`update` (idempotent backfill of the missed days).
Imports torch when called."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Callable

import numpy as np

from ...core.checkpoint import sha256 as file_sha256
from ...core.errors import DataError
from .catalog import Catalog, read_comcat
from .cells import _day, cell_center, cell_series, grid
from .model import TASK, _batch_of, _inputs_of, _meta_of, _per_cell, _quake_meta


# Layout of a quake model folder OUT (train):
#   OUT/config.json, OUT/model.safetensors   the best model (core.train.fit), meta "task": "quake"
#   OUT/last/                                fit's resumable state
#   OUT/catalog.csv                          the synthetic ETAS catalog, when no catalog was given
#   OUT/online/CURRENT                       one line: the name of the committed online state
#   OUT/online/<YYYY-MM-DD>/                 the online state after reading every day up to that day:
#       config.json + model.safetensors (weights, meta "online"), online_state.safetensors (the
#       carried state before the last day and the last day's input), forecast-<next day>.json
#   OUT/forecasts/forecast-<YYYY-MM-DD>.json a copy of each committed forecast
#
# Commit: a new online state is written in full into its own folder, then CURRENT is replaced
# atomically (core.files.atomic_write); the folder CURRENT names is never written to. So a kill
# at any point leaves the old state committed, and a rerun redoes the same deterministic work.

ONLINE = {"optimizer": "sgd", "lr": 1e-3, "steps_per_day": 1, "grad_clip": 1.0}
CURRENT = "CURRENT"
STATE_FILE = "online_state.safetensors"

# A test hook: called as _HOOK("day", i) after the i-th (1-based) backfilled day and as
# _HOOK("commit") just before CURRENT is replaced. None in normal use.
_HOOK = None


def last_complete_day(catalog: Catalog, through=None, today=None) -> np.datetime64:
    """The last UTC day a catalog covers in full: ``through`` when given, else the day of its last
    event, but not today (UTC) or later (a catalog fetched during a day holds only part of it)."""
    if through is not None:
        return _day(through)
    if len(catalog) == 0:
        raise DataError("an empty catalog has no complete day; give through=YYYY-MM-DD")
    today = _day(today) if today is not None else np.datetime64(_dt.datetime.now(_dt.timezone.utc).date(), "D")
    return min(catalog.days()[-1], today - np.timedelta64(1, "D"))


def _forecast_dict(meta: dict, day, pred: np.ndarray) -> dict:
    cells = np.asarray(meta["quake"]["cells"], np.int64)
    lat, lon = cell_center(cells)
    return {"task": TASK, "forecast_day": str(day + np.timedelta64(1, "D")), "from_days_through": str(day),
            "cells": [{"cell": int(c), "lat": float(a), "lon": float(o), "magnitude": round(float(m), 4)}
                      for c, a, o, m in zip(cells, lat, lon, pred)],
            "note": "predicted magnitude of the summed energy of the cell's quakes that day; -1 = none expected"}


def _commit(model_dir: Path, model, meta: dict, state, x_last: np.ndarray, day, info: dict) -> dict:
    """Write the online state after reading days through ``day`` (``state``: the carried state
    before it, ``x_last``: its values) and the forecast for the day after, then point CURRENT at it."""
    import torch
    from safetensors.torch import save_file

    from ...core.checkpoint import save_model
    from ...core.files import atomic_write

    online = Path(model_dir) / "online"
    name = str(day)
    folder = online / name
    with torch.no_grad():
        y, _ = model(_batch_of(np.asarray(x_last)[None]), state)
    pred = _per_cell(y)[0]
    fc = _forecast_dict(meta, day, pred)
    text = json.dumps(fc, indent=1) + "\n"
    meta = json.loads(json.dumps(meta))
    meta["quake"]["online_state"] = {"last_day": name, **info}
    save_model(folder, model, meta)
    tensors = {f"state.{i}": s.detach().contiguous() for i, s in enumerate(state or ())}
    tensors["x_last"] = torch.from_numpy(np.ascontiguousarray(x_last, np.float32))
    atomic_write(folder / STATE_FILE, lambda p: save_file(tensors, str(p)))
    fname = f"forecast-{fc['forecast_day']}.json"
    atomic_write(folder / fname, lambda p: p.write_text(text))
    atomic_write(Path(model_dir) / "forecasts" / fname, lambda p: p.write_text(text))
    if _HOOK:
        _HOOK("commit")
    atomic_write(online / CURRENT, lambda p: p.write_text(name + "\n"))
    _clean(online)
    return fc


def _clean(online: Path) -> None:
    """Remove online states other than the committed one (old ones, and half-written ones of a killed run)."""
    import shutil

    cur = (online / CURRENT).read_text().strip() if (online / CURRENT).is_file() else None
    for p in online.iterdir() if online.is_dir() else ():
        if p.is_dir() and p.name != cur:
            shutil.rmtree(p)


def _current(model_dir) -> Path:
    from ...core.errors import CheckpointError

    online = Path(model_dir) / "online"
    if not (online / CURRENT).is_file():
        raise CheckpointError(f"{model_dir}: no online state (online/{CURRENT}); the training run has not finished")
    return online / (online / CURRENT).read_text().strip()


def forecast(model_dir) -> dict:
    """The latest committed forecast of a quake model (the day after its last day): per active cell,
    its centre and predicted magnitude. CheckpointError for a model of another task."""
    _quake_meta(model_dir)
    folder = _current(model_dir)
    meta = _quake_meta(folder)
    nxt = _day(meta["quake"]["online_state"]["last_day"]) + np.timedelta64(1, "D")
    return json.loads((folder / f"forecast-{nxt}.json").read_text())


MAX_UPDATE_DAYS = 366  # days one daily update may add; a longer gap is a retraining, or a catalog gone wrong


def update(model_dir, catalog_path, *, through=None, max_days: int | None = None,
           log: Callable[[str], None] = print) -> dict:
    """The daily update: bring a quake model's online state up to date and forecast the next day.

    Reads ``catalog_path`` (a ComCat CSV that reaches back to the model's last day or earlier),
    grids the days after the model's last day up to the catalog's last complete day
    (:func:`last_complete_day`; ``through`` overrides) and, for each missed day in order: takes
    ``steps_per_day`` (1) plain-SGD steps (lr 1e-3, gradient norm clipped to 1; the settings in
    config.json ``quake.online``) on the one-day pair "previous day's values -> this day's
    values" from the carried state (one-step truncated BPTT), then carries the state through the
    previous day with the updated weights. An update that would add more than ``max_days``
    (``MAX_UPDATE_DAYS``) days, or read days after today, is refused before anything is
    written (DataError, one line). Then commits the new online state and the forecast for
    the day after (OUT/online/<day>/ then CURRENT, see the layout above; a copy of the forecast in
    OUT/forecasts/). Deterministic per day, so a killed run rerun gives the same bytes as one clean
    run; with no new complete day nothing is written. Returns {"new_days", "last_day",
    "forecast_day", "forecast_file"}.
    """
    import torch

    from ...core.models import from_checkpoint
    from ...core.checkpoint import load_model_state
    from ...core.objectives import from_dict
    from ...core.train import shape_gradients_, training_threads
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    _quake_meta(model_dir)
    folder = _current(model_dir)
    online = folder.parent
    weights, meta = load_model_state(folder)
    meta = _meta_of(folder)
    qm = meta["quake"]
    last = _day(qm["online_state"]["last_day"])
    now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)  # UTC, read once: every check sees the same day
    today = np.datetime64(now.date(), "D")
    cat = read_comcat(catalog_path, now=now)
    if cat.bad_rows:
        log(f"{catalog_path}: {cat.problems()}")
    through = last_complete_day(cat, through, today)
    nxt = last + np.timedelta64(1, "D")
    if through >= today:
        raise DataError(f"--through {through}: today (UTC) is {today}; only days that are over can be read")
    max_days = MAX_UPDATE_DAYS if max_days is None else int(max_days)
    new_days = int((through - last) / np.timedelta64(1, "D"))
    if new_days > max_days:
        raise DataError(f"{catalog_path}: would add {new_days:,} days ({nxt}..{through}) in one update, more than "
                        f"{max_days:,}; update in steps with --through, raise --max-days, or retrain "
                        f"(musicrnn task quake train)")
    if through <= last:
        _clean(online)  # a killed run's half-written state, if any; the committed one is untouched
        log(f"nothing new: the model has read every day through {last} (catalog complete through {through})")
        return {"new_days": 0, "last_day": str(last), "forecast_day": str(nxt),
                "forecast_file": str(folder / f"forecast-{nxt}.json")}
    if cat.days()[0] > nxt:
        raise DataError(f"{catalog_path}: starts on {cat.days()[0]}, after {nxt}, the first day the model has "
                        f"not read; fetch a catalog from {last} on")
    days, values = grid(cat, nxt, through + np.timedelta64(1, "D"))
    series = cell_series(values, np.asarray(qm["cells"], np.int64))
    inputs = _inputs_of(values, qm)
    torch.set_num_threads(training_threads())
    torch.manual_seed(0)
    model = from_checkpoint(weights, {**meta, "_folder": str(folder)})
    model.train(False)  # no dropout: the online steps are deterministic
    t = load_file(str(folder / STATE_FILE))
    state = tuple(t[f"state.{i}"] for i in range(len(t) - 1)) or None
    x_last = t["x_last"]
    on = qm["online"]
    objective = from_dict(meta.get("objective"))
    opt = torch.optim.SGD(model.parameters(), lr=float(on["lr"]))
    params = list(model.parameters())
    for i in range(len(days)):
        x = _batch_of(x_last.numpy()[None])
        y = _batch_of(series[i][None]) if x_last.ndim == 1 else torch.from_numpy(series[i]).view(-1, 1, 1)
        for _ in range(int(on["steps_per_day"])):
            out, _ = model(x, state)
            lossv = objective.per_position(out, y).mean()
            opt.zero_grad(set_to_none=True)
            lossv.backward()
            if shape_gradients_(params, clip=float(on["grad_clip"])):  # the core's clipping; a bad norm skips the day
                opt.step()
        with torch.no_grad():
            _, state = model(x, state)
        state = tuple(s.detach() for s in state)
        x_last = torch.from_numpy(inputs[i])
        if _HOOK:
            _HOOK("day", i + 1)
    info = {"days_updated": int(qm["online_state"].get("days_updated", 0)) + len(days),
            "catalog_sha256": file_sha256(catalog_path)}
    fc = _commit(model_dir, model, meta, state, x_last.numpy(), days[-1], info)
    log(f"read {len(days)} new day{'s' * (len(days) > 1)} ({days[0]}..{days[-1]}); forecast for {fc['forecast_day']}")
    return {"new_days": int(len(days)), "last_day": str(days[-1]), "forecast_day": fc["forecast_day"],
            "forecast_file": str(online / str(days[-1]) / f"forecast-{fc['forecast_day']}.json")}
