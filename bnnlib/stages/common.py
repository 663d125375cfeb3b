"""What the stages share: data and model keywords of a view, one trained item, result files.

A *trained item* (a uniform baseline, a retrained genome, a supernet) lives in its own folder
``<runs_dir>/<stage>/<family>/<name>/``. :func:`fit_item` trains it with ``bnnlib.train.fit``,
whose checkpoint identity covers the model's construction keywords, the recipe and the data;
the stage adds the code that determines the weights (:data:`TRAINING_CODE`, docstrings and
comments aside) and a digest of the initial weights. A checkpoint of another identity makes
that item, and nothing else, start over, with the reason in the log::

    [runs/uniform/resnet18/uniform1x] starting over: model.build_kwargs.small_input true != false in checkpoint
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import torch

from .. import distributed as dist
from .. import models
from ..data import dataset_info, get_datasets
from ..fingerprint import canonical, code_digest
from ..jobs import jobs_in_use, process_map, threads_per_job
from ..settings import View
from ..train import CheckpointMismatchError, FitResult, Recipe, fit
from ..utils import read_json, write_json

#: modules whose code determines a trained model's weights
TRAINING_CODE = ("bnnlib.train", "bnnlib.models")


def log(message: str) -> None:
    """A line of the stage's log (rank 0 only, when several processes run the stage)."""
    if dist.is_main():
        print(message, flush=True)


# ---- several processes ----------------------------------------------------------------------

def distributable(run):
    """Decorate a stage's ``run(cfg)``: with ``devices`` > 1 processes it first runs under torchrun.

    ``cfg.devices`` (``auto``: every GPU of this machine) processes run the stage as one
    data-parallel job (``python -m bnnlib.stages``: every training is DDP, searches split their
    candidates over the ranks, rank 0 writes every file); then this process calls ``run(cfg)``
    itself, which finds every item done and reads it back (checkpoints resume at their last
    epoch, searches at their last evaluation; each final model's test split is scored again).
    So a notebook or ``dvc repro`` stays one command. Inside a process group it just runs.
    """
    @functools.wraps(run)
    def wrapper(cfg: View):
        processes = dist.process_count(cfg.devices)
        if processes > 1 and not dist.is_distributed():
            log(f"== {cfg.stage}: {cfg.family} in {processes} processes (torchrun)")
            with tempfile.TemporaryDirectory() as tmp:
                overrides = Path(tmp) / "overrides.json"
                overrides.write_text(json.dumps(cfg.as_dict()))
                dist.launch("bnnlib.stages", stage_arguments(cfg, overrides), processes)
            log(f"== {cfg.stage}: {cfg.family}: the {processes} processes are done; reading back")
        return run(cfg)
    return wrapper


def stage_arguments(cfg: View, overrides: Path) -> list[str]:
    """Arguments of ``python -m bnnlib.stages`` that rebuild ``cfg`` (its values as overrides)."""
    return [cfg.stage, cfg.family, "--root", str(cfg.root), "--runs-dir", str(cfg.runs_dir),
            "--metrics-dir", str(cfg.metrics_dir), "--upstream-dir", str(cfg.upstream_dir),
            "--overrides", str(overrides)]


def device_description() -> str:
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({os.cpu_count()} cores, {platform.machine()})"


# ---- data and models of a view -----------------------------------------------------------------

@lru_cache(maxsize=4)
def _datasets(dataset, root, val_size, train_subset, val_subset, test_subset, data_seed, augment,
              per_class=None, resize="short_side"):
    return get_datasets(dataset, root=root, val_size=val_size,
                        subset=(train_subset, val_subset, test_subset), seed=data_seed,
                        augment=augment, per_class=per_class, resize=resize)


def datasets(cfg: View, augment: bool = True, search: bool = False):
    """``(train, val, test)`` of the view: ``val`` is the held-out search-validation split.

    ``search=True``: the training split the supernet and the search use, i.e. the
    ``search_per_class`` class-balanced subset (Shen et al.'s 50 images per ImageNet class) of
    the whole training split when the view's family sets one (``train_subset`` does not apply
    to it), else the same as ``search=False``.
    """
    # stages that never test (supernet, search) do not read test_subset: whole test split
    per_class = cfg.values.get("search_per_class") if search else None
    return _datasets(cfg.dataset, str(cfg.path(cfg.data_root)), cfg.val_size,
                     cfg.train_subset if per_class is None else None, cfg.val_subset,
                     cfg.values.get("test_subset"), cfg.data_seed, augment, per_class,
                     cfg.resize)


