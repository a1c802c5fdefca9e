"""The strategy: trading on the predicted sign (:func:`backtest`: long/cash or long/short, costs
per trade, annualised yield), :func:`buy_and_hold` and :func:`directional_accuracy`. NumPy only."""

from __future__ import annotations

import numpy as np

from ...core.errors import DataError, SettingsError


YEAR_DAYS = 365.25


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
