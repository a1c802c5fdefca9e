"""Statistics for multi-seed comparisons: mean, standard deviation, 95% confidence
interval (Student's t), paired tests between variants run on the same seeds, and Holm's
correction for several tests."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats


def summarize(values) -> dict:
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    sd = float(x.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 else float("nan")
    return {"n": n, "mean": float(x.mean()), "std": sd, "ci95": [float(x.mean()) - half, float(x.mean()) + half]}


def paired(a, b) -> dict:
    """b - a over matched seeds: mean difference, its 95% CI, paired t-test and Wilcoxon p-values."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = summarize(b - a)
    if np.all(b - a == 0):  # identical (a baseline every arm shares): no difference to test
        return {"mean_diff": 0.0, "ci95_diff": [0.0, 0.0], "t": float("nan"), "p_t": 1.0, "p_wilcoxon": 1.0}
    t = stats.ttest_rel(b, a)
    try:
        w = float(stats.wilcoxon(b - a).pvalue)
    except ValueError:  # too few differences
        w = 1.0
    return {"mean_diff": d["mean"], "ci95_diff": d["ci95"], "t": float(t.statistic),
            "p_t": float(t.pvalue), "p_wilcoxon": w}


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values, in the input order. The i-th smallest of
    m p-values is multiplied by m - i + 1, made monotone, and capped at 1. NaNs stay NaN
    and do not count in m."""
    p = np.asarray(pvalues, dtype=np.float64).reshape(-1)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m:
        order = ok[np.argsort(p[ok], kind="stable")]
        adj = np.maximum.accumulate(p[order] * (m - np.arange(m)))
        out[order] = np.minimum(adj, 1.0)
    return [float(v) for v in out]
