"""Method "homotopy" of the equilibrium search: the coupling-scale path plus seeded random starts.

1. The crossings of lambda = 1 on the path from the uncoupled circuit
   (:mod:`~stimsim.dynamics._coupling_path`).
2. :data:`HOMOTOPY_RANDOM_STARTS` seeded random starts, each used as it is and after relaxation
   along the rate flow dr/dt = T(c + K r) - r (which drifts towards attractors), refined by damped
   Newton with backtracking, vectorised over starts.
3. The branches through every fixed point not on the first path, followed both ways, and their
   crossings of lambda = 1, repeated for new roots.

Scales to P of a few hundred but is NOT guaranteed to be exhaustive: P weakly coupled bistable
units can have up to 3^P fixed points, and only those on the followed branches or in the basin of
a start are found.
"""
from __future__ import annotations

import numpy as np

from ._coupling_path import complete, path_crossings
from ._equations import finish, polished_roots
from ._linalg import solve_many

#: seeded random starts that supplement the lambda-path (method "homotopy"); each is used twice
HOMOTOPY_RANDOM_STARTS = 32
# damped fixed-point iterations applied to half of the random starts (see _relax)
_RELAX_STEPS = 200


def _relax(eq, U, steps=_RELAX_STEPS, alpha=0.5):
    """``steps`` damped fixed-point iterations r <- (1 - alpha) r + alpha T(c + K r) from log-rates U.

    This is forward Euler (step alpha) on the first-order rate model dr/dt = T(c + K r) - r, which
    has the same fixed points; starts drift towards its attractors. Rates stay positive.
    """
    R = np.exp(U)
    for _ in range(steps):
        R_new = (1.0 - alpha) * R + alpha * eq.rates(eq.c + R @ eq.K.T)
        R = np.where(np.isfinite(R_new) & (R_new > 0.0), R_new, R)
    return np.log(R)


def _multistart(eq, n_starts, seed, iters=60):
    """Seeded random log-uniform starts (plus an all-low and an all-high start), each used twice:
    as it is and after relaxation along the rate flow (:func:`_relax`); refined by damped Newton on
    G(u) = 0 with backtracking, vectorised over starts. Returns the converged log-rates."""
    if n_starts <= 0:
        return np.zeros((0, eq.P))
    rng = np.random.default_rng(seed)
    lo = np.log(1e-5 * eq.scale)
    hi = np.log(0.5 * eq.scale)
    U = rng.uniform(lo, hi, size=(n_starts, eq.P))
    U = np.concatenate([lo[None, :], hi[None, :], U])
    U = np.concatenate([U, _relax(eq, U)])
    done = []
    for _ in range(iters):
        if U.shape[0] == 0:
            break
        G, J = eq.G_and_jacobian(U)
        f = np.sum(G * G, axis=1)
        finite = np.isfinite(f)
        conv = finite & (np.max(np.abs(np.where(np.isfinite(G), G, np.inf)), axis=1) <= 1e-10)
        done.append(U[conv])
        keep = finite & ~conv
        U, G, J, f = U[keep], G[keep], J[keep], f[keep]
        if U.shape[0] == 0:
            break
        du = solve_many(J, -G)
        alive = np.all(np.isfinite(du), axis=1)
        U, du, f = U[alive], du[alive], f[alive]
        size = np.max(np.abs(du), axis=1)
        du *= np.minimum(1.0, 2.0 / np.where(size > 0, size, 1.0))[:, None]
        alpha = np.ones(U.shape[0])
        pending = np.ones(U.shape[0], dtype=bool)
        for _ in range(6):  # backtracking on |G|^2
            idx = np.flatnonzero(pending)
            if idx.size == 0:
                break
            Gt, _ = eq.G_and_jacobian(U[idx] + alpha[idx, None] * du[idx], jacobian=False)
            ft = np.sum(Gt * Gt, axis=1)
            good = np.isfinite(ft) & (ft <= (1.0 - 1e-4 * alpha[idx]) * f[idx])
            pending[idx[good]] = False
            alpha[idx[~good]] *= 0.5
        U = U + alpha[:, None] * du
    return np.concatenate(done) if done else np.zeros((0, eq.P))


def homotopy(eq, n_starts, seed, lambda_max, max_steps):
    """Fixed-point rates (n, P) in kHz found by steps 1-3 of the module docstring, or raise."""
    main = path_crossings(eq, lambda_max, max_steps)
    roots = polished_roots(eq, np.concatenate([main, _multistart(eq, n_starts, seed)]))
    return finish(eq, complete(eq, roots, main, lambda_max, max_steps))
