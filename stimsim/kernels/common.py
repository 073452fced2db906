"""Pieces shared by the NMM2 and NMM1 kernels: layout, drive, coupling, recording and checks.

Argument layout of the entry points ("lanes"): every per-set array has the parameter sets as its
last, contiguous axis, grouped in blocks of L lanes, e.g. ``par[block, parameter, population,
lane]``. Blocks are spread over threads with ``prange``; a single run is one block of L = 1 lane.

Working layout inside a block: population and lane are flattened into one contiguous axis of
N = P L elements, ``i = k L + j`` (population k, lane j). ``Y[0, var, i]`` is the state and
``Y[1]``, ``Y[2]`` the Runge-Kutta stage states; every per-population constant is hoisted into an
(N,) row before the time loop. A stage is the coupling product (:func:`coupled_input`, a
matrix-vector product per lane), then fused passes of right-hand side and RK bookkeeping, each a
single loop of N trips: over populations in a single run (no loop whose trip count is L = 1),
over the lanes of all populations in a batch (vectorised across sets). One population takes a
straight-line step per lane instead (the models' ``rk4_step_one``). The block's time loop calls
the step code once per stretch of steps up to the next event (end of a drive chunk, a recording,
a finiteness check); the step functions are inlined into it (``forceinline``: LLVM-level
inlining, which costs little compile time, unlike numba's ``inline="always"``). Integer arguments
that are constants at the call site are passed as ``np.int64(...)``: numba would otherwise
compile a separate specialisation for each literal value.

All kernel functions use ``error_model="numpy"``: a division by zero gives inf/nan instead of
raising, so loops carry no exception exits and vectorise (the callers validate the inputs, and
non-finite states are reported per lane through ``status``).

Drive at half-step h (time t = h dt/2, the grid RK4's stages need), models.md M2/M4 ``I(t)``::

    I_k(t) = const_k + series_k(t) + sin_amp_k cos(omega t + phase)

It is evaluated for CHUNK steps at a time into a small buffer, outside the stage loops, with the
excitability centre eta_bar_k added (the buffer holds U_k = eta_bar_k + I_k(t)). ``series`` is
sampled every ``stride`` half-steps and linearly interpolated between samples (stride 1: exact on
the stage grid). The cosine advances by a rotation recurrence (no transcendental call per step),
anchored with an exact cos/sin at the start of every chunk.
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
#: how often (steps) the kernels look for non-finite states between recordings
CHECK_EVERY = 1024


def pad_lanes(arr, B, L):
    """(..., B) -> (nb, ..., L): the entry points' block layout, padding the last axis by repeating
    the last set (plain numpy, used by every engine that packs parameter sets into lanes)."""
    nb = -(-B // L)
    pad = nb * L - B
    if pad:
        arr = np.concatenate([arr, np.repeat(arr[..., -1:], pad, axis=-1)], axis=-1)
    arr = arr.reshape(arr.shape[:-1] + (nb, L))
    return np.ascontiguousarray(np.moveaxis(arr, -2, 0))


@numba.njit(cache=True, error_model="numpy")
def load_state(Y, y0):
    """Y[0, a, k L + j] = y0[a, k, j]: the entry points' (NV, P, L) state into the working layout."""
    NV, P, L = y0.shape
    for a in range(NV):
        for k in range(P):
            for j in range(L):
                Y[0, a, k * L + j] = y0[a, k, j]


@numba.njit(cache=True, error_model="numpy")
def flat_row(a):
    """(P, L) -> new contiguous (P L,) array, element k L + j = a[k, j]."""
    P, L = a.shape
    f = np.empty(P * L)
    for k in range(P):
        for j in range(L):
            f[k * L + j] = a[k, j]
    return f


@numba.njit(cache=True, error_model="numpy")
def coupling_transpose(K):
    """KT[l, k] = K[k, l, 0] for a single lane (L = 1), so the coupling product runs along rows."""
    P = K.shape[0]
    KT = np.empty((P, P))
    for k in range(P):
        for l in range(P):
            KT[l, k] = K[k, l, 0]
    return KT


@numba.njit(cache=True, error_model="numpy")
def fill_drive_chunk(U, n0, nc, blk, eta, const, series, series_shared, stride, sin_amp, omega, phase,
                     has_series, has_sin, dt, cos_now, sin_now, rot_c, rot_s):
    """U[i, k L + j] = eta_k + I_k(t) of population k, lane j at half-step 2 n0 + i, i = 0 .. 2 nc.

    eta, const and sin_amp are flat (N,) rows; series is the entry points' (n_samples, nb or 1,
    P, L or 1) array. The sum is formed as eta + (const + series + sinusoid).
    """
    N = eta.shape[0]
    L = omega.shape[0]
    P = N // L
    nh = 2 * nc + 1
    for i in range(nh):
        for n in range(N):
            U[i, n] = const[n]
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
                        U[i, k * L + j] += val
            else:
                for k in range(P):
                    if rem == 0:
                        for j in range(L):
                            U[i, k * L + j] += series[q, blk, k, j]
                    else:
                        for j in range(L):
                            a = series[q, blk, k, j]
                            U[i, k * L + j] += a + (series[q + 1, blk, k, j] - a) * frac
    if has_sin:
        t0 = n0 * dt
        for j in range(L):
            a = omega[j] * t0 + phase[j]
            cos_now[j] = math.cos(a)
            sin_now[j] = math.sin(a)
        for i in range(nh):
            for k in range(P):
                for j in range(L):
                    U[i, k * L + j] += sin_amp[k * L + j] * cos_now[j]
            for j in range(L):
                c = cos_now[j]
                s = sin_now[j]
                cos_now[j] = c * rot_c[j] - s * rot_s[j]
                sin_now[j] = s * rot_c[j] + c * rot_s[j]
    for i in range(nh):
        for n in range(N):
            U[i, n] = eta[n] + U[i, n]


