"""Two-parameter continuation of fold and Hopf curves, with codimension-two points.

Curves are followed by pseudo-arclength in (x, p1 / s1, p2 / s2) on the defining systems
(Kuznetsov, *Elements of Applied Bifurcation Theory*, 3rd ed., Springer 2004, Sec. 10.2-10.3):

fold curve
    F(x, p) = 0, A v = 0, <v_ref, v> = 1;
Hopf curve (in the form that continues through Bogdanov-Takens points)
    F(x, p) = 0, (A^2 + kappa I) v = 0, <v_ref, v> = 1, <v_ref, A v> = 0;
    kappa = omega^2 > 0 on Hopf points, kappa < 0 on neutral saddles (not Hopf points).

The reference vector is the previous point's eigenvector, so the normalisation stays well
conditioned while the eigenvector turns. Codimension-two points (Kuznetsov 2004, Ch. 8) are located
where a test function changes sign between two curve points, by a secant iteration on the chord:

* on fold curves: cusp 'CP' where the fold coefficient <w, B(v, v)> vanishes; Bogdanov-Takens
  'BT' where <w, v> vanishes (w the left null vector, oriented continuously);
* on Hopf curves: 'BT' where kappa = 0; generalized Hopf 'GH' where the first Lyapunov
  coefficient l1 vanishes.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field

import numpy as np

from ._newton import newton
from ._special import SpecialPoint, first_lyapunov


@dataclass
class Curve:
    """A curve of codimension-one points in two parameters.

    Attributes
    ----------
    kind : {'LP', 'H'}
    p : ndarray (N, 2)
    x : ndarray (N, n)
    omega : ndarray (N,)
        Hopf angular frequency, rad/ms (nan for folds and neutral saddles).
    kappa : ndarray (N,)
        omega^2 (Hopf curves; < 0 on neutral saddles), nan for fold curves.
    coefficient : ndarray (N,)
        l1 (Hopf points) or the fold coefficient (folds).
    residual : ndarray (N,)
        Max norm of the defining system at each point.
    special : list of SpecialPoint
    end_reason : str
    """

    kind: str
    p: np.ndarray
    x: np.ndarray
    omega: np.ndarray
    kappa: np.ndarray
    coefficient: np.ndarray
    residual: np.ndarray
    special: list = dc_field(default_factory=list)
    end_reason: str = ""


class _FoldCurve:
    """Fold-curve defining system; X = (x, p1, p2, v) in scaled parameters."""

    kind = "LP"

    def __init__(self, field, scales):
        self.field, self.n, self.s = field, field.n, np.asarray(scales, float)

    def split(self, X):
        n = self.n
        return X[:n], X[n:n + 2] * self.s, X[n + 2:]

    def G(self, X, ref):
        x, p, v = self.split(X)
        A = self.field.jac(x, p)
        return np.concatenate([self.field.f(x, p), A @ v, [ref @ v - 1.0]])

    def JG(self, X, ref):
        fld, n = self.field, self.n
        x, p, v = self.split(X)
        A = fld.jac(x, p)
        J = np.zeros((2 * n + 1, 2 * n + 2))
        J[:n, :n] = A
        J[:n, n:n + 2] = fld.fp(x, p) * self.s
        J[n:2 * n, :n] = fld.M(x, p, v)
        for i in range(2):
            J[n:2 * n, n + i] = (fld.jac_p(x, p, i) @ v) * self.s[i]
        J[n:2 * n, n + 2:] = A
        J[2 * n, n + 2:] = ref
        return J

    def reference(self, X):
        v = self.split(X)[2]
        return v / (v @ v)

    def tests(self, X, prev):
        """(BT test <w, v>, cusp test <w, B(v, v)>) with w oriented continuously; and w."""
        x, p, v = self.split(X)
        A = self.field.jac(x, p)
        ev, vecs = np.linalg.eig(A.T)
        w = vecs[:, np.argmin(np.abs(ev))].real
        w /= np.linalg.norm(w)
        if prev is not None and w @ prev < 0:
            w = -w
        vn = v / np.linalg.norm(v)
        return {"BT": float(w @ vn), "CP": float(w @ self.field.B(x, p, vn, vn))}, w

    def point_values(self, X):
        x, p, v = self.split(X)
        from ._special import fold_coefficient

        return np.nan, np.nan, fold_coefficient(self.field, x, p)


class _HopfCurve:
    """Hopf-curve defining system; X = (x, p1, p2, v, kappa) in scaled parameters."""

    kind = "H"

    def __init__(self, field, scales):
        self.field, self.n, self.s = field, field.n, np.asarray(scales, float)

    def split(self, X):
        n = self.n
        return X[:n], X[n:n + 2] * self.s, X[n + 2:2 * n + 2], X[2 * n + 2]

    def G(self, X, ref):
        x, p, v, kappa = self.split(X)
        A = self.field.jac(x, p)
        Av = A @ v
        return np.concatenate([self.field.f(x, p), A @ Av + kappa * v, [ref @ v - 1.0, ref @ Av]])

    def JG(self, X, ref):
        fld, n = self.field, self.n
        x, p, v, kappa = self.split(X)
        A = fld.jac(x, p)
        Av = A @ v
        J = np.zeros((2 * n + 2, 2 * n + 3))
        J[:n, :n] = A
        J[:n, n:n + 2] = fld.fp(x, p) * self.s
        Mv = fld.M(x, p, v)
        J[n:2 * n, :n] = fld.M(x, p, Av) + A @ Mv
        for i in range(2):
            Ap = fld.jac_p(x, p, i)
            J[n:2 * n, n + i] = (Ap @ Av + A @ (Ap @ v)) * self.s[i]
            J[2 * n + 1, n + i] = (ref @ (Ap @ v)) * self.s[i]
        J[n:2 * n, n + 2:2 * n + 2] = A @ A + kappa * np.eye(n)
        J[n:2 * n, 2 * n + 2] = v
        J[2 * n, n + 2:2 * n + 2] = ref
        J[2 * n + 1, :n] = ref @ Mv
        J[2 * n + 1, n + 2:2 * n + 2] = ref @ A
        return J

    def reference(self, X):
        v = self.split(X)[2]
        return v / (v @ v)

    def tests(self, X, prev):
        x, p, v, kappa = self.split(X)
        l1 = first_lyapunov(self.field, x, p, np.sqrt(kappa)) if kappa > 0 else np.nan
        return {"BT": float(kappa), "GH": l1}, None

    def point_values(self, X):
        x, p, v, kappa = self.split(X)
        om = float(np.sqrt(kappa)) if kappa > 0 else np.nan
        l1 = first_lyapunov(self.field, x, p, om) if kappa > 0 else np.nan
        return om, float(kappa), l1


def _tangent(JG, orient):
    """Unit null vector of JG (m x (m+1)) with positive overlap with ``orient``."""
    m = JG.shape[0]
    try:
        t = np.linalg.solve(np.vstack([JG, orient]), np.eye(m + 1)[-1])
    except np.linalg.LinAlgError:
        t = np.linalg.svd(JG)[2][-1]
    t /= np.linalg.norm(t)
    return t if t @ orient >= 0 else -t


def _correct_start(system, X0, ref, fix):
    """Newton onto the curve from X0 with the extra condition fix . (X - X0) = 0."""
    return newton(lambda X: np.concatenate([system.G(X, ref), [fix @ (X - X0)]]),
                  lambda X: np.vstack([system.JG(X, ref), fix]), X0)


def _continue(system, X0, bounds, direction, ds, ds_max, max_points):
    """Pseudo-arclength along the curve; arclength measured in (x, p) only (module docstring)."""
    n = system.n
    arc = np.zeros(X0.size)
    arc[:n + 2] = 1.0                                   # x and both scaled parameters
    ref = system.reference(X0)
    sol = _correct_start(system, X0, ref, np.eye(X0.size)[n])          # at fixed p1
    if not sol.converged:
        # the curve runs at constant p1 here (e.g. a Hopf line p1 = const): fixing p1 selects no
        # point and the corrector's matrix is singular; correct across the curve instead, in the
        # hyperplane through X0 normal to its tangent (Keller's pseudo-arclength corrector with a
        # zero step; Kuznetsov 2004, Sec. 10.2)
        sol = _correct_start(system, X0, ref, np.linalg.svd(system.JG(X0, ref))[2][-1])
    if not sol.converged:
        raise ValueError(f"the start point is not a {system.kind} point (residual {sol.residual:.2e})")
    X = sol.X
    ref = system.reference(X)
    t = np.linalg.svd(system.JG(X, ref))[2][-1]
    t = t * np.asarray(arc)
    t /= np.linalg.norm(t)
    # start along +-p1 (along +-p2 where the curve is perpendicular to p1)
    lead = t[n] if abs(t[n]) > 1e-8 else t[n + 1]
    t = t if lead * direction >= 0 else -t
    t = _tangent(system.JG(X, ref), t)
    pts, refs, reason, res = [X.copy()], [ref], "max_points", [float(np.max(np.abs(system.G(X, ref))))]
    lo, hi = bounds
    step = ds
    while len(pts) < max_points:
        pred = X + step * t
        ta = t * arc
        sol = newton(lambda Y: np.concatenate([system.G(Y, ref), [ta @ (Y - pred)]]),
                     lambda Y: np.vstack([system.JG(Y, ref), ta]), pred)
        ok = sol.converged and np.linalg.norm((sol.X - X) * arc) <= 2.5 * step
        if not ok:
            step *= 0.5
            if step < 1e-8:
                reason = "step too small"
                break
            continue
        Xn = sol.X
        pn = Xn[n:n + 2]
        if np.any(pn < lo) or np.any(pn > hi):
            reason = "left range"
            break
        ref_new = system.reference(Xn)
        t = _tangent(system.JG(Xn, ref_new), t * arc)
        X, ref = Xn, ref_new
        pts.append(X.copy())
        refs.append(ref)
        res.append(sol.residual)
        step = min(step * (1.3 if sol.iterations <= 3 else 1.0 if sol.iterations <= 5 else 0.6), ds_max)
        if len(pts) > 10 and np.linalg.norm((X - pts[0]) * arc) < 0.5 * step:
            reason = "closed curve"
            break
    return np.array(pts), refs, np.array(res), reason


def _refine(system, Xa, Xb, ref, test, name, ga, gb, max_iter=30):
    """Zero of a test function between curve points Xa and Xb by secant (Illinois) on the chord."""
    n = system.n
    arc = np.zeros(Xa.size)
    arc[:n + 2] = 1.0
    chord = (Xb - Xa) * arc

    def solve_at(sig):
        pred = Xa + sig * (Xb - Xa)
        sol = newton(lambda Y: np.concatenate([system.G(Y, ref), [chord @ (Y - pred)]]),
                     lambda Y: np.vstack([system.JG(Y, ref), chord]), pred)
        return sol

    s0, s1, g0, g1 = 0.0, 1.0, ga, gb
    best = None
    side = 0
    for _ in range(max_iter):
        s = s1 - g1 * (s1 - s0) / (g1 - g0)
        sol = solve_at(s)
        if not sol.converged:
            break
        g = test(sol.X)[0][name]
        best = (sol, g)
        if abs(g) < 1e-10 * max(1.0, abs(ga), abs(gb)) or abs(s1 - s0) < 1e-13:
            break
        if g * g1 < 0:
            s0, g0 = s1, g1
            side = 0
        else:
            g0 = g0 / 2 if side == 1 else g0       # Illinois: halve the retained end's value
            side = 1
        s1, g1 = s, g
    return best


def continue_curve(field, kind, x, p, v, kappa=None, bounds=None, scales=(1.0, 1.0), direction=1,
                   ds=0.01, ds_max=0.05, max_points=400):
    """Follow a fold ('LP') or Hopf ('H') curve in the two active parameters of ``field``.

    Parameters
    ----------
    field : VectorField
        Two active parameters.
    kind : {'LP', 'H'}
    x, p : the starting codimension-one point (p of length 2)
    v : ndarray (n,)
        Its null vector (fold) or the real part of its critical eigenvector (Hopf).
    kappa : float
        omega^2 at the starting Hopf point.
    bounds : ((p1_min, p2_min), (p1_max, p2_max))
    scales : (s1, s2)
        Parameter scales (the widths of the ranges); steps are measured in p / s.
    direction : {1, -1}
        Initial direction of p1 (of p2 where the curve starts perpendicular to p1).

    Returns
    -------
    Curve
    """
    s = np.asarray(scales, float)
    system = _FoldCurve(field, s) if kind == "LP" else _HopfCurve(field, s)
    p = np.asarray(p, float)
    v = np.asarray(v, float)
    v = v / np.linalg.norm(v)
    if kind == "LP":
        X0 = np.concatenate([x, p / s, v])
    else:
        # put v in the normal form <v, v> = 1, <v, A v> = 0 (a, b orthogonal, Kuznetsov 2004 10.2)
        X0 = np.concatenate([x, p / s, v, [kappa]])
    lo = np.asarray(bounds[0], float) / s
    hi = np.asarray(bounds[1], float) / s
    pts, refs, res, reason = _continue(system, X0, (lo, hi), direction, ds, ds_max, max_points)
    values = [system.point_values(X) for X in pts]
    xs = pts[:, :field.n]
    ps = pts[:, field.n:field.n + 2] * s
    om, kap, coef = (np.array(c, dtype=float) for c in zip(*values))
    curve = Curve(kind=kind, p=ps, x=xs, omega=om, kappa=kap, coefficient=coef, residual=res, end_reason=reason)
    curve.special = _codim_two(system, pts, refs)
    return curve


def _codim_two(system, pts, refs):
    out = []
    prev_w = None
    vals, ws = [], []
    for X in pts:
        g, prev_w = system.tests(X, prev_w)
        vals.append(g)
        ws.append(prev_w)
    for name in vals[0]:
        for i in range(len(pts) - 1):
            ga, gb = vals[i][name], vals[i + 1][name]
            if not (np.isfinite(ga) and np.isfinite(gb)) or ga * gb >= 0:
                continue
            def test(X, _w=ws[i]):
                return system.tests(X, _w)

            found = _refine(system, pts[i], pts[i + 1], refs[i], test, name, ga, gb)
            if found is None:
                X, located, resid = pts[i], False, np.nan
            else:
                X, located, resid = found[0].X, True, found[0].residual
            n = system.n
            x, p = X[:n], X[n:n + 2] * system.s
            om, kap, coef = system.point_values(X)
            out.append(SpecialPoint(name, x, p, omega=om if np.isfinite(om) else np.nan, coefficient=coef,
                                    residual=resid, located=located))
    return out
