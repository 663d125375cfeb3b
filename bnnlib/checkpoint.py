"""What :func:`bnnlib.train.fit` keeps on disk: checkpoints tagged with the run's identity, and
per-epoch metrics.

A checkpoint (``last.pt``, ``best.pt``) is a whole run state (model, optimizer, RNG states,
history, ...) written atomically with a SHA-256 header (:func:`bnnlib.utils.save_checksummed`),
plus ``format`` (:data:`CHECKPOINT_FORMAT`) and the run's ``identity``: the model
(:func:`model_fingerprint`), the recipe, the data and the caller's context. A checkpoint of
another identity is never resumed (:class:`CheckpointMismatchError` names what differs); a
corrupt one is moved aside as ``<name>.corrupt`` with a warning, never deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

from torch import nn

from .fingerprint import canonical, describe
from .utils import CorruptFileError, atomic_write_bytes, load_checksummed, save_checksummed

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointMismatchError",
    "model_fingerprint",
    "load_checkpoint",
    "resume_state",
    "save_checkpoint",
    "MetricsLog",
]

CHECKPOINT_FORMAT = 2  # 2: the run identity (model, recipe, data, context)


class CheckpointMismatchError(ValueError):
    """A checkpoint belongs to a run of another identity; ``detail`` says what differs."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail or message


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
    """Read a checkpoint written by :func:`bnnlib.train.fit`, verify it, and load its weights
    into ``model``.

    Only the model part of the run's identity is checked here (the checkpoint must belong to a
    model built like ``model``); ``fit`` checks the rest before resuming.

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
    # stack: _move_aside < resume_state < train._start_or_resume < train.fit < fit's caller
    warnings.warn(f"{err} Moved it to {aside}.", RuntimeWarning, stacklevel=5)


def resume_state(out: Path, model: nn.Module, name: str | None,
                 identity: dict) -> tuple[dict | None, Path | None]:
    """The checkpoint to resume from: ``last.pt``, else ``best.pt`` when ``last.pt`` is corrupt.

    Both hold a whole run state at their step, so either continues the run exactly; its
    weights are loaded into ``model``. A corrupt file is moved aside (``.corrupt``) and never
    deletes the other files of ``out``. Returns ``(state, path)``, or ``(None, None)`` when
    there is nothing to resume.

    Raises:
        CheckpointMismatchError: the checkpoint was written by a run of another identity.
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


def save_checkpoint(out: Path, identity: dict, run_state: dict[str, Any], *,
                    is_best: bool) -> None:
    """Write ``run_state`` tagged with the format and ``identity`` to ``out/last.pt``, and to
    ``out/best.pt`` too when ``is_best``; each file atomically, with a SHA-256 header."""
    state = {"format": CHECKPOINT_FORMAT, "identity": identity, **run_state}
    save_checksummed(state, out / "last.pt")
    if is_best:
        save_checksummed(state, out / "best.pt")


_WARNED: list[bool] = []


def _warn_no_dvclive() -> None:
    if not _WARNED:
        _WARNED.append(True)
        print("bnnlib: dvclive is not installed: per-epoch metrics go to history.json only "
              "(no live/ folder)", flush=True)


class MetricsLog:
    """Per-epoch metrics through DVCLive (``dvcyaml=False``) plus ``history.json``.

    Without dvclive installed (a bare GPU image running the stage functions directly), only
    ``history.json`` is written, and a one-line notice says so; the project's own install
    (``make install``) always has it.
    """

    def __init__(self, out_dir: Path, history: list[dict], enabled: bool) -> None:
        self.out_dir = out_dir
        self.live = None
        if not enabled:
            return
        try:
            from dvclive import Live
        except ImportError:  # a bare environment (e.g. a GPU image): history.json alone
            _warn_no_dvclive()
            self._write_history(history)
            self.enabled_history_only = True
            return

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
            if getattr(self, "enabled_history_only", False):
                self._write_history(history)
            return
        self._log(row)
        self._write_history(history)

    def close(self) -> None:
        if self.live is not None:
            self.live.end()
