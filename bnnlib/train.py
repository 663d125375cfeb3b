"""The training engine every stage uses: :func:`fit` and :func:`evaluate`.

A run is ``fit(model, train_data, val_data, recipe=Recipe(...))``; the :class:`Recipe` says how
(its docstring gives every field's meaning and formula). The recipes of the two papers:

- Groups study (Phan et al. 2020, section 4.1): ``optimizer="adam"`` (beta1 = 0.9,
  the paper's "momentum 0.9"), ``lr=1e-3``, ``schedule="linear"`` (decayed linearly to zero
  over all steps), batch 512.
- Widths study (Shen et al. 2019, section 3.1): ``optimizer="sgd"`` (momentum 0.9),
  ``lr=0.1``, ``schedule="step"`` with the learning rate multiplied by 0.1 at the milestones
  (CIFAR-10: epochs 60, 120, 180 of 200; ImageNet: 50, 100, 135 of 150). Without explicit
  ``milestones`` the CIFAR-10 fractions 0.3/0.6/0.9 of ``epochs`` are used.
- ``schedule="cosine"`` (to zero) as an option; ``"constant"`` for debugging.

Choices made where the papers are silent: weight decay 0 for Adam (binary weights gain
nothing from it, and Phan et al. do not mention it) and 5e-4 for SGD (the CIFAR ResNet/VGG
recipe Shen et al. defer to); the learning rate is set before every step from a pure function of
the step (:meth:`Recipe.lr_at`, so resuming needs no scheduler state); the "best" checkpoint
tracks validation top-1 when ``val_data`` is given, else training top-1.

Outputs under ``out_dir`` (all written atomically, by :mod:`bnnlib.checkpoint`):

- ``last.pt`` / ``best.pt``: checksummed checkpoints (model, optimizer, RNG states, history),
  tagged with the run's *identity*: the model (class, construction keywords, shapes), the
  recipe, the data (:func:`bnnlib.data.dataset_fingerprint`) and the caller's ``context``.
  When a run has trained all its epochs, ``last.pt`` is rewritten as a *final* checkpoint:
  the same minus the optimizer's state (``final: True``). The recipe's epochs are part of the
  identity, so a finished run is never trained further, and Adam's two moments would double
  the file for nothing (a 4x-wide ResNet-18's run state is 2.1 GB, its weights 0.7 GB).
  ``keep_best=False`` also deletes ``best.pt`` then (the study's stages: they report the last
  epoch's model, and the gpu profile's checkpoints would otherwise outgrow a 64 GB disk).
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

Data parallel: started by ``torchrun`` (``bnnlib.distributed.init`` called), ``fit`` trains with
DistributedDataParallel: ``recipe.batch_size`` is the global batch, each rank takes its chunk
of every batch, BatchNorm statistics and metrics are global, and rank 0 alone writes
checkpoints and metrics; :mod:`bnnlib.distributed` says how and what is (and is not) equal to
one process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, Subset
from tqdm.auto import tqdm  # widgets in JupyterLab (ipywidgets), text elsewhere

from . import distributed as dist
from .checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointMismatchError,
    MetricsLog,
    load_checkpoint,
    model_fingerprint,
    resume_state,
    save_checkpoint,
)
from .checks import check_int, check_real
from .data import dataset_fingerprint, on_device
from .fingerprint import canonical
from .loader import epoch_batches, make_loader
from .registry import OPTIMIZERS, SCHEDULES
from .utils import get_rng_state, seed_everything, set_rng_state

__all__ = ["fit", "Recipe", "evaluate", "FitResult", "topk_correct", "accuracy", "lr_at",
           "make_loader", "load_checkpoint", "model_fingerprint", "CheckpointMismatchError",
           "CHECKPOINT_FORMAT"]


# --------------------------------------------------------------------------------------------
# Metrics


def topk_correct(logits: torch.Tensor, targets: torch.Tensor,
                 ks: Sequence[int] = (1, 5)) -> list[int]:
    """Number of samples whose target is among the ``k`` highest logits, for each ``k``.

    ``k`` larger than the number of classes counts every sample as correct.
    """
    num_classes = logits.shape[-1]
    maxk = min(max(ks), num_classes)
    pred = logits.topk(maxk, dim=-1).indices  # [B, maxk], best first
    hit = pred.eq(targets.view(-1, 1))
    return [int(hit[:, : min(k, num_classes)].any(dim=1).sum()) for k in ks]


def accuracy(logits: torch.Tensor, targets: torch.Tensor,
             ks: Sequence[int] = (1, 5)) -> list[float]:
    """Top-k accuracies as fractions in ``[0, 1]`` (see :func:`topk_correct`)."""
    return [c / len(targets) for c in topk_correct(logits, targets, ks)]


# --------------------------------------------------------------------------------------------
# Learning-rate schedules


def _default_milestones(epochs: int) -> list[int]:
    # Shen et al., CIFAR-10: x0.1 at epochs 60, 120, 180 of 200.
    return sorted({max(1, round(epochs * f)) for f in (0.3, 0.6, 0.9)})


def lr_at(step: int, *, base_lr: float, schedule: str, total_steps: int, steps_per_epoch: int,
          milestones: Sequence[int] = (), gamma: float = 0.1) -> float:
    """Learning rate used by optimisation step ``step`` (0-based) of ``total_steps``.

    ``linear``: ``base_lr * (1 - step / total_steps)`` (Phan et al.'s linear decay, to zero);
    ``step``: ``base_lr * gamma ** (number of milestones <= current epoch)`` (Shen et al.);
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
# The recipe


@dataclass(frozen=True)
class Recipe:
    """How :func:`fit` trains: everything of a run that determines its weights, but the seed.

    Each field is checked at construction, so a bad recipe fails before any training with a
    ``ValueError`` naming the field, the bad value and what is valid (``epochs must be an
    integer >= 1, got 2.5``).

    Attributes:
        epochs: passes over the training data (integer >= 1). An epoch has
            ``steps_per_epoch = ceil(n / batch_size)`` optimisation steps (``floor`` with
            ``drop_last``), the run ``T = epochs * steps_per_epoch``.
        batch_size: training images per step (integer >= 1).
        optimizer: ``"adam"`` (``betas=(momentum, 0.999)``) or ``"sgd"`` (with ``momentum``).
        lr: the base learning rate ``lr > 0``.
        schedule: the learning rate of step ``t`` (0-based, :meth:`lr_at`): ``"linear"``
            ``lr * (1 - t / T)`` (Phan et al.); ``"step"`` ``lr * gamma ** m`` with ``m`` the
            number of milestones <= the epoch of ``t`` (Shen et al.); ``"cosine"``
            ``lr * (1 + cos(pi * t / T)) / 2``; ``"constant"`` ``lr``.
        milestones: epochs (integers >= 1, stored sorted) of the ``"step"`` schedule; ``None``
            means the CIFAR-10 fractions 0.3/0.6/0.9 of ``epochs`` for ``"step"``, none
            otherwise (:attr:`milestone_epochs`).
        gamma: factor (> 0) of the ``"step"`` schedule at each milestone.
        weight_decay: L2 coefficient (>= 0); ``None`` means 0 for Adam, 5e-4 for SGD.
        momentum: SGD momentum, or Adam's beta1, in [0, 1).
        label_smoothing: of the cross-entropy loss, in [0, 1).
        drop_last: drop the last incomplete training batch of each epoch. It belongs to the
            recipe because it changes which images every step sees, hence the weights (it has
            always been in the checkpoint identity). The validation batch size does not: it
            changes no weight, so it stays an argument of :func:`fit` (``eval_batch_size``),
            like the seed, the device and the number of loader workers.
    """

    epochs: int
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "linear"
    milestones: tuple[int, ...] | None = None
    gamma: float = 0.1
    weight_decay: float | None = None
    momentum: float = 0.9
    label_smoothing: float = 0.0
    drop_last: bool = False

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_real("lr", self.lr, 0.0, math.inf, open_low=True, open_high=True)
        check_real("momentum (SGD momentum, Adam beta1)", self.momentum, 0.0, 1.0, open_high=True)
        check_real("gamma", self.gamma, 0.0, math.inf, open_low=True, open_high=True)
        check_real("label_smoothing", self.label_smoothing, 0.0, 1.0, open_high=True)
        if self.weight_decay is not None:
            check_real("weight_decay", self.weight_decay, 0.0, math.inf, open_high=True)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if self.milestones is not None:
            ms = tuple(sorted(check_int("milestones", m, 1) for m in self.milestones))
            object.__setattr__(self, "milestones", ms)

    @property
    def milestone_epochs(self) -> list[int]:
        """The milestones in effect: ``milestones``, or the default of the ``"step"`` schedule."""
        if self.milestones is None:
            return _default_milestones(self.epochs) if self.schedule == "step" else []
        return list(self.milestones)

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """The learning rate of step ``step`` (0-based) of the run: the one place it is computed."""
        return lr_at(step, base_lr=self.lr, schedule=self.schedule,
                     total_steps=steps_per_epoch * self.epochs, steps_per_epoch=steps_per_epoch,
                     milestones=self.milestone_epochs, gamma=self.gamma)

    def identity(self, seed: int) -> dict[str, Any]:
        """The recipe part of a checkpoint's identity, with the run's ``seed``.

        The keys and values :func:`fit` has always written (``weight_decay`` as given,
        ``milestones`` as in effect), so that checkpoints on disk stay resumable.
        """
        return {"epochs": self.epochs, "batch_size": self.batch_size,
                "optimizer": self.optimizer, "lr": self.lr, "schedule": self.schedule,
                "milestones": self.milestone_epochs, "gamma": self.gamma,
                "weight_decay": self.weight_decay, "momentum": self.momentum,
                "label_smoothing": self.label_smoothing, "seed": seed,
                "drop_last": self.drop_last}

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer of the model's trainable parameters (learning rate set every step)."""
        params = [p for p in model.parameters() if p.requires_grad]
        if self.optimizer == "adam":
            wd = 0.0 if self.weight_decay is None else self.weight_decay
            return torch.optim.Adam(params, lr=self.lr, betas=(self.momentum, 0.999),
                                    weight_decay=wd)
        wd = 5e-4 if self.weight_decay is None else self.weight_decay
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=wd)


