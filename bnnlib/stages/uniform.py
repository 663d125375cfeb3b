"""Stage 01: the uniform rows of the papers' tables, each trained from scratch.

Groups study (Phan et al. 2020, Table 1): the binary module with groups = 1, 4, 16 in every
binary 3x3 conv (M2: in its real 1x1 convs too), and (M1 only) ``fp``, the full-precision
MobileNet that Phan et al.'s speedups and accuracy losses refer to ("compared to the
full-precision MobileNet [16]", Sec. 1): M1's network with real weights and activations and
depthwise 3x3 convs (groups = channels), one reference for the three modules. Widths study
(Shen et al. 2019, Tables 1-2): the real-valued model and the binary models uniformly widened
1x, 2x, 3x, 4x. Every row is trained once per training seed (``seeds``).
"""

from __future__ import annotations

from ..models.mobilenet import gene_channels
from ..settings import View
from .common import distributable, seed_trainings, train_items, write_stage_metrics

#: the rows of Phan et al. Table 1 / Shen et al. Tables 1-2 that this stage trains
VARIANTS = {
    "groups": {**{f"groups{g}": {"groups": g} for g in (1, 4, 16)},
               "fp": {"groups": "depthwise", "binary": False}},
    "widths": {"fp": {"binary": False, "expansion": 1.0},
               **{f"uniform{e}x": {"expansion": float(e)} for e in (1, 2, 3, 4)}},
}


def variant_kwargs(family: str, study: str, variant: str, width_mult: float = 1.0) -> dict:
    """Genome keywords of a row (M2's uniform rows group the real 1x1 convs too)."""
    table = VARIANTS[study]
    if variant not in table:
        raise ValueError(f"unknown variant {variant!r} for {family}; known: {', '.join(table)}")
    kwargs = dict(table[variant])
    if kwargs.get("groups") == "depthwise":
        kwargs["groups"] = gene_channels("m1", width_mult)
    if family == "mobilenet_m2":
        kwargs["real_groups"] = kwargs["groups"]
    return kwargs


def variants(family: str, study: str) -> list[str]:
    """The rows trained for ``family``. M2 with groups = 1 everywhere is M1's network (Phan et
    al. print the same row): the tables take it from ``mobilenet_m1/groups1``."""
    names = list(VARIANTS[study])
    if study == "groups" and family != "mobilenet_m1":
        names.remove("fp")  # the real-valued MobileNet: one twin, M1's network
    return [v for v in names if not (family == "mobilenet_m2" and v == "groups1")]


@distributable
def run(cfg: View) -> list[dict]:
    """Train every uniform row of ``cfg.family`` once per seed; returns their result records."""
    trainings = [t for v in variants(cfg.family, cfg.study)
                 for t in seed_trainings(cfg, v, variant_kwargs(cfg.family, cfg.study, v,
                                                                cfg.width_mult))]
    results = train_items(cfg, "uniform", trainings)
    write_stage_metrics(cfg, "uniform", results)
    return results