@numba.njit(cache=True, error_model="numpy")
def half_step_rotation(omega, dt):
    """cos and sin of omega dt / 2 per lane (the rotation the cosine recurrence applies)."""
    L = omega.shape[0]
    rot_c = np.empty(L)
    rot_s = np.empty(L)
    for j in range(L):
        rot_c[j] = math.cos(0.5 * omega[j] * dt)
        rot_s[j] = math.sin(0.5 * omega[j] * dt)
    return rot_c, rot_s


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def coupled_input(x, U, h, Y, src, var_s, K, KT):
    """x[k L + j] = U[h, k L + j] + sum_l K[k, l, j] s_l,j with s = Y[src, var_s]  (models.md M5).

    A matrix-vector product per lane. Every path adds the terms one at a time in increasing l,
    ((U + K_0 s_0) + K_1 s_1) + ..., so single runs and batches give identical sums. One lane:
    rows of the transposed KT (P, P) are added to x four at a time (one load and store of x per
    four terms), the innermost loop running over populations. Several lanes: the innermost loop
    runs over the lanes of K[k, l, :].
    """
    P, _, L = K.shape
    if L == 1:
        for k in range(P):
            x[k] = U[h, k]
        l = 0
        while l + 4 <= P:
            s0 = Y[src, var_s, l]
            s1 = Y[src, var_s, l + 1]
            s2 = Y[src, var_s, l + 2]
            s3 = Y[src, var_s, l + 3]
            for k in range(P):
                x[k] = (((x[k] + KT[l, k] * s0) + KT[l + 1, k] * s1) + KT[l + 2, k] * s2) + KT[l + 3, k] * s3
            l += 4
        while l < P:
            s0 = Y[src, var_s, l]
            for k in range(P):
                x[k] += KT[l, k] * s0
            l += 1
    else:
        for k in range(P):
            o = k * L
            for j in range(L):
                x[o + j] = U[h, o + j]
            for l in range(P):
                a = l * L
                for j in range(L):
                    x[o + j] += K[k, l, j] * Y[src, var_s, a + j]


@numba.njit(cache=True, error_model="numpy")
def alloc_work(NV, N):
    """Work arrays of a block: Y (3, NV, N) = (state, two stage states), the RK accumulator
    (NV, N) and the total input x (N,)."""
    return np.empty((3, NV, N)), np.empty((NV, N)), np.empty(N)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def stage_plan(method, st, dt):
    """Stage st of a step: (src, dst, dh, mode, weight, step).

    The stage evaluates f at Y[src] and drive row h + dh (half-steps, dt/2 each) and writes the
    next stage state to Y[dst] (Y[0] is the state; the stage states ping-pong between Y[1] and
    Y[2], so no stage writes the rows f is evaluated at). Modes, weights and steps (dt in ms):
    RK4 = FIRST (dt/2), ACCUMULATE 2 (dt/2), ACCUMULATE 2 (dt), FINAL (dt/6); Heun = FIRST (dt),
    FINAL (dt/2).
    """
    if method == RK4:
        if st == 0:
            return 0, 1, 0, FIRST, 1.0, 0.5 * dt
        if st == 1:
            return 1, 2, 1, ACCUMULATE, 2.0, 0.5 * dt
        if st == 2:
            return 2, 1, 1, ACCUMULATE, 2.0, dt
        return 1, 2, 2, FINAL, 1.0, dt / 6.0
    if st == 0:
        return 0, 1, 0, FIRST, 1.0, dt
    return 1, 2, 2, FINAL, 1.0, 0.5 * dt


@numba.njit(cache=True, error_model="numpy")
def store(out, m, rec):
    """out[m, a, k, j] = rec[a, k L + j] (explicit loops: no broadcasting machinery compiled)."""
    _, NV, P, L = out.shape
    for a in range(NV):
        for k in range(P):
            for j in range(L):
                out[m, a, k, j] = rec[a, k * L + j]


@numba.njit(cache=True, error_model="numpy")
def unflatten_into(dst, f):
    """dst[a, k, j] = f[a, k L + j] for a (A, P, L) destination."""
    A, P, L = dst.shape
    for a in range(A):
        for k in range(P):
            for j in range(L):
                dst[a, k, j] = f[a, k * L + j]


@numba.njit(cache=True, error_model="numpy")
def mark_nonfinite(y, status, step):
    """status[j] = step for lanes whose flat state y (NV, P L) first became non-finite at this check."""
    NV, N = y.shape
    L = status.shape[0]
    for i in range(N):
        j = i % L
        if status[j] < 0:
            for a in range(NV):
                if not math.isfinite(y[a, i]):
                    status[j] = step
