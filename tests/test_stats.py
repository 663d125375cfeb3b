"""Tests of bnnlib.stats: Kendall tau-b and Spearman rho, ties handled, against scipy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bnnlib.stats import average_ranks, kendall_tau, spearman_rho

# --------------------------------------------------------------------------------------------
# Kendall tau


def test_kendall_tau_hand_computed():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # one discordant pair of six: (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # ties: x = [1, 1, 2, 3], y = [1, 2, 2, 3]; pairs (01) x-tied, (12) y-tied, 4 concordant
    # tau_b = 4 / sqrt((6 - 1) * (6 - 1)) = 0.8
    assert kendall_tau([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(0.8)
    # a pair tied in both: x = [1, 1, 2], y = [5, 5, 6]: 2 concordant, n1 = n2 = 1 -> 1.0
    assert kendall_tau([1, 1, 2], [5, 5, 6]) == pytest.approx(1.0)
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))


def test_kendall_tau_matches_brute_force_definition():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 15))
        x, y = rng.integers(0, 4, n), rng.integers(0, 4, n)
        con = dis = tx = ty = 0
        for i, j in itertools.combinations(range(n), 2):
            s = np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
            con += s > 0
            dis += s < 0
            tx += x[i] == x[j]
            ty += y[i] == y[j]
        pairs = n * (n - 1) // 2
        denom = math.sqrt((pairs - tx) * (pairs - ty))
        expected = (con - dis) / denom if denom else float("nan")
        got = kendall_tau(x, y)
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


def test_kendall_tau_matches_scipy_when_available():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, 40), rng.integers(0, 5, 40)
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)


# --------------------------------------------------------------------------------------------
# Spearman rho


def test_average_ranks_share_the_mean_rank_of_ties():
    assert average_ranks([10, 20, 20, 30]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert average_ranks([3.0, 1.0, 2.0]).tolist() == [3.0, 1.0, 2.0]
    assert average_ranks([5, 5, 5]).tolist() == [2.0, 2.0, 2.0]
    assert average_ranks([2, 1, 2, 1, 3]).tolist() == [3.5, 1.5, 3.5, 1.5, 5.0]


def test_spearman_rho_hand_computed():
    assert spearman_rho([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert spearman_rho([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # no ties: 1 - 6 * sum(d^2) / (n (n^2 - 1)); ranks of y = [1, 3, 2, 4], sum(d^2) = 2
    assert spearman_rho([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(1 - 6 * 2 / (4 * 15))
    # monotone but not linear: ranks only
    assert spearman_rho([1, 2, 3, 4, 5], [1, 4, 9, 16, 1000]) == pytest.approx(1.0)
    # ties: x = [1, 1, 2, 3] -> ranks [1.5, 1.5, 3, 4], y = [1, 2, 2, 3] -> [1, 2.5, 2.5, 4];
    # deviations from 2.5: dx = [-1, -1, .5, 1.5], dy = [-1.5, 0, 0, 1.5]
    # rho = (1.5 + 0 + 0 + 2.25) / sqrt((1 + 1 + .25 + 2.25) * (2.25 + 0 + 0 + 2.25))
    assert spearman_rho([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(3.75 / math.sqrt(4.5 * 4.5))
    assert math.isnan(spearman_rho([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman_rho([1, 2, 3], [7, 7, 7]))


def test_spearman_rho_matches_scipy_when_available():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(2)
    for _ in range(30):
        n = int(rng.integers(2, 40))
        x = rng.integers(0, 5, n)  # many ties
        y = np.round(rng.normal(size=n), 1) + 0.3 * x
        expected = stats.spearmanr(x, y).statistic
        got = spearman_rho(x, y)
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)
    x, y = rng.normal(size=200), rng.normal(size=200)  # no ties
    assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


# --------------------------------------------------------------------------------------------
# Inputs


@pytest.mark.parametrize("fn", [kendall_tau, spearman_rho])
def test_bad_inputs(fn):
    name = fn.__name__
    with pytest.raises(ValueError, match=f"{name} needs paired samples of equal length, got 3 and 2"):
        fn([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=f"{name} needs at least 2 pairs"):
        fn([1], [1])
    with pytest.raises(ValueError, match="finite"):
        fn([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        fn([1, 2], [1, float("inf")])
