"""The study's statistics: verdicts on claims from per-seed samples, and rank correlations.

Two groups of functions live here, numpy and the standard library only (no scipy at run time;
the tests check every number against scipy).

Claims about two configurations, judged from per-seed samples
==============================================================

``a`` and ``b`` are per-seed measurements of two configurations (test accuracies in percent,
OPs, memory). Each function returns a `Comparison` whose ``verdict`` is ``"supported"``,
``"contradicted"`` or ``"inconclusive"``:

- `compare(a, b)` judges "a > b" (accuracy): supported when the ``1 - alpha`` confidence
  interval of ``diff = mean(a) - mean(b)`` lies wholly above 0 (``lo > 0``), contradicted when
  it lies wholly below 0 (``hi < 0``), inconclusive otherwise (0 inside or on the interval).
- `compare_lower(a, b)` judges "a < b" (OPs, memory): the mirror image; supported when
  ``hi < 0``, contradicted when ``lo > 0``. Same interval, same ``diff = mean(a) - mean(b)``.
- `equivalent(a, b, margin)` judges "|a - b| <= m", the papers' "comparable", by the standard
  two one-sided tests (TOST) reading: supported when the ``1 - 2 alpha`` interval (90 % for
  alpha = 0.05; reported as ``ci_tost``) lies strictly inside ``(-m, +m)``, which is the same
  as rejecting both "diff <= -m" and "diff >= +m" at level alpha; contradicted when the
  ``1 - alpha`` interval (``ci``) lies wholly outside it (``lo > m`` or ``hi < -m``);
  inconclusive otherwise. All comparisons are strict, so an interval touching a boundary
  (0, or +-m) decides nothing.

The interval: Welch's t interval for a difference of means
-----------------------------------------------------------

With sample means ``mean_a``, ``mean_b``, sample variances ``s_a^2``, ``s_b^2`` (ddof = 1)
and sizes ``n_a``, ``n_b``::

    se = sqrt(s_a^2 / n_a + s_b^2 / n_b)
    df = se^4 / ((s_a^2 / n_a)^2 / (n_a - 1) + (s_b^2 / n_b)^2 / (n_b - 1))   (Welch-Satterthwaite)
    ci = diff -+ t_{1 - alpha/2, df} * se

Welch's interval does not assume the two configurations vary equally from seed to seed (a
wide network is often steadier than a narrow one), and for the few seeds of this study (3 to
5) it is exact enough where a bootstrap is not: a bootstrap of 3 values has only 10 distinct
resampled means and its percentile interval is far too narrow. The Student-t quantile
``t_{p, df}`` (`t_quantile`) is computed here, for real-valued ``df``, by solving
``sf(t) = 1 - p`` with a bracketed Newton iteration, where ``sf(t) = I_x(df/2, 1/2) / 2``,
``x = df / (df + t^2)``, is the upper tail and ``I_x(a, b)`` the regularized incomplete beta
function (continued fraction, modified Lentz; ``math.lgamma``, or Stirling's series for the
ratio ``Gamma(df/2 + 1/2) / Gamma(df/2)`` when ``df >= 40``); it agrees with
``scipy.stats.t.ppf`` to 1e-13 relative for ``df <= 1000`` and 1e-11 up to ``df = 1e6`` (the
study's ``df`` are below 20).

Edge cases:

- Either side with a single sample: no spread can be estimated, so there is no interval;
  ``ci = (nan, nan)`` and the verdict is ``"inconclusive"``. ``diff`` is still the mean
  difference.
- Both sides with zero spread (every value of a side identical, at least 2 values per side):
  ``se = 0`` and the interval degenerates to the point ``(diff, diff)``. Such values are
  deterministic quantities with no sampling noise (OPs and memory do not vary by seed), so the
  difference is known exactly and the verdict follows its sign by the rules above: for
  `compare`, supported when ``diff > 0``, contradicted when ``diff < 0``, inconclusive when
  ``diff == 0``; for `equivalent`, supported when ``|diff| < m``, contradicted when
  ``|diff| > m``. ``df`` is NaN then. The mean of a constant side is its value exactly, so
  identical OPs give ``diff == 0`` exactly. When only one side has zero spread the formula
  applies as written (``df = n - 1`` of the side that varies).
- NaN or infinite values, empty samples, strings or other non-numbers raise ``ValueError``
  naming the function, the sample and the bad value (``compare: a[2] is nan, ...``).

`Comparison.text` is one line: difference, interval, sizes and verdict, e.g.
``"+1.23 [0.40, 2.06] (n = 3 vs 3): supported"`` (``[no interval]`` with a single sample;
an equivalence claim shows its 90 % and 95 % intervals and the margin).

`summary(values)` gives ``mean``, the sample ``sd`` (ddof = 1; NaN for one value) and ``n``
with a table cell ``text`` such as ``"74.12 ± 0.35 (3)"`` (``"74.12 (1)"`` for one value). `decidable_difference(sd, n)` is
the smallest observed difference whose interval excludes 0 with ``n`` seeds per side and
spread ``sd`` on both: ``t_{1 - alpha/2, 2(n-1)} * sd * sqrt(2 / n)`` (Welch's ``df`` is
``2(n - 1)`` when the two spreads are equal).

Rank statistics of paired samples
=================================

`kendall_tau` (tau-b) and `spearman_rho` relate supernet (one-shot) scores to the accuracies
of the same genomes trained standalone: a good proxy ranks candidates as training does. Ties
are handled; the results equal ``scipy.stats.kendalltau`` (variant ``"b"``) and
``scipy.stats.spearmanr``. `kendall_ci` and `spearman_ci` add a percentile bootstrap interval
over pairs: ``resamples`` times, draw ``n`` pairs ``(x_i, y_i)`` with replacement (numpy
``default_rng(seed)``, so the result is reproducible), compute the statistic, and take the
``alpha/2`` and ``1 - alpha/2`` quantiles (numpy's default linear interpolation) of the
values. A resample where either side is constant has no defined statistic (NaN) and is
skipped; ``used`` counts the resamples kept. With fewer than 3 pairs there is no meaningful
resampling and the interval is ``(nan, nan)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Comparison", "Correlation", "Summary",
    "compare", "compare_lower", "equivalent", "summary", "decidable_difference", "t_quantile",
    "kendall_tau", "spearman_rho", "average_ranks", "kendall_ci", "spearman_ci",
]

NAN = float("nan")
SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"


# --------------------------------------------------------------------------------------------
# Student-t quantile (regularized incomplete beta, continued fraction)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta: no convergence for a={a}, b={b}, x={x}")


def _lgamma_half_ratio(a: float) -> float:
    """``ln Gamma(a + 1/2) - ln Gamma(a)``, without the cancellation of two large ``lgamma``
    values when ``a`` is large (Stirling's series, error below 1e-15 for ``a >= 20``)."""
    if a < 20.0:
        return math.lgamma(a + 0.5) - math.lgamma(a)

    def series(z: float) -> float:  # ln Gamma(z) - ((z - 1/2) ln z - z + ln(2 pi) / 2)
        z2 = z * z
        return (1 / 12 - (1 / 360 - (1 / 1260 - 1 / (1680 * z2)) / z2) / z2) / z

    # (a ln(a + 1/2) - (a - 1/2) ln a - 1/2) + series(a + 1/2) - series(a)
    return (a * math.log1p(0.5 / a) - 0.5) + 0.5 * math.log(a) + series(a + 0.5) - series(a)


def _t_sf(t: float, df: float) -> float:
    """Upper tail ``P(T > t)`` of Student's t with ``df`` degrees of freedom, ``t >= 0``:
    ``I_x(df/2, 1/2) / 2`` with ``x = df / (df + t^2)``."""
    if t == 0.0:
        return 0.5
    a, b = df / 2.0, 0.5
    t2 = t * t
    x, y = df / (df + t2), t2 / (df + t2)  # y = 1 - x, computed without cancellation
    # ln(x^a y^b / B(a, b)), B(a, 1/2) = Gamma(a) Gamma(1/2) / Gamma(a + 1/2)
    log_front = (_lgamma_half_ratio(a) - 0.5 * math.log(math.pi)
                 - a * math.log1p(t2 / df) + b * math.log(y))
    if x < (a + 1.0) / (a + b + 2.0):
        return 0.5 * math.exp(log_front) * _betacf(a, b, x) / a
    return 0.5 * (1.0 - math.exp(log_front) * _betacf(b, a, y) / b)


def _t_pdf(t: float, df: float) -> float:
    log_c = _lgamma_half_ratio(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))


