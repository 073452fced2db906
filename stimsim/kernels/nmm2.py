"""NMM2 kernel: exact MPR mean field with second-order synapses (models.md M2, M5).

Per population k, with x_k = eta_k + I_k(t) + sum_l K[k, l] s_l and K = tau_m,k J (M5): the
firing-rate equations of the QIF mean field (Montbrio, Pazo & Roxin, Phys. Rev. X 5, 021028,
2015) driving the second-order, unit-area alpha synapse of Clusella et al. (Biol. Cybern. 117, 5,
2023)::

    dr/dt = (Delta/(pi tau_m) + 2 r v) / tau_m
    dv/dt = (v^2 + x - (pi tau_m r)^2) / tau_m
    ds/dt = z / tau_s
    dz/dt = (r - 2 z - s) / tau_s

r, s, z in kHz, v and x in QIF units, time in ms. The pointwise right-hand side is written once,
in :func:`rhs`; both integration paths call it:

* one population (P = 1): a straight-line Runge-Kutta step per lane (:func:`rk4_step_one`), the
  lane loop innermost, vectorised across parameter sets;
* any P: per stage, the coupling product (:func:`common.coupled_input`), then fused passes of
  right-hand side and RK bookkeeping over the flat (population, lane) axis (:func:`_stage`).

Working state inside a block: ``Y[row, var, k L + j]`` with var = (r, v, s, z) (see ``common``).
:func:`derivative` exposes the general path's stage for tests.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .common import (ACCUMULATE, CHUNK, FIRST, RK4, alloc_work, coupled_input, coupling_transpose,
                     fill_drive_chunk, flat_row, half_step_rotation, load_state, mark_nonfinite, stage_plan,
                     store, unflatten_into)

N_STATE = 4
#: row of the synaptic variable s in the state
VAR_S = 2


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def rhs(r, v, s, z, x, inv_tm, a_r, pitm2, inv_ts):
    """Right-hand side of one population (models.md M2): Montbrio, Pazo & Roxin (2015) for (r, v),
    the alpha synapse of Clusella et al. (2023) for (s, z).

    Parameters
    ----------
    r, v, s, z : float
        Rate (kHz), mean voltage (QIF units), synaptic activation and its derivative (kHz).
    x : float
        Total input eta_bar + I(t) + sum_l K[k, l] s_l (QIF units).
    inv_tm, a_r, pitm2, inv_ts : float
        1/tau_m (1/ms), Delta/(pi tau_m) (kHz), (pi tau_m)^2 (ms^2), 1/tau_s (1/ms).

    Returns
    -------
    tuple of float
        (dr/dt kHz/ms, dv/dt 1/ms, ds/dt kHz/ms, dz/dt kHz/ms).
    """
    return ((a_r + 2.0 * r * v) * inv_tm,
            (v * v + x - pitm2 * r * r) * inv_tm,
            z * inv_ts,
            (r - 2.0 * z - s) * inv_ts)


@numba.njit(cache=True, error_model="numpy")
def rate_constants(par):
    """Hoisted per-element constants from par (4, P, L) = (tau_m ms, tau_s ms, Delta, eta_bar).

    Returns q (4, P L) = (1/tau_m, Delta/(pi tau_m), (pi tau_m)^2, 1/tau_s) and eta (P L,).
    """
    _, P, L = par.shape
    q = np.empty((4, P * L))
    eta = np.empty(P * L)
    for k in range(P):
        for j in range(L):
            i = k * L + j
            tm = par[0, k, j]
            ptm = math.pi * tm
            q[0, i] = 1.0 / tm
            q[1, i] = par[2, k, j] / ptm
            q[2, i] = ptm * ptm
            q[3, i] = 1.0 / par[1, k, j]
            eta[i] = par[3, k, j]
    return q, eta


@numba.njit(cache=True, error_model="numpy", forceinline=True)
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


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def heun_step_one(r, v, s, z, u0, u2, kself, inv_tm, a_r, pitm2, inv_ts, dt):
    """One Heun step of a single self-coupled population."""
    a0, a1, a2, a3 = rhs(r, v, s, z, u0 + kself * s, inv_tm, a_r, pitm2, inv_ts)
    b0, b1, b2, b3 = rhs(r + dt * a0, v + dt * a1, s + dt * a2, z + dt * a3, u2 + kself * (s + dt * a2),
                         inv_tm, a_r, pitm2, inv_ts)
    h = 0.5 * dt
    return r + h * (a0 + b0), v + h * (a1 + b1), s + h * (a2 + b2), z + h * (a3 + b3)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _advance_one(y, U, h0, n_steps, K, q, dt, method):
    """n_steps steps of every lane of a one-population block, drive rows U[h0 ...] (straight-line
    code per lane, the lane loop innermost: vectorised across sets)."""
    L = y.shape[1]
    for n in range(n_steps):
        h = h0 + 2 * n
        if method == RK4:
            for j in range(L):
                y[0, j], y[1, j], y[2, j], y[3, j] = rk4_step_one(
                    y[0, j], y[1, j], y[2, j], y[3, j], U[h, j], U[h + 1, j], U[h + 2, j], K[0, 0, j],
                    q[0, j], q[1, j], q[2, j], q[3, j], dt)
        else:
            for j in range(L):
                y[0, j], y[1, j], y[2, j], y[3, j] = heun_step_one(
                    y[0, j], y[1, j], y[2, j], y[3, j], U[h, j], U[h + 2, j], K[0, 0, j],
                    q[0, j], q[1, j], q[2, j], q[3, j], dt)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _stage_rows(Y, src, dst, acc, x, q, mode, weight, step, a0):
    """The RK bookkeeping of state rows a0 and a0 + 1 in one stage (see :func:`_stage`)."""
    N = x.shape[0]
    a1 = a0 + 1
    if mode == FIRST:
        for i in range(N):
            d = rhs(Y[src, 0, i], Y[src, 1, i], Y[src, 2, i], Y[src, 3, i], x[i], q[0, i], q[1, i], q[2, i], q[3, i])
            acc[a0, i] = d[a0]
            acc[a1, i] = d[a1]
            Y[dst, a0, i] = Y[0, a0, i] + step * d[a0]
            Y[dst, a1, i] = Y[0, a1, i] + step * d[a1]
    elif mode == ACCUMULATE:
        for i in range(N):
            d = rhs(Y[src, 0, i], Y[src, 1, i], Y[src, 2, i], Y[src, 3, i], x[i], q[0, i], q[1, i], q[2, i], q[3, i])
            acc[a0, i] += weight * d[a0]
            acc[a1, i] += weight * d[a1]
            Y[dst, a0, i] = Y[0, a0, i] + step * d[a0]
            Y[dst, a1, i] = Y[0, a1, i] + step * d[a1]
    else:
        for i in range(N):
            d = rhs(Y[src, 0, i], Y[src, 1, i], Y[src, 2, i], Y[src, 3, i], x[i], q[0, i], q[1, i], q[2, i], q[3, i])
            Y[0, a0, i] += step * (acc[a0, i] + d[a0])
            Y[0, a1, i] += step * (acc[a1, i] + d[a1])


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _stage(Y, src, dst, acc, x, q, mode, weight, step):
    """One explicit Runge-Kutta stage over the flat (population, lane) axis, d = f(Y[src], x), with
    y = Y[0] the state at the start of the step and Y[dst] the next stage's state:

    FIRST: acc = d, Y[dst] = y + step d;  ACCUMULATE: acc += weight d, Y[dst] = y + step d;
    FINAL: y += step (acc + d).  RK4 = FIRST, ACCUMULATE x 2, FINAL; Heun = FIRST, FINAL.

    Right-hand side and bookkeeping are fused, in two passes: (r, v), then (s, z) (each pass
    evaluates :func:`rhs` and keeps its half; the compiler drops the other half). One pass over all
    four rows would touch ~20 array rows, more run-time overlap checks than LLVM's vectoriser
    allows, and would stay scalar; each half vectorises across lanes (a batch of PING circuits
    ~30 -> ~15 ns per set-step; a single PING run pays ~20 ns/step for the second loop). The
    mode branch sits outside the loops.
    """
    _stage_rows(Y, src, dst, acc, x, q, mode, weight, step, np.int64(0))
    _stage_rows(Y, src, dst, acc, x, q, mode, weight, step, np.int64(2))


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _advance_general(Y, acc, x, U, h0, n_steps, K, KT, q, dt, method):
    """n_steps RK4 or Heun steps of a block of any number of populations; Y[0] is the state,
    Y[1] and Y[2] hold the intermediate stage states (see :func:`common.stage_plan`)."""
    n_stages = 4 if method == RK4 else 2
    for n in range(n_steps):
        h = h0 + 2 * n
        for st in range(n_stages):
            src, dst, dh, mode, weight, step = stage_plan(method, st, dt)
            coupled_input(x, U, h + dh, Y, src, np.int64(VAR_S), K, KT)
            _stage(Y, src, dst, acc, x, q, mode, weight, step)


# Inlined into both entry points at numba-IR level: compiled on its own, the block would be
# optimised and code-generated twice (once alone, once more inside the entry point that links it),
# which cost ~3.5 s of each entry point's compile.
@numba.njit(cache=True, error_model="numpy", inline="always")
def _integrate_block(blk, y0, par, K, const, series, series_shared, stride, sin_amp, omega, phase,
                     has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
    NV, P, L = y0.shape
    N = P * L
    Y, acc, x = alloc_work(NV, N)
    load_state(Y, y0)
    y = Y[0]
    q, eta = rate_constants(par)
    KT = coupling_transpose(K) if L == 1 else np.empty((1, 1))
    U = np.empty((2 * CHUNK + 1, N))
    const_f = flat_row(const)
    amp_f = flat_row(sin_amp)
    cos_now = np.empty(L)
    sin_now = np.empty(L)
    rot_c, rot_s = half_step_rotation(omega, dt)
    store(out, np.int64(0), y)
    until_record = record_every
    until_check = check_every
    for n0 in range(0, n_steps, CHUNK):
        nc = min(CHUNK, n_steps - n0)
        fill_drive_chunk(U, n0, nc, blk, eta, const_f, series, series_shared, stride, amp_f, omega, phase,
                         has_series, has_sin, dt, cos_now, sin_now, rot_c, rot_s)
        i = 0
        while i < nc:
            # run up to the next event (chunk end, recording, finiteness check) in one call
            ns = min(nc - i, until_record, until_check)
            if P == 1:
                _advance_one(y, U, 2 * i, ns, K, q, dt, method)
            else:
                _advance_general(Y, acc, x, U, 2 * i, ns, K, KT, q, dt, method)
            i += ns
            m = n0 + i
            until_record -= ns
            until_check -= ns
            if until_record == 0:
                until_record = record_every
                store(out, m // record_every, y)
            if until_check == 0 or m == n_steps:
                until_check = check_every
                mark_nonfinite(y, status, m)


@numba.njit(cache=True, error_model="numpy", parallel=True)
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
        # int64 like the serial entry point's block index
        _integrate_block(np.int64(b), y0[b], par[b], K[b], const[b], series, series_shared, stride, sin_amp[b],
                         omega[b], phase[b], has_series, has_sin, dt, n_steps, record_every,
                         check_every, method, out[:, b], status[b])


@numba.njit(cache=True, error_model="numpy")
def integrate_serial(y0, par, K, const, series, series_shared, stride, sin_amp, omega, phase,
                     has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
    """The same as :func:`integrate` on the calling thread (one block: no thread hand-off)."""
    nb = y0.shape[0]
    for b in range(nb):
        _integrate_block(b, y0[b], par[b], K[b], const[b], series, series_shared, stride, sin_amp[b],
                         omega[b], phase[b], has_series, has_sin, dt, n_steps, record_every,
                         check_every, method, out[:, b], status[b])


@numba.njit(cache=True, error_model="numpy")
def derivative(y, par, K, u):
    """dy/dt of NMM2 at state y, by the stage code of the general (any-P) integration path.

    Parameters
    ----------
    y : (nb, 4, P, L) state (r kHz, v, s kHz, z kHz)
    par : (nb, 4, P, L) tau_m (ms), tau_s (ms), Delta, eta_bar
    K : (nb, P, P, L) effective coupling tau_m,k J[k, l]
    u : (nb, P, L) total external input I_k at this instant (constant plus time-varying drive)

    Returns
    -------
    (nb, 4, P, L) array
        (dr/dt, dv/dt, ds/dt, dz/dt) in kHz/ms, 1/ms, kHz/ms, kHz/ms, with
        x_k = eta_k + u_k + sum_l K[k, l] s_l (models.md M2, M5).
    """
    nb, NV, P, L = y.shape
    N = P * L
    dy = np.empty((nb, NV, P, L))
    for b in range(nb):
        Y, acc, x = alloc_work(NV, N)
        load_state(Y, y[b])
        q, eta = rate_constants(par[b])
        KT = coupling_transpose(K[b]) if L == 1 else np.empty((1, 1))
        uf = flat_row(u[b])
        U = np.empty((1, N))
        for i in range(N):
            U[0, i] = eta[i] + uf[i]
        # the first RK4 stage with dt = 0: acc = f(y) exactly, by the integrator's own stage code
        src, dst, dh, mode, weight, step = stage_plan(RK4, 0, 0.0)
        coupled_input(x, U, dh, Y, src, np.int64(VAR_S), K[b], KT)
        _stage(Y, src, dst, acc, x, q, mode, weight, step)
        unflatten_into(dy[b], acc)
    return dy
