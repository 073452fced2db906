"""Equilibrium (fixed-point) rates of a circuit, shared by NMM2 and NMM1 (docs/models.md, M3-M5).

At a fixed point of either model s = r, z = 0 (and, for NMM2, v = v*(r)), so the rates r (kHz)
solve the P equations

    r_k = T_k(x_k),    x_k = eta_bar_k + I_k + sum_l K[k, l] r_l,

with T_k the QIF transfer function Phi (M3) or the Jansen-Rit sigmoid (M4), and
K = ``Circuit.effective_coupling`` (tau_m J for QIF targets, J in mV/kHz for sigmoid targets).

Every search works in log-rates u = log r (r in kHz), so QIF rates stay positive and sigmoid rates
in (0, 2 e0), and solves

    G(u) = log T(c + K e^u) - u = 0,    c = eta_bar + I,

whose Jacobian dG/du = diag(T'/T) K diag(r) - 1 is well scaled (T'/T = 1 / (2 sqrt(x^2 + Delta^2))
for QIF, r0 (1 - S / 2 e0) for the sigmoid). A root is returned only after Newton's method has
brought its relative residual max_k |T_k(x_k) - r_k| / r_k to at most :data:`RESIDUAL_RTOL`; roots
whose rates all agree to :data:`DISTINCT_RTOL` are one root.

Methods (:func:`find_equilibrium_rates`)
----------------------------------------
``"homotopy"`` (any P; ``"auto"`` above :data:`EXHAUSTIVE_MAX_POPULATIONS`)
    1. Continuation in the coupling scale lambda (K -> lambda K) from the uncoupled circuit, whose
       unique solution is r_k = T_k(c_k), past lambda = 1 (up to :data:`HOMOTOPY_LAMBDA_MAX`):
       pseudo-arclength continuation (Keller 1977; Allgower & Georg 2003, ch. 2, 6) in
       (u, mu = log lambda) with a tangent predictor, a Newton corrector on the bordered system
       [H(u, mu) = 0; t . (y - y_pred) = 0] and an adaptive step, so that folds (saddle-nodes in
       lambda) are followed round. Every crossing of lambda = 1 is located by Brent's method on the
       step length and polished; a path that folds back crosses lambda = 1 several times, one fixed
       point per crossing. Log-coupling and log-rates make the arclength metric scale-free.
    2. A bounded number (:data:`HOMOTOPY_RANDOM_STARTS`) of seeded random starts, each used as it is
       and after relaxation along the rate flow dr/dt = T(c + K r) - r (which drifts towards
       attractors), refined by damped Newton with backtracking, vectorised over starts.
    3. The branch (in lambda) through every fixed point not on the first path is followed both ways
       and its crossings of lambda = 1 are added (isolas and branches that never reach lambda = 0,
       e.g. the low-activity pair of Jansen-Rit), repeated for new roots.
    Steps 1 and 3 each take at most ``max_steps`` arclength steps. For large P the search is NOT
    guaranteed to be exhaustive: P weakly coupled bistable units can have up to 3^P fixed points,
    and only those on the followed branches or in the basin of a start are found.
``"exhaustive"`` (``"auto"`` for P <= :data:`EXHAUSTIVE_MAX_POPULATIONS`)
    P = 1: every sign change of g(r) = T(c + K r) - r is bracketed on a log-spaced grid of rates up
    to an upper bound and refined by Brent's method (Brent 1973); one root when K <= 0.
    P >= 2: damped Newton in log-rates, vectorised over a log-spaced grid of about max(800, 3^P)
    starts over each population's rate range plus :data:`EXHAUSTIVE_RANDOM_STARTS` random starts.
    Both are joined with steps 1 and 3 above. Cost grows like 3^P.

Inputs that leave double precision (an overflowing eta_bar + I or tau_m J, a transfer function that
is infinite or zero at the uncoupled input, couplings so large that no root has finite nonzero
rates) raise ``ValueError`` with a one-line message; no floating-point warning escapes.

References
----------
E. L. Allgower and K. Georg, *Introduction to Numerical Continuation Methods*, SIAM Classics in
Applied Mathematics 45 (2003).
H. B. Keller, "Numerical solution of bifurcation and nonlinear eigenvalue problems", in
*Applications of Bifurcation Theory*, P. H. Rabinowitz (ed.), Academic Press (1977), 359-384.
R. P. Brent, *Algorithms for Minimization without Derivatives*, Prentice-Hall (1973), ch. 4.
E. Montbrió, D. Pazó and A. Roxin, *Phys. Rev. X* 5, 021028 (2015) (the transfer function Phi).
B. H. Jansen and V. G. Rit, *Biol. Cybern.* 73, 357-366 (1995) (the sigmoid).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy.optimize import brentq

from ..circuit import Circuit
from ..errors import check_finite, check_positive_int, unknown_name_error
from ..transfer import rates_many, slopes_many

#: largest P for which method="auto" uses the exhaustive multistart search (cost grows like 3^P)
EXHAUSTIVE_MAX_POPULATIONS = 4
#: largest P "exhaustive" accepts at all (its start grid has about max(800, 3^P) points: ~35 s at 10)
EXHAUSTIVE_HARD_LIMIT = 10
#: accepted roots satisfy max_k |T_k(x_k) - r_k| / r_k <= RESIDUAL_RTOL
RESIDUAL_RTOL = 1e-12
#: two roots are the same fixed point when every rate agrees to this relative tolerance
DISTINCT_RTOL = 1e-7
#: the coupling-scale path is followed up to this lambda (fixed points are read off at lambda = 1)
HOMOTOPY_LAMBDA_MAX = 10.0
#: most arclength steps along the lambda-path from lambda = 0, and again in total along the
#: branches through the other roots
HOMOTOPY_MAX_STEPS = 2000
#: seeded random starts that supplement the lambda-path (method "homotopy"); each is used twice
HOMOTOPY_RANDOM_STARTS = 32
#: seeded random Newton starts added to the start grid (method "exhaustive", P >= 2)
EXHAUSTIVE_RANDOM_STARTS = 400
METHODS = ("auto", "exhaustive", "homotopy")

# continuation controls (arclength in (u, mu) space: u = log(r / kHz), mu = log lambda)
_H_START = 0.05
_H_MAX = 1.0
_H_MIN = 1e-9
_MAX_TURN_COS = math.cos(0.35)  # largest angle (rad) between successive tangents
_CORRECTOR_ITER = 8
_CORRECTOR_TOL = 1e-11
# damped fixed-point iterations applied to half of the random starts (see _relax)
_RELAX_STEPS = 200
# rates (kHz) outside which a path is abandoned: beyond them T under/overflows in double precision
_U_LOW = math.log(1e-250)
_U_HIGH = math.log(1e12)


class _Equations:
    """r = T(c + lambda K r) for one circuit, with the input checks shared by every method."""

    def __init__(self, circuit):
        self.name = getattr(circuit, "name", "circuit")
        self.names = list(circuit.names)
        self.P = circuit.n_populations
        with np.errstate(all="ignore"):
            eta, inp = circuit.vector("eta_bar"), circuit.vector("I")
            self.c = eta + inp
            self.K = np.array(circuit.effective_coupling, dtype=float)
        for k in np.flatnonzero(~np.isfinite(self.c)):
            raise ValueError(
                f"no fixed point found: eta_bar + I of population {self.names[k]!r} "
                f"({eta[k]:g} + {inp[k]:g}) overflows")
        bad = np.argwhere(~np.isfinite(self.K))
        if bad.size:
            k, l = bad[0]
            raise ValueError(
                f"no fixed point found: the coupling J[{self.names[k]!r}, {self.names[l]!r}] = "
                f"{circuit.J[k, l]:g} overflows once scaled by tau_m (tau_m J = {self.K[k, l]:g})")
        self.params = tuple(np.ascontiguousarray(a) for a in circuit.transfer_parameters())
        self.qif = self.params[0] == 0
        #: per-population plausible rate ceiling (kHz) for placing starts: 1 kHz QIF, 2 e0 sigmoid
        self.scale = np.where(self.qif, 1.0, self.params[1])
        self.r0 = self.rates(self.c[None, :])[0]
        for k in range(self.P):
            if not (np.isfinite(self.r0[k]) and self.r0[k] > 0.0):
                what = "overflows" if not np.isfinite(self.r0[k]) else "underflows to a zero rate"
                raise ValueError(
                    f"no fixed point found: the transfer function of population {self.names[k]!r} "
                    f"{what} at its input eta_bar + I = {self.c[k]:g}")

    # --- transfer functions, (n, P) in and out ------------------------------------------------
    def rates(self, x):
        return rates_many(*self.params, np.ascontiguousarray(x, dtype=float))

    def slopes(self, x):
        return slopes_many(*self.params, np.ascontiguousarray(x, dtype=float))

    def residual(self, U, lam=1.0):
        """Relative residual max_k |T_k(x_k) - r_k| / r_k of rows of log-rates U (n, P)."""
        R = np.exp(U)
        T = self.rates(self.c + lam * (R @ self.K.T))
        rel = np.max(np.abs(T - R) / R, axis=1)
        return np.where(np.isfinite(rel), rel, np.inf)

    def G_and_jacobian(self, U, lam=1.0, jacobian=True):
        """G = log T(x) - u and dG/du (n, P, P) for rows of log-rates U (n, P)."""
        R = np.exp(U)
        X = self.c + lam * (R @ self.K.T)
        T = self.rates(X)
        G = np.log(T) - U
        if not jacobian:
            return G, None
        g = self.slopes(X) / T
        J = (g[:, :, None] * (lam * self.K)[None]) * R[:, None, :]
        J[:, np.arange(self.P), np.arange(self.P)] -= 1.0
        return G, J

    def H_and_jacobian(self, y):
        """H(u, mu) = log T(c + e^mu K e^u) - u (P,) and [dH/du | dH/dmu] (P, P + 1).

        ``y`` = (u, mu): log-rates (kHz) and the log of the coupling scale, mu = log lambda.
        """
        u, lam = y[:-1], np.exp(y[-1])  # numpy: inf, not OverflowError, on a wild corrector step
        r = np.exp(u)
        Kr = lam * (self.K @ r)
        x = self.c + Kr
        T = self.rates(x[None, :])[0]
        g = self.slopes(x[None, :])[0] / T
        Hy = np.empty((self.P, self.P + 1))
        Hy[:, :-1] = (g[:, None] * (lam * self.K)) * r[None, :]
        Hy[np.arange(self.P), np.arange(self.P)] -= 1.0
        Hy[:, -1] = g * Kr
        return np.log(T) - u, Hy

    # --- failure messages ----------------------------------------------------------------------
    def failure(self, detail=""):
        """The ValueError raised when no root passes the residual test."""
        if self.K.size and np.max(np.abs(self.K)) > 0.0:
            k, l = np.unravel_index(np.argmax(np.abs(self.K)), self.K.shape)
            kmax = abs(self.K[k, l])
            reach = kmax * float(np.max(np.maximum(self.r0, self.scale)))
            if not np.isfinite(reach) or reach > 1e100:
                return ValueError(
                    f"no fixed point found for circuit {self.name!r}: the coupling "
                    f"J[{self.names[k]!r}, {self.names[l]!r}] (effective {self.K[k, l]:g}) drives the "
                    "inputs beyond the range where the rates are finite and nonzero in double precision")
        why = detail or "Newton's method converged from no start"
        return ValueError(f"no fixed point found for circuit {self.name!r}: {why}")


# --- linear algebra -----------------------------------------------------------------------------
# Gaussian elimination in numba rather than LAPACK: the systems are small ((P + 1) x (P + 1)) and
# solved one after another, where a threaded BLAS only adds synchronisation (and, on a loaded
# machine, stalls); this keeps the cost predictable and single-threaded.
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


def _solve(A, b):
    """x = A^-1 b for one system, or None when A is singular or not finite."""
    x = _solve_stack(np.ascontiguousarray(A, dtype=float)[None], np.ascontiguousarray(b, dtype=float)[None])[0]
    return x if np.all(np.isfinite(x)) else None


def _solve_many(J, b):
    """Solve J[i] d[i] = b[i] for every i; rows with a singular or non-finite system get NaN."""
    return _solve_stack(np.ascontiguousarray(J, dtype=float), np.ascontiguousarray(b, dtype=float))


# --- Newton polishing and deduplication --------------------------------------------------------
def _polish(eq, U, iters=40):
    """Newton on G(u) = 0 at lambda = 1 for rows of log-rates U; returns the accepted roots (m, P).

    Each row keeps its best iterate (smallest relative residual); rows whose best residual exceeds
    :data:`RESIDUAL_RTOL` are dropped.
    """
    U = np.array(U, dtype=float).reshape(-1, eq.P)
    U = U[np.all(np.isfinite(U), axis=1)]
    if U.shape[0] == 0:
        return U
    best_U = U.copy()
    best = eq.residual(U)
    for it in range(iters):
        G, J = eq.G_and_jacobian(U)
        du = _solve_many(J, -G)
        step = np.max(np.abs(du), axis=1)
        du *= np.minimum(1.0, 2.0 / np.where(step > 0, step, 1.0))[:, None]
        U = U + np.nan_to_num(du, nan=0.0)
        res = eq.residual(U)
        better = res < best
        best_U[better], best[better] = U[better], res[better]
        # stop once every row is either converged (a few ulps) or has failed to move
        if np.all((best <= 1e-3 * RESIDUAL_RTOL) | ~np.isfinite(step)) or (
                it >= 6 and np.all(best <= RESIDUAL_RTOL)):
            break
    return best_U[best <= RESIDUAL_RTOL]


def _distinct(U):
    """Rows of log-rates that differ by more than DISTINCT_RTOL (relative, in some rate)."""
    keep = []
    for u in U:
        if not _contains(keep, u):
            keep.append(u)
    return keep


def _roots(eq, U):
    """Polished, distinct roots (log-rates, list) from candidate log-rates U (n, P)."""
    return _distinct(_polish(eq, U))


def _complete(eq, roots, main, lambda_max, max_steps):
    """Add the lambda = 1 crossings of the branches through roots not on the main lambda-path
    (log-rates ``main``), again for every new root, within ``max_steps`` steps in total."""
    on_main = _roots(eq, main)
    budget = int(max_steps)
    todo = [u for u in roots if not _contains(on_main, u)]
    while todo and budget > 0:
        U, used = _branch_crossings(eq, todo, lambda_max, budget)
        budget -= used
        todo = [u for u in _roots(eq, U) if not _contains(roots, u)]
        roots = roots + todo
    return roots


def _contains(roots, u):
    return any(np.max(np.abs(np.expm1(u - v))) <= DISTINCT_RTOL for v in roots)


def _finish(eq, roots, detail=""):
    """Sort roots (log-rates) by total rate and return rates (n, P) in kHz, or raise."""
    if not roots:
        raise eq.failure(detail)
    R = np.exp(np.array(roots))
    return R[np.argsort(R.sum(axis=1), kind="stable")]


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


def _path_crossings(eq, lambda_max, max_steps):
    """Log-rates (m, P) where the lambda-path from the uncoupled solution crosses lambda = 1."""
    path = _follow(eq, lambda_max=lambda_max, max_steps=max_steps)
    return np.log(path.crossings).reshape(-1, eq.P)


def _exhaustive_1d(eq, lambda_max, max_steps):
    roots, detail = _candidates_1d(eq)
    roots = [r for r in roots if r > 0.0]
    U = np.log(np.array(roots, dtype=float)).reshape(-1, 1)
    if eq.K[0, 0] > 0.0:  # the scan stops at 1e12 kHz and may merge roots closer than its grid step
        U = np.concatenate([U, _path_crossings(eq, lambda_max, max_steps)])
    return _finish(eq, _roots(eq, U), detail or "the root lies where the transfer function under- or overflows")


# --- exhaustive: P >= 2 ---------------------------------------------------------------------------
def _exhaustive_nd(eq, n_random, seed, lambda_max, max_steps):
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
        du = _solve_many(Jf, -F)
        u = u + np.clip(np.nan_to_num(du, nan=0.0, posinf=0.0, neginf=0.0), -2.0, 2.0)
    u = u[eq.residual(u) <= 1e-6]
    main = _path_crossings(eq, lambda_max, max_steps)
    roots = _roots(eq, np.concatenate([np.array(_distinct(u)).reshape(-1, P), main]))
    return _finish(eq, _complete(eq, roots, main, lambda_max, max_steps))


# --- homotopy in the coupling scale ------------------------------------------------------------------
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
    t = _solve(A, b)
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
        dy = _solve(np.vstack([Hy, t[None, :]]), -R)
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
        du = _solve(Hy[:, :-1], -H)
        if du is None:
            return None
        u = u + du
    return np.append(u, mu0) if np.max(np.abs(H)) <= 1e-10 else None


def _follow(eq, lambda_max=HOMOTOPY_LAMBDA_MAX, max_steps=HOMOTOPY_MAX_STEPS, root=None, direction=1.0):
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
            path = _follow(eq, lambda_max=lambda_max, max_steps=max_steps - used, root=u, direction=direction)
            used += len(path.lam) - 1
            found.extend(np.log(path.crossings))
            if path.termination == "closed loop":
                break  # the other direction runs round the same loop
    return np.array(found).reshape(-1, eq.P), used


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
        du = _solve_many(J, -G)
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


def _homotopy(eq, n_starts, seed, lambda_max, max_steps):
    main = _path_crossings(eq, lambda_max, max_steps)
    roots = _roots(eq, np.concatenate([main, _multistart(eq, n_starts, seed)]))
    return _finish(eq, _complete(eq, roots, main, lambda_max, max_steps))


# --- public API ---------------------------------------------------------------------------------------
def _check_circuit(circuit):
    if not isinstance(circuit, Circuit):
        raise ValueError("circuit must be a stimsim Circuit (e.g. stimsim.preset('ping')), "
                         f"got {type(circuit).__name__}")


def _check_path_controls(lambda_max, max_steps):
    lam = check_finite("lambda_max", lambda_max)
    if lam <= 1.0:
        raise ValueError(f"lambda_max must be > 1 (fixed points are read off at lambda = 1), got {lambda_max!r}")
    return lam, check_positive_int("max_steps", max_steps)


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def find_equilibrium_rates(circuit, method="auto", *, n_starts=None, seed=0,
                           lambda_max=HOMOTOPY_LAMBDA_MAX, max_steps=HOMOTOPY_MAX_STEPS):
    """Fixed-point rates of a circuit (shared by NMM2 and NMM1), in kHz.

    Solves r_k = T_k(x_k), x_k = eta_bar_k + I_k + sum_l K[k, l] r_l (docs/models.md, M5) for r > 0.
    See the module docstring for the algorithms.

    Parameters
    ----------
    circuit : stimsim.Circuit
    method : {'auto', 'exhaustive', 'homotopy'}
        'exhaustive': bracketing scan (P = 1) or Newton from a grid of about max(800, 3^P) starts
        (P >= 2), joined with the lambda-path; refused above EXHAUSTIVE_HARD_LIMIT populations.
        'homotopy': pseudo-arclength continuation in the coupling scale lambda from the uncoupled
        circuit, collecting every crossing of lambda = 1, plus seeded random starts and the
        branches through the roots they find; scales to P of a few hundred, but for large P it is
        not guaranteed to find every fixed point. 'auto': 'exhaustive' for
        P <= EXHAUSTIVE_MAX_POPULATIONS (4), else 'homotopy'.
    n_starts : int, optional
        Random starts: EXHAUSTIVE_RANDOM_STARTS (400) for 'exhaustive' and HOMOTOPY_RANDOM_STARTS
        (32, each used twice) for 'homotopy' by default; deterministic for a given ``seed``.
    seed : int
        Seed of the random starts.
    lambda_max : float
        Each branch is followed until lambda exceeds this while increasing (> 1).
    max_steps : int
        Most arclength steps on the path from lambda = 0, and again in total on the other branches.

    Returns
    -------
    numpy.ndarray, shape (n, P)
        Distinct fixed-point rates in kHz (n >= 1), sorted by total rate; each satisfies
        max_k |T_k(x_k) - r_k| / r_k <= RESIDUAL_RTOL (1e-12) after Newton polishing.

    Raises
    ------
    ValueError
        Bad arguments, or no fixed point found: the one-line message names what failed (an input or
        coupling that overflows, a transfer function that under- or overflows, ...).

    Examples
    --------
    >>> import stimsim
    >>> from stimsim.dynamics._equilibria import find_equilibrium_rates
    >>> r = find_equilibrium_rates(stimsim.preset("pyramidal", J=15, eta_bar=-4))
    >>> r.shape, [round(float(x), 2) for x in 1000 * r[:, 0]]  # Hz
    ((3, 1), [4.92, 15.74, 58.85])
    """
    if not isinstance(method, str) or method not in METHODS:
        raise unknown_name_error("fixed-point method", method, METHODS)
    _check_circuit(circuit)
    lambda_max, max_steps = _check_path_controls(lambda_max, max_steps)
    seed = _check_count("seed", seed)
    P = circuit.n_populations
    if method == "auto":
        method = "exhaustive" if P <= EXHAUSTIVE_MAX_POPULATIONS else "homotopy"
    if method == "exhaustive" and P > EXHAUSTIVE_HARD_LIMIT:
        raise ValueError(
            f"method 'exhaustive' needs about 3^P Newton starts and is refused for P = {P} > "
            f"{EXHAUSTIVE_HARD_LIMIT} populations; use method='homotopy'")
    default = EXHAUSTIVE_RANDOM_STARTS if method == "exhaustive" else HOMOTOPY_RANDOM_STARTS
    n = default if n_starts is None else _check_count("n_starts", n_starts)
    with np.errstate(all="ignore"):
        eq = _Equations(circuit)
        try:
            if method == "exhaustive":
                if P == 1:
                    return _exhaustive_1d(eq, lambda_max, max_steps)
                return _exhaustive_nd(eq, n, seed, lambda_max, max_steps)
            return _homotopy(eq, n, seed, lambda_max, max_steps)
        except (np.linalg.LinAlgError, ArithmeticError) as exc:  # a last guard: never leak these
            raise eq.failure(f"the search failed numerically ({type(exc).__name__})") from None


def coupling_path(circuit, lambda_max=HOMOTOPY_LAMBDA_MAX, max_steps=HOMOTOPY_MAX_STEPS):
    """The branch of solutions of r = T(c + lambda K r) through the uncoupled circuit (lambda = 0).

    The path that method 'homotopy' follows first (rates in kHz), for inspection: its folds and its
    crossings of lambda = 1 (unpolished fixed points).

    Parameters
    ----------
    circuit : stimsim.Circuit
    lambda_max : float
        Stop once lambda exceeds this while increasing (> 1).
    max_steps : int
        Most accepted arclength steps.

    Returns
    -------
    CouplingPath

    Raises
    ------
    ValueError
        Bad arguments, or inputs that overflow (as :func:`find_equilibrium_rates`).
    """
    _check_circuit(circuit)
    lambda_max, max_steps = _check_path_controls(lambda_max, max_steps)
    with np.errstate(all="ignore"):
        return _follow(_Equations(circuit), lambda_max=lambda_max, max_steps=max_steps)


def equilibrium_residual(circuit, rates_khz):
    """Relative residual max_k |T_k(x_k) - r_k| / r_k of candidate fixed-point rates (kHz).

    Parameters
    ----------
    circuit : stimsim.Circuit
    rates_khz : array_like, shape (P,) or (n, P)

    Returns
    -------
    float or numpy.ndarray (n,)
        inf where a rate is not positive or T is not finite.
    """
    _check_circuit(circuit)
    R = np.asarray(rates_khz, dtype=float)
    one = R.ndim == 1
    R = np.atleast_2d(R)
    if R.ndim != 2 or R.shape[1] != circuit.n_populations:
        raise ValueError(f"rates_khz must have shape ({circuit.n_populations},) or (n, {circuit.n_populations}), "
                         f"got {np.shape(rates_khz)}")
    with np.errstate(all="ignore"):
        c = circuit.vector("eta_bar") + circuit.vector("I")
        x = c + R @ circuit.effective_coupling.T
        T = rates_many(*circuit.transfer_parameters(), np.ascontiguousarray(x))
        rel = np.max(np.abs(T - R) / R, axis=1)
        rel = np.where(np.isfinite(rel) & np.all(R > 0, axis=1), rel, np.inf)
    return float(rel[0]) if one else rel