def _t_upper(q: float, df: float) -> float:
    """The ``t >= 0`` with ``P(T > t) = q``, ``0 < q < 1/2``: Newton steps inside a bracket
    that bisection shrinks when a step leaves it."""
    lo, hi = 0.0, 1.0
    while _t_sf(hi, df) > q:
        lo, hi = hi, 2.0 * hi
        if hi > 1e300:
            return math.inf
    t = 0.5 * (lo + hi)
    for _ in range(200):
        f = _t_sf(t, df) - q
        if f > 0:
            lo = t
        else:
            hi = t
        pdf = _t_pdf(t, df)
        new = t + f / pdf if pdf > 0 else math.inf
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - t) <= 1e-14 * abs(new) or hi - lo <= 1e-15 * hi:
            return new
        t = new
    return t


def t_quantile(p: float, df: float) -> float:
    """Quantile ``t_{p, df}`` of Student's t distribution, real ``df > 0`` (as
    ``scipy.stats.t.ppf(p, df)``); ``df = inf`` gives the normal quantile.

    Solves ``sf(t) = 1 - p`` for ``p > 1/2`` (and uses the symmetry ``t_p = -t_{1-p}``) by
    Newton steps kept inside a bracket that bisection shrinks when a step leaves it.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"t_quantile needs 0 < p < 1, got {p!r}")
    if not df > 0:
        raise ValueError(f"t_quantile needs df > 0, got {df!r}")
    if p == 0.5:
        return 0.0
    if math.isinf(df):
        from statistics import NormalDist
        return NormalDist().inv_cdf(p)
    if p < 0.5:
        return -_t_upper(p, df)  # the tail probability itself, not 1 - (1 - p)
    return _t_upper(1.0 - p, df)


# --------------------------------------------------------------------------------------------
# Inputs


def _sample(values: Iterable[float], where: str, name: str) -> list[float]:
    """``values`` as a list of finite floats, else a ValueError naming the bad value."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{where}: {name} is the string {values!r}, not a list of numbers")
    if isinstance(values, np.ndarray):
        values = values.ravel().tolist()
    try:
        items = list(values)
    except TypeError:
        raise ValueError(f"{where}: {name} is {values!r} "
                         f"({type(values).__name__}), not a list of numbers") from None
    if not items:
        raise ValueError(f"{where}: {name} is empty; it needs at least one value")
    out = []
    for i, v in enumerate(items):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise ValueError(f"{where}: {name}[{i}] is {v!r} ({type(v).__name__}), "
                             f"not a number")
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"{where}: {name}[{i}] is {f!r}; the values must be finite numbers")
        out.append(f)
    return out


