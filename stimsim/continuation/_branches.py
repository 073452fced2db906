"""Pseudo-arclength continuation of equilibria in one parameter, with bifurcation detection.

Keller's pseudo-arclength method (H. B. Keller, in *Applications of Bifurcation Theory*, Academic
Press 1977; Kuznetsov 2004, Sec. 10.2): unknowns X = (x, p / p_scale); a tangent predictor
X + ds t followed by Newton on F(X) = 0, <t, X - X_pred> = 0. The parameter is scaled by the
width of the requested range so that one step length suits every parameter. The branch passes
folds (p turns back) without special treatment.

Detected between consecutive points (Kuznetsov 2004, Sec. 10.2.2 test functions):

* fold 'LP': the p-component of the tangent changes sign;
* branch point 'BP': det A changes sign without a fold;
* Hopf 'H': the number of eigenvalues with Re > 0 and Im != 0 changes by two.

Each is then located by Newton on its defining system (:mod:`._special`).
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field

import numpy as np

from ..dynamics._linearize import sorted_eigenvalues
from ..dynamics._stability import classify, n_unstable, zero_band
from ._newton import newton
from ._special import locate_fold, locate_hopf, SpecialPoint


@dataclass(frozen=True)
class StepControl:
    """Step-length control of pseudo-arclength continuation.

    Parameters
    ----------
    ds : float
        First step, in units of the scaled arclength (parameter / range width).
    ds_min, ds_max : float
        Bounds of the adaptive step; the branch ends (reason 'step too small') below ds_min.
    max_points : int
        Points per branch at most (reason 'max_points').
    """

    ds: float = 0.005
    ds_min: float = 1e-9
    ds_max: float = 0.02
    max_points: int = 2000

    def __post_init__(self):
        from ..errors import check_positive, check_positive_int

        for name in ("ds", "ds_min", "ds_max"):
            check_positive(f"step control {name}", getattr(self, name))
        check_positive_int("step control max_points", self.max_points)
        if not self.ds_min <= self.ds <= self.ds_max:
            raise ValueError(f"step control needs ds_min <= ds <= ds_max, got {self.ds_min}, {self.ds}, {self.ds_max}")


@dataclass
class Branch:
    """A branch of equilibria.

    Attributes
    ----------
    p : ndarray (N,)
        Parameter values along the branch.
    x : ndarray (N, n)
        Flat states.
    eigenvalues : ndarray (N, n) complex
        Sorted by decreasing real part, 1/ms.
    stability : list of str
        Labels from :func:`stimsim.dynamics.classify`.
    special : list of SpecialPoint
    end_reason : str
        Why the branch stopped ('left range', 'max_points', 'step too small', 'returned to start').
    """

    p: np.ndarray
    x: np.ndarray
    eigenvalues: np.ndarray
    stability: list
    special: list = dc_field(default_factory=list)
    end_reason: str = ""

    @property
    def stable(self):
        return np.array([s.startswith("stable") for s in self.stability])


def _tangent(A, Fp, t_prev):
    """Unit tangent of the branch: [A, Fp] t = 0, oriented along t_prev."""
    n = A.shape[0]
    Jx = np.zeros((n + 1, n + 1))
    Jx[:n, :n], Jx[:n, n] = A, Fp
    Jx[n] = t_prev
    rhs = np.zeros(n + 1)
    rhs[n] = 1.0
    try:
        t = np.linalg.solve(Jx, rhs)
    except np.linalg.LinAlgError:
        _, _, vh = np.linalg.svd(Jx[:n])
        t = vh[-1]
    t /= np.linalg.norm(t)
    return t if t @ t_prev >= 0 else -t


def continue_equilibria(field, x0, p0, p_range, direction=1, steps=StepControl(), valid=None):
    """Follow the branch of equilibria through (x0, p0) until it leaves ``p_range``.

    Parameters
    ----------
    field : VectorField
        With one active parameter.
    x0 : ndarray (n,)
        An equilibrium (or a guess, corrected at fixed p0 first).
    p0 : float
    p_range : (float, float)
        The branch stops where p leaves [p_min, p_max] (its last point lies on the boundary).
    direction : {1, -1}
        Initial direction of p.
    valid : callable x -> bool, optional
        States outside the model's domain end the branch (e.g. negative rates).

    Returns
    -------
    Branch
    """
    p_min, p_max = float(min(p_range)), float(max(p_range))
    scale = max(p_max - p_min, 1e-12)
    n = field.n

    def F(X):
        return field.f(X[:n], [X[n] * scale])

    def DF(X):
        x, p = X[:n], [X[n] * scale]
        return np.column_stack([field.jac(x, p), field.fp(x, p)[:, 0] * scale])

    # correct the start at fixed p
    sol = newton(lambda x: field.f(x, [p0]), lambda x: field.jac(x, [p0]), x0)
    if not sol.converged:
        raise ValueError(f"no equilibrium near the start state at p = {p0} (residual {sol.residual:.2e})")
    X = np.concatenate([sol.X, [p0 / scale]])
    D = DF(X)
    t0 = np.zeros(n + 1)
    t0[n] = float(np.sign(direction) or 1.0)
    t = _tangent(D[:, :n], D[:, n], t0)
    ds = steps.ds
    pts, tangents = [X.copy()], [t.copy()]
    reason = "max_points"
    while len(pts) < steps.max_points:
        pred = X + ds * t
        sol = newton(lambda Y: np.concatenate([F(Y), [t @ (Y - pred)]]),
                     lambda Y: np.vstack([DF(Y), t]), pred)
        ok = sol.converged and (valid is None or valid(sol.X[:n]))
        if ok:
            dX = sol.X - X
            ok = np.linalg.norm(dX) <= 2.0 * ds and dX @ t > 0
        if not ok:
            ds *= 0.5
            if ds < steps.ds_min:
                reason = "step too small"
                break
            continue
        Xn = sol.X
        Dn = DF(Xn)
        tn = _tangent(Dn[:, :n], Dn[:, n], t)
        p_new = Xn[n] * scale
        if p_new > p_max or p_new < p_min:
            Xn = _clip_to_boundary(field, X, Xn, p_max if p_new > p_max else p_min, scale)
            if Xn is not None:
                pts.append(Xn)
                tangents.append(tn)
            reason = "left range"
            break
        X, t = Xn, tn
        pts.append(X.copy())
        tangents.append(t.copy())
        ds = min(ds * (1.3 if sol.iterations <= 3 else 1.0 if sol.iterations <= 5 else 0.6), steps.ds_max)
        if len(pts) > 20 and np.linalg.norm(X - pts[0]) < 0.5 * ds and t @ tangents[0] > 0:
            reason = "returned to start"
            break
    pts = np.array(pts)
    xs, ps = pts[:, :n], pts[:, n] * scale
    eig = np.array([sorted_eigenvalues(field.jac(x, [p])) for x, p in zip(xs, ps)])
    branch = Branch(p=ps, x=xs, eigenvalues=eig, stability=[classify(e) for e in eig], end_reason=reason)
    branch.special = detect_special_points(field, branch, np.array(tangents)[:, n])
    return branch


def _clip_to_boundary(field, X_in, X_out, p_bound, scale):
    """The equilibrium at p = p_bound between the last point inside and the first outside."""
    n = field.n
    w = (p_bound / scale - X_in[n]) / (X_out[n] - X_in[n])
    guess = X_in[:n] + w * (X_out[:n] - X_in[:n])
    sol = newton(lambda x: field.f(x, [p_bound]), lambda x: field.jac(x, [p_bound]), guess)
    return np.concatenate([sol.X, [p_bound / scale]]) if sol.converged else None


def _n_unstable_oscillatory(ev):
    band = zero_band(ev)
    return int(np.sum((ev.real > band) & (np.abs(ev.imag) > band)))


def detect_special_points(field, branch, tp):
    """Folds, branch points and Hopf points between consecutive branch points, each located."""
    out = []
    dets = np.array([np.prod(e).real for e in branch.eigenvalues])
    osc = np.array([_n_unstable_oscillatory(e) for e in branch.eigenvalues])
    for i in range(len(branch.p) - 1):
        fold = tp[i] * tp[i + 1] < 0
        if fold:
            j = i if abs(tp[i]) < abs(tp[i + 1]) else i + 1
            out.append(locate_fold(field, branch.x[j], [branch.p[j]]))
        elif dets[i] * dets[i + 1] < 0:
            j = i if abs(dets[i]) < abs(dets[i + 1]) else i + 1
            out.append(SpecialPoint("BP", branch.x[j], np.array([branch.p[j]]), located=False))
        if abs(osc[i + 1] - osc[i]) == 2:
            h = _locate_hopf_between(field, branch, i)
            if h is not None:
                out.append(h)
    return out


def _locate_hopf_between(field, branch, i):
    """Locate the Hopf point between branch points i and i+1 (the end with the pair nearer the axis)."""
    def crossing_pair(e):
        cand = e[e.imag > zero_band(e)]
        return cand[np.argmin(np.abs(cand.real))] if cand.size else None

    ends = []
    for j in (i, i + 1):
        lam = crossing_pair(branch.eigenvalues[j])
        if lam is not None:
            ends.append((abs(lam.real), j))
    for _, j in sorted(ends):
        h = locate_hopf(field, branch.x[j], [branch.p[j]])
        lo, hi = sorted((branch.p[i], branch.p[i + 1]))
        if h is not None and h.located and lo - 1e-9 * (1 + abs(lo)) <= h.p[0] <= hi + 1e-9 * (1 + abs(hi)):
            return h
    j = i
    return SpecialPoint("H", branch.x[j], np.array([branch.p[j]]), located=False)
