"""core/stats.py: Holm's correction, and summarize()/paired() against values computed here
independently (plain formulas and scipy called directly)."""

import math

import numpy as np
import pytest
from scipy import stats as ss

from musicrnn.core.stats import holm, paired, summarize

# Seeds 0-4 of docs/experiments/gradscale_chorales: clip at 1 (a) and scale to 1 (b), lr 3e-3.
A = [2.7428, 2.89066, 2.86337, 2.85364, 2.67307]
B = [2.46195, 2.45367, 2.49511, 2.47211, 2.38182]


def test_holm_hand_computed():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-12)


def test_holm_monotone_in_sorted_raw_p():
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 0.2, size=int(rng.integers(1, 12)))
        adj = np.asarray(holm(p))
        order = np.argsort(p, kind="stable")
        assert np.all(np.diff(adj[order]) >= 0)
        assert np.all(adj >= p - 1e-15)            # never smaller than the raw p
        assert np.all(adj <= np.minimum(1, p * p.size) + 1e-15)  # never above Bonferroni


def test_holm_capped_at_one():
    adj = holm([0.5, 0.6, 0.9])
    assert adj == pytest.approx([1.0, 1.0, 1.0])
    assert holm([0.4, 0.01, 0.45, 0.5]) == pytest.approx([1.0, 0.04, 1.0, 1.0])  # 0.4 * 3 = 1.2


def test_holm_single_p_unchanged():
    assert holm([0.037]) == [0.037]
    assert holm([]) == []


def test_holm_nan_kept_and_not_counted():
    adj = holm([float("nan"), 0.02, 0.04])
    assert math.isnan(adj[0])
    assert adj[1:] == pytest.approx([0.04, 0.04])  # m = 2, not 3
    assert all(math.isnan(v) for v in holm([float("nan"), float("nan")]))


def test_holm_input_order_and_ties():
    assert holm((0.04, 0.01)) == pytest.approx([0.04, 0.02])
    assert holm([0.01, 0.01, 0.5]) == pytest.approx([0.03, 0.03, 0.5])


def test_summarize_fixed_example():
    s = summarize(A)
    n = len(A)
    mean = sum(A) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in A) / (n - 1))
    lo, hi = ss.t.interval(0.95, n - 1, loc=mean, scale=sd / math.sqrt(n))
    assert s["n"] == 5
    assert s["mean"] == pytest.approx(mean, abs=1e-12)
    assert s["std"] == pytest.approx(sd, rel=1e-10)
    assert s["ci95"] == pytest.approx([lo, hi], rel=1e-10)
    # The numbers published in docs/research.md for this arm.
    assert (round(s["mean"], 4), round(s["std"], 4)) == (2.8047, 0.0927)
    assert [round(v, 4) for v in s["ci95"]] == [2.6896, 2.9198]


def test_summarize_single_value():
    s = summarize([1.5])
    assert s["n"] == 1 and s["mean"] == 1.5
    assert math.isnan(s["std"]) and all(math.isnan(v) for v in s["ci95"])


def test_paired_fixed_example():
    r = paired(A, B)
    d = [b - a for a, b in zip(A, B)]
    n = len(d)
    md = sum(d) / n
    se = math.sqrt(sum((x - md) ** 2 for x in d) / (n - 1)) / math.sqrt(n)
    t = md / se
    p = 2 * ss.t.sf(abs(t), n - 1)
    lo, hi = md - ss.t.ppf(0.975, n - 1) * se, md + ss.t.ppf(0.975, n - 1) * se
    assert r["mean_diff"] == pytest.approx(md, abs=1e-12)
    assert r["t"] == pytest.approx(t, rel=1e-9)
    assert r["p_t"] == pytest.approx(p, rel=1e-9)
    assert r["ci95_diff"] == pytest.approx([lo, hi], rel=1e-9)
    # All 5 differences are negative: the exact two-sided Wilcoxon p is 2 / 2**5.
    assert r["p_wilcoxon"] == pytest.approx(2 / 32)
    # The numbers published in docs/research.md for this pair.
    assert round(r["mean_diff"], 4) == -0.3518
    assert [round(v, 4) for v in r["ci95_diff"]] == [-0.4330, -0.2706]
    assert r["p_t"] == pytest.approx(0.000274, abs=5e-7)


def test_paired_direction_is_b_minus_a():
    assert paired(B, A)["mean_diff"] == pytest.approx(-paired(A, B)["mean_diff"])
    assert paired(B, A)["t"] == pytest.approx(-paired(A, B)["t"])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_paired_all_differences_zero():
    r = paired([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert r["mean_diff"] == 0.0 and r["p_wilcoxon"] == 1.0


def test_paired_identical_values_have_nothing_to_test():
    """A metric every arm shares (a baseline) gives p = 1, not NaN or a warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = paired([0.91, 0.91, 0.91], [0.91, 0.91, 0.91])
    assert r["mean_diff"] == 0 and r["p_t"] == 1 and r["p_wilcoxon"] == 1
