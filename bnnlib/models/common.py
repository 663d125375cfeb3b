"""Helpers shared by the model families: per-layer gene lists, widths, group validation."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..layers import QuantConv2d


def divisors(n: int) -> list[int]:
    """All positive divisors of ``n``, ascending."""
    return [d for d in range(1, n + 1) if n % d == 0]


def per_gene(value, gene_names: Sequence[str], what: str, model: str) -> list:
    """Expand a scalar to one value per gene, or check a list has one value per gene.

    Raises ValueError naming the expected length and what each position controls.
    """
    n = len(gene_names)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value] * n
    values = list(value)
    if len(values) != n:
        positions = "\n".join(f"  [{i}] {g}" for i, g in enumerate(gene_names))
        raise ValueError(
            f"{model}: {what} needs {n} values (or one scalar), got {len(values)}. "
            f"Position i controls:\n{positions}"
        )
    return values


def scaled_width(base: int, ratio: float, what: str) -> int:
    """``round(base * ratio)``, at least 1; rejects non-positive ratios."""
    if not ratio > 0:
        raise ValueError(f"{what}: expansion ratio must be > 0, got {ratio!r}")
    return max(1, int(round(base * ratio)))


def check_groups(groups: int, channels: Sequence[int], layer: str) -> int:
    """Check ``groups`` divides every channel count in ``channels`` (a conv's in and out)."""
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{layer}: groups must be a positive int, got {groups!r}")
    for c in channels:
        if c % groups:
            valid = [d for d in divisors(channels[0]) if all(ch % d == 0 for ch in channels)]
            raise ValueError(
                f"{layer}: groups={groups} does not divide its {c} channels "
                f"(channels {tuple(channels)}); valid divisors: {valid}"
            )
    return groups


def binary_conv(binary: bool, in_ch: int, out_ch: int, kernel: int, stride: int = 1,
                padding: int = 0, groups: int = 1, input_quantizer: str = "approx_sign",
                kernel_quantizer: str = "xnor") -> QuantConv2d:
    """A searchable-layer conv: binary, or its real-valued twin (ReLU pre-activation)."""
    if binary:
        return QuantConv2d(in_ch, out_ch, kernel, stride, padding, groups,
                           input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer)
    return QuantConv2d(in_ch, out_ch, kernel, stride, padding, groups,
                       input_quantizer="relu", kernel_quantizer=None)


def head(binary: bool, in_features: int, num_classes: int, pool: nn.Module) -> nn.Sequential:
    """Real-valued classifier: (ReLU for real twins) -> pool -> flatten -> FC."""
    layers = [] if binary else [nn.ReLU()]
    return nn.Sequential(*layers, pool, nn.Flatten(), nn.Linear(in_features, num_classes))
