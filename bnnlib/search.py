"""Evolutionary architecture search and its random-search baseline.

The search works on *genomes*: one value per gene, each drawn from that gene's candidate list
(`choices`). For the groups study a gene is the number of groups of one binary 3x3 conv (the
divisors of its input channels); for the widths study a gene is one expansion ratio in
{0.25, 0.5, 1, 2, 3, 4}. The search knows nothing about networks: the accuracy model and the
cost model are plain callables, as in Once-for-all's evolution finder. The papers' fitness
functions and budget constraint are in `bnnlib.fitness`, the state file in
`bnnlib.search_state`, rank statistics of one-shot scores in `bnnlib.stats`.

Algorithm (Phan et al. 2020, Algorithm 1 "Evolutionary Search for Group Convolution",
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
- *Elitism*: Algorithm 1 takes the top-K of the current population only; like SPOS
  (Guo et al. 2020) we take the top-K over everything evaluated so far, so the best genome
  found is never lost. Ties keep the earlier evaluation.
- *Mutation parents*: Algorithm 1 writes ``Mutation(C, M)``; SPOS mutates the top-K. The
  default ``mutate_from="topk"`` follows SPOS; ``mutate_from="crossover"`` mutates this
  iteration's crossover children (falling back to the top-K when there are none).
- *Mutation*: each gene, with probability ``mutation_prob``, takes a uniformly drawn
  *different* candidate; if no gene changed, one random gene (among those with >= 2
  candidates) is forced to a different candidate. So a mutant always differs from its parent.
- *Crossover*: two distinct parents drawn uniformly from the top-K; each gene copied from one
  of them with probability 1/2.
- *Constraint* (Phan et al. eq. 5, ``FLOP(W, G) <= FLOP_max``) is checked before any evaluation,
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
  stream. A random genome draws its genes in order, one ``rng.integers(len(candidates))``
  each (`bnnlib.genome.random_genome`).
- *Resume*: with ``state_path`` the state (history, the queued batch, RNG state, iteration) is
  written atomically after each batch is drawn and after each evaluation; re-running with the
  same arguments and ``context`` evaluates only what is missing and ends with exactly the
  result of an uninterrupted run (given a deterministic fitness). Another state is refused
  with `bnnlib.search_state.StateMismatchError` or ``bnnlib.utils.CorruptFileError``; see
  `bnnlib.search_state` for the format and the checks.
- *Several processes* (started by ``torchrun``, :mod:`bnnlib.distributed`): every rank runs
  the same loop with the same RNG; the genomes still to evaluate are scored in rounds of one
  per rank (each rank scores its own on its own device), the scores are gathered in queue
  order, and every rank appends the same evaluations, so the run's history and result are
  those of one process (given a deterministic fitness). Rank 0 alone writes the log and the
  state, after each round.
- *Fitness convention*: ``fitness(genome)`` returns either a number or a ``(number, dict)``
  pair whose dict holds extra metrics (e.g. ``{"acc": ..., "ops": ...}``); the extras are
  stored in the history and the log. Higher is better. A NaN fitness is an error (see
  `bnnlib.fitness`).

Seed 001 (Shen et al. 2019, "Search Algorithm" and "Experimental Settings") uses the same kind
of loop with 32 individuals for 50 generations and the fitness of eq. 4; it does not give its
crossover/mutation split, so e.g. ``population=32, crossovers=16, mutations=16, iterations=50``
is a faithful setting (see `bnnlib.fitness.shen_fitness`).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .checks import check_int
from .fitness import split_fitness
from .genome import random_genome
from .search_space import Index, Space, check_evolution
from .search_state import StateFile, check_context, check_match, load_state, record, trim_log

__all__ = ["Evaluation", "SearchResult", "evolutionary_search", "random_search"]

Genome = tuple


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Evaluation:
    """One evaluated genome.

    ``iteration`` is the evaluation round (0 = initial population); ``source`` says how the
    genome was made: ``"init"``, ``"crossover"``, ``"mutation"`` or ``"random"`` (random
    search, or a top-up when children ran short); ``extras`` holds the metrics the fitness
    returned beside the fitness value.
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
# Genetic operators on index genomes (tuples of candidate indices)


