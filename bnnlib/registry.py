"""Names and constants the whole package agrees on, importable without torch.

The settings check (``python -m bnnlib.settings``) and the notebook runner validate against
these before any heavy import, so a bad ``params.yaml`` fails in a fraction of a second;
``bnnlib.models``, ``bnnlib.data`` and ``bnnlib.train`` use the same tuples.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Shen et al.'s searched-width models and Phan et al.'s searched-groups MobileNet modules
EXPANSION_MODELS = ("vgg_small", "resnet18")
GROUP_MODELS = ("mobilenet_m1", "mobilenet_m2", "mobilenet_m3")
#: the optimizers and learning-rate schedules of ``bnnlib.train.fit``
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("linear", "step", "cosine", "constant")
#: how ImageNet images are scaled before the 224 crop (bnnlib.data.get_datasets)
RESIZES = ("short_side", "square")
#: how a supernet's grouped convolutions run while a candidate is scored (bnnlib.dynamic.group_conv)
GROUP_CONVS = ("grouped", "dense")
#: variant prefix of Phan et al.'s Figure 5 runs trained apart (``groups.epochs.fig5``)
FIG5_PREFIX = "fig5_"


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


def dataset_info(name: str) -> DatasetInfo:
    """Return :class:`DatasetInfo` for ``name``; ``ValueError`` listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None
