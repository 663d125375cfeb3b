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

from ..data import dataset_fingerprint
from ..fingerprint import canonical, describe
from ..settings import View
from .common import (
    StaleUpstreamError,
    datasets,
    genome_kwargs,
    model_kwargs,
    train_item,
    upstream,
    write_stage_metrics,
)


def random_genome(choices, seed: int) -> list:
    """Phan et al.'s "Random Group": each gene drawn uniformly, no budget."""
    rng = np.random.default_rng([seed, 2020])
    return [c[int(rng.integers(len(c)))] for c in choices]


def searched(s: View, method: str) -> dict:
    """A search result of stage 03, checked to be made under this view's model and data."""
    record = upstream(s, "search", method, "result.json")
    now = {"model_kwargs": model_kwargs(s), "train_data": dataset_fingerprint(datasets(s)[0])}
    diff = describe({k: record.get(k) for k in now}, canonical(now), f"search {method}")
    if diff:
        raise StaleUpstreamError(f"the {method} search of {s.family} was made under other "
                                 f"settings: {diff}. Rerun stage 03 "
                                 f"(dvc repro search_{s.study}@{s.family}).")
    return record


def genomes(s: View) -> dict[str, list]:
    """The genomes this stage trains from scratch, by variant name."""
    if s.study == "groups":
        found = searched(s, "evolution")
        return {"searched": found["best"], "random": random_genome(found["choices"], s.seed)}
    return {"auto_a": searched(s, "evolution_a")["best"], "auto_b": searched(s, "evolution_b")["best"]}


def run(s: View) -> list[dict]:
    """Train every genome of :func:`genomes`; returns their result records."""
    results = [train_item(s, "retrain", variant, genome_kwargs(s.family, genome, s.width_mult))
               for variant, genome in genomes(s).items()]
    write_stage_metrics(s, "retrain", results)
    return results
