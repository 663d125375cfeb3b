"""Datasets for the study: Fashion-MNIST (offline default), CIFAR-10 and ImageNet.

One entry point, :func:`get_datasets`, returns ``(train, val, test)``:

- ``train`` and ``val`` are a fixed, seeded, class-stratified split of the dataset's *training*
  set. ``val`` is the held-out *search-validation* part: the architecture search (supernet
  scoring, candidate ranking) uses it and never sees ``test``.
- ``test`` is the official test set (ImageNet: the official ``val`` folder), used only for the
  numbers reported beside the papers'.

Small datasets (Fashion-MNIST, CIFAR-10) are held in memory as ``uint8`` tensors
(:class:`InMemoryImages`); indexing one with a *list* of indices returns a whole normalised,
augmented batch at once, which :func:`bnnlib.train.make_loader` exploits (no per-image Python
work, no worker processes: on a 2-core CPU this is the fastest path).

Augmentation (the issue says "standard per dataset"; where it is silent the choice is ours):

- CIFAR-10: 4-pixel zero-padded random 32x32 crop + horizontal flip (the ResNet/VGG CIFAR
  recipe that seed 001 follows).
- ImageNet: resize to 256, random 224 crop + horizontal flip for training; resize 256 + centre
  crop 224 for evaluation (seed 000, section 4.1: "scaled up to 256x256 ... randomly cropped
  to 224x224 ... centrally cropped").
- Fashion-MNIST: **none** by default. The default CPU profile trains for a handful of epochs,
  where augmentation only slows convergence, and the items are centred. ``augment="crop_flip"``
  (2-pixel padded crop + flip) is available for longer runs.

Normalisation uses the usual per-channel training-set mean/std of each dataset.
"""

from __future__ import annotations

import copy
import functools
import gzip
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

__all__ = [
    "DatasetInfo",
    "DATASETS",
    "dataset_info",
    "get_datasets",
    "InMemoryImages",
    "load_fashion_mnist",
    "read_idx",
    "stratified_split",
    "class_balanced_indices",
    "class_balanced_subset",
    "dataset_targets",
    "DEBIAN_FASHION_MNIST",
]

#: Where the Debian package ``dataset-fashion-mnist`` installs the IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_FMNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DatasetInfo:
    """What a caller needs to build a model for a dataset, and the split defaults."""

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    default_val_size: int
    default_augment: str | None


DATASETS: dict[str, DatasetInfo] = {
    "fashion_mnist": DatasetInfo("fashion_mnist", 10, 1, 28, (0.2860,), (0.3530,), 5000, None),
    "cifar10": DatasetInfo(
        "cifar10",
        10,
        3,
        32,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        5000,
        "crop_flip",
    ),
    # ImageNet-1k: 10 held-out training images per class for search validation.
    "imagenet": DatasetInfo(
        "imagenet",
        1000,
        3,
        224,
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        10000,
        "crop_flip",
    ),
}

_AUGMENTS = (None, "none", "flip", "crop_flip")