def _mean_sd(x: list[float]) -> tuple[float, float]:
    """Mean and sample sd (ddof = 1, NaN for one value); exact for a constant sample."""
    n = len(x)
    if all(v == x[0] for v in x):
        return x[0], (0.0 if n > 1 else NAN)
    mean = math.fsum(x) / n
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in x) / (n - 1))


def _check_alpha(alpha: float, where: str, upper: float = 1.0) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < upper:
        raise ValueError(f"{where}: alpha must be a number in (0, {upper:g}), got {alpha!r}")
    return float(alpha)


# --------------------------------------------------------------------------------------------
# Summaries


class _Formatted:
    """``text`` and ``str()`` of a result are its ``format()`` with the default digits."""

    @property
    def text(self) -> str:
        return self.format()

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Summary(_Formatted):
    """Mean, sample sd (ddof = 1; NaN for one value) and count of a per-seed sample."""

    mean: float
    sd: float
    n: int
    digits: int = 2

    def format(self, digits: int | None = None) -> str:
        """``"74.12 ± 0.35 (3)"``; ``"74.12 (1)"`` for a single value (no spread)."""
        d = self.digits if digits is None else digits
        if self.n < 2:
            return f"{self.mean:.{d}f} ({self.n})"
        return f"{self.mean:.{d}f} ± {self.sd:.{d}f} ({self.n})"


