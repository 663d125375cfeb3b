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