def model_kwargs(cfg: View) -> dict:
    """``models.build`` keywords of the view's family, without the genome."""
    info = dataset_info(cfg.dataset)
    kwargs = {"num_classes": info.num_classes, "in_channels": info.in_channels,
              "width_mult": float(cfg.width_mult)}
    if cfg.family != "vgg_small":  # VGG-small has no stem option (settings refuse true)
        kwargs["small_input"] = bool(cfg.small_input)
    if cfg.values.get("activation_scaling"):  # only when on: the other runs' identity is kept
        kwargs["act_quantizer"] = "approx_sign_scaled"
    return kwargs


def input_size(cfg: View) -> tuple[int, int, int]:
    info = dataset_info(cfg.dataset)
    return (info.in_channels, info.image_size, info.image_size)


def recipe(cfg: View, epochs: int | None = None) -> Recipe:
    """The view's training recipe (``fit`` also takes ``seed=cfg.seed, progress=cfg.progress``);
    ``epochs``: instead of the view's (Figure 5's own runs)."""
    milestones = cfg.milestones
    return Recipe(epochs=cfg.epochs if epochs is None else epochs, batch_size=cfg.batch_size, optimizer=cfg.optimizer, lr=cfg.lr,
                  schedule=cfg.schedule,
                  milestones=tuple(milestones) if milestones is not None else None,
                  weight_decay=cfg.weight_decay)


class StaleUpstreamError(ValueError):
    """An earlier stage's result was made under other settings than this stage's."""


# ---- items ------------------------------------------------------------------------------------

def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 (16 hex digits) of every parameter and buffer, by name."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def reset_item(out_dir: Path) -> None:
    """Remove one item's folder (its checkpoints, metrics and result): it starts over."""
    shutil.rmtree(out_dir, ignore_errors=True)


def fit_item(build, out_dir: Path, train, val, *, code: tuple[str, ...] = TRAINING_CODE,
             context: dict | None = None, trainer=fit, **fit_kwargs):
    """``trainer(build(), ...)`` resuming ``out_dir``, or starting over if its identity differs.

    ``build()`` must make the same initial model every call (seed inside); the digest of its
    weights, the code digest of ``code`` and ``context`` join the checkpoint identity.
    Returns ``(model, FitResult)``. A finished item keeps no ``best.pt`` (``keep_best=False``):
    the stages report the last epoch's model, and ``last.pt`` holds it.
    """
    fit_kwargs.setdefault("keep_best", False)
    model = build()
    ctx = {**(context or {}), "code": code_digest(code), "init": weights_digest(model)}
    try:
        return model, trainer(model, train, val, out_dir=out_dir, context=ctx, **fit_kwargs)
    except CheckpointMismatchError as err:
        log(f"[{display(out_dir)}] starting over: {err.detail}")
        reset_item(out_dir)
        model = build()
        return model, trainer(model, train, val, out_dir=out_dir, context=ctx, **fit_kwargs)


def display(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter logs)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def base_record(cfg: View) -> dict:
    """Fields every result file carries: where it comes from, and the settings it used."""
    return {"study": cfg.study, "family": cfg.family, "dataset": cfg.dataset, "profile": cfg.profile,
            "device": device_description(), "versions": versions(),
            "input_size": list(input_size(cfg)), "settings": canonical(cfg.as_dict())}


def versions() -> dict:
    """Python, PyTorch and NumPy versions (reported with every result, NAS checklist)."""
    import numpy

    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__}


#: test images (seeded) scored after every epoch of a final model: the per-epoch curves
#: (Phan et al. Fig. 5) come from a split no search saw, never the search-validation split
MONITOR_IMAGES = 1000