def summary(values: Iterable[float], digits: int = 2) -> Summary:
    """`Summary` of ``values`` (mean, sample sd, n) with ``text`` like ``"74.12 ± 0.35 (3)"``,
    ``digits`` decimals."""
    x = _sample(values, "summary", "values")
    mean, sd = _mean_sd(x)
    return Summary(mean=mean, sd=sd, n=len(x), digits=digits)


# --------------------------------------------------------------------------------------------
# Claims about two configurations


@dataclass(frozen=True)
class Comparison(_Formatted):
    """The verdict on a claim about two per-seed samples ``a`` and ``b``, with its evidence.

    ``diff = mean_a - mean_b``; ``ci`` is Welch's ``1 - alpha`` interval of ``diff`` (NaNs when
    undefined); ``ci_tost`` the ``1 - 2 alpha`` interval that decides an equivalence claim
    (None for the other claims); ``margin`` that claim's ``m`` (None otherwise); ``se`` and
    ``df`` the standard error and Welch-Satterthwaite degrees of freedom.
    """

    claim: str
    verdict: str
    diff: float
    ci: tuple[float, float]
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    sd_a: float
    sd_b: float
    alpha: float
    method: str
    se: float = NAN
    df: float = NAN
    margin: float | None = None
    ci_tost: tuple[float, float] | None = None

    def format(self, digits: int = 2) -> str:
        """One line: ``"+1.23 [0.40, 2.06] (n = 3 vs 3): supported"``. An equivalence claim
        shows both of its intervals and the margin:
        ``"+0.10 [-0.20, 0.40] 90%, [-0.30, 0.50] 95% vs ±1.00 (n = 3 vs 3): supported"``."""
        d = digits

        def interval(ci: tuple[float, float]) -> str:
            lo, hi = ci
            if math.isnan(lo) or math.isnan(hi):
                return "[no interval]"
            return f"[{lo:.{d}f}, {hi:.{d}f}]"

        if self.margin is None or self.ci_tost is None:
            shown = interval(self.ci)
        elif math.isnan(self.ci[0]):
            shown = f"[no interval] vs ±{self.margin:.{d}f}"
        else:
            shown = (f"{interval(self.ci_tost)} {100 * (1 - 2 * self.alpha):g}%, "
                     f"{interval(self.ci)} {100 * (1 - self.alpha):g}% vs ±{self.margin:.{d}f}")
        return f"{self.diff:+.{d}f} {shown} (n = {self.n_a} vs {self.n_b}): {self.verdict}"


@dataclass(frozen=True)
class _Welch:
    x: list[float]
    y: list[float]
    mean_a: float
    mean_b: float
    sd_a: float
    sd_b: float
    diff: float
    se: float
    df: float

    def interval(self, level: float) -> tuple[float, float]:
        """The two-sided ``level`` interval of ``diff`` (a point when ``se == 0``)."""
        if len(self.x) < 2 or len(self.y) < 2:
            return (NAN, NAN)
        if self.se == 0.0:
            return (self.diff, self.diff)
        half = t_quantile(0.5 + level / 2, self.df) * self.se
        return (self.diff - half, self.diff + half)

    def result(self, claim: str, verdict: str, alpha: float, ci: tuple[float, float],
               **extra) -> Comparison:
        return Comparison(claim=claim, verdict=verdict, diff=self.diff, ci=ci, n_a=len(self.x),
                          n_b=len(self.y), mean_a=self.mean_a, mean_b=self.mean_b,
                          sd_a=self.sd_a, sd_b=self.sd_b, alpha=alpha, method="Welch t",
                          se=self.se, df=self.df, **extra)


def _welch(a: Iterable[float], b: Iterable[float], where: str) -> _Welch:
    x, y = _sample(a, where, "a"), _sample(b, where, "b")
    (mean_a, sd_a), (mean_b, sd_b) = _mean_sd(x), _mean_sd(y)
    diff = mean_a - mean_b
    se = df = NAN
    if len(x) >= 2 and len(y) >= 2:
        va, vb = sd_a ** 2 / len(x), sd_b ** 2 / len(y)
        se = math.sqrt(va + vb)
        if se > 0:
            df = (va + vb) ** 2 / (va ** 2 / (len(x) - 1) + vb ** 2 / (len(y) - 1))
    return _Welch(x, y, mean_a, mean_b, sd_a, sd_b, diff, se, df)


