"""Layers: a quantized conv with pluggable quantizers, and the real-valued layers the papers keep.

``QuantConv2d`` is an ``nn.Conv2d`` plus two pluggable pieces (larq's design): an input
quantizer applied to the activations and a kernel quantizer applied to the weight, both chosen
by name. Any ``groups`` (1, grouped, depthwise), stride and padding work as in ``nn.Conv2d``.

- ``QuantConv2d(..., input_quantizer="approx_sign", kernel_quantizer="xnor")`` is the binary
  conv of Phan et al. (XNOR weights, ApproxSign activations); ``"dorefa", "dorefa"`` is the one
  of Shen et al.
- The real-valued counterpart of a binary model uses the same class with
  ``input_quantizer="relu", kernel_quantizer=None``: a pre-activation real conv. ReLU is not a
  quantizer; it is the non-linearity the binarizer replaces, so the real and binary twins have
  the same topology and the same parameter names.

The layers the papers keep real (first conv, last FC, the real 1x1 convs of MobileNet M1/M2)
are plain ``nn.Conv2d`` / ``nn.Linear``: the FLOP counter counts any conv or linear layer that
is not a binary ``QuantConv2d`` as real-valued.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .binarize import ACTIVATION_QUANTIZERS, activation_quantizer, weight_quantizer

#: Input functions that are not binarizers: the real-valued twin's pre-activation.
REAL_INPUT_FUNCTIONS = {"relu": F.relu}


def _input_function(name: str | None):
    if name in REAL_INPUT_FUNCTIONS:
        return REAL_INPUT_FUNCTIONS[name]
    try:
        return activation_quantizer(name)
    except ValueError:
        known = ", ".join(sorted([*ACTIVATION_QUANTIZERS, *REAL_INPUT_FUNCTIONS])) + ", none"
        raise ValueError(f"unknown input quantizer {name!r}; known: {known}") from None


class QuantConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose input and kernel go through named quantizers.

    forward(x) = conv2d(input_quantizer(x), kernel_quantizer(weight)), with this layer's
    stride, padding, dilation and groups. The real weight is stored and updated; the binary
    weight exists only during the forward pass.

    Args:
        input_quantizer: ``"approx_sign"``, ``"ste_sign"``, ``"dorefa"`` (binary activations),
            ``"relu"`` (real-valued pre-activation) or ``None`` (identity).
        kernel_quantizer: ``"xnor"``, ``"dorefa"`` or ``None`` (real weights).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bias: bool = False,
        input_quantizer: str | None = "approx_sign",
        kernel_quantizer: str | None = "xnor",
        dilation: int = 1,
    ):
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding,
            dilation=dilation, groups=groups, bias=bias,
        )
        self.input_quantizer = input_quantizer
        self.kernel_quantizer = kernel_quantizer
        self._input_fn = _input_function(input_quantizer)
        self._kernel_fn = weight_quantizer(kernel_quantizer)

    @property
    def binary_weights(self) -> bool:
        """True when the kernel is binarized (1 bit per weight in memory)."""
        return self._kernel_fn is not None

    @property
    def is_binary(self) -> bool:
        """True when both inputs and weights are binary: the MACs are XNOR-popcounts."""
        return self.binary_weights and self.input_quantizer in ACTIVATION_QUANTIZERS

    def quantized_weight(self, weight: torch.Tensor | None = None) -> torch.Tensor:
        """The kernel as used in the forward pass (``weight`` defaults to this layer's)."""
        weight = self.weight if weight is None else weight
        return weight if self._kernel_fn is None else self._kernel_fn(weight)

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self._input_fn is None else self._input_fn(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.quantize_input(x), self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return (
            super().extra_repr()
            + f", input_quantizer={self.input_quantizer!r}, kernel_quantizer={self.kernel_quantizer!r}"
        )


def real_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
              padding: int = 0, groups: int = 1) -> nn.Conv2d:
    """A real-valued conv without bias (BN follows): first convs and MobileNet's real 1x1s."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                     groups=groups, bias=False)