# --------------------------------------------------------------------------------------------
# Devices and evaluation


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _resolve_device(device: str | torch.device | None, amp: bool | None,
                    default: torch.device) -> tuple[torch.device, bool]:
    """``device`` (``default`` when ``None``) and whether to autocast (default: on CUDA)."""
    device = torch.device(device) if device is not None else default
    return device, device.type == "cuda" if amp is None else amp


def _autocast(device: torch.device, amp: bool):
    if device.type == "cuda" and amp:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast(device.type, enabled=False)


def _forward(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
             amp: bool, criterion: nn.Module | None = None):
    """Move a batch to ``device`` (images channels_last on CUDA) and run ``model`` under
    autocast: ``(logits, y on device, criterion(logits, y) or None)``. Training and
    evaluation share it."""
    x = x.to(device, non_blocking=True)
    y = y.to(device, non_blocking=True)
    if device.type == "cuda" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    with _autocast(device, amp):
        logits = model(x)
        loss = criterion(logits, y) if criterion is not None else None
    return logits, y, loss


def evaluate(model: nn.Module, data: Dataset, batch_size: int = 512, *,
             device: str | torch.device | None = None, amp: bool | None = None,
             progress: bool = False, distributed: bool = False,
             num_workers: int = 0) -> dict[str, float]:
    """Mean cross-entropy and top-1/top-5 accuracy of ``model`` on ``data``, in eval mode.

    Returns ``{"loss", "top1", "top5", "n"}``; accuracies are fractions in ``[0, 1]``.
    ``device`` defaults to where the model's parameters are; the model's train/eval mode is
    restored afterwards. ``distributed=True`` (inside a process group; every rank must call
    it) splits ``data`` into contiguous shards, one per rank, and sums the counts over ranks:
    every rank returns the numbers of the whole of ``data``. ``num_workers``: DataLoader
    workers for datasets read from disk (in-memory ones are indexed a batch at a time).
    """
    device, amp = _resolve_device(device, amp, _model_device(model))
    distributed = distributed and dist.is_distributed()
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = [0, 0]
    n = 0
    if distributed:
        data = Subset(data, dist.shard(range(len(data))))
    data = on_device(data, device)  # in-memory images: one gather per batch on the GPU
    loader = make_loader(data, batch_size, pin_memory=device.type == "cuda",
                         num_workers=num_workers)
    try:
        with torch.inference_mode():
            for x, y in tqdm(loader, desc="eval", disable=not progress, leave=False):
                logits, y, _ = _forward(model, x, y, device, amp)
                logits = logits.float()
                loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
                c1, c5 = topk_correct(logits, y)
                correct[0] += c1
                correct[1] += c5
                n += len(y)
    finally:
        model.train(was_training)
    if distributed:
        total = dist.all_reduce_sum([float(loss_sum), correct[0], correct[1], n])
        loss_sum, correct, n = total[0], [int(total[1]), int(total[2])], int(total[3])
    if n == 0:
        raise ValueError("evaluate() got an empty dataset")
    return {"loss": float(loss_sum) / n, "top1": correct[0] / n, "top5": correct[1] / n, "n": n}


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


