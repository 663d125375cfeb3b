"""Fashion-MNIST from its IDX files: in ``data/raw``, in the Debian package, or downloaded.

:func:`locate` finds the four files (training and test images and labels, gzipped or not),
:func:`load` parses them into tensors (cached per process), :func:`read_idx` reads one IDX file.
Every damaged or incomplete input is an error naming the file or folder and what is wrong.
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from .registry import DATASETS

#: Where the Debian package ``dataset-fashion-mnist`` installs the IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

#: the four IDX files by role (``.gz`` optional)
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}



def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) of unsigned bytes into a numpy array.

    Format (LeCun's MNIST page): 2 zero bytes, a type byte (0x08 = uint8), the number of
    dimensions, then one big-endian int32 per dimension, then the data.

    Raises:
        ValueError: a damaged file (truncated or invalid gzip, bad IDX header, wrong size); the
            message names the file, since the bare gzip/zlib errors do not.
    """
    path = Path(path)
    raw = _read_maybe_gzip(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        hint = " (gzip data: name it .gz)" if raw[:2] == b"\x1f\x8b" else ""
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (header {raw[:4]!r}){hint}")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(
            f"{path}: damaged IDX header: {ndim} dimensions need {4 + 4 * ndim} header bytes "
            f"but the file holds {len(raw)}"
        )
    shape = struct.unpack(f">{ndim}i", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if min(shape, default=0) < 0 or data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {data.size} bytes")
    return data.reshape(shape)


def _read_maybe_gzip(path: Path) -> bytes:
    """Bytes of ``path``, gunzipped when it ends in ``.gz``; ``ValueError`` naming a bad gzip."""
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{path}: damaged gzip file ({type(exc).__name__}: {exc}); replace it with an "
            "intact copy (e.g. reinstall dataset-fashion-mnist or download it again)"
        ) from exc


def _idx_files(directory: Path) -> dict[str, Path]:
    """Those of the four Fashion-MNIST IDX files (``.gz`` or raw) present in ``directory``."""
    found = {}
    for key, stem in FILES.items():
        for name in (stem + ".gz", stem):
            if (directory / name).is_file():
                found[key] = directory / name
                break
    return found


def find_files(directory: Path) -> dict[str, Path] | None:
    """The four Fashion-MNIST IDX files (``.gz`` or raw) in ``directory``, or ``None``."""
    found = _idx_files(directory)
    return found if len(found) == len(FILES) else None


def _complete_idx_dir(directory: Path) -> dict[str, Path] | None:
    """Like :func:`find_files`, but a folder with only some of the files is an error.

    A half-copied folder must not be skipped silently: the data would then come from the next
    place (e.g. the Debian package) without the user noticing.
    """
    found = _idx_files(directory)
    if not found or len(found) == len(FILES):
        return found or None
    missing = [stem for key, stem in FILES.items() if key not in found]
    raise FileNotFoundError(
        f"Fashion-MNIST folder {directory} is incomplete: found "
        f"{', '.join(p.name for p in found.values())} but missing "
        f"{', '.join(missing)} (.gz or uncompressed). Add the missing files, or remove the "
        "partial ones to use the next location (the Debian package or a download)."
    )


def search_dirs(root: Path) -> list[Path]:
    """Folders under ``root`` where Fashion-MNIST IDX files are looked for, in order."""
    return [root / "fashion_mnist", root / "fashion-mnist", root / "FashionMNIST" / "raw", root]


def _download(root: Path) -> Path:
    """Ask torchvision to download Fashion-MNIST into ``root/FashionMNIST/raw``."""
    from torchvision.datasets import FashionMNIST

    FashionMNIST(str(root), train=True, download=True)
    FashionMNIST(str(root), train=False, download=True)
    return root / "FashionMNIST" / "raw"


