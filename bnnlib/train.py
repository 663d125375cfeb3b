"""The training engine every stage uses: :func:`fit` and :func:`evaluate`.

Recipes of the two papers, selected by plain arguments:

- Groups study (Phan et al. 2020, seed 000, section 4.1): ``optimizer="adam"`` (beta1 = 0.9,
  the paper's "momentum 0.9"), ``lr=1e-3``, ``schedule="linear"`` (decayed linearly to zero
  over all steps), batch 512.
- Widths study (Shen et al. 2019, seed 001, section 3.1): ``optimizer="sgd"`` (momentum 0.9),
  ``lr=0.1``, ``schedule="step"`` with the learning rate multiplied by 0.1 at the milestones
  (CIFAR-10: epochs 60, 120, 180 of 200; ImageNet: 50, 100, 135 of 150). Without explicit
  ``milestones`` the CIFAR-10 fractions 0.3/0.6/0.9 of ``epochs`` are used.
- ``schedule="cosine"`` (to zero) as an option; ``"constant"`` for debugging.

Choices made where the papers are silent: weight decay 0 for Adam (binary weights gain
nothing from it, and seed 000 does not mention it) and 5e-4 for SGD (the CIFAR ResNet/VGG
recipe seed 001 defers to); the learning rate is set before every step from a pure function of
the step (so resuming needs no scheduler state); the "best" checkpoint tracks validation top-1
when ``val_data`` is given, else training top-1.

Outputs under ``out_dir`` (all written atomically):

- ``last.pt`` / ``best.pt``: checksummed checkpoints (model, optimizer, RNG states, history),
  tagged with the run's *identity*: the model (class, construction keywords, shapes), the
  recipe, the data (:func:`bnnlib.data.dataset_fingerprint`) and the caller's ``context``.
- ``live/``: DVCLive metrics (``metrics.json`` with the latest epoch, ``plots/metrics/*.tsv``
  one row per epoch), written with ``dvcyaml=False`` so ``dvc.yaml`` stays hand-written;
  point ``metrics:``/``plots:`` of a stage at them.
- ``history.json``: every epoch's row (the same numbers), for table builders.

Resume: with ``resume=True`` (the default) a run finds ``out_dir/last.pt`` and continues from
it; on CPU with ``num_workers=0`` it ends with bit-identical weights and metrics to an
uninterrupted run (the batch order of every epoch is a pure function of ``(seed, epoch)``, and
torch/numpy/python RNG states are checkpointed). ``checkpoint_every`` adds mid-epoch
checkpoints. A checkpoint of another identity is never resumed: ``fit`` raises
:class:`CheckpointMismatchError` listing what differs (``recipe.lr 0.1 != 0.01``), and the
caller decides to start over (the study's stages do, for that item only). A corrupt ``last.pt``
is moved aside and the run continues from ``best.pt`` (a whole run state too) or starts over.

Devices: CUDA when available (with bfloat16 autocast, or float16 + gradient scaling on GPUs
without bfloat16, and channels_last), otherwise CPU in float32; no code change by the caller.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset
from tqdm import tqdm

from .data import InMemoryImages, dataset_fingerprint
from .fingerprint import canonical, describe
from .registry import OPTIMIZERS, SCHEDULES
from .utils import (
    CorruptFileError,
    atomic_write_bytes,
    get_rng_state,
    load_checksummed,
    save_checksummed,
    seed_everything,
    set_rng_state,
)

__all__ = [
    "fit",
    "evaluate",
    "FitResult",
    "topk_correct",
    "accuracy",
    "lr_at",
    "make_loader",
    "load_checkpoint",
    "model_fingerprint",
    "CheckpointMismatchError",
]

CHECKPOINT_FORMAT = 2  # 2: the run identity (model, recipe, data, context)


class CheckpointMismatchError(ValueError):
    """A checkpoint belongs to a run of another identity; ``detail`` says what differs."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail or message


# --------------------------------------------------------------------------------------------
# Metrics


