"""Datasets for the study: Fashion-MNIST (offline default), CIFAR-10 and ImageNet.

Fashion-MNIST's files are found and parsed by :mod:`bnnlib.fashion_mnist`.

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

Augmentation, standard per dataset (where the papers are silent the choice is ours):

- CIFAR-10: 4-pixel zero-padded random 32x32 crop + horizontal flip (the ResNet/VGG CIFAR
  recipe that Shen et al. follow).
- ImageNet: resize to 256, random 224 crop + horizontal flip for training; resize 256 + centre
  crop 224 for evaluation (Phan et al. sec. 4.1: "scaled up to 256x256 ... randomly cropped
  to 224x224 ... centrally cropped").
- Fashion-MNIST: **none** by default. The default CPU profile trains for a handful of epochs,
  where augmentation only slows convergence, and the items are centred. ``augment="crop_flip"``
  (2-pixel padded crop + flip) is available for longer runs.

Normalisation uses the usual per-channel training-set mean/std of each dataset.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from . import fashion_mnist
from .checks import is_int
from .registry import DATASETS, RESIZES, DatasetInfo, dataset_info

__all__ = [
    "DatasetInfo",
    "DATASETS",
    "dataset_info",
    "get_datasets",
    "InMemoryImages",
    "stratified_split",
    "class_balanced_indices",
    "class_balanced_subset",
    "dataset_targets",
    "dataset_fingerprint",
    "on_device",
    "on_cuda",
    "flatten_subsets",
]

_AUGMENTS = (None, "none", "flip", "crop_flip")


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
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(v) for v in std)
        # Content digest, computed on first use; with_augment views share this dict (and the
        # tensors), so the ~0.1 s hash of 60,000 images is paid once per loaded dataset.
        self._content_cache: dict = {}
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

    def fingerprint(self) -> dict:
        """Identity of the examples this dataset yields (see :func:`dataset_fingerprint`)."""
        content = self._content_digest()
        return {
            "type": "InMemoryImages",
            "shape": list(self.images.shape),
            "images": content["images"],
            "targets": content["targets"],
            "augment": self.augment,
            "pad": int(self.pad),
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def _content_digest(self) -> dict:
        """Digests of the image and label tensors, cached in the shared holder.

        The cache is keyed by the tensors' identity and torch's in-place version counter, so
        replacing a tensor or editing it in place through torch recomputes the digest.
        """
        key = [id(self.images), self.images._version, id(self.targets), self.targets._version]
        cache = self.__dict__.setdefault("_content_cache", {})
        if cache.get("key") != key:
            cache.clear()
            cache.update(images=_tensor_digest(self.images), targets=_tensor_digest(self.targets))
            cache["key"] = key
        return cache

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            x, y = self._batch(torch.tensor([int(index)]))
            return x[0], int(y[0])
        return self._batch(torch.as_tensor(index, dtype=torch.int64))

    def _batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        device = self.images.device
        n = len(idx)
        crop, flip = self.augment == "crop_flip", self.augment in ("flip", "crop_flip")
        # The random draws are made on the CPU wherever the images are (the same stream on
        # every device: crop rows, crop columns, flips), and go to the device with the indices
        # in one copy that does not block the host (`host_to_device`).
        draws = [idx]
        if crop:
            draws += [torch.randint(0, 2 * self.pad + 1, (n,)) for _ in range(2)]
        if flip:
            draws.append((torch.rand(n) < 0.5).to(torch.int64))
        draws = host_to_device(torch.stack(draws), device)
        idx = draws[0]
        x = self.images[idx]
        if crop:
            x = _random_crop(x, self.pad, draws[1], draws[2])
        if flip:
            x = torch.where(draws[-1].bool().view(-1, 1, 1, 1), x.flip(-1), x)
        x = x.to(torch.float32).mul_(self._scale).add_(self._shift)
        return x, self.targets[idx]

    def to(self, device: str | torch.device, indices: Sequence[int] | None = None) -> InMemoryImages:
        """A copy on ``device`` holding the images ``indices`` (all when None), same augmentation.

        Batches drawn from it equal those of the CPU dataset (the random crops and flips are
        drawn on the CPU from the same global RNG, then moved). Used by :func:`on_device`.
        """
        index = (torch.as_tensor(list(indices), dtype=torch.int64) if indices is not None
                 else slice(None))
        view = object.__new__(InMemoryImages)
        view.__dict__.update(self.__dict__)
        view.images = self.images[index].to(device)
        view.targets = self.targets[index].to(device)
        view._scale = self._scale.to(device)
        view._shift = self._shift.to(device)
        view._content_cache = {}  # another set of images: its own digest
        return view


def on_device(data: Dataset, device: str | torch.device) -> Dataset:
    """``data`` with its images on ``device`` when it is held in memory (an
    :class:`InMemoryImages` or a ``Subset`` of one, nested or not); any other dataset, or a CPU
    ``device``, is returned as it is.

    On a GPU this turns every batch into one gather on the device: no host-to-device copy and
    no normalisation on the CPU per step (issue: ``fit`` within 10% of a bare step loop).
    """
    device = torch.device(device)
    if device.type == "cpu":
        return data
    base, indices = flatten_subsets(data)
    if not isinstance(base, InMemoryImages):
        return data
    if base.images.device == device and indices is None:
        return base
    return base.to(device, indices)


def flatten_subsets(data: Dataset) -> tuple[Dataset, list[int] | None]:
    """``(base, indices)`` with ``Subset(base, indices)`` equal to ``data``, however many
    ``Subset`` layers it has; ``indices`` is None when ``data`` is no ``Subset``."""
    indices = None
    while isinstance(data, Subset):
        inner = list(data.indices)
        indices = inner if indices is None else [inner[i] for i in indices]
        data = data.dataset
    return data, indices


def on_cuda(data: Dataset) -> bool:
    """True when ``data`` holds its images on a GPU (then no pinned-memory copies)."""
    while isinstance(data, Subset):
        data = data.dataset
    return isinstance(data, InMemoryImages) and data.images.is_cuda


def host_to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The CPU tensor ``t`` on ``device``, without making the host wait for the GPU.

    A plain ``t.to("cuda")`` from pageable memory waits until every kernel already queued on
    the stream has run: once per batch, that takes away the overlap of the host's Python
    (issuing the next step) with the GPU's work, which is what a launch-bound step at 28x28
    lives on. Through pinned memory with ``non_blocking`` the host runs on; PyTorch's caching
    host allocator keeps the pinned copy alive until the transfer is done, and ``t`` is never
    written to afterwards. On other devices a plain ``to``.
    """
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def _random_crop(x: torch.Tensor, pad: int, oy: torch.Tensor, ox: torch.Tensor) -> torch.Tensor:
    """Per-image random crop of size ``H x W`` from the zero-padded batch (vectorised), at
    row offsets ``oy`` and column offsets ``ox`` (in ``[0, 2 * pad]``, on ``x``'s device)."""
    b, c, h, w = x.shape
    dev = x.device
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = (oy.view(b, 1) + torch.arange(h, device=dev)).view(b, 1, h, 1)
    cols = (ox.view(b, 1) + torch.arange(w, device=dev)).view(b, 1, 1, w)
    return padded[torch.arange(b, device=dev).view(b, 1, 1, 1),
                  torch.arange(c, device=dev).view(1, c, 1, 1), rows, cols]


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
    _check_per_class(per_class)
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