def _crossover(a: Index, b: Index, rng: np.random.Generator) -> Index:
    """Uniform crossover: each gene from parent ``a`` or ``b`` with probability 1/2."""
    take_a = rng.random(len(a)) < 0.5
    return tuple(x if t else y for x, y, t in zip(a, b, take_a, strict=True))


def _mutate(parent: Index, sizes: np.ndarray, prob: float, rng: np.random.Generator) -> Index:
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


# --------------------------------------------------------------------------------------------
# The search engine (shared by evolutionary_search and random_search)


@dataclass(frozen=True)
class _Settings:
    """A run's arguments, checked."""

    kind: str  # "evolutionary" or "random"
    population: int  # the initial batch (random search: every evaluation)
    topk: int
    crossovers: int
    mutations: int
    iterations: int
    mutation_prob: float
    seed: int
    max_tries: int | None
    mutate_from: str

    def config(self, choices: list) -> dict:
        """What the state stores and compares on resume (``iterations`` may grow)."""
        return {"kind": self.kind, "choices": choices, "population": self.population,
                "topk": self.topk, "crossovers": self.crossovers, "mutations": self.mutations,
                "mutation_prob": self.mutation_prob, "seed": self.seed,
                "max_tries": self.max_tries, "mutate_from": self.mutate_from}

    def planned(self) -> int:
        return self.population + (self.iterations - 1) * (self.crossovers + self.mutations)

    def tries(self, n: int) -> int:
        """Proposals allowed for a batch of ``n`` genomes."""
        return self.max_tries if self.max_tries is not None else max(1000, 100 * n)


class _Breeder:
    """New genomes to evaluate: Sample_Candidates, Crossover and Mutation of Algorithm 1.

    Every batch is bounded rejection sampling (`propose`): a proposal already evaluated
    (``seen``, shared with the search), already in the batch or infeasible is rejected.
    """

    def __init__(self, space: Space, settings: _Settings, rng: np.random.Generator,
                 seen: set[Index]):
        self.space, self.settings, self.rng, self.seen = space, settings, rng, seen

    def propose(self, n: int, make: Callable[[], Index], taken: set,
                costs: list[float]) -> tuple[list[Index], int]:
        """Up to ``n`` new feasible genomes from ``make``, within the try budget."""
        out: list[Index] = []
        budget = self.settings.tries(n)
        tries = 0
        while len(out) < n and tries < budget:
            tries += 1
            idx = make()
            if idx in self.seen or idx in taken:
                continue
            if self.space.feasible(idx, costs):
                out.append(idx)
                taken.add(idx)
        return out, tries

    def random(self) -> Index:
        return random_genome(self.space.ranges, self.rng)

    def initial(self) -> list[tuple[Index, str]]:
        """Sample_Candidates(S, F): ``population`` distinct feasible genomes, or fail loudly."""
        n, costs = self.settings.population, []
        batch, tries = self.propose(n, self.random, set(), costs)
        if len(batch) < n:
            msg = (f"the constraint is too tight for the initial population: {tries} uniformly "
                   f"random genomes tried (max_tries={self.settings.tries(n)}), only "
                   f"{len(batch)} distinct feasible ones found, {n} needed "
                   f"(search space: {self.space.size} genomes)")
            if costs:
                limit = getattr(self.space.constraint, "limit", None)
                msg += f"; lowest cost seen {min(costs):.6g}"
                if limit is not None:
                    msg += f" against a budget of {float(limit):.6g}"
            raise ValueError(msg + ". Relax the budget, lower population, or raise max_tries.")
        source = "init" if self.settings.kind == "evolutionary" else "random"
        return [(idx, source) for idx in batch]

    def mutants(self, parents: list[Index]) -> Callable[[], Index]:
        """A maker of mutants of uniformly drawn ``parents``."""
        def make() -> Index:
            parent = parents[int(self.rng.integers(0, len(parents)))]
            return _mutate(parent, self.space.sizes, self.settings.mutation_prob, self.rng)
        return make

    def children(self, elite: list[Index], iteration: int):
        """Crossover and Mutation from the ``elite`` (best first): ``(batch, shortfall)``.

        ``shortfall`` is ``None``, or ``(note, loud)`` when the children ran short (see
        `top_up`).
        """
        s, rng = self.settings, self.rng
        taken: set = set()
        costs: list[float] = []
        batch: list[tuple[Index, str]] = []
        if s.crossovers and len(elite) >= 2:
            def make_cross() -> Index:
                i, j = rng.choice(len(elite), size=2, replace=False)
                return _crossover(elite[i], elite[j], rng)

            kids, _ = self.propose(s.crossovers, make_cross, taken, costs)
            batch += [(k, "crossover") for k in kids]
        if s.mutations:
            parents = elite
            if s.mutate_from == "crossover" and batch:
                parents = [k for k, _ in batch]
            kids, _ = self.propose(s.mutations, self.mutants(parents), taken, costs)
            batch += [(k, "mutation") for k in kids]
        if len(batch) < s.crossovers + s.mutations:
            return batch, self.top_up(batch, elite, taken, costs, iteration)
        return batch, None

    def top_up(self, batch: list, elite: list[Index], taken: set, costs: list[float],
               iteration: int) -> tuple[str, bool]:
        """Fill ``batch`` up: first mutants of the elite, then random genomes.

        A converged elite breeds few new crossovers: extra mutants are still local search;
        random genomes, or going on with fewer, are worth a warning (``loud``). Returns
        ``(note, loud)``.
        """
        wanted = self.settings.crossovers + self.settings.mutations
        short = wanted - len(batch)
        mutants, _ = self.propose(short, self.mutants(elite), taken, costs)
        batch += [(k, "mutation") for k in mutants]
        randoms: list = []
        if len(batch) < wanted:
            randoms, _ = self.propose(wanted - len(batch), self.random, taken, costs)
            batch += [(k, "random") for k in randoms]
        note = (f"iteration {iteration + 1}: children ran short by {short}; "
                f"{len(mutants)} extra mutants and {len(randoms)} random genomes filled in")
        if len(batch) < wanted:
            note += f", proceeding with {len(batch)} of {wanted}"
        if not batch:
            note += "; no new feasible genome could be found, search stopped"
        return note, bool(randoms) or len(batch) < wanted


