"""NMM2 kernel: exact MPR mean field with second-order synapses (models.md M2, M5).

Per population k, with x_k = eta_k + I_k(t) + sum_l K[k, l] s_l and K = tau_m,k J (M5)::

    dr/dt = (Delta/(pi tau_m) + 2 r v) / tau_m
    dv/dt = (v^2 + x - (pi tau_m r)^2) / tau_m
    ds/dt = z / tau_s
    dz/dt = (r - 2 z - s) / tau_s

State layout ``y[var, population, lane]`` per block with var = (r, v, s, z); r in kHz, time in ms.
Each Runge-Kutta stage is one pass over populations and lanes (:func:`_stage`); a one-population
circuit takes a straight-line step per lane instead (:func:`rk4_step_one`), which vectorises across sets.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .common import ACCUMULATE, CHUNK, FINAL, FIRST, RK4, combine_stage, coupled_input, fill_drive_chunk, half_step_rotation, mark_nonfinite

N_STATE = 4


@numba.njit(cache=True, inline="always")
def rhs(r, v, s, z, x, inv_tm, a_r, pitm2, inv_ts):
    """Right-hand side of models.md M2 for one population (a_r = Delta/(pi tau_m), pitm2 = (pi tau_m)^2)."""
    return ((a_r + 2.0 * r * v) * inv_tm,
            (v * v + x - pitm2 * r * r) * inv_tm,
            z * inv_ts,
            (r - 2.0 * z - s) * inv_ts)


@numba.njit(cache=True, inline="always")
def rk4_step_one(r, v, s, z, u0, u1, u2, kself, inv_tm, a_r, pitm2, inv_ts, dt):
    """One RK4 step of a single self-coupled population; u0, u1, u2 = eta_bar + I at t, t + dt/2, t + dt."""
    h = 0.5 * dt
    a0, a1, a2, a3 = rhs(r, v, s, z, u0 + kself * s, inv_tm, a_r, pitm2, inv_ts)
    b0, b1, b2, b3 = rhs(r + h * a0, v + h * a1, s + h * a2, z + h * a3, u1 + kself * (s + h * a2),
                         inv_tm, a_r, pitm2, inv_ts)
    c0, c1, c2, c3 = rhs(r + h * b0, v + h * b1, s + h * b2, z + h * b3, u1 + kself * (s + h * b2),
                         inv_tm, a_r, pitm2, inv_ts)
    d0, d1, d2, d3 = rhs(r + dt * c0, v + dt * c1, s + dt * c2, z + dt * c3, u2 + kself * (s + dt * c2),
                         inv_tm, a_r, pitm2, inv_ts)
    w = dt / 6.0
    return (r + w * (a0 + 2.0 * b0 + 2.0 * c0 + d0), v + w * (a1 + 2.0 * b1 + 2.0 * c1 + d1),
            s + w * (a2 + 2.0 * b2 + 2.0 * c2 + d2), z + w * (a3 + 2.0 * b3 + 2.0 * c3 + d3))


@numba.njit(cache=True, inline="always")
def heun_step_one(r, v, s, z, u0, u2, kself, inv_tm, a_r, pitm2, inv_ts, dt):
    """One Heun step of a single self-coupled population."""
    a0, a1, a2, a3 = rhs(r, v, s, z, u0 + kself * s, inv_tm, a_r, pitm2, inv_ts)
    b0, b1, b2, b3 = rhs(r + dt * a0, v + dt * a1, s + dt * a2, z + dt * a3, u2 + kself * (s + dt * a2),
                         inv_tm, a_r, pitm2, inv_ts)
    h = 0.5 * dt
    return r + h * (a0 + b0), v + h * (a1 + b1), s + h * (a2 + b2), z + h * (a3 + b3)


@numba.njit(cache=True, inline="always")
def _stage(src, y, yt, acc, d, x, D, h, eta, K, inv_tm, a_r, pitm2, inv_ts, mode, weight, step):
    """One explicit Runge-Kutta stage for any number of populations, d = f(t_h, src):

    FIRST: acc = d, yt = y + step d;  ACCUMULATE: acc += weight d, yt = y + step d;
    FINAL: y += step (acc + d).  RK4 = FIRST, ACCUMULATE x 2, FINAL; Heun = FIRST, FINAL.
    """
    coupled_input(x, src, 2, eta, D, h, K)
    P, L = x.shape
    for k in range(P):
        for j in range(L):
            d[0, k, j], d[1, k, j], d[2, k, j], d[3, k, j] = rhs(
                src[0, k, j], src[1, k, j], src[2, k, j], src[3, k, j], x[k, j],
                inv_tm[k, j], a_r[k, j], pitm2[k, j], inv_ts[k, j])
    combine_stage(y, yt, acc, d, mode, weight, step)


@numba.njit(cache=True)
def _integrate_block(blk, y0, par, K, const, series, series_shared, stride, sin_amp, omega, phase,
                     has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
    P, L = const.shape
    y = y0.copy()
    tm = par[0]
    inv_tm = 1.0 / tm
    inv_ts = 1.0 / par[1]
    a_r = par[2] / (math.pi * tm)
    pitm2 = (math.pi * tm) ** 2
    eta = par[3]
    yt = np.empty_like(y)
    acc = np.empty_like(y)
    d = np.empty_like(y)
    x = np.empty((P, L))
    D = np.empty((2 * CHUNK + 1, P, L))
    cos_now = np.empty(L)
    sin_now = np.empty(L)
    rot_c, rot_s = half_step_rotation(omega, dt)
    half = 0.5 * dt
    sixth = dt / 6.0
    out[0] = y
    until_record = record_every
    until_check = check_every
    for n0 in range(0, n_steps, CHUNK):
        nc = min(CHUNK, n_steps - n0)
        fill_drive_chunk(D, n0, nc, blk, const, series, series_shared, stride, sin_amp, omega, phase,
                         has_series, has_sin, dt, cos_now, sin_now, rot_c, rot_s)
        for i in range(nc):
            h = 2 * i
            if P == 1:
                # one population: the whole step is straight-line code per lane, so the lane loop
                # is the innermost loop (vectorised across sets, and free of per-stage loop overhead)
                if method == RK4:
                    for j in range(L):
                        e = eta[0, j]
                        y[0, 0, j], y[1, 0, j], y[2, 0, j], y[3, 0, j] = rk4_step_one(
                            y[0, 0, j], y[1, 0, j], y[2, 0, j], y[3, 0, j], e + D[h, 0, j],
                            e + D[h + 1, 0, j], e + D[h + 2, 0, j], K[0, 0, j], inv_tm[0, j],
                            a_r[0, j], pitm2[0, j], inv_ts[0, j], dt)
                else:
                    for j in range(L):
                        e = eta[0, j]
                        y[0, 0, j], y[1, 0, j], y[2, 0, j], y[3, 0, j] = heun_step_one(
                            y[0, 0, j], y[1, 0, j], y[2, 0, j], y[3, 0, j], e + D[h, 0, j],
                            e + D[h + 2, 0, j], K[0, 0, j], inv_tm[0, j], a_r[0, j], pitm2[0, j],
                            inv_ts[0, j], dt)
            elif method == RK4:
                _stage(y, y, yt, acc, d, x, D, h, eta, K, inv_tm, a_r, pitm2, inv_ts, FIRST, 1.0, half)
                _stage(yt, y, yt, acc, d, x, D, h + 1, eta, K, inv_tm, a_r, pitm2, inv_ts, ACCUMULATE, 2.0, half)
                _stage(yt, y, yt, acc, d, x, D, h + 1, eta, K, inv_tm, a_r, pitm2, inv_ts, ACCUMULATE, 2.0, dt)
                _stage(yt, y, yt, acc, d, x, D, h + 2, eta, K, inv_tm, a_r, pitm2, inv_ts, FINAL, 1.0, sixth)
            else:
                _stage(y, y, yt, acc, d, x, D, h, eta, K, inv_tm, a_r, pitm2, inv_ts, FIRST, 1.0, dt)
                _stage(yt, y, yt, acc, d, x, D, h + 2, eta, K, inv_tm, a_r, pitm2, inv_ts, FINAL, 1.0, half)
            m = n0 + i + 1
            until_record -= 1
            until_check -= 1
            if until_record == 0:
                until_record = record_every
                out[m // record_every] = y
            if until_check == 0 or m == n_steps:
                until_check = check_every
                mark_nonfinite(y, status, m)


@numba.njit(cache=True, parallel=True)
def integrate(y0, par, K, const, series, series_shared, stride, sin_amp, omega, phase,
              has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
    """Integrate blocks of NMM2 circuits in parallel.

    Parameters
    ----------
    y0 : (nb, 4, P, L) initial (r kHz, v, s kHz, z kHz)
    par : (nb, 4, P, L) tau_m (ms), tau_s (ms), Delta, eta_bar
    K : (nb, P, P, L) effective coupling tau_m,k J[k, l]
    const : (nb, P, L) constant input; series : (n_samples, nb or 1, P, L or 1) sampled input
    sin_amp : (nb, P, L); omega : (nb, L) rad/ms; phase : (nb, L) rad
    out : (n_rec, nb, 4, P, L) written in place; status : (nb, L) int64, -1 or the step count at
        which a lane was first seen non-finite.
    """
    nb = y0.shape[0]
    for b in numba.prange(nb):
        # int64 like the serial entry point, so both share one compiled block function
        _integrate_block(np.int64(b), y0[b], par[b], K[b], const[b], series, series_shared, stride, sin_amp[b],
                         omega[b], phase[b], has_series, has_sin, dt, n_steps, record_every,
                         check_every, method, out[:, b], status[b])


@numba.njit(cache=True)
def integrate_serial(y0, par, K, const, series, series_shared, stride, sin_amp, omega, phase,
                     has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
    """The same as :func:`integrate` on the calling thread (one block: no thread hand-off)."""
    nb = y0.shape[0]
    for b in range(nb):
        _integrate_block(b, y0[b], par[b], K[b], const[b], series, series_shared, stride, sin_amp[b],
                         omega[b], phase[b], has_series, has_sin, dt, n_steps, record_every,
                         check_every, method, out[:, b], status[b])
