"""Fixed points, analytic Jacobians and stability of NMM2 and NMM1 (models.md M2-M5, M7).

At a fixed point s = r, z = 0 and (NMM2) v = v*(r) = -Delta/(2 pi tau_m r), so both models share the
fixed points (M4): every population satisfies r_k = T_k(x_k) with
x_k = eta_k + I_k + sum_l K[k, l] r_l (M5). Stability differs and comes from the Jacobians below.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from ..transfer import rates_many, slopes_many, v_star_qif
from ..units import hz_to_khz, khz_to_hz, rad_per_ms_to_hz

#: |Re lambda| below this (1/ms) counts as zero when labelling stability
_ZERO_RE = 1e-12
_NMM2_VARS = ("r", "v", "s", "z")
_NMM1_VARS = ("s", "z")


# --- transfer functions over a circuit --------------------------------------------------------
def _vec_rates(circuit, x):
    """T_k(x[:, k]) for (n, P) inputs, kHz (Phi, M3, or the sigmoid, M4)."""
    return rates_many(*circuit.transfer_parameters(), np.ascontiguousarray(x, dtype=float))


def _vec_slopes(circuit, x):
    """dT_k/dx at (n, P) inputs, kHz per input unit."""
    return slopes_many(*circuit.transfer_parameters(), np.ascontiguousarray(x, dtype=float))


def transfer_rates(circuit, x):
    """T_k(x_k) in kHz for every population (Phi, M3, or the sigmoid, M4)."""
    return _vec_rates(circuit, np.atleast_1d(x)[None, :])[0]


def transfer_slopes(circuit, x):
    """dT_k/dx at x_k, kHz per input unit."""
    return _vec_slopes(circuit, np.atleast_1d(x)[None, :])[0]


def total_input(circuit, rates_khz):
    """x_k = eta_k + I_k + sum_l K[k, l] r_l at a fixed point (s = r), M5."""
    return circuit.vector("eta_bar") + circuit.vector("I") + circuit.effective_coupling @ rates_khz


# --- finding fixed points ---------------------------------------------------------------------
def _upper_rate(circuit, c, K):
    """A rate (kHz) above every fixed point of a one-population circuit."""
    pop = circuit.populations[0]
    if not pop.is_qif:
        return 1.01 * hz_to_khz(pop.rmax_hz)
    r = 1.0
    f = lambda r: transfer_rates(circuit, np.array([c + K * r]))[0] - r
    while f(r) >= 0:
        r *= 2.0
        if r > 1e12:
            raise ValueError("no upper bound for the fixed-point rate; is the coupling too strong?")
    return r


def _fixed_points_1d(circuit):
    c = circuit.vector("eta_bar")[0] + circuit.vector("I")[0]
    K = circuit.effective_coupling[0, 0]
    g = lambda r: transfer_rates(circuit, np.array([c + K * r]))[0] - r
    if K <= 0.0:
        # g decreases from g(0) = T(c) > 0 and g(T(c)) <= 0: exactly one root
        hi = transfer_rates(circuit, np.array([c]))[0]
        if g(hi) == 0.0:
            return [hi]
        return [brentq(g, 0.0, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)]
    hi = _upper_rate(circuit, c, K)
    grid = np.concatenate([[0.0], np.geomspace(1e-12, hi, 4000)])
    vals = np.array([g(r) for r in grid])
    roots = []
    for a, b, ga, gb in zip(grid[:-1], grid[1:], vals[:-1], vals[1:]):
        if ga == 0.0:
            roots.append(a)
        elif ga * gb < 0.0:
            roots.append(brentq(g, a, b, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500))
    return roots


def _newton_polish(circuit, r, iters=50):
    """Newton on F(r) = T(x(r)) - r with the analytic derivative diag(T') K - 1."""
    K = circuit.effective_coupling
    eye = np.eye(len(r))
    for _ in range(iters):
        x = total_input(circuit, r)
        F = transfer_rates(circuit, x) - r
        if np.max(np.abs(F)) <= 1e-15 * max(1.0, np.max(np.abs(r))):
            break
        Jf = transfer_slopes(circuit, x)[:, None] * K - eye
        try:
            step = np.linalg.solve(Jf, -F)
        except np.linalg.LinAlgError:
            break
        r_new = r + step
        if np.any(r_new <= 0):
            r_new = np.where(r_new <= 0, 0.5 * r, r_new)
        r = r_new
    return r


def _rate_scale(pop):
    """A rate (kHz) at the top of a population's plausible range, for placing Newton starts."""
    return hz_to_khz(pop.rmax_hz) if not pop.is_qif else 1.0


def _fixed_points_nd(circuit, n_random=400, seed=0):
    """Multi-start damped Newton in log-rates, vectorised over starts, then polished and deduplicated.

    Starts: a log-spaced grid over each population's rate range plus random log-uniform points.
    """
    P = circuit.n_populations
    K = circuit.effective_coupling
    c = circuit.vector("eta_bar") + circuit.vector("I")
    rng = np.random.default_rng(seed)
    per_dim = max(3, int(round(800 ** (1.0 / P))))
    axes = [np.geomspace(1e-7, 2.0 * _rate_scale(p), per_dim) for p in circuit.populations]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, P)
    rand = np.exp(rng.uniform(np.log(1e-8), np.log(10.0), size=(n_random, P)))
    u = np.log(np.concatenate([grid, rand]))
    eye = np.eye(P)
    with np.errstate(all="ignore"):
        for _ in range(200):
            r = np.exp(u)
            x = c + r @ K.T
            F = _vec_rates(circuit, x) - r
            # dF/du = (diag(T') K - I) diag(r)
            Jf = (_vec_slopes(circuit, x)[:, :, None] * K[None] - eye[None]) * r[:, None, :]
            det_ok = np.abs(np.linalg.det(Jf)) > 1e-300
            du = np.zeros_like(u)
            du[det_ok] = np.linalg.solve(Jf[det_ok], -F[det_ok][..., None])[..., 0]
            du = np.nan_to_num(du, nan=0.0, posinf=0.0, neginf=0.0)
            u = u + np.clip(du, -2.0, 2.0)
        r = np.exp(u)
        F = _vec_rates(circuit, c + r @ K.T) - r
    ok = np.all(np.abs(F) <= 1e-9 * np.maximum(r, 1e-9), axis=1) & np.all(np.isfinite(r), axis=1)
    found = []
    for cand in r[ok]:
        cand = _newton_polish(circuit, cand)
        if not any(np.allclose(cand, f, rtol=1e-6, atol=1e-12) for f in found):
            found.append(cand)
    return found


