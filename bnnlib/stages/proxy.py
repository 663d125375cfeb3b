"""Stage 06 (after 02, read by 05): how well the supernet's one-shot score ranks architectures.

The searches of stage 03 trust the supernet: a candidate's fitness is its one-shot score
(weights inherited from the supernet, BN recalibrated, top-1 on held-out validation images).
This stage measures that proxy as the NAS literature asks (Yang et al. 2020; Lindauer & Hutter
2020): ``genomes`` architectures spread over the OPs range of the search space are scored
one-shot by the search's own evaluator, *and* trained alone from scratch; the rank correlation
of the two (Kendall tau, Spearman rho, with bootstrap intervals: ``bnnlib.stats``) is the
proxy's quality, in ``reports/tables/proxy_quality.*`` with a scatter plot.

Choices:

- The genomes: ``SPREAD_POOL`` x ``genomes`` uniformly random genomes (seed ``seed``), sorted
  by OPs, ``genomes`` of them taken at evenly spaced ranks: the sample covers the OPs range
  instead of bunching where uniform draws fall. Over the whole space, not only the budget.
- Stand-alone training is short (``proxy.epochs`` on ``proxy.train_images`` training images,
  the study's recipe otherwise): a ranking of short-trained models, which is what a proxy can
  be asked to predict at this cost; said beside every number.
- Stand-alone accuracy is measured on ``proxy.test_images`` of the test split, which no search
  has seen (the one-shot scores use the search-validation split).
"""

from __future__ import annotations

import numpy as np

from .. import models
from ..bn import fixed_subset
from ..genome import random_genome
from ..settings import View
from ..stats import kendall_tau, spearman_rho
from ..utils import write_json
from . import supernet as supernet_stage
from .common import Training, base_record, datasets, distributable, input_size, log, train_items
from .search import make_evaluator

#: random genomes drawn per proxy genome before the spread over OPs is taken
SPREAD_POOL = 8


def spread_genomes(choices, ops, n: int, seed: int) -> list[tuple]:
    """``n`` distinct genomes at evenly spaced OPs ranks of a seeded random pool."""
    rng = np.random.default_rng([seed, 6])
    pool = sorted({random_genome(choices, rng) for _ in range(SPREAD_POOL * n)}, key=ops)
    if len(pool) <= n:
        return pool
    picks = np.unique(np.round(np.linspace(0, len(pool) - 1, n)).astype(int))
    return [pool[i] for i in picks]


def proxy_data(cfg: View):
    """``(train, test)`` of the proxy models: seeded subsets of the view's splits."""
    train, _, test = datasets(cfg)
    return fixed_subset(train, cfg.train_images, cfg.seed), fixed_subset(test, cfg.test_images, cfg.seed + 2)


@distributable
def run(cfg: View) -> dict:
    """Score and train every proxy genome; writes ``runs/proxy/<family>/proxy.json``."""
    supernet, weights = supernet_stage.load(cfg)
    acc, evaluator = make_evaluator(cfg, supernet)
    size = input_size(cfg)
    genomes = spread_genomes(supernet.choices, lambda g: supernet.ops(g, size), cfg.genomes, cfg.seed)
    data = proxy_data(cfg)
    scores = [acc(genome) for genome in genomes]  # one-shot first: the supernet is on this device
    results = train_items(cfg, "proxy", [
        Training(f"g{i:02d}", models.genome_kwargs(cfg.family, genome), cfg.seed)
        for i, genome in enumerate(genomes)], data=proxy_data)
    rows = []
    for i, (genome, score, result) in enumerate(zip(genomes, scores, results, strict=True)):
        rows.append({"genome": list(genome), "ops": result["ops"], "one_shot": score,
                     "test_top1": result["test_top1"], "train_seconds": result["train_seconds"]})
        log(f"   g{i:02d}: one-shot {100 * score:.2f}%  stand-alone {100 * result['test_top1']:.2f}%")
    record = {**base_record(cfg), "supernet_weights": weights, "evaluator": evaluator,
              "epochs": cfg.epochs, "train_images": len(data[0]), "test_images": len(data[1]),
              "genomes": rows}
    write_json(cfg.runs_dir / "proxy" / cfg.family / "proxy.json", record)
    scores, accs = [r["one_shot"] for r in rows], [r["test_top1"] for r in rows]
    write_json(cfg.metrics_dir / "proxy" / f"{cfg.family}.json",
               {"genomes": len(rows), "kendall_tau": kendall_tau(scores, accs),
                "spearman_rho": spearman_rho(scores, accs)})
    return record
