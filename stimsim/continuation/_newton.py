"""Newton's method for the (augmented) systems of the continuation code."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._system import OutsideDomain

#: converged when the Newton step is below this, relative to 1 + |X| (max norm)
NEWTON_TOL = 1e-11
#: converged when the residual's max norm is below this (1/ms)
RESIDUAL_TOL = 1e-10
MAX_ITER = 12


@dataclass
class NewtonResult:
    X: np.ndarray
    converged: bool
    iterations: int
    residual: float


def newton(G, JG, X0, tol=NEWTON_TOL, residual_tol=RESIDUAL_TOL, max_iter=MAX_ITER):
    """Solve G(X) = 0 from X0 with Jacobian JG; never raises on a singular or diverging iteration.

    Converged when both the step and the residual are small (max norms); the result's
    ``converged`` is False otherwise (the caller shortens its step or reports the failure).
    """
    X = np.array(X0, dtype=float)
    res = np.inf
    try:
        return _iterate(G, JG, X, tol, residual_tol, max_iter)
    except OutsideDomain:                    # the iterate asked for an inadmissible parameter value
        return NewtonResult(X, False, 0, res)


def _iterate(G, JG, X, tol, residual_tol, max_iter):
    res = np.inf
    for it in range(1, max_iter + 1):
        g = G(X)
        res = float(np.max(np.abs(g)))
        if not np.isfinite(res):
            return NewtonResult(X, False, it, res)
        try:
            dX = np.linalg.solve(JG(X), -g)
        except np.linalg.LinAlgError:
            return NewtonResult(X, False, it, res)
        if not np.all(np.isfinite(dX)):
            return NewtonResult(X, False, it, res)
        X = X + dX
        if np.max(np.abs(dX)) <= tol * (1.0 + np.max(np.abs(X))):
            res = float(np.max(np.abs(G(X))))
            return NewtonResult(X, bool(res <= residual_tol), it, res)
    return NewtonResult(X, False, max_iter, res)


def null_vector(A):
    """Unit vector v with A v ~ 0 (right singular vector of the smallest singular value)."""
    _, _, vh = np.linalg.svd(A)
    return vh[-1].conj()
