"""Project each stage's GPU-hours of a profile before it starts.

:func:`workload` counts, from a validated :class:`bnnlib.settings.Params` alone (no data, no
results of earlier stages), what every stage of one family does: the models it trains, their
OPs (``bnnlib.flops``, on the meta device, with the stages' own model construction:
``stages.common.model_kwargs``, ``stages.uniform.variants`` / ``variant_kwargs``), the images
trained and evaluated, and the candidate evaluations of the searches. :func:`project` turns
that into hours with measured rates (:func:`load_rates`, a JSON file of images per second per
family at one or more OPs points, measured on one device), one row per family and stage.
:func:`compare_search` puts the projected search hours beside the papers' own
(:func:`paper_costs`). ``python -m bnnlib.cost --params profiles/gpu.yaml --rates FILE`` prints
all of it as Markdown.

What is counted (each number follows the stage's code; ``S`` = ``len(search_seeds)``,
``E = population + (iterations - 1) * (crossovers + mutations)``, ``P`` = ``population``):

- **Images.** Training images ``n_train`` = ``train_subset``, or the training split less
  ``val_size``; search-validation ``n_val`` = ``val_subset`` or ``val_size``; the final models'
  test split = ``test_subset`` or the whole test split (:data:`SPLIT_SIZES`). A size the data
  cannot give (``train_subset`` above what is left) is a ``ValueError``, as ``get_datasets``
  would raise.
- **uniform** (``stages.uniform``): every row of ``variants(family)`` once per training seed,
  ``epochs.uniform`` epochs on ``n_train``; after every epoch ``MONITOR_IMAGES`` (1000) test
  images are scored, at the end the whole test split (``stages.common.train_item``).
- **supernet**: one run of ``epochs.supernet`` epochs on ``n_search`` (``n_train``, or
  ``search_per_class`` x classes in the widths study when set), validation of the largest
  candidate on ``n_val`` after every epoch. Timed at the OPs of what a step computes (a random
  genome's, or the 4x model's with ``supernet_sampling: largest``), times
  ``supernet_over_static``.
- **search** (``stages.search.run``): per trade-off (groups: one; widths: ``_a``, ``_b``) and
  per search seed, ``evolution`` (at most ``E`` evaluations) and ``random`` with the same
  number. One ``CachedAccuracy`` serves every search of the stage, so a genome is scored once:
  the random search of a seed draws its first ``P`` genomes exactly as that seed's evolution
  drew its initial population (the same sampler and seed: cached), and in the widths study
  (no constraint) ``evolution_b`` starts from ``evolution_a``'s population and ``random_b``
  draws ``random_a``'s genomes. Fresh evaluations: groups ``S * (E + E - P)``; widths
  ``S * (E + (E - P) + (E - P) + 0)`` (children of the two trade-offs that coincide are
  counted twice: an upper bound, as is ``E`` for a run that exhausts its space). A one-shot
  evaluation forwards ``calib_images`` (BN recalibration, training images) and
  ``val_images`` (search-validation images); with ``finetune_epochs > 0`` (widths) a candidate
  is instead trained ``finetune_epochs`` epochs on ``n_search`` images (the training split, or
  its ``search_per_class`` subset; calibration images come from the same; ``n_train``:
  ``FinetuneEvaluator`` gets ``datasets(cfg)[0]``, with no recalibration) and then scored on
  ``val_images``.
- **proxy** (``stages.proxy``): ``genomes`` candidate evaluations by the search's evaluator
  (fine-tuned when the search's are), and ``genomes`` models trained once (seed ``seed``, not
  per training seed) for ``proxy.epochs`` on ``min(train_images, n_train)`` images, scored per
  epoch on up to 1000 and at the end on ``min(test_images, test split)`` test images (the
  proxy reads the whole test split, not ``test_subset``).
- **retrain** (``stages.retrain.items``): groups: ``searched``, ``searched_s<k>`` per further
  search seed and ``random_search``, each once per training seed, and ``random``, one draw per
  training seed trained with that seed: ``(S + 2) * len(seeds)`` models. Widths: the same per
  trade-off (``auto_a``/``auto_b``, ``auto_<t>_s<k>``, ``random_search_<t>``, ``random_<t>``):
  ``2 * (S + 2) * len(seeds)``. Same epochs, monitor and test as the uniform rows. Groups with
  ``epochs.fig5`` set (and not the retraining's): ``fig5_searched`` and ``fig5_random``, once
  per training seed each, for ``fig5`` epochs.

OPs that are unknown before the search are estimated (the ``estimate`` field says which):

- ``"budget"``: groups study, every search candidate and retrained genome is timed at the
  search's MaxFLOPs (``stages.search.budget``: ``max_ops`` or the position between groups 16
  and groups 1): every feasible genome is at or below it, and accuracy pulls the search to it,
  so it is an upper bound.
- ``"random-genome mean"``: the mean OPs of :data:`OPS_DRAWS` uniformly random genomes of the
  supernet's space (seeded): what a supernet step computes with a random genome per step, the
  proxy genomes (spread evenly over the ranks of random OPs), and, in the widths study (no
  budget), every search candidate and retrained genome. Shen et al.'s fitness pulls Auto-A
  below it and Auto-B above it; about +-12% sampling error.
- ``"binary twin"``: a real-valued model (the ``fp`` rows) is timed at the OPs of the same
  architecture binary: the rates are binary training steps, and a real-valued step computes the
  same MACs in float (only ``ops_per_image``, the counter's OPs of the model, differs).

Rates (:func:`load_rates`): per profile and family, ``train`` lists training-step rates
(images/s) of binary models of the family at the profile's input size and batch, at one or more
OPs points; the seconds per image at OPs ``o`` are linear in ``o`` between the points
(:func:`seconds_per_image`) and, outside them, follow the end segments' lines, floored so that a
smaller model is never slower than proportional scaling of the smallest point predicts nor a
larger one faster than the largest point. One point: constant. ``eval_img_s`` is the
forward-only rate (a number, or points like ``train``; when missing, 3x the training rate of
the same model). ``supernet_over_static`` multiplies supernet steps and one-shot evaluations
through the supernet (default 1.0). ``candidate_s`` is the seconds of one one-shot candidate
evaluation (when missing: ``(calib + val images) / eval rate * supernet_over_static``); with
``candidate_images`` (the calibration + validation images it was measured with) it is scaled
linearly to the profile's ``calib_images + val_images``, else used as it is. It does not apply to
fine-tuned candidates, which are timed as training plus evaluation. ``candidate_s_dense`` and
``candidate_images_dense`` are the same for candidates scored with dense convolutions (the
groups search's ``group_conv: dense``, ``bnnlib.dynamic``); a profile scoring densely on a
device without them is projected at the grouped rate (dense scoring was never the slower where
both were measured: docs/gpu.md). ``jobs_speedup`` maps a
``jobs`` value to the measured speedup of that many trainings at once on the device
(``bench/bench_jobs.py``'s steady speedup, process start excluded): with the profile's ``jobs``
among them (and ``devices: 1``), the models trained alone (uniform, retrain, proxy training)
take their hours divided by it, times a stage's :func:`tail_factor` (its last round of
trainings partly filled); a ``jobs`` value the file does not give gains nothing, and the
projection's ``jobs_speedup`` attribute says which applied (None: not measured).
``warmup_s`` is the seconds a model's first epoch takes beyond a later one's (cuDNN autotuning
the model's convolution shapes, kernel compilation, first allocations), added once per model
trained from scratch and divided by the jobs speedup like the rest of its hours;
``fp_warmup_s`` is the same for the real-valued ``fp`` rows (M1's: 32 s on the H200, against
6-10 s for its binary models; missing: ``warmup_s``), and ``supernet_warmup_s`` for the
supernet, whose random genomes bring many more shapes (``bench/make_rates.py --warmup``, from
the per-epoch seconds of stages run on the device). Measured on the first H200 stages: 1-32 s
per model and 33 s for a supernet, while a later epoch took 1-4 s. A family without them counts
none, and the projection's ``warmup_s`` attribute says which applied. Each training's first
epoch was measured, so where several seeds of one variant train in one process (which keeps
cuDNN's choices for shapes it has seen) it is an upper bound.

**Disk** (:func:`disk_needs`; ``checkpoints_GB`` per stage): a finished model keeps one file,
its final ``last.pt`` (``bnnlib.train``: weights and buffers, no optimizer state; a few
kilobytes of history and RNG states besides), a supernet its ``last.pt`` too (the
``supernet.pt`` beside it that the search reads records its digest, not a second copy), a
search a few kilobytes of JSON. Bytes are
``supernet.state_bytes`` of the stages' models built on the meta device; searched, random and
proxy genomes' are the mean of the :data:`OPS_DRAWS` random genomes' (the widths study's Auto-A
is smaller, Auto-B larger). While it trains, a model's run state holds the optimizer's moments
too (:data:`OPTIMIZER_SLOTS`: Adam two, SGD one), and a run can have ``last.pt``, ``best.pt``
and a file being written at once. DVC copies every output into its cache when a stage ends (a
filesystem with reflinks shares the blocks instead), so the finished stages are on disk twice.
Checked against a `gpu`-widths run on the CPU (3 seeds, toy epochs, 3 proxy genomes) with the
code before the supernet kept its weights once: 16.3 GB projected in ``runs/`` (supernet 2.71),
16.6 GB measured; the uniform and supernet stages within 0.1%. With the supernet's weights
kept once: 14.9 GB projected (supernet 1.35), 15.3 GB measured.

Not counted: process start-up (spawn, imports, the CUDA context: 16-17 s on the H200 with a
few warm-up batches), checkpoint and result I/O, data loading beyond what the measured rates
include, distributed overheads, and the second scoring of each final model's test split when a
stage runs under torchrun (``devices`` > 1) and is read back. Hours are one device's
(GPU-hours); ``devices: N`` data-parallel divides the wall time by at most ``N``. Binary steps
cost what their total MACs cost rather than their Bi-Real OPs; within one family the two move
together, which is why rates are given per family. ``FinetuneEvaluator`` trains with batch 128
and SGD whatever the profile's recipe: its steps are timed at the profile's training rate.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import settings
from .jobs import jobs_in_use
from .settings import FAMILIES, STAGES, Params, closest, study_of

#: images of each dataset's official (training, test) splits, known without loading anything
#: (ImageNet's test split is its 50,000-image validation set). ``bnnlib.data`` holds no such
#: table; these are the sizes ``get_datasets`` finds.
SPLIT_SIZES: dict[str, tuple[int, int]] = {
    "fashion_mnist": (60_000, 10_000),
    "cifar10": (50_000, 10_000),
    "imagenet": (1_281_167, 50_000),
}
#: uniformly random genomes whose mean OPs stand for a random / searched genome (seeded)
OPS_DRAWS = 16
#: forward-only rate over training-step rate when ``eval_img_s`` is missing
EVAL_OVER_TRAIN = 3.0
KINDS = ("static", "supernet", "one-shot", "finetune")
RATE_KEYS = ("train", "eval_img_s", "supernet_over_static", "candidate_s", "candidate_images",
             "candidate_s_dense", "candidate_images_dense", "jobs_speedup", "warmup_s", "fp_warmup_s", "supernet_warmup_s")
TOP_KEYS = ("device", "torch", "source", "profiles")
POINT_KEYS = ("ops", "img_s")


# ---- what a stage does ---------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Work:
    """One kind of work of one stage of one family (one row of :func:`work_frame`).

    ``models``: models trained from scratch (each training seed counts one); ``candidates``:
    candidate evaluations (search, proxy scores); ``epochs`` x ``train_images``: what each model
    or fine-tuned candidate trains; ``images_trained``: the total (``models`` or ``candidates``
    x ``epochs`` x ``train_images``); ``images_evaluated``: forward-only images (validation,
    test, BN recalibration, candidate scoring). ``ops_per_image``: OPs of the model
    (``bnnlib.flops``; an estimate where ``estimate`` says so); ``timed_ops``: OPs the training
    rate is read at; ``eval_ops``: OPs of what is evaluated (the supernet's largest candidate).
    ``kind``: ``static`` (a model trained alone), ``supernet``, ``one-shot`` or ``finetune``
    (candidate evaluations); ``group_conv``: how one-shot candidates run their grouped
    convolutions (the groups search's setting; ``grouped`` elsewhere). ``checkpoint_bytes``: what the stage keeps on disk for this work
    (every model's final ``last.pt``, the supernet's too); ``state_bytes``: one
    model's whole run state while it trains (weights and the optimizer's moments).
    """

    family: str
    stage: str
    what: str
    models: int = 0
    candidates: int = 0
    epochs: int = 0
    train_images: int = 0
    images_trained: int = 0
    images_evaluated: int = 0
    ops_per_image: float
    timed_ops: float
    eval_ops: float
    kind: str = "static"
    group_conv: str = "grouped"
    estimate: str = "counted"
    checkpoint_bytes: int = 0
    state_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Splits:
    """Images of one family's splits as the stages see them."""

    train: int       # training images of every stage (val_size held out, train_subset applied)
    val: int         # search-validation images (val_subset of the held-out val_size)
    test: int        # test images of the final models (test_subset, or the whole test split)
    test_full: int   # the whole test split (the proxy stage does not read test_subset)
    search_train: int = 0  # training images of the supernet and the search (search_per_class)


def _get(params: Params, dotted: str):
    value: Any = params
    for part in dotted.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


def families(params: Params) -> list[str]:
    """The families of ``params``, groups study first, in the settings' order."""
    return list(params.groups.families) + list(params.widths.families)


def _check_family(params: Params, family: str) -> str:
    study = study_of(family)
    present = getattr(params, study).families
    if family not in present:
        raise ValueError(f"family {family!r} is not in {study}.families of profile "
                         f"{params.profile!r}; it has: {', '.join(families(params))}")
    return study


def stage_view(params: Params, stage: str, family: str) -> settings.View:
    """The :class:`bnnlib.settings.View` a stage would read, from ``params`` (no file)."""
    keys = settings.stage_keys(stage, family)
    values = {name: _get(params, dotted) for name, dotted in keys.items()}
    root = settings.repo_root()
    return settings.View(stage, family, values, keys, root, root / "runs", root / "metrics",
                         root / "runs")


def splits(params: Params, family: str) -> Splits:
    """The split sizes of ``family`` under ``params`` (:data:`SPLIT_SIZES`, nothing loaded)."""
    _check_family(params, family)
    fam = getattr(params, study_of(family)).families[family]
    if fam.dataset not in SPLIT_SIZES:
        raise ValueError(f"no split sizes for dataset {fam.dataset!r}; known: "
                         f"{', '.join(SPLIT_SIZES)}")
    n_full, n_test = SPLIT_SIZES[fam.dataset]
    d = params.data
    if d.val_size >= n_full:
        raise ValueError(f"data.val_size = {d.val_size} leaves no training image of {fam.dataset} "
                         f"({n_full} training images)")
    left = n_full - d.val_size
    for key, value, limit in (("train_subset", d.train_subset, left),
                              ("val_subset", d.val_subset, d.val_size),
                              ("test_subset", d.test_subset, n_test)):
        if value is not None and value > limit:
            raise ValueError(f"data.{key} = {value} exceeds the {limit} images {fam.dataset} "
                             f"leaves for it (family {family}); use 1..{limit} or null")
    train = d.train_subset or left
    per_class = getattr(fam, "search_per_class", None)
    if per_class is not None:
        from .registry import dataset_info

        # of the whole training split: train_subset does not apply (stages.common.datasets)
        search_train = min(per_class * dataset_info(fam.dataset).num_classes, left)
    else:
        search_train = train
    return Splits(train=train, val=d.val_subset or d.val_size,
                  test=d.test_subset or n_test, test_full=n_test, search_train=search_train)


def evaluations_per_search(search: settings.Search) -> int:
    """``population + (iterations - 1) * (crossovers + mutations)``: one run's evaluations at
    most (``bnnlib.search``)."""
    return search.population + (search.iterations - 1) * (search.crossovers + search.mutations)


@dataclass(frozen=True)
class FamilyOps:
    """OPs of one family's models under one profile (see the module docstring)."""

    uniform: dict[str, tuple[float, float]]  # variant -> (OPs, OPs it is timed at)
    largest: float                            # the supernet's largest candidate
    random_mean: float                        # mean OPs of OPS_DRAWS random genomes
    budget: float | None                      # groups: the search's MaxFLOPs
    uniform_bytes: dict[str, int]             # variant -> bytes of its weights and buffers
    supernet_bytes: int                       # the supernet's
    random_bytes: float                       # mean of the OPS_DRAWS random genomes' models


def family_ops(params: Params, family: str) -> FamilyOps:
    """The OPs :func:`workload` uses for ``family`` (counted on the meta device, cached)."""
    _check_family(params, family)
    return _family_ops(family, json.dumps(settings.to_dict(params), sort_keys=True))


@functools.lru_cache(maxsize=64)
def _family_ops(family: str, key: str) -> FamilyOps:
    import torch

    from . import supernet as supernets
    from .stages import search as search_stage
    from .stages.common import input_size, model_kwargs
    from .stages.uniform import variant_kwargs, variants

    params = settings.from_dict(json.loads(key), "cost")
    cfg = stage_view(params, "uniform", family)
    size, base = input_size(cfg), model_kwargs(cfg)
    uniform, uniform_bytes = {}, {}
    for variant in variants(family, cfg.study):
        kwargs = {**base, **variant_kwargs(family, cfg.study, variant, cfg.width_mult)}
        ops = supernets.static_ops(family, size, **kwargs)
        timed = (supernets.static_ops(family, size, **{**kwargs, "binary": True})
                 if kwargs.get("binary") is False else ops)
        uniform[variant] = (ops, timed)
        uniform_bytes[variant] = supernets.static_state_bytes(family, **kwargs)
    net_cfg = stage_view(params, "supernet", family)
    extra = {"max_groups": net_cfg.max_groups} if cfg.study == "groups" else {}
    with torch.device("meta"):  # only its choices and OPs are read: no weights allocated
        net = supernets.build(family, **extra, **model_kwargs(net_cfg))
    rng = np.random.default_rng([params.seed, 2019])
    draws = [net.sample(rng) for _ in range(OPS_DRAWS)]
    random_mean = float(np.mean([net.ops(genome, size) for genome in draws]))
    random_bytes = float(np.mean([supernets.static_state_bytes(family, **net.model_kwargs(genome))
                                  for genome in draws]))
    budget = None
    if cfg.study == "groups":
        with contextlib.redirect_stdout(io.StringIO()):  # the stage logs its budget reference
            budget = float(search_stage.budget(stage_view(params, "search", family), net))
    return FamilyOps(uniform, float(net.ops(net.largest, size)), random_mean, budget,
                     uniform_bytes, supernets.state_bytes(net), random_bytes)


#: tensors an optimizer keeps per weight (Adam: two moments; SGD: the momentum buffer)
OPTIMIZER_SLOTS = {"adam": 2, "sgd": 1}


def workload(params: Params, family: str) -> list[Work]:
    """Everything every stage does for ``family`` under ``params`` (module docstring)."""
    from .stages.common import MONITOR_IMAGES

    study = _check_family(params, family)
    sp, ops = splits(params, family), family_ops(params, family)
    cfg = getattr(params, study)
    # epochs: the study's (groups) or the family's own (widths)
    epochs = cfg.epochs if study == "groups" else cfg.families[family].epochs
    recipe = cfg.train if study == "groups" else cfg.families[family].train
    run_state = 1 + OPTIMIZER_SLOTS[recipe.optimizer]  # a run state over its weights alone
    n_seeds, n_search = len(params.seeds), len(params.search_seeds)
    works: list[Work] = []

    def trained(stage: str, what: str, models: int, epochs: int, model_ops: float,
                model_bytes: float, timed: float | None = None, estimate: str = "counted",
                train: int | None = None, test: int | None = None) -> Work:
        train = sp.train if train is None else train
        test = sp.test if test is None else test
        watch = min(MONITOR_IMAGES, test)
        return Work(family=family, stage=stage, what=what, models=models, epochs=epochs,
                    train_images=train, images_trained=models * epochs * train,
                    images_evaluated=models * (epochs * watch + test), ops_per_image=model_ops,
                    timed_ops=model_ops if timed is None else timed,
                    eval_ops=model_ops if timed is None else timed,
                    estimate=estimate, checkpoint_bytes=round(models * model_bytes),
                    state_bytes=round(run_state * model_bytes))

    # uniform
    for variant, (model_ops, timed) in ops.uniform.items():
        works.append(trained("uniform", variant, n_seeds, epochs.uniform, model_ops,
                             ops.uniform_bytes[variant], timed,
                             "counted" if timed == model_ops else "binary twin"))
    # supernet
    largest_mode = study == "widths" and cfg.supernet_sampling == "largest"
    step_ops = ops.largest if largest_mode else ops.random_mean
    works.append(Work(
        family=family, stage="supernet",
        what="supernet (largest, as is)" if largest_mode else "supernet (random genome per step)",
        models=1, epochs=epochs.supernet, train_images=sp.search_train,
        images_trained=epochs.supernet * sp.search_train,
        images_evaluated=epochs.supernet * sp.val, ops_per_image=step_ops,
        timed_ops=step_ops, eval_ops=ops.largest, kind="supernet",
        estimate="counted" if largest_mode else "random-genome mean",
        checkpoint_bytes=ops.supernet_bytes,  # last.pt (supernet.pt: its digest, no weights)
        state_bytes=run_state * ops.supernet_bytes))
    # search
    search = cfg.search
    finetune = study == "widths" and search.finetune_epochs > 0
    calib = min(search.calib_images or sp.search_train, sp.search_train)
    val = min(search.val_images or sp.val, sp.val)
    if study == "groups":
        cand_ops, cand_estimate = ops.budget, "budget"
    else:
        cand_ops, cand_estimate = ops.random_mean, "random-genome mean"

    def candidates(stage: str, what: str, n: int, model_ops: float, estimate: str) -> Work:
        if finetune:
            ep = search.finetune_epochs
            return Work(family=family, stage=stage, what=what, candidates=n, epochs=ep,
                        train_images=sp.search_train, images_trained=n * ep * sp.search_train,
                        images_evaluated=n * val, ops_per_image=model_ops, timed_ops=model_ops,
                        eval_ops=model_ops, kind="finetune", estimate=estimate)
        return Work(family=family, stage=stage, what=what, candidates=n,
                    images_evaluated=n * (calib + val), ops_per_image=model_ops,
                    timed_ops=model_ops, eval_ops=model_ops, kind="one-shot", estimate=estimate,
                    group_conv=search.group_conv if study == "groups" else "grouped")

    e, p = evaluations_per_search(search), search.population
    seeds_note = f"{n_search} search seed{'s' if n_search > 1 else ''}"
    if study == "groups":
        plan = [("evolution", e), (f"random (same budget; first {p} draws cached)", e - p)]
    else:
        plan = [("evolution_a", e), ("evolution_b (population of _a cached)", e - p),
                (f"random_a (first {p} draws cached)", e - p),
                ("random_b (draws of random_a cached)", 0)]
    for what, n in plan:
        works.append(candidates("search", f"{what}, {seeds_note}", n_search * n, cand_ops,
                                cand_estimate))
    # proxy
    px = cfg.proxy
    works.append(candidates("proxy", "one-shot scores" if not finetune else "fine-tuned scores",
                            px.genomes, ops.random_mean, "random-genome mean"))
    proxy_train = min(px.train_images or sp.train, sp.train)
    proxy_test = min(px.test_images or sp.test_full, sp.test_full)
    works.append(trained("proxy", "stand-alone models", px.genomes, px.epochs, ops.random_mean,
                         ops.random_bytes, estimate="random-genome mean", train=proxy_train,
                         test=proxy_test))
    # retrain
    if study == "groups":
        tags = [("searched", "random_search", "random")]
        ret_ops, ret_estimate = ops.budget, "budget"
    else:
        tags = [(f"auto_{t}", f"random_search_{t}", f"random_{t}") for t in ("a", "b")]
        ret_ops, ret_estimate = ops.random_mean, "random-genome mean"
    for best, rsearch, rsample in tags:
        rows = [(best, n_seeds)]
        if n_search > 1:
            rows.append((f"{best}_s<k> ({n_search - 1} more search seeds)",
                         (n_search - 1) * n_seeds))
        rows += [(rsearch, n_seeds), (f"{rsample} (one draw per seed)", n_seeds)]
        for what, models in rows:
            works.append(trained("retrain", what, models, epochs.retrain, ret_ops,
                                 ops.random_bytes, estimate=ret_estimate))
    fig5 = settings.fig5_apart(getattr(epochs, "fig5", None), epochs.retrain)  # groups only
    if fig5 is not None:
        for what in ("fig5_searched", "fig5_random (the random draws)"):
            works.append(trained("retrain", f"{what}, Figure 5", n_seeds, fig5, ret_ops,
                                 ops.random_bytes, estimate=ret_estimate))
    return works


# ---- rates ------------------------------------------------------------------------------------

Points = tuple[tuple[float, float], ...]  # (OPs, seconds per image), sorted by OPs


def seconds_per_image(points: Points, ops: float) -> float:
    """Seconds per image at ``ops``: linear between the ``(ops, seconds)`` points, the end
    segments' lines outside them (floored: never below proportional scaling of the smallest
    point, never below the largest point's seconds); one point: constant."""
    if len(points) == 1:
        return points[0][1]
    if ops <= points[0][0]:
        (o0, s0), (o1, s1) = points[0], points[1]
        line = s0 + (ops - o0) * (s1 - s0) / (o1 - o0)
        return max(line, s0 * max(ops, 0.0) / o0)
    if ops >= points[-1][0]:
        (o0, s0), (o1, s1) = points[-2], points[-1]
        return max(s1 + (ops - o1) * (s1 - s0) / (o1 - o0), s1)
    for (o0, s0), (o1, s1) in zip(points[:-1], points[1:], strict=True):
        if o0 <= ops <= o1:
            return s0 + (ops - o0) * (s1 - s0) / (o1 - o0)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class FamilyRates:
    """Measured rates of one family in one profile (see :func:`load_rates`)."""

    train: Points
    eval: Points | None = None
    supernet_over_static: float = 1.0
    candidate_s: float | None = None
    candidate_images: float | None = None
    candidate_s_dense: float | None = None
    candidate_images_dense: float | None = None
    jobs_speedup: Mapping[int, float] = dataclasses.field(default_factory=dict)
    warmup_s: float | None = None
    fp_warmup_s: float | None = None
    supernet_warmup_s: float | None = None

    def warmup(self, work: Work) -> float:
        """First-epoch warm-up seconds of one model of ``work`` (0 where not measured)."""
        if work.kind == "supernet":
            return self.supernet_warmup_s or 0.0
        if work.estimate == "binary twin" and self.fp_warmup_s is not None:  # a real-valued row
            return self.fp_warmup_s
        return self.warmup_s or 0.0

    def candidate(self, group_conv: str = "grouped") -> tuple[float | None, float | None]:
        """Seconds of one one-shot candidate and the images it was measured with, scored with
        ``group_conv`` (dense: the grouped rate where dense was not measured)."""
        if group_conv == "dense" and self.candidate_s_dense is not None:
            return self.candidate_s_dense, self.candidate_images_dense
        return self.candidate_s, self.candidate_images

    def speedup(self, jobs: int) -> float:
        """Measured speedup of ``jobs`` trainings at once (1.0 where not measured)."""
        return self.jobs_speedup.get(jobs, 1.0) if jobs > 1 else 1.0

    def train_s(self, ops: float) -> float:
        """Seconds per training image (one binary training step's share) at ``ops``."""
        return seconds_per_image(self.train, ops)

    def eval_s(self, ops: float) -> float:
        """Seconds per forward-only image at ``ops`` (missing: training rate x 3)."""
        if self.eval is None:
            return self.train_s(ops) / EVAL_OVER_TRAIN
        return seconds_per_image(self.eval, ops)


@dataclass(frozen=True)
class Rates:
    """A rates file: the device it was measured on and, per profile and family, its rates."""

    device: str
    profiles: dict[str, dict[str, FamilyRates]]
    torch: str | None = None
    source: str | None = None
    path: str | None = None

    @property
    def where(self) -> str:
        return f"rates file {self.path}" if self.path else "the rates"

    def profile(self, name: str) -> dict[str, FamilyRates]:
        if name not in self.profiles:
            raise ValueError(f"{self.where} has no profile {name!r}"
                             f"{closest(name, self.profiles)}; profiles in the file: "
                             f"{', '.join(self.profiles)}")
        return self.profiles[name]


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where} = {value!r} is not a number")
    if value <= 0:
        raise ValueError(f"{where} = {value!r} must be > 0")
    return float(value)