def _check_per_class(per_class) -> None:
    """``ValueError`` unless ``per_class`` is a positive int (0 or -3 would slice silently)."""
    if not is_int(per_class) or per_class < 1:
        raise ValueError(
            f"per_class={per_class!r} is not valid: use a positive int (images per class, "
            "e.g. 50), or None for the whole training split"
        )


_SUBSET_FORMS = (
    "valid forms: an int (caps train), a dict with keys train/val/test, or a "
    "(train, val, test) tuple, each size a positive int or None; subset=None keeps all images"
)


def _normalise_subset(subset) -> tuple[int | None, int | None, int | None]:
    """``subset`` as ``(train, val, test)`` caps; ``ValueError`` naming the valid forms."""
    if subset is None:
        return (None, None, None)
    if isinstance(subset, np.ndarray):
        subset = subset.tolist()
    if is_int(subset):
        sizes = (subset, None, None)
    elif isinstance(subset, dict):
        unknown = set(subset) - {"train", "val", "test"}
        if unknown:
            raise ValueError(f"subset keys must be among train/val/test, got {sorted(unknown)}")
        sizes = (subset.get("train"), subset.get("val"), subset.get("test"))
    elif isinstance(subset, (tuple, list)) and len(subset) == 3:
        sizes = tuple(subset)
    else:
        raise ValueError(f"subset={subset!r} is not valid; {_SUBSET_FORMS}")
    for split, n in zip(("train", "val", "test"), sizes, strict=True):
        if n is not None and (not is_int(n) or n < 1):
            raise ValueError(
                f"subset={subset!r} is not valid: {split} size {n!r} is not a positive int; "
                f"{_SUBSET_FORMS}"
            )
    return tuple(None if n is None else int(n) for n in sizes)  # type: ignore[return-value]


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