def topk_correct(
    logits: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> list[int]:
    """Number of samples whose target is among the ``k`` highest logits, for each ``k``.

    ``k`` larger than the number of classes counts every sample as correct.
    """
    num_classes = logits.shape[-1]
    maxk = min(max(ks), num_classes)
    pred = logits.topk(maxk, dim=-1).indices  # [B, maxk], best first
    hit = pred.eq(targets.view(-1, 1))
    return [int(hit[:, : min(k, num_classes)].any(dim=1).sum()) for k in ks]


def accuracy(
    logits: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> list[float]:
    """Top-k accuracies as fractions in ``[0, 1]`` (see :func:`topk_correct`)."""
    return [c / len(targets) for c in topk_correct(logits, targets, ks)]


# --------------------------------------------------------------------------------------------
# Learning-rate schedules


def _default_milestones(epochs: int) -> list[int]:
    # seed 001, CIFAR-10: x0.1 at epochs 60, 120, 180 of 200.
    return sorted({max(1, round(epochs * f)) for f in (0.3, 0.6, 0.9)})


def lr_at(
    step: int,
    *,
    base_lr: float,
    schedule: str,
    total_steps: int,
    steps_per_epoch: int,
    milestones: Sequence[int] = (),
    gamma: float = 0.1,
) -> float:
    """Learning rate used by optimisation step ``step`` (0-based) of ``total_steps``.

    ``linear``: ``base_lr * (1 - step / total_steps)`` (seed 000's linear decay, to zero);
    ``step``: ``base_lr * gamma ** (number of milestones <= current epoch)`` (seed 001);
    ``cosine``: ``base_lr * (1 + cos(pi * step / total_steps)) / 2``; ``constant``: ``base_lr``.
    """
    if schedule == "linear":
        return base_lr * (1.0 - step / total_steps)
    if schedule == "step":
        epoch = step // steps_per_epoch
        return base_lr * gamma ** sum(1 for m in milestones if epoch >= m)
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
    if schedule == "constant":
        return base_lr
    raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")


# --------------------------------------------------------------------------------------------
# Data loading


def _batch_indexable(ds: Dataset) -> bool:
    """True when ``ds[list_of_indices]`` returns a whole batch (in-memory tensors)."""
    while isinstance(ds, Subset):
        ds = ds.dataset
    return isinstance(ds, (InMemoryImages, TensorDataset))


def _epoch_batches(n: int, batch_size: int, shuffle: bool, seed: int, epoch: int, drop_last: bool):
    """Index batches of one epoch: a pure function of ``(seed, epoch)``."""
    if shuffle:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=g)
    else:
        order = torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i : i + batch_size].tolist() for i in range(0, stop, batch_size)]


