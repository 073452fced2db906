"""Branches of limit cycles by single shooting, with the numba kernels as the flow.

A periodic orbit of period T through x0 solves (single shooting; Kuznetsov 2004, Sec. 10.3.1;
E. J. Doedel, H. B. Keller, J. P. Kernévez, Int. J. Bifurcat. Chaos 1, 493 and 745, 1991)::

    phi_T(x0; p) - x0 = 0                 (n equations)
    <x0 - x_ref, F(x_ref)> = 0            (phase condition: x0 on the plane through the previous
                                           orbit's point, normal to its velocity)

continued in (x0, T / T_H, p / p_scale) by pseudo-arclength with a secant predictor, starting at a
Hopf point from x_H + eps Re q, T = 2 pi / omega (the cycle born there). The flow phi_T is the
model's own compiled RK4 kernel, run as a batch: one lane for the orbit and 2 (n + 1) lanes for
central differences in x0 and p, which give the monodromy matrix M = d phi_T / d x0 and
d phi / dp. d phi / dT = F(phi_T). The Floquet multipliers are the eigenvalues of M; one of them is
1 (the direction along the orbit) and is left out of the stability decision.

Detected along the branch: cycle folds 'LPC' (p turns back), period doubling 'PD' (a multiplier
crosses -1) and torus (Neimark-Sacker) 'NS' (a complex pair crosses the unit circle), each at the
bracketing point (not refined).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field as dc_field

import numpy as np

from ._newton import newton

#: RK4 steps per period at least, and the largest step as a fraction of the fastest time constant
MIN_STEPS_PER_PERIOD = 600
DT_FRACTION = 0.01
#: relative central-difference step of the monodromy matrix
SHOOT_FD_STEP = 1e-6
#: a multiplier counts as on the unit circle within this distance
FLOQUET_TOL = 1e-5


@dataclass
class CycleBranch:
    """A branch of periodic orbits.

    Attributes
    ----------
    p : ndarray (N,)
    period_ms : ndarray (N,)
    x0 : ndarray (N, n)
        A point on each orbit (flat state).
    minimum, maximum : ndarray (N, n_recorded, P)
        Extremes of each recorded variable over the orbit (the equations' units, e.g. r in kHz).
    multipliers : ndarray (N, n) complex
        Floquet multipliers, sorted by decreasing modulus (the trivial one included).
    stable : ndarray (N,) bool
    special : list of dict
        {'kind': 'LPC'|'PD'|'NS', 'index': i} at the bracketing point.
    end_reason : str
    hopf : SpecialPoint
        The Hopf point the branch starts from.
    """

    p: np.ndarray
    period_ms: np.ndarray
    x0: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    multipliers: np.ndarray
    stable: np.ndarray
    special: list = dc_field(default_factory=list)
    end_reason: str = ""
    hopf: object = None


class KernelFlow:
    """phi_T(x0; p) by the model's compiled RK4 kernel, batched over perturbed lanes.

    Parameters
    ----------
    field : ModelField
        Gives the model, the circuit at each parameter value and F.
    """

    def __init__(self, field):
        self.field = field
        self.model = field.model

    def steps(self, T, circuit):
        dt_max = DT_FRACTION * circuit.fastest_time_scale_ms
        return max(MIN_STEPS_PER_PERIOD, int(math.ceil(T / dt_max)))

    def run(self, x0s, T, ps, n_steps, record=False):
        """Integrate each (x0, p) for time T with n_steps RK4 steps.

        Returns (end states (B, n), recorded trajectory (n_rec, n_recorded, P, B) or None).
        """
        from .._simulate import RunSpec, run_kernel

        fld = self.field
        circuits = [fld.circuit_at(p) for p in ps]
        spec = RunSpec(self.model, T, T / n_steps, n_steps, 1 if record else n_steps, "rk4")
        initials = [fld.state(x) for x in x0s]
        states, status, _ = run_kernel(circuits, spec, [(None, None)] * len(circuits), initials)
        if np.any(status >= 0):
            raise FloatingPointError("the flow became non-finite")
        ends = np.array([self.model.state_from_recorded(states[-1, :, :, b]).ravel() for b in range(len(circuits))])
        return ends, (states if record else None)

    def map_and_derivatives(self, x0, T, p, n_steps, n_free=1):
        """phi_T(x0), M = d phi/d x0 (n, n), d phi/d p (n, n_free), and the orbit samples."""
        n = x0.size
        p = np.atleast_1d(np.asarray(p, float))
        hx = SHOOT_FD_STEP * max(1e-3, float(np.max(np.abs(x0)))) * np.ones(n)
        x0s, ps = [x0], [p]
        for j in range(n):
            e = np.zeros(n)
            e[j] = hx[j]
            x0s += [x0 + e, x0 - e]
            ps += [p, p]
        hp = SHOOT_FD_STEP * np.maximum(1.0, np.abs(p))
        for i in range(n_free):
            e = np.zeros(p.size)
            e[i] = hp[i]
            x0s += [x0, x0]
            ps += [p + e, p - e]
        ends, traj = self.run(x0s, T, ps, n_steps, record=True)
        M = np.empty((n, n))
        for j in range(n):
            M[:, j] = (ends[1 + 2 * j] - ends[2 + 2 * j]) / (2 * hx[j])
        Pd = np.empty((n, n_free))
        for i in range(n_free):
            k = 1 + 2 * n + 2 * i
            Pd[:, i] = (ends[k] - ends[k + 1]) / (2 * hp[i])
        return ends[0], M, Pd, traj[:, :, :, 0]


def continue_cycles(field, hopf, p_range, others=(), ds=0.02, ds_max=0.1, max_points=200,
                    max_period_factor=20.0, progress=None):
    """Follow the limit cycles born at a Hopf point.

    Parameters
    ----------
    field : ModelField
        One active parameter.
    hopf : SpecialPoint
        A located Hopf point ('H', with omega and eigenvector).
    p_range : (float, float)
        The branch stops when p leaves it.
    others : sequence of SpecialPoint
        The other Hopf points of the equilibrium branch: the cycle branch ends where it shrinks onto
        one of them (its amplitude has a minimum where p turns back, next to that point).
    ds, ds_max : float
        First and largest step in scaled arclength ((x0, T / T_H, p / range width)).
    max_points : int
    max_period_factor : float
        The branch stops when the period exceeds this many times the Hopf period (a homoclinic
        orbit is being approached).
    progress : callable(i) or None

    Returns
    -------
    CycleBranch
    """
    flow = KernelFlow(field)
    n = field.n
    p_min, p_max = float(min(p_range)), float(max(p_range))
    pscale = max(p_max - p_min, 1e-12)
    T_H = 2 * math.pi / hopf.omega
    q = hopf.eigenvector
    a = q.real / np.linalg.norm(q.real)
    xscale = max(1e-3, float(np.max(np.abs(hopf.x))))

    def unpack(Y):
        return Y[:n], Y[n] * T_H, Y[n + 1] * pscale

    Y_prev = np.concatenate([hopf.x, [1.0, hopf.p[0] / pscale]])
    t = np.concatenate([a * xscale, [0.0, 0.0]])
    t /= np.linalg.norm(t)
    x_ref, f_ref = hopf.x, q.imag / np.linalg.norm(q.imag)

    rows, amps = [], []
    step = ds
    reason = "max_points"
    n_steps = flow.steps(T_H, field.circuit_at(hopf.p))
    while len(rows) < max_points:
        pred = Y_prev + step * t
        cache = {}

        def G(Y):
            x0, T, p = unpack(Y)
            end, M, Pd, traj = flow.map_and_derivatives(x0, T, [p], n_steps)
            cache["last"] = (Y.copy(), end, M, Pd, traj)
            return np.concatenate([end - x0, [(x0 - x_ref) @ f_ref], [t @ (Y - pred)]])

        def JG(Y):
            Yc, end, M, Pd, _ = cache["last"]
            x0, T, p = unpack(Y)
            J = np.zeros((n + 2, n + 2))
            J[:n, :n] = M - np.eye(n)
            J[:n, n] = field.f(end, [p]) * T_H
            J[:n, n + 1] = Pd[:, 0] * pscale
            J[n, :n] = f_ref
            J[n + 1] = t
            return J

        try:
            sol = newton(G, JG, pred, tol=1e-10, residual_tol=1e-9, max_iter=10)
        except FloatingPointError:
            sol = None
        ok = sol is not None and sol.converged
        if ok:
            x0, T, p = unpack(sol.X)
            ok = T > 0 and np.linalg.norm(x0 - hopf.x) > 1e-6 * xscale
        if not ok:
            step *= 0.5
            if step < 1e-6:
                reason = "step too small"
                break
            continue
        # the cache holds the map at the converged point's last Newton iterate; evaluate at the solution
        x0, T, p = unpack(sol.X)
        end, M, _, traj = flow.map_and_derivatives(x0, T, [p], n_steps)
        if p > p_max or p < p_min:
            reason = "left range"
            break
        if T > max_period_factor * T_H:
            reason = "period too long (homoclinic orbit approached)"
            break
        mult = np.linalg.eigvals(M)
        mult = mult[np.argsort(-np.abs(mult))]
        rows.append((p, T, x0.copy(), traj.min(axis=0), traj.max(axis=0), mult))
        amps.append(float(np.max(traj.max(axis=0) - traj.min(axis=0))))
        end = _reached_other_hopf(rows, amps, others, pscale)
        if end is not None:
            del rows[-1]                                # past the end point: the branch reflected
            reason = f"ended at the Hopf point at p = {end:.6g}"
            break
        if progress is not None:
            progress(len(rows))
        secant = sol.X - Y_prev
        t = secant / np.linalg.norm(secant)
        Y_prev = sol.X
        x_ref, f_ref = x0, field.f(x0, [p])
        f_ref = f_ref / np.linalg.norm(f_ref)
        n_steps = flow.steps(T, field.circuit_at([p]))
        step = min(step * (1.4 if sol.iterations <= 3 else 1.0 if sol.iterations <= 5 else 0.6), ds_max)
    if not rows:
        return CycleBranch(np.empty(0), np.empty(0), np.empty((0, n)), np.empty((0,)), np.empty((0,)),
                           np.empty((0, n), complex), np.empty(0, bool), end_reason=reason, hopf=hopf)
    p, T, x0, lo, hi, mult = map(np.array, zip(*rows))
    stable = np.array([_cycle_stable(m) for m in mult])
    branch = CycleBranch(p=p, period_ms=T, x0=x0, minimum=lo, maximum=hi, multipliers=mult, stable=stable,
                         end_reason=reason, hopf=hopf)
    branch.special = _detect_cycle_points(branch)
    return branch


def _reached_other_hopf(rows, amps, others, pscale):
    """p of the Hopf point the branch has just shrunk onto (and reflected at), or None."""
    if len(rows) < 3 or not others:
        return None
    p = [r[0] for r in rows[-3:]]
    turned = (p[1] - p[0]) * (p[2] - p[1]) < 0
    dip = amps[-2] < amps[-3] and amps[-2] < amps[-1] and amps[-2] < 0.25 * max(amps)
    if not (turned and dip):
        return None
    near = [h.p[0] for h in others if abs(h.p[0] - p[1]) < 0.05 * pscale]
    return min(near, key=lambda q: abs(q - p[1])) if near else None


def nontrivial_multipliers(mult):
    """The Floquet multipliers without the one closest to 1 (the direction along the orbit)."""
    mult = np.asarray(mult)
    return np.delete(mult, np.argmin(np.abs(mult - 1.0)))


def _cycle_stable(mult):
    return bool(np.all(np.abs(nontrivial_multipliers(mult)) < 1.0 - FLOQUET_TOL))


def _detect_cycle_points(branch):
    out = []
    dp = np.diff(branch.p)
    for i in range(1, len(dp)):
        if dp[i - 1] * dp[i] < 0:
            out.append({"kind": "LPC", "index": i})
    for i in range(len(branch.p) - 1):
        m0, m1 = (nontrivial_multipliers(branch.multipliers[j]) for j in (i, i + 1))
        out0 = (np.abs(m0) > 1.0 + FLOQUET_TOL)
        out1 = (np.abs(m1) > 1.0 + FLOQUET_TOL)
        if out0.sum() == out1.sum():
            continue
        changed = m1[out1] if out1.sum() > out0.sum() else m0[out0]
        if np.any((changed.real < 0) & (np.abs(changed.imag) < FLOQUET_TOL)):
            out.append({"kind": "PD", "index": i + 1})
        elif np.any(np.abs(changed.imag) > FLOQUET_TOL):
            out.append({"kind": "NS", "index": i + 1})
    return out
