"""Rank statistics of paired samples: Kendall's tau-b and Spearman's rho, ties handled.

They relate supernet (one-shot) scores to the accuracies of the same genomes trained standalone:
a good proxy ranks candidates as training does. Plain numpy; the results equal
``scipy.stats.kendalltau`` (variant ``"b"``) and ``scipy.stats.spearmanr``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["kendall_tau", "spearman_rho", "average_ranks"]


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


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall rank correlation tau-b of two paired samples, ties handled.

    ``tau_b = (P - Q) / sqrt((n0 - n1) * (n0 - n2))`` with ``P``/``Q`` the concordant/
    discordant pairs, ``n0 = n(n-1)/2`` and ``n1``/``n2`` the pairs tied in ``x``/``y`` (a pair
    tied in both counts in both), as in ``scipy.stats.kendalltau(variant="b")``.
    Returns NaN when either sample is constant (tau-b is undefined there, as in scipy).
    O(n^2) time and O(n) memory, fine for the hundreds of genomes compared here.
    """
    xa, ya = _paired(x, y, "kendall_tau")
    s, n0, n1, n2 = _kendall_pairs(xa, ya)
    denom = (n0 - n1) * (n0 - n2)
    if denom == 0:
        return float("nan")
    return float(s / math.sqrt(denom))


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


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation of two paired samples, ties given their average rank.

    ``rho = sum(dx * dy) / sqrt(sum(dx^2) * sum(dy^2))`` with ``dx``/``dy`` the deviations of
    the ranks of ``x``/``y`` (`average_ranks`) from their mean: Pearson's correlation of the
    ranks, as ``scipy.stats.spearmanr``. Without ties it equals
    ``1 - 6 * sum(d^2) / (n (n^2 - 1))``, ``d`` the rank differences. Returns NaN when either
    sample is constant (as in scipy).
    """
    xa, ya = _paired(x, y, "spearman_rho")
    dx = average_ranks(xa)
    dy = average_ranks(ya)
    dx -= dx.mean()
    dy -= dy.mean()
    denom = float(np.sum(dx * dx) * np.sum(dy * dy))
    if denom == 0.0:
        return float("nan")
    return float(np.clip(np.sum(dx * dy) / math.sqrt(denom), -1.0, 1.0))