@dataclass(kw_only=True)
class _Run:
    """What stays fixed during a run of :func:`fit` (the model's weights aside)."""

    model: nn.Module
    train_data: Dataset
    val_data: Dataset | None
    recipe: Recipe
    seed: int
    device: torch.device
    amp: bool
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    steps_per_epoch: int
    identity: dict[str, Any]
    out: Path | None
    model_name: str | None
    before_step: Callable[[nn.Module, int], None] | None
    checkpoint_every: int | None
    eval_batch_size: int
    num_workers: int
    progress: bool
    world: int = 1  # processes training together (1: no DDP)
    checkpoint_interval_s: float = 0.0
    keep_best: bool = True
    last_save: float = 0.0  # perf_counter of the last epoch-end checkpoint
    saved_epoch: int = -1  # state.epoch of that checkpoint

    def __post_init__(self) -> None:
        self.criterion = nn.CrossEntropyLoss(label_smoothing=self.recipe.label_smoothing)
        self.hooks = {"before_step": self.before_step} if self.before_step is not None else {}
        self.net: nn.Module = self.model  # what the training forward calls (DDP wrapper or model)

    def lr(self, step: int) -> float:
        return self.recipe.lr_at(step, self.steps_per_epoch)


def _zero_accum() -> dict[str, float]:
    return {"loss": 0.0, "c1": 0, "c5": 0, "n": 0, "seconds": 0.0}