def make_loader(
    data: Dataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    drop_last: bool = False,
    skip_batches: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A ``DataLoader`` whose batch order is fixed by ``(seed, epoch)``.

    In-memory datasets (:class:`~bnnlib.data.InMemoryImages`, ``TensorDataset``, and
    ``Subset`` of them) are indexed a batch at a time, with no per-image collation; other
    datasets go through the usual per-item path with ``num_workers`` workers.
    ``skip_batches`` drops the first batches (to resume in the middle of an epoch).
    """
    batches = _epoch_batches(len(data), batch_size, shuffle, seed, epoch, drop_last)[skip_batches:]
    # A private generator: creating the iterator must not draw from torch's global RNG,
    # or a mid-epoch resume would shift the augmentation stream.
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 1)
    if _batch_indexable(data):
        return DataLoader(
            data,
            sampler=batches,
            batch_size=None,
            num_workers=0,
            pin_memory=pin_memory,
            generator=gen,
        )
    return DataLoader(
        data,
        batch_sampler=batches,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=gen,
        persistent_workers=False,
    )


# --------------------------------------------------------------------------------------------
# Evaluation


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _autocast(device: torch.device, amp: bool):
    if device.type == "cuda" and amp:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast(device.type, enabled=False)


def evaluate(
    model: nn.Module,
    data: Dataset,
    batch_size: int = 512,
    *,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Mean cross-entropy and top-1/top-5 accuracy of ``model`` on ``data``, in eval mode.

    Returns ``{"loss", "top1", "top5", "n"}``; accuracies are fractions in ``[0, 1]``.
    ``device`` defaults to where the model's parameters are; the model's train/eval mode is
    restored afterwards.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    amp = device.type == "cuda" if amp is None else amp
    channels_last = device.type == "cuda"
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = [0, 0]
    n = 0
    loader = make_loader(data, batch_size, pin_memory=device.type == "cuda")
    try:
        with torch.inference_mode():
            for x, y in tqdm(loader, desc="eval", disable=not progress, leave=False):
                x = x.to(device, non_blocking=True)
                y = y.to(device, non_blocking=True)
                if channels_last and x.dim() == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                with _autocast(device, amp):
                    logits = model(x)
                logits = logits.float()
                loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
                c1, c5 = topk_correct(logits, y)
                correct[0] += c1
                correct[1] += c5
                n += len(y)
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate() got an empty dataset")
    return {"loss": float(loss_sum) / n, "top1": correct[0] / n, "top5": correct[1] / n, "n": n}


# --------------------------------------------------------------------------------------------
# Checkpoints


def model_fingerprint(model: nn.Module, name: str | None = None) -> dict[str, Any]:
    """Identify a model by class, name, construction keywords and parameter/buffer shapes.

    ``build_kwargs`` is what :func:`bnnlib.models.build` (or ``bnnlib.supernet.build``) records:
    every constructor keyword with its default filled in, quantizers included, so two models
    with equal shapes but another activation quantizer differ. Shapes tell apart expansions and
    group counts of models built otherwise. Mutable state such as a supernet's active genome
    is left out (it changes every step). ``name`` defaults to ``model.name``.
    """
    lines = [f"{k}:{tuple(v.shape)}:{v.dtype}" for k, v in model.state_dict().items()]
    return {
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "name": str(name if name is not None else getattr(model, "name", None)),
        "build_kwargs": canonical(getattr(model, "build_kwargs", None)),
        "structure": hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16],
    }


def _check_identity(path: Path, saved: dict, current: dict) -> None:
    diff = describe(saved, current, "checkpoint")
    if diff:
        raise CheckpointMismatchError(
            f"{path} was written by another run: {diff}. Use the settings, data and model it "
            "was written with to resume it, or another out_dir / resume=False to start over.",
            diff,
        )


def load_checkpoint(
    path: str | Path, model: nn.Module | None = None, *, name: str | None = None
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit`, verify it, and load its weights into ``model``.

    Only the model part of the run's identity is checked here (the checkpoint must belong to a
    model built like ``model``); :func:`fit` checks the rest before resuming.

    Raises:
        FileNotFoundError: no file at ``path``.
        bnnlib.utils.CorruptFileError: truncated, altered or not a bnnlib checkpoint.
        CheckpointMismatchError: another checkpoint format, or another model.
    """
    path = Path(path)
    state = load_checksummed(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else None
        raise CheckpointMismatchError(
            f"{path} has checkpoint format {found!r}; this bnnlib reads format {CHECKPOINT_FORMAT}",
            f"format {CHECKPOINT_FORMAT} != {found} in checkpoint {path}",
        )
    if model is not None:
        _check_identity(path, {"model": state["identity"]["model"]},
                        {"model": model_fingerprint(model, name)})
        model.load_state_dict(state["model"])
    return state


def _move_aside(path: Path, err: Exception) -> None:
    """Keep a corrupt checkpoint for inspection as ``<name>.corrupt``; warn, naming both."""
    aside = path.with_name(path.name + ".corrupt")
    os.replace(path, aside)
    warnings.warn(f"{err} Moved it to {aside}.", RuntimeWarning, stacklevel=3)


def _resume_state(out: Path, model: nn.Module, name: str | None,
                  identity: dict) -> tuple[dict | None, Path | None]:
    """The checkpoint to resume from: ``last.pt``, else ``best.pt`` when ``last.pt`` is corrupt.

    Both hold a whole run state at their step, so either continues the run exactly. A corrupt
    file is moved aside (``.corrupt``) and never deletes the other files of ``out``.
    """
    for path in (out / "last.pt", out / "best.pt"):
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path, model, name=name)
        except CorruptFileError as err:
            _move_aside(path, err)
            continue
        _check_identity(path, state["identity"], identity)
        return state, path
    return None, None


# --------------------------------------------------------------------------------------------
# Training


@dataclass
class FitResult:
    """What :func:`fit` returns.

    ``history`` holds one dict per epoch: ``epoch`` (1-based), ``lr`` (at the epoch's first
    step), ``train_loss``, ``train_top1``, ``train_top5`` (running averages over the epoch, in
    train mode), ``val_loss``, ``val_top1``, ``val_top5`` (when ``val_data`` is given),
    ``seconds`` (training time of the epoch) and ``images_per_s``. Accuracies are fractions.
    """

    history: list[dict[str, float]]
    best: dict[str, float] | None
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    seconds: float
    resumed_from: dict[str, int] | None = None
    stopped_early: bool = False

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's row."""
        return self.history[-1]


class _MetricsLog:
    """Per-epoch metrics through DVCLive (``dvcyaml=False``) plus ``history.json``."""

    def __init__(self, out_dir: Path, history: list[dict], enabled: bool) -> None:
        self.out_dir = out_dir
        self.live = None
        if not enabled:
            return
        from dvclive import Live

        # resume=False clears the folder; the rows are then replayed from the checkpoint's
        # history, so the files equal an uninterrupted run's even after a crash between
        # writing the checkpoint and logging the epoch.
        self.live = Live(
            str(out_dir / "live"), resume=False, dvcyaml=False, save_dvc_exp=False, report=None
        )
        for row in history:
            self._log(row)
        self._write_history(history)

    def _log(self, row: dict) -> None:
        for key, value in row.items():
            if key == "epoch":
                continue
            # train_loss -> train/loss: DVCLive groups metrics by folder.
            split, _, metric = key.partition("_")
            self.live.log_metric(f"{split}/{metric}" if split in ("train", "val") else key, value)
        self.live.next_step()

    def _write_history(self, history: list[dict]) -> None:
        atomic_write_bytes(self.out_dir / "history.json", json.dumps(history, indent=1).encode())

    def epoch_end(self, row: dict, history: list[dict]) -> None:
        if self.live is None:
            return
        self._log(row)
        self._write_history(history)

    def close(self) -> None:
        if self.live is not None:
            self.live.end()


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_real(name: str, value: Any, low: float, high: float, *, open_low: bool = False,
                open_high: bool = False) -> None:
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
          and (value > low if open_low else value >= low)
          and (value < high if open_high else value <= high))
    if not ok:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")


