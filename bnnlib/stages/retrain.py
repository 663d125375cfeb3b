"""Stage 04: the searched genomes trained from scratch, and Phan et al.'s Random Group.

Groups study: *Ours* (the best genome of the evolutionary search) and *Random Group*: one genome
drawn uniformly per gene from the supernet's choices, without the budget (the paper's random
models exceed the budgets: 1.58 > 1.55 x1e8), trained from scratch. Their per-epoch validation
curves are Phan et al.'s Figure 5. Widths study: Shen et al.'s Auto-A and Auto-B, the best
genomes of the two trade-offs of eq. 4 (``lam_a``, ``lam_b``); the paper does not say how its
two models were picked. Test accuracy is that of the last epoch's weights.
"""

from __future__ import annotations

import numpy as np

from .. import models
from ..data import dataset_fingerprint
from ..fingerprint import canonical, describe
from ..genome import random_genome
from ..settings import View
from .common import (
    StaleUpstreamError,
    datasets,
    model_kwargs,
    train_item,
    upstream,
    write_stage_metrics,
)


def random_group(choices, seed: int) -> list:
    """Phan et al.'s "Random Group": each gene drawn uniformly, no budget."""
    return list(random_genome(choices, np.random.default_rng([seed, 2020])))


def searched(cfg: View, method: str) -> dict:
    """A search result of stage 03, checked to be made under this view's model and data."""
    record = upstream(cfg, "search", method, "result.json")
    now = {"model_kwargs": model_kwargs(cfg), "train_data": dataset_fingerprint(datasets(cfg)[0])}
    diff = describe({k: record.get(k) for k in now}, canonical(now), f"search {method}")
    if diff:
        raise StaleUpstreamError(f"the {method} search of {cfg.family} was made under other "
                                 f"settings: {diff}. Rerun stage 03 "
                                 f"(dvc repro search_{cfg.study}@{cfg.family}).")
    return record


def genomes(cfg: View) -> dict[str, list]:
    """The genomes this stage trains from scratch, by variant name."""
    if cfg.study == "groups":
        found = searched(cfg, "evolution")
        return {"searched": found["best"], "random": random_group(found["choices"], cfg.seed)}
    return {"auto_a": searched(cfg, "evolution_a")["best"], "auto_b": searched(cfg, "evolution_b")["best"]}


def run(cfg: View) -> list[dict]:
    """Train every genome of :func:`genomes`; returns their result records."""
    results = [train_item(cfg, "retrain", variant, models.genome_kwargs(cfg.family, genome))
               for variant, genome in genomes(cfg).items()]
    write_stage_metrics(cfg, "retrain", results)
    return results
