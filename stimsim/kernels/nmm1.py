"""NMM1 kernel: static transfer function with second-order synapses (models.md M4, M5).

Per population k, with x_k = eta_k + I_k(t) + sum_l K[k, l] s_l (M5)::

    r_k = T_k(x_k)          T = Phi (QIF, M3) or the Jansen-Rit sigmoid S (M4)
    ds/dt = z / tau_s
    dz/dt = (r - 2 z - s) / tau_s

State ``y[var, population, lane]`` per block with var = (s, z). The recorded variables are
(r, v, s, z) as in NMM2: r = T(x), and v the frozen-input mean voltage v* (QIF, M3) or x (sigmoid).
"""
from __future__ import annotations

import numba
import numpy as np

from ..transfer import QIF, SIGMOID, mean_voltage, phi_qif, sigmoid, transfer
from .common import ACCUMULATE, CHUNK, FINAL, FIRST, RK4, combine_stage, coupled_input, fill_drive_chunk, half_step_rotation, mark_nonfinite

N_STATE = 2


@numba.njit(cache=True, inline="always")
def rates(r, x, kinds, p0, p1, p2):
    """r[k, j] = T_k(x[k, j]) in kHz: Phi (M3) for QIF populations, S (M4) for sigmoid ones."""
    P, L = x.shape
    for k in range(P):
        if kinds[k] == QIF:
            for j in range(L):
                r[k, j] = phi_qif(x[k, j], p0[k, j], p1[k, j])
        else:
            for j in range(L):
                r[k, j] = sigmoid(x[k, j], p0[k, j], p1[k, j], p2[k, j])


@numba.njit(cache=True, inline="always")
def rk4_step_one(s, z, u0, u1, u2, kself, kind, p0, p1, p2, inv_ts, dt):
    """One RK4 step of a single self-coupled population; u0, u1, u2 = eta_bar + I at t, t + dt/2, t + dt."""
    h = 0.5 * dt
    a0 = z * inv_ts
    a1 = (transfer(kind, u0 + kself * s, p0, p1, p2) - 2.0 * z - s) * inv_ts
    s2 = s + h * a0
    z2 = z + h * a1
    b0 = z2 * inv_ts
    b1 = (transfer(kind, u1 + kself * s2, p0, p1, p2) - 2.0 * z2 - s2) * inv_ts
    s3 = s + h * b0
    z3 = z + h * b1
    c0 = z3 * inv_ts
    c1 = (transfer(kind, u1 + kself * s3, p0, p1, p2) - 2.0 * z3 - s3) * inv_ts
    s4 = s + dt * c0
    z4 = z + dt * c1
    d0 = z4 * inv_ts
    d1 = (transfer(kind, u2 + kself * s4, p0, p1, p2) - 2.0 * z4 - s4) * inv_ts
    w = dt / 6.0
    return s + w * (a0 + 2.0 * b0 + 2.0 * c0 + d0), z + w * (a1 + 2.0 * b1 + 2.0 * c1 + d1)


@numba.njit(cache=True, inline="always")
def heun_step_one(s, z, u0, u2, kself, kind, p0, p1, p2, inv_ts, dt):
    """One Heun step of a single self-coupled population."""
    a0 = z * inv_ts
    a1 = (transfer(kind, u0 + kself * s, p0, p1, p2) - 2.0 * z - s) * inv_ts
    s2 = s + dt * a0
    z2 = z + dt * a1
    b0 = z2 * inv_ts
    b1 = (transfer(kind, u2 + kself * s2, p0, p1, p2) - 2.0 * z2 - s2) * inv_ts
    h = 0.5 * dt
    return s + h * (a0 + b0), z + h * (a1 + b1)


@numba.njit(cache=True, inline="always")
def _lanes_one(y, D, h, eta, K, kind, p0, p1, p2, inv_ts, dt, method):
    L = y.shape[2]
    if method == RK4:
        for j in range(L):
            e = eta[0, j]
            y[0, 0, j], y[1, 0, j] = rk4_step_one(
                y[0, 0, j], y[1, 0, j], e + D[h, 0, j], e + D[h + 1, 0, j], e + D[h + 2, 0, j],
                K[0, 0, j], kind, p0[0, j], p1[0, j], p2[0, j], inv_ts[0, j], dt)
    else:
        for j in range(L):
            e = eta[0, j]
            y[0, 0, j], y[1, 0, j] = heun_step_one(
                y[0, 0, j], y[1, 0, j], e + D[h, 0, j], e + D[h + 2, 0, j], K[0, 0, j], kind,
                p0[0, j], p1[0, j], p2[0, j], inv_ts[0, j], dt)


@numba.njit(cache=True)
def _record(rec, y, x, r, kinds, p0, p1):
    P, L = x.shape
    for k in range(P):
        for j in range(L):
            rec[0, k, j] = r[k, j]
            rec[1, k, j] = mean_voltage(kinds[k], x[k, j], r[k, j], p0[k, j], p1[k, j])
            rec[2, k, j] = y[0, k, j]
            rec[3, k, j] = y[1, k, j]


