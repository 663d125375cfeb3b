"""Stand-in datasets in the papers' on-disk formats: tiny, random pixels, a few classes.

The ``paper`` profile reads CIFAR-10 and ImageNet from disk; these writers make files of the
same layout and encoding, so that every code path of that profile runs offline (the tests'
``test_paper_profile_*``) and a user can try the profile on a new machine before copying
ImageNet. The numbers a model reaches on them mean nothing.

- :func:`write_cifar10`: ``ROOT/cifar-10-batches-py/`` with ``data_batch_1`` .. ``data_batch_5``,
  ``test_batch`` and ``batches.meta``, each a pickled dict as in the original archive: ``data``
  a ``uint8`` array ``[N, 3072]`` (row-major 32x32 planes R, G, B), ``labels`` a list of ints,
  ``batch_label`` and ``filenames``; ``batches.meta`` holds ``label_names``,
  ``num_cases_per_batch`` and ``num_vis``. (The original was pickled by Python 2; Python 3
  reads it with ``encoding="latin1"`` as a dict with ``str`` keys, which is what is written.)
- :func:`write_imagenet`: ``ROOT/train/<wnid>/<wnid>_<k>.JPEG`` and
  ``ROOT/val/<wnid>/ILSVRC2012_val_<k>.JPEG`` (the validation set sorted into class folders,
  the layout ``torchvision.datasets.ImageFolder`` and the usual preparation scripts give),
  with real ImageNet synset ids as folder names and JPEG files of varied sizes.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

__all__ = ["write_cifar10", "write_imagenet", "CIFAR10_CLASSES", "IMAGENET_WNIDS"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
#: the first ten ImageNet-1k synsets (sorted order, as ImageFolder indexes them)
IMAGENET_WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361", "n01494475",
                  "n01496331", "n01498041", "n01514668", "n01514859", "n01518878")


def _labels(per_class: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    labels = np.repeat(np.arange(classes), per_class)
    rng.shuffle(labels)
    return labels


def write_cifar10(root: str | Path, train_per_class: int = 10, test_per_class: int = 4,
                  seed: int = 0) -> Path:
    """Write a CIFAR-10 stand-in under ``root``; returns ``root/cifar-10-batches-py``.

    ``train_per_class * 10`` training images are spread over the five training batches (in
    order, as evenly as possible), ``test_per_class * 10`` go to ``test_batch``.
    """
    if train_per_class < 1 or test_per_class < 1:
        raise ValueError(f"train_per_class={train_per_class} and test_per_class={test_per_class}"
                         " must be >= 1")
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train_labels = _labels(train_per_class, 10, rng)
    splits = np.array_split(np.arange(len(train_labels)), 5)
    batches = [(f"data_batch_{i + 1}", f"training batch {i + 1} of 5", train_labels[idx])
               for i, idx in enumerate(splits)]
    batches.append(("test_batch", "testing batch 1 of 1", _labels(test_per_class, 10, rng)))
    for name, batch_label, labels in batches:
        entry = {"batch_label": batch_label, "labels": [int(v) for v in labels],
                 "data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8),
                 "filenames": [f"standin_{name}_{k}.png" for k in range(len(labels))]}
        with open(folder / name, "wb") as fh:
            pickle.dump(entry, fh, protocol=2)
    meta = {"num_cases_per_batch": len(splits[0]), "label_names": list(CIFAR10_CLASSES),
            "num_vis": 3072}
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump(meta, fh, protocol=2)
    return folder


def write_imagenet(root: str | Path, classes: int = 4, train_per_class: int = 6,
                   val_per_class: int = 2, seed: int = 0,
                   sizes: tuple[tuple[int, int], ...] = ((64, 80), (96, 72), (75, 75))) -> Path:
    """Write an ImageNet stand-in (``train/`` and ``val/`` class folders of JPEGs) under
    ``root``; returns ``root``. Image ``k`` of a split has size ``sizes[k % len(sizes)]``
    (width, height): the pipeline must resize whatever it is given."""
    from PIL import Image

    if not 1 <= classes <= len(IMAGENET_WNIDS):
        raise ValueError(f"classes={classes}: use 1..{len(IMAGENET_WNIDS)}")
    rng = np.random.default_rng(seed)
    root = Path(root)
    val_number = 0
    for wnid in IMAGENET_WNIDS[:classes]:
        for split, count in (("train", train_per_class), ("val", val_per_class)):
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                w, h = sizes[k % len(sizes)]
                pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                if split == "train":
                    name = f"{wnid}_{k + 1}.JPEG"
                else:
                    val_number += 1
                    name = f"ILSVRC2012_val_{val_number:08d}.JPEG"
                Image.fromarray(pixels).save(folder / name, format="JPEG", quality=90)
    return root
