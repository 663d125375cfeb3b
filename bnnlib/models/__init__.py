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
for 28x28 / 32x32 images (stride-1 stem, no stem max-pool). The gene lists are documented in each family's module and
returned by ``gene_names(name, **kwargs)``.

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


def gene_names(name: str, width_mult: float = 1.0) -> list[str]:
    """What each position of ``name``'s genome controls (M2: 13 groups then 5 real_groups)."""
    check_name(name)
    if name == "vgg_small":
        return list(vgg.GENE_NAMES)
    if name == "resnet18":
        return list(resnet.GENE_NAMES)
    groups, real = mobilenet.gene_names(name.split("_")[1], width_mult)
    return [*groups, *real]


__all__ = ["MODELS", "build", "construction_kwargs", "gene_names", "divisors", "check_name",
           "VGGSmall", "ResNet18", "BinaryMobileNet"]
