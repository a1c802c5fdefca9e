"""The S&P 500 task: predict the next day's price change from the previous ones, and trade on it.

Data: daily closes in a CSV with a ``Date`` and a ``Close`` column (:func:`load_closes`);
the shipped series is ``corpora/stock/sp500_1950_2018.csv`` (openintro's ``sp500_1950_2018``
through Rdatasets; provenance and licence in ``corpora/stock/README.md``).

What is predicted. The day-``t`` delta is the change of the log price,
``r[t] = log(close[t] / close[t-1])`` (a relative change: an absolute point delta grows with
the index level, 16 in 1950 and 2,600 in 2018, so no scale fitted on the early decades would
fit the later ones). The model reads normalised deltas ``z[t] = clip((r[t] - mean) / std, +-6)``
where ``mean`` and ``std`` come from the **training period only** (stored in the checkpoint),
and predicts the next normalised delta. The prediction for day ``t`` uses the deltas of days
``..t-1``, i.e. closes up to day ``t-1`` only (:func:`predictions`; tests/test_stock.py proves
it by perturbing the closes from day t on).

Two models, both the core's RNN (``features=1, outputs=1``), trained by the one loop
(``core.train.fit``) with Smooth L1 or an asymmetric loss (``core.losses``):

* **stateful** (online): one pass over the whole history; training is stateful truncated BPTT
  (``core.data.FeatureStreams``, the state carried across windows); at prediction time the
  state is carried from 1950 to the day predicted.
* **stateless** (comparison): the same RNN reset every window: it sees only the last
  ``history`` (32) deltas, read from a zero state (``core.data.Clips``: the training period
  cut into non-overlapping ``history``-day windows, shuffled every epoch, every position of
  a window trained to predict its next delta; a prediction takes the last output of the
  window of the ``history`` days before the day predicted).

The two are trained alike: the same days once per epoch, 256 positions a step (stateful: 4
streams x 64-day windows; stateless: 8 windows of 32 days), so the same steps per epoch
and the same validation schedule (once per epoch), early stopping after 10 epochs without
a better validation loss, 600 steps unless told otherwise.

Splits by date: train (days before ``valid_from``, 2000-01-01), validation (model selection:
the best checkpoint and early stopping), test (from ``test_from``, 2010-01-01; scored once
when the run ends, and by :func:`evaluate`).

Strategy (:func:`backtest`): at the close of day ``t-1`` take a position for day ``t``: long
when the predicted delta is positive, else cash (``long/cash``) or short (``long/short``);
the day's return is ``position * (close[t]/close[t-1] - 1)``. A cost per trade, a fraction
of wealth, is paid on every change of position (``|new - old|``: long to short costs 2).
The position before the first test day is cash, so the first buy pays the cost too, as
does buy-and-hold (bought at the close before the first test day). Annualised yield:
``wealth ** (1 / years) - 1`` with ``years`` the calendar days from the close before the
first test day to the last one over 365.25. No dividends, no interest on cash (the
index, not a total-return series).

Library functions, for the command line: :func:`train`, :func:`evaluate`,
:func:`experiment`, :func:`report`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.checkpoint import sha256 as file_sha256
from ..core.settings import check_core
from ..shipped import task_data
from ..core.errors import DataError, SettingsError

DEFAULT_CSV = task_data("stock", "sp500_1950_2018.csv")  # corpora/stock/ (a wheel: musicrnn/_data/stock/)
TASK = "stock"

DATE_COLUMNS = ("date",)  # compared case-insensitively, spaces / dots / underscores ignored
CLOSE_COLUMNS = ("close", "adjclose")  # "Close" preferred; else "Adj Close" / "Adj.Close" / "Adj_Close"
MAX_SKIPPED = 0.01  # garbage rows up to 1% of the data rows are skipped (logged); more: refused
CLIP = 6.0  # normalised deltas are clipped to +-6 standard deviations (inputs and targets)
VALID_FROM, TEST_FROM = "2000-01-01", "2010-01-01"
DEFAULT_MODEL = {"cell": "lstm", "embed": 16, "hidden": 32, "layers": 1, "dropout": 0.0}
DEFAULT_STEPS = 600  # the run's length when neither steps nor minutes is given
HISTORY = 32  # the stateless model's window of past deltas
YEAR_DAYS = 365.25

# metric -> which direction is better (the experiment's table; the first is plotted)
METRICS = {"annualised_long_cash": "higher", "annualised_long_short": "higher", "excess_long_cash": "higher",
           "excess_long_short": "higher", "directional_accuracy": "higher", "test_loss": "lower",
           "valid_loss": "lower", "annualised_buy_hold": "(the same for every run)"}


# --- data -------------------------------------------------------------------------------------
def _key(name: str) -> str:
    return re.sub(r"[\s._-]+", "", name.strip().lower())


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _parse_row(row: list[str], di: int, ci: int):
    """(date, close) or a short reason why the row is garbage."""
    if len(row) <= max(di, ci):
        return f"{len(row)} fields"
    d, c = row[di].strip(), row[ci].strip()
    if not _DATE_RE.match(d):
        return f"date {d!r}"
    try:
        date = np.datetime64(d[:10], "D")
    except ValueError:
        return f"date {d!r}"
    try:
        close = float(c)
    except ValueError:
        return f"close {c!r}"
    if not (math.isfinite(close) and close > 0):
        return f"close {c!r}"
    return date, close


def load_closes(path=DEFAULT_CSV, log: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(dates (datetime64[D]), closes (float64)) from a CSV with a header row.

    Columns: a ``Date`` column (ISO ``YYYY-MM-DD``, a time after it is ignored) and a
    ``Close`` column (or, without one, ``Adj Close`` / ``Adj.Close`` / ``Adj_Close``); names
    are matched ignoring case, spaces, dots and underscores; other columns are ignored.
    A row whose date does not parse or whose close is not a finite positive number (e.g.
    Yahoo's ``null``) is garbage: up to 1% of the data rows are skipped (``log`` is told
    how many and which lines), more are refused. Raises :class:`DataError` with one line
    for a missing or unreadable file, an empty file, missing columns, too many garbage
    rows, and dates out of order or repeated (dates must strictly increase).
    """
    from ..core.files import csv_rows

    path = Path(path)
    header, rows = csv_rows(path, "a CSV of daily closes")
    if header is None:
        raise DataError(f"{path}: empty file (need a header row with Date and Close, then one row per day)")
    keys = [_key(h) for h in header]
    di = next((keys.index(k) for k in DATE_COLUMNS if k in keys), None)
    ci = next((keys.index(k) for k in CLOSE_COLUMNS if k in keys), None)
    missing = [name for name, i in (("Date", di), ("Close", ci)) if i is None]
    if missing:
        found = ", ".join(h.strip() for h in header)[:200]
        raise DataError(f"{path}: no {' or '.join(missing)} column (the header has: {found}); a stock CSV needs "
                        f"Date and Close (or Adj Close) columns")
    if not rows:
        raise DataError(f"{path}: no data rows (only a header)")
    dates, closes, lines, bad = [], [], [], []
    for line, row in rows:
        got = _parse_row(row, di, ci)
        if isinstance(got, str):
            bad.append((line, got))
        else:
            dates.append(got[0])
            closes.append(got[1])
            lines.append(line)
    if bad:
        where = ", ".join(f"line {ln}: {why}" for ln, why in bad[:3]) + (", ..." if len(bad) > 3 else "")
        if len(bad) > int(MAX_SKIPPED * len(rows)):
            raise DataError(f"{path}: {len(bad)} of {len(rows)} rows are not a date and a positive close ({where}); "
                            f"at most {MAX_SKIPPED:.0%} may be skipped")
        if log:
            log(f"{path}: skipped {len(bad)} garbage row{'s' * (len(bad) > 1)} of {len(rows)} ({where})")
    d = np.array(dates, dtype="datetime64[D]")
    step = np.diff(d)
    wrong = np.flatnonzero(step <= np.timedelta64(0, "D"))
    if wrong.size:
        i = int(wrong[0]) + 1
        what = "repeated" if d[i] == d[i - 1] else "out of order"
        raise DataError(f"{path}: dates {what} at line {lines[i]}: {d[i]} after {d[i - 1]} (dates must increase)")
    return d, np.array(closes, dtype=np.float64)