def _sign_verdict(lo: float, hi: float) -> str:
    """"a > b" from the interval of ``mean a - mean b``."""
    if lo > 0:
        return SUPPORTED
    if hi < 0:
        return CONTRADICTED
    return INCONCLUSIVE  # includes (nan, nan)


def compare(a: Iterable[float], b: Iterable[float], *, alpha: float = 0.05) -> Comparison:
    """Judge "a is higher than b" (accuracy) from per-seed samples.

    Supported when Welch's ``1 - alpha`` interval of ``mean(a) - mean(b)`` lies above 0,
    contradicted when below, inconclusive otherwise and whenever a side has one value. See
    the module docstring for the interval and the zero-spread rule.
    """
    alpha = _check_alpha(alpha, "compare")
    w = _welch(a, b, "compare")
    ci = w.interval(1 - alpha)
    return w.result("a > b", _sign_verdict(*ci), alpha, ci)


def compare_lower(a: Iterable[float], b: Iterable[float], *, alpha: float = 0.05) -> Comparison:
    """Judge "a is lower than b" (OPs, memory): supported when the ``1 - alpha`` interval of
    ``mean(a) - mean(b)`` lies below 0, contradicted when above; the mirror of `compare`."""
    alpha = _check_alpha(alpha, "compare_lower")
    w = _welch(a, b, "compare_lower")
    ci = w.interval(1 - alpha)
    mirrored = {SUPPORTED: CONTRADICTED, CONTRADICTED: SUPPORTED}
    verdict = _sign_verdict(*ci)
    return w.result("a < b", mirrored.get(verdict, verdict), alpha, ci)


def equivalent(a: Iterable[float], b: Iterable[float], margin: float, *,
               alpha: float = 0.05) -> Comparison:
    """Judge "a matches b within ``margin`` points" (``|mean a - mean b| <= m``) by TOST.

    Supported when the ``1 - 2 alpha`` interval (``ci_tost``) lies strictly inside
    ``(-margin, +margin)``; contradicted when the ``1 - alpha`` interval (``ci``) lies wholly
    above ``+margin`` or below ``-margin``; inconclusive otherwise and whenever a side has one
    value.
    """
    if (isinstance(margin, bool) or not isinstance(margin, numbers.Real)
            or not (math.isfinite(margin) and margin > 0)):
        raise ValueError(f"equivalent: margin must be a finite number > 0, got {margin!r}")
    margin = float(margin)
    alpha = _check_alpha(alpha, "equivalent", upper=0.5)
    w = _welch(a, b, "equivalent")
    ci = w.interval(1 - alpha)
    ci_tost = w.interval(1 - 2 * alpha)
    if -margin < ci_tost[0] and ci_tost[1] < margin:
        verdict = SUPPORTED
    elif ci[0] > margin or ci[1] < -margin:
        verdict = CONTRADICTED
    else:
        verdict = INCONCLUSIVE  # includes (nan, nan)
    return w.result(f"|a - b| <= {margin:g}", verdict, alpha, ci, margin=margin,
                    ci_tost=ci_tost)


def decidable_difference(sd: float, n: int, *, alpha: float = 0.05) -> float:
    """The smallest observed ``|mean a - mean b|`` whose Welch ``1 - alpha`` interval
    excludes 0 when both sides have ``n`` seeds and sample sd ``sd``:
    ``t_{1 - alpha/2, 2(n-1)} * sd * sqrt(2 / n)``. NaN for ``n < 2`` (no interval)."""
    alpha = _check_alpha(alpha, "decidable_difference")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"decidable_difference: n must be an integer >= 1, got {n!r}")
    if isinstance(sd, bool) or not isinstance(sd, numbers.Real) or not (sd >= 0
                                                                         and math.isfinite(sd)):
        raise ValueError(f"decidable_difference: sd must be a finite number >= 0, got {sd!r}")
    if n < 2:
        return NAN
    return t_quantile(1 - alpha / 2, 2 * (n - 1)) * sd * math.sqrt(2 / n)


# --------------------------------------------------------------------------------------------
# Rank statistics


