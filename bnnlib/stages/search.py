"""Stage 03: evolutionary search and the random baseline with the same evaluation budget.

Groups study: Phan et al. Algorithm 1 maximising one-shot accuracy (supernet + BN
recalibration on a fixed seeded subset) under a FLOP budget ``max_ops``. Widths study: the same
loop with Shen et al.'s fitness ``max(Acc - lambda * OPs / OPs_1x, 0)`` for two trade-offs
(``lam_a`` gives Auto-A, ``lam_b`` Auto-B); candidates are prefix slices of the 4x model,
fine-tuned ``finetune_epochs`` epochs (0: one-shot with BN recalibration).

Choices where the papers leave the CPU-scale study open:

- Budget. Phan et al.'s MaxFLOPs (1.55 / 0.80 / 0.50 x1e8 for M1 / M2 / M3 on ImageNet) sit at a
  relative position between the uniform groups = 16 and groups = 1 models' FLOPs (Table 1). At
  other sizes the budget is placed at the same position:
  ``max_ops = ops(sparse) + budget_position * (ops(g1) - ops(sparse))``, where ``sparse`` is
  groups = 16 in every gene, or a gene's largest candidate below 16 where 16 is not one (narrow
  models, ``max_groups < 16``); the log names that reference.
- The evaluations of the two trade-offs are shared: a genome scored once is not scored again.

Each search's state records, besides the search's own arguments, the digest of the supernet
weights it scores, the evaluator (kind, images, seeds, data fingerprints), the fitness or
budget and the code digest: a state written under anything else starts over, saying why
(``starting over: fitness.max_ops 52323 != 56014 in state``).
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import paper_values as pv
from .. import search
from ..data import dataset_fingerprint
from ..evaluators import FinetuneEvaluator, OneShotEvaluator
from ..fingerprint import code_digest
from ..fitness import accuracy_under_budget, shen_fitness_fn
from ..search_state import StateMismatchError, logged_seconds
from ..settings import View
from ..utils import CorruptFileError, write_json
from . import supernet as supernet_stage
from .common import (
    base_record,
    datasets,
    display,
    distributable,
    input_size,
    log,
    model_kwargs,
    write_stage_metrics,
)

#: modules whose code determines a search's result
SEARCH_CODE = (
    "bnnlib.search", "bnnlib.fitness", "bnnlib.evaluators", "bnnlib.supernet", "bnnlib.flops")


def paper_budget_position(family: str) -> float:
    """Phan et al.'s MaxFLOPs (Table 2) placed between the FLOPs of their uniform groups = 16
    (0) and groups = 1 (1) models (Table 1): M1 0.079, M2 0.273, M3 0.413."""
    flops = {row.key: pv.number(row.values["flops"]) for row in pv.PHAN_TABLE1[family]}
    max_flops = pv.number(next(r for r in pv.PHAN_TABLE2 if r.key == "max_flops").values[family])
    return (max_flops - flops["groups16"]) / (flops["groups1"] - flops["groups16"])

SPARSE_GROUPS = 16


class CachedAccuracy:
    """Memoises an evaluator by genome (two fitness trade-offs share the evaluations)."""

    def __init__(self, evaluate_fn):
        self.evaluate_fn, self.cache, self.seconds = evaluate_fn, {}, 0.0

    def __call__(self, genome) -> float:
        key = tuple(genome)
        if key not in self.cache:
            start = time.perf_counter()
            self.cache[key] = float(self.evaluate_fn(genome))
            self.seconds += time.perf_counter() - start
        return self.cache[key]


def sparse_genome(choices) -> list[int]:
    """Groups = 16 per gene, or the gene's largest candidate below 16 where 16 is not one."""
    return [max(c for c in gene if c <= SPARSE_GROUPS) for gene in choices]


def budget(cfg: View, supernet) -> float:
    """The groups study's FLOP budget in OPs (see the module docstring)."""
    if cfg.max_ops is not None:
        return float(cfg.max_ops)
    size = input_size(cfg)
    dense, sparse = [1] * len(supernet.choices), sparse_genome(supernet.choices)
    if any(g != SPARSE_GROUPS for g in sparse):
        log(f"   budget reference: groups {sparse} (16 is not a candidate of every gene)")
    position = paper_budget_position(cfg.family) if cfg.budget_position is None else cfg.budget_position
    low = supernet.ops(sparse, size)
    return low + position * (supernet.ops(dense, size) - low)


