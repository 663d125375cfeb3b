"""Model zoo: ``build(name, **kwargs)`` for the five architectures of the two papers.

=================  =========================================  ===========================
name               genome keyword                             default binarization
=================  =========================================  ===========================
``vgg_small``      ``expansion``: float or 6 ratios            DoReFa (Shen et al.)
``resnet18``       ``expansion``: float or 12 ratios           DoReFa (Shen et al.)
``mobilenet_m1``   ``groups``: int or 13 ints                  XNOR + ApproxSign (Phan et al.)
``mobilenet_m2``   ``groups`` (13) and ``real_groups`` (5)     XNOR + ApproxSign
``mobilenet_m3``   ``groups``: int or 13 ints                  XNOR + ApproxSign
=================  =========================================  ===========================

Common keywords: ``num_classes``, ``in_channels`` (default 3), ``binary`` (default True;
False gives the real-valued twin), ``act_quantizer`` / ``weight_quantizer`` (override the
family's binarizers by name, see ``bnnlib.binarize``), ``width_mult`` (scales every base
width; genomes act on top of it). ``resnet18`` and the MobileNets take ``small_input=True``
for 28x28 / 32x32 images (stride-1 stem, no stem max-pool). The gene lists are documented in
each family's module and returned by ``gene_names(name)``.

The genome codec lives here and nowhere else: ``genome_kwargs(name, genome)`` turns a genome (one
value per gene, in ``gene_names`` order) into the ``build`` keywords above, ``genome_of(name,
kwargs)`` turns keywords back into a genome. ``study_of(name)`` says which paper's search space a
family belongs to (the family lists themselves are in the torch-free ``bnnlib.registry``).

Every built model carries ``model.build_kwargs``: ``{"name": name, **every constructor keyword
with its default filled in}`` as plain JSON values (see ``construction_kwargs``). Checkpoints
record it as the model's fingerprint, so two models with equal tensor shapes but different
construction (another activation quantizer, say) are told apart.
"""

from __future__ import annotations

import inspect
from functools import partial

from torch import nn

from ..registry import EXPANSION_MODELS, GROUP_MODELS
from . import mobilenet, resnet, vgg
from .common import divisors, json_value
from .mobilenet import BinaryMobileNet
from .resnet import ResNet18
from .vgg import VGGSmall

MODELS = {
    "vgg_small": VGGSmall,
    "resnet18": ResNet18,
    "mobilenet_m1": partial(BinaryMobileNet, "m1"),
    "mobilenet_m2": partial(BinaryMobileNet, "m2"),
    "mobilenet_m3": partial(BinaryMobileNet, "m3"),
}


def check_name(name: str) -> str:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return name


def build(name: str, **kwargs) -> nn.Module:
    """Build model ``name`` (see the module docstring for names and keywords)."""
    check_name(name)
    if name in EXPANSION_MODELS and ("groups" in kwargs or "real_groups" in kwargs):
        raise ValueError(f"{name} is searched over widths: pass expansion=..., not groups")
    if name in GROUP_MODELS and "expansion" in kwargs:
        raise ValueError(f"{name} is searched over group counts: pass groups=..., not expansion "
                         f"(use width_mult to scale every width)")
    model = MODELS[name](**kwargs)
    model.build_kwargs = construction_kwargs(name, **kwargs)
    return model


def construction_kwargs(name: str, **kwargs) -> dict:
    """``{"name": name, **kwargs}`` with every default of ``name``'s constructor filled in.

    Values are plain JSON (lists, python scalars; scalars are not expanded per gene), so the
    dict fingerprints the model exactly and ``json.dumps`` works on it.
    """
    bound = inspect.signature(MODELS[check_name(name)]).bind(**kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.pop("module", None)  # the MobileNet partials bind it; ``name`` says it
    return {"name": name, **{k: json_value(v, k) for k, v in arguments.items()}}


def study_of(name: str) -> str:
    """``"widths"`` (Shen et al.: expansion genes) or ``"groups"`` (Phan et al.: group genes)."""
    return "widths" if check_name(name) in EXPANSION_MODELS else "groups"


def genome_keys(name: str) -> tuple[str, ...]:
    """The ``build`` keywords a genome of ``name`` sets, in genome order."""
    if study_of(name) == "widths":
        return ("expansion",)
    return ("groups", "real_groups") if name == "mobilenet_m2" else ("groups",)


def _gene_counts(name: str) -> list[int]:
    """How many genes each of :func:`genome_keys` takes (M2: 13 groups, then 5 real_groups)."""
    if name == "vgg_small":
        return [len(vgg.GENE_NAMES)]
    if name == "resnet18":
        return [len(resnet.GENE_NAMES)]
    return [len(part) for part in mobilenet.gene_names(name.split("_")[1]) if part]


def gene_names(name: str, width_mult: float = 1.0) -> list[str]:
    """What each position of ``name``'s genome controls (M2: 13 groups then 5 real_groups;
    ``width_mult`` only changes the channel counts the MobileNet names quote)."""
    check_name(name)
    if name == "vgg_small":
        return list(vgg.GENE_NAMES)
    if name == "resnet18":
        return list(resnet.GENE_NAMES)
    groups, real = mobilenet.gene_names(name.split("_")[1], width_mult)
    return [*groups, *real]


def genome_kwargs(name: str, genome) -> dict:
    """``build`` keywords of ``genome`` (floats for expansion genes, ints for group genes)."""
    genome, counts = list(genome), _gene_counts(name)
    if len(genome) != sum(counts):
        raise ValueError(f"{name}: a genome has {sum(counts)} genes ({', '.join(genome_keys(name))}), "
                         f"got {len(genome)}: {genome!r}")
    cast = float if study_of(name) == "widths" else int
    kwargs, start = {}, 0
    for key, n in zip(genome_keys(name), counts, strict=True):
        kwargs[key] = [cast(g) for g in genome[start:start + n]]
        start += n
    return kwargs


def genome_of(name: str, kwargs: dict) -> list | None:
    """The genome of ``build`` keywords (a scalar is repeated per gene; a missing keyword is
    the default 1); ``None`` for a real-valued model (``binary=False``), which has no genome."""
    if not kwargs.get("binary", True):
        return None
    genome, default = [], 1.0 if study_of(name) == "widths" else 1
    for key, n in zip(genome_keys(name), _gene_counts(name), strict=True):
        value = kwargs.get(key, default)
        genome += list(value) if isinstance(value, (list, tuple)) else [value] * n
    return genome


__all__ = ["MODELS", "build", "construction_kwargs", "gene_names", "genome_keys", "genome_kwargs",
           "genome_of", "study_of", "divisors", "check_name", "EXPANSION_MODELS", "GROUP_MODELS",
           "VGGSmall", "ResNet18", "BinaryMobileNet"]
