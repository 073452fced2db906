"""Codimension-one bifurcations of equilibria: defining systems, location by Newton, normal forms.

Fold (saddle-node, 'LP'): F(x, p) = 0, A v = 0, <c, v> = 1 (unknowns x, p, v).
Hopf ('H'): F(x, p) = 0, A q = i omega q with q = a + i b, <c, a> = 1, <c, b> = 0 (unknowns x, p,
a, b, omega); the standard extended systems (Kuznetsov, *Elements of Applied Bifurcation Theory*,
3rd ed., Springer 2004, Sec. 10.2). Derivatives of A x-products use B(u, w) = M(u) w
(:class:`~stimsim.continuation._system.VectorField`), exact for the quadratic NMM2.

Normal-form coefficients (Kuznetsov 2004, Sec. 3.4-3.5):

* fold: a = 1/2 <w, B(v, v)> with A v = 0, A^T w = 0, <w, v> = 1 (a = 0 at a cusp);
* Hopf, first Lyapunov coefficient (Kuznetsov 2004, eq. 3.20)::

      l1 = 1/(2 omega) Re[ <p, C(q, q, conj q)> - 2 <p, B(q, A^-1 B(q, conj q))>
                           + <p, B(conj q, (2 i omega I - A)^-1 B(q, q))> ]

  with A q = i omega q, A^T p = -i omega p, <q, q> = <p, q> = 1, <p, q> = conj(p) . q.
  l1 < 0: supercritical (a stable cycle is born), l1 > 0: subcritical.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._newton import newton


@dataclass
class SpecialPoint:
    """A located bifurcation point.

    Attributes
    ----------
    kind : str
        'LP' (fold), 'H' (Hopf), 'BP' (branch point), or a codimension-two label
        ('CP' cusp, 'BT' Bogdanov-Takens, 'GH' generalized Hopf).
    x : ndarray (n,)
    p : ndarray (m,)
        Parameter values (one per active parameter).
    omega : float
        Hopf angular frequency, rad/ms (nan otherwise).
    coefficient : float
        l1 (Hopf) or the fold coefficient a (fold); nan when not computed.
    residual : float
        Max norm of the defining system at the point (1/ms).
    located : bool
        False when Newton did not converge (the point is then the bracketing estimate).
    """

    kind: str
    x: np.ndarray
    p: np.ndarray
    omega: float = np.nan
    coefficient: float = np.nan
    residual: float = np.nan
    located: bool = True
    eigenvector: np.ndarray = None


# --- fold -----------------------------------------------------------------------------------------
def fold_system(field, n_free, fixed_p=None):
    """(G, JG, unpack) of the fold system with ``n_free`` free parameters (1 or 2 before arclength).

    X = (x, p_free..., v); the fold condition has 2n + 1 equations.
    """
    n = field.n

    def split(X):
        x, p, v = X[:n], X[n:n + n_free], X[n + n_free:]
        return x, _full_p(p, fixed_p), v

    def G(X, c):
        x, p, v = split(X)
        A = field.jac(x, p)
        return np.concatenate([field.f(x, p), A @ v, [c @ v - 1.0]])

    def JG(X, c):
        x, p, v = split(X)
        A = field.jac(x, p)
        Fp = field.fp(x, p)[:, :n_free]
        rows = np.zeros((2 * n + 1, 2 * n + n_free))
        rows[:n, :n] = A
        rows[:n, n:n + n_free] = Fp
        rows[n:2 * n, :n] = field.M(x, p, v)
        for i in range(n_free):
            rows[n:2 * n, n + i] = field.jac_p(x, p, i) @ v
        rows[n:2 * n, n + n_free:] = A
        rows[2 * n, n + n_free:] = c
        return rows

    return G, JG, split


def locate_fold(field, x, p, v=None):
    """Newton on the fold system from a guess (x, p); returns a SpecialPoint ('LP')."""
    x, p = np.asarray(x, float), np.atleast_1d(np.asarray(p, float))
    A = field.jac(x, p)
    if v is None:
        ev, vecs = np.linalg.eig(A)
        v = vecs[:, np.argmin(np.abs(ev))].real
    v = v / np.linalg.norm(v)
    c = v.copy()
    G, JG, split = fold_system(field, 1)
    sol = newton(lambda X: G(X, c), lambda X: JG(X, c), np.concatenate([x, p, v]))
    xs, ps, vs = split(sol.X)
    point = SpecialPoint("LP", xs, ps, residual=sol.residual, located=sol.converged, eigenvector=vs)
    if sol.converged:
        point.coefficient = fold_coefficient(field, xs, ps)
    return point


def fold_coefficient(field, x, p):
    """a = 1/2 <w, B(v, v)> at a fold (Kuznetsov 2004, eq. 3.9 ff.), |v| = 1, <w, v> = 1."""
    A = field.jac(x, p)
    v = _null(A)
    w = _null(A.T)
    wv = w @ v
    if abs(wv) < 1e-14:
        return np.nan                      # Bogdanov-Takens: w orthogonal to v
    w = w / wv
    return 0.5 * float(w @ field.B(x, p, v, v))


def _null(A):
    ev, vecs = np.linalg.eig(A)
    v = vecs[:, np.argmin(np.abs(ev))].real
    return v / np.linalg.norm(v)


# --- Hopf -----------------------------------------------------------------------------------------
def hopf_system(field, n_free, fixed_p=None):
    """(G, JG, unpack) of the Hopf system; X = (x, p_free..., a, b, omega), 3n + 2 equations."""
    n = field.n

    def split(X):
        x = X[:n]
        p = _full_p(X[n:n + n_free], fixed_p)
        k = n + n_free
        return x, p, X[k:k + n], X[k + n:k + 2 * n], X[k + 2 * n]

    def G(X, c):
        x, p, a, b, om = split(X)
        A = field.jac(x, p)
        return np.concatenate([field.f(x, p), A @ a + om * b, A @ b - om * a, [c @ a - 1.0, c @ b]])

    def JG(X, c):
        x, p, a, b, om = split(X)
        A = field.jac(x, p)
        k = n + n_free
        J = np.zeros((3 * n + 2, 3 * n + 1 + n_free))
        J[:n, :n] = A
        J[:n, n:k] = field.fp(x, p)[:, :n_free]
        J[n:2 * n, :n] = field.M(x, p, a)
        J[2 * n:3 * n, :n] = field.M(x, p, b)
        for i in range(n_free):
            Ap = field.jac_p(x, p, i)
            J[n:2 * n, n + i] = Ap @ a
            J[2 * n:3 * n, n + i] = Ap @ b
        eye = np.eye(n)
        J[n:2 * n, k:k + n] = A
        J[n:2 * n, k + n:k + 2 * n] = om * eye
        J[n:2 * n, k + 2 * n] = b
        J[2 * n:3 * n, k:k + n] = -om * eye
        J[2 * n:3 * n, k + n:k + 2 * n] = A
        J[2 * n:3 * n, k + 2 * n] = -a
        J[3 * n, k:k + n] = c
        J[3 * n + 1, k + n:k + 2 * n] = c
        return J

    return G, JG, split


def hopf_guess(field, x, p):
    """(a, b, omega, c) from the eigenpair of A(x, p) closest to the imaginary axis with Im > 0."""
    A = field.jac(x, p)
    ev, vecs = np.linalg.eig(A)
    cand = np.flatnonzero(ev.imag > 0)
    if cand.size == 0:
        return None
    i = cand[np.argmin(np.abs(ev[cand].real))]
    q = vecs[:, i]
    # rotate q so that its real part is as long as possible, then scale <c, a> = 1 with c = a/|a|
    phi = 0.5 * np.angle(np.sum(q * q))
    q = q * np.exp(-1j * phi)
    c = q.real / np.linalg.norm(q.real)
    q = q / (c @ q.real)
    return q.real, q.imag, float(ev[i].imag), c


def locate_hopf(field, x, p):
    """Newton on the Hopf system from a guess (x, p); returns a SpecialPoint ('H') or None."""
    x, p = np.asarray(x, float), np.atleast_1d(np.asarray(p, float))
    guess = hopf_guess(field, x, p)
    if guess is None:
        return None
    a, b, om, c = guess
    G, JG, split = hopf_system(field, 1)
    sol = newton(lambda X: G(X, c), lambda X: JG(X, c), np.concatenate([x, p, a, b, [om]]))
    xs, ps, a, b, om = split(sol.X)
    point = SpecialPoint("H", xs, ps, omega=abs(om), residual=sol.residual,
                         located=bool(sol.converged and abs(om) > 0), eigenvector=a + 1j * b)
    if point.located:
        point.coefficient = first_lyapunov(field, xs, ps, abs(om))
    return point


def first_lyapunov(field, x, p, omega):
    """First Lyapunov coefficient l1 at a Hopf point (module docstring; Kuznetsov 2004 eq. 3.20)."""
    A = field.jac(x, p)
    n = field.n
    ev, vecs = np.linalg.eig(A)
    q = vecs[:, np.argmin(np.abs(ev - 1j * omega))]
    evt, vecst = np.linalg.eig(A.T)
    pv = vecst[:, np.argmin(np.abs(evt + 1j * omega))]
    q = q / np.sqrt(np.vdot(q, q).real)
    pv = pv / np.conj(np.vdot(pv, q))                # <p, q> = conj(p) . q = 1
    qb = np.conj(q)
    c_term = field.C(x, p, q, q, qb)
    h11 = np.linalg.solve(A, field.B(x, p, q, qb))
    h20 = np.linalg.solve(2j * omega * np.eye(n) - A, field.B(x, p, q, q))
    g = np.vdot(pv, c_term) - 2 * np.vdot(pv, field.B(x, p, q, h11)) + np.vdot(pv, field.B(x, p, qb, h20))
    return float(g.real / (2 * omega))


def _full_p(p_free, fixed_p):
    if fixed_p is None:
        return np.asarray(p_free, dtype=float)
    return np.concatenate([np.asarray(p_free, dtype=float), np.atleast_1d(fixed_p)])