class _Evaluator:
    """Calls the fitness on one genome at a time; each call a line of the JSON-lines log."""

    def __init__(self, fitness: Callable, log_path: str | os.PathLike | None):
        if not callable(fitness):
            raise ValueError(f"fitness must be a callable of a genome, got {fitness!r}")
        self.fitness = fitness
        self.log_path = None if log_path is None else os.fspath(log_path)

    def make_folder(self) -> None:
        """Create the log's missing folders, as atomic_write_bytes does for the state."""
        if self.log_path is not None and _rank() == 0:
            os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)

    def open_log(self, fresh: bool, history: list[Evaluation]) -> None:
        """Empty the log (``fresh``) or keep one line per genome of a restored ``history`` (a
        crash between the log and the state writes leaves an extra line)."""
        if self.log_path is None or _rank() != 0:
            return
        if fresh:
            open(self.log_path, "w", encoding="utf-8").close()
        elif os.path.exists(self.log_path):
            trim_log(self.log_path, {tuple(ev.genome) for ev in history})

    def score(self, genome: Genome) -> tuple[float, dict, float, str]:
        """``(fitness, extras, seconds, start time)`` of ``genome``, checked."""
        start = datetime.datetime.now(datetime.timezone.utc)
        value, extras = split_fitness(self.fitness(genome), genome)
        seconds = (datetime.datetime.now(datetime.timezone.utc) - start).total_seconds()
        return value, extras, seconds, start.isoformat()

    def log(self, ev: Evaluation, number: int, seconds: float, time: str) -> None:
        """The log line of ``ev``, the ``number``-th (0-based) evaluation of the run."""
        if self.log_path is not None and _rank() == 0:
            line = {"evaluation": number, **record(ev), "seconds": seconds, "time": time}
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")


def _group():
    """:mod:`bnnlib.distributed` when this process is one of several, else ``None``.

    The search itself needs no torch: it is only imported when the caller already has it.
    """
    if "torch" not in sys.modules:
        return None
    from . import distributed

    return distributed if distributed.is_distributed() else None


