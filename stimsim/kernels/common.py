"""Pieces shared by the NMM2 and NMM1 kernels: drive evaluation and checks.

Batch layout ("lanes"): every per-set array has the parameter sets as its last, contiguous axis,
grouped in blocks of L lanes, e.g. ``tau_m[block, population, lane]``. The time loop runs per block
and the innermost loops run over lanes, so the compiler vectorises across parameter sets; blocks
are spread over threads with ``prange``.

Drive at half-step h (time t = h dt/2, the grid RK4's stages need), models.md M2/M4 ``I(t)``::

    I_k(t) = const_k + series_k(t) + sin_amp_k cos(omega t + phase)

It is evaluated for CHUNK steps at a time into a small buffer, outside the stage loops.
``series`` is sampled every ``stride`` half-steps and linearly interpolated between samples
(stride 1: exact on the stage grid). The cosine advances by a rotation recurrence (no
transcendental call per step), anchored with an exact cos/sin at the start of every chunk.
"""
from __future__ import annotations

import math

import numba
import numpy as np

RK4 = 0
HEUN = 1
METHODS = {"rk4": RK4, "heun": HEUN}
#: modes of a Runge-Kutta stage (see nmm2._stage)
FIRST = 0
ACCUMULATE = 1
FINAL = 2
#: steps per drive chunk
CHUNK = 128


@numba.njit(cache=True)
def fill_drive_chunk(D, n0, nc, blk, const, series, series_shared, stride, sin_amp, omega, phase,
                     has_series, has_sin, dt, cos_now, sin_now, rot_c, rot_s):
    """D[i, k, j] = input of population k, lane j at half-step 2 n0 + i, for i = 0 .. 2 nc."""
    _, P, L = D.shape
    nh = 2 * nc + 1
    for i in range(nh):
        for k in range(P):
            for j in range(L):
                D[i, k, j] = const[k, j]
    if has_series:
        for i in range(nh):
            h = 2 * n0 + i
            q = h // stride
            rem = h - q * stride
            frac = rem / stride
            if series_shared:
                for k in range(P):
                    val = series[q, 0, k, 0]
                    if rem != 0:
                        val += (series[q + 1, 0, k, 0] - val) * frac
                    for j in range(L):
                        D[i, k, j] += val
            else:
                for k in range(P):
                    if rem == 0:
                        for j in range(L):
                            D[i, k, j] += series[q, blk, k, j]
                    else:
                        for j in range(L):
                            a = series[q, blk, k, j]
                            D[i, k, j] += a + (series[q + 1, blk, k, j] - a) * frac
    if has_sin:
        t0 = n0 * dt
        for j in range(L):
            a = omega[j] * t0 + phase[j]
            cos_now[j] = math.cos(a)
            sin_now[j] = math.sin(a)
        for i in range(nh):
            for k in range(P):
                for j in range(L):
                    D[i, k, j] += sin_amp[k, j] * cos_now[j]
            for j in range(L):
                c = cos_now[j]
                s = sin_now[j]
                cos_now[j] = c * rot_c[j] - s * rot_s[j]
                sin_now[j] = s * rot_c[j] + c * rot_s[j]


@numba.njit(cache=True)
def half_step_rotation(omega, dt):
    """cos and sin of omega dt / 2 per lane (the rotation the cosine recurrence applies)."""
    L = omega.shape[0]
    rot_c = np.empty(L)
    rot_s = np.empty(L)
    for j in range(L):
        rot_c[j] = math.cos(0.5 * omega[j] * dt)
        rot_s[j] = math.sin(0.5 * omega[j] * dt)
    return rot_c, rot_s


@numba.njit(cache=True, inline="always")
def coupled_input(x, y, var_s, eta, D, h, K):
    """x[k, j] = eta_k + I_k(t_h) + sum_l K[k, l] s_l with s_l = y[var_s, l]  (models.md M5).

    The state array is passed whole (not a view of it) so that no array object is created per stage.
    """
    P, L = x.shape
    for k in range(P):
        for j in range(L):
            x[k, j] = eta[k, j] + D[h, k, j]
        for l in range(P):
            for j in range(L):
                x[k, j] += K[k, l, j] * y[var_s, l, j]


@numba.njit(cache=True, inline="always")
def combine_stage(y, yt, acc, d, mode, weight, step):
    """Runge-Kutta bookkeeping after a stage's derivatives d (see nmm2._stage for the modes).

    The mode branch sits outside the loops, so each loop is a plain pass over contiguous lanes.
    """
    NV, P, L = y.shape
    if mode == FINAL:
        for a in range(NV):
            for k in range(P):
                for j in range(L):
                    y[a, k, j] += step * (acc[a, k, j] + d[a, k, j])
    elif mode == FIRST:
        for a in range(NV):
            for k in range(P):
                for j in range(L):
                    acc[a, k, j] = d[a, k, j]
                    yt[a, k, j] = y[a, k, j] + step * d[a, k, j]
    else:
        for a in range(NV):
            for k in range(P):
                for j in range(L):
                    acc[a, k, j] += weight * d[a, k, j]
                    yt[a, k, j] = y[a, k, j] + step * d[a, k, j]


@numba.njit(cache=True)
def mark_nonfinite(y, status, step):
    """status[j] = step for lanes whose state first became non-finite at this check."""
    NV, P, L = y.shape
    for j in range(L):
        if status[j] < 0:
            for a in range(NV):
                for k in range(P):
                    if not math.isfinite(y[a, k, j]):
                        status[j] = step
