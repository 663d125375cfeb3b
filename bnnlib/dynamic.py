"""Weight-sharing (dynamic) layers used by the supernets, apart from the models that use them.

Each layer holds the largest weight and computes with a part of it chosen at run time:

- ``DynamicGroupConv2d`` (groups study, Phan et al. sec. 3.2.3, Fig. 4): one full (groups=1)
  weight ``W`` of shape (C_out, C_in, k, k). A candidate with ``g`` groups uses the
  block-diagonal crop: output block ``i`` (channels ``i*C_out/g ... (i+1)*C_out/g``) reads input
  block ``i`` through ``W[block_out_i, block_in_i]``; the crop is then quantized (XNOR scale
  per output channel computed on the crop) and applied as a grouped conv.
- ``DynamicWidthConv2d`` / ``DynamicLinear`` / ``DynamicBatchNorm2d`` (widths study, Shen et
  al. "Initialization"): the 4x-wide weights; a candidate uses the first ``C_out`` output
  channels and the first ``C_in`` input channels (the input width is read off the input), the
  prefix slice Shen et al. use to initialise candidates from the trained 4x model.

They implement ``active_macs`` so ``bnnlib.flops.count`` counts what they compute, and
``active_weight()`` returning the weight a static model of the same candidate would hold.

**How a grouped convolution runs** (:func:`group_conv`, ``"grouped"`` or ``"dense"``): ``dense``
makes ``DynamicGroupConv2d`` run a candidate's grouped convolution as one dense convolution
whose weight is the quantized crop placed on the block diagonal, zeros elsewhere: the same
result (up to the order of the sums; exact for binary inputs and unscaled binary weights) for
``g`` times the multiply-adds, with one convolution shape per layer whatever the group count.
On an H200 at 28x28 that is what one-shot scoring needs: every candidate's new (layer, groups)
shapes made cuDNN choose kernels again on the host (M1: device busy 30% of the wall), and dense
scoring ran 1,227 M1 candidates per minute against 353 grouped (docs/gpu.md, session 6). The
search's ``group_conv`` setting picks the mode for :class:`bnnlib.evaluators.OneShotEvaluator`;
outside such a block ``BNNLIB_DENSE_GROUPS=1`` (read at every forward, off by default) turns it
on for a process (the benchmarks' switch for training steps). The FLOP count is the grouped one
either way: it counts what the architecture needs, not how a kernel computes it.
"""

from __future__ import annotations

import contextlib
import os

import torch
import torch.nn.functional as F
from torch import nn

from .layers import QuantConv2d
from .registry import GROUP_CONVS


