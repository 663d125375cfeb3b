"""VGG-small (Shen et al. 2019, Table 1; the CIFAR-10 VGG of LQ-Nets / DoReFa studies).

Six 3x3 convs with widths [128, 128, 256, 256, 512, 512], a 2x2 max-pool after convs 2, 4 and
6, and one FC layer 512*4*4 -> classes. Conv 1 and the FC stay real-valued; convs 2-6 are
binary (DoReFa weights and activations by default, Shen et al. eq. 1).

Genome (``expansion``, 6 ratios, one per conv output width):
    [0] conv1 (real stem) 128   [1] conv2 128   [2] conv3 256
    [3] conv4 256               [4] conv5 512   [5] conv6 512  (also the FC input width)
Widths are ``round(base * ratio)``; the search space of Shen et al. is {0.25, 0.5, 1, 2, 3, 4}.

Layer order per binary layer: quantize input -> conv -> (max-pool) -> BN. The real-valued
twin (``binary=False``) uses ReLU where the binary model quantizes, and a ReLU before the FC.

``width_mult`` (default 1) scales the base widths before expansion, so that CPU profiles can
search ratios around a narrower 1x model: width = round(base * width_mult * ratio).

Small and large images: the pools use ``ceil_mode=True`` so 28x28 inputs reach the same 4x4
map as 32x32 ones (28 -> 14 -> 7 -> 4); an adaptive average pool to 4x4 before the FC is an
identity at 32x32 and 28x28 and shrinks larger inputs (224x224 -> 28x28 -> 4x4). The FC
therefore has the paper's 512*4*4 inputs at every input size.
"""

from __future__ import annotations

from torch import nn

from .common import (
    binary_conv,
    check_model_args,
    head,
    per_gene,
    positive_number,
    scaled_width,
)

BASE_WIDTHS = (128, 128, 256, 256, 512, 512)
GENE_NAMES = tuple(
    f"conv{i + 1} output width (base {w}{', real stem' if i == 0 else ''})"
    for i, w in enumerate(BASE_WIDTHS)
)
POOL_AFTER = {1, 3, 5}  # zero-based conv indices followed by max-pool


class VGGSmall(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, binary: bool = True,
                 expansion=1.0, act_quantizer: str = "dorefa", weight_quantizer: str = "dorefa",
                 width_mult: float = 1.0):
        super().__init__()
        check_model_args("vgg_small", num_classes, in_channels, width_mult)
        ratios = self.expansion = per_gene(expansion, GENE_NAMES, "expansion", "vgg_small", positive_number)
        self.widths = [scaled_width(b, r * width_mult, f"vgg_small {GENE_NAMES[i]}",
                                    "expansion * width_mult")
                       for i, (b, r) in enumerate(zip(BASE_WIDTHS, ratios, strict=True))]
        w = self.widths
        layers: list[nn.Module] = [nn.Conv2d(in_channels, w[0], 3, padding=1, bias=False),
                                   nn.BatchNorm2d(w[0])]
        for i in range(1, 6):
            layers.append(binary_conv(binary, w[i - 1], w[i], 3, padding=1,
                                      input_quantizer=act_quantizer,
                                      kernel_quantizer=weight_quantizer))
            if i in POOL_AFTER:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            layers.append(nn.BatchNorm2d(w[i]))
        self.features = nn.Sequential(*layers)
        self.classifier = head(binary, w[5] * 16, num_classes, nn.AdaptiveAvgPool2d(4))

    def forward(self, x):
        return self.classifier(self.features(x))
