"""Statistics over seeds: is the best run :func:`distinguishable` from the rest, and each arm's
summary (:func:`summarise_runs`)."""

from __future__ import annotations

import math

import numpy as np


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