def log_returns(closes: np.ndarray) -> np.ndarray:
    """Day-indexed deltas of the log price: ``r[t] = log(close[t] / close[t-1])``, ``r[0] = nan``."""
    r = np.full(len(closes), np.nan)
    r[1:] = np.diff(np.log(closes))
    return r


def split_days(dates: np.ndarray, valid_from: str = VALID_FROM, test_from: str = TEST_FROM) -> tuple[int, int]:
    """(first validation day, first test day) as indices into ``dates``. Refuses (DataError)
    splits that leave a period with too few days."""
    try:
        v, t = np.datetime64(valid_from, "D"), np.datetime64(test_from, "D")
    except ValueError:
        raise SettingsError(f"split dates must be YYYY-MM-DD (got {valid_from!r}, {test_from!r})") from None
    if not v < t:
        raise SettingsError(f"the validation period must start before the test period ({valid_from} vs {test_from})")
    iv, it = int(np.searchsorted(dates, v)), int(np.searchsorted(dates, t))
    need = 2 * HISTORY + 2
    for name, n in (("training", iv - 1), ("validation", it - iv), ("test", len(dates) - it)):
        if n < need:
            span = f"{dates[0]}..{dates[-1]}" if len(dates) else "no days"
            raise DataError(f"only {max(n, 0)} {name} days with validation from {valid_from} and test from "
                            f"{test_from} (data {span}); need at least {need}")
    return iv, it