def train_item(cfg: View, stage: str, variant: str, genome: dict, seed: int,
               extra: dict | None = None, data=None, epochs: int | None = None) -> dict:
    """Train one model from scratch with ``seed``, test it, count its OPs and write its
    ``<runs_dir>/<stage>/<family>/<variant>/seed<seed>/result.json``.

    After every epoch the model is scored on ``MONITOR_IMAGES`` test images (its history's
    ``val_*`` fields; the reported model is the last epoch's, so no ``best.pt`` is kept); at the
    end on the whole test split. ``data``: ``(train, test)`` instead
    of the view's datasets (the proxy stage's subsets); ``epochs``: instead of the view's.
    """
    from .. import flops
    from ..bn import fixed_subset
    from ..train import evaluate

    kwargs = {**model_kwargs(cfg), **genome}
    train_data, test_data = data or (datasets(cfg)[0], datasets(cfg)[2])
    val_data = fixed_subset(test_data, MONITOR_IMAGES, seed=0)
    out_dir = cfg.runs_dir / stage / cfg.family / variant / f"seed{seed}"

    def build():
        torch.manual_seed(seed)
        return models.build(cfg.family, **kwargs)

    log(f"== {stage}: {cfg.family} {variant} seed {seed} {genome}")
    model, fitted = fit_item(build, out_dir, train_data, val_data,
                             model_name=f"{cfg.family}/{variant}", recipe=recipe(cfg, epochs), seed=seed,
                             progress=cfg.progress, num_workers=cfg.workers,
                             checkpoint_interval_s=cfg.checkpoint_interval)
    _log_resume(out_dir, fitted)
    # each rank a shard, under torchrun
    test = evaluate(model, test_data, distributed=True, num_workers=cfg.workers)
    report = flops.count(model, input_size(cfg))
    result = {
        **base_record(cfg), "variant": variant, "seed": seed,
        "genome": models.genome_of(cfg.family, kwargs), "model_kwargs": kwargs,
        "binary": bool(kwargs.get("binary", True)), **report.summary(),
        "test_top1": test["top1"], "test_top5": test["top5"], "test_loss": test["loss"],
        "test_images": len(test_data),
        "monitor_top1": fitted.final.get("val_top1"), "monitor_images": len(val_data),
        "epochs": len(fitted.history),
        "train_seconds": sum(r["seconds"] for r in fitted.history), "history": fitted.history,
        "weights": weights_digest(model), **(extra or {}),
    }
    write_json(out_dir / "result.json", result)
    log(f"   test top-1 {100 * test['top1']:.2f}%  OPs {report.ops / 1e6:.3f}M")
    return result


class Training(NamedTuple):
    """One :func:`train_item` call of a stage: ``variant`` with ``genome`` keywords and ``seed``
    (``epochs``: None, the view's)."""

    variant: str
    genome: dict
    seed: int
    epochs: int | None = None


def _train(cfg: View, stage: str, training: Training, data=None) -> dict:
    return train_item(cfg, stage, training.variant, training.genome, training.seed,
                      data=data(cfg) if data is not None else None, epochs=training.epochs)


def train_items(cfg: View, stage: str, trainings: list[Training], data=None) -> list[dict]:
    """:func:`train_item` of every training, ``jobs`` at once (:func:`bnnlib.jobs.process_map`);
    their result records in order. ``data``: a module-level function of the view giving
    ``(train, test)`` (each process builds its own) instead of the view's datasets."""
    usable = jobs_in_use(cfg.jobs, cfg.devices)  # 1 under DDP: torchrun trains every item
    if usable < cfg.jobs:
        log(f"   jobs: {cfg.jobs} does not apply: devices {cfg.devices!r} trains each model "
            f"data-parallel (one training at a time)")
    jobs = min(usable, len(trainings))
    if jobs > 1:
        log(f"== {stage}: {cfg.family}: {len(trainings)} trainings, {jobs} at once "
            f"({threads_per_job(jobs)} compute thread(s) each; each one's log when it ends)")
    return process_map(_train, [(cfg, stage, t, data) for t in trainings], jobs,
                       name=lambda call: f"{stage} {cfg.family} {call[2].variant} seed {call[2].seed}")


def seed_trainings(cfg: View, variant: str, genome: dict, epochs: int | None = None
                   ) -> list[Training]:
    """One :class:`Training` of ``variant`` per training seed of the view (``cfg.seeds``)."""
    return [Training(variant, genome, seed, epochs) for seed in cfg.seeds]


def _log_resume(out_dir: Path, fitted: FitResult) -> None:
    if fitted.resumed_from:
        where = fitted.resumed_from.get("checkpoint", "last.pt")
        log(f"   resumed from {display(out_dir / where)} at epoch {fitted.resumed_from['epoch']}")


def write_stage_metrics(cfg: View, stage: str, results: list[dict]) -> Path:
    """A flat metrics file per stage and family, for ``dvc metrics show``."""
    keep = ("test_top1", "test_top5", "ops", "memory_bits", "train_seconds",
            "best_acc", "best_ops", "best_fitness", "evaluations", "search_seconds")
    flat = {}
    for r in results:
        name = r.get("variant", r.get("method"))
        if r.get("seed") is not None:
            name = f"{name}/seed{r['seed']}"
        flat[name] = {k: r[k] for k in keep if r.get(k) is not None}
    return write_json(cfg.metrics_dir / stage / f"{cfg.family}.json", flat)


def upstream(cfg: View, stage: str, *parts: str) -> dict:
    """An earlier stage's result file of this family, with the remedy when it is missing."""
    path = cfg.upstream_dir / stage / cfg.family / Path(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run stage {stage} for {cfg.family} first (`dvc repro`, or its "
            f"notebook with the same runs_dir), or point upstream_dir at the runs that hold it")
    return read_json(path)
