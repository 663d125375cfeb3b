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

import hashlib
import os
import platform
import shutil
from functools import lru_cache
from pathlib import Path

import torch

from .. import models
from ..data import dataset_info, get_datasets
from ..fingerprint import canonical, code_digest
from ..settings import View
from ..train import CheckpointMismatchError, FitResult, fit
from ..utils import read_json, write_json

#: modules whose code determines a trained model's weights
TRAINING_CODE = ("bnnlib.train", "bnnlib.models")


def log(message: str) -> None:
    print(message, flush=True)


def device_description() -> str:
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({os.cpu_count()} cores, {platform.machine()})"


# ---- data and models of a view -----------------------------------------------------------------

@lru_cache(maxsize=4)
def _datasets(dataset, root, val_size, train_subset, val_subset, test_subset, data_seed, augment):
    return get_datasets(dataset, root=root, val_size=val_size,
                        subset=(train_subset, val_subset, test_subset), seed=data_seed,
                        augment=augment)


def datasets(s: View, augment: bool = True):
    """``(train, val, test)`` of the view: ``val`` is the held-out search-validation split."""
    # stages that never test (supernet, search) do not read test_subset: whole test split
    return _datasets(s.dataset, str(s.path(s.data_root)), s.val_size, s.train_subset,
                     s.val_subset, s.values.get("test_subset"), s.data_seed, augment)


def model_kwargs(s: View) -> dict:
    """``models.build`` keywords of the view's family, without the genome."""
    info = dataset_info(s.dataset)
    kwargs = {"num_classes": info.num_classes, "in_channels": info.in_channels,
              "width_mult": float(s.width_mult)}
    if s.family != "vgg_small":  # VGG-small has no stem option (settings refuse true)
        kwargs["small_input"] = bool(s.small_input)
    return kwargs


def input_size(s: View) -> tuple[int, int, int]:
    info = dataset_info(s.dataset)
    return (info.in_channels, info.image_size, info.image_size)


def recipe(s: View) -> dict:
    """``fit`` keywords of the view's training recipe."""
    return {"epochs": s.epochs, "batch_size": s.batch_size, "optimizer": s.optimizer,
            "lr": s.lr, "schedule": s.schedule, "seed": s.seed, "progress": s.progress}


def genome_kwargs(family: str, genome, width_mult: float = 1.0) -> dict:
    """``models.build`` keywords of a genome (M2: the group genes, then the real 1x1 genes)."""
    if family in models.EXPANSION_MODELS:
        return {"expansion": [float(g) for g in genome]}
    n_groups = len(models.mobilenet.gene_names(family.split("_")[1], width_mult)[0])
    kwargs = {"groups": [int(g) for g in genome[:n_groups]]}
    if family == "mobilenet_m2":
        kwargs["real_groups"] = [int(g) for g in genome[n_groups:]]
    return kwargs


def genome_of(family: str, kwargs: dict, width_mult: float = 1.0) -> list | None:
    """The genome of ``models.build`` keywords (scalars repeated per gene); None if real-valued."""
    if not kwargs.get("binary", True):
        return None
    names = models.gene_names(family, width_mult)
    if family in models.EXPANSION_MODELS:
        return _per_gene(kwargs.get("expansion", 1.0), len(names))
    n_groups = len(models.mobilenet.gene_names(family.split("_")[1], width_mult)[0])
    genome = _per_gene(kwargs.get("groups", 1), n_groups)
    if family == "mobilenet_m2":
        genome += _per_gene(kwargs.get("real_groups", 1), len(names) - n_groups)
    return genome


def _per_gene(value, n: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


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
    Returns ``(model, FitResult)``.
    """
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


def base_record(s: View) -> dict:
    """Fields every result file carries: where it comes from, and the settings it used."""
    return {"study": s.study, "family": s.family, "dataset": s.dataset, "profile": s.profile,
            "device": device_description(), "input_size": list(input_size(s)),
            "settings": canonical(s.as_dict())}


def train_item(s: View, stage: str, variant: str, genome: dict, extra: dict | None = None) -> dict:
    """Train one model from scratch, test it, count its OPs and write its ``result.json``."""
    from .. import flops
    from ..train import evaluate

    kwargs = {**model_kwargs(s), **genome}
    train_data, val_data, test_data = datasets(s)
    out_dir = s.runs_dir / stage / s.family / variant

    def build():
        torch.manual_seed(s.seed)
        return models.build(s.family, **kwargs)

    log(f"== {stage}: {s.family} {variant} {genome}")
    model, fitted = fit_item(build, out_dir, train_data, val_data,
                             model_name=f"{s.family}/{variant}", **recipe(s))
    _log_resume(out_dir, fitted)
    test = evaluate(model, test_data)
    report = flops.count(model, input_size(s))
    result = {
        **base_record(s), "variant": variant,
        "genome": genome_of(s.family, kwargs, s.width_mult), "model_kwargs": kwargs,
        "binary": bool(kwargs.get("binary", True)), **report.summary(),
        "test_top1": test["top1"], "test_top5": test["top5"], "test_loss": test["loss"],
        "val_top1": fitted.final.get("val_top1"), "epochs": len(fitted.history),
        "train_seconds": sum(r["seconds"] for r in fitted.history), "history": fitted.history,
        "weights": weights_digest(model), **(extra or {}),
    }
    write_json(out_dir / "result.json", result)
    log(f"   test top-1 {100 * test['top1']:.2f}%  OPs {report.ops / 1e6:.3f}M")
    return result


def _log_resume(out_dir: Path, fitted: FitResult) -> None:
    if fitted.resumed_from:
        where = fitted.resumed_from.get("checkpoint", "last.pt")
        log(f"   resumed from {display(out_dir / where)} at epoch {fitted.resumed_from['epoch']}")


def write_stage_metrics(s: View, stage: str, results: list[dict]) -> Path:
    """A flat metrics file per stage and family, for ``dvc metrics show``."""
    keep = ("test_top1", "test_top5", "val_top1", "ops", "memory_bits", "train_seconds",
            "best_acc", "best_ops", "best_fitness", "evaluations", "search_seconds")
    flat = {r.get("variant", r.get("method")): {k: r[k] for k in keep if r.get(k) is not None}
            for r in results}
    return write_json(s.metrics_dir / stage / f"{s.family}.json", flat)


def upstream(s: View, stage: str, *parts: str) -> dict:
    """An earlier stage's result file of this family, with the remedy when it is missing."""
    path = s.upstream_dir / stage / s.family / Path(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run stage {stage} for {s.family} first (`dvc repro`, or its "
            f"notebook with the same runs_dir), or point upstream_dir at the runs that hold it")
    return read_json(path)