def normaliser(dates: np.ndarray, closes: np.ndarray, valid_from: str = VALID_FROM) -> dict:
    """Mean and standard deviation of the log-price deltas of the training period (days
    before ``valid_from``) only."""
    r = log_returns(closes)[1:int(np.searchsorted(dates, np.datetime64(valid_from, "D")))]
    if r.size < 2 or not r.std() > 0:
        raise DataError("the training period has too few distinct price changes to normalise them")
    return {"mean": float(r.mean()), "std": float(r.std()), "clip": CLIP}


def normalise(closes: np.ndarray, norm: dict) -> np.ndarray:
    """Day-indexed normalised deltas (``z[0] = nan``)."""
    return np.clip((log_returns(closes) - norm["mean"]) / norm["std"], -norm["clip"], norm["clip"])


# --- the models' predictions ---------------------------------------------------------------------
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


# --- the strategy ------------------------------------------------------------------------------
def backtest(closes: np.ndarray, signal: np.ndarray, dates: np.ndarray, start: int, *, cost: float = 0.0,
             short: bool = False) -> dict:
    """Trade days ``start..`` on ``signal[t]`` (the predicted delta for day t, known at the
    close of day t-1): long when positive, else cash (or short with ``short``).

    Returns ``positions``, ``returns`` (the day's return after costs), ``equity`` (wealth,
    1.0 at the close of day ``start - 1``), ``total`` (final wealth - 1), ``annualised``,
    ``years`` and ``trades`` (the sum of ``|position change|``)."""
    if not 0 <= cost < 1:
        raise SettingsError(f"the cost per trade is a fraction of wealth in [0, 1) (got {cost})")
    if start < 1 or start >= len(closes):
        raise DataError(f"no days to trade from day {start} of {len(closes)}")
    closes = np.asarray(closes, np.float64)
    sig = np.asarray(signal, np.float64)[start:]
    if np.isnan(sig).any():
        raise DataError("the model has no prediction for some trading days (too little history before them)")
    pos = np.where(sig > 0, 1.0, -1.0 if short else 0.0)
    change = np.abs(np.diff(np.concatenate([[0.0], pos])))
    day = closes[start:] / closes[start - 1:-1] - 1
    growth = (1 - cost * change) * (1 + pos * day)
    equity = np.cumprod(growth)
    years = float((dates[-1] - dates[start - 1]) / np.timedelta64(1, "D")) / YEAR_DAYS
    wealth = float(equity[-1])
    annual = wealth ** (1 / years) - 1 if wealth > 0 and years > 0 else float("nan")
    return {"positions": pos, "returns": growth - 1, "equity": equity, "total": wealth - 1, "annualised": annual,
            "years": years, "trades": float(change.sum())}


