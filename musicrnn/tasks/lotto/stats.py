"""The chance level and the test: the hypergeometric law of matches (:func:`hypergeom_pmf`,
:data:`CHANCE`, :data:`CHANCE_VAR`), the exact one-sided test of a total (:func:`match_test`) and
the matches of predictions (:func:`matches_of`). NumPy only (scipy when called)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ...core.errors import DataError
from .data import NUMBERS, PICK


# above this the p-value uses the normal approximation; the exact convolution takes ~1.5 s at
# 10,000 draws (0.47 s at 6,000: a 20-seed lottery study's pooled test) and grows as n^2
EXACT_MAX_DRAWS = 10000


def hypergeom_pmf() -> np.ndarray:
    """P(k matches), k = 0..7, for 7 numbers chosen against 7 drawn of 50 (exact, then float)."""
    total = math.comb(NUMBERS, PICK)
    return np.array([math.comb(PICK, k) * math.comb(NUMBERS - PICK, PICK - k) / total for k in range(PICK + 1)])


def chance_mean() -> Fraction:
    """The expected matches per draw under the null, as an exact fraction (49/50)."""
    total = math.comb(NUMBERS, PICK)
    return sum((Fraction(k * math.comb(PICK, k) * math.comb(NUMBERS - PICK, PICK - k), total)
                for k in range(PICK + 1)), Fraction(0))


CHANCE = float(chance_mean())  # 0.98
_PMF = hypergeom_pmf()
CHANCE_VAR = float(sum((k - CHANCE) ** 2 * p for k, p in enumerate(_PMF)))  # 0.7396


def _tail_exact(total: int, n: int) -> float:
    """P(S >= total), S the sum of n i.i.d. hypergeometric match counts (direct convolution
    of non-negative terms: accurate in relative terms far into the tail)."""
    if total <= 0:
        return 1.0
    if total > PICK * n:
        return 0.0
    dist = np.array([1.0])
    for _ in range(n):
        dist = np.convolve(dist, _PMF)
    return float(min(1.0, dist[total:].sum()))


def _sum_test(total: int, n: int) -> tuple[float, float, float]:
    """(z, p, normal p) of ``total`` matches over ``n`` draws against chance, one-sided: p is
    exact up to EXACT_MAX_DRAWS draws, else the normal approximation."""
    from scipy import stats

    z = (total - n * CHANCE) / math.sqrt(n * CHANCE_VAR)
    p_normal = float(stats.norm.sf(z))
    return float(z), (_tail_exact(total, n) if n <= EXACT_MAX_DRAWS else p_normal), p_normal


def match_test(matches) -> dict:
    """The one-sided test of mean matches against the hypergeometric chance (see the package's
    docstring): mean, 95% CI, z, exact and normal p-values."""
    from scipy import stats

    m = np.asarray(matches, dtype=np.int64).reshape(-1)
    n = int(m.size)
    if n == 0:
        raise DataError("no draws to score")
    total, mean = int(m.sum()), float(m.mean())
    z, p, p_normal = _sum_test(total, n)
    exact = n <= EXACT_MAX_DRAWS
    sd = float(m.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 else float("nan")
    return {"draws_scored": n, "total_matches": total, "mean_matches": mean, "chance": CHANCE,
            "excess": mean - CHANCE, "ci95_low": mean - half, "ci95_high": mean + half, "z": float(z),
            "p_value": p, "p_value_normal": p_normal,
            "test": "exact (n-fold hypergeometric convolution)" if exact else "normal approximation (exact mean, variance)"}


def matches_of(predictions: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Per draw, how many of the predicted numbers (rows of 7) are among the draw's 7 main numbers."""
    pred = np.asarray(predictions)
    main = np.asarray(draws)[:, :PICK]
    return (pred[:, :, None] == main[:, None, :]).any(-1).sum(-1)


def _pooled(total: int, n: int) -> dict:
    z, p, _ = _sum_test(total, n)
    return {"draws_scored": n, "total_matches": total, "mean_matches": total / n, "z": z, "p_value": p,
            "test": "exact" if n <= EXACT_MAX_DRAWS else "normal approximation"}
