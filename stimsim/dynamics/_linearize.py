"""Linearisation of a model about a fixed point: Jacobian, eigenvalues, stability."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import models as _models
from ._stability import classify, is_stable


@dataclass(frozen=True)
class Linearization:
    """A model linearised at a fixed point (time in ms).

    Attributes
    ----------
    model : Model
    rates_khz : ndarray (P,)
        Fixed-point rates, kHz.
    state : ndarray (n_state, P)
        The model's state at the fixed point (equations' units).
    A : ndarray (n, n)
        Jacobian d rhs / d y, 1/ms, variable-major (``model.flat_names(circuit)``).
    names : list of str
    eigenvalues : ndarray of complex, 1/ms, sorted by decreasing real part
    """

    model: object
    rates_khz: np.ndarray
    state: np.ndarray
    A: np.ndarray
    names: list
    eigenvalues: np.ndarray

    @property
    def stability(self):
        """Label from :func:`stimsim.dynamics.classify`."""
        return classify(self.eigenvalues)

    @property
    def stable(self):
        return is_stable(self.eigenvalues)

    @property
    def leading(self):
        """The eigenvalue with the largest real part, 1/ms."""
        return self.eigenvalues[0]

    @property
    def slowest_decay_ms(self):
        """1 / |Re lambda| of the least damped mode, ms (inf when not stable)."""
        return 1.0 / abs(self.leading.real) if self.stable else math.inf


def sorted_eigenvalues(A):
    """Eigenvalues of A sorted by decreasing real part, then decreasing imaginary part."""
    ev = np.linalg.eigvals(A)
    return ev[np.lexsort((-ev.imag, -ev.real))]


def linearize(circuit, model, rates_khz):
    """Jacobian and eigenvalues of ``model`` at the fixed point with rates ``rates_khz`` (kHz).

    Examples
    --------
    >>> import stimsim
    >>> c = stimsim.preset("pyramidal")
    >>> r = stimsim.dynamics.find_fixed_points(c)[0]
    >>> stimsim.dynamics.linearize(c, "nmm2", r).stability
    'stable focus'
    """
    model = _models.get(model)
    model.check_supports(circuit)
    r = np.asarray(rates_khz, dtype=float)
    y = model.state_at_rates(circuit, r)
    A = model.jacobian(circuit, y)
    return Linearization(model=model, rates_khz=r, state=y, A=A, names=model.flat_names(circuit),
                         eigenvalues=sorted_eigenvalues(A))