def _rank() -> int:
    group = _group()
    return 0 if group is None else group.rank()


class _Search:
    """One run: the loop, its record (history, queued batch, notes) and its state file;
    `evolutionary_search` and `random_search` drive it."""

    def __init__(self, settings: _Settings, choices, fitness, constraint, log_path, state_path,
                 progress: bool, context: dict | None):
        self.evaluator = _Evaluator(fitness, log_path)
        if constraint is not None and not callable(constraint):
            raise ValueError(f"constraint must be None or a callable of a genome returning "
                             f"bool, got {constraint!r}")
        self.space = Space(choices, constraint)
        self.settings, self.progress = settings, progress
        self.store = None if state_path is None else StateFile(os.fspath(state_path))
        self.context = check_context(context)
        self.rng = np.random.default_rng(settings.seed)
        self.iteration = 0
        self.history: list[Evaluation] = []
        self.seen: set[Index] = set()
        self.pending: list[tuple[Index, str]] = []
        self.notes: list[str] = []
        self.exhausted = False
        self.breeder = _Breeder(self.space, settings, self.rng, self.seen)

    def ranked(self) -> list[Evaluation]:
        """History sorted by fitness, best first; ties keep evaluation order (stable sort)."""
        return sorted(self.history, key=lambda ev: -ev.fitness)

    def breed(self) -> None:
        """The next batch from the elitist top-K; a shortfall is noted (and maybe warned)."""
        elite = [self.space.indices(ev.genome) for ev in self.ranked()[: self.settings.topk]]
        self.pending, shortfall = self.breeder.children(elite, self.iteration)
        if shortfall is not None:
            note, loud = shortfall
            self.exhausted = not self.pending
            self.notes.append(note)
            if loud:  # extra mutants are routine, not worth a warning
                warnings.warn(note, RuntimeWarning, stacklevel=4)

    def evaluate_pending(self, bar) -> None:
        best = max((ev.fitness for ev in self.history), default=None)
        todo = [(idx, source) for idx, source in self.pending if idx not in self.seen]
        group = _group()  # several processes: one genome per rank per round
        per_round = 1 if group is None else group.world_size()
        for start in range(0, len(todo), per_round):
            batch = todo[start:start + per_round]
            genomes = [self.space.values(idx) for idx, _ in batch]
            scores = ([self.evaluator.score(genomes[0])] if group is None
                      else group.split_work(genomes, self.evaluator.score))
            for (idx, source), genome, (value, extras, seconds, time) in zip(
                    batch, genomes, scores, strict=True):
                ev = Evaluation(genome, value, self.iteration, source, extras)
                self.evaluator.log(ev, len(self.history), seconds, time)
                self.history.append(ev)
                self.seen.add(idx)
                bar.update(1)
                best = ev.fitness if best is None else max(best, ev.fitness)
            self.save()  # after the log lines: a crash in between leaves extra lines that
            # resume() drops, never a missing one
            bar.set_postfix(best=f"{best:.4g}", refresh=False)

    def save(self) -> None:
        if self.store is not None and _rank() == 0:
            self.store.save({
                "config": self.settings.config(self.space.choices), "context": self.context,
                "iteration": self.iteration, "rng": self.rng.bit_generator.state,
                "pending": [[list(idx), source] for idx, source in self.pending],
                "notes": self.notes, "exhausted": self.exhausted}, self.history)

    def resume(self) -> bool:
        """Restore the run of the state file if there is one (checked to match)."""
        if self.store is None or not os.path.exists(self.store.path):
            return False
        state = load_state(self.store.path)
        check_match(self.store.path, state, self.settings.config(self.space.choices),
                    self.context, self.settings.iterations)
        try:
            self.iteration = state["iteration"]
            self.rng.bit_generator.state = state["rng"]
            self.pending = [(tuple(idx), source) for idx, source in state["pending"]]
            self.history = [Evaluation(tuple(r["genome"]), float(r["fitness"]), r["iteration"],
                                       r["source"], r["extras"]) for r in state["history"]]
            self.seen.update(self.space.indices(ev.genome) for ev in self.history)
            self.notes, self.exhausted = list(state["notes"]), bool(state["exhausted"])
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise self.store.corrupt(err) from err
        return True

    def start(self) -> None:
        """A fresh run: the initial population, queued."""
        if self.space.size < self.settings.population:
            name = "population" if self.settings.kind == "evolutionary" else "evaluations"
            raise ValueError(f"{name}={self.settings.population} exceeds the search space "
                             f"({self.space.size} distinct genomes)")
        self.pending = self.breeder.initial()
        self.save()

    def run(self) -> SearchResult:
        from tqdm.auto import tqdm

        self.evaluator.make_folder()
        resumed = self.resume()
        group = _group()
        if group is not None:
            group.barrier()  # every rank has read the state before rank 0 writes it again
        self.evaluator.open_log(fresh=not resumed, history=self.history)
        if not resumed:
            self.start()
        with tqdm(total=self.settings.planned(), initial=len(self.history),
                  disable=not self.progress or _rank() != 0, desc=f"{self.settings.kind} search",
                  unit="genome") as bar:
            while True:
                self.evaluate_pending(bar)
                if self.exhausted or self.iteration >= self.settings.iterations - 1:
                    break
                self.breed()
                self.iteration += 1
                self.save()
        ranked = self.ranked()
        return SearchResult(best=ranked[0].genome, best_fitness=ranked[0].fitness,
                            history=list(self.history),
                            topk=[ev.genome for ev in ranked[: self.settings.topk]],
                            notes=list(self.notes))


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
    """Evolutionary search of Phan et al.'s Algorithm 1 (elitist top-K, uniform crossover,
    always-changing mutation, constraint before evaluation, global de-duplication).

    Defaults are Phan et al.'s (section 4: population 50, 25 crossovers, 25 mutations,
    20 iterations); ``topk=10`` and ``mutation_prob=0.1`` are SPOS's values, as the papers give
    none. For Shen et al.'s search use e.g. ``population=32, crossovers=16, mutations=16, iterations=50``
    and `bnnlib.fitness.shen_fitness_fn`. The module docstring states every choice made where
    the papers are silent.

    Args:
        choices: one list of candidate values per gene (ints for group counts, floats for
            expansion ratios); candidates of a gene must be distinct.
        fitness: ``fitness(genome) -> float`` or ``-> (float, dict)`` with extra metrics;
            higher is better. ``genome`` is a tuple of chosen values. The number must be a
            real number (int, float, numpy or torch scalar); a string, bool or None is a
            ``TypeError`` rather than silently converted.
        constraint: ``constraint(genome) -> bool`` (a Python or numpy bool; anything else,
            e.g. a truthy string, is a ``TypeError``), checked before evaluation (e.g.
            `bnnlib.fitness.budget_constraint`); ``None`` accepts everything.
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
        bnnlib.search_state.StateMismatchError: ``state_path`` holds a state of a search with
            other arguments or context (each differing key given as ``key now != saved in
            state``), of another state format ``version``, or beyond ``iterations``.
        bnnlib.utils.CorruptFileError: ``state_path`` is cut short or not a search state.
    """
    settings = _Settings("evolutionary", *check_evolution(
        population, topk, crossovers, mutations, iterations, mutation_prob, mutate_from, seed,
        max_tries))
    search = _Search(settings, choices, fitness, constraint, log_path, state_path, progress,
                     context)
    if settings.mutations > 0 and settings.iterations > 1 and not np.any(search.space.sizes > 1):
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

    Give it the evolutionary run's budget (``evaluations=result.evaluations``; 1000 for Phan
    et al.'s settings) for a same-cost comparison (Phan et al. section 4.2 compares its search with
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
    evaluations = check_int("evaluations", evaluations, 1)
    topk = min(check_int("topk", topk, 1), evaluations)
    seed = check_int("seed", seed, 0)
    if max_tries is not None:
        max_tries = check_int("max_tries", max_tries, 1)
    settings = _Settings("random", evaluations, topk, 0, 0, 1, 0.0, seed, max_tries, "topk")
    search = _Search(settings, choices, fitness, constraint, log_path, state_path, progress,
                     context)
    return search.run()
