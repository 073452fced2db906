"""NMM1 kernel: static transfer function with second-order synapses (models.md M4, M5).

Per population k, with x_k = eta_k + I_k(t) + sum_l K[k, l] s_l (M5)::

    r_k = T_k(x_k)          T = Phi (QIF, M3) or the Jansen-Rit sigmoid S (M4)
    ds/dt = z / tau_s
    dz/dt = (r - 2 z - s) / tau_s

Phi(x) = sqrt(x + sqrt(x^2 + Delta^2)) / (sqrt(2) pi tau_m) is the stationary rate of the QIF
mean field (Montbrio, Pazo & Roxin, Phys. Rev. X 5, 021028, 2015); S(x) = 2 e0 / (1 + exp(r0 (v0 -
x))) is the sigmoid of Jansen & Rit (Biol. Cybern. 73, 357, 1995); the synapse is the unit-area
alpha filter of Clusella et al. (Biol. Cybern. 117, 5, 2023). T lives in :mod:`stimsim.transfer`,
the synapse in :func:`synapse`: the model's pointwise equations, written once and called by both
paths, the straight-line per-lane step of a one-population block (:func:`rk4_step_one`) and the
stage-by-stage step of any P (:func:`_rates`, :func:`_stage`), laid out as in ``common``.

Working state ``Y[row, var, k L + j]`` per block with var = (s, z). The recorded variables are
(r, v, s, z) as in NMM2: r = T(x), and v the frozen-input mean voltage v* (QIF, M3) or x (sigmoid).
:func:`derivative` exposes the general path's stage for tests.
"""
from __future__ import annotations

import numba
import numpy as np

from ..transfer import QIF, SIGMOID, mean_voltage, phi_qif, sigmoid, transfer
from .common import (ACCUMULATE, CHUNK, FIRST, RK4, alloc_work, coupled_input, coupling_transpose,
                     fill_drive_chunk, flat_row, half_step_rotation, load_state, mark_nonfinite, stage_plan,
                     store, unflatten_into)

N_STATE = 2
#: row of the synaptic variable s in the state
VAR_S = 0


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def synapse(s, z, r, inv_ts):
    """Second-order, unit-area alpha synapse driven by the rate r (models.md M2, M4; Clusella et al.
    2023, the post-synaptic filter of Jansen & Rit 1995).

    s, z, r in kHz, inv_ts = 1/tau_s in 1/ms; returns (ds/dt, dz/dt) in kHz/ms.
    """
    return z * inv_ts, (r - 2.0 * z - s) * inv_ts