def find_fixed_points(circuit):
    """All fixed-point rates, (n, P) in kHz, sorted by total rate (1-D exact scan for one population,
    multi-start Newton for circuits)."""
    if circuit.n_populations == 1:
        roots = [np.array([r]) for r in _fixed_points_1d(circuit)]
        roots = [_newton_polish(circuit, r) for r in roots]
    else:
        roots = _fixed_points_nd(circuit)
    if not roots:
        raise RuntimeError(f"no fixed point found for circuit {circuit.name!r}")
    roots.sort(key=lambda r: float(np.sum(r)))
    return np.array(roots)


# --- Jacobians ----------------------------------------------------------------------------------
def nmm2_state(circuit, rates_khz):
    """NMM2 fixed-point state (4P,) ordered (r, v, s, z) per population: v = v*(r) (M3), s = r, z = 0."""
    y = np.zeros(4 * circuit.n_populations)
    for k, pop in enumerate(circuit.populations):
        y[4 * k:4 * k + 4] = (rates_khz[k], v_star_qif(rates_khz[k], pop.delta, pop.tau_m), rates_khz[k], 0.0)
    return y


def jacobian_nmm2(circuit, state):
    """Analytic Jacobian of models.md M2/M5 at ``state`` (4P,) = (r, v, s, z) per population, 1/ms."""
    P = circuit.n_populations
    K = circuit.effective_coupling
    A = np.zeros((4 * P, 4 * P))
    for k, pop in enumerate(circuit.populations):
        r, v = state[4 * k], state[4 * k + 1]
        tm, ts = pop.tau_m, pop.tau_s
        i = 4 * k
        A[i, i] = 2.0 * v / tm                                # d(dr/dt)/dr
        A[i, i + 1] = 2.0 * r / tm                            # d(dr/dt)/dv
        A[i + 1, i] = -2.0 * math.pi ** 2 * tm * r            # d(dv/dt)/dr = -2 (pi tau_m)^2 r / tau_m
        A[i + 1, i + 1] = 2.0 * v / tm                        # d(dv/dt)/dv
        for l in range(P):
            A[i + 1, 4 * l + 2] += K[k, l] / tm               # d(dv/dt)/ds_l = J[k, l]
        A[i + 2, i + 3] = 1.0 / ts                            # ds/dt = z / tau_s
        A[i + 3, i] = 1.0 / ts                                # dz/dt = (r - 2z - s) / tau_s
        A[i + 3, i + 2] = -1.0 / ts
        A[i + 3, i + 3] = -2.0 / ts
    return A


