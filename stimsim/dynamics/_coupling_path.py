"""Pseudo-arclength continuation of the fixed-point equations in the coupling scale lambda.

The branch of solutions of r = T(c + lambda K r) through the uncoupled circuit (lambda = 0, whose
unique solution is r_k = T_k(c_k)) is followed past lambda = 1 (up to :data:`HOMOTOPY_LAMBDA_MAX`):
pseudo-arclength continuation (Keller 1977; Allgower & Georg 2003, ch. 2, 6) in
(u, mu = log lambda), u = log r, with a tangent predictor, a Newton corrector on the bordered
system [H(u, mu) = 0; t . (y - y_pred) = 0] and an adaptive step, so that folds (saddle-nodes in
lambda) are followed round. Every crossing of lambda = 1 is located by Brent's method on the step
length; a path that folds back crosses lambda = 1 several times, one fixed point per crossing.
Log-coupling and log-rates make the arclength metric scale-free.

Branches through fixed points found otherwise (isolas, branches that never reach lambda = 0) are
followed both ways by :func:`complete`, whose extra crossings are further fixed points.

References
----------
E. L. Allgower and K. Georg, *Introduction to Numerical Continuation Methods*, SIAM Classics in
Applied Mathematics 45 (2003).
H. B. Keller, "Numerical solution of bifurcation and nonlinear eigenvalue problems", in
*Applications of Bifurcation Theory*, P. H. Rabinowitz (ed.), Academic Press (1977), 359-384.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ._equations import contains, polished_roots
from ._linalg import solve

#: the coupling-scale path is followed up to this lambda (fixed points are read off at lambda = 1)
HOMOTOPY_LAMBDA_MAX = 10.0
#: most arclength steps along the lambda-path from lambda = 0, and again in total along the
#: branches through the other roots
HOMOTOPY_MAX_STEPS = 2000

# continuation controls (arclength in (u, mu) space: u = log(r / kHz), mu = log lambda)
_H_START = 0.05
_H_MAX = 1.0
_H_MIN = 1e-9
_MAX_TURN_COS = math.cos(0.35)  # largest angle (rad) between successive tangents
_CORRECTOR_ITER = 8
_CORRECTOR_TOL = 1e-11
# rates (kHz) outside which a path is abandoned: beyond them T under/overflows in double precision
_U_LOW = math.log(1e-250)
_U_HIGH = math.log(1e12)


@dataclass(frozen=True)
class CouplingPath:
    """A solution branch of r = T(c + lambda K r) followed in the coupling scale lambda.

    Attributes
    ----------
    lam : ndarray (n,)
        Coupling scale at each accepted point of the path (lam[0] = 0, the uncoupled solution).
    rates_khz : ndarray (n, P)
        Rates on the path, kHz.
    folds : ndarray of int
        Indices i where d(lambda)/ds changes sign between points i and i + 1 (a saddle-node in
        lambda; s is the arclength).
    crossings : ndarray (m, P)
        Rates where the path crosses lambda = 1, kHz, in path order (before Newton polishing).
    termination : str
        Why the path ended: 'lambda_max', 'returned to lambda=0', 'rate bounds' (rates left
        [1e-250, 1e12] kHz), 'max_steps', 'step size' (the corrector failed down to the smallest
        step) or, for branches followed from a fixed point, 'closed loop' (an isola).
    """

    lam: np.ndarray
    rates_khz: np.ndarray
    folds: np.ndarray
    crossings: np.ndarray
    termination: str


def _tangent(Hy, t_prev):
    """Unit tangent of the path (kernel of Hy), oriented so that t . t_prev > 0."""
    n = Hy.shape[1]
    A = np.vstack([Hy, t_prev[None, :]])
    b = np.zeros(n)
    b[-1] = 1.0
    t = solve(A, b)
    if t is None:
        return None
    norm = np.linalg.norm(t)
    if not (np.isfinite(norm) and norm > 0.0):
        return None
    return t / norm


def _correct(eq, y, t, h):
    """Pseudo-arclength corrector from the predictor y + h t on the hyperplane t . (y' - y - h t) = 0.

    Newton on the bordered system [H(y') = 0; t . (y' - y - h t) = 0] (Keller 1977). Returns
    (y', dH/dy at y', iterations) or None when Newton does not contract.
    """
    yp = y + h * t
    yc = yp.copy()
    last = np.inf
    for it in range(1, _CORRECTOR_ITER + 1):
        H, Hy = eq.H_and_jacobian(yc)
        R = np.append(H, t @ (yc - yp))
        if not np.all(np.isfinite(R)) or not np.all(np.isfinite(Hy)):
            return None
        dy = solve(np.vstack([Hy, t[None, :]]), -R)
        if dy is None:
            return None
        size = np.max(np.abs(dy))
        if not np.isfinite(size) or (it > 1 and size > 0.5 * last):
            return None
        yc = yc + dy
        last = size
        if size <= _CORRECTOR_TOL:
            H, Hy = eq.H_and_jacobian(yc)
            if np.all(np.isfinite(H)) and np.max(np.abs(H)) <= 1e-9 and np.all(np.isfinite(Hy)):
                return yc, Hy, it
            return None
    return None


def _hidden_crossing(mu_a, mu_b, dmu_a, dmu_b, length):
    """Whether the cubic Hermite interpolant of mu(s) over a step crosses 0 although both ends lie
    on the same side (a fold close to lambda = 1 stepped over)."""
    tau = np.linspace(0.0, 1.0, 65)
    h00 = 2 * tau**3 - 3 * tau**2 + 1
    h10 = tau**3 - 2 * tau**2 + tau
    h01 = -2 * tau**3 + 3 * tau**2
    h11 = tau**3 - tau**2
    mu = h00 * mu_a + h10 * length * dmu_a + h01 * mu_b + h11 * length * dmu_b
    return bool(np.any((mu >= 0.0) != (mu_a >= 0.0)))


class _NoCorrector(Exception):
    pass


def _locate_crossing(eq, y, t, h, y_new):
    """The path point with lambda = 1 (mu = 0) inside the step from y (tangent t, arclength h):
    Brent's method on the step length, each trial point corrected back onto the path."""

    def mu_at(s):
        res = _correct(eq, y, t, s)
        if res is None:
            raise _NoCorrector
        return res[0][-1]

    if y_new[-1] == 0.0:
        return y_new
    if y[-1] == 0.0:
        return y
    try:
        s = brentq(mu_at, 0.0, h, xtol=1e-14 * h, maxiter=100)
        res = _correct(eq, y, t, s)
        if res is not None:
            return res[0]
    except (_NoCorrector, ValueError, RuntimeError):
        pass
    w = -y[-1] / (y_new[-1] - y[-1])  # fall back on linear interpolation
    return y + w * (y_new - y)


def _mu_floor(eq):
    """log of a coupling scale lambda0 so small that the solution differs from the uncoupled one
    (lambda = 0) by about 1e-3 relative, or None when no such finite scale exists."""
    g0 = eq.slopes(eq.c[None, :])[0] / eq.r0
    spread = float(np.max(g0 * (np.abs(eq.K) @ eq.r0)))
    lam0 = 1e-3 / spread if spread > 1.0 else 1e-3
    return math.log(lam0) if (np.isfinite(lam0) and lam0 > 1e-300) else None


def _start(eq, mu0):
    """The path's first point (u, mu0): Newton at lambda0 = e^mu0 from the uncoupled rates, or None."""
    u = np.log(eq.r0)
    for _ in range(20):
        H, Hy = eq.H_and_jacobian(np.append(u, mu0))
        if not (np.all(np.isfinite(H)) and np.all(np.isfinite(Hy))):
            return None
        if np.max(np.abs(H)) <= 1e-13:
            break
        du = solve(Hy[:, :-1], -H)
        if du is None:
            return None
        u = u + du
    return np.append(u, mu0) if np.max(np.abs(H)) <= 1e-10 else None


def follow(eq, lambda_max=HOMOTOPY_LAMBDA_MAX, max_steps=HOMOTOPY_MAX_STEPS, root=None, direction=1.0):
    """Pseudo-arclength continuation of H(u, mu) = log T(c + e^mu K e^u) - u = 0 (u = log r,
    mu = log lambda); returns a CouplingPath.

    Without ``root``: from the uncoupled solution (lambda -> 0) upwards. With ``root`` (log-rates of
    a fixed point, lambda = 1): along the branch through it, in the direction of increasing
    (``direction`` > 0) or decreasing lambda, stopping also when the branch closes on itself (an
    isola). Continuing in log lambda with log-rates makes the arclength metric scale-free: the path
    is equally well resolved for |K| of 1 or 1e100.
    """
    P = eq.P
    mu_floor = _mu_floor(eq)

    def result(points, folds, crossings, why):
        Y = np.array(points).reshape(-1, P + 1)
        C = np.array(crossings).reshape(-1, P + 1)
        lam, rates = np.exp(Y[:, -1]), np.exp(Y[:, :-1])
        if root is None:
            lam = np.concatenate([[0.0], lam])
            rates = np.concatenate([eq.r0[None, :], rates])
        return CouplingPath(lam=lam, rates_khz=rates, folds=np.array(folds, dtype=int) + (root is None),
                            crossings=np.exp(C[:, :-1]), termination=why)

    if mu_floor is None:
        return result([], [], [], "step size")
    e_mu = np.zeros(P + 1)
    e_mu[-1] = 1.0
    if root is None:
        y = _start(eq, mu_floor)
        if y is None:
            return result([], [], [], "step size")
    else:
        y = np.append(np.asarray(root, dtype=float), 0.0)
    _, Hy = eq.H_and_jacobian(y)
    t = _tangent(Hy, e_mu)
    if t is None:  # a fold exactly at lambda = 1: any generic bordering vector will do
        t = _tangent(Hy, np.random.default_rng(1).standard_normal(P + 1))
    if t is None:
        return result([y], [], [], "step size")
    t = t if direction > 0 else -t
    y_first, mu_max = y.copy(), math.log(lambda_max)
    h = _H_START
    points, folds, crossings = [y], [], []
    termination = "max_steps"
    steps = 0
    while steps < max_steps:
        res = _correct(eq, y, t, h)
        t_new = None
        if res is not None:
            y_new, Hy_new, nit = res
            t_new = _tangent(Hy_new, t)
        ok = (t_new is not None and t_new @ t >= _MAX_TURN_COS
              and np.max(np.abs(y_new - (y + h * t))) <= 0.5 * h)
        if ok and t[-1] * t_new[-1] < 0.0 and (y[-1] >= 0.0) == (y_new[-1] >= 0.0) and h > 1e3 * _H_MIN:
            ok = not _hidden_crossing(y[-1], y_new[-1], t[-1], t_new[-1], np.linalg.norm(y_new - y))
        if not ok:
            h *= 0.5
            if h < _H_MIN:
                termination = "step size"
                break
            continue
        steps += 1
        if (y[-1] >= 0.0) != (y_new[-1] >= 0.0) and not (root is not None and steps == 1):
            crossing = _locate_crossing(eq, y, t, h, y_new)
            if root is not None and np.max(np.abs(crossing - y_first)) <= 1e-6:
                termination = "closed loop"
                break
            crossings.append(crossing)
        if t[-1] * t_new[-1] < 0.0:
            folds.append(len(points) - 1)
        y, t = y_new, t_new
        points.append(y)
        h = min(_H_MAX, h * (1.6 if nit <= 2 else 1.0 if nit <= 4 else 0.6))
        if y[-1] > mu_max and t[-1] > 0.0:
            termination = "lambda_max"
            break
        if y[-1] < mu_floor - 1.0:
            termination = "returned to lambda=0"
            break
        if np.min(y[:-1]) < _U_LOW or np.max(y[:-1]) > _U_HIGH:
            termination = "rate bounds"
            break
    return result(points, folds, crossings, termination)


def _branch_crossings(eq, roots, lambda_max, max_steps):
    """Crossings of lambda = 1 (log-rates (m, P)) on the branches through ``roots`` (log-rates),
    each followed both ways, and the number of steps taken (at most ``max_steps`` in total).

    A fixed point found by a multistart may lie on a branch that never reaches lambda = 0 (an isola,
    or a branch with both ends at large lambda); its other crossings of lambda = 1 are further
    fixed points.
    """
    found, used = [], 0
    for u in roots:
        for direction in (1.0, -1.0):
            if used >= max_steps:
                break
            path = follow(eq, lambda_max=lambda_max, max_steps=max_steps - used, root=u, direction=direction)
            used += len(path.lam) - 1
            found.extend(np.log(path.crossings))
            if path.termination == "closed loop":
                break  # the other direction runs round the same loop
    return np.array(found).reshape(-1, eq.P), used


def path_crossings(eq, lambda_max, max_steps):
    """Log-rates (m, P) where the lambda-path from the uncoupled solution crosses lambda = 1."""
    path = follow(eq, lambda_max=lambda_max, max_steps=max_steps)
    return np.log(path.crossings).reshape(-1, eq.P)


def complete(eq, roots, main, lambda_max, max_steps):
    """Add the lambda = 1 crossings of the branches through roots not on the main lambda-path
    (log-rates ``main``), again for every new root, within ``max_steps`` steps in total."""
    on_main = polished_roots(eq, main)
    budget = int(max_steps)
    todo = [u for u in roots if not contains(on_main, u)]
    while todo and budget > 0:
        U, used = _branch_crossings(eq, todo, lambda_max, budget)
        budget -= used
        todo = [u for u in polished_roots(eq, U) if not contains(roots, u)]
        roots = roots + todo
    return roots

