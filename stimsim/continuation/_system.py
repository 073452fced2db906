"""Vector fields dx/dt = F(x, p) seen by the continuation code, and their derivatives.

The continuation algorithms work on a flat state x (n,) and a vector p of the active parameters
(one for branches, two for curves of bifurcation points). A :class:`VectorField` gives F, its
analytic Jacobian A = dF/dx and, by central differences, the parameter derivatives dF/dp and the
multilinear forms of the normal-form computations (Kuznetsov, *Elements of Applied Bifurcation
Theory*, 3rd ed., Springer 2004, Sec. 3.5 and 8.7):

    M(u)   = d/dt A(x + t u)           (so that B(u, w) = M(u) w, the second derivative of F)
    N(u, w) = d^2/dt ds A(x + t u + s w)  (so that C(u, w, q) = N(u, w) q, the third derivative)

For NMM2, F is quadratic in (r, v) and linear in (s, z), so M is exact up to rounding and N = 0.
"""
from __future__ import annotations

import numpy as np

#: relative step of the central differences (balances truncation h^2 against rounding eps/h)
FD_STEP = 1e-5


class OutsideDomain(ArithmeticError):
    """A parameter value the circuit cannot take (e.g. tau_s <= 0): the step that asked for it fails."""


class VectorField:
    """dx/dt = F(x, p) with flat state x (n,) and active parameters p (m,).

    Parameters
    ----------
    f : callable (x, p) -> (n,)
    jac : callable (x, p) -> (n, n), optional
        Analytic Jacobian dF/dx; central differences of ``f`` when missing.
    n : int
        State dimension.
    names : list of str, optional
        Names of the state components (for tables).
    """

    def __init__(self, f, n, jac=None, names=None):
        self._f = f
        self._jac = jac
        self.n = int(n)
        self.names = list(names) if names is not None else [f"x{i}" for i in range(self.n)]

    def f(self, x, p):
        return np.asarray(self._f(np.asarray(x, dtype=float), np.atleast_1d(np.asarray(p, dtype=float))), dtype=float)

    def jac(self, x, p):
        if self._jac is not None:
            return np.asarray(self._jac(np.asarray(x, dtype=float), np.atleast_1d(np.asarray(p, dtype=float))), dtype=float)
        x = np.asarray(x, dtype=float)
        A = np.empty((self.n, self.n))
        for j in range(self.n):
            h = FD_STEP * max(1.0, abs(x[j]))
            e = np.zeros(self.n)
            e[j] = h
            A[:, j] = (self.f(x + e, p) - self.f(x - e, p)) / (2 * h)
        return A

    def fp(self, x, p):
        """dF/dp, (n, m), central differences."""
        p = np.atleast_1d(np.asarray(p, dtype=float))
        out = np.empty((self.n, p.size))
        for i in range(p.size):
            h = FD_STEP * max(1.0, abs(p[i]))
            e = np.zeros(p.size)
            e[i] = h
            out[:, i] = (self.f(x, p + e) - self.f(x, p - e)) / (2 * h)
        return out

    def jac_p(self, x, p, i=0):
        """dA/dp_i, (n, n), central differences."""
        p = np.atleast_1d(np.asarray(p, dtype=float))
        h = FD_STEP * max(1.0, abs(p[i]))
        e = np.zeros(p.size)
        e[i] = h
        return (self.jac(x, p + e) - self.jac(x, p - e)) / (2 * h)

    def _step(self, x, u):
        return FD_STEP * max(1.0, float(np.max(np.abs(x)))) / max(float(np.max(np.abs(u))), 1e-300)

    def M(self, x, p, u):
        """d/dt A(x + t u) at t = 0, (n, n): B(u, w) = M(u) w. ``u`` real."""
        u = np.asarray(u, dtype=float)
        if not np.any(u):
            return np.zeros((self.n, self.n))
        h = self._step(x, u)
        return (self.jac(x + h * u, p) - self.jac(x - h * u, p)) / (2 * h)

    def B(self, x, p, u, w):
        """Second derivative of F, B(u, w), complex-bilinear in u and w."""
        u = np.asarray(u)
        out = self.M(x, p, u.real) @ w
        if np.iscomplexobj(u) and np.any(u.imag):
            out = out + 1j * (self.M(x, p, u.imag) @ w)
        return out

    def N(self, x, p, u, w):
        """d^2/dt ds A(x + t u + s w) at 0, (n, n): C(u, w, q) = N(u, w) q. ``u``, ``w`` real."""
        u, w = np.asarray(u, dtype=float), np.asarray(w, dtype=float)
        if not np.any(u) or not np.any(w):
            return np.zeros((self.n, self.n))
        h, k = 10 * self._step(x, u), 10 * self._step(x, w)    # a second difference: larger steps
        J = self.jac
        return (J(x + h * u + k * w, p) - J(x + h * u - k * w, p) - J(x - h * u + k * w, p)
                + J(x - h * u - k * w, p)) / (4 * h * k)

    def C(self, x, p, u, w, q):
        """Third derivative of F, C(u, w, q), complex-trilinear."""
        u, w = np.asarray(u, dtype=complex), np.asarray(w, dtype=complex)
        parts = ((u.real, w.real, 1.0), (u.real, w.imag, 1j), (u.imag, w.real, 1j), (u.imag, w.imag, -1.0))
        out = np.zeros(self.n, dtype=complex)
        for a, b, c in parts:
            if np.any(a) and np.any(b):
                out = out + c * (self.N(x, p, a, b) @ q)
        return out


class ModelField(VectorField):
    """A stimsim model on a circuit, as a vector field in its flat (variable-major) state.

    Parameters
    ----------
    model : stimsim.models.Model
    circuit : Circuit
        The base circuit; the active parameters are set on it by ``parameters``.
    parameters : sequence of Parameter
        The active parameters (1 for branches, 2 for curves).
    """

    def __init__(self, model, circuit, parameters):
        self.model = model
        self.circuit = circuit
        self.parameters = tuple(parameters)
        self.shape = (model.n_state, circuit.n_populations)
        self._cache = {}
        super().__init__(None, model.n_state * circuit.n_populations, names=model.flat_names(circuit))

    def circuit_at(self, p):
        """The circuit with the active parameters set to ``p``."""
        p = np.atleast_1d(np.asarray(p, dtype=float))
        key = tuple(p.tolist())
        c = self._cache.get(key)
        if c is None:
            c = self.circuit
            try:
                for par, value in zip(self.parameters, p):
                    c = par.apply(c, value)
            except ValueError as exc:
                raise OutsideDomain(str(exc)) from None
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = c
        return c

    def f(self, x, p):
        c = self.circuit_at(p)
        return self.model.rhs(c, np.asarray(x, dtype=float).reshape(self.shape)).ravel()

    def jac(self, x, p):
        c = self.circuit_at(p)
        return self.model.jacobian(c, np.asarray(x, dtype=float).reshape(self.shape))

    def state(self, x):
        """(n_state, P) view of a flat state."""
        return np.asarray(x, dtype=float).reshape(self.shape)