def _check_recipe(*, epochs, batch_size, lr, momentum, gamma, weight_decay, label_smoothing,
                  checkpoint_every, eval_batch_size) -> None:
    """Refuse a bad recipe before any work, naming the argument (e.g. ``epochs=2.5``)."""
    _check_int("epochs", epochs, 1)
    _check_int("batch_size", batch_size, 1)
    _check_int("eval_batch_size", eval_batch_size, 1)
    if checkpoint_every is not None:
        _check_int("checkpoint_every", checkpoint_every, 1)
    _check_real("lr", lr, 0.0, math.inf, open_low=True, open_high=True)
    _check_real("momentum (SGD momentum, Adam beta1)", momentum, 0.0, 1.0, open_high=True)
    _check_real("gamma", gamma, 0.0, math.inf, open_low=True, open_high=True)
    _check_real("label_smoothing", label_smoothing, 0.0, 1.0, open_high=True)
    if weight_decay is not None:
        _check_real("weight_decay", weight_decay, 0.0, math.inf, open_high=True)


def _make_optimizer(model, optimizer, lr, weight_decay, momentum):
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        wd = 0.0 if weight_decay is None else weight_decay
        return torch.optim.Adam(params, lr=lr, betas=(momentum, 0.999), weight_decay=wd)
    if optimizer == "sgd":
        wd = 5e-4 if weight_decay is None else weight_decay
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")


