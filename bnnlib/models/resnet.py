"""ResNet-18 with binary 3x3 convs and searchable widths (Shen et al. 2019, Table 2).

Standard BasicBlock ResNet-18 (He et al. 2016): real 7x7 stride-2 stem + 3x3 max-pool, four
stages of two blocks (64, 128, 256, 512 channels), global average pool, real FC. Every 3x3
conv inside the blocks is binary (DoReFa by default) and so are the 1x1 downsample convs: the
reading of the paper whose OPs match its Table 2 (149M at 1x; real downsample convs would give
164M).

Block: ``out = BN(conv2(q(BN(conv1(q(x)))))) + shortcut(x)``, ``q`` the activation quantizer
(ReLU in the real-valued twin), shortcut = identity, or ``BN(conv1x1_stride(q(x)))`` where the
stage changes.

Genome (``expansion``, 12 ratios). Widths joined by identity shortcuts must be equal, so each
stage's output width (stem, block outputs and downsample conv of that stage) is one gene, and
each block's inner width (its conv1 output) is one gene. In depth order:
    [0]  stage 1 output width: stem conv, layer1.0.conv2, layer1.1.conv2      (base 64)
    [1]  layer1.0 inner width (conv1)                                           (base 64)
    [2]  layer1.1 inner width                                                   (base 64)
    [3]  stage 2 output width: layer2.0.conv2 + downsample, layer2.1.conv2     (base 128)
    [4]  layer2.0 inner   [5] layer2.1 inner                                    (base 128)
    [6]  stage 3 output   [7] layer3.0 inner   [8] layer3.1 inner               (base 256)
    [9]  stage 4 output (FC input)   [10] layer4.0 inner   [11] layer4.1 inner  (base 512)
A uniform ratio r widens every layer, stem included (this matches Table 2's 2x/3x/4x OPs).

``width_mult`` (default 1) scales the base widths before expansion (CPU profiles):
width = round(base * width_mult * ratio).

Small images (``small_input=True``, for 28x28 / 32x32 data): the stem becomes a 3x3 stride-1
conv with no max-pool (the CIFAR ResNet stem). Without it the model still runs on small inputs
but its last stage sees a 1x1 map.
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

STAGE_BASE = (64, 128, 256, 512)
GENE_NAMES = tuple(
    name
    for s, base in enumerate(STAGE_BASE, start=1)
    for name in (
        f"stage {s} output width{' (incl. stem)' if s == 1 else ''}{' (FC input)' if s == 4 else ''} (base {base})",
        f"layer{s}.0 inner width (conv1, base {base})",
        f"layer{s}.1 inner width (conv1, base {base})",
    )
)


class BasicBlock(nn.Module):
    def __init__(self, cin, mid, cout, stride, binary, aq, wq):
        super().__init__()
        self.conv1 = binary_conv(binary, cin, mid, 3, stride, 1, input_quantizer=aq, kernel_quantizer=wq)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = binary_conv(binary, mid, cout, 3, 1, 1, input_quantizer=aq, kernel_quantizer=wq)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                binary_conv(binary, cin, cout, 1, stride, input_quantizer=aq, kernel_quantizer=wq),
                nn.BatchNorm2d(cout),
            )

    def forward(self, x):
        return self.bn2(self.conv2(self.bn1(self.conv1(x)))) + self.shortcut(x)


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, binary: bool = True,
                 expansion=1.0, act_quantizer: str = "dorefa", weight_quantizer: str = "dorefa",
                 small_input: bool = False, width_mult: float = 1.0):
        super().__init__()
        check_model_args("resnet18", num_classes, in_channels, width_mult)
        ratios = self.expansion = per_gene(expansion, GENE_NAMES, "expansion", "resnet18", positive_number)
        bases = [STAGE_BASE[i // 3] for i in range(12)]
        self.widths = [scaled_width(b, r * width_mult, f"resnet18 {GENE_NAMES[i]}",
                                    "expansion * width_mult")
                       for i, (b, r) in enumerate(zip(bases, ratios, strict=True))]
        stage_w = self.widths[0::3]
        if small_input:
            stem = [nn.Conv2d(in_channels, stage_w[0], 3, 1, 1, bias=False),
                    nn.BatchNorm2d(stage_w[0]), nn.ReLU()]
        else:
            stem = [nn.Conv2d(in_channels, stage_w[0], 7, 2, 3, bias=False),
                    nn.BatchNorm2d(stage_w[0]), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
        self.stem = nn.Sequential(*stem)
        blocks, cin = [], stage_w[0]
        for s in range(4):
            for b in range(2):
                stride = 2 if (s > 0 and b == 0) else 1
                mid = self.widths[3 * s + 1 + b]
                blocks.append(BasicBlock(cin, mid, stage_w[s], stride, binary,
                                         act_quantizer, weight_quantizer))
                cin = stage_w[s]
        self.blocks = nn.Sequential(*blocks)
        self.classifier = head(binary, stage_w[3], num_classes, nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return self.classifier(self.blocks(self.stem(x)))
