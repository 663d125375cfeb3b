"""Fitness functions and constraints of the searches: the papers' ones and the convention they
follow.

*Convention* (what `bnnlib.search` accepts, checked by `split_fitness` and `constraint_answer`):
``fitness(genome)`` returns either a real number or a ``(number, dict)`` pair whose dict holds
extra metrics (e.g. ``{"acc": ..., "ops": ...}``, stored in the search's history and log);
higher is better; NaN is an error. ``constraint(genome)`` returns a boolean (Python, numpy or a
0-d torch bool). A string, bool or ``None`` fitness, or a non-boolean constraint answer, is a
``TypeError`` rather than silently converted.

*Phan et al. 2020*, section 3.2: maximise the candidate's accuracy
``Accuracy(W, G)`` (Algorithm 1) subject to the budget of eq. 5, ``FLOP(W, G) <= FLOP_max``
(the MaxFLOPs of Table 2): `accuracy_under_budget`, built from `accuracy_fitness` and
`budget_constraint` (an `OpsBudget`).

*Shen et al. 2019*, eq. 4: ``f = max(Acc - lambda * FLOPs / FLOPs_ref, 0)`` with
``lambda = 4``, accuracy in percent and FLOPs normalised by those of the 1x binary model, no
hard budget: `shen_fitness` (the formula) and `shen_fitness_fn` (the search's fitness).
"""

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .search_state import jsonable, type_name

__all__ = [
    "OpsBudget",
    "budget_constraint",
    "accuracy_fitness",
    "accuracy_under_budget",
    "shen_fitness",
    "shen_fitness_fn",
    "split_fitness",
    "constraint_answer",
]

Genome = tuple


# --------------------------------------------------------------------------------------------
# The convention: what a fitness and a constraint may return


def _fitness_type_error(genome: Genome, out: Any) -> TypeError:
    return TypeError(f"fitness({genome}) returned {out!r} ({type_name(out)}); expected a "
                     "real number or a (number, dict) pair (numpy and torch scalars count)")


def _real(value: Any, genome: Genome) -> float:
    """``value`` as a float if it is a real number; strings, bools and None are refused.

    ``float()`` alone would accept ``"0.5"`` and ``True``, which hide a broken fitness.
    """
    number = value
    if hasattr(number, "item") and not isinstance(number, numbers.Number):
        try:
            number = number.item()  # numpy / torch scalars and one-element arrays
        except (TypeError, ValueError):
            pass
    elif isinstance(number, np.generic):
        number = number.item()
    if isinstance(number, bool) or not isinstance(number, numbers.Real | decimal.Decimal):
        raise _fitness_type_error(genome, value)
    return float(number)


def split_fitness(out: Any, genome: Genome) -> tuple[float, dict]:
    """``(value, extras)`` from what ``fitness(genome)`` returned, extras as plain JSON.

    Raises ``TypeError`` for anything but a real number or a ``(number, dict)`` pair and
    ``ValueError`` for NaN, both naming the genome.
    """
    extras: Any = {}
    if isinstance(out, tuple | list):
        if len(out) != 2 or not isinstance(out[1], dict):
            raise _fitness_type_error(genome, out)
        out, extras = out
    value = _real(out, genome)
    if math.isnan(value):
        raise ValueError(f"fitness({genome}) returned NaN; return a number (e.g. 0 or -inf "
                         "for a failed candidate)")
    return value, jsonable(extras)


def constraint_answer(answer: Any, genome: Genome) -> bool:
    """A constraint's answer, which must be a boolean: a truthy ``"no"`` must not pass."""
    if isinstance(answer, bool | np.bool_):
        return bool(answer)
    if str(getattr(answer, "dtype", "")) in ("bool", "torch.bool") and \
            getattr(answer, "ndim", None) == 0:
        return bool(answer.item())  # 0-d numpy / torch booleans, e.g. ``ops <= limit``
    raise TypeError(f"constraint({genome}) returned {answer!r} ({type_name(answer)}); "
                    "expected True or False")


# --------------------------------------------------------------------------------------------
# Phan et al. 2020: accuracy under a FLOP budget


class OpsBudget:
    """Seed 000's budget constraint ``ops(genome) <= max_ops`` (eq. 5, FLOP(W, G) <= FLOP_max).

    Callable: ``budget(genome) -> bool``. It also exposes ``cost(genome)`` and ``limit`` so
    that a search whose budget cannot be met reports the lowest cost it saw. ``ops_fn`` results
    are cached per genome (a hook-based counter runs a forward pass, and rejection sampling
    asks about the same genome more than once).
    """

    def __init__(self, ops_fn: Callable[[Genome], float], max_ops: float):
        if not callable(ops_fn):
            raise ValueError(f"ops_fn must be callable, got {ops_fn!r}")
        if isinstance(max_ops, bool) or not isinstance(max_ops, numbers.Real) or \
                not max_ops > 0:
            raise ValueError(f"max_ops must be a positive number of OPs, got {max_ops!r}")
        self.ops_fn = ops_fn
        self.max_ops = float(max_ops)
        self._cache: dict[tuple, float] = {}

    @property
    def limit(self) -> float:
        return self.max_ops

    def cost(self, genome: Sequence) -> float:
        key = tuple(genome)
        if key not in self._cache:
            self._cache[key] = float(self.ops_fn(key))
        return self._cache[key]

    def __call__(self, genome: Sequence) -> bool:
        return self.cost(genome) <= self.max_ops

    def __repr__(self) -> str:
        return f"OpsBudget(ops_fn={self.ops_fn!r}, max_ops={self.max_ops:g})"