@dataclass
class _State:
    """What a run changes as it goes; every checkpoint holds it."""

    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0
    global_step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] | None = None
    accum: dict[str, float] = field(default_factory=_zero_accum)  # sums of the epoch so far
    final: bool = False  # last.pt on disk is this finished run's final checkpoint


class _Tally:
    """Running sums of an epoch, kept on the device (no host sync per step)."""

    def __init__(self, accum: dict[str, float], device: torch.device, world: int = 1) -> None:
        self.world = world
        if world > 1 and not dist.is_main():
            accum = _zero_accum() | {"seconds": accum["seconds"]}  # rank 0 carries the sums
        self.loss = torch.tensor(accum["loss"], dtype=torch.float64, device=device)
        self.c1 = torch.tensor(accum["c1"], dtype=torch.int64, device=device)
        self.c5 = torch.tensor(accum["c5"], dtype=torch.int64, device=device)
        self.n = accum["n"]
        self.t0 = time.perf_counter() - accum["seconds"]

    @torch.no_grad()
    def add(self, loss_sum: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Add a batch: ``loss_sum`` is its loss summed over its images."""
        b = len(y)
        self.loss += loss_sum.detach().double()
        k = min(5, logits.shape[-1])
        hit = logits.detach().topk(k, dim=-1).indices.eq(y.view(-1, 1))
        self.c1 += hit[:, 0].sum()
        self.c5 += hit.any(dim=1).sum()
        self.n += b

    def accum(self) -> dict[str, float]:
        """The sums as plain numbers (over all ranks: every rank must call it together)."""
        sums = [float(self.loss), int(self.c1), int(self.c5), self.n]
        if self.world > 1:
            sums = dist.all_reduce_sum(sums).tolist()
        return {"loss": float(sums[0]), "c1": int(sums[1]), "c5": int(sums[2]), "n": int(sums[3]),
                "seconds": time.perf_counter() - self.t0}


def _place(model: nn.Module, device, amp) -> tuple[torch.device, bool]:
    """Move ``model`` to ``device`` (default: CUDA when available, this rank's GPU under
    torchrun), channels_last on CUDA."""
    default = dist.local_device()
    device, amp = _resolve_device(device, amp, default)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    return device, amp


def _steps_per_epoch(train_data: Dataset, recipe: Recipe) -> int:
    if len(train_data) == 0:
        raise ValueError("train_data is empty")
    steps = len(epoch_batches(len(train_data), recipe.batch_size, False, 0, 0, recipe.drop_last))
    if steps == 0:
        raise ValueError(
            f"drop_last=True with batch_size={recipe.batch_size} > {len(train_data)} training "
            "images leaves no batch"
        )
    return steps


def _start_or_resume(run: _Run, resume: bool) -> tuple[_State, dict[str, Any] | None]:
    """The run's state: from ``last.pt`` (or ``best.pt``) of ``run.out`` when ``resume`` and
    one of the same identity is there, else a fresh one (seeding every RNG with ``run.seed``).
    Returns ``(state, resumed_from)``."""
    found, path = (None, None)
    if run.out is not None and resume:
        # rank 0 first: it alone moves a corrupt checkpoint aside, before the others read
        if dist.is_main():
            found, path = resume_state(run.out, run.model, run.model_name, run.identity)
        if run.world > 1:
            dist.barrier()
            if not dist.is_main():
                found, path = resume_state(run.out, run.model, run.model_name, run.identity)
    if found is None:
        seed_everything(run.seed)
        return _State(), None
    final = bool(found.get("final"))  # a finished run (its epochs are in the identity)
    if not final:
        run.optimizer.load_state_dict(found["optimizer"])
    if found.get("scaler"):
        run.scaler.load_state_dict(found["scaler"])
    for key, hook in run.hooks.items():
        if key in found.get("hooks", {}) and hasattr(hook, "load_state_dict"):
            hook.load_state_dict(found["hooks"][key])
    set_rng_state(found["rng"])
    state = _State(epoch=found["epoch"], step_in_epoch=found["step_in_epoch"],
                   global_step=found["global_step"], history=found["history"],
                   best=found["best"], accum=found["accum"], final=final and path.name == "last.pt")
    resumed_from = {"epoch": state.epoch, "step_in_epoch": state.step_in_epoch,
                    "global_step": state.global_step}
    if path.name != "last.pt":
        resumed_from["checkpoint"] = path.name
    return state, resumed_from


def _save_checkpoint(run: _Run, state: _State, is_best: bool, final: bool = False) -> None:
    """Write the whole run state to ``last.pt`` (and ``best.pt``); nothing without ``out_dir``
    or on ranks other than 0. ``final``: a finished run's ``last.pt``, without the optimizer's
    and the gradient scaler's state (module docstring)."""
    if run.out is None or not dist.is_main():
        return
    hooks = {k: h.state_dict() for k, h in run.hooks.items() if hasattr(h, "state_dict")}
    save_checkpoint(run.out, run.identity, {
        "epoch": state.epoch, "step_in_epoch": state.step_in_epoch,
        "global_step": state.global_step, "model": run.model.state_dict(),
        "optimizer": None if final else run.optimizer.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler.is_enabled() and not final else None,
        "rng": get_rng_state(), "accum": dict(state.accum), "history": state.history,
        "best": state.best, "hooks": hooks, "final": final}, is_best=is_best)


def _finish(run: _Run, state: _State) -> None:
    """A run that trained all its epochs: its ``last.pt`` is the final checkpoint (rewritten
    here when it was resumed from a whole run state written at the end, e.g. by an earlier
    version), and ``best.pt`` goes unless ``keep_best``. Rank 0 only; idempotent."""
    if run.out is None or not dist.is_main():
        return
    if not state.final:
        _save_checkpoint(run, state, is_best=False, final=True)
        state.final = True
    if not run.keep_best:
        (run.out / "best.pt").unlink(missing_ok=True)


def _train_step(run: _Run, state: _State, x: torch.Tensor, y: torch.Tensor,
                tally: _Tally, global_batch: int) -> float:
    """One optimisation step on the batch ``(x, y)`` (this rank's chunk of a batch of
    ``global_batch`` images); returns its learning rate."""
    if run.before_step is not None:
        run.before_step(run.model, state.global_step)
    lr = run.lr(state.global_step)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    if run.world == 1:
        logits, y, loss = _forward(run.net, x, y, run.device, run.amp, run.criterion)
        loss_sum = loss.detach() * len(y)
    else:
        # sum over the chunk x W / B: DDP's gradient average is then the global batch mean's
        logits, y, _ = _forward(run.net, x, y, run.device, run.amp)
        loss_sum = dist.sum_cross_entropy(logits, y, run.recipe.label_smoothing)
        loss = loss_sum * (run.world / global_batch)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    tally.add(loss_sum, logits, y)
    state.global_step += 1
    state.step_in_epoch += 1
    return lr


def _train_epoch(run: _Run, state: _State) -> tuple[dict[str, float], dict[str, float]]:
    """Train epoch ``state.epoch`` (its rest, when resumed mid-epoch), with a checkpoint every
    ``checkpoint_every`` steps. Returns the row's training part and its timing."""
    run.model.train()
    recipe = run.recipe
    shard = (dist.rank(), run.world) if run.world > 1 else None
    loader = make_loader(run.train_data, recipe.batch_size, shuffle=True, seed=run.seed,
                         epoch=state.epoch, drop_last=recipe.drop_last,
                         skip_batches=state.step_in_epoch, num_workers=run.num_workers,
                         pin_memory=run.device.type == "cuda", shard=shard)
    # the global batch sizes weight each rank's loss (several processes only)
    sizes = ([len(b) for b in epoch_batches(len(run.train_data), recipe.batch_size, True,
                                            run.seed, state.epoch, recipe.drop_last)]
             if run.world > 1 else None)
    epoch_lr = run.lr(state.epoch * run.steps_per_epoch)
    bar = tqdm(total=run.steps_per_epoch, initial=state.step_in_epoch, disable=not run.progress,
               desc=f"epoch {state.epoch + 1}/{recipe.epochs}", leave=False, dynamic_ncols=True)
    tally = _Tally(state.accum, run.device, run.world)  # from the checkpoint when resuming
    shape = None
    for batch in loader:
        if batch is None:  # an empty chunk of a last batch smaller than the world
            x, y = torch.zeros((0, *shape)), torch.zeros(0, dtype=torch.int64)
        else:
            x, y = batch
            shape = tuple(x.shape[1:])
        step_lr = _train_step(run, state, x, y, tally,
                              sizes[state.step_in_epoch] if sizes else len(x))
        bar.update(1)
        if run.progress and state.step_in_epoch % 20 == 0:
            bar.set_postfix(loss=f"{float(tally.loss) / tally.n:.3f}",
                            top1=f"{int(tally.c1) / tally.n:.3f}", lr=f"{step_lr:.2e}")
        if (run.checkpoint_every and state.global_step % run.checkpoint_every == 0
                and state.step_in_epoch < run.steps_per_epoch):
            state.accum = tally.accum()
            _save_checkpoint(run, state, is_best=False)
    bar.close()
    sums = tally.accum()  # over every rank
    seconds = time.perf_counter() - tally.t0
    train_loss = sums["loss"] / sums["n"]
    if not math.isfinite(train_loss):
        raise FloatingPointError(
            f"training loss is {train_loss} in epoch {state.epoch + 1} (lr {epoch_lr:g}); "
            "lower the learning rate or check the model"
        )
    row = {"epoch": state.epoch + 1, "lr": epoch_lr, "train_loss": train_loss,
           "train_top1": sums["c1"] / sums["n"], "train_top5": sums["c5"] / sums["n"]}
    timing = {"seconds": seconds, "images_per_s": sums["n"] / seconds if seconds > 0 else 0.0}
    return row, timing


def _evaluate_epoch(run: _Run) -> dict[str, float]:
    """The row's validation part (empty without validation data)."""
    if run.val_data is None or len(run.val_data) == 0:
        return {}
    val = evaluate(run.model, run.val_data, run.eval_batch_size, device=run.device, amp=run.amp,
                   distributed=run.world > 1, num_workers=run.num_workers)
    return {"val_loss": val["loss"], "val_top1": val["top1"], "val_top5": val["top5"]}


def _end_epoch(run: _Run, state: _State, row: dict[str, float]) -> None:
    """Record the epoch's row (and the best so far), then checkpoint the run."""
    state.history.append(row)
    monitor = "val_top1" if "val_top1" in row else "train_top1"
    is_best = state.best is None or row[monitor] > state.best[monitor]
    if is_best:
        state.best = dict(row)
    state.epoch += 1
    state.step_in_epoch = 0
    state.accum = _zero_accum()
    now = time.perf_counter()
    last = state.epoch >= run.recipe.epochs  # the final checkpoint, written once
    if (run.checkpoint_interval_s <= 0 or last
            or now - run.last_save >= run.checkpoint_interval_s):
        _save_epoch_end(run, state, is_best and (run.keep_best or not last), final=last)


def _save_epoch_end(run: _Run, state: _State, is_best: bool, final: bool = False) -> None:
    _save_checkpoint(run, state, is_best, final=final)
    state.final = final
    run.last_save = time.perf_counter()
    run.saved_epoch = state.epoch


def _existing(out: Path | None, name: str) -> Path | None:
    return out / name if out is not None and (out / name).exists() else None


def _identity(model: nn.Module, model_name: str | None, recipe: Recipe, seed: int,
              train_data: Dataset, val_data: Dataset | None, context: dict | None) -> dict:
    """Everything that determines the trained weights: a checkpoint of another identity is
    never resumed (CheckpointMismatchError names what differs)."""
    return {
        "model": model_fingerprint(model, model_name),
        "recipe": recipe.identity(seed),
        "data": {"train": dataset_fingerprint(train_data),
                 "val": dataset_fingerprint(val_data) if val_data is not None else None},
        "context": canonical(context or {}),
    }


def _new_run(model, train_data, val_data, *, recipe, out_dir, seed, device, amp, before_step,
             checkpoint_every, checkpoint_interval_s, keep_best, eval_batch_size, num_workers,
             model_name, context, progress, distributed) -> _Run:
    """:func:`fit`'s arguments checked, the model and in-memory data placed, the run's identity
    taken (its arguments are :func:`fit`'s)."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a bnnlib.train.Recipe, got {type(recipe).__name__}")
    check_int("eval_batch_size", eval_batch_size, 1)
    if checkpoint_every is not None:
        check_int("checkpoint_every", checkpoint_every, 1)
    steps_per_epoch = _steps_per_epoch(train_data, recipe)
    world = dist.world_size() if distributed or distributed is None else 1
    if world > 1 and recipe.batch_size < world:
        raise ValueError(f"batch_size={recipe.batch_size} (the global batch) is smaller than the "
                         f"{world} processes; use a batch of at least {world} images")
    device, amp = _place(model, device, amp)
    use_scaler = device.type == "cuda" and amp and not torch.cuda.is_bf16_supported()
    identity = _identity(model, model_name, recipe, seed, train_data, val_data, context)
    # in-memory images move to the GPU once (after the identity: the data, not its place,
    # determines the run; batches are equal on every device, bnnlib.data.on_device)
    train_data = on_device(train_data, device)
    if val_data is not None:
        val_data = on_device(val_data, device)
    return _Run(model=model, train_data=train_data, val_data=val_data, recipe=recipe, seed=seed,
                device=device, amp=amp, optimizer=recipe.make_optimizer(model),
                scaler=torch.amp.GradScaler("cuda", enabled=use_scaler),
                steps_per_epoch=steps_per_epoch, identity=identity,
                out=Path(out_dir) if out_dir is not None else None, model_name=model_name,
                before_step=before_step, checkpoint_every=checkpoint_every,
                checkpoint_interval_s=check_real("checkpoint_interval_s", checkpoint_interval_s,
                                             0.0, math.inf),
                keep_best=bool(keep_best), eval_batch_size=eval_batch_size, num_workers=num_workers,
                progress=progress and dist.is_main(), world=world)


def fit(model: nn.Module, train_data: Dataset, val_data: Dataset | None = None, *,
        recipe: Recipe, out_dir: str | Path | None = None, seed: int = 0, resume: bool = True,
        device: str | torch.device | None = None, amp: bool | None = None,
        before_step: Callable[[nn.Module, int], None] | None = None,
        after_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
        checkpoint_every: int | None = None, checkpoint_interval_s: float = 0.0,
        keep_best: bool = True, eval_batch_size: int = 512, num_workers: int = 0, log_metrics: bool = True,
        model_name: str | None = None,
        context: dict[str, Any] | None = None, progress: bool = True,
        distributed: bool | None = None) -> FitResult:
    """Train ``model`` on ``train_data`` with cross-entropy; see the module docstring.

    Args:
        model: any ``nn.Module`` returning logits; moved to ``device``.
        train_data, val_data: datasets of ``(image, label)``; ``val_data`` (the held-out
            search-validation split, never the test set) is evaluated after every epoch.
        recipe: how to train (:class:`Recipe`: epochs, batch size, optimizer, schedule, ...).
        out_dir: where checkpoints and metrics go; ``None`` keeps nothing on disk.
        seed: seeds torch/numpy/python at the start of a fresh run and fixes every epoch's
            batch order. The model's initial weights are the caller's (seed before building).
        resume: continue from ``out_dir/last.pt`` when it exists, after checking that it was
            written by a run of the same identity: the model (class, construction keywords,
            shapes), the recipe and ``seed``, the data (:func:`bnnlib.data.dataset_fingerprint`
            of ``train_data`` and ``val_data``) and ``context``. A corrupt ``last.pt`` is moved
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
        checkpoint_interval_s: write the epoch-end checkpoints at most this often (seconds;
            0: after every epoch), and always after the last epoch. A big model trained in
            seconds per epoch on a GPU then spends its time training rather than hashing and
            writing its run state (4x VGG-small: 0.9 GB per checkpoint). An interrupted run
            resumes from the last written epoch; ``best.pt`` is written only at a written
            epoch that is the best so far (so it can be older than the history's best
            epoch). The trained weights and metrics do not depend on it.
        keep_best: keep ``best.pt`` once the run has trained all its epochs (``False``: delete
            it then; it is the fallback while training, should ``last.pt`` be corrupt).
            Either way the finished run's ``last.pt`` is its final checkpoint, without the
            optimizer's state (module docstring).
        eval_batch_size: batch size of the validation pass.
        num_workers: DataLoader workers for datasets that are not in memory.
        log_metrics: write DVCLive metrics and ``history.json`` under ``out_dir``.
        model_name: name stored in the checkpoint's identity (default ``model.name``).
        context: JSON-able facts that also determine the run and that ``fit`` cannot see
            (e.g. the code version, how the initial weights were made); part of the identity.
        progress: show a tqdm bar per epoch (rank 0 only).
        distributed: train with DistributedDataParallel over the process group
            (:mod:`bnnlib.distributed`); ``None`` = whenever one of more than one process is
            initialised. ``False`` trains on this process alone (e.g. a search candidate).

    Raises:
        TypeError: ``recipe`` is not a :class:`Recipe`.
        ValueError: bad arguments (empty data, ``checkpoint_every=0``, ...); a bad recipe
            already fails when the :class:`Recipe` is made.
        CheckpointMismatchError: ``last.pt`` was written by a run of another identity (the
            message lists each difference as ``key now != saved``).
        FloatingPointError: the training loss became NaN or infinite.
    """
    run = _new_run(model, train_data, val_data, recipe=recipe, out_dir=out_dir, seed=seed,
                   device=device, amp=amp, before_step=before_step,
                   checkpoint_every=checkpoint_every, checkpoint_interval_s=checkpoint_interval_s,
                   keep_best=keep_best, eval_batch_size=eval_batch_size, num_workers=num_workers,
                   model_name=model_name, context=context, progress=progress,
                   distributed=distributed)
    device, world = run.device, run.world
    state, resumed_from = _start_or_resume(run, resume)
    run.last_save, run.saved_epoch = time.perf_counter(), state.epoch
    write_metrics = run.out is not None and dist.is_main()
    metrics_log = MetricsLog(run.out, state.history, log_metrics) if write_metrics else None
    start = time.perf_counter()
    stopped_early = False
    try:
        with dist.sync_batchnorm(model) if world > 1 else nullcontext():
            if world > 1:  # after resuming: DDP broadcasts rank 0's weights once here
                run.net = nn.parallel.DistributedDataParallel(
                    model, device_ids=[device.index] if device.type == "cuda" else None,
                    broadcast_buffers=False)
            while state.epoch < recipe.epochs and not stopped_early:
                row, timing = _train_epoch(run, state)
                row.update(_evaluate_epoch(run), **timing)
                _end_epoch(run, state, row)
                if metrics_log is not None:
                    metrics_log.epoch_end(row, state.history)
                stopped_early = after_epoch is not None and bool(after_epoch(state.epoch, row))
            if run.saved_epoch != state.epoch and state.history:  # stopped between checkpoints
                _save_epoch_end(run, state, is_best=False)
            if state.epoch >= recipe.epochs:  # every epoch trained (not stopped early)
                _finish(run, state)
    finally:
        if metrics_log is not None:
            metrics_log.close()
    if world > 1:
        dist.barrier()  # rank 0's files are on disk before any rank goes on
    return FitResult(history=state.history, best=state.best,
                     last_checkpoint=_existing(run.out, "last.pt"),
                     best_checkpoint=_existing(run.out, "best.pt"),
                     seconds=time.perf_counter() - start, resumed_from=resumed_from,
                     stopped_early=stopped_early)