def _hook_state(hooks: dict[str, Any]) -> dict[str, Any]:
    return {k: h.state_dict() for k, h in hooks.items() if hasattr(h, "state_dict")}


def fit(
    model: nn.Module,
    train_data: Dataset,
    val_data: Dataset | None = None,
    *,
    epochs: int,
    batch_size: int = 128,
    optimizer: str = "adam",
    lr: float = 1e-3,
    schedule: str = "linear",
    milestones: Sequence[int] | None = None,
    gamma: float = 0.1,
    weight_decay: float | None = None,
    momentum: float = 0.9,
    label_smoothing: float = 0.0,
    out_dir: str | Path | None = None,
    seed: int = 0,
    resume: bool = True,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    before_step: Callable[[nn.Module, int], None] | None = None,
    after_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
    checkpoint_every: int | None = None,
    eval_batch_size: int = 512,
    drop_last: bool = False,
    num_workers: int = 0,
    log_metrics: bool = True,
    model_name: str | None = None,
    context: dict[str, Any] | None = None,
    progress: bool = True,
) -> FitResult:
    """Train ``model`` on ``train_data`` with cross-entropy; see the module docstring.

    Args:
        model: any ``nn.Module`` returning logits; moved to ``device``.
        train_data, val_data: datasets of ``(image, label)``; ``val_data`` (the held-out
            search-validation split, never the test set) is evaluated after every epoch.
        epochs, batch_size, optimizer, lr, schedule, milestones, gamma, weight_decay,
            momentum, label_smoothing: the recipe (module docstring; ``weight_decay=None``
            means 0 for Adam and 5e-4 for SGD; ``milestones`` are epochs).
        out_dir: where checkpoints and metrics go; ``None`` keeps nothing on disk.
        seed: seeds torch/numpy/python at the start of a fresh run and fixes every epoch's
            batch order. The model's initial weights are the caller's (seed before building).
        resume: continue from ``out_dir/last.pt`` when it exists, after checking that it was
            written by a run of the same identity: the model (class, construction keywords,
            shapes), the recipe, the data (:func:`bnnlib.data.dataset_fingerprint` of
            ``train_data`` and ``val_data``) and ``context``. A corrupt ``last.pt`` is moved
            aside (``last.pt.corrupt``) and the run resumes from ``best.pt`` when that is
            intact, else starts over. ``False`` starts over.
        device: ``None`` = CUDA when available, else CPU.
        amp: mixed precision; ``None`` = on for CUDA, off on CPU.
        before_step: ``before_step(model, step)`` is called before every optimisation step
            (``step`` counts from 0 over the whole run), e.g. to sample a supernet genome.
            For exact resume, draw its randomness from the global RNGs (checkpointed) or
            from ``step``; if it has ``state_dict()``/``load_state_dict()`` these are
            checkpointed too.
        after_epoch: ``after_epoch(epoch, row)`` after each epoch's row is logged; return
            ``True`` to stop training early.
        checkpoint_every: also write ``last.pt`` every this many steps (mid-epoch).
        eval_batch_size: batch size of the validation pass.
        drop_last: drop the last incomplete training batch of each epoch.
        num_workers: DataLoader workers for datasets that are not in memory.
        log_metrics: write DVCLive metrics and ``history.json`` under ``out_dir``.
        model_name: name stored in the checkpoint's identity (default ``model.name``).
        context: JSON-able facts that also determine the run and that ``fit`` cannot see
            (e.g. the code version, how the initial weights were made); part of the identity.
        progress: show a tqdm bar per epoch.

    Raises:
        ValueError: bad arguments (unknown optimizer/schedule, empty data, ...).
        CheckpointMismatchError: ``last.pt`` was written by a run of another identity (the
            message lists each difference as ``key now != saved``).
        FloatingPointError: the training loss became NaN or infinite.
    """
    _check_recipe(epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, gamma=gamma,
                  weight_decay=weight_decay, label_smoothing=label_smoothing,
                  checkpoint_every=checkpoint_every, eval_batch_size=eval_batch_size)
    if len(train_data) == 0:
        raise ValueError("train_data is empty")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    if milestones is None:
        milestones = _default_milestones(epochs) if schedule == "step" else []
    milestones = sorted(_check_int("milestones", m, 1) for m in milestones)

    device = (
        torch.device(device)
        if device is not None
        else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    use_cuda = device.type == "cuda"
    amp = use_cuda if amp is None else amp
    model.to(device)
    if use_cuda:
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    opt = _make_optimizer(model, optimizer, lr, weight_decay, momentum)
    use_scaler = use_cuda and amp and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    steps_per_epoch = len(_epoch_batches(len(train_data), batch_size, False, 0, 0, drop_last))
    if steps_per_epoch == 0:
        raise ValueError(
            f"drop_last=True with batch_size={batch_size} > {len(train_data)} training images "
            "leaves no batch"
        )
    total_steps = steps_per_epoch * epochs
    run_config = {
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "lr": lr,
        "schedule": schedule,
        "milestones": milestones,
        "gamma": gamma,
        "weight_decay": weight_decay,
        "momentum": momentum,
        "label_smoothing": label_smoothing,
        "seed": seed,
        "drop_last": drop_last,
    }
    # everything that determines the trained weights: a checkpoint of another identity is
    # never resumed (CheckpointMismatchError names what differs)
    identity = {
        "model": model_fingerprint(model, model_name),
        "recipe": run_config,
        "data": {"train": dataset_fingerprint(train_data),
                 "val": dataset_fingerprint(val_data) if val_data is not None else None},
        "context": canonical(context or {}),
    }
    hooks = {"before_step": before_step} if before_step is not None else {}

    out = Path(out_dir) if out_dir is not None else None
    last_path = out / "last.pt" if out else None
    best_path = out / "best.pt" if out else None

    # ---- fresh start or resume
    history: list[dict[str, float]] = []
    best: dict[str, float] | None = None
    epoch, step_in_epoch, global_step = 0, 0, 0
    accum = {"loss": 0.0, "c1": 0, "c5": 0, "n": 0, "seconds": 0.0}
    resumed_from = None
    state, state_path = _resume_state(out, model, model_name, identity) if out and resume else (None, None)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        for key, h in hooks.items():
            if key in state.get("hooks", {}) and hasattr(h, "load_state_dict"):
                h.load_state_dict(state["hooks"][key])
        set_rng_state(state["rng"])
        history, best = state["history"], state["best"]
        epoch, step_in_epoch, global_step = (
            state["epoch"],
            state["step_in_epoch"],
            state["global_step"],
        )
        accum = state["accum"]
        resumed_from = {"epoch": epoch, "step_in_epoch": step_in_epoch, "global_step": global_step}
        if state_path != last_path:
            resumed_from["checkpoint"] = state_path.name
    else:
        seed_everything(seed)

    def save(is_best: bool) -> None:
        if last_path is None:
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "identity": identity,
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "global_step": global_step,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scaler": scaler.state_dict() if use_scaler else None,
            "rng": get_rng_state(),
            "accum": dict(accum),
            "history": history,
            "best": best,
            "hooks": _hook_state(hooks),
        }
        save_checksummed(state, last_path)
        if is_best:
            save_checksummed(state, best_path)

    metrics_log = _MetricsLog(out, history, log_metrics) if out is not None else None
    criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    start = time.perf_counter()
    stopped_early = False
    try:
        while epoch < epochs and not stopped_early:
            model.train()
            loader = make_loader(
                train_data,
                batch_size,
                shuffle=True,
                seed=seed,
                epoch=epoch,
                drop_last=drop_last,
                skip_batches=step_in_epoch,
                num_workers=num_workers,
                pin_memory=use_cuda,
            )
            epoch_lr = lr_at(
                epoch * steps_per_epoch,
                base_lr=lr,
                schedule=schedule,
                total_steps=total_steps,
                steps_per_epoch=steps_per_epoch,
                milestones=milestones,
                gamma=gamma,
            )
            bar = tqdm(
                total=steps_per_epoch,
                initial=step_in_epoch,
                disable=not progress,
                desc=f"epoch {epoch + 1}/{epochs}",
                leave=False,
                dynamic_ncols=True,
            )
            # Running sums live on the device (no host sync per step); seeded from the
            # checkpoint when resuming mid-epoch.
            loss_sum = torch.tensor(accum["loss"], dtype=torch.float64, device=device)
            c1 = torch.tensor(accum["c1"], dtype=torch.int64, device=device)
            c5 = torch.tensor(accum["c5"], dtype=torch.int64, device=device)
            n_seen = accum["n"]
            t0 = time.perf_counter() - accum["seconds"]
            for x, y in loader:
                if before_step is not None:
                    before_step(model, global_step)
                step_lr = lr_at(
                    global_step,
                    base_lr=lr,
                    schedule=schedule,
                    total_steps=total_steps,
                    steps_per_epoch=steps_per_epoch,
                    milestones=milestones,
                    gamma=gamma,
                )
                for group in opt.param_groups:
                    group["lr"] = step_lr
                x = x.to(device, non_blocking=True)
                y = y.to(device, non_blocking=True)
                if use_cuda and x.dim() == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                with _autocast(device, amp):
                    logits = model(x)
                    loss = criterion(logits, y)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()

                with torch.no_grad():
                    b = len(y)
                    loss_sum += loss.detach().double() * b
                    k = min(5, logits.shape[-1])
                    hit = logits.detach().topk(k, dim=-1).indices.eq(y.view(-1, 1))
                    c1 += hit[:, 0].sum()
                    c5 += hit.any(dim=1).sum()
                    n_seen += b
                global_step += 1
                step_in_epoch += 1
                bar.update(1)
                if progress and step_in_epoch % 20 == 0:
                    bar.set_postfix(
                        loss=f"{float(loss_sum) / n_seen:.3f}",
                        top1=f"{int(c1) / n_seen:.3f}",
                        lr=f"{step_lr:.2e}",
                    )
                if (
                    checkpoint_every
                    and global_step % checkpoint_every == 0
                    and step_in_epoch < steps_per_epoch
                ):
                    accum = {
                        "loss": float(loss_sum),
                        "c1": int(c1),
                        "c5": int(c5),
                        "n": n_seen,
                        "seconds": time.perf_counter() - t0,
                    }
                    save(is_best=False)
            bar.close()
            seconds = time.perf_counter() - t0
            train_loss = float(loss_sum) / n_seen
            if not math.isfinite(train_loss):
                raise FloatingPointError(
                    f"training loss is {train_loss} in epoch {epoch + 1} (lr {epoch_lr:g}); "
                    "lower the learning rate or check the model"
                )
            row = {
                "epoch": epoch + 1,
                "lr": epoch_lr,
                "train_loss": train_loss,
                "train_top1": int(c1) / n_seen,
                "train_top5": int(c5) / n_seen,
            }
            if val_data is not None and len(val_data) > 0:
                val = evaluate(model, val_data, eval_batch_size, device=device, amp=amp)
                row.update(val_loss=val["loss"], val_top1=val["top1"], val_top5=val["top5"])
            row.update(seconds=seconds, images_per_s=n_seen / seconds if seconds > 0 else 0.0)
            history.append(row)
            monitor = "val_top1" if "val_top1" in row else "train_top1"
            is_best = best is None or row[monitor] > best[monitor]
            if is_best:
                best = dict(row)
            epoch += 1
            step_in_epoch = 0
            accum = {"loss": 0.0, "c1": 0, "c5": 0, "n": 0, "seconds": 0.0}
            save(is_best)
            if metrics_log is not None:
                metrics_log.epoch_end(row, history)
            if after_epoch is not None and after_epoch(epoch, row):
                stopped_early = True
    finally:
        if metrics_log is not None:
            metrics_log.close()

    return FitResult(
        history=history,
        best=best,
        last_checkpoint=last_path if last_path is not None and last_path.exists() else None,
        best_checkpoint=best_path if best_path is not None and best_path.exists() else None,
        seconds=time.perf_counter() - start,
        resumed_from=resumed_from,
        stopped_early=stopped_early,
    )
