"""Evolutionary architecture search, its random-search baseline, fitness helpers and Kendall tau.

The search works on *genomes*: one value per gene, each drawn from that gene's candidate list
(`choices`). For the groups study a gene is the number of groups of one binary 3x3 conv (the
divisors of its input channels); for the widths study a gene is one expansion ratio in
{0.25, 0.5, 1, 2, 3, 4}. The search knows nothing about networks: the accuracy model and the
cost model are plain callables, as in Once-for-all's evolution finder.

Algorithm (Phan et al. 2020, seed 000, Algorithm 1 "Evolutionary Search for Group Convolution",
section 3.2.1; the same loop as SPOS, which that paper follows), as implemented here; where
this differs from the printed algorithm the list below says so::

    G <- Sample_Candidates(S, F)        # `population` distinct genomes with FLOP(G) <= F
    for i = 1 .. maxIteration:
        Fitness <- Accuracy(W, G)       # evaluate the new genomes
        K <- Select_TopK(Fitness, K)    # elitist: top-K over every genome evaluated so far
        C <- Crossover(K, C)            # `crossovers` children, uniform crossover
        M <- Mutation(K, M)             # `mutations` children, >= 1 gene changed
        G <- C u M

Choices made where the papers are silent or loose (each is also stated where it is coded):

- *Iterations* count evaluation rounds, as in Algorithm 1 (line 3 runs once per iteration):
  the initial population is evaluated in iteration 0 and no children are bred after the last
  round, so a run evaluates ``population + (iterations - 1) * (crossovers + mutations)``
  genomes at most (1000 with the paper's 50 / 25 / 25 / 20).
- *Elitism*: Algorithm 1 takes the top-K of the current population only; as the issue asks
  (and as SPOS does) we take the top-K over everything evaluated so far, so the best genome
  found is never lost. Ties keep the earlier evaluation.
- *Mutation parents*: Algorithm 1 writes ``Mutation(C, M)``; SPOS mutates the top-K. The
  default ``mutate_from="topk"`` follows SPOS; ``mutate_from="crossover"`` mutates this
  iteration's crossover children (falling back to the top-K when there are none).
- *Mutation*: each gene, with probability ``mutation_prob``, takes a uniformly drawn
  *different* candidate; if no gene changed, one random gene (among those with >= 2
  candidates) is forced to a different candidate. So a mutant always differs from its parent.
- *Crossover*: two distinct parents drawn uniformly from the top-K; each gene copied from one
  of them with probability 1/2.
- *Constraint* (seed 000 eq. 5, ``FLOP(W, G) <= FLOP_max``) is checked before any evaluation,
  on every proposal. *No genome is evaluated twice* in a run: a proposal equal to any genome
  already evaluated or already queued is rejected.
- *Bounded tries*: each batch (the initial population, the crossover children, the mutation
  children, a top-up) may make at most ``max_tries`` proposals (default
  ``max(1000, 100 * batch size)``). The initial population must be filled, or a ``ValueError``
  names the budget problem (tries, feasible genomes found, the lowest cost seen when the
  constraint exposes ``cost``). When children run short (a converged elite breeds crossovers
  that were all seen before), the shortfall is filled first with extra mutants of the top-K,
  then with uniformly random feasible, never-evaluated genomes (``source="random"``, with a
  warning); if even that runs short the iteration proceeds with fewer genomes (warned). Every
  shortfall is recorded in ``SearchResult.notes``; an iteration that cannot produce a single
  new genome ends the search (space exhausted).
- *Determinism*: one ``numpy.random.Generator`` (PCG64 from ``seed``) drives every draw; no
  global RNG. Fitness calls happen after a whole batch is drawn, so they do not shift the
  stream.
- *Resume*: with ``state_path`` the state (history, the queued batch, RNG state, iteration) is
  written as JSON atomically (temporary file + ``os.replace``) after each batch is drawn and
  after each evaluation. Re-running with the same arguments evaluates only what is missing and
  ends with exactly the result of an uninterrupted run (given a deterministic fitness). The
  search arguments cannot tell whether the *fitness* changed (other supernet weights, another
  budget, another evaluator), so the caller may pass ``context``, a JSON-able dict of
  everything else the fitness depends on; it is stored in the state and compared on resume
  (after JSON normalisation). A state written with other arguments or another context (its
  format ``version`` included) is refused with `StateMismatchError`, which lists each
  differing (dotted) key as ``key now != saved in state``; ``iterations`` may be raised to
  extend a run. A state file that is cut short or not a search state raises
  ``bnnlib.utils.CorruptFileError``. Either way, deleting the file starts the search over.
- *Fitness convention*: ``fitness(genome)`` returns either a number or a ``(number, dict)``
  pair whose dict holds extra metrics (e.g. ``{"acc": ..., "ops": ...}``); the extras are
  stored in the history and the log. Higher is better. A NaN fitness is an error.

Seed 001 (Shen et al. 2019, "Search Algorithm" and "Experimental Settings") uses the same kind
of loop with 32 individuals for 50 generations and the fitness of eq. 4; it does not give its
crossover/mutation split, so e.g. ``population=32, crossovers=16, mutations=16, iterations=50``
is a faithful setting (see `shen_fitness`).
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import numbers
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .fingerprint import canonical, describe
from .utils import CorruptFileError, atomic_write_bytes

__all__ = [
    "Evaluation",
    "SearchResult",
    "StateMismatchError",
    "OpsBudget",
    "evolutionary_search",
    "random_search",
    "budget_constraint",
    "accuracy_fitness",
    "accuracy_under_budget",
    "shen_fitness",
    "shen_fitness_fn",
    "kendall_tau",
]

Genome = tuple
STATE_VERSION = 1


class StateMismatchError(ValueError):
    """A state file was written by a search with other arguments, context or format version.

    Resuming it would mix two different searches; delete the file to start over. ``detail``
    lists what differs (``population 4 != 16 in state``), for a caller that starts over.
    """

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail or message


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Evaluation:
    """One evaluated genome.

    ``iteration`` is the evaluation round (0 = initial population); ``source`` says how the
    genome was made: ``"init"``, ``"crossover"``, ``"mutation"`` or ``"random"`` (random
    search, or a top-up when children ran short); ``extras`` holds the metrics the fitness returned beside the
    fitness value.
    """

    genome: Genome
    fitness: float
    iteration: int
    source: str
    extras: dict = field(default_factory=dict)


@dataclass
class SearchResult:
    """What a search returns.

    ``best`` is the genome (a tuple of chosen values) with the highest fitness, the earliest
    on ties; ``history`` lists every evaluated genome in evaluation order; ``topk`` the final
    elite (best first); ``notes`` the shortfalls and early stops met on the way.
    """

    best: Genome
    best_fitness: float
    history: list[Evaluation]
    topk: list[Genome]
    notes: list[str] = field(default_factory=list)

    @property
    def evaluations(self) -> int:
        """Number of evaluated genomes (the budget a random search should be given)."""
        return len(self.history)

    def to_frame(self):
        """The history as a pandas DataFrame, one row per evaluation.

        Columns: ``evaluation`` (0-based order), ``iteration``, ``source``, ``fitness``,
        ``best_so_far`` (running maximum, for convergence plots), ``genome`` (tuple), one
        column per gene ``g0 .. g{n-1}``, then one column per extras key.
        """
        import pandas as pd

        rows = []
        for i, ev in enumerate(self.history):
            row = {
                "evaluation": i,
                "iteration": ev.iteration,
                "source": ev.source,
                "fitness": ev.fitness,
                "genome": ev.genome,
            }
            row.update({f"g{j}": v for j, v in enumerate(ev.genome)})
            for key, value in ev.extras.items():
                row[key if key not in row else f"extra_{key}"] = value
            rows.append(row)
        frame = pd.DataFrame(rows)
        if len(frame):
            frame.insert(4, "best_so_far", frame["fitness"].cummax())
        return frame


# --------------------------------------------------------------------------------------------
# Input checks


def _scalar(value: Any, where: str) -> int | float:
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


def _check_choices(choices: Sequence[Sequence[Any]]) -> list[list[int | float]]:
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
        values = [_scalar(v, f"choices[{i}]") for v in gene]
        if not values:
            raise ValueError(f"choices[{i}] has no candidates: every gene needs at least one")
        if len(set(values)) != len(values):
            raise ValueError(f"choices[{i}] = {values} repeats a candidate; candidates of a "
                             "gene must be distinct (duplicates would defeat de-duplication)")
        checked.append(values)
    return checked


def _check_int(name: str, value: Any, low: int, what: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}{what}, got {value!r}")
    return int(value)


def _space_size(sizes: Sequence[int]) -> int:
    return math.prod(sizes)


# --------------------------------------------------------------------------------------------
# Genetic operators on index genomes (tuples of candidate indices)


def _random_genome(sizes: np.ndarray, rng: np.random.Generator) -> tuple[int, ...]:
    return tuple(int(i) for i in rng.integers(0, sizes))


def _crossover(a: tuple[int, ...], b: tuple[int, ...],
               rng: np.random.Generator) -> tuple[int, ...]:
    """Uniform crossover: each gene from parent ``a`` or ``b`` with probability 1/2."""
    take_a = rng.random(len(a)) < 0.5
    return tuple(x if t else y for x, y, t in zip(a, b, take_a, strict=True))


def _mutate(parent: tuple[int, ...], sizes: np.ndarray, prob: float,
            rng: np.random.Generator) -> tuple[int, ...]:
    """Mutation that always changes the genome.

    Each gene with at least two candidates is, with probability ``prob``, replaced by a
    uniformly drawn *different* candidate. If none changed, one random such gene is forced to
    change. Requires at least one gene with two or more candidates.
    """
    mutable = np.flatnonzero(sizes > 1)
    if mutable.size == 0:
        raise ValueError("mutation needs a gene with at least two candidates")
    child = list(parent)
    hit = rng.random(len(parent)) < prob
    changed = False
    for j in mutable:
        if hit[j]:
            # shift by 1..size-1 so the new candidate is uniform over the other ones
            child[j] = (child[j] + int(rng.integers(1, sizes[j]))) % int(sizes[j])
            changed = True
    if not changed:
        j = int(mutable[rng.integers(0, mutable.size)])
        child[j] = (child[j] + int(rng.integers(1, sizes[j]))) % int(sizes[j])
    return tuple(child)


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
    tied in both counts in both), as in ``scipy.stats.kendalltau(variant="b")``. Used to relate
    supernet (one-shot) scores to the accuracies of the same genomes trained standalone.
    Returns NaN when either sample is constant (tau-b is undefined there, as in scipy).
    Plain numpy, O(n^2) time and O(n) memory, fine for the hundreds of genomes compared here.
    """
    xa = np.asarray(x, dtype=float).ravel()
    ya = np.asarray(y, dtype=float).ravel()
    if xa.size != ya.size:
        raise ValueError(f"kendall_tau needs paired samples of equal length, got {xa.size} "
                         f"and {ya.size}")
    if xa.size < 2:
        raise ValueError(f"kendall_tau needs at least 2 pairs, got {xa.size}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("kendall_tau needs finite values (found NaN or inf)")
    s, n0, n1, n2 = _kendall_pairs(xa, ya)
    denom = (n0 - n1) * (n0 - n2)
    if denom == 0:
        return float("nan")
    return float(s / math.sqrt(denom))


# --------------------------------------------------------------------------------------------
# Fitness helpers


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
    """The constraint ``ops_fn(genome) <= max_ops`` as a callable (seed 000 eq. 5)."""
    return OpsBudget(ops_fn, max_ops)


def accuracy_fitness(evaluate: Callable[[Genome], float],
                     ops_fn: Callable[[Genome], float] | None = None) -> Callable:
    """Seed 000's fitness: the candidate's accuracy, ``Accuracy(W, G)`` in Algorithm 1.

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
    """Seed 000's search objective: maximise accuracy subject to ``ops <= max_ops``.

    Returns ``(fitness, constraint)`` to pass to `evolutionary_search` / `random_search`; the
    fitness records ``acc`` and ``ops`` (from the constraint's cache, so ops are counted once
    per genome).
    """
    constraint = budget_constraint(ops_fn, max_ops)
    return accuracy_fitness(evaluate, constraint.cost), constraint


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


# --------------------------------------------------------------------------------------------
# The search engine (shared by evolutionary_search and random_search)


def _jsonable(value: Any) -> Any:
    """Extras normalised through a JSON round trip (numpy/torch scalars become floats)."""

    def default(obj):
        if hasattr(obj, "tolist"):
            return obj.tolist()
        if hasattr(obj, "item"):
            return obj.item()
        if isinstance(obj, tuple | set):
            return list(obj)
        return str(obj)

    return json.loads(json.dumps(value, default=default))


def _type_name(value: Any) -> str:
    """``float``, ``numpy.bool``, ``torch.Tensor``: the type as an error message shows it."""
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"


def _fitness_type_error(genome: Genome, out: Any) -> TypeError:
    return TypeError(f"fitness({genome}) returned {out!r} ({_type_name(out)}); expected a "
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


def _split_fitness(out: Any, genome: Genome) -> tuple[float, dict]:
    extras: Any = {}
    if isinstance(out, tuple | list):
        if len(out) != 2 or not isinstance(out[1], dict):
            raise _fitness_type_error(genome, out)
        out, extras = out
    value = _real(out, genome)
    if math.isnan(value):
        raise ValueError(f"fitness({genome}) returned NaN; return a number (e.g. 0 or -inf "
                         "for a failed candidate)")
    return value, _jsonable(extras)


def _as_bool(answer: Any, genome: Genome) -> bool:
    """A constraint's answer, which must be a boolean: a truthy ``"no"`` must not pass."""
    if isinstance(answer, bool | np.bool_):
        return bool(answer)
    if str(getattr(answer, "dtype", "")) in ("bool", "torch.bool") and \
            getattr(answer, "ndim", None) == 0:
        return bool(answer.item())  # 0-d numpy / torch booleans, e.g. ``ops <= limit``
    raise TypeError(f"constraint({genome}) returned {answer!r} ({_type_name(answer)}); "
                    "expected True or False")


def _check_context(context: Any) -> dict | None:
    """``context`` normalised to plain JSON (what a state file stores), or ``None``."""
    if context is None:
        return None
    if not isinstance(context, dict):
        raise ValueError(f"context must be None or a JSON-able dict, got "
                         f"{_type_name(context)}: {context!r}")
    try:
        plain = canonical(context)
        json.dumps(plain, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"context must be a JSON-able dict (finite numbers, strings, lists, "
                         f"dicts): {err}") from err
    return plain


def _context_diff(saved: Any, now: Any) -> str:
    """``"key now != saved in state"`` for each differing leaf of two contexts ("" if equal)."""
    if isinstance(saved, dict) and isinstance(now, dict) and saved and now:
        return describe(saved, now, "state", limit=50)
    if saved == now or (not saved and not now):
        return ""
    return describe({"context": json.dumps(saved)}, {"context": json.dumps(now)}, "state")


_STATE_TYPES = {"version": int, "config": dict, "iteration": int, "rng": dict, "pending": list,
                "notes": list, "exhausted": bool, "history": list}


def _load_state(path: str) -> dict:
    """The parsed state file, checked for version, keys and their types.

    Raises `StateMismatchError` for another format version and ``CorruptFileError`` for a
    file that is cut short or not a search state, both naming the file.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise CorruptFileError(f"{path} is not valid JSON (cut short or altered?): {err}. "
                               "Delete it to start the search over.") from err
    if not isinstance(state, dict) or "version" not in state:
        what = type(state).__name__ if not isinstance(state, dict) else "object without version"
        raise CorruptFileError(f"{path} is not a search state (a JSON {what}). Delete it to "
                               "start the search over.")
    if state["version"] != STATE_VERSION:
        raise StateMismatchError(f"{path}: state version {state['version']!r}, expected "
                                 f"{STATE_VERSION}; delete it to start the search over")
    problems = [f"{key} missing" if key not in state else
                f"{key} is {type(state[key]).__name__}, not {kind.__name__}"
                for key, kind in _STATE_TYPES.items()
                if key not in state or not isinstance(state[key], kind)
                or (kind is int and isinstance(state[key], bool))]
    if not problems and state["iteration"] < 0:
        problems.append(f"iteration {state['iteration']} < 0")
    if problems:
        raise CorruptFileError(f"{path} is not a valid search state ({'; '.join(problems)}). "
                               "Delete it to start the search over.")
    return state


class _Search:
    """State and steps of one run; `evolutionary_search` and `random_search` drive it."""

    def __init__(self, kind, choices, fitness, constraint, population, topk, crossovers,
                 mutations, iterations, mutation_prob, seed, max_tries, mutate_from,
                 log_path, state_path, progress, context=None):
        if not callable(fitness):
            raise ValueError(f"fitness must be a callable of a genome, got {fitness!r}")
        if constraint is not None and not callable(constraint):
            raise ValueError(f"constraint must be None or a callable of a genome returning "
                             f"bool, got {constraint!r}")
        self.choices = _check_choices(choices)
        self.sizes = np.array([len(c) for c in self.choices], dtype=np.int64)
        self.index = [{v: i for i, v in enumerate(c)} for c in self.choices]
        self.kind = kind
        self.fitness = fitness
        self.constraint = constraint
        self.population = population
        self.topk_size = topk
        self.crossovers = crossovers
        self.mutations = mutations
        self.iterations = iterations
        self.mutation_prob = mutation_prob
        self.seed = seed
        self.max_tries = max_tries
        self.mutate_from = mutate_from
        self.log_path = None if log_path is None else os.fspath(log_path)
        self.state_path = None if state_path is None else os.fspath(state_path)
        self.progress = progress
        self.context = _check_context(context)

        self.rng = np.random.default_rng(seed)
        self.iteration = 0
        self.history: list[Evaluation] = []
        self.seen: set[tuple[int, ...]] = set()
        self.pending: list[tuple[tuple[int, ...], str]] = []
        self.notes: list[str] = []
        self.exhausted = False
        # a cache only: constraint answers are deterministic, and every proposal counts as a
        # try whether answered from here or not, so it does not change the random stream
        self._infeasible: set[tuple[int, ...]] = set()
        self._history_json: list[str] = []

    # ---- conversions -------------------------------------------------------------------

    def values(self, idx: tuple[int, ...]) -> Genome:
        return tuple(self.choices[j][i] for j, i in enumerate(idx))

    def indices(self, genome: Sequence) -> tuple[int, ...]:
        return tuple(self.index[j][_scalar(v, f"gene {j}")] for j, v in enumerate(genome))

    def config(self) -> dict:
        return {"kind": self.kind, "choices": self.choices, "population": self.population,
                "topk": self.topk_size, "crossovers": self.crossovers,
                "mutations": self.mutations, "mutation_prob": self.mutation_prob,
                "seed": self.seed, "max_tries": self.max_tries,
                "mutate_from": self.mutate_from}

    # ---- proposals -----------------------------------------------------------------------

    def _tries(self, n: int) -> int:
        return self.max_tries if self.max_tries is not None else max(1000, 100 * n)

    def _feasible(self, idx: tuple[int, ...], costs: list[float]) -> bool:
        if self.constraint is None:
            return True
        if idx in self._infeasible:
            return False
        genome = self.values(idx)
        if hasattr(self.constraint, "cost"):
            costs.append(float(self.constraint.cost(genome)))
        ok = _as_bool(self.constraint(genome), genome)
        if not ok:
            self._infeasible.add(idx)
        return ok

    def _propose(self, n: int, make: Callable[[], tuple[int, ...]], taken: set,
                 costs: list[float]) -> tuple[list[tuple[int, ...]], int]:
        """Up to ``n`` new feasible genomes from ``make``, within the try budget."""
        out: list[tuple[int, ...]] = []
        budget = self._tries(n)
        tries = 0
        while len(out) < n and tries < budget:
            tries += 1
            idx = make()
            if idx in self.seen or idx in taken:
                continue
            if self._feasible(idx, costs):
                out.append(idx)
                taken.add(idx)
        return out, tries

    def initial_population(self) -> None:
        """Sample_Candidates(S, F): ``population`` distinct feasible genomes, or fail loudly."""
        costs: list[float] = []
        taken: set = set()
        batch, tries = self._propose(self.population,
                                     lambda: _random_genome(self.sizes, self.rng), taken, costs)
        if len(batch) < self.population:
            msg = (f"the constraint is too tight for the initial population: {tries} uniformly "
                   f"random genomes tried (max_tries={self._tries(self.population)}), only "
                   f"{len(batch)} distinct feasible ones found, {self.population} needed "
                   f"(search space: {_space_size(self.sizes)} genomes)")
            if costs:
                limit = getattr(self.constraint, "limit", None)
                msg += f"; lowest cost seen {min(costs):.6g}"
                if limit is not None:
                    msg += f" against a budget of {float(limit):.6g}"
            msg += ". Relax the budget, lower population, or raise max_tries."
            raise ValueError(msg)
        source = "init" if self.kind == "evolutionary" else "random"
        self.pending = [(idx, source) for idx in batch]

    def ranked(self) -> list[Evaluation]:
        """History sorted by fitness, best first; ties keep evaluation order (stable sort)."""
        return sorted(self.history, key=lambda ev: -ev.fitness)

    def breed(self) -> None:
        """Crossover and Mutation of Algorithm 1 from the elitist top-K."""
        elite = [self.indices(ev.genome) for ev in self.ranked()[: self.topk_size]]
        taken: set = set()
        costs: list[float] = []
        batch: list[tuple[tuple[int, ...], str]] = []
        rng = self.rng

        if self.crossovers and len(elite) >= 2:
            def make_cross():
                i, j = rng.choice(len(elite), size=2, replace=False)
                return _crossover(elite[i], elite[j], rng)

            kids, _ = self._propose(self.crossovers, make_cross, taken, costs)
            batch += [(k, "crossover") for k in kids]

        def make_mut_from(parents):
            def make():
                parent = parents[int(rng.integers(0, len(parents)))]
                return _mutate(parent, self.sizes, self.mutation_prob, rng)
            return make

        if self.mutations:
            parents = elite
            if self.mutate_from == "crossover" and batch:
                parents = [k for k, _ in batch]
            kids, _ = self._propose(self.mutations, make_mut_from(parents), taken, costs)
            batch += [(k, "mutation") for k in kids]

        wanted = self.crossovers + self.mutations
        if len(batch) < wanted:
            # a converged elite breeds few new crossovers: top up first with mutants of the
            # elite (still local search), then with random genomes, then go on with fewer
            short = wanted - len(batch)
            mutants, _ = self._propose(short, make_mut_from(elite), taken, costs)
            batch += [(k, "mutation") for k in mutants]
            randoms: list = []
            if len(batch) < wanted:
                randoms, _ = self._propose(wanted - len(batch),
                                           lambda: _random_genome(self.sizes, rng), taken,
                                           costs)
                batch += [(k, "random") for k in randoms]
            note = (f"iteration {self.iteration + 1}: children ran short by {short}; "
                    f"{len(mutants)} extra mutants and {len(randoms)} random genomes filled in")
            if len(batch) < wanted:
                note += f", proceeding with {len(batch)} of {wanted}"
            if not batch:
                note += "; no new feasible genome could be found, search stopped"
                self.exhausted = True
            self.notes.append(note)
            if randoms or len(batch) < wanted:  # extra mutants are routine, not worth a warning
                warnings.warn(note, RuntimeWarning, stacklevel=4)
        self.pending = batch

    # ---- evaluation, log, state ----------------------------------------------------------

    def evaluate_pending(self, bar) -> None:
        best = max((ev.fitness for ev in self.history), default=None)
        for idx, source in self.pending:
            if idx in self.seen:
                continue  # evaluated before an interruption
            genome = self.values(idx)
            start = datetime.datetime.now(datetime.timezone.utc)
            value, extras = _split_fitness(self.fitness(genome), genome)
            seconds = (datetime.datetime.now(datetime.timezone.utc) - start).total_seconds()
            ev = Evaluation(genome, value, self.iteration, source, extras)
            self.history.append(ev)
            self.seen.add(idx)
            if self.log_path is not None:
                line = {"evaluation": len(self.history) - 1, **_record(ev),
                        "seconds": seconds, "time": start.isoformat()}
                with open(self.log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(line) + "\n")
            self.save()  # after the log line: a crash in between leaves an extra line that
            # resume() drops, never a missing one
            bar.update(1)
            best = value if best is None else max(best, value)
            bar.set_postfix(best=f"{best:.4g}", refresh=False)

    def save(self) -> None:
        if self.state_path is None:
            return
        meta = json.dumps({
            "version": STATE_VERSION,
            "config": self.config(),
            "context": self.context,
            "iteration": self.iteration,
            "rng": self.rng.bit_generator.state,
            "pending": [[list(idx), source] for idx, source in self.pending],
            "notes": self.notes,
            "exhausted": self.exhausted,
        })
        # the history is spliced in from per-record JSON kept since each evaluation, so a save
        # costs a string join, not a re-serialisation of every record (quadratic over a run)
        if len(self._history_json) < len(self.history):
            self._history_json += [json.dumps(_record(ev))
                                   for ev in self.history[len(self._history_json):]]
        text = meta[:-1] + ',"history":[' + ",".join(self._history_json) + "]}"
        # no fsync: the rename is atomic against a crash; fsync would cost every evaluation
        atomic_write_bytes(self.state_path, text.encode("utf-8"), fsync=False)

    def resume(self) -> bool:
        """Load ``state_path`` if it exists; True when a run was restored."""
        if self.state_path is None or not os.path.exists(self.state_path):
            return False
        state = _load_state(self.state_path)
        self._check_match(state)
        try:
            self._restore(state)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise CorruptFileError(f"{self.state_path} is not a valid search state (bad "
                                   f"{type(err).__name__}: {err}). Delete it to start the "
                                   "search over.") from err
        self._trim_log()
        return True

    def _check_match(self, state: dict) -> None:
        """Refuse a state written with other arguments or context, or beyond ``iterations``."""
        saved, now = state["config"], _jsonable(self.config())
        keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        problems, details = [], []
        if keys:
            diff = describe(saved, now, "state", limit=50)
            problems.append(f"other arguments ({', '.join(keys)} differ: {diff})")
            details.append(diff)
        context = _context_diff(state.get("context"), self.context)
        if context:
            problems.append(f"another context ({context})")
            details.append(context)
        if problems:
            raise StateMismatchError(f"{self.state_path} was written by a search with "
                                     f"{' and '.join(problems)}; delete it to start over, or "
                                     "pass the same arguments and context", "; ".join(details))
        if state["iteration"] > self.iterations - 1:
            raise StateMismatchError(f"{self.state_path} is at iteration {state['iteration']}, "
                                     f"beyond iterations={self.iterations}; pass iterations >= "
                                     f"{state['iteration'] + 1}")

    def _restore(self, state: dict) -> None:
        """Take over a checked state's iteration, RNG, queued batch, history and notes."""
        self.iteration = state["iteration"]
        self.rng.bit_generator.state = state["rng"]
        self.pending = [(tuple(idx), source) for idx, source in state["pending"]]
        self.history = [Evaluation(tuple(r["genome"]), float(r["fitness"]), r["iteration"],
                                   r["source"], r["extras"]) for r in state["history"]]
        self.seen = {self.indices(ev.genome) for ev in self.history}
        self.notes = list(state["notes"])
        self.exhausted = bool(state["exhausted"])

    def _trim_log(self) -> None:
        """Keep one log line per evaluation in the restored history (first occurrence)."""
        if self.log_path is None or not os.path.exists(self.log_path):
            return
        wanted = {tuple(ev.genome) for ev in self.history}
        kept, done = [], set()
        with open(self.log_path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    genome = tuple(json.loads(line)["genome"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash
                if genome in wanted and genome not in done:
                    kept.append(line if line.endswith("\n") else line + "\n")
                    done.add(genome)
        tmp = f"{self.log_path}.tmp.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(kept)
        os.replace(tmp, self.log_path)

    # ---- the loop ------------------------------------------------------------------------

    def planned(self) -> int:
        return self.population + (self.iterations - 1) * (self.crossovers + self.mutations)

    def run(self) -> SearchResult:
        from tqdm.auto import tqdm

        if self.log_path is not None:  # as atomic_write_bytes does for the state
            os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
        if not self.resume():
            if self.log_path is not None:  # a fresh run starts a fresh log
                open(self.log_path, "w", encoding="utf-8").close()
            if _space_size(self.sizes) < self.population:
                name = "population" if self.kind == "evolutionary" else "evaluations"
                raise ValueError(f"{name}={self.population} exceeds the search space "
                                 f"({_space_size(self.sizes)} distinct genomes)")
            self.initial_population()
            self.save()
        with tqdm(total=self.planned(), initial=len(self.history), disable=not self.progress,
                  desc=f"{self.kind} search", unit="genome") as bar:
            while True:
                self.evaluate_pending(bar)
                if self.exhausted or self.iteration >= self.iterations - 1:
                    break
                self.breed()
                self.iteration += 1
                self.save()
        ranked = self.ranked()
        best = ranked[0]
        return SearchResult(best=best.genome, best_fitness=best.fitness,
                            history=list(self.history),
                            topk=[ev.genome for ev in ranked[: self.topk_size]],
                            notes=list(self.notes))


def _record(ev: Evaluation) -> dict:
    record = asdict(ev)
    record["genome"] = list(ev.genome)
    return record


# --------------------------------------------------------------------------------------------
# Public entry points


def evolutionary_search(choices: Sequence[Sequence[int | float]],
                        fitness: Callable[[Genome], float | tuple[float, dict]],
                        constraint: Callable[[Genome], bool] | None = None,
                        population: int = 50,
                        topk: int = 10,
                        crossovers: int = 25,
                        mutations: int = 25,
                        iterations: int = 20,
                        mutation_prob: float = 0.1,
                        seed: int = 0,
                        max_tries: int | None = None,
                        mutate_from: str = "topk",
                        log_path: str | os.PathLike | None = None,
                        state_path: str | os.PathLike | None = None,
                        progress: bool = True,
                        context: dict | None = None) -> SearchResult:
    """Evolutionary search of seed 000's Algorithm 1 (elitist top-K, uniform crossover,
    always-changing mutation, constraint before evaluation, global de-duplication).

    Defaults are seed 000's (section 4: population 50, 25 crossovers, 25 mutations,
    20 iterations); ``topk=10`` and ``mutation_prob=0.1`` are SPOS's values, as the papers give
    none. For seed 001 use e.g. ``population=32, crossovers=16, mutations=16, iterations=50``
    and ``shen_fitness_fn``. The module docstring states every choice made where the papers
    are silent.

    Args:
        choices: one list of candidate values per gene (ints for group counts, floats for
            expansion ratios); candidates of a gene must be distinct.
        fitness: ``fitness(genome) -> float`` or ``-> (float, dict)`` with extra metrics;
            higher is better. ``genome`` is a tuple of chosen values. The number must be a
            real number (int, float, numpy or torch scalar); a string, bool or None is a
            ``TypeError`` rather than silently converted.
        constraint: ``constraint(genome) -> bool`` (a Python or numpy bool; anything else,
            e.g. a truthy string, is a ``TypeError``), checked before evaluation (e.g.
            `budget_constraint`); ``None`` accepts everything.
        population: size of the initial population (iteration 0).
        topk: elite size, taken over every genome evaluated so far.
        crossovers, mutations: children bred per iteration (the next population is their
            union, ``crossovers + mutations`` genomes).
        iterations: evaluation rounds, the initial population's included.
        mutation_prob: per-gene probability of a change in a mutation.
        seed: seed of the ``numpy.random.Generator`` driving every draw.
        max_tries: proposals allowed per batch; default ``max(1000, 100 * batch size)``.
        mutate_from: ``"topk"`` (SPOS) or ``"crossover"`` (Algorithm 1's ``Mutation(C, M)``).
        log_path: JSON-lines file, one line per evaluation (genome, fitness, iteration,
            source, extras, seconds, time); truncated at a fresh start, kept on resume.
            Missing parent folders are created.
        state_path: JSON state file written after each batch and each evaluation; an existing
            one written with the same arguments and context is resumed.
        progress: show a tqdm progress bar.
        context: JSON-able dict of everything else the fitness depends on, built by the
            caller (e.g. ``{"supernet": <weights digest>, "fitness": {"max_ops": ...},
            "evaluator": {...}}``). It is stored in the state file and compared on resume
            after JSON normalisation (`bnnlib.fingerprint.canonical`), so a state written for
            another supernet or budget is not resumed by mistake. ``None`` (the default)
            matches a state written without context.

    Returns:
        `SearchResult` with ``best``, ``best_fitness``, ``history`` (``to_frame()`` for pandas),
        ``topk`` and ``notes``.

    Raises:
        ValueError: bad arguments, or a constraint the initial population cannot meet within
            ``max_tries`` proposals (the message gives the tries and the lowest cost seen).
        TypeError: the fitness or the constraint returned a value of the wrong type (the
            message names the genome and the value).
        StateMismatchError: ``state_path`` holds a state of a search with other arguments or
            context (each differing key given as ``key now != saved in state``), of another
            state format ``version``, or beyond ``iterations``.
        bnnlib.utils.CorruptFileError: ``state_path`` is cut short or not a search state.
    """
    population = _check_int("population", population, 1)
    topk = _check_int("topk", topk, 1)
    if topk > population:
        raise ValueError(f"topk={topk} must be <= population={population}: the elite is "
                         "taken from the evaluated genomes")
    crossovers = _check_int("crossovers", crossovers, 0)
    mutations = _check_int("mutations", mutations, 0)
    iterations = _check_int("iterations", iterations, 1)
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
    seed = _check_int("seed", seed, 0)
    if max_tries is not None:
        max_tries = _check_int("max_tries", max_tries, 1)
    search = _Search("evolutionary", choices, fitness, constraint, population, topk,
                     crossovers, mutations, iterations, float(mutation_prob), seed, max_tries,
                     mutate_from, log_path, state_path, progress, context)
    if mutations > 0 and iterations > 1 and not np.any(search.sizes > 1):
        raise ValueError("mutations need a gene with at least two candidates")
    return search.run()


def random_search(choices: Sequence[Sequence[int | float]],
                  fitness: Callable[[Genome], float | tuple[float, dict]],
                  constraint: Callable[[Genome], bool] | None = None,
                  evaluations: int = 1000,
                  seed: int = 0,
                  max_tries: int | None = None,
                  topk: int = 10,
                  log_path: str | os.PathLike | None = None,
                  state_path: str | os.PathLike | None = None,
                  progress: bool = True,
                  context: dict | None = None) -> SearchResult:
    """Random-search baseline: ``evaluations`` distinct, feasible, uniformly random genomes.

    Give it the evolutionary run's budget (``evaluations=result.evaluations``; 1000 for seed
    000's settings) for a same-cost comparison (seed 000 section 4.2 compares its search with
    random groups). The genomes are drawn in one batch by bounded rejection sampling (the same
    sampler as the evolutionary initial population, so the same ``ValueError`` when the budget
    cannot be met), then evaluated. ``topk`` only sets the length of ``SearchResult.topk``.

    Args:
        choices, fitness, constraint, seed, max_tries, log_path, state_path, progress: as in
            `evolutionary_search` (same checks on what the fitness and constraint return).
        evaluations: number of distinct genomes to evaluate.
        topk: length of ``SearchResult.topk``.
        context: JSON-able dict of everything else the fitness depends on, stored in the
            state and compared on resume, as in `evolutionary_search`.

    Raises:
        The same errors as `evolutionary_search`.
    """
    evaluations = _check_int("evaluations", evaluations, 1)
    topk = min(_check_int("topk", topk, 1), evaluations)
    seed = _check_int("seed", seed, 0)
    if max_tries is not None:
        max_tries = _check_int("max_tries", max_tries, 1)
    search = _Search("random", choices, fitness, constraint, evaluations, topk, 0, 0, 1, 0.0,
                     seed, max_tries, "topk", log_path, state_path, progress, context)
    return search.run()
