"""A genome is one value per gene, each drawn from that gene's list of candidates.

The one random draw of a genome used by the whole study: the supernet's per-step sampling
(Phan et al. Alg. 2), the search's initial population and random search, and Phan et al.'s
"Random Group" baseline. Its own module, free of torch and of the search code, so that the
supernet's code fingerprint does not change when the search does.
"""

from __future__ import annotations

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