def buy_and_hold(closes: np.ndarray, dates: np.ndarray, start: int, cost: float = 0.0) -> dict:
    """Long every day from ``start`` on (one trade, at the close before the first day)."""
    return backtest(closes, np.ones(len(closes)), dates, start, cost=cost)


def directional_accuracy(signal: np.ndarray, returns: np.ndarray) -> float:
    """Fraction of days whose predicted sign (positive vs not) matches the real one, over the
    days that moved (a day with no change counts for neither)."""
    moved = returns != 0
    return float(np.mean((signal[moved] > 0) == (returns[moved] > 0))) if moved.any() else float("nan")


# --- checkpoints ---------------------------------------------------------------------------------
def _stock_meta(model_dir) -> dict:
    from ..core.checkpoint import task_config

    return task_config(model_dir, TASK, TASK)


def load_model(model_dir):
    """(torch model, config) of a stock checkpoint; CheckpointError for any other task's."""
    from ..core.checkpoint import load_task_model

    return load_task_model(model_dir, TASK, TASK)


def predictions(model_dir, closes: np.ndarray) -> np.ndarray:
    """Day-indexed predicted log-price deltas of a stock checkpoint (``out[t]`` from closes
    up to day ``t-1``; nan where the model has too little history)."""
    model, meta = load_model(model_dir)
    s = meta["stock"]
    zhat = predict_z(model, normalise(closes, s["norm"]), s["stateful"], s["history"])
    return s["norm"]["mean"] + s["norm"]["std"] * zhat


# --- training ----------------------------------------------------------------------------------
def _prepare_out(out: Path, resume: bool, force: bool) -> None:
    from ..core.checkpoint import prepare_out

    prepare_out(out, resume, force)


def check_settings(*, stateful: bool = True, loss: str = "smooth-l1", history: int = HISTORY,
                   hidden: int = DEFAULT_MODEL["hidden"], **core) -> tuple[dict, dict]:
    """Refuse (SettingsError, one line) settings no run can use, before any data is read;
    returns the core's (model, training) settings (``core.settings.check_core``)."""
    from ..core.objectives import Regression

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
    from .. import __version__
    from ..core import models
    from ..core.data import Clips, FeatureStreams
    from ..core.objectives import Regression
    from ..core.train import TrainConfig, fit

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
    if resume:
        from ..core.checkpoint import check_resume

        check_resume(out, TASK, settings)
    _prepare_out(out, resume, force)
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


# --- evaluation --------------------------------------------------------------------------------
def _evaluate(model_dir, data=None, cost: float = 0.0) -> tuple[dict, dict]:
    from scipy import stats

    from ..core.objectives import from_dict

    meta = _stock_meta(model_dir)
    s = meta["stock"]
    path = Path(data) if data else Path(meta["data"]["csv"])
    if not data and not path.is_file() and file_sha256(DEFAULT_CSV) == meta["data"].get("csv_sha256"):
        path = DEFAULT_CSV  # the repository moved; the shipped file is the same one
    dates, closes = load_closes(path)
    iv, it = split_days(dates, s["settings"]["valid_from"], s["settings"]["test_from"])
    signal = predictions(model_dir, closes)
    ret = closes[1:] / closes[:-1] - 1
    daily = np.concatenate([[np.nan], ret])
    lc = backtest(closes, signal, dates, it, cost=cost)
    ls = backtest(closes, signal, dates, it, cost=cost, short=True)
    bh = buy_and_hold(closes, dates, it, cost=cost)
    z = normalise(closes, s["norm"])
    zhat = (signal - s["norm"]["mean"]) / s["norm"]["std"]
    objective = from_dict(meta.get("objective"))
    excess = lc["returns"] - bh["returns"]
    vloss = (meta.get("metrics") or {}).get("valid_loss")
    m = {"model_dir": str(model_dir), "stateful": bool(s["stateful"]), "seed": int(s["settings"]["seed"]),
         "loss": objective.name, "data": str(path), "same_data": file_sha256(path) == meta["data"].get("csv_sha256"),
         "test_from": str(dates[it]), "test_to": str(dates[-1]), "test_days": int(len(dates) - it),
         "years": round(lc["years"], 4), "cost": float(cost),
         "annualised_long_cash": lc["annualised"], "annualised_long_short": ls["annualised"],
         "annualised_buy_hold": bh["annualised"],
         "excess_long_cash": lc["annualised"] - bh["annualised"],
         "excess_long_short": ls["annualised"] - bh["annualised"],
         "total_long_cash": lc["total"], "total_long_short": ls["total"], "total_buy_hold": bh["total"],
         "trades_long_cash": lc["trades"], "trades_long_short": ls["trades"],
         "fraction_long": float(np.mean(lc["positions"] > 0)),
         "directional_accuracy": directional_accuracy(signal[it:], daily[it:]),
         "up_day_fraction": float(np.mean(daily[it:][daily[it:] != 0] > 0)),
         "p_daily_excess_long_cash": float(stats.ttest_1samp(excess, 0.0).pvalue) if excess.std() > 0 else 1.0,
         "test_loss": objective.mean_over(zhat[it:], z[it:]),
         "test_loss_zero_predictor": objective.mean_over(np.zeros(len(z) - it), z[it:]),
         "valid_loss_zero_predictor": objective.mean_over(np.zeros(it - iv), z[iv:it]),
         "valid_loss": float(vloss) if vloss is not None else float("nan")}
    curves = {"dates": dates[it - 1:], "long_cash": np.concatenate([[1.0], lc["equity"]]),
              "long_short": np.concatenate([[1.0], ls["equity"]]), "buy_hold": np.concatenate([[1.0], bh["equity"]])}
    return m, curves