@numba.njit(cache=True, error_model="numpy")
def transfer_constants(par):
    """Hoisted per-element constants from par (5, P, L) = (tau_s ms, eta_bar, p0, p1, p2).

    Returns p (3, P L) = transfer parameters (see :func:`stimsim.transfer.transfer`), inv_ts
    (P L,) = 1/tau_s in 1/ms and eta (P L,).
    """
    _, P, L = par.shape
    p = np.empty((3, P * L))
    inv_ts = np.empty(P * L)
    eta = np.empty(P * L)
    for k in range(P):
        for j in range(L):
            i = k * L + j
            inv_ts[i] = 1.0 / par[0, k, j]
            eta[i] = par[1, k, j]
            p[0, i] = par[2, k, j]
            p[1, i] = par[3, k, j]
            p[2, i] = par[4, k, j]
    return p, inv_ts, eta


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def rk4_step_one(s, z, u0, u1, u2, kself, kind, p0, p1, p2, inv_ts, dt):
    """One RK4 step of a single self-coupled population; u0, u1, u2 = eta_bar + I at t, t + dt/2, t + dt.

    Inlined (by LLVM) where it is called with a constant ``kind``, so the transfer-function choice
    is resolved at compile time and the lane loop around it vectorises.
    """
    h = 0.5 * dt
    a0, a1 = synapse(s, z, transfer(kind, u0 + kself * s, p0, p1, p2), inv_ts)
    s2 = s + h * a0
    z2 = z + h * a1
    b0, b1 = synapse(s2, z2, transfer(kind, u1 + kself * s2, p0, p1, p2), inv_ts)
    s3 = s + h * b0
    z3 = z + h * b1
    c0, c1 = synapse(s3, z3, transfer(kind, u1 + kself * s3, p0, p1, p2), inv_ts)
    s4 = s + dt * c0
    z4 = z + dt * c1
    d0, d1 = synapse(s4, z4, transfer(kind, u2 + kself * s4, p0, p1, p2), inv_ts)
    w = dt / 6.0
    return s + w * (a0 + 2.0 * b0 + 2.0 * c0 + d0), z + w * (a1 + 2.0 * b1 + 2.0 * c1 + d1)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def heun_step_one(s, z, u0, u2, kself, kind, p0, p1, p2, inv_ts, dt):
    """One Heun step of a single self-coupled population."""
    a0, a1 = synapse(s, z, transfer(kind, u0 + kself * s, p0, p1, p2), inv_ts)
    s2 = s + dt * a0
    z2 = z + dt * a1
    b0, b1 = synapse(s2, z2, transfer(kind, u2 + kself * s2, p0, p1, p2), inv_ts)
    h = 0.5 * dt
    return s + h * (a0 + b0), z + h * (a1 + b1)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _advance_one(y, U, h0, n_steps, K, kind, p, inv_ts, dt, method):
    """n_steps steps of every lane of a one-population block, drive rows U[h0 ...] (straight-line
    code per lane, the lane loop innermost; the kind is a constant in each loop, so its branch
    leaves the loop and the loop vectorises across sets)."""
    L = y.shape[1]
    for n in range(n_steps):
        h = h0 + 2 * n
        if method == RK4:
            if kind == QIF:
                for j in range(L):
                    y[0, j], y[1, j] = rk4_step_one(y[0, j], y[1, j], U[h, j], U[h + 1, j], U[h + 2, j], K[0, 0, j],
                                                    QIF, p[0, j], p[1, j], p[2, j], inv_ts[j], dt)
            else:
                for j in range(L):
                    y[0, j], y[1, j] = rk4_step_one(y[0, j], y[1, j], U[h, j], U[h + 1, j], U[h + 2, j], K[0, 0, j],
                                                    SIGMOID, p[0, j], p[1, j], p[2, j], inv_ts[j], dt)
        else:
            if kind == QIF:
                for j in range(L):
                    y[0, j], y[1, j] = heun_step_one(y[0, j], y[1, j], U[h, j], U[h + 2, j], K[0, 0, j],
                                                     QIF, p[0, j], p[1, j], p[2, j], inv_ts[j], dt)
            else:
                for j in range(L):
                    y[0, j], y[1, j] = heun_step_one(y[0, j], y[1, j], U[h, j], U[h + 2, j], K[0, 0, j],
                                                     SIGMOID, p[0, j], p[1, j], p[2, j], inv_ts[j], dt)


