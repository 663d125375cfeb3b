"""Stage 04: the searched genomes and the random baselines, trained from scratch once per seed.

Every model here is trained with the same recipe, data and seeds as the uniform rows (stage 01),
so searched and baseline models differ only in their genome (Lindauer & Hutter's checklist:
the same pipeline for all).

Groups study (Phan et al. 2020):

- ``searched``: *Ours*, the best genome of the evolutionary search of the first search seed
  (``search_seeds[0]``); ``searched_s<k>``: that of search seed ``k`` (search-run variance,
  reported apart from training variance as Li & Talwalkar do).
- ``random_search``: the best genome of the random search with the same number of evaluations
  and the same MaxFLOPs budget ("random group search"; a baseline of ours, with the papers'
  budget).
- ``random``: *random sampling*: one genome per training seed, drawn uniformly among the genomes
  within the MaxFLOPs budget (rejection sampling), the k-th draw trained with the k-th seed, so
  its spread holds the architecture draw as well as the training seed. It stands in the row
  Phan et al. call "Random Group" (their random models are not said to be drawn within the
  budget; ours are, so that the comparison is at equal budget). Its per-epoch validation
  curves against ``searched`` are Figure 5.
- ``fig5_searched`` / ``fig5_random``: only where ``groups.epochs.fig5`` is set and differs from
  the retraining's epochs: the same genomes as ``searched`` and ``random`` (the same draw per
  seed), trained for ``fig5`` epochs with the same recipe otherwise. Phan et al. ran their
  Figure 5 comparison apart, "with 100 epochs, 512 for batch size", while their final models
  train 256 epochs; with a linear schedule the first 100 epochs of a 256-epoch run are not a
  100-epoch run, so the figure gets its own models. Figure 5 and its claims use these where
  they exist.

Widths study (Shen et al. 2019): ``auto_a`` / ``auto_b``, the best genomes of the two trade-offs
of eq. 4 (``lam_a``, ``lam_b``; the paper does not say how its two models were picked);
``random_search_a`` / ``_b``, the best genomes of the random searches of the same trade-offs;
``random_a`` / ``random_b``, random widths at Auto-A's / Auto-B's OPs: one genome per seed, a
uniformly random genome moved one ratio at a time (a random gene each step) until its OPs are
within ``OPS_TOLERANCE`` of the searched one's (``bnnlib.genome.random_near``; rejection
sampling fails where a strong OPs penalty puts the searched model in the tail of the OPs
distribution). The record's ``ops`` shows how close each draw came.

Test accuracy is that of the last epoch's weights.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import models
from ..data import dataset_fingerprint
from ..fingerprint import canonical, describe
from ..genome import random_draws, random_near
from ..registry import FIG5_PREFIX
from ..settings import View, fig5_apart
from ..supernet import static_ops
from .common import (
    StaleUpstreamError,
    Training,
    datasets,
    distributable,
    input_size,
    log,
    model_kwargs,
    train_items,
    upstream,
    write_stage_metrics,
)

#: random widths "at the searched model's OPs": within this relative distance of its OPs
OPS_TOLERANCE = 0.05
#: the random sampling's stream: seeded apart from every training and search seed
DRAW_SEED = 2020


def searched(cfg: View, method: str, search_seed: int | None = None) -> dict:
    """A search result of stage 03, checked to be made under this view's model and data."""
    seed = cfg.search_seeds[0] if search_seed is None else search_seed
    record = upstream(cfg, "search", method, f"seed{seed}", "result.json")
    now = {"model_kwargs": model_kwargs(cfg),
           "train_data": dataset_fingerprint(datasets(cfg, search=True)[0])}
    diff = describe({k: record.get(k) for k in now}, canonical(now), f"search {method}")
    if diff:
        raise StaleUpstreamError(f"the {method} search of {cfg.family} was made under other "
                                 f"settings: {diff}. Rerun stage 03 "
                                 f"(dvc repro search_{cfg.study}@{cfg.family}).")
    return record


