"""Several trainings at once on one device, each in a process of its own (the ``jobs`` setting).

A small model leaves a GPU mostly idle: at 28x28 a training step is a few milliseconds of small
kernels, and the time goes to launching them from Python (docs/gpu.md). Several processes, each
launching its own model's kernels, fill the gaps. The stages that train many independent
models (uniform rows, retrained genomes, proxy models) hand them to :func:`process_map`; every
training is the same function of its settings and seed wherever it runs, so ``jobs`` changes
how long a stage takes, never what it writes (tested: equal weights with 1 and 2 jobs). On a
CPU that holds at equal thread counts: each process computes with ``threads // jobs`` threads,
and a convolution summed by other threads in another order differs in its last bits, as it
does between two machines.

Choices:

- Processes are *spawned* (never forked): a parent that has touched CUDA cannot fork, and a
  spawned child imports only what it needs.
- Each process computes with ``threads // jobs`` threads (at least 1), so ``jobs`` processes
  on a CPU do not oversubscribe its cores.
- What a call prints is captured and printed by the parent when the call ends, whole, so the
  lines of parallel trainings do not interleave, and they reach a notebook's output (a
  process started from a Jupyter kernel writes to the kernel's terminal, not to the cell).
  tqdm bars (stderr) are not captured.
- A call that raises stops the others at once (``Pool.terminate``): their checkpoints are
  written atomically, so a rerun resumes each at its last checkpoint. The error names the
  failed call.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

import torch


class JobError(RuntimeError):
    """A call of :func:`process_map` raised in its process (the cause holds its traceback)."""


def threads_per_job(jobs: int, threads: int | None = None) -> int:
    """Compute threads for each of ``jobs`` processes sharing ``threads`` (this process's)."""
    threads = torch.get_num_threads() if threads is None else threads
    return max(1, threads // max(1, jobs))


def _start(threads: int) -> None:
    torch.set_num_threads(threads)


def _call(index: int, fn: Callable, args: tuple) -> tuple[int, Any, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = fn(*args)
    return index, result, out.getvalue()


def check_jobs(jobs) -> int:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs={jobs!r} is not valid: use a positive integer (1: one call "
                         f"after another in this process)")
    return jobs


def jobs_in_use(jobs: int, devices) -> int:
    """The ``jobs`` setting where ``devices`` runs one process; 1 under DDP (``devices`` > 1, or
    inside a process group), which trains one model at a time on every device."""
    from . import distributed as dist

    if dist.is_distributed() or dist.process_count(devices) > 1:
        return 1
    return check_jobs(jobs)


def process_map(fn: Callable, calls: Sequence[tuple], jobs: int = 1, *,
                name: Callable[[tuple], str] = repr, echo: Callable[[str], None] | None = None
                ) -> list:
    """``[fn(*args) for args in calls]``, in up to ``jobs`` spawned processes; results in order.

    ``fn`` must be importable by name (a module-level function) and ``args`` picklable.
    ``jobs`` = 1 (or a single call) runs in this process, printing as it goes. ``name(args)``
    names a call in errors; ``echo`` prints a finished call's captured output (``print``).
    """
    jobs = check_jobs(jobs)
    if jobs == 1 or len(calls) <= 1:
        return [fn(*args) for args in calls]
    echo = echo or (lambda text: print(text, end="", flush=True))
    results: list = [None] * len(calls)
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(min(jobs, len(calls)), initializer=_start,
                        initargs=(threads_per_job(jobs),))
    pending = {i: pool.apply_async(_call, (i, fn, tuple(args))) for i, args in enumerate(calls)}
    try:
        while pending:
            done = [i for i, r in pending.items() if r.ready()]
            if not done:
                next(iter(pending.values())).wait(0.2)
                continue
            for i in done:
                try:
                    _, results[i], text = pending.pop(i).get()
                except Exception as err:
                    raise JobError(f"{name(calls[i])} failed in its process "
                                   f"({type(err).__name__}: {err}); the other jobs were stopped"
                                   ) from err
                echo(text)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return results