@numba.njit(cache=True, error_model="python", forceinline=True)
def _sigmoid_run(r, x, p, i0, i1):
    """r[i] = S(x[i]) in kHz for i in [i0, i1) (Jansen-Rit sigmoid, M4).

    Compiled with numba's default ("python") error model on purpose: its zero-division test on
    1 + exp(...) (never taken) keeps this loop scalar. Without a vector exp (no SVML), LLVM's
    vectorised form calls the scalar exp once per lane and spills the vector registers around
    every call; that made Jansen-Rit batches ~25% slower than this scalar loop. Used in the
    batch specialisation of the stage code only: its exception exit slows one-lane code around it.
    """
    for i in range(i0, i1):
        r[i] = sigmoid(x[i], p[0, i], p[1, i], p[2, i])


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _rates(r, x, kinds, p, one_lane):
    """r[k L + j] = T_k(x[k L + j]) in kHz: Phi (M3) for QIF populations, S (M4) for sigmoid ones.

    ``one_lane`` (a literal at every call, so each case compiles on its own; L = x.size / P):
    a loop over populations. Otherwise one loop per run of consecutive populations of one kind,
    over all their lanes, so the kind test leaves the loops.
    """
    P = kinds.shape[0]
    if one_lane:
        for k in range(P):
            r[k] = transfer(kinds[k], x[k], p[0, k], p[1, k], p[2, k])
    else:
        L = x.shape[0] // P
        k = 0
        while k < P:
            kind = kinds[k]
            e = k + 1
            while e < P and kinds[e] == kind:
                e += 1
            if kind == QIF:
                for i in range(k * L, e * L):
                    r[i] = phi_qif(x[i], p[0, i], p[1, i])
            else:
                _sigmoid_run(r, x, p, k * L, e * L)
            k = e


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _stage(Y, src, dst, acc, r, inv_ts, mode, weight, step):
    """One explicit Runge-Kutta stage over the flat (population, lane) axis, given the rates r at
    Y[src] (modes and rows as in nmm2._stage); the synapse and the bookkeeping are one pass."""
    N = r.shape[0]
    if mode == FIRST:
        for i in range(N):
            d0, d1 = synapse(Y[src, 0, i], Y[src, 1, i], r[i], inv_ts[i])
            acc[0, i] = d0
            acc[1, i] = d1
            Y[dst, 0, i] = Y[0, 0, i] + step * d0
            Y[dst, 1, i] = Y[0, 1, i] + step * d1
    elif mode == ACCUMULATE:
        for i in range(N):
            d0, d1 = synapse(Y[src, 0, i], Y[src, 1, i], r[i], inv_ts[i])
            acc[0, i] += weight * d0
            acc[1, i] += weight * d1
            Y[dst, 0, i] = Y[0, 0, i] + step * d0
            Y[dst, 1, i] = Y[0, 1, i] + step * d1
    else:
        for i in range(N):
            d0, d1 = synapse(Y[src, 0, i], Y[src, 1, i], r[i], inv_ts[i])
            Y[0, 0, i] += step * (acc[0, i] + d0)
            Y[0, 1, i] += step * (acc[1, i] + d1)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _advance_general(Y, acc, x, r, U, h0, n_steps, K, KT, kinds, p, inv_ts, dt, method, one_lane):
    """n_steps RK4 or Heun steps of a block of any number of populations (rows of Y as in nmm2);
    ``one_lane`` (a literal) selects the single-run or the batch specialisation of :func:`_rates`."""
    n_stages = 4 if method == RK4 else 2
    for n in range(n_steps):
        h = h0 + 2 * n
        for st in range(n_stages):
            src, dst, dh, mode, weight, step = stage_plan(method, st, dt)
            coupled_input(x, U, h + dh, Y, src, np.int64(VAR_S), K, KT)
            _rates(r, x, kinds, p, one_lane)
            _stage(Y, src, dst, acc, r, inv_ts, mode, weight, step)


@numba.njit(cache=True, error_model="numpy")
def _record(out, m, Y, x, r, U, h, K, KT, kinds, p, rec):
    """out[m] = (r, v, s, z) at state Y[0] and input row U[h] (v: mean_voltage of the kind)."""
    P = kinds.shape[0]
    N = x.shape[0]
    L = N // P
    coupled_input(x, U, h, Y, np.int64(0), np.int64(VAR_S), K, KT)
    for k in range(P):
        kind = kinds[k]
        for i in range(k * L, (k + 1) * L):
            r[i] = transfer(kind, x[i], p[0, i], p[1, i], p[2, i])
            rec[0, i] = r[i]
            rec[1, i] = mean_voltage(kind, x[i], r[i], p[0, i], p[1, i])
            rec[2, i] = Y[0, 0, i]
            rec[3, i] = Y[0, 1, i]
    store(out, m, rec)


