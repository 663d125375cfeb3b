"""Binary MobileNetV1 modules M1, M2, M3 with searchable group counts (Phan et al. 2020).

Backbone: MobileNetV1's real 3x3 stride-2 stem (32 channels) and 13 blocks
(in -> out, stride): 32->64, 64->128 s2, 128->128, 128->256 s2, 256->256, 256->512 s2,
512->512 x5, 512->1024 s2, 1024->1024; global average pool and a real FC. In every block the
depthwise 3x3 conv becomes a binary 3x3 *group* conv Cin -> Cin whose group count is a gene,
followed by a binary 1x1 conv (XNOR weights, ApproxSign activations by default, eq. 1-6).

Block (``q`` = activation binarizer, ReLU in the real-valued twin):
    h   = BN(conv3x3_g(q(x))) + s(x)       s = identity, or a 2x2 average pool where the
                                           3x3 conv has stride 2 (parameter-free, not counted)
    Cin == Cout:        out = BN(conv1x1(q(h))) + h                      (layer-wise skip)
    Cin != Cout, M1/M2: out = BN(conv1x1(q(h))) + BN(real1x1_stride(x))  (block-wise, real)
    Cin != Cout, M3:    out = concat(BN(conv1x1_a(q(h))) + h, BN(conv1x1_b(q(h))) + h)
The channel count changes in blocks 1, 2, 4, 6 and 12 (1-based). There:
- M1 keeps a real-valued 1x1 conv (stride as the block) from the block input to its output
  ("a real 1x1 full conv follows when there is a spatial shrinkage", sec. 3.2.2);
- M2 is M1 with those real 1x1 convs grouped too; their group counts are extra genes
  (``real_groups``). The paper's text says "four" real 1x1 convs (the stride-2 blocks) but
  block 1 (32 -> 64, stride 1) also needs one to join its skip path, and five real convs is
  the reading whose OPs match Table 1 (2.16 / 0.69 / 0.33 x1e8 vs the paper's 2.13 / 0.67 /
  0.30 for groups 1 / 4 / 16);
- M3 has no real 1x1 conv: two binary 1x1 convs Cin -> Cin whose outputs are concatenated.
Choices made where the paper is silent: the layer-wise skip of a stride-2 3x3 conv is an
average pool (as in ReActNet); the block-wise skip is not added on top of the two layer-wise
skips (it would count the input twice).

Genome:
    ``groups``: 13 ints, gene i is the group count of block i+1's binary 3x3 conv; it must
        divide that block's input channels (32, 64, 128, 128, 256, 256, 512 x6, 1024 at
        width 1). Groups = Cin is depthwise, groups = 1 a full conv.
    ``real_groups`` (mobilenet_m2 only): 5 ints for the real 1x1 convs of blocks 1, 2, 4, 6,
        12; each must divide that conv's input channels (32, 64, 128, 256, 512 at width 1).

Options beyond the paper: ``width_mult`` scales every width (the CPU profile uses 0.25-0.5);
``small_input=True`` makes the stem stride 1 for 28x28 / 32x32 images (otherwise a 28x28
input ends at a 1x1 map after block 12).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import (
    binary_conv,
    check_groups,
    check_model_args,
    head,
    per_gene,
    scaled_width,
)

# (in, out, stride) for the 13 blocks at width 1
BLOCKS = ((32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
          (256, 512, 2)) + ((512, 512, 1),) * 5 + ((512, 1024, 2), (1024, 1024, 1))
STEM_WIDTH = 32
MODULES = ("m1", "m2", "m3")
#: zero-based block indices where the channel count changes (real 1x1 convs of M1/M2)
CHANGE_BLOCKS = tuple(i for i, (cin, cout, _) in enumerate(BLOCKS) if cin != cout)


def block_channels(width_mult: float = 1.0) -> list[tuple[int, int, int]]:
    """(in, out, stride) of the 13 blocks at ``width_mult``."""
    unit = scaled_width(STEM_WIDTH, width_mult, "mobilenet", "width_mult")
    # every width is a multiple of the stem's, so channel doublings stay exact when scaled
    return [(unit * cin // STEM_WIDTH, unit * cout // STEM_WIDTH, s) for cin, cout, s in BLOCKS]


def gene_channels(module: str, width_mult: float = 1.0) -> list[int]:
    """Input channels of the conv each gene sets: the 13 binary 3x3 convs, then (M2 only) the
    5 real 1x1 convs of blocks 1, 2, 4, 6, 12. A gene's valid group counts divide its entry."""
    cin = [c for c, _, _ in block_channels(width_mult)]
    return cin + ([cin[i] for i in CHANGE_BLOCKS] if module == "m2" else [])


