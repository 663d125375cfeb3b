"""Helpers shared by the model families: per-layer gene lists, widths, argument validation.

Bad arguments raise ``ValueError`` naming the value, the parameter (and the gene or layer it
applies to) and what would be valid, before any layer is built: a wrong type would otherwise
surface as a TypeError deep inside torch, an OverflowError, or a silently wrong model.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..checks import is_int, is_number, is_positive_number, is_scalar
from ..layers import QuantConv2d


def divisors(n: int) -> list[int]:
    """All positive divisors of ``n``, ascending."""
    return [d for d in range(1, n + 1) if n % d == 0]


def positive_int(name: str, value, where: str) -> int:
    """``value`` as an int, or ValueError naming ``where``, ``name`` and ``value``."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return int(value)


def positive_number(name: str, value, where: str) -> float:
    """``value`` as a float, or ValueError unless it is a finite number > 0."""
    if not is_positive_number(value):
        raise ValueError(f"{where}: {name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_model_args(model: str, num_classes, in_channels, width_mult) -> None:
    """Validate the keywords every family takes (see ``bnnlib.models``)."""
    positive_int("num_classes", num_classes, model)
    positive_int("in_channels", in_channels, model)
    positive_number("width_mult", width_mult, model)


def per_gene(value, gene_names: Sequence[str], what: str, model: str, check=None) -> list:
    """Expand a scalar to one value per gene, or check a list has one value per gene.

    ``check(what, value, where)``, if given, validates (and converts) each value, with
    ``where`` naming the model and the gene. A str is a scalar here (not 3 one-letter genes).
    Raises ValueError naming the expected length and what each position controls.
    """
    n = len(gene_names)
    values = [value] * n if is_scalar(value) else list(value)
    if len(values) != n:
        positions = "\n".join(f"  [{i}] {g}" for i, g in enumerate(gene_names))
        raise ValueError(
            f"{model}: {what} needs {n} values (or one scalar), got {len(values)}. "
            f"Position i controls:\n{positions}"
        )
    if check is None:
        return values
    return [check(what, v, f"{model} {g}") for v, g in zip(values, gene_names, strict=True)]


def scaled_width(base: int, ratio: float, what: str, name: str = "expansion") -> int:
    """``round(base * ratio)``, at least 1; ``ratio`` (called ``name``) must be finite, > 0."""
    ratio = positive_number(name, ratio, what)
    return max(1, int(round(base * ratio)))


def check_groups(groups: int, channels: Sequence[int], layer: str, what: str = "groups") -> int:
    """``groups`` as an int; it must be a positive int dividing every count in ``channels``.

    ``channels`` are the conv's in (and out) channels, ``what`` the keyword that set it.
    """
    if is_int(groups) and groups >= 1 and all(c % groups == 0 for c in channels):
        return int(groups)
    valid = [d for d in divisors(channels[0]) if all(ch % d == 0 for ch in channels)]
    counts = " and ".join(map(str, channels))
    raise ValueError(f"{layer}: {what}={groups!r} is not a positive int dividing its {counts} "
                     f"channels; valid divisors: {valid}")


def json_value(value, key: str):
    """``value`` as plain JSON (lists, python scalars), for ``build_kwargs`` fingerprints."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if is_int(value):
        return int(value)
    if is_number(value):
        return float(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return json_value(value.tolist(), key)
    if isinstance(value, (list, tuple)):
        return [json_value(v, key) for v in value]
    raise ValueError(f"keyword {key}={value!r} is not a plain JSON value (a number, str, bool, "
                     f"None or a list of them), which build_kwargs needs")


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