def evaluate(model_dir, *, data=None, cost: float = 0.0) -> dict:
    """Headline metrics of a stock checkpoint over its test period (a flat JSON-serialisable
    dict): annualised yield long/cash, long/short and buy-and-hold (and the strategies'
    excess over it), total returns, trades, directional accuracy (and the fraction of up
    days, what "always up" scores), the test loss (and that of always predicting the
    training mean), a paired t-test p-value of the daily long/cash minus buy-and-hold
    returns. ``data``: another CSV (default: the one it was trained on); ``cost``: the
    fraction of wealth paid per trade. CheckpointError for a model of another task."""
    return _evaluate(model_dir, data, cost)[0]


# --- experiment --------------------------------------------------------------------------------
@dataclass
class Settings:
    """What an experiment arm may change besides the core's model and training settings
    (``core.settings.CORE_MODEL`` / ``CORE_TRAIN``)."""

    stateful: bool = True
    loss: str = "smooth-l1"
    history: int = HISTORY


def recorded(model_dir) -> dict:
    """The settings a stock run was trained with, flat: its model and training configs (every
    field, defaults included) and the task's own settings."""
    from ..core.experiment import flat_settings

    meta = _stock_meta(model_dir)
    own = {k: v for k, v in meta["stock"]["settings"].items() if k not in ("model", "core")}
    return flat_settings({**meta.get("model", {}), **meta.get("train", {}), **own})


def experiment_runs(data=None, steps: int | None = None, minutes: float | None = None, cost: float = 0.0,
                    report: bool = True, **common):
    """The experiment runner's task (``core.experiment.TaskRuns``): one arm = one set of
    ``train`` settings; evaluated with ``cost``; a finished run is read back (it must be on the
    same data). With ``report``, the experiment ends with OUT/report/ (:func:`report`)."""
    from ..core.experiment import TaskRuns

    data = Path(data or DEFAULT_CSV)

    def scored(out):
        m = evaluate(out, data=data, cost=cost)
        if not m["same_data"]:
            raise DataError(f"{out}: a finished run on other data; use a new experiment folder")
        m["steps"] = json.loads((Path(out) / "metrics.json").read_text())["steps"]
        return m

    def finish(out, runs):  # OUT/stock.json (the best runs, distinguishable or not), then the report
        out = Path(out)
        r = json.loads((out / "results.json").read_text())
        call = {"seeds": r["seeds"], "data": str(data), "steps": steps, "minutes": minutes, "cost": cost, **common}
        (out / "stock.json").write_text(json.dumps({"call": call, "stock": summarise_runs(r)}, indent=1) + "\n")
        if report:
            globals()["report"](out, out / "report", cost=cost)

    return TaskRuns(TASK, METRICS, train, scored, recorded, source=data, finish=finish, data=data, steps=steps,
                    minutes=minutes, **common)


