"""Model sizes of a study profile (``profiles/<name>.yaml``), so the benchmarks time what the
pipeline trains: MobileNet modules at ``groups.model``, VGG-small and ResNet-18 at their
``widths.families`` entry, turned into model keywords by the stages' own
:meth:`bnnlib.study.Settings.base_model_kwargs`."""

from __future__ import annotations

from pathlib import Path

import yaml

from bnnlib.study import FAMILIES, WIDTHS_FAMILIES, Settings

PROFILES = Path(__file__).resolve().parent.parent / "profiles"


def profile_kwargs(family: str, profile: str = "cpu") -> dict:
    """``models.build`` / ``supernet.build`` size keywords of ``family`` in ``profile``."""
    path = PROFILES / f"{profile}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PROFILES.glob("*.yaml"))
        raise ValueError(f"unknown profile {profile!r}; known: {known}")
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} is not in profile {profile!r}; known: {list(FAMILIES)}")
    cfg = yaml.safe_load(path.read_text())
    entry = (cfg["widths"]["families"][family] if family in WIDTHS_FAMILIES
             else cfg["groups"]["model"])
    settings = Settings(family=family, dataset="fashion_mnist", width_mult=entry["width_mult"],
                        small_input=entry.get("small_input", False))
    kwargs = settings.base_model_kwargs()
    del kwargs["num_classes"], kwargs["in_channels"]  # the benchmarks fix Fashion-MNIST shapes
    return kwargs