def make_evaluator(cfg: View, supernet) -> tuple[CachedAccuracy, dict]:
    """The candidate scorer of the view and its identity (for the search state)."""
    train_plain, val_data, _ = datasets(cfg, augment=False, search=True)
    common = {"calib_images": cfg.calib_images, "val_images": cfg.val_images, "seed": cfg.seed}
    if cfg.study == "groups" or cfg.finetune_epochs == 0:
        # the groups study's grouped convolutions run as its group_conv says (bnnlib.dynamic);
        # the widths supernet has none
        group_conv = cfg.group_conv if cfg.study == "groups" else "grouped"
        evaluator = OneShotEvaluator(supernet, train_plain, val_data, **common,
                                     batch_size=cfg.eval_batch_size, num_workers=cfg.workers,
                                     group_conv=group_conv)
        kind = {"kind": "one-shot"}
        if cfg.study == "groups":  # the same scores up to the order of the sums: part of them
            kind["group_conv"] = group_conv
    else:
        evaluator = FinetuneEvaluator(supernet, datasets(cfg, search=True)[0], val_data,
                                      epochs=cfg.finetune_epochs, batch_size=cfg.finetune_batch_size,
                                      optimizer=cfg.finetune_optimizer, lr=cfg.finetune_lr,
                                      schedule=cfg.finetune_schedule,
                                      **common, num_workers=cfg.workers)
        # the workers draw the fine-tuning crops: they determine the scores
        kind = {"kind": "finetune", "epochs": cfg.finetune_epochs, "recipe": evaluator.fit_kwargs,
                "train": dataset_fingerprint(evaluator.train_data), "workers": cfg.workers}
    identity = {**kind, **common, "batch_size": evaluator.batch_size,
                "calib": dataset_fingerprint(evaluator.calib),
                "val": dataset_fingerprint(evaluator.val)}
    return CachedAccuracy(evaluator), identity


def trade_offs(cfg: View, supernet, acc: CachedAccuracy) -> dict[str, tuple]:
    """``{method suffix: (fitness, constraint, fitness identity)}`` of the view's study."""
    size = input_size(cfg)

    def ops(genome):
        return supernet.ops(genome, size)

    if cfg.study == "groups":
        max_ops = budget(cfg, supernet)
        fitness, constraint = accuracy_under_budget(acc, ops, max_ops)
        return {"": (fitness, constraint, {"max_ops": max_ops, "lam": None, "ops_ref": None})}
    ops_ref = ops([1.0] * len(supernet.choices))
    return {
        f"_{tag}": (shen_fitness_fn(acc, ops, ops_ref, lam=lam), None,
                    {"max_ops": None, "lam": lam, "ops_ref": ops_ref})
        for tag, lam in (("a", cfg.lam_a), ("b", cfg.lam_b))
    }


def search_one(cfg: View, method: str, out: Path, choices, fitness, constraint, context: dict,
               evaluations: int | None = None, seed: int = 0):
    """One search, resumed from ``out/state.json``, or started over if that is stale or corrupt."""
    kw = {"log_path": out / "log.jsonl", "state_path": out / "state.json", "seed": seed,
          "progress": cfg.progress, "context": context}

    def run_search():
        if method.startswith("evolution"):
            return search.evolutionary_search(
                choices, fitness, constraint, population=cfg.population, topk=cfg.topk,
                crossovers=cfg.crossovers, mutations=cfg.mutations, iterations=cfg.iterations,
                mutation_prob=cfg.mutation_prob, **kw)
        return search.random_search(choices, fitness, constraint, evaluations=evaluations, **kw)

    start = time.perf_counter()
    try:
        result = run_search()
    except (StateMismatchError, CorruptFileError) as err:
        log(f"[{display(out)}] starting over: {getattr(err, 'detail', err)}")
        for name in ("log.jsonl", "state.json"):
            (out / name).unlink(missing_ok=True)
        result = run_search()
    return result, time.perf_counter() - start


@distributable
def run(cfg: View) -> list[dict]:
    """Evolution and random search per trade-off and search seed; writes each one's
    ``runs/search/<family>/<method>/seed<k>/result.json``."""
    supernet, weights = supernet_stage.load(cfg)
    acc, evaluator = make_evaluator(cfg, supernet)
    base = {**base_record(cfg), "model_kwargs": model_kwargs(cfg), "choices": supernet.choices,
            "train_data": dataset_fingerprint(datasets(cfg, search=True)[0]),
            "supernet_weights": weights}
    context = {"supernet": weights, "evaluator": evaluator, "input_size": list(input_size(cfg)),
               "code": code_digest(SEARCH_CODE)}
    results = []
    for suffix, (fitness, constraint, info) in trade_offs(cfg, supernet, acc).items():
        for seed in cfg.search_seeds:
            evolution = None
            for method in ("evolution" + suffix, "random" + suffix):
                out = cfg.runs_dir / "search" / cfg.family / method / f"seed{seed}"
                log(f"== search: {cfg.family} {method} seed {seed} {info}")
                budget_size = evolution.evaluations if evolution is not None else None
                res, seconds = search_one(cfg, method, out, supernet.choices, fitness, constraint,
                                          {**context, "fitness": info}, budget_size, seed)
                evolution = evolution or res
                best = next(e for e in res.history if tuple(e.genome) == tuple(res.best))
                record = {**base, "method": method, "seed": seed, "best": list(res.best),
                          "best_fitness": res.best_fitness, "best_acc": best.extras.get("acc"),
                          "best_ops": best.extras.get("ops"), **info, "evaluations": res.evaluations,
                          # the whole search's scoring time, earlier calls of a resumed one
                          # included; wall_seconds: this call's
                          "search_seconds": logged_seconds(out / "log.jsonl"),
                          "wall_seconds": seconds,
                          "history": "log.jsonl", "notes": res.notes}
                write_json(out / "result.json", record)
                results.append(record)
    write_stage_metrics(cfg, "search", results)
    return results