def block_diagonal_crop(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """The grouped-conv weight (C_out, C_in/g, k, k) cut from a full weight (C_out, C_in, k, k).

    Output block i keeps the columns of input block i: ``crop[o] = W[o, i*C_in/g:(i+1)*C_in/g]``
    for ``o`` in output block ``i``.
    """
    cout, cin, kh, kw = weight.shape
    if groups == 1:
        return weight
    if cin % groups or cout % groups:
        raise ValueError(f"groups={groups} must divide C_in={cin} and C_out={cout}")
    w = weight.reshape(groups, cout // groups, groups, cin // groups, kh, kw)
    diag = torch.diagonal(w, dim1=0, dim2=2)  # (C_out/g, C_in/g, k, k, g)
    return diag.permute(4, 0, 1, 2, 3).reshape(cout, cin // groups, kh, kw)


_group_conv: str | None = None  # set by group_conv(); None: BNNLIB_DENSE_GROUPS decides


def check_group_conv(mode: str) -> str:
    if mode not in GROUP_CONVS:
        raise ValueError(f"group_conv={mode!r}; valid: {', '.join(GROUP_CONVS)}")
    return mode


@contextlib.contextmanager
def group_conv(mode: str):
    """Within the block, ``DynamicGroupConv2d`` runs its grouped convolutions as ``mode``:
    ``"grouped"`` (a grouped kernel) or ``"dense"`` (module docstring), whatever
    ``BNNLIB_DENSE_GROUPS`` says. Blocks nest; the mode before is restored on exit."""
    global _group_conv
    check_group_conv(mode)
    before, _group_conv = _group_conv, mode
    try:
        yield
    finally:
        _group_conv = before


def dense_groups() -> bool:
    """Whether ``DynamicGroupConv2d`` computes grouped convolutions densely: the mode of the
    enclosing :func:`group_conv` block, else ``BNNLIB_DENSE_GROUPS=1`` (module docstring)."""
    if _group_conv is not None:
        return _group_conv == "dense"
    return os.environ.get("BNNLIB_DENSE_GROUPS", "0") == "1"


def block_diagonal_dense(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """The dense (C_out, C_in, k, k) weight equal to the grouped ``weight`` (C_out, C_in/g, k, k):
    output block ``i`` reads input block ``i`` through ``weight``'s rows of block ``i``, zeros
    elsewhere (the inverse of :func:`block_diagonal_crop` on a block-diagonal weight)."""
    if groups == 1:
        return weight
    cout, cin_g, kh, kw = weight.shape
    if cout % groups:
        raise ValueError(f"groups={groups} must divide C_out={cout}")
    dense = weight.new_zeros(groups, cout // groups, groups, cin_g, kh, kw)
    idx = torch.arange(groups, device=weight.device)
    dense[idx, :, idx] = weight.reshape(groups, cout // groups, cin_g, kh, kw)
    return dense.reshape(cout, groups * cin_g, kh, kw)


def _conv_macs(out: torch.Tensor, cin_per_group: int, kernel) -> int:
    return out[0].numel() * cin_per_group * kernel[0] * kernel[1]


class _FromConv:
    """``from_conv``: a dynamic copy of a groups=1 conv (quantizers and weights included)."""

    @classmethod
    def from_conv(cls, conv: nn.Conv2d):
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0],
                  conv.padding[0], input_quantizer=getattr(conv, "input_quantizer", None),
                  kernel_quantizer=getattr(conv, "kernel_quantizer", None))
        new.to(conv.weight.device).load_state_dict(conv.state_dict())
        return new


class DynamicGroupConv2d(_FromConv, QuantConv2d):
    """A conv whose group count is chosen per forward pass by cropping one full weight."""

    def __init__(self, *args, **kwargs):
        if kwargs.get("groups", 1) != 1:
            raise ValueError("DynamicGroupConv2d holds a full (groups=1) weight")
        super().__init__(*args, **kwargs)
        self.active_groups = 1

    def active_weight(self) -> torch.Tensor:
        return block_diagonal_crop(self.weight, self.active_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.quantized_weight(self.active_weight())
        groups = self.active_groups
        if groups > 1 and dense_groups():
            w, groups = block_diagonal_dense(w, groups), 1
        return F.conv2d(self.quantize_input(x), w, None, self.stride, self.padding,
                        self.dilation, groups)

    def active_macs(self, inp, out) -> tuple[int, int]:
        cin_g = self.in_channels // self.active_groups
        return _conv_macs(out, cin_g, self.kernel_size), self.out_channels * cin_g * self.kernel_size[0] * self.kernel_size[1]


class DynamicWidthConv2d(_FromConv, QuantConv2d):
    """A conv using the first ``active_out`` filters and the first ``x.shape[1]`` inputs."""

    def __init__(self, *args, **kwargs):
        if kwargs.get("groups", 1) != 1:
            raise ValueError("DynamicWidthConv2d supports groups=1 only")
        super().__init__(*args, **kwargs)
        self.active_out = self.out_channels
        self._active_in = self.in_channels

    def active_weight(self, in_channels: int | None = None) -> torch.Tensor:
        cin = self._active_in if in_channels is None else in_channels
        return self.weight[: self.active_out, :cin]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._active_in = x.shape[1]
        w = self.quantized_weight(self.active_weight(x.shape[1]))
        return F.conv2d(self.quantize_input(x), w, None, self.stride, self.padding, self.dilation)

    def active_macs(self, inp, out) -> tuple[int, int]:
        k = self.kernel_size
        return _conv_macs(out, inp.shape[1], k), self.active_out * inp.shape[1] * k[0] * k[1]


class DynamicLinear(nn.Linear):
    """A linear layer reading the first ``x.shape[1]`` input features."""

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> DynamicLinear:
        new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        new.to(linear.weight.device).load_state_dict(linear.state_dict())
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight[:, : x.shape[1]], self.bias)

    def active_macs(self, inp, out) -> tuple[int, int]:
        return inp.shape[1] * self.out_features, inp.shape[1] * self.out_features


class DynamicBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over the first ``x.shape[1]`` channels (statistics and affine sliced)."""

    @classmethod
    def from_bn(cls, bn: nn.BatchNorm2d) -> DynamicBatchNorm2d:
        new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        new.to(bn.weight.device if bn.affine else bn.running_mean.device)
        new.load_state_dict(bn.state_dict())
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch_stats = self.training or self.running_mean is None
        # slices of the buffers are views: F.batch_norm updates the shared statistics in place
        return F.batch_norm(
            x,
            self.running_mean[:c] if not self.training or self.track_running_stats else None,
            self.running_var[:c] if not self.training or self.track_running_stats else None,
            self.weight[:c] if self.affine else None,
            self.bias[:c] if self.affine else None,
            use_batch_stats, factor, self.eps,
        )
