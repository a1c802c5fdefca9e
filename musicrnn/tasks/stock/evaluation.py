"""Evaluation: a checkpoint's strategies, buy-and-hold, accuracy and losses over its test period
(:func:`evaluate`), and the experiment's metrics (:data:`METRICS`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.checkpoint import sha256 as file_sha256
from .data import DEFAULT_CSV, load_closes, normalise, split_days
from .model import _stock_meta, predictions
from .strategy import backtest, buy_and_hold, directional_accuracy


# metric -> which direction is better (the experiment's table; the first is plotted)
METRICS = {"annualised_long_cash": "higher", "annualised_long_short": "higher", "excess_long_cash": "higher",
           "excess_long_short": "higher", "directional_accuracy": "higher", "test_loss": "lower",
           "valid_loss": "lower", "annualised_buy_hold": "(the same for every run)"}


def _evaluate(model_dir, data=None, cost: float = 0.0) -> tuple[dict, dict]:
    from scipy import stats

    from ...core.objectives import from_dict

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
