"""Exceptions and input checks shared by every layer.

Two kinds of failure are told apart everywhere:

* :class:`InputError` (a ``ValueError``): the user gave something that cannot be used (an argument,
  a parameter, a file, an output folder). The command line prints it as one line
  ``stimsim: error: ...`` and exits with code 2. The ``check_*`` helpers below raise it.
* :class:`SimulationDiverged` (a ``FloatingPointError``): a valid computation left the finite numbers;
  also reported in one line with exit code 2 (the parameters or the step are to blame).

Any other exception is an internal error (a bug): the command line shows its traceback and exits
with code 1.
"""
from __future__ import annotations

import difflib
import math
import numbers


class InputError(ValueError):
    """Bad user input (argument, parameter, protocol file, output folder); the message says what and why."""


class SimulationDiverged(FloatingPointError):
    """A trajectory left the finite numbers; the message says when and where."""


def closest(name, allowed):
    """A ' (did you mean X?)' hint for a misspelt name, or ''."""
    match = difflib.get_close_matches(str(name), [str(a) for a in allowed], n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def unknown_name_error(kind, name, allowed):
    """An :class:`InputError` naming the unknown ``name``, the closest allowed one and all allowed."""
    allowed = sorted(str(a) for a in allowed)
    return InputError(f"unknown {kind} {name!r}{closest(name, allowed)}; allowed: {', '.join(allowed)}")


def _show(value, limit=60):
    """``repr(value)``, shortened to ``limit`` characters for one-line messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _real(name, value):
    """``value`` as a float if it is a real number (not a bool, not a string); else InputError.

    Python and numpy ints and floats (``numbers.Real``) and 0-d real numpy arrays are accepted.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        real = True
    else:
        dtype = getattr(value, "dtype", None)
        real = (getattr(value, "shape", None) == () and dtype is not None and dtype.kind in "iuf")
    if not real:
        raise InputError(f"{name} must be a real number, got {_show(value)}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name} must be a real number representable as a float, got {_show(value)}") from None


def check_finite(name, value):
    """``value`` as a finite float; :class:`InputError` for non-numbers (strings, bools), NaN or inf."""
    v = _real(name, value)
    if not math.isfinite(v):
        raise InputError(f"{name} must be finite, got {_show(value)}")
    return v


def check_positive(name, value, unit=""):
    """``value`` as a finite float > 0; :class:`InputError` otherwise."""
    v = check_finite(name, value)
    if v <= 0.0:
        raise InputError(f"{name} must be > 0{(' ' + unit) if unit else ''}, got {_show(value)}")
    return v


def check_nonnegative(name, value, unit=""):
    """``value`` as a finite float >= 0; :class:`InputError` otherwise."""
    v = check_finite(name, value)
    if v < 0.0:
        raise InputError(f"{name} must be >= 0{(' ' + unit) if unit else ''}, got {_show(value)}")
    return v


def check_positive_int(name, value):
    """``value`` as an int >= 1 (Python or numpy integers, not bools); :class:`InputError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) and not (
        hasattr(value, "__index__") and not isinstance(value, (str, bytes))
    ):
        raise InputError(f"{name} must be a positive integer, got {_show(value)}")
    v = int(value.__index__())
    if v < 1:
        raise InputError(f"{name} must be a positive integer, got {_show(value)}")
    return v


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM (the CLI handles it like Ctrl-C)."""
