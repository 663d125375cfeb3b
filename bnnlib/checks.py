"""Type and range checks of user input, shared by every module (torch-free).

Python counts ``True`` as the int 1 and a string as a sequence; a check here refuses both, so a
``groups=True`` or an ``epochs: "3"`` is an error naming the value instead of a silently wrong
run. Errors name the argument, the value and what would be valid.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any


def is_int(value: Any) -> bool:
    """True for ints (numpy ints included) but not bools, which Python counts as ints."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """True for real numbers (ints, floats, numpy scalars) but not bools or strings."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_scalar(value: Any) -> bool:
    """True for a value that is not a list-like (a str counts as a scalar)."""
    return isinstance(value, (str, bytes)) or not isinstance(value, Iterable)


def is_positive_number(value: Any) -> bool:
    """True for a finite real number > 0 (not a bool, str, inf or nan)."""
    return is_number(value) and math.isfinite(value) and value > 0


def check_int(name: str, value: Any, low: int, what: str = "") -> int:
    """``value`` as an int, or ValueError naming ``name`` unless it is an int >= ``low``
    (``what``: extra words for the message, e.g. ``" (images per class)"``)."""
    if not is_int(value) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}{what}, got {value!r}")
    return int(value)


def check_real(name: str, value: Any, low: float, high: float, *, open_low: bool = False,
               open_high: bool = False) -> float:
    """``value`` as a float, or ValueError naming ``name`` and the interval it must lie in."""
    ok = (is_number(value) and math.isfinite(value)
          and (value > low if open_low else value >= low)
          and (value < high if open_high else value <= high))
    if not ok:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)
