"""Tests of bnnlib.stats: verdicts on claims from per-seed samples (Welch t intervals, TOST),
summaries, and Kendall tau-b / Spearman rho with bootstrap intervals, against scipy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bnnlib.stats import (
    Comparison,
    average_ranks,
    compare,
    compare_lower,
    decidable_difference,
    equivalent,
    kendall_ci,
    kendall_tau,
    spearman_ci,
    spearman_rho,
    summary,
    t_quantile,
)

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


# --------------------------------------------------------------------------------------------
# Student-t quantile


def test_t_quantile_matches_scipy_on_a_grid_of_df_and_probabilities():
    stats = pytest.importorskip("scipy.stats")
    for df in (0.5, 1, 1.5, 2, 2.37, 3, 4, 5, 7.8, 10, 30, 100, 1000):
        for p in (1e-6, 0.001, 0.025, 0.05, 0.1, 0.3, 0.45, 0.5, 0.55, 0.7, 0.9, 0.95, 0.975,
                  0.99, 0.995, 0.999, 1 - 1e-6):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-11, abs=1e-14)
    assert t_quantile(0.975, math.inf) == pytest.approx(stats.norm.ppf(0.975), rel=1e-12)


def test_t_quantile_known_values_without_scipy():
    assert t_quantile(0.975, 1) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-12)  # Cauchy
    for p in (0.6, 0.975, 0.999):  # df = 2: t = (2p - 1) / sqrt(2 p (1 - p))
        assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)),
                                                 rel=1e-12)
    assert t_quantile(0.5, 3) == 0.0
    assert t_quantile(0.025, 4) == pytest.approx(-t_quantile(0.975, 4), rel=1e-13)
    with pytest.raises(ValueError, match="0 < p < 1"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="df > 0"):
        t_quantile(0.9, 0)


# --------------------------------------------------------------------------------------------
# compare: "a is higher than b"

HIGH = [74.1, 74.5, 74.3]
LOW = [72.9, 73.4, 73.0]


def test_clearly_higher_samples_are_supported_with_the_interval_above_zero():
    c = compare(HIGH, LOW)
    assert c.verdict == "supported"
    assert c.claim == "a > b" and c.method == "Welch t" and c.alpha == 0.05
    assert c.diff == pytest.approx(np.mean(HIGH) - np.mean(LOW))
    assert 0 < c.ci[0] < c.diff < c.ci[1]
    assert (c.n_a, c.n_b) == (3, 3)
    assert c.mean_a == pytest.approx(np.mean(HIGH)) and c.mean_b == pytest.approx(np.mean(LOW))
    assert c.sd_a == pytest.approx(np.std(HIGH, ddof=1))
    assert c.sd_b == pytest.approx(np.std(LOW, ddof=1))


def test_clearly_lower_samples_contradict_a_higher_claim():
    c = compare(LOW, HIGH)
    assert c.verdict == "contradicted"
    assert c.ci[0] < c.ci[1] < 0
    assert c.diff == pytest.approx(-compare(HIGH, LOW).diff)


def test_overlapping_samples_are_inconclusive():
    c = compare([74.1, 74.9, 73.6], [73.9, 74.6, 73.2])
    assert c.verdict == "inconclusive"
    assert c.ci[0] < 0 < c.ci[1]


def test_identical_samples_are_inconclusive_with_zero_difference():
    c = compare([74.1, 74.5, 74.3], [74.1, 74.5, 74.3])
    assert c.verdict == "inconclusive"
    assert c.diff == 0.0
    assert c.ci[0] < 0 < c.ci[1]


@pytest.mark.parametrize("fn", [compare, compare_lower,
                                lambda a, b: equivalent(a, b, 100.0)])
def test_a_single_sample_on_either_side_is_inconclusive_without_an_interval(fn):
    for a, b in (([74.0], [70.0, 70.1, 69.9]), ([70.0, 70.1, 69.9], [74.0]), ([74.0], [70.0])):
        c = fn(a, b)
        assert c.verdict == "inconclusive"
        assert math.isnan(c.ci[0]) and math.isnan(c.ci[1])
        assert c.diff == pytest.approx(np.mean(a) - np.mean(b))
    c = compare([74.0], [70.0, 70.2])
    assert math.isnan(c.sd_a) and c.n_a == 1
    assert c.text == "+3.90 [no interval] (n = 1 vs 2): inconclusive"


def test_zero_spread_deterministic_values_follow_the_sign_of_the_difference():
    small, large = [1.2e8, 1.2e8, 1.2e8], [1.5e8, 1.5e8]  # OPs: identical for every seed
    assert compare(large, small).verdict == "supported"
    assert compare(small, large).verdict == "contradicted"
    assert compare(small, small).verdict == "inconclusive"
    assert compare_lower(small, large).verdict == "supported"
    assert compare_lower(large, small).verdict == "contradicted"
    assert compare_lower(small, [1.2e8] * 5).verdict == "inconclusive"
    c = compare_lower(small, large)
    assert c.ci == (c.diff, c.diff) == (-3e7, -3e7)
    assert c.sd_a == c.sd_b == 0.0 and math.isnan(c.df)
    assert equivalent([10.0, 10.0], [10.4, 10.4], 0.5).verdict == "supported"
    assert equivalent([10.0, 10.0], [10.6, 10.6], 0.5).verdict == "contradicted"
    assert equivalent([10.0, 10.0], [10.5, 10.5], 0.5).verdict == "inconclusive"  # on the edge


def test_one_zero_spread_side_uses_the_other_sides_degrees_of_freedom():
    c = compare([2.0, 3.0, 4.0, 3.5], [1.0, 1.0, 1.0])
    assert c.df == pytest.approx(3.0)
    half = t_quantile(0.975, 3) * np.std([2.0, 3.0, 4.0, 3.5], ddof=1) / 2
    assert c.ci == pytest.approx((c.diff - half, c.diff + half))


def _hand_welch(a, b, alpha):
    """mean difference -+ t_{1 - alpha/2, df} * sqrt(s_a^2 / n_a + s_b^2 / n_b)."""
    stats = pytest.importorskip("scipy.stats")
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = stats.t.ppf(1 - alpha / 2, df) * math.sqrt(va + vb)
    diff = a.mean() - b.mean()
    return diff - half, diff + half, df


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_welch_interval_equals_the_hand_computation_and_scipy(alpha):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4)
    cases = [(HIGH, LOW), ([70.2, 71.9], [69.0, 69.5, 70.4, 69.8, 70.1])]
    cases += [(rng.normal(74, 0.5, int(rng.integers(2, 8))).tolist(),
               rng.normal(73, 2.0, int(rng.integers(2, 8))).tolist()) for _ in range(10)]
    for a, b in cases:
        c = compare(a, b, alpha=alpha)
        lo, hi, df = _hand_welch(a, b, alpha)
        assert c.ci == pytest.approx((lo, hi), rel=1e-10)
        assert c.df == pytest.approx(df, rel=1e-12)
        ttest = stats.ttest_ind(a, b, equal_var=False)
        if hasattr(ttest, "confidence_interval"):
            ref = ttest.confidence_interval(confidence_level=1 - alpha)
            assert c.ci == pytest.approx((ref.low, ref.high), rel=1e-10)


def test_compare_lower_mirrors_compare():
    rng = np.random.default_rng(5)
    mirrored = {"supported": "contradicted", "contradicted": "supported",
                "inconclusive": "inconclusive"}
    seen = set()
    for shift in (-2.0, -0.3, 0.0, 0.3, 2.0):
        a = rng.normal(74 + shift, 0.5, 3).tolist()
        b = rng.normal(74, 0.5, 4).tolist()
        hi, lo = compare(a, b), compare_lower(a, b)
        assert lo.claim == "a < b"
        assert lo.verdict == mirrored[hi.verdict]
        assert (lo.diff, lo.ci) == (hi.diff, hi.ci)
        assert compare_lower(b, a).verdict == hi.verdict
        seen.add(hi.verdict)
    assert seen == {"supported", "contradicted", "inconclusive"}


# --------------------------------------------------------------------------------------------
# equivalent: "a matches b within m points" (TOST)


def test_samples_within_the_margin_are_supported_as_equivalent():
    c = equivalent([74.1, 74.5, 74.3], [74.2, 74.4, 74.0], 1.0)
    assert c.verdict == "supported"
    assert c.claim == "|a - b| <= 1" and c.margin == 1.0
    assert -1.0 < c.ci_tost[0] < c.ci_tost[1] < 1.0


def test_samples_far_outside_the_margin_contradict_equivalence():
    c = equivalent(HIGH, LOW, 0.2)
    assert c.verdict == "contradicted"
    assert c.ci[0] > 0.2
    assert equivalent(LOW, HIGH, 0.2).verdict == "contradicted"


def test_a_wide_interval_is_inconclusive_for_equivalence():
    c = equivalent([70.0, 74.0, 78.0], [71.0, 75.0, 73.0], 1.0)
    assert c.verdict == "inconclusive"
    assert c.ci_tost[0] < -1.0 and c.ci_tost[1] > 1.0


def test_equivalence_uses_the_90_percent_interval_to_support_and_the_95_to_contradict():
    # a = d + [-1, 0, 1], b = [-1, 0, 1]: sd 1 both sides, df = 4, se = sqrt(2/3)
    se = math.sqrt(2 / 3)
    t90, t95 = t_quantile(0.95, 4) * se, t_quantile(0.975, 4) * se
    base = [-1.0, 0.0, 1.0]

    def shifted(d):
        return [d + v for v in base]

    margin = 3.0
    d = margin - (t90 + t95) / 2  # 90% interval inside (-3, 3), 95% interval reaches past 3
    c = equivalent(shifted(d), base, margin)
    assert c.ci_tost[1] < margin < c.ci[1]
    assert c.verdict == "supported"
    d = margin + (t90 + t95) / 2  # 90% interval above 3, 95% interval reaches below 3
    c = equivalent(shifted(d), base, margin)
    assert c.ci[0] < margin < c.ci_tost[0]
    assert c.verdict == "inconclusive"
    assert c.text.endswith("vs ±3.00 (n = 3 vs 3): inconclusive")
    assert " 90%, [" in c.text and " 95% vs " in c.text


# --------------------------------------------------------------------------------------------
# Coverage and resolution


def test_welch_95_percent_interval_covers_a_zero_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    a = rng.normal(74.0, 1.0, size=(2000, 3))
    b = rng.normal(74.0, 3.0, size=(2000, 3))  # unequal spreads, equal means
    covered = 0
    for x, y in zip(a, b, strict=True):
        lo, hi = compare(x, y).ci
        covered += lo <= 0.0 <= hi
    assert 0.93 <= covered / 2000 <= 0.97


def test_decidable_difference_is_where_the_interval_starts_to_exclude_zero():
    sd = 0.5
    base = [-sd, 0.0, sd]  # sample sd exactly 0.5
    d = decidable_difference(sd, 3)
    assert d == pytest.approx(t_quantile(0.975, 4) * sd * math.sqrt(2 / 3))
    assert d == pytest.approx(1.1335, abs=1e-4)
    assert compare([74 + d * 1.001 + v for v in base], [74 + v for v in base]).verdict == \
        "supported"
    assert compare([74 + d * 0.999 + v for v in base], [74 + v for v in base]).verdict == \
        "inconclusive"
    assert math.isnan(decidable_difference(sd, 1))
    assert decidable_difference(sd, 10) < decidable_difference(sd, 5) < d


# --------------------------------------------------------------------------------------------
# Texts


def test_comparison_text_is_one_line_with_difference_interval_sizes_and_verdict():
    c = compare(HIGH, LOW)
    assert isinstance(c, Comparison)
    lo, hi = c.ci
    assert c.text == f"+1.20 [{lo:.2f}, {hi:.2f}] (n = 3 vs 3): supported"
    assert c.format(1) == f"+1.2 [{lo:.1f}, {hi:.1f}] (n = 3 vs 3): supported"
    assert str(c) == c.text
    with pytest.raises(AttributeError):
        c.verdict = "supported"  # frozen


def test_summary_gives_mean_sample_sd_and_count_as_a_table_cell():
    s = summary([74.1, 74.5, 73.8])
    assert s.n == 3
    assert s.mean == pytest.approx(np.mean([74.1, 74.5, 73.8]))
    assert s.sd == pytest.approx(np.std([74.1, 74.5, 73.8], ddof=1))
    assert s.text == "74.13 ± 0.35 (3)"
    assert summary([74.1, 74.5, 73.8], digits=1).text == "74.1 ± 0.4 (3)"
    one = summary([74.123])
    assert one.n == 1 and math.isnan(one.sd) and one.text == "74.12 (1)"
    assert summary(np.array([2.0, 2.0])).text == "2.00 ± 0.00 (2)"


# --------------------------------------------------------------------------------------------
# Bootstrap intervals of the rank correlations


def _noisy(n=25, seed=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x, x + rng.normal(scale=1.0, size=n)


@pytest.mark.parametrize(("fn", "stat"), [(kendall_ci, kendall_tau), (spearman_ci, spearman_rho)])
def test_bootstrap_estimate_is_the_statistic_and_its_interval_contains_it(fn, stat):
    x, y = _noisy()
    r = fn(x, y, resamples=1000)
    assert r.estimate == stat(x, y)
    assert r.ci[0] < r.estimate < r.ci[1]
    assert -1.0 <= r.ci[0] and r.ci[1] <= 1.0
    assert r.n == 25 and r.resamples == 1000 and r.used == 1000
    assert r.text == f"{r.estimate:.2f} [{r.ci[0]:.2f}, {r.ci[1]:.2f}] (n = 25)"


@pytest.mark.parametrize("fn", [kendall_ci, spearman_ci])
def test_bootstrap_is_reproducible_with_the_same_seed(fn):
    x, y = _noisy()
    assert fn(x, y, resamples=500, seed=3) == fn(x, y, resamples=500, seed=3)
    assert fn(x, y, resamples=500, seed=3).ci != fn(x, y, resamples=500, seed=4).ci


def test_kendall_bootstrap_resamples_match_kendall_tau_one_by_one():
    x, y = _noisy(n=12)
    x = np.round(x)  # ties, and constant resamples to skip
    r = kendall_ci(x, y, resamples=300, seed=1)
    idx = np.random.default_rng(1).integers(0, 12, size=(300, 12))
    values = np.array([kendall_tau(x[i], y[i]) for i in idx])
    values = values[~np.isnan(values)]
    assert r.used == values.size
    assert r.ci == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])))


@pytest.mark.parametrize("fn", [kendall_ci, spearman_ci])
def test_bootstrap_skips_resamples_with_a_constant_side(fn):
    r = fn([1, 2, 3], [3, 1, 2], resamples=400)
    assert 0 < r.used < 400  # e.g. a resample of one pair repeated three times
    assert not math.isnan(r.ci[0])


@pytest.mark.parametrize("fn", [kendall_ci, spearman_ci])
def test_bootstrap_interval_is_undefined_below_three_pairs(fn):
    r = fn([1.0, 2.0], [2.0, 3.0])
    assert r.estimate == 1.0
    assert math.isnan(r.ci[0]) and math.isnan(r.ci[1])
    assert r.text == "1.00 [no interval] (n = 2)"


# --------------------------------------------------------------------------------------------
# Bad input to the claims


@pytest.mark.parametrize("fn", [compare, compare_lower,
                                lambda a, b: equivalent(a, b, 1.0)])
def test_bad_samples_raise_naming_the_value(fn):
    with pytest.raises(ValueError, match=r"a\[1\] is nan"):
        fn([74.0, float("nan")], [73.0, 72.0])
    with pytest.raises(ValueError, match=r"b\[0\] is inf"):
        fn([74.0, 75.0], [float("inf"), 72.0])
    with pytest.raises(ValueError, match="b is empty"):
        fn([74.0, 75.0], [])
    with pytest.raises(ValueError, match=r"a\[2\] is '74.3' \(str\), not a number"):
        fn([74.1, 74.5, "74.3"], [73.0, 72.0])
    with pytest.raises(ValueError, match="a is the string '74.1', not a list of numbers"):
        fn("74.1", [73.0, 72.0])
    with pytest.raises(ValueError, match=r"b\[0\] is None"):
        fn([74.0, 75.0], [None, 72.0])
    with pytest.raises(ValueError, match=r"a\[0\] is True \(bool\)"):
        fn([True, 75.0], [73.0, 72.0])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="compare: alpha must be a number in"):
        compare(HIGH, LOW, alpha=1.5)
    with pytest.raises(ValueError, match="equivalent: alpha must be a number in"):
        equivalent(HIGH, LOW, 1.0, alpha=0.5)
    with pytest.raises(ValueError, match="margin must be a finite number > 0, got -1"):
        equivalent(HIGH, LOW, -1)
    with pytest.raises(ValueError, match=r"summary: values\[1\] is nan"):
        summary([1.0, float("nan")])
    with pytest.raises(ValueError, match="resamples must be an integer >= 1"):
        kendall_ci([1, 2, 3], [1, 2, 3], resamples=0)
    with pytest.raises(ValueError, match="kendall_ci needs at least 2 pairs"):
        kendall_ci([1], [1])
