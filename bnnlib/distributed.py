"""Data-parallel training across processes, GPUs and machines (``torch.distributed``).

The study runs unchanged in one process. When it is started by ``torchrun`` (the environment
holds ``WORLD_SIZE > 1``), :func:`init` joins the process group (NCCL on GPUs, gloo on CPUs)
and every training of :func:`bnnlib.train.fit` becomes data-parallel:

- **Batches.** The batch order of an epoch stays the pure function of ``(seed, epoch)`` of
  :func:`bnnlib.loader.epoch_batches`; ``batch_size`` is the *global* batch, and rank ``r`` of
  ``W`` takes the ``r``-th of ``W`` contiguous, near-equal chunks of every batch
  (:func:`shard`). The loss of rank ``r`` is its *sum* over its chunk times ``W / B`` (``B``
  the global batch), so that DistributedDataParallel's gradient average is the gradient of the
  mean over the global batch, uneven chunks included.
- **BatchNorm** statistics are synchronised (:func:`sync_batchnorm`): in training mode every
  BN layer normalises with the mean and variance of the *global* batch, through a
  differentiable all-reduce, so the result does not depend on the number of processes. One
  implementation for CPU (gloo) and GPU (NCCL), for static and dynamic (prefix-sliced) BN;
  ``torch.nn.SyncBatchNorm`` is not used because it refuses CPU tensors and sliced channels.
- **Metrics** (training and validation loss/accuracy) are sums all-reduced over the ranks, so
  every rank logs the numbers one process would.
- **Checkpoints and every file** of the study are written by rank 0 alone; all ranks read them
  back (after a barrier), and a checkpoint does not record the number of processes, so a run
  resumes with another number of processes.
- **Randomness.** Every rank seeds its RNGs with the run's seed, and a supernet's genome of
  step ``t`` is a pure function of ``(seed, t)``, so all ranks train the same candidate at
  every step. Random *augmentation* draws per rank: runs with different numbers of processes
  see crops and flips from the same distribution, not the same ones (without augmentation the
  weights agree to float tolerance, which ``tests/test_distributed.py`` checks).

The architecture search parallelises over candidates instead (:func:`split_work`): every rank
scores its share of a generation on one device, the scores are gathered, and every rank goes
on with the same history as one process would. Candidate fine-tuning (the widths study) is
therefore per candidate on one device, not DDP: for many short trainings that avoids every
gradient exchange.

Launching: :func:`launch` runs a Python module under ``torchrun`` as a subprocess (a notebook
stage stays one command); :func:`process_count` resolves the ``devices`` setting (``auto`` =
the GPUs of this machine, an integer = that many processes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["init", "rank", "world_size", "is_distributed", "is_main", "barrier", "shard",
           "all_reduce_sum", "all_gather_objects", "split_work", "sync_batchnorm",
           "SyncBatchNorm2d", "process_count", "torchrun_command", "launch", "local_device"]


# --------------------------------------------------------------------------------------------
# The process group


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return (torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1)


def rank() -> int:
    """This process's rank (0 outside a process group)."""
    return torch.distributed.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes (1 outside a process group)."""
    return torch.distributed.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on rank 0: the process that writes files and shows progress."""
    return rank() == 0


def local_device() -> torch.device:
    """This process's device: its GPU (``LOCAL_RANK``) when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def init(backend: str | None = None, timeout_minutes: float = 30.0) -> bool:
    """Join the process group described by ``torchrun``'s environment; True when distributed.

    Does nothing (and returns False) when ``WORLD_SIZE`` is unset or 1; returns True when the
    group is already initialised. ``backend`` defaults to NCCL with CUDA, else gloo.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return is_distributed()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(local_device())
    torch.distributed.init_process_group(backend, timeout=timedelta(minutes=timeout_minutes))
    return is_distributed()


def barrier() -> None:
    """Wait for every rank (nothing outside a process group)."""
    if is_distributed():
        torch.distributed.barrier()


# --------------------------------------------------------------------------------------------
# Sharding and collectives


