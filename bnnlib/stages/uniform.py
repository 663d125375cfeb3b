"""Stage 01: the uniform rows of the papers' tables, each trained from scratch.

Groups study (Phan et al. 2020, Table 1): the binary module with groups = 1, 4, 16 in every
binary 3x3 conv (M2: in its real 1x1 convs too). Widths study (Shen et al. 2019, Tables 1-2): the
real-valued model and the binary models uniformly widened 1x, 2x, 3x, 4x.
"""

from __future__ import annotations

from ..settings import View
from .common import train_item, write_stage_metrics

#: the rows of Phan et al. Table 1 / Shen et al. Tables 1-2 that this stage trains
VARIANTS = {
    "groups": {f"groups{g}": {"groups": g} for g in (1, 4, 16)},
    "widths": {"fp": {"binary": False, "expansion": 1.0},
               **{f"uniform{e}x": {"expansion": float(e)} for e in (1, 2, 3, 4)}},
}


def variant_kwargs(family: str, study: str, variant: str) -> dict:
    """Genome keywords of a row (M2's uniform rows group the real 1x1 convs too)."""
    table = VARIANTS[study]
    if variant not in table:
        raise ValueError(f"unknown variant {variant!r} for {family}; known: {', '.join(table)}")
    kwargs = dict(table[variant])
    if family == "mobilenet_m2":
        kwargs["real_groups"] = kwargs["groups"]
    return kwargs


def variants(family: str, study: str) -> list[str]:
    """The rows trained for ``family``. M2 with groups = 1 everywhere is M1's network (Phan et
    al. print the same row): the tables take it from ``mobilenet_m1/groups1``."""
    names = list(VARIANTS[study])
    return [v for v in names if not (family == "mobilenet_m2" and v == "groups1")]


def run(cfg: View) -> list[dict]:
    """Train every uniform row of ``cfg.family``; returns their result records."""
    results = [train_item(cfg, "uniform", v, variant_kwargs(cfg.family, cfg.study, v))
               for v in variants(cfg.family, cfg.study)]
    write_stage_metrics(cfg, "uniform", results)
    return results
