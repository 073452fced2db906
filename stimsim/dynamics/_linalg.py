"""Small dense linear solves for the equilibrium search (Gaussian elimination compiled by numba).

Gaussian elimination in numba rather than LAPACK: the systems are small ((P + 1) x (P + 1)) and
solved one after another, where a threaded BLAS only adds synchronisation (and, on a loaded
machine, stalls); this keeps the cost predictable and single-threaded.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def _gauss_solve(A, b):
    """Solve A x = b in place by Gaussian elimination with partial pivoting (A, b overwritten).

    Returns False (x undefined) when a pivot is zero or not finite.
    """
    m = A.shape[0]
    for k in range(m):
        p = k
        amax = abs(A[k, k])
        for i in range(k + 1, m):
            v = abs(A[i, k])
            if v > amax:
                amax = v
                p = i
        if not (amax > 0.0) or not np.isfinite(amax):
            return False
        if p != k:
            for j in range(k, m):
                tmp = A[k, j]
                A[k, j] = A[p, j]
                A[p, j] = tmp
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
        inv = 1.0 / A[k, k]
        for i in range(k + 1, m):
            f = A[i, k] * inv
            if f != 0.0:
                for j in range(k + 1, m):
                    A[i, j] -= f * A[k, j]
                b[i] -= f * b[k]
    for k in range(m - 1, -1, -1):
        acc = b[k]
        for j in range(k + 1, m):
            acc -= A[k, j] * b[j]
        b[k] = acc / A[k, k]
        if not np.isfinite(b[k]):
            return False
    return True


@numba.njit(cache=True, error_model="numpy")
def _solve_stack(A, B):
    """X[i] = A[i]^-1 B[i] for (n, m, m) and (n, m); rows with a singular system are NaN."""
    n, m = B.shape
    X = np.full((n, m), np.nan)
    for i in range(n):
        a = A[i].copy()
        b = B[i].copy()
        if _gauss_solve(a, b):
            X[i] = b
    return X


def solve(A, b):
    """x = A^-1 b for one system, or None when A is singular or not finite."""
    x = _solve_stack(np.ascontiguousarray(A, dtype=float)[None], np.ascontiguousarray(b, dtype=float)[None])[0]
    return x if np.all(np.isfinite(x)) else None


def solve_many(J, b):
    """Solve J[i] d[i] = b[i] for every i; rows with a singular or non-finite system get NaN."""
    return _solve_stack(np.ascontiguousarray(J, dtype=float), np.ascontiguousarray(b, dtype=float))