def _paired(x: Sequence[float], y: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` as float arrays, checked to be finite, paired and at least 2 long."""
    xa = np.asarray(x, dtype=float).ravel()
    ya = np.asarray(y, dtype=float).ravel()
    if xa.size != ya.size:
        raise ValueError(f"{name} needs paired samples of equal length, got {xa.size} "
                         f"and {ya.size}")
    if xa.size < 2:
        raise ValueError(f"{name} needs at least 2 pairs, got {xa.size}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError(f"{name} needs finite values (found NaN or inf)")
    return xa, ya


def _kendall_pairs(x: np.ndarray, y: np.ndarray) -> tuple[int, int, int, int]:
    """(concordant - discordant, pairs, x-tied pairs, y-tied pairs), O(n^2) time, O(n) memory."""
    n = x.size
    s = tx = ty = 0
    for i in range(n - 1):
        dx = np.sign(x[i + 1:] - x[i])
        dy = np.sign(y[i + 1:] - y[i])
        s += int(np.sum(dx * dy))
        tx += int(np.count_nonzero(dx == 0))
        ty += int(np.count_nonzero(dy == 0))
    return s, n * (n - 1) // 2, tx, ty


def _tau_b(x: np.ndarray, y: np.ndarray) -> float:
    s, n0, n1, n2 = _kendall_pairs(x, y)
    denom = (n0 - n1) * (n0 - n2)
    if denom == 0:
        return NAN
    return float(s / math.sqrt(denom))


def _tau_b_rows(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """tau-b of each row pair of ``xs``, ``ys`` (shape ``(r, n)``), vectorised over rows with
    ``n x n`` sign matrices in chunks of about 2 million entries (for the bootstrap); equal
    to `kendall_tau` row by row."""
    r, n = xs.shape
    if n > 1500:  # the n x n matrices would be large; the O(n) memory loop instead
        return np.array([_tau_b(xr, yr) for xr, yr in zip(xs, ys, strict=True)])
    n0 = n * (n - 1) // 2
    out = np.empty(r)
    step = max(1, 2_000_000 // (n * n))
    for start in range(0, r, step):
        xc, yc = xs[start:start + step], ys[start:start + step]
        dx = np.sign(xc[:, :, None] - xc[:, None, :]).astype(np.int8)
        dy = np.sign(yc[:, :, None] - yc[:, None, :]).astype(np.int8)
        s = np.einsum("kij,kij->k", dx, dy, dtype=np.int64) // 2  # each pair counted twice
        n1 = (np.count_nonzero(dx == 0, axis=(1, 2)) - n) // 2  # less the diagonal
        n2 = (np.count_nonzero(dy == 0, axis=(1, 2)) - n) // 2
        denom = (n0 - n1) * (n0 - n2)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start:start + step] = np.where(denom > 0, s / np.sqrt(denom.astype(float)),
                                               np.nan)
    return out


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall rank correlation tau-b of two paired samples, ties handled.

    ``tau_b = (P - Q) / sqrt((n0 - n1) * (n0 - n2))`` with ``P``/``Q`` the concordant/
    discordant pairs, ``n0 = n(n-1)/2`` and ``n1``/``n2`` the pairs tied in ``x``/``y`` (a pair
    tied in both counts in both), as in ``scipy.stats.kendalltau(variant="b")``.
    Returns NaN when either sample is constant (tau-b is undefined there, as in scipy).
    O(n^2) time and O(n) memory, fine for the hundreds of genomes compared here.
    """
    xa, ya = _paired(x, y, "kendall_tau")
    return _tau_b(xa, ya)


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks of ``values``, tied values sharing the mean of their ranks.

    ``average_ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]``, as
    ``scipy.stats.rankdata(method="average")``.
    """
    a = np.asarray(values, dtype=float).ravel()
    order = np.argsort(a, kind="stable")
    ordered = a[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]  # each tie group's first position
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], a.size]  # one past each group's last position
    mean_rank = (starts + 1 + ends) / 2.0  # mean of the ranks starts+1 .. ends
    ranks = np.empty(a.size)
    ranks[order] = mean_rank[np.cumsum(first) - 1]
    return ranks


def _rho(x: np.ndarray, y: np.ndarray) -> float:
    dx = average_ranks(x)
    dy = average_ranks(y)
    dx -= dx.mean()
    dy -= dy.mean()
    denom = float(np.sum(dx * dx) * np.sum(dy * dy))
    if denom == 0.0:
        return NAN
    return float(np.clip(np.sum(dx * dy) / math.sqrt(denom), -1.0, 1.0))


def _rho_rows(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """`spearman_rho` of each row pair of ``xs``, ``ys`` (shape ``(r, n)``)."""
    return np.array([_rho(xr, yr) for xr, yr in zip(xs, ys, strict=True)])


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation of two paired samples, ties given their average rank.

    ``rho = sum(dx * dy) / sqrt(sum(dx^2) * sum(dy^2))`` with ``dx``/``dy`` the deviations of
    the ranks of ``x``/``y`` (`average_ranks`) from their mean: Pearson's correlation of the
    ranks, as ``scipy.stats.spearmanr``. Without ties it equals
    ``1 - 6 * sum(d^2) / (n (n^2 - 1))``, ``d`` the rank differences. Returns NaN when either
    sample is constant (as in scipy).
    """
    xa, ya = _paired(x, y, "spearman_rho")
    return _rho(xa, ya)


@dataclass(frozen=True)
class Correlation(_Formatted):
    """A rank correlation with its percentile bootstrap interval over pairs.

    ``estimate`` is the statistic of the sample itself; ``ci`` the ``1 - alpha`` interval
    ((nan, nan) for fewer than 3 pairs or when no resample had a defined statistic);
    ``used`` the resamples kept of ``resamples`` (those where neither side was constant).
    """

    statistic: str
    estimate: float
    ci: tuple[float, float]
    n: int
    alpha: float
    resamples: int
    used: int
    seed: int
    method: str = "percentile bootstrap over pairs"

    def format(self, digits: int = 2) -> str:
        """``"0.62 [0.31, 0.85] (n = 20)"``."""
        lo, hi = self.ci
        interval = ("[no interval]" if math.isnan(lo) or math.isnan(hi)
                    else f"[{lo:.{digits}f}, {hi:.{digits}f}]")
        return f"{self.estimate:.{digits}f} {interval} (n = {self.n})"


def _bootstrap(stat, stat_rows, name: str, label: str, x, y, alpha: float, resamples: int,
               seed: int) -> Correlation:
    xa, ya = _paired(x, y, name)
    alpha = _check_alpha(alpha, name)
    if isinstance(resamples, bool) or not isinstance(resamples, numbers.Integral) \
            or resamples < 1:
        raise ValueError(f"{name}: resamples must be an integer >= 1, got {resamples!r}")
    estimate = stat(xa, ya)
    n = xa.size
    if n < 3:
        return Correlation(label, estimate, (NAN, NAN), n, alpha, int(resamples), 0, seed)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(int(resamples), n))
    values = stat_rows(xa[idx], ya[idx])
    values = values[~np.isnan(values)]  # resamples with a constant side: undefined, skipped
    if values.size == 0:
        ci = (NAN, NAN)
    else:
        lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
        ci = (float(lo), float(hi))
    return Correlation(label, estimate, ci, n, alpha, int(resamples), int(values.size), seed)


def kendall_ci(x: Sequence[float], y: Sequence[float], *, alpha: float = 0.05,
               resamples: int = 2000, seed: int = 0) -> Correlation:
    """`kendall_tau` of ``x`` and ``y`` with a percentile bootstrap ``1 - alpha`` interval
    over pairs (module docstring); seeded, so reproducible; (nan, nan) for ``n < 3``."""
    return _bootstrap(_tau_b, _tau_b_rows, "kendall_ci", "Kendall tau-b", x, y, alpha, resamples, seed)


def spearman_ci(x: Sequence[float], y: Sequence[float], *, alpha: float = 0.05,
                resamples: int = 2000, seed: int = 0) -> Correlation:
    """`spearman_rho` of ``x`` and ``y`` with a percentile bootstrap ``1 - alpha`` interval
    over pairs (module docstring); seeded, so reproducible; (nan, nan) for ``n < 3``."""
    return _bootstrap(_rho, _rho_rows, "spearman_ci", "Spearman rho", x, y, alpha, resamples, seed)
