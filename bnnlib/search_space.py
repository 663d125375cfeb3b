"""The inputs of `bnnlib.search`, checked: the search space and the numeric arguments.

A search space is one list of candidate values per gene (ints for group counts, floats for
expansion ratios; numpy and torch scalars accepted), each non-empty and without repeats.
`Space` converts between genomes of values and *index genomes* (tuples of candidate indices,
what the genetic operators work on) and answers the constraint, caching its refusals.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .checks import check_int
from .fitness import constraint_answer

__all__ = ["Space", "check_choices", "check_evolution", "scalar"]

Index = tuple[int, ...]  # a genome as candidate indices


def scalar(value: Any, where: str) -> int | float:
    """A plain Python int/float from a candidate value (numpy and torch scalars accepted)."""
    if hasattr(value, "item") and not isinstance(value, numbers.Number):
        value = value.item()  # 0-d numpy arrays, torch scalars
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where}: candidate {value!r} is not a number (ints for group "
                         "counts, floats for expansion ratios)")
    if isinstance(value, numbers.Integral):
        return int(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}: candidate {value!r} is not finite")
    return value


def check_choices(choices: Sequence[Sequence[Any]]) -> list[list[int | float]]:
    """``choices`` as lists of plain numbers, one per gene, each non-empty and distinct."""
    if isinstance(choices, str | bytes) or not isinstance(choices, Sequence):
        raise ValueError(f"choices must be a list (one entry per gene) of candidate lists, "
                         f"got {type(choices).__name__}")
    if len(choices) == 0:
        raise ValueError("choices is empty: give one list of candidate values per gene")
    checked = []
    for i, gene in enumerate(choices):
        if isinstance(gene, str | bytes) or not isinstance(gene, Sequence | np.ndarray):
            raise ValueError(f"choices[{i}] must be a list of candidate values, "
                             f"got {gene!r}")
        values = [scalar(v, f"choices[{i}]") for v in gene]
        if not values:
            raise ValueError(f"choices[{i}] has no candidates: every gene needs at least one")
        if len(set(values)) != len(values):
            raise ValueError(f"choices[{i}] = {values} repeats a candidate; candidates of a "
                             "gene must be distinct (duplicates would defeat de-duplication)")
        checked.append(values)
    return checked


def check_evolution(population, topk, crossovers, mutations, iterations, mutation_prob,
                    mutate_from, seed, max_tries) -> tuple:
    """`bnnlib.search.evolutionary_search`'s arguments, checked, as plain Python values.

    Returns ``(population, topk, crossovers, mutations, iterations, mutation_prob, seed,
    max_tries, mutate_from)``.
    """
    population = check_int("population", population, 1)
    topk = check_int("topk", topk, 1)
    if topk > population:
        raise ValueError(f"topk={topk} must be <= population={population}: the elite is "
                         "taken from the evaluated genomes")
    crossovers = check_int("crossovers", crossovers, 0)
    mutations = check_int("mutations", mutations, 0)
    iterations = check_int("iterations", iterations, 1)
    if iterations > 1 and crossovers + mutations == 0:
        raise ValueError("crossovers + mutations must be >= 1 when iterations > 1 (they are "
                         "the next population)")
    if crossovers > 0 and topk < 2:
        raise ValueError(f"crossovers={crossovers} need topk >= 2 (two distinct parents), "
                         f"got topk={topk}")
    if isinstance(mutation_prob, bool) or not isinstance(mutation_prob, numbers.Real) or \
            not 0.0 <= mutation_prob <= 1.0:
        raise ValueError(f"mutation_prob must be a probability in [0, 1], got "
                         f"{mutation_prob!r}")
    if mutate_from not in ("topk", "crossover"):
        raise ValueError(f"mutate_from must be 'topk' or 'crossover', got {mutate_from!r}")
    seed = check_int("seed", seed, 0)
    if max_tries is not None:
        max_tries = check_int("max_tries", max_tries, 1)
    return (population, topk, crossovers, mutations, iterations, float(mutation_prob), seed,
            max_tries, mutate_from)


class Space:
    """The genes' candidates (index <-> value genomes) and the constraint, its answers cached."""

    def __init__(self, choices: Sequence[Sequence[Any]], constraint: Callable | None):
        self.choices = check_choices(choices)
        self.sizes = np.array([len(c) for c in self.choices], dtype=np.int64)
        self.ranges = [range(len(c)) for c in self.choices]
        self.size = math.prod(len(c) for c in self.choices)  # distinct genomes
        self._index = [{v: i for i, v in enumerate(c)} for c in self.choices]
        self.constraint = constraint
        # a cache only: constraint answers are deterministic, and every proposal counts as a
        # try whether answered from here or not, so it does not change the random stream
        self._infeasible: set[Index] = set()

    def values(self, idx: Index) -> tuple:
        """The genome (candidate values) of an index genome."""
        return tuple(self.choices[j][i] for j, i in enumerate(idx))

    def indices(self, genome: Sequence) -> Index:
        """The index genome of a genome of candidate values (``KeyError`` if not one)."""
        return tuple(self._index[j][scalar(v, f"gene {j}")] for j, v in enumerate(genome))

    def feasible(self, idx: Index, costs: list[float]) -> bool:
        """Whether ``idx`` meets the constraint (its cost, if it has one, goes to ``costs``)."""
        if self.constraint is None:
            return True
        if idx in self._infeasible:
            return False
        genome = self.values(idx)
        if hasattr(self.constraint, "cost"):
            costs.append(float(self.constraint.cost(genome)))
        ok = constraint_answer(self.constraint(genome), genome)
        if not ok:
            self._infeasible.add(idx)
        return ok