def _keys(raw, valid: Sequence[str], where: str, required: Sequence[str] = ()) -> None:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be an object with keys {', '.join(valid)}; got {raw!r}")
    for key in raw:
        if key not in valid:
            raise ValueError(f"unknown key {where}.{key}{closest(str(key), valid)}; "
                             f"valid keys of {where}: {', '.join(valid)}")
    for key in required:
        if key not in raw:
            raise ValueError(f"{where} lacks {key!r} (valid keys: {', '.join(valid)})")


def _points(raw, where: str) -> Points:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where} must be a non-empty list of {{\"ops\": ..., \"img_s\": ...}}; "
                         f"got {raw!r}")
    points = []
    for i, point in enumerate(raw):
        _keys(point, POINT_KEYS, f"{where}[{i}]", POINT_KEYS)
        points.append((_number(point["ops"], f"{where}[{i}].ops"),
                       1.0 / _number(point["img_s"], f"{where}[{i}].img_s")))
    ops = [o for o, _ in points]
    if len(set(ops)) != len(ops):
        raise ValueError(f"{where} repeats an ops value ({ops}); give each OPs point once")
    return tuple(sorted(points))


def _speedups(raw, where: str) -> dict[int, float]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must map jobs (\"2\", \"3\", ...) to speedups; got {raw!r}")
    out = {}
    for key, value in raw.items():
        jobs = int(key) if str(key).isdigit() else 0
        if jobs < 2:
            raise ValueError(f"{where} key {key!r} is not a jobs value: use integers >= 2")
        out[jobs] = _number(value, f"{where}.{key}")
    return out


def rates_from_dict(raw, source: str | None = None) -> Rates:
    """Validated :class:`Rates` from the parsed JSON (``source``: the file it came from); errors
    name the bad key and the valid ones."""
    try:
        _keys(raw, TOP_KEYS, "rates", ("device", "profiles"))
        for key in ("device", "torch", "source"):
            if key in raw and (not isinstance(raw[key], str) or not raw[key]):
                raise ValueError(f"rates.{key} = {raw[key]!r} is not a non-empty string")
        profiles = raw["profiles"]
        if not isinstance(profiles, Mapping) or not profiles:
            raise ValueError(f"rates.profiles must map profile names to families; got {profiles!r}")
        table: dict[str, dict[str, FamilyRates]] = {}
        for name, fams in profiles.items():
            where = f"profiles.{name}"
            if not isinstance(fams, Mapping) or not fams:
                raise ValueError(f"{where} must map families ({', '.join(FAMILIES)}) to rates; "
                                 f"got {fams!r}")
            table[name] = {}
            for family, entry in fams.items():
                if family not in FAMILIES:
                    raise ValueError(f"unknown family {where}.{family}"
                                     f"{closest(str(family), FAMILIES)}; "
                                     f"valid families: {', '.join(FAMILIES)}")
                at = f"{where}.{family}"
                _keys(entry, RATE_KEYS, at, ("train",))
                ev = entry.get("eval_img_s")
                if ev is None:
                    eval_points = None
                elif isinstance(ev, list):
                    eval_points = _points(ev, f"{at}.eval_img_s")
                else:
                    eval_points = ((1.0, 1.0 / _number(ev, f"{at}.eval_img_s")),)
                factor = entry.get("supernet_over_static")
                for suffix in ("", "_dense"):
                    if entry.get(f"candidate_images{suffix}") is not None and entry.get(
                            f"candidate_s{suffix}") is None:
                        raise ValueError(f"{at}.candidate_images{suffix} is given without "
                                         f"candidate_s{suffix}")
                table[name][family] = FamilyRates(
                    jobs_speedup=_speedups(entry.get("jobs_speedup", {}), f"{at}.jobs_speedup"),
                    train=_points(entry["train"], f"{at}.train"), eval=eval_points,
                    supernet_over_static=1.0 if factor is None else _number(
                        factor, f"{at}.supernet_over_static"),
                    **{key: None if entry.get(key) is None else _number(entry[key], f"{at}.{key}")
                       for key in ("candidate_s", "candidate_images", "candidate_s_dense",
                                   "candidate_images_dense", "warmup_s", "fp_warmup_s",
                                   "supernet_warmup_s")})
    except ValueError as err:
        raise ValueError(f"{source or 'rates'}: {err}") from None
    return Rates(device=raw["device"], profiles=table, torch=raw.get("torch"),
                 source=raw.get("source"), path=source)


def load_rates(path: str | Path) -> Rates:
    """Read and validate a rates JSON file (module docstring; example in ``--help``)::

        {"device": "NVIDIA H200", "torch": "2.11.0+cu130", "source": "how measured",
         "profiles": {"gpu": {"vgg_small": {
             "train": [{"ops": 8.2e6, "img_s": 93000.0}, {"ops": 131e6, "img_s": 12500.0}],
             "eval_img_s": 300000.0, "supernet_over_static": 1.25, "candidate_s": 0.05}}}}

    ``train`` is required per family; ``eval_img_s`` (a number, or points like ``train``),
    ``supernet_over_static``, ``candidate_s`` and ``candidate_images`` (the calibration +
    validation images ``candidate_s`` was measured with: scaled to the profile's), and the same
    two with ``_dense`` for dense scoring, are optional;
    ``torch`` and ``source`` too.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such rates file")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from None
    return rates_from_dict(raw, str(path))


# ---- hours --------------------------------------------------------------------------------------

def tail_factor(models: int, jobs: int) -> float:
    """What a stage's last, partly filled round of trainings costs: ``models`` trainings,
    ``jobs`` at once, take ``ceil(models / jobs)`` rounds of ``jobs`` trainings' time, i.e.
    ``ceil(models / jobs) * jobs / models`` times a full overlap (1.0 where ``jobs`` divides
    ``models``; equal trainings assumed). Measured: M1's uniform stage of one seed (4 models)
    with ``jobs: 3`` took 1.46x what full overlap predicts, against a factor of 1.5."""
    if jobs <= 1 or models <= 0:
        return 1.0
    return math.ceil(models / jobs) * jobs / models


def work_hours(work: Work, rates: FamilyRates, jobs: int = 1, stage_models: int | None = None) -> float:
    """Hours of ``work`` on the device of ``rates`` with ``jobs`` trainings at once (module
    docstring); ``stage_models``, the models its stage trains in all (default: ``work``'s),
    sets the :func:`tail_factor` where the speedup applies."""
    if work.kind == "one-shot":
        per, measured_images = rates.candidate(work.group_conv)
        if per is not None:
            if measured_images is not None and work.candidates:
                # measured on other image counts: scaled to this candidate's calib + val images
                per *= work.images_evaluated / work.candidates / measured_images
            seconds = work.candidates * per
        else:
            seconds = (work.images_evaluated * rates.eval_s(work.eval_ops)
                       * rates.supernet_over_static)
        return seconds / 3600
    seconds = (work.images_trained * rates.train_s(work.timed_ops)
               + work.images_evaluated * rates.eval_s(work.eval_ops))
    if work.kind == "supernet":
        seconds = seconds * rates.supernet_over_static + work.models * rates.warmup(work)
    if work.kind == "static":
        gain = rates.speedup(jobs)
        seconds = (seconds + work.models * rates.warmup(work)) / gain
        if gain != 1.0:  # trainings at once: the stage's last round may be partly filled
            seconds *= tail_factor(work.models if stage_models is None else stage_models, jobs)
    return seconds / 3600


def stage_hours(works: Sequence[Work], rates: FamilyRates, jobs: int = 1) -> list[float]:
    """Hours of each of one family's ``works``, the trainings of one stage counted together
    (they share one pool of ``jobs`` processes: :func:`tail_factor`)."""
    models: dict[str, int] = {}
    for w in works:
        if w.kind == "static":
            models[w.stage] = models.get(w.stage, 0) + w.models
    return [work_hours(w, rates, jobs, models.get(w.stage)) for w in works]


def jobs_of(params: Params) -> int:
    """Trainings at once in the stages that train many models, by the stages' own rule
    (:func:`bnnlib.jobs.jobs_in_use`: 1 where ``devices`` runs DDP)."""
    return jobs_in_use(params.jobs, params.devices)


def _family_rates(params: Params, rates: Rates, profile: str | None) -> dict[str, FamilyRates]:
    name = profile or params.profile
    table = rates.profile(name)
    missing = [f for f in families(params) if f not in table]
    if missing:
        raise ValueError(f"{rates.where}, profile {name!r}, lack famil"
                         f"{'ies' if len(missing) > 1 else 'y'} {', '.join(missing)}; "
                         f"families in the file's profile: {', '.join(table)}")
    return table


def _as_rates(rates: Rates | str | Path) -> Rates:
    return rates if isinstance(rates, Rates) else load_rates(rates)


def work_frame(params: Params, rates: Rates | str | Path | None = None,
               profile: str | None = None) -> pd.DataFrame:
    """Every :class:`Work` of every family of ``params``, with ``hours`` when ``rates`` are
    given."""
    table = None if rates is None else _family_rates(params, _as_rates(rates), profile)
    rows = []
    for family in families(params):
        works = workload(params, family)
        hours = (stage_hours(works, table[family], jobs_of(params)) if table is not None
                 else [None] * len(works))
        for work, h in zip(works, hours, strict=True):
            row = work.as_dict()
            if table is not None:
                row["hours"] = h
            rows.append(row)
    return pd.DataFrame(rows)


PROJECTION_COLUMNS = ["family", "stage", "models", "candidates", "images_trained_M",
                      "images_evaluated_M", "hours", "checkpoints_GB"]


#: the order dvc.yaml declares the stages in (``bnnlib.dvc_yaml.render``: the notebooks' order),
#: the order ``dvc repro`` ran them in, families within each
DVC_ORDER = tuple(stage for stage in settings.NOTEBOOKS.values() if stage in STAGES)


def disk_needs(params: Params, works: Mapping[str, Sequence[Work]] | None = None) -> dict[str, float]:
    """GB of disk the profile's runs need (module docstring, "Disk"): ``kept``, every stage's
    checkpoints in ``runs/``; ``with_cache``, twice that (DVC copies each stage's outputs into
    its cache when the stage ends); ``in_flight``, the most any stage adds while it trains
    (``jobs`` trainings at once, each with up to three whole run states of its stage's largest
    model: ``last.pt``, ``best.pt`` and a file being written; one for a supernet); ``peak``,
    the most on disk at once, stage by stage in :data:`DVC_ORDER` (the finished stages twice,
    the running one once, plus its in-flight states)."""
    works = works or {f: workload(params, f) for f in families(params)}
    done = peak = in_flight = 0
    for stage in DVC_ORDER:
        for family in families(params):
            mine = [w for w in works[family] if w.stage == stage]
            kept = sum(w.checkpoint_bytes for w in mine)
            static = max((w.state_bytes for w in mine if w.kind == "static" and w.models),
                         default=0)
            supernet = max((w.state_bytes for w in mine if w.kind == "supernet"), default=0)
            flight = max(3 * static * jobs_of(params), 3 * supernet)
            in_flight = max(in_flight, flight)
            peak = max(peak, 2 * done + kept + flight)
            done += kept
    return {"kept": done / 1e9, "with_cache": 2 * done / 1e9, "in_flight": in_flight / 1e9,
            "peak": max(peak, 2 * done) / 1e9}


def project(params: Params, rates: Rates | str | Path, profile: str | None = None) -> pd.DataFrame:
    """Projected hours per (family, stage) on the rates' device, a ``total`` row per family and
    an overall one (family ``all``). Columns: :data:`PROJECTION_COLUMNS` (images in millions).

    ``profile`` (default ``params.profile``) picks the rates' profile; a rates file without it,
    or without a family of ``params``, is a ``ValueError`` naming what is missing and what the
    file has. ``attrs`` holds ``device``, ``torch``, ``source``, ``rates``, ``profile``.
    """
    rates = _as_rates(rates)
    name = profile or params.profile
    table = _family_rates(params, rates, name)
    rows = []
    every = {family: workload(params, family) for family in families(params)}
    for family, works in every.items():
        hours = stage_hours(works, table[family], jobs_of(params))
        stage_rows = []
        for stage in STAGES:
            mine = [(w, h) for w, h in zip(works, hours, strict=True) if w.stage == stage]
            stage_rows.append({
                "family": family, "stage": stage, "models": sum(w.models for w, _ in mine),
                "candidates": sum(w.candidates for w, _ in mine),
                "images_trained_M": sum(w.images_trained for w, _ in mine) / 1e6,
                "images_evaluated_M": sum(w.images_evaluated for w, _ in mine) / 1e6,
                "hours": sum(h for _, h in mine),
                "checkpoints_GB": sum(w.checkpoint_bytes for w, _ in mine) / 1e9})
        rows += stage_rows + [_total(stage_rows, family)]
    rows.append(_total([r for r in rows if r["stage"] == "total"], "all"))
    frame = pd.DataFrame(rows, columns=PROJECTION_COLUMNS)
    jobs = jobs_of(params)
    frame.attrs.update({"device": rates.device, "torch": rates.torch, "source": rates.source,
                        "rates": rates.path, "profile": name, "params_profile": params.profile,
                        "jobs": jobs,
                        "jobs_speedup": {f: table[f].jobs_speedup.get(jobs) if jobs > 1 else None
                                         for f in families(params)},
                        "warmup_s": {f: table[f].warmup_s for f in families(params)},
                        "fp_warmup_s": {f: table[f].fp_warmup_s for f in families(params)},
                        "disk_GB": disk_needs(params, every)})
    return frame


def _total(rows: list[dict], family: str) -> dict:
    out = {"family": family, "stage": "total"}
    for col in PROJECTION_COLUMNS[2:]:
        out[col] = sum(r[col] for r in rows)
    return out


# ---- the papers' search costs -------------------------------------------------------------

#: ``(paper, family, dataset, GPU-hours, device, what the paper says)``
PAPER_SEARCH_COSTS: tuple[tuple[str, str, str, float, str, str], ...] = (
    ("Phan et al. 2020", "mobilenet_m1", "imagenet", 30.0, "RTX 2080 Ti",
     "Table 2, #GPU-hours (M1)"),
    ("Phan et al. 2020", "mobilenet_m2", "imagenet", 32.0, "RTX 2080 Ti",
     "Table 2, #GPU-hours (M2)"),
    ("Phan et al. 2020", "mobilenet_m3", "imagenet", 26.0, "RTX 2080 Ti",
     "Table 2, #GPU-hours (M3)"),
    ("Shen et al. 2019", "vgg_small", "cifar10", 12.0 * 8, "V100",
     "about 12 hours on 8 V100 GPUs (CIFAR-10)"),
    ("Shen et al. 2019", "resnet18", "imagenet", 180.0 * 8, "V100",
     "about 180 hours on 8 V100 GPUs (ImageNet)"),
)


def paper_costs() -> pd.DataFrame:
    """The papers' own search costs in GPU-hours.

    - Phan et al., *Binarizing MobileNet via Evolution-based Searching*, CVPR 2020, Table 2,
      row "#GPU-hours": 30 (M1), 32 (M2), 26 (M3) hours of searching on one RTX 2080 Ti (about
      29 h on one GPU on average); ``bnnlib.paper_values.PHAN_TABLE2`` holds the same numbers.
    - Shen et al., *Searching for Accurate Binary Neural Architectures*, 2019: the search takes
      "about 12 hours on 8 V100" for CIFAR-10 (VGG-small) and "about 180 hours on 8 V100" for
      ImageNet (ResNet-18): 96 and 1440 GPU-hours.
    """
    return pd.DataFrame(PAPER_SEARCH_COSTS,
                        columns=["paper", "family", "dataset", "gpu_hours", "device", "quote"])


def compare_search(projection: pd.DataFrame) -> pd.DataFrame:
    """Our projected search (and supernet + search) hours per family beside the paper's
    GPU-hours (:func:`paper_costs`); ``ours_over_paper`` divides supernet + search by them
    (different devices: the rates' and the paper's, both named)."""
    papers = paper_costs().set_index("family")
    rows = []
    for family in projection["family"].unique():
        if family == "all" or family not in papers.index:
            continue
        mine = projection[projection["family"] == family].set_index("stage")["hours"]
        paper = papers.loc[family]
        both = float(mine.get("supernet", 0.0) + mine.get("search", 0.0))
        rows.append({"family": family, "paper": paper["paper"],
                     "paper_gpu_hours": float(paper["gpu_hours"]), "paper_device": paper["device"],
                     "ours_search_h": float(mine.get("search", 0.0)),
                     "ours_supernet_search_h": both,
                     "ours_device": projection.attrs.get("device"),
                     "ours_over_paper": both / float(paper["gpu_hours"])})
    return pd.DataFrame(rows, columns=["family", "paper", "paper_gpu_hours", "paper_device",
                                       "ours_search_h", "ours_supernet_search_h", "ours_device",
                                       "ours_over_paper"])


# ---- text ---------------------------------------------------------------------------------

def _hours(h: float) -> str:
    return f"{h:,.0f}" if h >= 100 else f"{h:.2f}" if h >= 1 else f"{h:.3g}"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def projection_markdown(projection: pd.DataFrame) -> str:
    """The projection as a Markdown table (totals in bold)."""
    rows = []
    for r in projection.itertuples(index=False):
        cells = [r.family, r.stage, f"{r.models:,}", f"{r.candidates:,}",
                 f"{r.images_trained_M:,.2f}", _hours(r.hours), f"{r.checkpoints_GB:,.2f}"]
        if r.stage == "total":
            cells = [f"**{c}**" for c in cells]
        rows.append(cells)
    return _markdown(["family", "stage", "models", "candidates", "images trained (M)", "hours",
                      "checkpoints kept (GB)"], rows)


def disk_line(disk: Mapping[str, float]) -> str:
    """The projection's disk needs (:func:`disk_needs`) in words."""
    return (f"Disk: the checkpoints the stages keep take {disk['kept']:.1f} GB in `runs/`, and "
            f"DVC's cache holds a copy ({disk['with_cache']:.1f} GB together; a filesystem with "
            f"reflinks shares the blocks); while a stage trains, up to {disk['in_flight']:.1f} GB "
            f"more (run states with the optimizer's moments), at most {disk['peak']:.1f} GB at once "
            f"(stage by stage): have that free besides the data. Searched genomes' sizes are the mean of random genomes'.")


def comparison_markdown(comparison: pd.DataFrame) -> str:
    rows = [[r.family, r.paper, f"{r.paper_gpu_hours:,.0f} ({r.paper_device})",
             _hours(r.ours_search_h), _hours(r.ours_supernet_search_h),
             f"{r.ours_over_paper:.3g}x"] for r in comparison.itertuples(index=False)]
    return _markdown(["family", "paper", "paper search GPU-h", "ours: search h",
                      "ours: supernet + search h", "ours / paper"], rows)


def _jobs_line(attrs: Mapping) -> str:
    if attrs["jobs"] == 1:
        return ""
    gains = attrs["jobs_speedup"]
    measured = ", ".join(f"{f} {x:.2f}x" for f, x in gains.items() if x is not None)
    missing = [f for f, x in gains.items() if x is None]
    return (f" jobs: {attrs['jobs']} trainings at once: models trained alone take their hours "
            f"divided by the measured speedup ({measured or 'none in the rates file'})"
            + (f"; not measured for {', '.join(missing)}: no gain counted" if missing else "")
            + ".")


def _warmup_line(attrs: Mapping) -> str:
    warm, fp = attrs["warmup_s"], attrs["fp_warmup_s"]
    measured = ", ".join(f"{f} {x:.1f} s" + (f" (fp rows {fp[f]:.1f} s)" if fp.get(f) else "")
                         for f, x in warm.items() if x is not None)
    missing = [f for f, x in warm.items() if x is None]
    if not measured:
        return " First-epoch warm-up (autotuning, compilation): not in the rates file, not counted."
    return (f" Each model trained adds its first epoch's warm-up ({measured})"
            + (f"; not measured for {', '.join(missing)}: none counted" if missing else "") + ".")


def report(params: Params, rates: Rates, profile: str | None = None,
           params_path: str | None = None) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """The CLI's Markdown text, the projection and the comparison."""
    projection = project(params, rates, profile)
    comparison = compare_search(projection)
    a = projection.attrs
    lines = [f"# Projected hours: profile {params.profile}"
             + (f" ({params_path})" if params_path else "")
             + f", rates of profile {a['profile']} measured on {rates.device}"
             + (f" (torch {rates.torch})" if rates.torch else ""), ""]
    if rates.source:
        lines += [f"Rates: {rates.path} ({rates.source}).", ""]
    lines += [f"Hours on one {rates.device} (GPU-hours); data-parallel devices divide the wall "
              "time by at most their number. OPs of searched genomes are estimates (the search's "
              "budget, or the mean of random genomes): see `bnnlib.cost`." + _jobs_line(a)
              + _warmup_line(a), "",
              projection_markdown(projection), ""]
    totals = projection[projection["stage"] == "total"]
    per = ", ".join(f"{r.family} {_hours(r.hours)} h" for r in totals.itertuples(index=False)
                    if r.family != "all")
    total = float(totals[totals["family"] == "all"]["hours"].iloc[0])
    lines += [f"Totals: {per}; all families {_hours(total)} h "
              f"({total / 24:.3g} days on one {rates.device}).", "",
              "## Search cost beside the papers'", "",
              f"Ours on {rates.device}; the papers' on their own GPUs (Phan et al. 2020 Table 2; "
              "Shen et al. 2019: hours x 8 V100).", "",
              comparison_markdown(comparison), "", "## Disk", "", disk_line(a["disk_GB"])]
    return "\n".join(lines), projection, comparison


EXAMPLE = """rates file (JSON):
  {"device": "NVIDIA H200", "torch": "2.11.0+cu130", "source": "how measured",
   "profiles": {"gpu": {"vgg_small": {"train": [{"ops": 8.2e6, "img_s": 93000.0},
                                                {"ops": 131e6, "img_s": 12500.0}],
                                      "eval_img_s": 300000.0, "supernet_over_static": 1.25,
                                      "candidate_s": 0.05}, ...}}}"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bnnlib.cost", epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Project each stage's hours of a profile from measured rates.")
    parser.add_argument("--params", default="params.yaml", help="settings file (a profile)")
    parser.add_argument("--rates", required=True, help="rates JSON file")
    parser.add_argument("--profile", default=None,
                        help="profile of the rates file to use (default: the settings' profile)")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="also write the projection, comparison and work rows as JSON")
    args = parser.parse_args(argv)
    try:
        params = settings.load(args.params)
        rates = load_rates(args.rates)
        text, projection, comparison = report(params, rates, args.profile, args.params)
        work = work_frame(params, rates, args.profile) if args.json else None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(text)
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({
            "params": str(args.params), "params_profile": params.profile,
            "rates": str(args.rates), "profile": projection.attrs["profile"],
            "device": rates.device, "torch": rates.torch, "source": rates.source,
            "rows": projection.to_dict(orient="records"),
            "search_comparison": comparison.to_dict(orient="records"),
            "work": work.to_dict(orient="records")}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