def shard(items: Sequence, part: int | None = None, parts: int | None = None) -> list:
    """The ``part``-th of ``parts`` contiguous, near-equal chunks of ``items``.

    Chunk sizes differ by at most one, the larger first (``torch.tensor_split``'s rule);
    defaults are this process's rank and the world size.
    """
    part = rank() if part is None else part
    parts = world_size() if parts is None else parts
    if not 0 <= part < parts:
        raise ValueError(f"part {part} is not in 0..{parts - 1}")
    n = len(items)
    base, extra = divmod(n, parts)
    start = part * base + min(part, extra)
    return list(items[start:start + base + (1 if part < extra else 0)])


def all_reduce_sum(values: Sequence[float] | torch.Tensor, device: torch.device | None = None,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The element-wise sum of ``values`` over all ranks (``values`` itself in one process)."""
    t = torch.as_tensor(values, dtype=dtype, device=device).clone()
    if is_distributed():
        if torch.distributed.get_backend() == "nccl" and t.device.type != "cuda":
            t = t.to(local_device())
        torch.distributed.all_reduce(t)
    return t.to(device) if device is not None else t.cpu()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order (``[obj]`` in one process)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    torch.distributed.all_gather_object(out, obj)
    return out


def split_work(items: Sequence, fn) -> list:
    """``[fn(item) for item in items]``, each rank computing a contiguous share.

    The results are gathered so every rank returns the full list in the order of ``items``:
    the same list one process computes, when ``fn`` is deterministic. An exception on any
    rank is raised on every rank (naming the rank), so no rank waits forever.
    """
    if not is_distributed():
        return [fn(item) for item in items]
    mine = shard(items)
    try:
        outcome: tuple[str, Any] = ("ok", [fn(item) for item in mine])
    except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
        outcome = ("error", f"{type(exc).__name__}: {exc}")
    gathered = all_gather_objects(outcome)
    errors = [f"rank {r}: {msg}" for r, (kind, msg) in enumerate(gathered) if kind == "error"]
    if errors:
        raise RuntimeError("split_work failed on " + "; ".join(errors))
    return [result for _, results in gathered for result in results]


# --------------------------------------------------------------------------------------------
# Synchronised BatchNorm


def _global_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, biased variance (per channel) and image-pixel count of ``x`` over all ranks.

    Sums are all-reduced with ``torch.distributed.nn.functional.all_reduce``, whose backward
    all-reduces the gradients: the gradient each rank gets is that of the global statistics.
    """
    c = x.shape[1]
    xf = _wide(x)
    count = torch.full((1,), float(xf.numel() // max(c, 1)), device=x.device, dtype=xf.dtype)
    local = torch.cat([xf.sum(dim=(0, 2, 3)), (xf * xf).sum(dim=(0, 2, 3)), count])
    if is_distributed():
        local = torch.distributed.nn.functional.all_reduce(local)
    n = local[-1]
    mean = local[:c] / n
    var = (local[c:2 * c] / n - mean * mean).clamp_min(0.0)
    return mean, var, n


def _wide(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 at least (half-precision inputs under autocast are widened)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode statistics are those of the global batch.

    Takes the place of ``nn.BatchNorm2d`` and :class:`bnnlib.dynamic.DynamicBatchNorm2d`
    during a distributed :func:`bnnlib.train.fit` (:func:`sync_batchnorm` swaps the class and
    restores it): same parameters, buffers and state dict. Inputs with fewer channels than
    ``num_features`` use the first channels (the dynamic layer's prefix slice). In eval mode,
    or outside a process group, it computes what ``nn.BatchNorm2d`` computes.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return _local_batch_norm(self, x)
        c = x.shape[1]
        mean, var, n = _global_moments(x)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                          else self.momentum)
                unbiased = var * (n / (n - 1).clamp_min(1.0))
                self.running_mean[:c].mul_(1 - factor).add_(mean.detach() * factor)
                self.running_var[:c].mul_(1 - factor).add_(unbiased.detach() * factor)
        shape = (1, c, 1, 1)
        scale = torch.rsqrt(var + self.eps)
        if self.affine:
            scale = scale * self.weight[:c]
        y = (_wide(x) - mean.view(shape)) * scale.view(shape)
        if self.affine:
            y = y + self.bias[:c].view(shape)
        return y.to(x.dtype)


def _local_batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """What the layer's original class computes (plain or prefix-sliced BatchNorm)."""
    c = x.shape[1]
    if c == bn.num_features:
        return nn.BatchNorm2d.forward(bn, x)
    from .dynamic import DynamicBatchNorm2d

    return DynamicBatchNorm2d.forward(bn, x)


@contextmanager
def sync_batchnorm(model: nn.Module):
    """Within the block, the BN layers of ``model`` synchronise their statistics (see above).

    Swaps the class of every ``nn.BatchNorm2d`` (dynamic ones included) to
    :class:`SyncBatchNorm2d` and restores it on exit: no parameter, buffer or state-dict key
    changes, so optimizers and checkpoints are untouched. Does nothing outside a process group.
    """
    if not is_distributed():
        yield model
        return
    swapped = []
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d) and not isinstance(module, SyncBatchNorm2d):
            swapped.append((module, type(module)))
            module.__class__ = SyncBatchNorm2d
    try:
        yield model
    finally:
        for module, cls in swapped:
            module.__class__ = cls


def sum_cross_entropy(logits: torch.Tensor, y: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Cross-entropy summed over the batch (the per-rank loss is scaled by the caller)."""
    return F.cross_entropy(_wide(logits), y, reduction="sum", label_smoothing=label_smoothing)


# --------------------------------------------------------------------------------------------
# Launching


def process_count(devices: int | str | None) -> int:
    """Processes for the ``devices`` setting: ``auto`` = this machine's GPUs (1 without any),
    ``None`` or 1 = one process, an integer ``N`` >= 1 = ``N`` processes (gloo on CPUs).
    """
    if devices is None:
        return 1
    if devices == "auto":
        return max(1, torch.cuda.device_count())
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ValueError(f"devices={devices!r} is not valid: use 'auto' (every GPU of this "
                         "machine, one process without GPUs) or a positive integer")
    return devices


def torchrun_command(target: str, args: Sequence[str], nproc: int, *, nnodes: int = 1,
                     node_rank: int | None = None, rdzv_endpoint: str | None = None,
                     rdzv_id: str = "bnnlib") -> list[str]:
    """The ``torchrun`` command line that runs ``target`` (a module, ``python -m target``, or
    a path ending in ``.py``) with ``args`` in ``nproc`` processes on this machine
    (``nnodes > 1``: this machine is one of several meeting at ``rdzv_endpoint``)."""
    # the torchrun of this Python's environment first: another one on PATH runs another torch
    sibling = os.path.join(os.path.dirname(sys.executable), "torchrun")
    torchrun = sibling if os.access(sibling, os.X_OK) else shutil.which("torchrun")
    if torchrun is None:
        raise FileNotFoundError(f"torchrun not found beside {sys.executable} nor on PATH: "
                                "install torch in this environment")
    cmd = [torchrun, f"--nproc-per-node={nproc}"]
    if nnodes > 1:
        if rdzv_endpoint is None:
            raise ValueError("several machines (nnodes > 1) need rdzv_endpoint='HOST:PORT'")
        cmd += [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}",
                f"--rdzv-id={rdzv_id}"]
        if node_rank is not None:
            cmd.append(f"--node-rank={node_rank}")
    else:
        cmd += ["--standalone", "--nnodes=1"]
    run = [str(target)] if str(target).endswith(".py") else ["-m", target]
    return cmd + run + [str(a) for a in args]


def launch(target: str, args: Sequence[str], nproc: int, **kwargs) -> None:
    """Run ``target`` (module or ``.py`` script) with ``args`` under ``torchrun`` in ``nproc``
    processes and wait.

    Output streams through; a non-zero exit raises ``RuntimeError`` with the command. The
    environment is inherited (``PYTHONPATH``, ``CUDA_VISIBLE_DEVICES``, threads).
    """
    cmd = torchrun_command(target, args, nproc, **kwargs)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"distributed run failed (exit {proc.returncode}): {' '.join(cmd)}")
