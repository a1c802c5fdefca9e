"""Scores of next-day forecasts: the original hit rule (:func:`hit_table`), ROC AUC
(:func:`roc_auc`, :func:`roc_points`), :func:`score`, and the baselines (:func:`yesterday`,
:func:`historical_rate`, :func:`score_baselines`, :func:`format_baselines`). NumPy only."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ...core.errors import DataError


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve of ``scores`` (any shape) for boolean ``labels`` (same shape): the chance
    that a random positive scores above a random negative, ties counting half (Mann-Whitney U).
    NaN when there are no positives or no negatives."""
    y = np.asarray(labels, dtype=bool).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ends = np.r_[starts[1:], s.size]
    mid_rank = (starts + ends + 1) / 2.0  # 1-based average rank of each tie group
    ranks = np.empty(s.size)
    ranks[order] = np.repeat(mid_rank, ends - starts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def fp_at_recall(labels, scores, recall: float = 0.5) -> tuple[int, float]:
    """False positives when the alarm threshold is set to catch a share ``recall`` of the positives:
    the threshold is the ceil(recall * positives)-th highest positive score, every cell-day scoring at
    or above it is an alarm. Returns (false alarms, false-positive rate among the negatives); a way to
    compare predictors at one matched recall. (0, NaN)-like NaNs when there are no positives or negatives."""
    y = np.asarray(labels, dtype=bool).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan"), float("nan")
    k = max(1, math.ceil(recall * n_pos))
    cut = np.sort(s[y])[::-1][k - 1]
    fp = int(((s >= cut) & ~y).sum())
    return fp, fp / n_neg


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def hit_table(pred, actual, threshold: float, tol: float = 1.0) -> dict:
    """The original predictor's hit rule on cell-days where the predicted or the actual value is >= threshold.

    pred, actual: (D, C) magnitudes (-1.0 = no quake). Among those cell-days, a true positive is one
    whose predicted magnitude is within +/- tol of the actual one; the others are false positives when
    the prediction was >= threshold and false negatives when the actual value was (a wrong magnitude with
    both >= threshold counts as both). Returns counts tp, fp, fn, the number of cell-days considered,
    precision tp / (tp + fp) and recall tp / (tp + fn) (NaN when undefined).
    """
    p = np.asarray(pred, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if p.shape != a.shape:
        raise DataError(f"predictions have shape {p.shape} but the actual values {a.shape}")
    considered = (p >= threshold) | (a >= threshold)
    hit = considered & (np.abs(p - a) <= tol)
    miss = considered & ~hit
    tp, fp, fn = int(hit.sum()), int((miss & (p >= threshold)).sum()), int((miss & (a >= threshold)).sum())
    return {"considered": int(considered.sum()), "tp": tp, "fp": fp, "fn": fn,
            "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn)}


def score(pred, actual, thresholds: Sequence[float] = (0.0, 5.0), tol: float = 1.0) -> dict:
    """Score next-day magnitude forecasts.

    pred, actual: (D, C) float, days x cells, magnitudes with -1.0 for "no quake" (pred may be any
    score that grows with the expected magnitude). For each threshold t, under key ``"M>=t"``
    (``"M>=0"``, ``"M>=5"``):
      - the hit rule (:func:`hit_table`): considered, tp, fp, fn, precision, recall;
      - detection of "M >= t in this cell": positives (actual cell-days >= t), predicted (pred >= t),
        detect_precision, detect_recall;
      - auc: ROC AUC of pred as the score for actual >= t (NaN without positives or negatives);
      - fp_at_recall50, fpr_at_recall50: false alarms (count, rate among negatives) with the alarm
        threshold set to catch half the positives (:func:`fp_at_recall`), to compare losses at one recall.
    The ``"M>=5"`` row is the rare large events, reported on its own.
    """
    p = np.asarray(pred, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if p.shape != a.shape or p.ndim != 2:
        raise DataError(f"score needs two (days, cells) arrays of one shape, got {p.shape} and {a.shape}")
    out = {}
    for t in thresholds:
        row = hit_table(p, a, t, tol)
        pos, said = a >= t, p >= t
        both = int((pos & said).sum())
        row.update(positives=int(pos.sum()), predicted=int(said.sum()),
                   detect_precision=_ratio(both, int(said.sum())), detect_recall=_ratio(both, int(pos.sum())),
                   auc=roc_auc(pos, p))
        row["fp_at_recall50"], row["fpr_at_recall50"] = fp_at_recall(pos, p, 0.5)
        out[f"M>={t:g}"] = row
    return out


def yesterday(values: np.ndarray, split: int) -> np.ndarray:
    """Persistence baseline: the forecast for day i is day i - 1's value. values (D, C); returns
    (D - split, C), the forecasts for days split..D-1 (each uses only the day before it)."""
    if not 1 <= split < values.shape[0]:
        raise DataError(f"split {split} must leave at least one history day and one scored day of {values.shape[0]}")
    return values[split - 1:-1]


def historical_rate(values: np.ndarray, split: int, threshold: float) -> np.ndarray:
    """Climatology baseline: each cell's fraction of the history days 0..split-1 with value >= threshold,
    the same score for every scored day. values (D, C); returns (D - split, C) float64. Days from
    ``split`` on are never read."""
    if not 1 <= split < values.shape[0]:
        raise DataError(f"split {split} must leave at least one history day and one scored day of {values.shape[0]}")
    rate = (values[:split] >= threshold).mean(axis=0)
    return np.broadcast_to(rate, (values.shape[0] - split,) + rate.shape)


def score_baselines(values: np.ndarray, split: int, thresholds: Sequence[float] = (0.0, 5.0),
                    tol: float = 1.0) -> dict:
    """Both baselines on days split..D-1 of values (D, C) with days 0..split-1 as history.

    Returns {"yesterday": score(...), "historical_rate": {"M>=t": {"auc", "positives"}},
    "any_quake_rate": {...}}: the historical rate is a probability, not a magnitude, so only its AUC
    is defined. ``historical_rate`` scores "M >= t" by each cell's past rate of M >= t;
    ``any_quake_rate`` by its past rate of any quake (M >= 0) for every t, usually the stronger
    baseline for rare large quakes (they happen where quakes are frequent).
    """
    actual = values[split:]
    out = {"yesterday": score(yesterday(values, split), actual, thresholds, tol), "historical_rate": {},
           "any_quake_rate": {}}
    anyq = historical_rate(values, split, 0.0)
    for t in thresholds:
        pos = actual >= t
        out["historical_rate"][f"M>={t:g}"] = {"positives": int(pos.sum()),
                                               "auc": roc_auc(pos, historical_rate(values, split, t))}
        out["any_quake_rate"][f"M>={t:g}"] = {"positives": int(pos.sum()), "auc": roc_auc(pos, anyq)}
    return out


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def format_baselines(result: dict) -> str:
    """A Markdown table of :func:`score_baselines`'s result: one row per baseline and threshold."""
    lines = ["| baseline | event | positives | AUC | hit precision | hit recall | detect precision | detect recall |",
             "|---|---|---|---|---|---|---|---|"]
    for name, rows in result.items():
        for key, r in rows.items():
            lines.append(f"| {name} | {key} | {r['positives']:,} | {_fmt(r['auc'])} | {_fmt(r.get('precision'))} | "
                         f"{_fmt(r.get('recall'))} | {_fmt(r.get('detect_precision'))} | "
                         f"{_fmt(r.get('detect_recall'))} |")
    return "\n".join(lines)


def roc_points(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) of ``scores`` for boolean ``labels``, one point
    per distinct score from the highest down (ties taken together), from (0, 0) to (1, 1)."""
    y = np.asarray(labels, bool).reshape(-1)
    s = np.asarray(scores, np.float64).reshape(-1)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last = np.r_[s[1:] != s[:-1], True]  # the end of each tie group
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    return (np.r_[0.0, fp / max(1, (~y).sum())], np.r_[0.0, tp / max(1, y.sum())])
