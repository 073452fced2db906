"""Method "exhaustive" of the equilibrium search: every fixed point of a small circuit.

P = 1: every sign change of g(r) = T(c + K r) - r is bracketed on a log-spaced grid of rates up to
an upper bound and refined by Brent's method (Brent 1973); one root when K <= 0.
P >= 2: damped Newton in log-rates, vectorised over a log-spaced grid of about max(800, 3^P)
starts over each population's rate range plus :data:`EXHAUSTIVE_RANDOM_STARTS` random starts.
Both are joined with the crossings of the coupling-scale path and of the branches through the
roots found (:mod:`~stimsim.dynamics._coupling_path`). Cost grows like 3^P.

References
----------
R. P. Brent, *Algorithms for Minimization without Derivatives*, Prentice-Hall (1973), ch. 4.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from ._coupling_path import complete, path_crossings
from ._equations import distinct, finish, polished_roots
from ._linalg import solve_many

#: largest P for which method="auto" uses the exhaustive multistart search (cost grows like 3^P)
EXHAUSTIVE_MAX_POPULATIONS = 4
#: largest P "exhaustive" accepts at all (its start grid has about max(800, 3^P) points: ~35 s at 10)
EXHAUSTIVE_HARD_LIMIT = 10
#: seeded random Newton starts added to the start grid (method "exhaustive", P >= 2)
EXHAUSTIVE_RANDOM_STARTS = 400


# --- exhaustive: P = 1 ----------------------------------------------------------------------------
def _candidates_1d(eq):
    """Brackets every sign change of g(r) = T(c + K r) - r on [0, r_hi] and refines it (Brent)."""
    c, K = float(eq.c[0]), float(eq.K[0, 0])

    def g_many(r):
        r = np.asarray(r, dtype=float)
        return eq.rates((c + K * r)[:, None])[:, 0] - r

    def g(r):
        return float(g_many(np.array([r]))[0])

    def refine(a, b):
        try:
            return brentq(g, a, b, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
        except (ValueError, RuntimeError):
            return 0.5 * (a + b)

    if K <= 0.0:
        # g decreases from g(0) = T(c) > 0 to g(T(c)) <= 0: exactly one root
        hi = float(eq.r0[0])
        ghi = g(hi)
        if ghi == 0.0:
            return [hi], ""
        if not ghi < 0.0:
            return [], "the transfer function is not finite at the rates of interest"
        return [refine(0.0, hi)], ""
    if eq.qif[0]:
        doubling = 2.0 ** np.arange(0, 41)  # 1 kHz ... 1.1e12 kHz
        gd = g_many(doubling)
        below = np.flatnonzero(gd < 0.0)
        if below.size == 0:
            return [], (f"the self-coupling K = tau_m J = {K:g} overflows the rates "
                        "(T(c + K r) > r up to r = 1e12 kHz)")
        hi = float(doubling[below[0]])
    else:
        hi = 1.01 * float(eq.scale[0])
    grid = np.concatenate([[0.0], np.geomspace(1e-12, hi, 4000)])
    vals = g_many(grid)
    roots = []
    for a, b, ga, gb in zip(grid[:-1], grid[1:], vals[:-1], vals[1:]):
        if not (np.isfinite(ga) and np.isfinite(gb)):
            continue
        if ga == 0.0 and a > 0.0:
            roots.append(a)
        elif ga * gb < 0.0:
            roots.append(refine(a, b))
    return roots, ""


def exhaustive_1d(eq, lambda_max, max_steps):
    """Every fixed-point rate (n, 1) of a one-population circuit, kHz (bracketing scan, see module docstring)."""
    roots, detail = _candidates_1d(eq)
    roots = [r for r in roots if r > 0.0]
    U = np.log(np.array(roots, dtype=float)).reshape(-1, 1)
    if eq.K[0, 0] > 0.0:  # the scan stops at 1e12 kHz and may merge roots closer than its grid step
        U = np.concatenate([U, path_crossings(eq, lambda_max, max_steps)])
    return finish(eq, polished_roots(eq, U), detail or "the root lies where the transfer function under- or overflows")


# --- exhaustive: P >= 2 ---------------------------------------------------------------------------
def exhaustive_nd(eq, n_random, seed, lambda_max, max_steps):
    """Multi-start damped Newton in log-rates, vectorised over starts (a log-spaced grid of about
    max(800, 3^P) starts plus ``n_random`` random ones), joined with the lambda-path crossings."""
    P = eq.P
    rng = np.random.default_rng(seed)
    per_dim = max(3, int(round(800 ** (1.0 / P))))
    axes = [np.geomspace(1e-7, 2.0 * s, per_dim) for s in eq.scale]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, P)
    rand = np.exp(rng.uniform(np.log(1e-8), np.log(10.0), size=(n_random, P)))
    u = np.log(np.concatenate([grid, rand]))
    eye = np.eye(P)
    for _ in range(200):
        r = np.exp(u)
        x = eq.c + r @ eq.K.T
        F = eq.rates(x) - r
        # dF/du = (diag(T') K - I) diag(r)
        Jf = (eq.slopes(x)[:, :, None] * eq.K[None] - eye[None]) * r[:, None, :]
        du = solve_many(Jf, -F)
        u = u + np.clip(np.nan_to_num(du, nan=0.0, posinf=0.0, neginf=0.0), -2.0, 2.0)
    u = u[eq.residual(u) <= 1e-6]
    main = path_crossings(eq, lambda_max, max_steps)
    roots = polished_roots(eq, np.concatenate([np.array(distinct(u)).reshape(-1, P), main]))
    return finish(eq, complete(eq, roots, main, lambda_max, max_steps))