def genome_ops(cfg: View, genome) -> float:
    """OPs of the static model of ``genome`` in this view's size."""
    kwargs = {**model_kwargs(cfg), **models.genome_kwargs(cfg.family, genome)}
    return static_ops(cfg.family, input_size(cfg), **kwargs)


def random_sampling(cfg: View, choices, accept, what: str) -> list[list]:
    """One uniformly drawn genome per training seed among those ``accept`` takes."""
    rng = np.random.default_rng([DRAW_SEED, cfg.search_seeds[0]])
    draws = random_draws(choices, accept, rng, len(cfg.seeds), what=what)
    return [list(g) for g in draws]


def random_widths_at(cfg: View, choices, target: float) -> list[list]:
    """One random width genome per training seed near ``target`` OPs (distinct where the
    space allows: a repeat is drawn again, up to 10 times)."""
    rng = np.random.default_rng([DRAW_SEED, cfg.search_seeds[0]])
    draws: list[list] = []
    for _ in cfg.seeds:
        for _attempt in range(10):
            genome = list(random_near(choices, lambda g: genome_ops(cfg, g), target,
                                      OPS_TOLERANCE, rng))
            if genome not in draws:
                break
        draws.append(genome)
    return draws


class Item(NamedTuple):
    """Models of one variant: one genome trained once per seed (``epochs``: None, the stage's)."""

    variant: str
    genome: list
    seeds: list[int]
    epochs: int | None = None


def fig5_epochs(cfg: View) -> int | None:
    """Epochs of Figure 5's own runs, or None where the figure uses the retraining's curves."""
    return fig5_apart(cfg.fig5_epochs, cfg.epochs)


def _groups_items(cfg: View) -> list[Item]:
    found = searched(cfg, "evolution")
    items = [Item("searched", found["best"], cfg.seeds)]
    items += [Item(f"searched_s{s}", searched(cfg, "evolution", s)["best"], cfg.seeds)
              for s in cfg.search_seeds[1:]]
    items.append(Item("random_search", searched(cfg, "random")["best"], cfg.seeds))
    max_ops = float(found["max_ops"])
    draws = random_sampling(cfg, found["choices"], lambda g: genome_ops(cfg, g) <= max_ops,
                            f"genomes within MaxFLOPs {max_ops:.0f}")
    items += [Item("random", g, [seed]) for g, seed in zip(draws, cfg.seeds, strict=True)]
    fig5 = fig5_epochs(cfg)
    if fig5 is not None:
        items += [Item(FIG5_PREFIX + it.variant, it.genome, it.seeds, fig5)
                  for it in items if it.variant in ("searched", "random")]
    return items


def _widths_items(cfg: View) -> list[Item]:
    items = []
    for tag in ("a", "b"):
        found = searched(cfg, f"evolution_{tag}")
        items.append(Item(f"auto_{tag}", found["best"], cfg.seeds))
        items += [Item(f"auto_{tag}_s{s}", searched(cfg, f"evolution_{tag}", s)["best"], cfg.seeds)
                  for s in cfg.search_seeds[1:]]
        items.append(Item(f"random_search_{tag}", searched(cfg, f"random_{tag}")["best"], cfg.seeds))
        draws = random_widths_at(cfg, found["choices"], genome_ops(cfg, found["best"]))
        items += [Item(f"random_{tag}", g, [seed]) for g, seed in zip(draws, cfg.seeds, strict=True)]
    return items


def items(cfg: View) -> list[Item]:
    """Every model this stage trains: ``(variant, genome, training seeds, epochs)``."""
    return _groups_items(cfg) if cfg.study == "groups" else _widths_items(cfg)


@distributable
def run(cfg: View) -> list[dict]:
    """Train every item of :func:`items`; returns their result records."""
    trainings = [Training(item.variant, models.genome_kwargs(cfg.family, item.genome), seed,
                          item.epochs)
                 for item in items(cfg) for seed in item.seeds]
    results = train_items(cfg, "retrain", trainings)
    log(f"   {len(results)} models of {cfg.family} trained")
    write_stage_metrics(cfg, "retrain", results)
    return results