def distinguishable(values: list[float], i: int | None = None) -> dict:
    """Is the best run (``i``, default the largest value) distinguishable from the other
    seeds, given that it was picked as the best of n? Its value against the upper bound of
    a one-sided prediction interval for one more draw from the rest (Student's t, mean and
    standard deviation of the other n - 1), at level 5% / n (Bonferroni over the n runs it
    was picked from; without that, the best of 10 exceeds a plain 95% bound by luck alone
    about a quarter of the time). Also its z-score against the rest."""
    from scipy import stats

    x = np.asarray(values, np.float64)
    i = int(np.argmax(x)) if i is None else i
    rest, n = np.delete(x, i), x.size
    k = rest.size
    mu, sd = float(rest.mean()), float(rest.std(ddof=1)) if k > 1 else float("nan")
    bound = mu + float(stats.t.ppf(1 - 0.05 / n, k - 1)) * sd * math.sqrt(1 + 1 / k) if k > 1 else float("nan")
    v = float(x[i])
    return {"value": v, "rest_mean": mu, "rest_std": sd, "z": (v - mu) / sd if sd > 0 else float("nan"),
            "bound": bound, "level": 0.05 / n, "outside": bool(v > bound)}


def summarise_runs(result: dict) -> dict:
    """Per arm: mean / 95% CI of the yields (from the runner), buy-and-hold, the best run
    by validation loss (chosen without the test data) and the best by test yield, and
    whether the latter is distinguishable from the other seeds."""
    out = {}
    for arm in result["variants"]:
        seeds = [str(s) for s in result["seeds"]]
        runs = [result["runs"][arm][s] for s in seeds]
        lc = [r["annualised_long_cash"] for r in runs]
        by_valid = int(np.argmin([r["valid_loss"] for r in runs]))
        by_test = int(np.argmax(lc))
        out[arm] = {"buy_hold": runs[0]["annualised_buy_hold"],
                    "long_cash": result["summary"][arm]["annualised_long_cash"],
                    "long_short": result["summary"][arm]["annualised_long_short"],
                    "excess_long_cash": result["summary"][arm]["excess_long_cash"],
                    "directional_accuracy": result["summary"][arm]["directional_accuracy"],
                    "best_by_valid": {"seed": int(seeds[by_valid]), **{k: runs[by_valid][k] for k in
                                      ("annualised_long_cash", "annualised_long_short", "valid_loss", "test_loss")}},
                    "best_by_test": {"seed": int(seeds[by_test]), "annualised_long_cash": lc[by_test],
                                     "annualised_long_short": runs[by_test]["annualised_long_short"],
                                     "vs_rest": distinguishable(lc, by_test)},
                    "beats_buy_hold": int(sum(v > runs[0]["annualised_buy_hold"] for v in lc))}
    return out


def experiment(out, *, seeds=10, data=DEFAULT_CSV, steps: int | None = None, minutes: float | None = None,
               cost: float = 0.0, loss: str = "smooth-l1", hidden: int = DEFAULT_MODEL["hidden"],
               history: int = HISTORY, log: Callable[[str], None] = print, **common) -> dict:
    """The stateful and the stateless RNN, each trained with every seed (``seeds``: a
    count, seeds 0..n-1, or a list), evaluated on the test period. Writes OUT/results.json,
    results.md, results.png (the runner's: mean, std, 95% CI, paired stateless - stateful),
    and OUT/stock.json (:func:`summarise_runs`); returns the results with ``stock`` added.
    ``minutes`` is per run."""
    from ..core.experiment import run_experiment

    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if len(seed_list) < 2:
        raise SettingsError("an experiment needs at least 2 seeds (for a confidence interval)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task = experiment_runs(data, steps, minutes, cost, report=False, loss=loss, hidden=hidden, history=history, **common)
    arms = {"stateful": {"stateful": True}, "stateless": {"stateful": False}}
    result = run_experiment(task, out, arms, seed_list, log=log)
    saved = json.loads((out / "stock.json").read_text())
    return {**result, "stock": saved["stock"], "call": saved["call"]}


# --- report ------------------------------------------------------------------------------------
def _pct(v) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:+.2f}%"


