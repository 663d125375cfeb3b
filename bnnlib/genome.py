"""A genome is one value per gene, each drawn from that gene's list of candidates.

The one random draw of a genome used by the whole study: the supernet's per-step sampling
(Phan et al. Alg. 2), the search's initial population and random search, and Phan et al.'s
"Random Group" baseline. Its own module, free of torch and of the search code, so that the
supernet's code fingerprint does not change when the search does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def random_genome(choices: Sequence[Sequence[Any]], rng: np.random.Generator) -> tuple:
    """A uniformly random genome: gene ``j`` is ``choices[j][rng.integers(len(choices[j]))]``.

    The genes are drawn in order, one ``rng.integers`` call each (a gene with one candidate
    draws nothing from the stream). With ``choices = [range(n) for n in sizes]`` it gives
    index genomes.
    """
    return tuple(c[int(rng.integers(len(c)))] for c in choices)


def random_draws(choices: Sequence[Sequence[Any]], accept, rng: np.random.Generator, n: int,
                 *, max_tries: int = 20_000, what: str = "genomes") -> list[tuple]:
    """``n`` distinct uniformly random genomes for which ``accept(genome)`` is true.

    Rejection sampling with :func:`random_genome`: the accepted genomes are uniform over the
    accepted part of the space. Raises ``ValueError`` naming ``what`` when fewer than ``n``
    are found in ``max_tries`` draws (the condition is too narrow for the space).
    """
    found: list[tuple] = []
    for _ in range(max_tries):
        genome = random_genome(choices, rng)
        if genome not in found and accept(genome):
            found.append(genome)
            if len(found) == n:
                return found
    raise ValueError(f"found only {len(found)} of {n} {what} in {max_tries} random draws; "
                     "the condition accepts too small a part of the search space")


def random_near(choices: Sequence[Sequence[Any]], ops, target: float, tolerance: float,
                rng: np.random.Generator, *, max_steps: int = 400) -> tuple:
    """A random genome whose ``ops(genome)`` is within ``tolerance`` (relative) of ``target``.

    A uniformly random genome (:func:`random_genome`) is moved one candidate at a time, each
    step in a random gene that can move towards ``target`` (a smaller candidate while the OPs
    are above the band, a larger one while below), until its OPs are in the band. Rejection
    sampling would take too many draws where ``target`` lies in a tail of the OPs
    distribution (a searched model at a strong OPs penalty). Each gene's candidates must be
    listed in ascending cost (the widths study's expansion ratios are). After ``max_steps`` steps the genome closest to ``target``
    seen is returned: the caller's record shows its OPs.
    """
    index = [int(rng.integers(len(c))) for c in choices]
    best, best_gap = None, math.inf
    for _ in range(max_steps):
        genome = tuple(c[i] for c, i in zip(choices, index, strict=True))
        gap = ops(genome) / target - 1
        if abs(gap) < best_gap:
            best, best_gap = genome, abs(gap)
        if abs(gap) <= tolerance:
            return genome
        step = -1 if gap > 0 else 1
        movable = [j for j, i in enumerate(index) if 0 <= i + step < len(choices[j])]
        if not movable:
            break
        index[movable[int(rng.integers(len(movable)))]] += step
    return best
