"""The fixed-point equations of a circuit in log-rates, and the acceptance of their roots.

At a fixed point of NMM2 or NMM1 the rates r (kHz) solve r_k = T_k(x_k),
x_k = eta_bar_k + I_k + lambda sum_l K[k, l] r_l (lambda = 1 for the circuit itself; the coupling
scale lambda is the homotopy parameter of :mod:`~stimsim.dynamics._coupling_path`). Every search
works in log-rates u = log r (r in kHz), so QIF rates stay positive and sigmoid rates in
(0, 2 e0), and solves

    G(u) = log T(c + K e^u) - u = 0,    c = eta_bar + I,

whose Jacobian dG/du = diag(T'/T) K diag(r) - 1 is well scaled (T'/T = 1 / (2 sqrt(x^2 + Delta^2))
for QIF, r0 (1 - S / 2 e0) for the sigmoid).

:class:`Equations` holds one circuit's system (with the input checks shared by every method);
:func:`polished_roots` is the single gate every candidate passes: Newton's method must bring its
relative residual max_k |T_k(x_k) - r_k| / r_k to at most :data:`RESIDUAL_RTOL`, and roots whose
rates all agree to :data:`DISTINCT_RTOL` are one root.
"""
from __future__ import annotations

import numpy as np

from ..transfer import rates_many, slopes_many
from ._linalg import solve_many

#: accepted roots satisfy max_k |T_k(x_k) - r_k| / r_k <= RESIDUAL_RTOL
RESIDUAL_RTOL = 1e-12
#: two roots are the same fixed point when every rate agrees to this relative tolerance
DISTINCT_RTOL = 1e-7


class Equations:
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
        du = solve_many(J, -G)
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


def distinct(U):
    """Rows of log-rates that differ by more than DISTINCT_RTOL (relative, in some rate)."""
    keep = []
    for u in U:
        if not contains(keep, u):
            keep.append(u)
    return keep


def polished_roots(eq, U):
    """Polished, distinct roots (log-rates, list) from candidate log-rates U (n, P)."""
    return distinct(_polish(eq, U))


def contains(roots, u):
    """Whether log-rates ``u`` are one of ``roots`` (every rate within DISTINCT_RTOL, relative)."""
    return any(np.max(np.abs(np.expm1(u - v))) <= DISTINCT_RTOL for v in roots)


def finish(eq, roots, detail=""):
    """Sort roots (log-rates) by total rate and return rates (n, P) in kHz, or raise."""
    if not roots:
        raise eq.failure(detail)
    R = np.exp(np.array(roots))
    return R[np.argsort(R.sum(axis=1), kind="stable")]