def _check_val_size(val_size) -> None:
    """``ValueError`` unless ``val_size`` is None, an int count or a float fraction in [0, 1).

    A float is always a fraction: ``1.0`` used to mean one image, which nobody means.
    """
    if val_size is None or is_int(val_size):
        return
    is_float = isinstance(val_size, (float, np.floating))
    if is_float and 0 <= val_size < 1:  # NaN fails this test too
        return
    kind = "a float, so a fraction," if is_float else type(val_size).__name__
    raise ValueError(
        f"val_size={val_size!r} is not valid ({kind}): use a fraction of the training set as "
        "a float in [0, 1) (e.g. 0.1), or a count of images as an int (e.g. 5000); None = the "
        "dataset default"
    )


def _resolve_val_size(val_size: int | float | None, n_train: int, info: DatasetInfo) -> int:
    _check_val_size(val_size)
    if val_size is None:
        return info.default_val_size
    if isinstance(val_size, (float, np.floating)):
        return int(round(float(val_size) * n_train))
    if not 0 <= val_size < n_train:
        raise ValueError(
            f"val_size={val_size!r} is not valid for {info.name} ({n_train} training images): "
            f"use an int in 0..{n_train - 1} or a fraction in [0, 1)"
        )
    return int(val_size)


# --------------------------------------------------------------------------------------------
# Data identity (for checkpoints)


def _sha16(*chunks) -> str:
    """First 16 hex digits of the SHA-256 of ``chunks`` (bytes or buffer objects)."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()[:16]


def _tensor_digest(t: torch.Tensor) -> str:
    """Digest of a tensor's dtype, shape and raw bytes (no copy when contiguous on CPU)."""
    t = t.detach().cpu().contiguous()
    raw = t.reshape(-1).view(torch.uint8).numpy()
    return _sha16(f"{t.dtype}{tuple(t.shape)}".encode(), raw)


def _image_folder_fingerprint(ds) -> dict:
    """Fingerprint of a torchvision ``ImageFolder``/``DatasetFolder`` (see the caller)."""
    files = sorted((os.path.relpath(path, ds.root), int(cls)) for path, cls in ds.samples)
    return {
        "type": type(ds).__name__,
        "root": str(ds.root),
        "length": len(ds.samples),
        "samples": _sha16(json.dumps(files).encode()),
        "transform": repr(ds.transform),
        "target_transform": repr(ds.target_transform),
    }