@numba.njit(cache=True, inline="always")
def _stage(src, y, yt, acc, d, x, r, D, h, eta, K, kinds, p0, p1, p2, inv_ts, mode, weight, step):
    """One explicit Runge-Kutta stage for any number of populations (modes as in nmm2._stage)."""
    coupled_input(x, src, 0, eta, D, h, K)
    rates(r, x, kinds, p0, p1, p2)
    P, L = x.shape
    for k in range(P):
        for j in range(L):
            d[0, k, j] = src[1, k, j] * inv_ts[k, j]
            d[1, k, j] = (r[k, j] - 2.0 * src[1, k, j] - src[0, k, j]) * inv_ts[k, j]
    combine_stage(y, yt, acc, d, mode, weight, step)


@numba.njit(cache=True)
def _integrate_block(blk, y0, par, kinds, K, const, series, series_shared, stride, sin_amp, omega,
                     phase, has_series, has_sin, dt, n_steps, record_every, check_every, method,
                     out, status):
    P, L = const.shape
    y = y0.copy()
    inv_ts = 1.0 / par[0]
    eta = par[1]
    p0 = par[2]
    p1 = par[3]
    p2 = par[4]
    yt = np.empty_like(y)
    acc = np.empty_like(y)
    d = np.empty_like(y)
    x = np.empty((P, L))
    r = np.empty((P, L))
    rec = np.empty((4, P, L))
    D = np.empty((2 * CHUNK + 1, P, L))
    cos_now = np.empty(L)
    sin_now = np.empty(L)
    rot_c, rot_s = half_step_rotation(omega, dt)
    half = 0.5 * dt
    sixth = dt / 6.0
    until_record = record_every
    until_check = check_every
    for n0 in range(0, n_steps, CHUNK):
        nc = min(CHUNK, n_steps - n0)
        fill_drive_chunk(D, n0, nc, blk, const, series, series_shared, stride, sin_amp, omega, phase,
                         has_series, has_sin, dt, cos_now, sin_now, rot_c, rot_s)
        if n0 == 0:
            coupled_input(x, y, 0, eta, D, 0, K)
            rates(r, x, kinds, p0, p1, p2)
            _record(rec, y, x, r, kinds, p0, p1)
            out[0] = rec
        for i in range(nc):
            h = 2 * i
            if P == 1:
                # one population: straight-line step per lane (vectorised across sets); the kind is
                # a literal in each branch so the transfer-function choice leaves the lane loop
                if kinds[0] == QIF:
                    _lanes_one(y, D, h, eta, K, QIF, p0, p1, p2, inv_ts, dt, method)
                else:
                    _lanes_one(y, D, h, eta, K, SIGMOID, p0, p1, p2, inv_ts, dt, method)
            elif method == RK4:
                _stage(y, y, yt, acc, d, x, r, D, h, eta, K, kinds, p0, p1, p2, inv_ts, FIRST, 1.0, half)
                _stage(yt, y, yt, acc, d, x, r, D, h + 1, eta, K, kinds, p0, p1, p2, inv_ts, ACCUMULATE, 2.0, half)
                _stage(yt, y, yt, acc, d, x, r, D, h + 1, eta, K, kinds, p0, p1, p2, inv_ts, ACCUMULATE, 2.0, dt)
                _stage(yt, y, yt, acc, d, x, r, D, h + 2, eta, K, kinds, p0, p1, p2, inv_ts, FINAL, 1.0, sixth)
            else:
                _stage(y, y, yt, acc, d, x, r, D, h, eta, K, kinds, p0, p1, p2, inv_ts, FIRST, 1.0, dt)
                _stage(yt, y, yt, acc, d, x, r, D, h + 2, eta, K, kinds, p0, p1, p2, inv_ts, FINAL, 1.0, half)
            m = n0 + i + 1
            until_record -= 1
            until_check -= 1
            if until_record == 0:
                until_record = record_every
                coupled_input(x, y, 0, eta, D, h + 2, K)
                rates(r, x, kinds, p0, p1, p2)
                _record(rec, y, x, r, kinds, p0, p1)
                out[m // record_every] = rec
            if until_check == 0 or m == n_steps:
                until_check = check_every
                mark_nonfinite(y, status, m)


@numba.njit(cache=True, parallel=True)
def integrate(y0, par, kinds, K, const, series, series_shared, stride, sin_amp, omega, phase,
              has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
    """Integrate blocks of NMM1 circuits in parallel (arguments as :func:`nmm2.integrate`;
    y0 is (nb, 2, P, L) = (s, z), par is (nb, 5, P, L) = tau_s, eta_bar, p0, p1, p2 of the
    transfer function, kinds (P,) int64 its kind)."""
    nb = y0.shape[0]
    for b in numba.prange(nb):
        # int64 like the serial entry point, so both share one compiled block function
        _integrate_block(np.int64(b), y0[b], par[b], kinds, K[b], const[b], series, series_shared, stride,
                         sin_amp[b], omega[b], phase[b], has_series, has_sin, dt, n_steps,
                         record_every, check_every, method, out[:, b], status[b])


@numba.njit(cache=True)
def integrate_serial(y0, par, kinds, K, const, series, series_shared, stride, sin_amp, omega,
                     phase, has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
    """The same as :func:`integrate` on the calling thread (one block: no thread hand-off)."""
    nb = y0.shape[0]
    for b in range(nb):
        _integrate_block(b, y0[b], par[b], kinds, K[b], const[b], series, series_shared, stride,
                         sin_amp[b], omega[b], phase[b], has_series, has_sin, dt, n_steps,
                         record_every, check_every, method, out[:, b], status[b])
