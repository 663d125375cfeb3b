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
"""

from __future__ import annotations

from functools import partial

from torch import nn

from . import mobilenet, resnet, vgg
from .common import divisors
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
EXPANSION_MODELS = ("vgg_small", "resnet18")
GROUP_MODELS = ("mobilenet_m1", "mobilenet_m2", "mobilenet_m3")


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
    return MODELS[name](**kwargs)


def gene_names(name: str, width_mult: float = 1.0) -> list[str]:
    """What each position of ``name``'s genome controls (M2: 13 groups then 5 real_groups)."""
    check_name(name)
    if name == "vgg_small":
        return list(vgg.GENE_NAMES)
    if name == "resnet18":
        return list(resnet.GENE_NAMES)
    groups, real = mobilenet.gene_names(name.split("_")[1], width_mult)
    return [*groups, *real]


__all__ = ["MODELS", "build", "gene_names", "divisors", "check_name",
           "VGGSmall", "ResNet18", "BinaryMobileNet"]