@functools.lru_cache(maxsize=4)
def _load_idx_set(files: tuple[tuple[str, str, int], ...]) -> tuple[torch.Tensor, ...]:
    # Cached per process (keyed by path and mtime): parsing the 26 MB gzip takes ~0.5 s.
    f = {key: path for key, path, _ in files}
    arrays = []
    for split in ("train", "test"):
        images_path, labels_path = f[f"{split}_images"], f[f"{split}_labels"]
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"Fashion-MNIST {split} files disagree: images {images.shape} in {images_path}, "
                f"labels {labels.shape} in {labels_path}; expected [N, H, W] and [N]"
            )
        num_classes = DATASETS["fashion_mnist"].num_classes
        check_labels(labels, num_classes, f"Fashion-MNIST labels file {labels_path}")
        arrays += [
            torch.from_numpy(images.copy()).unsqueeze(1),
            torch.from_numpy(labels.astype(np.int64)),
        ]
    return tuple(arrays)


def check_labels(labels: np.ndarray, num_classes: int, source: str) -> None:
    """``ValueError`` naming ``source`` if a label is outside ``0..num_classes-1``.

    Checked at load time: an out-of-range label would otherwise surface much later as an
    obscure index error in the loss (or a CUDA device assert).
    """
    labels = np.asarray(labels)
    outside = (labels < 0) | (labels >= num_classes)
    if outside.any():
        bad = np.unique(labels[outside])
        shown = ", ".join(str(int(v)) for v in bad[:10]) + (", ..." if bad.size > 10 else "")
        raise ValueError(
            f"{source}: {int(outside.sum())} labels outside the valid range "
            f"0..{num_classes - 1} ({num_classes} classes); bad values: {shown}"
        )


def _cache_key(files: dict[str, Path]) -> tuple[tuple[str, str, int], ...]:
    return tuple(sorted((k, str(v), v.stat().st_mtime_ns) for k, v in files.items()))


def locate(root: str | os.PathLike = "data/raw", download: bool = True) -> dict[str, Path]:
    """The four Fashion-MNIST IDX files by role (``train_images``, ...), from the first place
    that has them all.

    Looks, in order, in ``root`` (also ``root/fashion_mnist``, ``root/fashion-mnist`` and
    torchvision's ``root/FashionMNIST/raw``), in the Debian package's
    ``/usr/share/datasets/fashion-mnist/``, and finally asks torchvision to download into
    ``root`` (when ``download``). Files may be gzipped or not.

    Raises:
        FileNotFoundError: none of the three places worked; the message names them and the
            ``apt-get install dataset-fashion-mnist`` remedy. Also a folder holding some but
            not all of the four files (names the folder, the files found and those missing).
    """
    root = Path(root)
    for directory in search_dirs(root) + [Path(DEBIAN_FASHION_MNIST)]:
        files = _complete_idx_dir(directory)
        if files is not None:
            return files
    download_error = "download disabled (download=False)"
    if download:
        try:
            files = find_files(_download(root))
            if files is not None:
                return files
            download_error = "torchvision reported success but the IDX files are missing"
        except Exception as exc:  # offline, mirror down, permission denied, ...
            download_error = f"download failed: {type(exc).__name__}: {exc}"
    raise FileNotFoundError(
        "Fashion-MNIST not found. Looked for the four IDX files "
        f"({', '.join(FILES.values())}, optionally .gz) in:\n"
        f"  1. {root} (and {', '.join(str(d) for d in search_dirs(root)[:3])})\n"
        f"  2. {DEBIAN_FASHION_MNIST} (Debian package)\n"
        f"  3. a torchvision download into {root}: {download_error}\n"
        "Remedy: `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or copy the files "
        f"into {root}, or run once with network access."
    )


def load(
    root: str | os.PathLike = "data/raw", download: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fashion-MNIST as ``(train_x, train_y, test_x, test_y)`` ``uint8``/``int64`` tensors,
    from the files :func:`locate` finds.

    Raises:
        FileNotFoundError: as :func:`locate`.
        ValueError: a damaged file or a label outside ``0..9`` (names the file).
    """
    return _load_idx_set(_cache_key(locate(root, download)))
