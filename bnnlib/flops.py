"""OPs and memory of any model, counted from its real forward pass (Bi-Real Net convention).

``count(model, input_size)`` runs one forward pass on a zero batch of one image with forward
hooks on every conv and linear layer (removed afterwards, even on error) and counts what each
layer actually computed:

- MACs of a conv  = C_out * H_out * W_out * (C_in / groups) * k_h * k_w   (grouped convs correct)
- MACs of a linear = in_features * out_features
- a MAC is *binary* when both the layer's inputs and weights are binary (an XNOR-popcount);
  every other MAC is real-valued;
- ``ops = fp_macs + binary_macs / 64``  (Bi-Real Net; Phan et al. sec. 4.1; Shen et al. sec. 2);
- ``memory_bits`` = 32 per real weight + 1 per binary weight (weights of conv and linear
  layers; biases and BN parameters are not counted, as in the papers' memory columns).

BN, bias additions, activations, pooling and shortcut additions are not counted.

Layers that compute with a different shape than their parameters (weight-sharing supernet
layers) implement ``active_macs(input, output) -> (macs, n_weights)``; the counter uses it so
that a sliced or cropped layer counts only what it computes. Layers that are binary implement
``is_binary`` (True when the MACs are XNOR-popcounts) and ``binary_weights`` (1 bit each).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from .checks import is_int

BINARY_MAC_COST = 1 / 64


@dataclass
class FlopReport:
    """Totals and the per-layer table of one ``count`` call."""

    fp_macs: int
    binary_macs: int
    memory_bits: int
    layers: pd.DataFrame

    @property
    def ops(self) -> float:
        """Real MACs + binary MACs / 64."""
        return self.fp_macs + self.binary_macs * BINARY_MAC_COST

    @property
    def fp_ops(self) -> int:
        """OPs of the same architecture with every MAC real-valued."""
        return self.fp_macs + self.binary_macs

    def speedup(self, reference: FlopReport | float) -> float:
        """``reference OPs / self.ops``: the papers' "Speedup" column.

        Shen et al.'s Tables 1-2 divide the OPs of the *full-precision 1x* model by each
        model's OPs (608M / 45.3M = 13.4x for Uniform-2x, 608M / 11.3M = 53.8x for Auto-A), not
        the FP OPs of the same widened architecture; pass that model's report or OPs.
        """
        ref = reference.ops if isinstance(reference, FlopReport) else float(reference)
        return ref / self.ops

    @property
    def memory_mbit(self) -> float:
        return self.memory_bits / 1e6

    def summary(self) -> dict:
        return {"ops": self.ops, "fp_macs": self.fp_macs, "binary_macs": self.binary_macs,
                "memory_bits": self.memory_bits}

    def __repr__(self) -> str:
        return (f"FlopReport(ops={self.ops / 1e6:.2f}M, fp_macs={self.fp_macs / 1e6:.2f}M, "
                f"binary_macs={self.binary_macs / 1e6:.2f}M, memory={self.memory_mbit:.2f}Mbit, "
                f"layers={len(self.layers)})")


def _layer_macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> tuple[int, int]:
    """(MACs per image, number of weights used) of one call of ``module``."""
    if hasattr(module, "active_macs"):
        return module.active_macs(inp, out)
    if isinstance(module, nn.Conv2d):
        cin_per_group = inp.shape[1] // module.groups
        kh, kw = module.kernel_size
        macs = out[0].numel() * cin_per_group * kh * kw
        return macs, module.weight.numel()
    if isinstance(module, nn.Linear):
        return out[0].numel() * module.in_features, module.weight.numel()
    raise TypeError(f"cannot count {type(module).__name__}")


def _countable(module: nn.Module) -> bool:
    return isinstance(module, (nn.Conv2d, nn.Linear)) or hasattr(module, "active_macs")


def input_shape(input_size) -> tuple[int, int, int]:
    """``input_size`` as a (C, H, W) tuple of ints: an int H means a 3xHxH image.

    Anything else (a str such as ``"28"``, which would iterate as (2, 8), floats, bools,
    non-positive sizes, another length) raises ValueError naming the value.
    """
    sizes = (3, input_size, input_size) if is_int(input_size) else input_size
    listlike = isinstance(sizes, Iterable) and not isinstance(sizes, (str, bytes))
    sizes = tuple(sizes) if listlike else ()
    if len(sizes) != 3 or not all(is_int(s) and s >= 1 for s in sizes):
        raise ValueError(f"input_size must be an int H (for a 3xHxH image) or a (C, H, W) "
                         f"tuple of positive ints, got {input_size!r}")
    return tuple(int(s) for s in sizes)


def count(model: nn.Module, input_size) -> FlopReport:
    """Count OPs and memory of ``model`` on one input of ``input_size``.

    Args:
        model: any ``nn.Module``; run once in eval mode (its train/eval mode is restored).
        input_size: ``(C, H, W)`` of positive ints, or an int H for a 3xHxH image.
    """
    input_size = input_shape(input_size)
    rows: list[dict] = []
    seen: set[int] = set()

    def hook(module, args, out):
        inp = args[0]
        macs, n_weights = _layer_macs(module, inp, out)
        binary = bool(getattr(module, "is_binary", False))
        binary_weights = bool(getattr(module, "binary_weights", False))
        first_call = id(module) not in seen
        seen.add(id(module))
        rows.append({
            "layer": names[id(module)],
            "type": type(module).__name__,
            "binary": binary,
            "in_shape": tuple(inp.shape[1:]),
            "out_shape": tuple(out.shape[1:]),
            "groups": getattr(module, "active_groups", getattr(module, "groups", 1)),
            "macs": macs,
            "fp_macs": 0 if binary else macs,
            "binary_macs": macs if binary else 0,
            "weights": n_weights if first_call else 0,
            "memory_bits": (n_weights * (1 if binary_weights else 32)) if first_call else 0,
        })

    names = {id(m): n for n, m in model.named_modules()}
    handles = [m.register_forward_hook(hook) for m in model.modules() if _countable(m)]
    was_training = model.training
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_size), device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    table = pd.DataFrame(rows, columns=["layer", "type", "binary", "in_shape", "out_shape",
                                        "groups", "macs", "fp_macs", "binary_macs", "weights",
                                        "memory_bits"])
    return FlopReport(
        fp_macs=int(table["fp_macs"].sum()),
        binary_macs=int(table["binary_macs"].sum()),
        memory_bits=int(table["memory_bits"].sum()),
        layers=table,
    )


def out_shapes(report: FlopReport) -> dict[str, tuple]:
    """``{layer name: output shape}`` of a counted model (the input of :func:`ops_from_shapes`)."""
    return dict(zip(report.layers["layer"], report.layers["out_shape"], strict=True))


def ops_from_shapes(model: nn.Module, shapes: dict[str, tuple]) -> float | None:
    """OPs of ``model`` computed from its layers' configurations and the output shapes of
    another model of the same spatial layout (``shapes``, from :func:`out_shapes`), without a
    forward pass: ``C_out * H_out * W_out * C_in / groups * k_h * k_w`` per conv,
    ``in * out`` per linear, binary MACs at 1/64 -- the rules of :func:`count`.

    For the models of a supernet, whose genomes change channels and group counts but never the
    spatial sizes, this equals ``count(model, input_size).ops`` (tested on every family) and
    costs a few milliseconds instead of a hooked forward pass. Returns None when ``model`` has
    a layer ``shapes`` does not know, or a layer that counts itself (``active_macs``): then
    call :func:`count`.
    """
    fp = binary = 0
    for name, m in model.named_modules():
        if not _countable(m):
            continue
        if hasattr(m, "active_macs") or name not in shapes:
            return None
        if isinstance(m, nn.Conv2d):
            _, h, w = shapes[name]
            kh, kw = m.kernel_size
            macs = m.out_channels * h * w * (m.in_channels // m.groups) * kh * kw
        else:  # nn.Linear on flat features
            if len(shapes[name]) != 1:
                return None
            macs = m.out_features * m.in_features
        if getattr(m, "is_binary", False):
            binary += macs
        else:
            fp += macs
    return fp + binary * BINARY_MAC_COST