def dataset_info(name: str) -> DatasetInfo:
    """Return :class:`DatasetInfo` for ``name``; ``ValueError`` listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None


# --------------------------------------------------------------------------------------------
# In-memory image tensors with batched augmentation


class InMemoryImages(Dataset):
    """Images held as a ``uint8`` tensor ``[N, C, H, W]`` with integer labels.

    ``ds[i]`` returns ``(image, label)`` like any torchvision dataset; ``ds[[i, j, ...]]``
    (a list or 1-D tensor of indices) returns a batch ``(images [B, C, H, W], labels [B])``,
    normalised and augmented in one vectorised step. Random augmentation draws from torch's
    global RNG, which :func:`bnnlib.train.fit` seeds and checkpoints, so runs are reproducible.

    Args:
        images: ``uint8`` tensor ``[N, C, H, W]``.
        targets: integer labels ``[N]``.
        mean, std: per-channel normalisation on the ``[0, 1]`` scale.
        augment: ``None``/``"none"``, ``"flip"`` (horizontal), or ``"crop_flip"`` (zero-padded
            random crop of the original size + horizontal flip).
        pad: padding of the random crop (4 for 32x32 CIFAR, 2 for 28x28 Fashion-MNIST).
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        augment: str | None = None,
        pad: int = 4,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}"
            )
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        if augment not in _AUGMENTS:
            raise ValueError(f"unknown augment {augment!r}; valid: {_AUGMENTS}")
        self.images = images
        self.targets = targets.to(torch.int64)
        self.augment = None if augment == "none" else augment
        self.pad = pad
        c = images.shape[1]
        # Fold /255 and the normalisation into one multiply-add.
        std_t = torch.tensor(std, dtype=torch.float32).view(1, c, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32).view(1, c, 1, 1)
        self._scale = 1.0 / (255.0 * std_t)
        self._shift = -mean_t / std_t

    def __len__(self) -> int:
        return len(self.images)

    def with_augment(self, augment: str | None) -> InMemoryImages:
        """A view sharing the same tensors with a different augmentation."""
        view = object.__new__(InMemoryImages)
        view.__dict__.update(self.__dict__)
        if augment not in _AUGMENTS:
            raise ValueError(f"unknown augment {augment!r}; valid: {_AUGMENTS}")
        view.augment = None if augment == "none" else augment
        return view

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            x, y = self._batch(torch.tensor([int(index)]))
            return x[0], int(y[0])
        return self._batch(torch.as_tensor(index, dtype=torch.int64))

    def _batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[idx]
        if self.augment == "crop_flip":
            x = _random_crop(x, self.pad)
        if self.augment in ("flip", "crop_flip"):
            flip = torch.rand(len(x)) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        x = x.to(torch.float32).mul_(self._scale).add_(self._shift)
        return x, self.targets[idx]