def gene_names(module: str, width_mult: float = 1.0) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names of the ``groups`` genes and of the ``real_groups`` genes (empty except for M2)."""
    chans = gene_channels(module, width_mult)
    groups = tuple(f"block {i + 1} binary 3x3 conv groups ({c} input channels)"
                   for i, c in enumerate(chans[:len(BLOCKS)]))
    real = tuple(f"block {i + 1} real 1x1 conv groups ({c} input channels)"
                 for i, c in zip(CHANGE_BLOCKS, chans[len(BLOCKS):], strict=True)) if module == "m2" else ()
    return groups, real


class MobileNetBlock(nn.Module):
    def __init__(self, cin, cout, stride, groups, module, real_groups, binary, aq, wq, index):
        super().__init__()
        name = f"block {index + 1}"
        groups = check_groups(groups, (cin,), f"{name} binary 3x3 conv")
        self.module, self.cin, self.cout = module, cin, cout
        self.conv3 = binary_conv(binary, cin, cin, 3, stride, 1, groups, aq, wq)
        self.bn3 = nn.BatchNorm2d(cin)
        self.skip3 = nn.Identity() if stride == 1 else nn.AvgPool2d(2, ceil_mode=True)
        if cin == cout or module in ("m1", "m2"):
            self.conv1 = binary_conv(binary, cin, cout, 1, input_quantizer=aq, kernel_quantizer=wq)
            self.bn1 = nn.BatchNorm2d(cout)
        if cin != cout and module in ("m1", "m2"):
            real_groups = check_groups(real_groups, (cin, cout), f"{name} real 1x1 conv",
                                       "real_groups")
            self.real1 = nn.Conv2d(cin, cout, 1, stride, groups=real_groups, bias=False)
            self.bn_real = nn.BatchNorm2d(cout)
        if cin != cout and module == "m3":
            self.conv1a = binary_conv(binary, cin, cin, 1, input_quantizer=aq, kernel_quantizer=wq)
            self.bn1a = nn.BatchNorm2d(cin)
            self.conv1b = binary_conv(binary, cin, cout - cin, 1, input_quantizer=aq, kernel_quantizer=wq)
            self.bn1b = nn.BatchNorm2d(cout - cin)

    def forward(self, x):
        h = self.bn3(self.conv3(x)) + self.skip3(x)
        if self.cin == self.cout:
            return self.bn1(self.conv1(h)) + h
        if self.module == "m3":
            return torch.cat([self.bn1a(self.conv1a(h)) + h, self.bn1b(self.conv1b(h)) + h], 1)
        return self.bn1(self.conv1(h)) + self.bn_real(self.real1(x))


class BinaryMobileNet(nn.Module):
    def __init__(self, module: str = "m1", num_classes: int = 1000, in_channels: int = 3,
                 binary: bool = True, groups=1, real_groups=None,
                 act_quantizer: str = "approx_sign", weight_quantizer: str = "xnor",
                 width_mult: float = 1.0, small_input: bool = False):
        super().__init__()
        if module not in MODULES:
            raise ValueError(f"unknown MobileNet module {module!r}; known: {', '.join(MODULES)}")
        model = f"mobilenet_{module}"
        check_model_args(model, num_classes, in_channels, width_mult)
        group_names, real_names = gene_names(module, width_mult)
        if real_groups is not None and module != "m2":
            raise ValueError(f"{model}: real_groups applies only to mobilenet_m2 "
                             f"(M1's real 1x1 convs are full, M3 has none); got {real_groups!r}")
        self.groups = per_gene(groups, group_names, "groups", model)
        real = per_gene(1 if real_groups is None else real_groups, real_names or ("",) * 5,
                        "real_groups", model)
        self.real_groups = real if module == "m2" else []
        self.module, self.width_mult = module, width_mult
        chans = block_channels(width_mult)
        stem_w = scaled_width(STEM_WIDTH, width_mult, model, "width_mult")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_w, 3, 1 if small_input else 2, 1, bias=False),
            nn.BatchNorm2d(stem_w),
        )
        real_iter = iter(real)
        blocks = []
        for i, (cin, cout, stride) in enumerate(chans):
            rg = next(real_iter) if i in CHANGE_BLOCKS else 1
            blocks.append(MobileNetBlock(cin, cout, stride, self.groups[i], module, rg, binary,
                                         act_quantizer, weight_quantizer, i))
        self.blocks = nn.Sequential(*blocks)
        self.classifier = head(binary, chans[-1][1], num_classes, nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return self.classifier(self.blocks(self.stem(x)))