# Inlined into both entry points at numba-IR level: compiled on its own, the block would be
# optimised and code-generated twice (once alone, once more inside the entry point that links it),
# which cost ~3.5 s of each entry point's compile.
@numba.njit(cache=True, error_model="numpy", inline="always")
def _integrate_block(blk, y0, par, kinds, K, const, series, series_shared, stride, sin_amp, omega,
                     phase, has_series, has_sin, dt, n_steps, record_every, check_every, method,
                     out, status):
    NV, P, L = y0.shape
    N = P * L
    Y, acc, x = alloc_work(NV, N)
    load_state(Y, y0)
    y = Y[0]
    p, inv_ts, eta = transfer_constants(par)
    KT = coupling_transpose(K) if L == 1 else np.empty((1, 1))
    r = np.empty(N)
    rec = np.empty((4, N))
    U = np.empty((2 * CHUNK + 1, N))
    const_f = flat_row(const)
    amp_f = flat_row(sin_amp)
    cos_now = np.empty(L)
    sin_now = np.empty(L)
    rot_c, rot_s = half_step_rotation(omega, dt)
    kind0 = kinds[0]
    until_record = record_every
    until_check = check_every
    for n0 in range(0, n_steps, CHUNK):
        nc = min(CHUNK, n_steps - n0)
        fill_drive_chunk(U, n0, nc, blk, eta, const_f, series, series_shared, stride, amp_f, omega, phase,
                         has_series, has_sin, dt, cos_now, sin_now, rot_c, rot_s)
        if n0 == 0:
            _record(out, np.int64(0), Y, x, r, U, np.int64(0), K, KT, kinds, p, rec)
        i = 0
        while i < nc:
            # run up to the next event (chunk end, recording, finiteness check) in one call
            ns = min(nc - i, until_record, until_check)
            if P == 1:
                _advance_one(y, U, 2 * i, ns, K, kind0, p, inv_ts, dt, method)
            elif L == 1:
                _advance_general(Y, acc, x, r, U, 2 * i, ns, K, KT, kinds, p, inv_ts, dt, method, True)
            else:
                _advance_general(Y, acc, x, r, U, 2 * i, ns, K, KT, kinds, p, inv_ts, dt, method, False)
            i += ns
            m = n0 + i
            until_record -= ns
            until_check -= ns
            if until_record == 0:
                until_record = record_every
                _record(out, m // record_every, Y, x, r, U, 2 * i, K, KT, kinds, p, rec)
            if until_check == 0 or m == n_steps:
                until_check = check_every
                mark_nonfinite(y, status, m)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def integrate(y0, par, kinds, K, const, series, series_shared, stride, sin_amp, omega, phase,
              has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
    """Integrate blocks of NMM1 circuits in parallel (arguments as :func:`nmm2.integrate`;
    y0 is (nb, 2, P, L) = (s, z), par is (nb, 5, P, L) = tau_s, eta_bar, p0, p1, p2 of the
    transfer function, kinds (P,) int64 its kind)."""
    nb = y0.shape[0]
    for b in numba.prange(nb):
        # int64 like the serial entry point's block index
        _integrate_block(np.int64(b), y0[b], par[b], kinds, K[b], const[b], series, series_shared, stride,
                         sin_amp[b], omega[b], phase[b], has_series, has_sin, dt, n_steps,
                         record_every, check_every, method, out[:, b], status[b])


@numba.njit(cache=True, error_model="numpy")
def integrate_serial(y0, par, kinds, K, const, series, series_shared, stride, sin_amp, omega,
                     phase, has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
    """The same as :func:`integrate` on the calling thread (one block: no thread hand-off)."""
    nb = y0.shape[0]
    for b in range(nb):
        _integrate_block(b, y0[b], par[b], kinds, K[b], const[b], series, series_shared, stride,
                         sin_amp[b], omega[b], phase[b], has_series, has_sin, dt, n_steps,
                         record_every, check_every, method, out[:, b], status[b])


@numba.njit(cache=True, error_model="numpy")
def derivative(y, par, kinds, K, u):
    """d(s, z)/dt of NMM1 at state y, by the stage code of the general (any-P) integration path.

    Parameters
    ----------
    y : (nb, 2, P, L) state (s kHz, z kHz)
    par : (nb, 5, P, L) tau_s (ms), eta_bar, p0, p1, p2 (transfer parameters, see
        :func:`stimsim.transfer.transfer`)
    kinds : (P,) int64 transfer kind per population (``transfer.QIF`` or ``transfer.SIGMOID``)
    K : (nb, P, P, L) effective coupling w_k J[k, l]
    u : (nb, P, L) total external input I_k at this instant (constant plus time-varying drive)

    Returns
    -------
    (nb, 2, P, L) array
        (ds/dt, dz/dt) in kHz/ms with r_k = T_k(x_k), x_k = eta_k + u_k + sum_l K[k, l] s_l
        (models.md M4, M5).
    """
    nb, NV, P, L = y.shape
    N = P * L
    dy = np.empty((nb, NV, P, L))
    for b in range(nb):
        Y, acc, x = alloc_work(NV, N)
        load_state(Y, y[b])
        p, inv_ts, eta = transfer_constants(par[b])
        KT = coupling_transpose(K[b]) if L == 1 else np.empty((1, 1))
        uf = flat_row(u[b])
        U = np.empty((1, N))
        for i in range(N):
            U[0, i] = eta[i] + uf[i]
        r = np.empty(N)
        # the first RK4 stage with dt = 0: acc = f(y) exactly, by the integrator's own stage code
        src, dst, dh, mode, weight, step = stage_plan(RK4, 0, 0.0)
        coupled_input(x, U, dh, Y, src, np.int64(VAR_S), K[b], KT)
        if L == 1:
            _rates(r, x, kinds, p, True)
        else:
            _rates(r, x, kinds, p, False)
        _stage(Y, src, dst, acc, r, inv_ts, mode, weight, step)
        unflatten_into(dy[b], acc)
    return dy
