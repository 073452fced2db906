"""Exceptions and input checks shared by every layer."""
from __future__ import annotations

import difflib
import math


class SimulationDiverged(FloatingPointError):
    """A trajectory left the finite numbers; the message says when and where."""


def closest(name, allowed):
    """A ' (did you mean X?)' hint for a misspelt name, or ''."""
    match = difflib.get_close_matches(str(name), [str(a) for a in allowed], n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def unknown_name_error(kind, name, allowed):
    allowed = sorted(str(a) for a in allowed)
    return ValueError(f"unknown {kind} {name!r}{closest(name, allowed)}; allowed: {', '.join(allowed)}")


def check_finite(name, value):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_positive(name, value, unit=""):
    v = check_finite(name, value)
    if v <= 0.0:
        raise ValueError(f"{name} must be > 0{(' ' + unit) if unit else ''}, got {value!r}")
    return v


def check_nonnegative(name, value, unit=""):
    v = check_finite(name, value)
    if v < 0.0:
        raise ValueError(f"{name} must be >= 0{(' ' + unit) if unit else ''}, got {value!r}")
    return v


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        hasattr(value, "__index__")
    ):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    v = int(value)
    if v < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return v