def _random_crop(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Per-image random crop of size ``H x W`` from the zero-padded batch (vectorised)."""
    b, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,))
    ox = torch.randint(0, 2 * pad + 1, (b,))
    rows = (oy.view(b, 1) + torch.arange(h)).view(b, 1, h, 1)
    cols = (ox.view(b, 1) + torch.arange(w)).view(b, 1, 1, w)
    return padded[torch.arange(b).view(b, 1, 1, 1), torch.arange(c).view(1, c, 1, 1), rows, cols]


# --------------------------------------------------------------------------------------------
# Fashion-MNIST: IDX files from data/raw, the Debian package, or a torchvision download


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) of unsigned bytes into a numpy array.

    Format (LeCun's MNIST page): 2 zero bytes, a type byte (0x08 = uint8), the number of
    dimensions, then one big-endian int32 per dimension, then the data.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (header {raw[:4]!r})")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}i", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {data.size} bytes")
    return data.reshape(shape)


def _find_idx_dir(directory: Path) -> dict[str, Path] | None:
    """The four Fashion-MNIST IDX files (``.gz`` or raw) in ``directory``, or ``None``."""
    found = {}
    for key, stem in _FMNIST_FILES.items():
        for name in (stem + ".gz", stem):
            if (directory / name).is_file():
                found[key] = directory / name
                break
        else:
            return None
    return found


def _fashion_mnist_dirs(root: Path) -> list[Path]:
    """Folders under ``root`` where Fashion-MNIST IDX files are looked for, in order."""
    return [root / "fashion_mnist", root / "fashion-mnist", root / "FashionMNIST" / "raw", root]


def _download_fashion_mnist(root: Path) -> Path:
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
        images = read_idx(f[f"{split}_images"])
        labels = read_idx(f[f"{split}_labels"])
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"Fashion-MNIST {split} files disagree: images {images.shape}, labels {labels.shape}"
            )
        arrays += [
            torch.from_numpy(images.copy()).unsqueeze(1),
            torch.from_numpy(labels.astype(np.int64)),
        ]
    return tuple(arrays)


def _cache_key(files: dict[str, Path]) -> tuple[tuple[str, str, int], ...]:
    return tuple(sorted((k, str(v), v.stat().st_mtime_ns) for k, v in files.items()))


def load_fashion_mnist(
    root: str | os.PathLike = "data/raw", download: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fashion-MNIST as ``(train_x, train_y, test_x, test_y)`` ``uint8``/``int64`` tensors.

    Looks, in order, in ``root`` (also ``root/fashion_mnist``, ``root/fashion-mnist`` and
    torchvision's ``root/FashionMNIST/raw``), in the Debian package's
    ``/usr/share/datasets/fashion-mnist/``, and finally asks torchvision to download into
    ``root`` (when ``download``). Files may be gzipped or not.

    Raises:
        FileNotFoundError: none of the three places worked; the message names them and the
            ``apt-get install dataset-fashion-mnist`` remedy.
    """
    root = Path(root)
    candidates = _fashion_mnist_dirs(root) + [Path(DEBIAN_FASHION_MNIST)]
    for directory in candidates:
        files = _find_idx_dir(directory)
        if files is not None:
            return _load_idx_set(_cache_key(files))
    download_error = "download disabled (download=False)"
    if download:
        try:
            files = _find_idx_dir(_download_fashion_mnist(root))
            if files is not None:
                return _load_idx_set(_cache_key(files))
            download_error = "torchvision reported success but the IDX files are missing"
        except Exception as exc:  # offline, mirror down, permission denied, ...
            download_error = f"download failed: {type(exc).__name__}: {exc}"
    raise FileNotFoundError(
        "Fashion-MNIST not found. Looked for the four IDX files "
        f"({', '.join(_FMNIST_FILES.values())}, optionally .gz) in:\n"
        f"  1. {root} (and {', '.join(str(d) for d in _fashion_mnist_dirs(root)[:3])})\n"
        f"  2. {DEBIAN_FASHION_MNIST} (Debian package)\n"
        f"  3. a torchvision download into {root}: {download_error}\n"
        "Remedy: `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or copy the files "
        f"into {root}, or run once with network access."
    )


# --------------------------------------------------------------------------------------------
# Splits and subsets


def dataset_targets(ds: Dataset) -> torch.Tensor:
    """Integer labels of ``ds`` (unwrapping :class:`~torch.utils.data.Subset`)."""
    if isinstance(ds, Subset):
        return dataset_targets(ds.dataset)[torch.as_tensor(ds.indices, dtype=torch.int64)]
    targets = getattr(ds, "targets", None)
    if targets is None:
        raise TypeError(f"{type(ds).__name__} has no .targets; cannot make class-balanced subsets")
    return torch.as_tensor(targets, dtype=torch.int64)


def stratified_split(
    targets: torch.Tensor, n_second: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``range(len(targets))`` into two index sets, the second of size ``n_second``.

    Each class contributes to the second part in proportion to its frequency (largest
    remainder rounding), chosen by a seeded permutation, so the split is fixed for a seed and
    independent of torch's global RNG. Both parts are returned sorted.
    """
    targets = torch.as_tensor(targets, dtype=torch.int64)
    n = len(targets)
    if not 0 <= n_second <= n:
        raise ValueError(f"cannot take {n_second} of {n} items")
    g = torch.Generator().manual_seed(seed)
    classes, counts = torch.unique(targets, return_counts=True)
    exact = counts.double() * n_second / n
    quota = exact.floor().long()
    remainder = n_second - int(quota.sum())
    if remainder:
        order = torch.argsort(exact - quota, descending=True, stable=True)
        quota[order[:remainder]] += 1
    second = []
    for cls, q in zip(classes.tolist(), quota.tolist(), strict=True):
        members = torch.nonzero(targets == cls).flatten()
        second.append(members[torch.randperm(len(members), generator=g)[:q]])
    second_idx = (
        torch.sort(torch.cat(second)).values if second else torch.empty(0, dtype=torch.int64)
    )
    mask = torch.ones(n, dtype=torch.bool)
    mask[second_idx] = False
    return torch.nonzero(mask).flatten(), second_idx


def class_balanced_indices(targets: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Seeded choice of exactly ``per_class`` indices of every class (sorted).

    Seed 001 (section 3.2) searches ImageNet on "a subset of 50,000 images ... 1000 classes
    with 50 images for each class"; this is that sampler for any labelled dataset.
    """
    targets = torch.as_tensor(targets, dtype=torch.int64)
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for cls in torch.unique(targets).tolist():
        members = torch.nonzero(targets == cls).flatten()
        if len(members) < per_class:
            smallest = int(torch.unique(targets, return_counts=True)[1].min())
            raise ValueError(
                f"per_class={per_class} but class {cls} has only {len(members)} images; "
                f"use per_class <= {smallest}"
            )
        chosen.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    return torch.sort(torch.cat(chosen)).values


def class_balanced_subset(ds: Dataset, per_class: int, seed: int = 0) -> Subset:
    """``Subset`` of ``ds`` with ``per_class`` seeded images per class (see above)."""
    return Subset(ds, class_balanced_indices(dataset_targets(ds), per_class, seed).tolist())


def _normalise_subset(subset) -> tuple[int | None, int | None, int | None]:
    if subset is None:
        return (None, None, None)
    if isinstance(subset, (int, np.integer)):
        return (int(subset), None, None)
    if isinstance(subset, dict):
        unknown = set(subset) - {"train", "val", "test"}
        if unknown:
            raise ValueError(f"subset keys must be among train/val/test, got {sorted(unknown)}")
        return (subset.get("train"), subset.get("val"), subset.get("test"))
    subset = tuple(subset)
    if len(subset) != 3:
        raise ValueError(f"subset must be an int, a dict or (train, val, test), got {subset!r}")
    return subset  # type: ignore[return-value]


def _take(ds: Dataset, indices: torch.Tensor, n: int | None, split: str, seed: int) -> Subset:
    """``Subset(ds, indices)``, reduced to a stratified seeded ``n`` when given."""
    if n is not None:
        if n < 1 or n > len(indices):
            raise ValueError(
                f"subset {split}={n} is not possible: the {split} split has {len(indices)} "
                f"images; use 1..{len(indices)} or None for all"
            )
        targets = dataset_targets(ds)[indices]
        _, keep = stratified_split(targets, n, seed + 1)
        indices = indices[keep]
    return Subset(ds, indices.tolist())


def _resolve_val_size(val_size: int | float | None, n_train: int, info: DatasetInfo) -> int:
    if val_size is None:
        return info.default_val_size
    if isinstance(val_size, float) and 0 <= val_size < 1:
        return int(round(val_size * n_train))
    if int(val_size) != val_size or not 0 <= val_size < n_train:
        raise ValueError(
            f"val_size={val_size!r} is not valid for {info.name} ({n_train} training images): "
            f"use an int in 0..{n_train - 1} or a fraction in [0, 1)"
        )
    return int(val_size)


# --------------------------------------------------------------------------------------------
# Entry point


def get_datasets(
    name: str = "fashion_mnist",
    root: str | os.PathLike = "data/raw",
    val_size: int | float | None = None,
    subset=None,
    seed: int = 0,
    augment: str | None | bool = True,
    per_class: int | None = None,
    download: bool = True,
    image_size: int | None = None,
) -> tuple[Dataset, Dataset, Dataset]:
    """Return ``(train, val, test)`` datasets for ``name``.

    Args:
        name: ``"fashion_mnist"`` (default, offline via the Debian package), ``"cifar10"``
            or ``"imagenet"`` (see :data:`DATASETS`).
        root: data folder. Fashion-MNIST/CIFAR-10: where files are looked for (and downloaded
            to). ImageNet: the folder holding ``train/`` and ``val/`` in ImageFolder layout.
        val_size: images of the *training* set held out as search-validation (int, or a
            fraction); ``None`` uses the dataset default (5000; ImageNet 10000). ``0`` gives
            an empty ``val`` (e.g. final training on the full training set).
        subset: cap split sizes for fast profiles: an int (train only), a dict with keys
            ``train``/``val``/``test``, or a ``(train, val, test)`` tuple (``None`` = all).
            Subsets are class-stratified and seeded.
        seed: seed of the split and subsets (fixed, independent of the training seed).
        augment: ``True`` = the dataset's standard training augmentation (module docstring),
            ``False``/``None``/``"none"`` = none, or ``"flip"``/``"crop_flip"``. Applies to
            ``train`` only; ``val`` and ``test`` are never augmented.
        per_class: if given, ``train`` becomes a class-balanced seeded subset with exactly
            this many images per class (seed 001's 50-per-class ImageNet search subset).
        download: allow torchvision downloads (never used when local files exist).
        image_size: ImageNet crop size (default 224; resize is ``image_size * 8 / 7``).

    Raises:
        ValueError: unknown ``name`` (lists known names), impossible ``val_size``/``subset``/
            ``per_class``, or an ImageNet ``root`` without class folders.
        FileNotFoundError: the data cannot be found or downloaded.
    """
    info = dataset_info(name)
    if augment is True:
        augment = info.default_augment
    elif augment is False:
        augment = None
    if augment not in _AUGMENTS:
        raise ValueError(f"unknown augment {augment!r}; valid: True, False, {_AUGMENTS}")

    if name == "imagenet":
        train_full, train_plain, test = _imagenet(Path(root), augment, image_size or 224)
    else:
        if name == "fashion_mnist":
            tx, ty, vx, vy = load_fashion_mnist(root, download=download)
            pad = 2
        else:
            tx, ty, vx, vy = _load_cifar10(Path(root), download)
            pad = 4
        train_plain = InMemoryImages(tx, ty, info.mean, info.std, augment=None, pad=pad)
        train_full = train_plain.with_augment(augment)
        test = InMemoryImages(vx, vy, info.mean, info.std, augment=None, pad=pad)

    targets = dataset_targets(train_plain)
    n_val = _resolve_val_size(val_size, len(targets), info)
    train_idx, val_idx = stratified_split(targets, n_val, seed)
    if per_class is not None:
        keep = class_balanced_indices(targets[train_idx], per_class, seed + 2)
        train_idx = train_idx[keep]
    n_train, n_val_sub, n_test = _normalise_subset(subset)
    train = _take(train_full, train_idx, n_train, "train", seed)
    val = _take(train_plain, val_idx, n_val_sub, "val", seed)
    test = _take(test, torch.arange(len(dataset_targets(test))), n_test, "test", seed)
    return train, val, test


def _load_cifar10(root: Path, download: bool):
    from torchvision.datasets import CIFAR10

    try:
        tr = CIFAR10(str(root), train=True, download=download)
        te = CIFAR10(str(root), train=False, download=download)
    except Exception as exc:
        raise FileNotFoundError(
            f"CIFAR-10 not found in {root} (torchvision layout {root / 'cifar-10-batches-py'}) "
            f"and {'the download failed' if download else 'download=False'}: {exc}"
        ) from exc

    def to_tensors(ds):
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return x, torch.as_tensor(ds.targets, dtype=torch.int64)

    return (*to_tensors(tr), *to_tensors(te))


def _imagenet(root: Path, augment: str | None, size: int):
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    for split in ("train", "val"):
        folder = root / split
        classes = [d for d in folder.iterdir() if d.is_dir()] if folder.is_dir() else []
        if not classes:
            raise ValueError(
                f"ImageNet root {str(root)!r}: {str(folder)!r} "
                f"{'has no class sub-folders' if folder.is_dir() else 'does not exist'}. "
                "Expected the ImageFolder layout ROOT/train/<class>/*.JPEG and "
                "ROOT/val/<class>/*.JPEG (one sub-folder per class in both)."
            )
    info = DATASETS["imagenet"]
    normalize = transforms.Normalize(info.mean, info.std)
    resize = round(size * 8 / 7)  # 256 for 224, seed 000 section 4.1
    plain = transforms.Compose(
        [transforms.Resize(resize), transforms.CenterCrop(size), transforms.ToTensor(), normalize]
    )
    train_steps = [transforms.Resize(resize)]
    if augment == "crop_flip":
        train_steps.append(transforms.RandomCrop(size))
    else:
        train_steps.append(transforms.CenterCrop(size))
    if augment in ("flip", "crop_flip"):
        train_steps.append(transforms.RandomHorizontalFlip())
    train_tf = transforms.Compose(train_steps + [transforms.ToTensor(), normalize])
    train_full = ImageFolder(str(root / "train"), transform=train_tf)
    train_plain = copy.copy(train_full)  # shares the scanned file list; scanning is slow
    train_plain.transform = plain
    test = ImageFolder(str(root / "val"), transform=plain)
    if train_full.classes != test.classes:
        raise ValueError(
            f"ImageNet root {str(root)!r}: train/ has {len(train_full.classes)} classes and val/ "
            f"has {len(test.classes)}; they must hold the same class folders"
        )
    return train_full, train_plain, test