def dataset_fingerprint(ds: Dataset) -> dict:
    """A JSON-able identity of the exact examples ``ds`` yields, for checkpoints.

    A checkpoint records it and refuses to resume when it differs: data of the same size but
    another split, subset seed, augmentation or content must not be mistaken for the original.
    Digests are the first 16 hex digits of SHA-256.

    - ``Subset``: its length, a digest of its indices and the wrapped dataset's fingerprint.
    - :class:`InMemoryImages`: digests of the image and label tensors (computed once per
      loaded dataset and shared by :meth:`~InMemoryImages.with_augment` views), the shape,
      ``augment``, ``pad``, mean and std.
    - ``TensorDataset``: digests (with dtype and shape) of its tensors.
    - torchvision ``ImageFolder``: the root, the number of samples, a digest of the sorted
      (relative path, class index) list and ``repr`` of the transforms. File *contents* are
      not hashed (reading ImageNet would take minutes): an image edited in place goes unseen.
    - anything else: a *weak* identity, class name and length only, with ``"content": None``.
    """
    if isinstance(ds, Subset):
        indices = np.asarray(ds.indices, dtype=np.int64)
        return {
            "type": "Subset",
            "length": len(indices),
            "indices": _sha16(indices.tobytes()),
            "dataset": dataset_fingerprint(ds.dataset),
        }
    if isinstance(ds, InMemoryImages):
        return ds.fingerprint()
    if isinstance(ds, TensorDataset):
        tensors = [_tensor_digest(t) for t in ds.tensors]
        return {"type": "TensorDataset", "length": len(ds), "tensors": tensors}
    folder = sys.modules.get("torchvision.datasets.folder")  # no ImageFolder without it
    if folder is not None and isinstance(ds, folder.DatasetFolder):
        return _image_folder_fingerprint(ds)
    try:
        length = len(ds)  # type: ignore[arg-type]
    except TypeError:
        length = None
    return {"type": type(ds).__name__, "length": length, "content": None}


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
    resize: str = "short_side",
) -> tuple[Dataset, Dataset, Dataset]:
    """Return ``(train, val, test)`` datasets for ``name``.

    Args:
        name: ``"fashion_mnist"`` (default, offline via the Debian package), ``"cifar10"``
            or ``"imagenet"`` (see :data:`DATASETS`).
        root: data folder. Fashion-MNIST/CIFAR-10: where files are looked for (and downloaded
            to). ImageNet: the folder holding ``train/`` and ``val/`` in ImageFolder layout.
        val_size: images of the *training* set held out as search-validation: an int count,
            or a float fraction in ``[0, 1)`` (a float is never a count); ``None`` uses the
            dataset default (5000; ImageNet 10000). ``0`` gives an empty ``val`` (e.g. final
            training on the full training set).
        subset: cap split sizes for fast profiles: an int (train only), a dict with keys
            ``train``/``val``/``test``, or a ``(train, val, test)`` tuple (``None`` = all).
            Subsets are class-stratified and seeded.
        seed: seed of the split and subsets (fixed, independent of the training seed).
        augment: ``True`` = the dataset's standard training augmentation (module docstring),
            ``False``/``None``/``"none"`` = none, or ``"flip"``/``"crop_flip"``. Applies to
            ``train`` only; ``val`` and ``test`` are never augmented.
        per_class: if given, ``train`` becomes a class-balanced seeded subset with exactly
            this many images per class (Shen et al.'s 50-per-class ImageNet search subset).
        download: allow torchvision downloads (never used when local files exist).
        image_size: ImageNet crop size (default 224; resize is ``image_size * 8 / 7``).
        resize: ImageNet only: ``"short_side"`` scales the shorter side to 256 (aspect kept,
            the usual ResNet pipeline) or ``"square"`` scales every image to 256x256 (Phan et
            al. sec. 4.1: "scaled up to 256x256"); then a 224 crop (random for training,
            central otherwise). Other datasets are stored at their size: ``resize`` is ignored.

    Raises:
        ValueError: unknown ``name`` (lists known names), invalid or impossible ``val_size``/
            ``subset``/``per_class`` (checked before any data is loaded), an ImageNet ``root``
            without class folders, a damaged data file or a label outside the class range.
        FileNotFoundError: the data cannot be found or downloaded.
    """
    info = dataset_info(name)
    # Check the arguments before loading (or downloading) anything.
    _check_val_size(val_size)
    subset_sizes = _normalise_subset(subset)
    if per_class is not None:
        _check_per_class(per_class)
    if augment is True:
        augment = info.default_augment
    elif augment is False:
        augment = None
    if augment not in _AUGMENTS:
        raise ValueError(f"unknown augment {augment!r}; valid: True, False, {_AUGMENTS}")

    if name == "imagenet":
        train_full, train_plain, test = _imagenet(Path(root), augment, image_size or 224, resize)
    else:
        if name == "fashion_mnist":
            tx, ty, vx, vy = fashion_mnist.load(root, download=download)
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
    n_train, n_val_sub, n_test = subset_sizes
    train = _take(train_full, train_idx, n_train, "train", seed)
    val = _take(train_plain, val_idx, n_val_sub, "val", seed)
    test = _take(test, torch.arange(len(dataset_targets(test))), n_test, "test", seed)
    return train, val, test


CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")


def _load_cifar10(root: Path, download: bool):
    """CIFAR-10 as ``uint8`` tensors, read from ``root/cifar-10-batches-py`` (the pickled
    batches of the original archive, as torchvision keeps them).

    The files are parsed here rather than by ``torchvision.datasets.CIFAR10``, which also
    compares each file's MD5 with the original's and so refuses any other copy (a stand-in of
    :mod:`bnnlib.standin`, a re-pickled archive). When files are missing and ``download`` is
    allowed, torchvision downloads and verifies the archive first.
    """
    folder = root / "cifar-10-batches-py"
    missing = [name for name in CIFAR10_FILES if not (folder / name).is_file()]
    if missing and download:
        from torchvision.datasets import CIFAR10

        try:
            CIFAR10(str(root), train=True, download=True)
        except Exception as exc:
            raise FileNotFoundError(
                f"CIFAR-10 not found in {folder} (missing {', '.join(missing)}) and the download "
                f"failed: {exc}") from exc
        missing = [name for name in CIFAR10_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 not found: {folder} lacks {', '.join(missing)} (expected the folder of the "
            "original python archive: data_batch_1..5, test_batch, batches.meta)"
            + ("" if download else "; download=False"))
    num_classes = DATASETS["cifar10"].num_classes

    def read(names, split):
        xs, ys = [], []
        for name in names:
            entry = _unpickle(folder / name)
            try:
                data = np.asarray(entry["data"], dtype=np.uint8)
                labels = np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.int64)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{folder / name} is not a CIFAR batch (a dict with 'data' "
                                 f"[N, 3072] uint8 and 'labels'): {exc}") from exc
            if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
                raise ValueError(f"{folder / name}: data {data.shape} and {len(labels)} labels; "
                                 "expected [N, 3072] and N labels")
            xs.append(data)
            ys.append(labels)
        x = torch.from_numpy(np.concatenate(xs).reshape(-1, 3, 32, 32)).contiguous()
        y = torch.from_numpy(np.concatenate(ys))
        fashion_mnist.check_labels(y.numpy(), num_classes, f"CIFAR-10 {split} set in {folder}")
        return x, y

    return (*read(CIFAR10_FILES[:5], "training"), *read(("test_batch",), "test"))


def _unpickle(path: Path) -> dict:
    """A pickled CIFAR batch, keys as ``str`` (Python 2 pickles read with latin1)."""
    import pickle

    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
    except Exception as exc:
        raise ValueError(f"{path} cannot be read as a pickled CIFAR batch: {exc}") from exc
    if not isinstance(entry, dict):
        raise ValueError(f"{path} holds a {type(entry).__name__}, not a CIFAR batch dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


def _imagenet(root: Path, augment: str | None, size: int, resize_mode: str = "short_side"):
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
    if resize_mode not in RESIZES:
        raise ValueError(f"unknown resize {resize_mode!r}; valid: {', '.join(RESIZES)}")
    side = round(size * 8 / 7)  # 256 for 224, Phan et al. section 4.1
    resize = transforms.Resize(side if resize_mode == "short_side" else (side, side))
    plain = transforms.Compose(
        [resize, transforms.CenterCrop(size), transforms.ToTensor(), normalize]
    )
    train_steps = [resize]
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