def _plot(curves: dict[str, tuple], path: Path, title: str) -> None:
    """curves: label -> (dates, equity, style dict)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for label, (d, eq, style) in curves.items():
        ax.plot(d.astype("datetime64[D]").astype(object), eq, label=label, **style)
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("wealth (1 = start of the test period)")
    ax.set_title(title, fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels) if not lab.startswith("_")]
    ax.legend(*zip(*keep), fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(path, out_dir, *, cost: float | None = None) -> Path:
    """A Markdown report (OUT_DIR/report.md, returned) with a table and an equity-curve plot
    (OUT_DIR/equity.png) of the strategies against buy-and-hold, for one stock checkpoint
    or for an :func:`experiment` folder (every seed's long/cash curve, the best by
    validation loss drawn bold). ``cost``: default 0 for a checkpoint, the experiment's own
    for an experiment (another cost re-evaluates every run with it)."""
    path, out_dir = Path(path), Path(out_dir)
    if (path / "results.json").is_file():
        return _report_experiment(path, out_dir, cost)
    m, c = _evaluate(path, cost=cost or 0.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    d = c["dates"]
    _plot({"long/cash": (d, c["long_cash"], {"lw": 1.2}), "long/short": (d, c["long_short"], {"lw": 1.0}),
           "buy-and-hold": (d, c["buy_hold"], {"c": "k", "lw": 1.4})}, out_dir / "equity.png",
          f"{'stateful' if m['stateful'] else 'stateless'} RNN seed {m['seed']}, cost {m['cost']:g}/trade")
    verdict = "beats" if m["excess_long_cash"] > 0 else "does not beat"
    lines = [f"# Stock model `{path}`", "",
             f"Test period {m['test_from']} .. {m['test_to']} ({m['test_days']} trading days, {m['years']:.2f} years), "
             f"data `{m['data']}`, cost {m['cost']:g} per trade.", "",
             "| strategy | annualised yield | total return | trades |", "|---|---|---|---|",
             f"| long/cash | {_pct(m['annualised_long_cash'])} | {_pct(m['total_long_cash'])} | {m['trades_long_cash']:.0f} |",
             f"| long/short | {_pct(m['annualised_long_short'])} | {_pct(m['total_long_short'])} | {m['trades_long_short']:.0f} |",
             f"| buy-and-hold | {_pct(m['annualised_buy_hold'])} | {_pct(m['total_buy_hold'])} | 1 |", "",
             f"Directional accuracy {m['directional_accuracy']:.4f} (up days: {m['up_day_fraction']:.4f}); "
             f"long on {m['fraction_long']:.1%} of days; test loss {m['test_loss']:.4f} "
             f"(predicting the training mean: {m['test_loss_zero_predictor']:.4f}).", "",
             f"Long/cash {verdict} buy-and-hold over this period (daily excess returns, paired t-test "
             f"p = {m['p_daily_excess_long_cash']:.3g}).", "", "![equity](equity.png)", ""]
    (out_dir / "report.md").write_text("\n".join(lines))
    return out_dir / "report.md"


def _report_experiment(path: Path, out_dir: Path, cost: float | None) -> Path:
    from ..core.experiment import slug
    from ..core.stats import summarize

    r = json.loads((path / "results.json").read_text())
    call = json.loads((path / "stock.json").read_text())["call"] if (path / "stock.json").is_file() else {}
    own = cost is None or cost == call.get("cost", 0.0)
    cost = call.get("cost", 0.0) if cost is None else cost
    evaluated = {arm: {seed: _evaluate(path / slug(arm) / f"seed{seed}", cost=cost) for seed in r["seeds"]}
                 for arm in r["variants"]}
    r = {**r, "runs": {arm: {str(seed): m for seed, (m, _) in e.items()} for arm, e in evaluated.items()}}
    r["summary"] = {arm: {k: summarize([r["runs"][arm][str(seed)][k] for seed in r["seeds"]]) for k in METRICS}
                    for arm in r["variants"]}
    s = summarise_runs(r)
    out_dir.mkdir(parents=True, exist_ok=True)
    curves, first = {}, None
    for i, arm in enumerate(r["variants"]):  # one colour per variant
        best = s[arm]["best_by_valid"]["seed"]
        for seed in r["seeds"]:
            m, c = evaluated[arm][seed]
            first = first or (m, c)
            bold = seed == best
            curves[f"{arm} seed {seed} (best by validation)" if bold else f"_{arm}{seed}"] = (
                c["dates"], c["long_cash"], {"c": f"C{i % 10}", "lw": 1.6 if bold else 0.6, "alpha": 1 if bold else 0.35})
    m0, c0 = first
    curves["buy-and-hold"] = (c0["dates"], c0["buy_hold"], {"c": "k", "lw": 1.6})
    _plot(curves, out_dir / "equity.png", f"long/cash, every seed, cost {cost:g}/trade")
    lines = [f"# Stock experiment `{path}`", "",
             f"Seeds {r['seeds']}; test period {m0['test_from']} .. {m0['test_to']} ({m0['test_days']} days); "
             f"cost {cost:g} per trade; call: `{json.dumps(call)}`.", "",
             "| model | long/cash mean [95% CI] | long/short mean [95% CI] | buy-and-hold | best by validation "
             "(seed: long/cash) | best by test (seed: long/cash) | best distinguishable from the rest? | seeds beating B&H |",
             "|---|---|---|---|---|---|---|---|"]
    for arm, a in s.items():
        lc, ls, bv, bt = a["long_cash"], a["long_short"], a["best_by_valid"], a["best_by_test"]
        lines.append(f"| {arm} | {_pct(lc['mean'])} [{_pct(lc['ci95'][0])}, {_pct(lc['ci95'][1])}] "
                     f"| {_pct(ls['mean'])} [{_pct(ls['ci95'][0])}, {_pct(ls['ci95'][1])}] | {_pct(a['buy_hold'])} "
                     f"| {bv['seed']}: {_pct(bv['annualised_long_cash'])} | {bt['seed']}: {_pct(bt['annualised_long_cash'])} "
                     f"| {'yes' if bt['vs_rest']['outside'] else 'no'} (bound {_pct(bt['vs_rest']['bound'])}, "
                     f"z {bt['vs_rest']['z']:.2f}) | {a['beats_buy_hold']}/{len(r['seeds'])} |")
    lines += ["", "Best distinguishable: the best seed's long/cash yield above the upper bound of a one-sided "
              "prediction interval from the other seeds at level 5%/n (picked as the best of n); z: its distance "
              "from their mean in their standard deviations."]
    lines += ["", f"Always predicting the training mean (a model that learned nothing): validation loss "
                  f"{m0['valid_loss_zero_predictor']:.4f}, test loss {m0['test_loss_zero_predictor']:.4f}; up days in "
                  f"the test period: {m0['up_day_fraction']:.4f} (the directional accuracy of always long).",
              "", "Per seed (long/cash, long/short, directional accuracy, test loss):", "",
              "| model | seed | long/cash | long/short | accuracy | test loss | valid loss |", "|---|---|---|---|---|---|---|"]
    for arm in r["variants"]:
        for seed in r["seeds"]:
            q = r["runs"][arm][str(seed)]
            lines.append(f"| {arm} | {seed} | {_pct(q['annualised_long_cash'])} | {_pct(q['annualised_long_short'])} "
                         f"| {q['directional_accuracy']:.4f} | {q['test_loss']:.4f} | {q['valid_loss']:.4f} |")
    lines += ["", "![equity](equity.png)", ""]
    if own and (path / "results.md").is_file():
        lines += ["The runner's tables (paired stateless - stateful):", "", (path / "results.md").read_text()]
    (out_dir / "report.md").write_text("\n".join(lines))
    return out_dir / "report.md"


__all__ = ["DEFAULT_CSV", "backtest", "buy_and_hold", "directional_accuracy", "distinguishable", "evaluate",
           "experiment", "load_closes", "load_model", "log_returns", "normalise", "normaliser", "predict_z",
           "predictions", "report", "split_days", "summarise_runs", "train"]
