"""Model sizes of a study profile (``profiles/<name>.yaml``), so the benchmarks time what the
pipeline trains: the profile is read and validated by :mod:`bnnlib.settings`, and turned into
model keywords by the stages' own :func:`bnnlib.stages.common.model_kwargs`."""

from __future__ import annotations

from pathlib import Path

from bnnlib import settings
from bnnlib.registry import dataset_info
from bnnlib.stages.common import model_kwargs

FAMILIES = settings.FAMILIES
PROFILES = Path(__file__).resolve().parent.parent / "profiles"


def profile_kwargs(family: str, profile: str = "cpu") -> dict:
    """``models.build`` / ``supernet.build`` size keywords of ``family`` in ``profile``."""
    path = PROFILES / f"{profile}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PROFILES.glob("*.yaml"))
        raise ValueError(f"unknown profile {profile!r}; known: {known}")
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} is not in profile {profile!r}; known: {list(FAMILIES)}")
    kwargs = model_kwargs(settings.view("uniform", family, path, root=PROFILES.parent))
    del kwargs["num_classes"], kwargs["in_channels"]  # the benchmarks fix Fashion-MNIST shapes
    return kwargs


def profile_input(family: str, profile: str = "cpu") -> dict:
    """Input of ``family`` in ``profile``: ``{"shape": (C, H, W), "classes", "batch_size",
    "dataset"}`` (the profile's dataset and its study's training batch)."""
    profile_kwargs(family, profile)  # the same errors for an unknown profile or family
    view = settings.view("uniform", family, PROFILES / f"{profile}.yaml", root=PROFILES.parent)
    info = dataset_info(view.dataset)
    return {"shape": (info.in_channels, info.image_size, info.image_size),
            "classes": info.num_classes, "batch_size": int(view.batch_size),
            "dataset": view.dataset}


def uniform_kwargs(family: str, profile: str = "cpu") -> dict:
    """``models.build`` keywords of ``family``'s uniform binary model (expansion 1 / groups 1)
    at ``profile``'s sizes and input."""
    inp = profile_input(family, profile)
    return {"num_classes": inp["classes"], "in_channels": inp["shape"][0],
            **profile_kwargs(family, profile),
            **({"expansion": 1.0} if family in ("vgg_small", "resnet18") else {"groups": 1})}
