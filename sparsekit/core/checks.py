"""Checks of single values, each failing with one `SparsekitError` line that names the setting,
what was given and what is accepted. Settings (`TrainConfig`, `Recipe`) and mask options use
them, so the same mistake reads the same wherever it is made.
"""
import math
import typing
from typing import Any, Optional

from .errors import SparsekitError


def boolean(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise SparsekitError(f"{name} must be True or False (CLI and options: true/false), got {value!r}")
    return value


def text(name: str, value) -> str:
    if not isinstance(value, str):
        raise SparsekitError(f"{name} must be text, got {value!r} ({type(value).__name__})")
    return value


def whole_number(name: str, value, minimum: Optional[int] = None, maximum: Optional[int] = None,
                 accepted: Optional[str] = None) -> int:
    """An int (not a bool, not 1.5) in [minimum, maximum]."""
    if accepted is None:
        accepted = (f"in [{minimum}, {maximum}]" if maximum is not None else
                    f">= {minimum}" if minimum is not None else "")
    if isinstance(value, bool) or not isinstance(value, int) or \
            (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SparsekitError(f"{name} must be a whole number {accepted}, got {value!r}".replace("  ", " "))
    return value


def finite_number(name: str, value, low: float = -math.inf, high: float = math.inf, low_open: bool = False,
                  high_open: bool = False) -> float:
    """An int or float, finite, in the interval given by low/high (open or closed at each end)."""
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    interval = f"{left}{low:g}, {high:g}{right}".replace("inf", "infinity")
    if low == 0 and low_open and high == math.inf:
        interval += ", i.e. positive"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SparsekitError(f"{name} must be a finite number in {interval}, got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        raise SparsekitError(f"{name} must be in {interval}, got {value!r}")
    return value


def of_type(name: str, value, kind) -> Any:
    """`value` checked against a declared field type: bool, int, float, str, or Optional[...]."""
    if typing.get_origin(kind) is typing.Union:
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        return None if value is None else of_type(name, value, options[0])
    if kind is bool:
        return boolean(name, value)
    if kind is int:
        return whole_number(name, value)
    if kind is float:
        return finite_number(name, value)
    if kind is str:
        return text(name, value)
    return value