def budget_constraint(ops_fn: Callable[[Genome], float], max_ops: float) -> OpsBudget:
    """The constraint ``ops_fn(genome) <= max_ops`` as a callable (Phan et al. eq. 5)."""
    return OpsBudget(ops_fn, max_ops)


def accuracy_fitness(evaluate: Callable[[Genome], float],
                     ops_fn: Callable[[Genome], float] | None = None) -> Callable:
    """Seed 000's fitness: the candidate's accuracy, ``f(G) = Accuracy(W, G)`` in Algorithm 1.

    Returns ``fitness(genome) -> (acc, {"acc": acc, "ops": ops})`` (``ops`` only when
    ``ops_fn`` is given, so the history records the cost beside the accuracy).
    """
    if not callable(evaluate):
        raise ValueError(f"evaluate must be callable, got {evaluate!r}")

    def fitness(genome: Genome) -> tuple[float, dict]:
        acc = float(evaluate(genome))
        extras = {"acc": acc}
        if ops_fn is not None:
            extras["ops"] = float(ops_fn(genome))
        return acc, extras

    return fitness


def accuracy_under_budget(evaluate: Callable[[Genome], float],
                          ops_fn: Callable[[Genome], float],
                          max_ops: float) -> tuple[Callable, OpsBudget]:
    """Seed 000's search objective: ``max Accuracy(W, G)`` subject to ``ops(G) <= max_ops``.

    Returns ``(fitness, constraint)`` to pass to `bnnlib.search.evolutionary_search` /
    `bnnlib.search.random_search`; the fitness records ``acc`` and ``ops`` (from the
    constraint's cache, so ops are counted once per genome).
    """
    constraint = budget_constraint(ops_fn, max_ops)
    return accuracy_fitness(evaluate, constraint.cost), constraint


# --------------------------------------------------------------------------------------------
# Shen et al. 2019: accuracy minus a FLOP penalty, eq. 4


def shen_fitness(acc: float, ops: float, ops_ref: float, lam: float = 4.0) -> float:
    """Seed 001 eq. 4: ``f = max(Acc - lambda * FLOPs / FLOPs_ref, 0)``, ``lambda = 4``.

    ``acc`` is the top-1 accuracy **in percent** (0-100); ``ops`` the candidate's OPs (binary
    MACs / 64 + real MACs) and ``ops_ref`` those of the 1x binary model ("we divide the FLOPs of
    the candidate models by the FLOPs of original binary network to get the same order of
    magnitude of accuracy").

    Why percent: with accuracy as a fraction in [0, 1] and lambda = 4, every candidate with
    ``ops / ops_ref >= 0.25`` would score 0 (all of the paper's models are at 0.86x-12x the
    reference), and the search would see a flat landscape. In percent the paper's own rows give
    sensible, ordered fitnesses: VGG-Auto-A 92.17 - 4 * 11.3/13.2 = 88.8 beats Uniform-1x
    (86.2) and Uniform-4x (42.3); Res18-Auto-A 68.64 - 4 * 495/149 = 55.3 beats Uniform-2x
    (54.6) and Uniform-3x (52.2). So lambda = 4 means each extra 1x of reference OPs costs 4
    accuracy points, which is "comparable" in the paper's sense.
    """
    for name, value in (("acc", acc), ("ops", ops), ("ops_ref", ops_ref), ("lam", lam)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not 0.0 <= acc <= 100.0:
        raise ValueError(f"acc must be a top-1 accuracy in percent (0-100), got {acc!r}")
    if ops < 0:
        raise ValueError(f"ops must be >= 0, got {ops!r}")
    if ops_ref <= 0:
        raise ValueError(f"ops_ref (OPs of the 1x binary model) must be > 0, got {ops_ref!r}")
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam!r}")
    return max(float(acc) - float(lam) * float(ops) / float(ops_ref), 0.0)


def shen_fitness_fn(evaluate: Callable[[Genome], float],
                    ops_fn: Callable[[Genome], float],
                    ops_ref: float,
                    lam: float = 4.0,
                    acc_unit: str = "fraction") -> Callable:
    """Seed 001's fitness callable from an evaluator and an OPs counter (eq. 4).

    ``evaluate(genome)`` returns the candidate's validation accuracy, as a fraction in [0, 1]
    (``acc_unit="fraction"``, the default, what a torch evaluator usually returns) or in
    percent (``acc_unit="percent"``); it is converted to percent for eq. 4 (see
    `shen_fitness` for why). Returns ``fitness(genome) -> (f, {"acc", "ops", "ops_norm"})``
    with ``acc`` as ``evaluate`` returned it.
    """
    if acc_unit not in ("fraction", "percent"):
        raise ValueError(f"acc_unit must be 'fraction' or 'percent', got {acc_unit!r}")
    if not callable(evaluate) or not callable(ops_fn):
        raise ValueError("evaluate and ops_fn must both be callables of a genome")
    shen_fitness(0.0, 0.0, ops_ref, lam)  # validates ops_ref and lam now, not mid-search
    scale = 100.0 if acc_unit == "fraction" else 1.0

    def fitness(genome: Genome) -> tuple[float, dict]:
        acc = float(evaluate(genome))
        if acc_unit == "fraction" and not 0.0 <= acc <= 1.0:
            raise ValueError(f"evaluate returned acc={acc!r} for genome {genome}, outside "
                             "[0, 1]; pass acc_unit='percent' if it returns percent")
        ops = float(ops_fn(genome))
        value = shen_fitness(acc * scale, ops, ops_ref, lam)
        return value, {"acc": acc, "ops": ops, "ops_norm": ops / float(ops_ref)}

    return fitness
