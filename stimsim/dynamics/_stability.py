"""One stability convention for every fixed point stimsim reports (linear stability theory).

An eigenvalue lambda of the Jacobian counts as on the imaginary axis when
``|Re lambda| <= STABILITY_TOL * max(1, max |lambda|)`` (1/ms): eigenvalues computed in floating
point carry errors of that order. A fixed point is *stable* when every eigenvalue has
Re lambda below that band, *unstable* when one lies above it, and *non-hyperbolic* otherwise
(linearisation cannot decide; e.g. exactly at a Hopf or fold point).
"""
from __future__ import annotations

import numpy as np

#: relative width of the band around Re lambda = 0 treated as zero (see module docstring)
STABILITY_TOL = 1e-10


def zero_band(eigenvalues):
    """Half-width (1/ms) of the band of real parts counted as zero for these eigenvalues."""
    ev = np.asarray(eigenvalues)
    return STABILITY_TOL * max(1.0, float(np.max(np.abs(ev))) if ev.size else 1.0)


def n_unstable(eigenvalues):
    """Number of eigenvalues with real part above the zero band."""
    ev = np.asarray(eigenvalues)
    return int(np.sum(ev.real > zero_band(ev)))


def is_stable(eigenvalues):
    """True when every eigenvalue's real part lies below the zero band (asymptotically stable)."""
    ev = np.asarray(eigenvalues)
    return bool(np.all(ev.real < -zero_band(ev)))


def classify(eigenvalues):
    """Stability label of a fixed point from its eigenvalues.

    'stable node' / 'stable focus': every Re lambda < 0, the leading (largest Re) eigenvalue real /
    complex. 'unstable focus': a complex pair with Re lambda > 0 (oscillation onset). 'unstable node':
    all eigenvalues unstable and real; 'saddle': some unstable, all of them real.
    'non-hyperbolic': the leading real part lies inside the zero band (see module docstring).

    Examples
    --------
    >>> classify([-1 + 2j, -1 - 2j, -3])
    'stable focus'
    >>> classify([0.5, -1.0])
    'saddle'
    >>> classify([1e-14j, -1e-14j, -1.0])
    'non-hyperbolic'
    """
    ev = np.asarray(eigenvalues, dtype=complex)
    band = zero_band(ev)
    unstable = ev[ev.real > band]
    if unstable.size == 0:
        lead = ev[np.argmax(ev.real)]
        if lead.real >= -band:
            return "non-hyperbolic"
        return "stable focus" if abs(lead.imag) > band else "stable node"
    if np.any(np.abs(unstable.imag) > band):
        return "unstable focus"
    return "unstable node" if unstable.size == ev.size else "saddle"
