"""Small shared helpers: seeding, RNG state capture, atomic and checksummed files.

Kept deliberately small; anything model- or paper-specific lives elsewhere.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "seed_everything",
    "get_rng_state",
    "set_rng_state",
    "atomic_write_bytes",
    "save_checksummed",
    "load_checksummed",
    "CorruptFileError",
    "write_json",
    "read_json",
]

_MAGIC = b"BNNLIB-CHECKSUMMED-v1\n"


class CorruptFileError(RuntimeError):
    """A checksummed file is truncated, altered or not in the expected format."""


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def get_rng_state() -> dict[str, Any]:
    """Capture every global RNG state the training loop draws from.

    Returned as tensors, lists and ints only, so it survives ``torch.load(weights_only=True)``.
    """
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "python": [py_version, list(py_internal), py_gauss],
        "numpy": [
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore RNG states captured by :func:`get_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes | Sequence[bytes | memoryview],
                       fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    ``data``: bytes, or a sequence of byte chunks written one after the other (a header and a
    large payload need not be joined into one copy first).

    The bytes go to a temporary file in the same folder, are flushed (and fsync'ed unless
    ``fsync=False``: the rename alone is atomic against crashes of the process; fsync also
    guards against power loss, at a cost on every call), and the temporary file is then
    renamed over ``path`` with :func:`os.replace` (atomic on POSIX).

    In a process group of several processes (``torchrun``) only rank 0 writes: every file of
    the study has one writer; the other ranks return ``path`` without writing.
    """
    path = Path(path)
    from .distributed import is_main

    if not is_main():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file open()'s mode
        with os.fdopen(fd, "wb") as f:
            for chunk in ((data,) if isinstance(data, (bytes, bytearray, memoryview)) else data):
                f.write(chunk)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_checksummed(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` ``obj`` atomically, prefixed by a magic line and its SHA-256.

    File layout: ``magic`` + 64 hex digits + ``\\n`` + the ``torch.save`` payload.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getbuffer()  # no copy: a 4x-wide ResNet-18's run state is 1.5 GB
    try:
        digest = hashlib.sha256(payload).hexdigest().encode()
        return atomic_write_bytes(path, (_MAGIC + digest + b"\n", payload))
    finally:
        payload.release()


def load_checksummed(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """Load a file written by :func:`save_checksummed`, verifying its checksum first.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CorruptFileError: wrong header, truncated or altered payload, or unreadable pickle.
    """
    path = Path(path)
    header_len = len(_MAGIC) + 65
    with open(path, "rb") as f:  # header and payload apart: the payload is read into one copy
        header = f.read(header_len)
        payload = f.read()
    if not header.startswith(_MAGIC) or len(header) < header_len:
        raise CorruptFileError(
            f"{path} is not a bnnlib checkpoint (missing the {_MAGIC.strip().decode()!r} "
            f"header; {len(header) + len(payload)} bytes). Delete it or point to a file "
            "written by bnnlib."
        )
    expected = header[len(_MAGIC) : len(_MAGIC) + 64].decode(errors="replace")
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise CorruptFileError(
            f"{path} is corrupt or partially written: SHA-256 of its {len(payload)}-byte "
            f"payload is {actual[:12]}..., the header says {expected[:12]}.... "
            "Delete it to start over."
        )
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as exc:  # checksum matched, so the content itself is unreadable
        raise CorruptFileError(
            f"{path} passed its checksum but cannot be unpickled: {exc}"
        ) from exc


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (numpy scalars, tuples and paths allowed)."""
    from .fingerprint import canonical

    return atomic_write_bytes(path, (json.dumps(canonical(obj), indent=2) + "\n").encode())


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a truncated or invalid one is a :class:`CorruptFileError` naming it."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CorruptFileError(f"{path} is not valid JSON ({err}); delete it to recompute it") from None
