"""How much of a MobileNet search's one-shot scoring could reuse the shared prefix of genomes?

    python bench/sim_prefix_reuse.py [--profile gpu] [--family mobilenet_m1]

The one-shot score of a groups-study candidate runs the whole supernet over the calibration and
validation images. Two candidates with the same group counts in blocks 1..k have the same
activations (and the same recalibrated BN statistics) up to block k, so a scorer that kept
them could skip that prefix. This script measures the ceiling of that idea without training
anything: it runs the profile's evolutionary search (Algorithm 1, the profile's population,
children, iterations and MaxFLOPs budget) with a stand-in fitness, and counts the share of the
candidates' block MACs (multiply-accumulates of each block's convolutions at the profile's
input size, counted by :mod:`bnnlib.flops`) and block activations (each block's input and
output elements, a proxy for the memory-bound elementwise work) that lie in a prefix shared:

- with the candidate scored just before (the search's own order);
- with the one before in lexicographic order within each generation (a scorer that sorts its
  batch);
- with any candidate scored before (an unbounded cache of every prefix).

Two stand-in fitnesses: ``random`` (a hash of the genome: no convergence) and ``structured``
(favours low group counts in deep blocks, plus noise: an elite that converges). The real
fitness lies somewhere between. Docs: docs/gpu.md (the one-shot rate of M1).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from bnnlib import flops, models, search, settings
from bnnlib.stages.common import input_size, model_kwargs
from bnnlib.stages.search import budget
from bnnlib.supernet import build

ROOT = Path(__file__).resolve().parent.parent


def block_table(family: str, kwargs: dict, shape: tuple, choices) -> dict[tuple[int, int], tuple]:
    """``(block, group count) -> (MACs, activation elements)`` of one block, read off
    :func:`bnnlib.flops.count` (a block's cost depends on its own gene only): MACs of the
    block's convolutions, and its input plus output elements, for one image. One count per
    group count that some gene takes (the other genes at 1)."""
    table = {}
    for value in sorted({v for c in choices for v in c}):
        genome = [value if value in c else 1 for c in choices]
        layers = flops.count(models.build(family, groups=genome, **kwargs), shape).layers
        for i, c in enumerate(choices):
            if value in c:
                rows = layers[layers["layer"].str.startswith(f"blocks.{i}.")]
                table[i, value] = (float(rows["macs"].sum()),
                                   math.prod(rows["in_shape"].iloc[0]) + math.prod(rows["out_shape"].iloc[-1]))
    return table


def block_costs(genome, table) -> tuple[np.ndarray, np.ndarray]:
    """Per block of ``genome``: MACs and activation elements (:func:`block_table`)."""
    costs = [table[i, g] for i, g in enumerate(genome)]
    return np.array([c[0] for c in costs]), np.array([c[1] for c in costs])


def _hash01(genome) -> float:
    return int(hashlib.md5(str(tuple(genome)).encode()).hexdigest()[:8], 16) / 2**32


FITNESS = {
    "random": _hash01,
    "structured": lambda g: -sum(np.log2(x) * (i + 1) for i, x in enumerate(g[:13])) / 100
    + 0.05 * _hash01(g),
}


def shared(a, b, genes: int) -> int:
    """Length of the common prefix of two genomes' first ``genes`` genes."""
    k = 0
    while k < genes and a[k] == b[k]:
        k += 1
    return k


def reuse(order: list[tuple], first: int, generation: int, cost,
          genes: int = 13) -> dict[str, dict[str, float]]:
    """Shares of MACs and activations in a reusable prefix, for the three scorers; ``first``
    candidates were the initial population, then ``generation`` per iteration."""
    def share(seq, prefixes):
        costs = [cost(g) for g in seq]
        total = [sum(c[j].sum() for c in costs) for j in (0, 1)]
        saved = [sum(c[j][:k].sum() for c, k in zip(costs, prefixes, strict=True)) for j in (0, 1)]
        return {"macs": float(saved[0] / total[0]), "activations": float(saved[1] / total[1])}

    def chain(seq):
        return [0] + [shared(a, b, genes) for a, b in zip(seq[1:], seq, strict=False)]

    cuts = [0, first, *range(first + generation, len(order), generation), len(order)]
    ranked = [g for a, b in zip(cuts, cuts[1:], strict=False) for g in sorted(order[a:b])]
    anywhere = [max((shared(g, h, genes) for h in order[:i]), default=0)
                for i, g in enumerate(order)]
    return {"search order": share(order, chain(order)),
            "sorted per generation": share(ranked, chain(ranked)),
            "any earlier candidate": share(order, anywhere)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--family", default="mobilenet_m1", choices=["mobilenet_m1"],
                        help="M1 only: its 13 genes are its 13 blocks' group counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the shares here")
    args = parser.parse_args(argv)
    view = settings.view("search", args.family, ROOT / "profiles" / f"{args.profile}.yaml", root=ROOT)
    shape = input_size(view)
    kwargs = model_kwargs(view)
    sn = build(args.family, max_groups=view.max_groups, **kwargs)
    max_ops = budget(view, sn)
    table = block_table(args.family, kwargs, shape, sn.choices)
    print(f"{args.family}, profile {args.profile}: input {shape}, MaxFLOPs {max_ops:.4g} OPs, "
          f"population {view.population}, {view.crossovers}+{view.mutations} children, "
          f"{view.iterations} iterations")
    out = {}
    for name, fitness in FITNESS.items():
        order: list[tuple] = []

        def score(g, fitness=fitness, order=order):
            order.append(tuple(g))
            return fitness(g)

        search.evolutionary_search(
            sn.choices, score, lambda g: sn.ops(g, shape) <= max_ops, population=view.population,
            topk=view.topk, crossovers=view.crossovers, mutations=view.mutations,
            iterations=view.iterations, mutation_prob=view.mutation_prob, seed=args.seed,
            progress=False)
        shares = reuse(order, view.population, view.crossovers + view.mutations,
                       lambda g: block_costs(g, table))
        out[name] = {"candidates": len(order), **shares}
        for scorer, s in shares.items():
            print(f"  fitness {name:10s} {scorer:22s}: {100 * s['macs']:5.1f}% of block MACs, "
                  f"{100 * s['activations']:5.1f}% of block activations in a reusable prefix")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