def jacobian_nmm1(circuit, s_khz, I_extra=None):
    """Analytic Jacobian of models.md M4/M5 at synaptic state s (z = 0), ordered (s, z) per population, 1/ms."""
    P = circuit.n_populations
    K = circuit.effective_coupling
    x = circuit.vector("eta_bar") + circuit.vector("I") + K @ s_khz
    if I_extra is not None:
        x = x + I_extra
    dT = transfer_slopes(circuit, x)
    A = np.zeros((2 * P, 2 * P))
    for k, pop in enumerate(circuit.populations):
        ts = pop.tau_s
        A[2 * k, 2 * k + 1] = 1.0 / ts
        for l in range(P):
            A[2 * k + 1, 2 * l] += dT[k] * K[k, l] / ts       # dT_k/ds_l
        A[2 * k + 1, 2 * k] -= 1.0 / ts
        A[2 * k + 1, 2 * k + 1] = -2.0 / ts
    return A


def linearization(circuit, model, rates_khz):
    """(A, variable names) of ``model`` at the fixed point with the given rates."""
    if model == "nmm2":
        if not circuit.all_qif:
            raise ValueError("model 'nmm2' exists only for QIF populations")
        names = [f"{v}_{p}" for p in circuit.names for v in _NMM2_VARS]
        return jacobian_nmm2(circuit, nmm2_state(circuit, rates_khz)), names
    if model == "nmm1":
        names = [f"{v}_{p}" for p in circuit.names for v in _NMM1_VARS]
        return jacobian_nmm1(circuit, np.asarray(rates_khz, dtype=float)), names
    raise ValueError(f"unknown model {model!r}; allowed: nmm1, nmm2")


def classify(eigenvalues):
    """'stable node', 'stable focus', 'saddle', 'unstable focus' or 'unstable node'.

    Stable: every Re < 0, labelled by the leading (largest Re) eigenvalue being real (node) or
    complex (focus). Unstable with a complex unstable pair: 'unstable focus' (oscillation onset).
    Unstable with only real unstable eigenvalues: 'unstable node' if all are unstable, else 'saddle'.
    """
    ev = np.asarray(eigenvalues)
    unstable = ev[ev.real > _ZERO_RE]
    if unstable.size == 0:
        lead = ev[np.argmax(ev.real)]
        return "stable focus" if abs(lead.imag) > _ZERO_RE else "stable node"
    if np.any(np.abs(unstable.imag) > _ZERO_RE):
        return "unstable focus"
    return "unstable node" if unstable.size == ev.size else "saddle"


def fixed_points(circuit):
    """All fixed points with their stability under NMM2 and NMM1.

    Returns
    -------
    pandas.DataFrame
        One row per fixed point x model x population: ``fixed_point`` (index, by total rate),
        ``model``, ``population``, ``rate_hz``, ``input`` (x*, model units), ``v`` (v* for QIF,
        x* in mV for sigmoid), ``stability``, ``n_unstable``, ``leading_re_per_ms`` and
        ``leading_freq_hz`` (largest-real-part eigenvalue; frequency |Im|/2 pi in Hz) and
        ``eigenvalues`` (tuple of complex, 1/ms). NMM2 rows exist only for all-QIF circuits.
    """
    roots = find_fixed_points(circuit)
    models = ("nmm2", "nmm1") if circuit.all_qif else ("nmm1",)
    rows = []
    for i, r in enumerate(roots):
        x = total_input(circuit, r)
        for model in models:
            A, _ = linearization(circuit, model, r)
            ev = np.linalg.eigvals(A)
            ev = ev[np.lexsort((-ev.imag, -ev.real))]
            lead = ev[0]
            for k, pop in enumerate(circuit.populations):
                v = v_star_qif(r[k], pop.delta, pop.tau_m) if pop.is_qif else x[k]
                rows.append(dict(
                    fixed_point=i, model=model, population=pop.name, rate_hz=khz_to_hz(r[k]),
                    input=x[k], v=v, stability=classify(ev), n_unstable=int(np.sum(ev.real > _ZERO_RE)),
                    leading_re_per_ms=lead.real, leading_freq_hz=abs(rad_per_ms_to_hz(lead.imag)),
                    eigenvalues=tuple(ev)))
    return pd.DataFrame(rows)
