"""Model sizes of a study profile (``profiles/<name>.yaml``), so the benchmarks time what the
pipeline trains: MobileNet modules at ``groups.model`` (width_mult, small_input), VGG-small and
ResNet-18 at their ``widths.families`` entry (width_mult, small_input for ResNet-18)."""

from __future__ import annotations

from pathlib import Path

import yaml

PROFILES = Path(__file__).resolve().parent.parent / "profiles"


def profile_kwargs(family: str, profile: str = "cpu") -> dict:
    """``models.build`` / ``supernet.build`` size keywords of ``family`` in ``profile``."""
    path = PROFILES / f"{profile}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PROFILES.glob("*.yaml"))
        raise ValueError(f"unknown profile {profile!r}; known: {known}")
    cfg = yaml.safe_load(path.read_text())
    widths = cfg["widths"]["families"]
    if family in widths:
        kw = {"width_mult": float(widths[family]["width_mult"])}
        if family != "vgg_small":
            kw["small_input"] = bool(widths[family].get("small_input", False))
        return kw
    if family in cfg["groups"]["families"]:
        model = cfg["groups"]["model"]
        return {"width_mult": float(model["width_mult"]), "small_input": bool(model["small_input"])}
    raise ValueError(f"family {family!r} is not in profile {profile!r}; "
                     f"known: {sorted(widths) + sorted(cfg['groups']['families'])}")
