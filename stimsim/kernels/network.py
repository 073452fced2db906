"""Spiking QIF network kernel (models.md M1): N quadratic integrate-and-fire neurons per population.

Montbrió, Pazó & Roxin, Phys. Rev. X 5, 021028 (2015), with the second-order (alpha) synapse of
Clusella et al., Biol. Cybern. 117 (2023) driven by each population's spikes. Neuron j of
population k (time in ms, V and inputs in QIF units)::

    tau_m,k dV_j/dt = V_j^2 + eta_j + I_k(t) + sum_l K[k, l] s_l(t)  [+ sigma sqrt(tau_m,k) xi_j(t)]
    tau_s,l ds_l/dt = z_l,   tau_s,l dz_l/dt = r_l(t) - 2 z_l - s_l,   r_l(t) = (1/N) sum_spikes delta(t - t_spike)

with K[k, l] = tau_m,k J[k, l] (M5) and eta_j from the Lorentzian of centre eta_bar_k, half-width
Delta_k (absorbed into ``E``). One step of dt, per neuron (branch-free: selects, no jumps, so the
compiler vectorises the loop over neurons):

* **Voltage**: the nonstandard finite-difference step of Mickens (Nonstandard Finite Difference
  Models of Differential Equations, World Scientific 1994), V^2 -> V_n V_{n+1}::

      V_{n+1} = (V_n + h c) / (1 - h V_n),    h = t_active / tau_m,   c = eta_j + I + sum K s

  It is exact for c = 0 (the flow 1/V -> 1/V - t/tau_m that dominates near the spike), first
  order otherwise, and for c < 0 its fixed point -sqrt(-c) is stable for every h. It needs
  h V_peak < 1 (the model requires dt <= 0.5 tau_m / V_peak).
* **Spike and reset (MPR convention)**: when V reaches V_peak the neuron is refractory for
  2 tau_m / V_peak: it is held for the time the V^2 flow takes from V_{n+1} to +infinity,
  tau_m / V_{n+1} (= tau_m / V_peak at the crossing; evaluated as (tau_m / V_peak)(1 - e + e^2),
  e = V_{n+1}/V_peak - 1 <= 0.5, error e^3), then the spike is emitted, V = V_reset = -V_peak, and
  it is held another tau_m / V_peak (the time from -infinity to V_reset). ``R`` counts the
  remaining refractory time down; a neuron becomes active again in the middle of a step and is
  integrated for the rest of it (h = t_active / tau_m).
* **Noise** (optional): sigma sqrt(h) w added to the numerator, w with mean 0, variance 1 and
  third moment 0 (uniform on [-sqrt 3, sqrt 3]): the simplified weak Euler scheme (Kloeden &
  Platen, Numerical Solution of Stochastic Differential Equations, Springer 1992, sec. 14.1),
  weak order 1 like Euler-Maruyama. Neuron j at step n draws the j-th output of a SplitMix64
  generator (Steele, Lea & Flood, OOPSLA 2014) seeded with the n-th output of one seeded with the
  run's key: counter-based (Salmon et al., SC'11), so the numbers do not depend on the number of
  threads or the blocks.
* **Synapse**: (s, z) advance by the exact propagator of the linear critically damped system
  (Rotter & Diesmann, Biol. Cybern. 81, 381, 1999), exp(A h) = e^-a [[1 + a, a], [-a, 1 - a]],
  a = h / tau_s; a spike a time eps before the end of the step adds (1/(N tau_s)) e^-a' (a', 1 - a'),
  a' = eps / tau_s, taken to first order in a' (error (dt/tau_s)^2 per spike).
* **Input**: I_k and s_l at the middle of the step (s by the same exact propagator, without the
  step's spikes).

Recording (every ``record_every`` steps, t_m = m record_every dt):

* r: spikes of the population in a window of W steps centred on t_m (to within half a step;
  clipped at the ends of the run), divided by N and the window's duration (kHz);
* v: mean of V_j over the neurons that are not refractory and have |V_j| <= V_peak (the
  symmetric truncation of the Cauchy principal value at V_peak; models.md M1);
* s, z: the synaptic variables at t_m;
* spike times of the raster subset.

Layout: V, R, E are flat (sum of N_k) arrays, population k at [off_k, off_k + N_k); the neuron
loop runs over blocks (contiguous ranges of one population, chosen by the caller independently of
the thread count), threaded in :func:`advance` and in order in :func:`advance_serial`, whose sums
are then formed in the same order; ``advance`` integrates steps [n_begin, n_end) so the caller can
report progress between calls.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .common import CHUNK, fill_drive_chunk, half_step_rotation

_FM = {"nsz", "contract", "reassoc"}
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
#: 2^-53: uniform doubles in [0, 1) from the top 53 bits
_TWO_M53 = 1.0 / 9007199254740992.0
_SQRT3 = math.sqrt(3.0)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def splitmix64(x):
    """The SplitMix64 output function of state x (Steele, Lea & Flood 2014), uint64 -> uint64."""
    z = x
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(cache=True, error_model="numpy", fastmath=_FM, nogil=True)
def neurons(V, R, E, u, inv_tau, dt, vp, t_half, inv_vp):
    """One step of one block of neurons (no noise); returns (spikes emitted, sum of their eps).

    V, R, E : contiguous slices (voltage, remaining refractory time ms, eta); u : the
    population's input I + sum K s at the middle of the step; inv_tau = 1/tau_m (1/ms);
    t_half = tau_m / V_peak (ms); inv_vp = 1/V_peak. eps is the time from a spike to the end of
    the step (ms).
    """
    vr = -vp
    nsp = 0
    eps = 0.0
    for j in range(V.shape[0]):
        r_old = R[j]
        r_new = max(r_old - dt, -dt)
        h = min(max(-r_new, 0.0), dt) * inv_tau          # active part of the step / tau_m
        v = V[j]
        vn = (v + h * (E[j] + u)) / (1.0 - h * v)
        sp = (r_old > t_half) & (r_new <= t_half)
        nsp += sp
        eps += (t_half - r_new) if sp else 0.0
        cross = vn >= vp
        e = min(vn * inv_vp - 1.0, 0.5)
        V[j] = vr if cross else vn
        R[j] = t_half * (2.0 - e + e * e) if cross else r_new
    return nsp, eps


@numba.njit(cache=True, error_model="numpy", fastmath=_FM, nogil=True)
def neurons_noisy(V, R, E, u, inv_tau, dt, vp, t_half, inv_vp, sigma, key, j0):
    """:func:`neurons` with noise sigma sqrt(h) w in the numerator (module docstring); key is the
    step's SplitMix64 seed (uint64), j0 the global index of the block's first neuron."""
    vr = -vp
    nsp = 0
    eps = 0.0
    base = key + np.uint64(j0) * _GOLDEN
    for j in range(V.shape[0]):
        r_old = R[j]
        r_new = max(r_old - dt, -dt)
        h = min(max(-r_new, 0.0), dt) * inv_tau
        bits = splitmix64(base + np.uint64(j + 1) * _GOLDEN)
        w = _SQRT3 * (2.0 * ((bits >> _S11) * _TWO_M53) - 1.0)
        v = V[j]
        vn = (v + h * (E[j] + u) + sigma * math.sqrt(h) * w) / (1.0 - h * v)
        sp = (r_old > t_half) & (r_new <= t_half)
        nsp += sp
        eps += (t_half - r_new) if sp else 0.0
        cross = vn >= vp
        e = min(vn * inv_vp - 1.0, 0.5)
        V[j] = vr if cross else vn
        R[j] = t_half * (2.0 - e + e * e) if cross else r_new
    return nsp, eps


@numba.njit(cache=True, error_model="numpy", fastmath=_FM, nogil=True)
def voltage_sum(V, R, vp):
    """(sum of V, count) over neurons not refractory (R <= 0) with |V| <= V_peak."""
    tot = 0.0
    cnt = 0
    for j in range(V.shape[0]):
        ok = (R[j] <= 0.0) & (abs(V[j]) <= vp)
        tot += V[j] if ok else 0.0
        cnt += ok
    return tot, cnt


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def propagate(s, z, a):
    """Exact step of tau_s ds/dt = z, tau_s dz/dt = -2 z - s over a = h / tau_s (Rotter & Diesmann 1999)."""
    e = math.exp(-a)
    return e * ((1.0 + a) * s + a * z), e * ((1.0 - a) * z - a * s)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _advance_body(neur, blocks, pops, drive, noise, grid, rec, rast, scratch):
    # arguments packed in tuples: numba's inliner takes at most ~30 arguments
    V, R, E = neur
    blk_pop, blk_start, blk_stop = blocks
    n_neurons, inv_tau, t_half, vp, inv_ts, K = pops
    const, series, series_shared, stride, sin_amp, omega, phase, has_series, has_sin = drive
    sigma, key = noise
    dt, n_begin, n_end, n_steps, record_every, window = grid
    syn, ring, rsum, r_init, out = rec
    rast_idx, rast_pop, rast_t, rast_n = rast
    work_i, work_e, work_f = scratch
    P = syn.shape[1]
    nb = blk_pop.shape[0]
    n_rast = rast_idx.shape[0]
    cap = rast_t.shape[1]
    inv_vp = 1.0 / vp
    W = window
    off = W // 2 - 1                         # record m is complete after step m record_every + off
    lead = (W + 1) // 2                      # its window starts at step m record_every - lead
    M = n_steps // record_every
    U = np.empty((2 * CHUNK + 1, P))
    zero = np.zeros(P)
    cos_now = np.empty(1)
    sin_now = np.empty(1)
    rot_c, rot_s = half_step_rotation(omega, dt)
    s_mid = np.empty(P)
    u = np.empty(P)
    cnt_k = np.empty(P, dtype=np.int64)
    eps_k = np.empty(P)
    vsum = np.empty(P)
    vcnt = np.empty(P, dtype=np.int64)
    if n_begin == 0:
        # record 0: the initial state
        for k in range(P):
            vsum[k] = 0.0
            vcnt[k] = 0
        for b in numba.prange(nb):
            a0, a1 = blk_start[b], blk_stop[b]
            work_f[b], work_i[b] = voltage_sum(V[a0:a1], R[a0:a1], vp)
        for b in range(nb):
            vsum[blk_pop[b]] += work_f[b]
            vcnt[blk_pop[b]] += work_i[b]
        for k in range(P):
            out[0, 1, k] = vsum[k] / vcnt[k] if vcnt[k] > 0 else np.nan
            out[0, 2, k] = syn[0, k]
            out[0, 3, k] = syn[1, k]
            if W == 1:
                out[0, 0, k] = r_init[k]     # a one-step window centred at t = 0 holds no step
    for n0 in range(n_begin, n_end, CHUNK):
        nc = min(CHUNK, n_end - n0)
        fill_drive_chunk(U, n0, nc, np.int64(0), zero, const, series, series_shared, stride, sin_amp, omega,
                         phase, has_series, has_sin, dt, cos_now, sin_now, rot_c, rot_s)
        for i in range(nc):
            n = n0 + i
            # input at the middle of the step: drive row 2 i + 1, s propagated half a step
            for l in range(P):
                s_mid[l], _ = propagate(syn[0, l], syn[1, l], 0.5 * dt * inv_ts[l])
            for k in range(P):
                acc = U[2 * i + 1, k]
                for l in range(P):
                    acc += K[k, l] * s_mid[l]
                u[k] = acc
            step_key = splitmix64(key + np.uint64(n + 1) * _GOLDEN)
            for b in numba.prange(nb):
                k = blk_pop[b]
                a0, a1 = blk_start[b], blk_stop[b]
                if sigma > 0.0:
                    work_i[b], work_e[b] = neurons_noisy(V[a0:a1], R[a0:a1], E[a0:a1], u[k], inv_tau[k], dt, vp,
                                                         t_half[k], inv_vp, sigma, step_key, a0)
                else:
                    work_i[b], work_e[b] = neurons(V[a0:a1], R[a0:a1], E[a0:a1], u[k], inv_tau[k], dt, vp,
                                                   t_half[k], inv_vp)
            for k in range(P):
                cnt_k[k] = 0
                eps_k[k] = 0.0
            for b in range(nb):
                cnt_k[blk_pop[b]] += work_i[b]
                eps_k[blk_pop[b]] += work_e[b]
            # synapses: exact propagation over the step, plus each spike's kick propagated by its eps
            for l in range(P):
                a = dt * inv_ts[l]
                s1, z1 = propagate(syn[0, l], syn[1, l], a)
                w = inv_ts[l] / n_neurons[l]
                e_sum = eps_k[l]
                syn[0, l] = s1 + w * inv_ts[l] * e_sum
                syn[1, l] = z1 + w * (cnt_k[l] - 2.0 * inv_ts[l] * e_sum)
            # raster subset: the neurons whose spike fell in this step
            t_end = (n + 1) * dt
            for q in range(n_rast):
                j = rast_idx[q]
                k = rast_pop[q]
                rj = R[j]
                if rj <= t_half[k] and rj > t_half[k] - dt:
                    c = rast_n[0]
                    if c < cap:
                        rast_t[0, c] = t_end - (t_half[k] - rj)
                        rast_t[1, c] = q
                        rast_n[0] = c + 1
                    else:
                        rast_n[1] = 1                # buffer full: later spikes are not kept
            # rate window: running sum of the last W steps
            slot = n % W
            for k in range(P):
                rsum[k] += cnt_k[k] - ring[slot, k]
                ring[slot, k] = cnt_k[k]
            if n - off >= 0 and (n - off) % record_every == 0:
                m = (n - off) // record_every
                if m <= M:
                    covered = W - max(0, lead - m * record_every)
                    for k in range(P):
                        out[m, 0, k] = rsum[k] / (n_neurons[k] * covered * dt)
            # instantaneous v, s, z at t_m
            if (n + 1) % record_every == 0:
                m = (n + 1) // record_every
                for k in range(P):
                    vsum[k] = 0.0
                    vcnt[k] = 0
                for b in numba.prange(nb):
                    a0, a1 = blk_start[b], blk_stop[b]
                    work_f[b], work_i[b] = voltage_sum(V[a0:a1], R[a0:a1], vp)
                for b in range(nb):
                    vsum[blk_pop[b]] += work_f[b]
                    vcnt[blk_pop[b]] += work_i[b]
                for k in range(P):
                    out[m, 1, k] = vsum[k] / vcnt[k] if vcnt[k] > 0 else np.nan
                    out[m, 2, k] = syn[0, k]
                    out[m, 3, k] = syn[1, k]
    if n_end == n_steps:
        # records whose window reaches past the end: the steps of it that exist (in the ring)
        for m in range(max(0, M - W // record_every - 2), M + 1):
            a_m = m * record_every - lead
            lo = max(a_m, 0)
            if a_m + W - 1 < n_steps or lo >= n_steps:
                continue
            for k in range(P):
                tot = 0
                for q in range(lo, n_steps):
                    tot += ring[q % W, k]
                out[m, 0, k] = tot / (n_neurons[k] * (n_steps - lo) * dt)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def advance(V, R, E, blk_pop, blk_start, blk_stop, n_neurons, inv_tau, t_half, vp, inv_ts, K,
            const, series, series_shared, stride, sin_amp, omega, phase, has_series, has_sin,
            sigma, key, dt, n_begin, n_end, n_steps, record_every, window, syn, ring, rsum, r_init,
            out, rast_idx, rast_pop, rast_t, rast_n, work_i, work_e, work_f):
    """Integrate steps [n_begin, n_end) with the neuron blocks spread over threads.

    Parameters
    ----------
    V, R, E : (N_total,) voltage (QIF units), remaining refractory time (ms; <= 0: active) and
        excitability eta_j (QIF units), population k at a contiguous range; updated in place.
    blk_pop, blk_start, blk_stop : (nb,) int64 population and [start, stop) of each block.
    n_neurons : (P,) float neurons per population; inv_tau : (P,) 1/tau_m (1/ms);
    t_half : (P,) tau_m / V_peak (ms); vp : V_peak; inv_ts : (P,) 1/tau_s (1/ms).
    K : (P, P) tau_m,k J[k, l].
    const, series, series_shared, stride, sin_amp, omega, phase, has_series, has_sin : the drive,
        laid out as for :func:`stimsim.kernels.common.fill_drive_chunk` with one lane.
    sigma : noise amplitude (QIF units); key : uint64 seed of the noise.
    dt : ms; n_begin, n_end : steps to integrate (n_begin a multiple of CHUNK); n_steps : of the run.
    record_every : steps between records; window : rate window W (steps).
    syn : (2, P) s, z (kHz), in place; ring : (W, P) int64 spikes per step; rsum : (P,) int64 their sum.
    r_init : (P,) rate of the initial state (kHz), recorded at t = 0 when W = 1.
    out : (n_records, 4, P) r (kHz), v, s (kHz), z (kHz), written in place.
    rast_idx, rast_pop : (n_rast,) int64 flat index and population of the raster neurons; rast_t : (2, cap) spike time (ms) and
        raster row; rast_n : (2,) int64 spikes kept, overflow flag.
    work_i, work_e, work_f : (nb,) int64, float, float scratch (per block: spikes, their eps, sum of V).
    """
    _advance_body((V, R, E), (blk_pop, blk_start, blk_stop), (n_neurons, inv_tau, t_half, vp, inv_ts, K),
                  (const, series, series_shared, stride, sin_amp, omega, phase, has_series, has_sin),
                  (sigma, key), (dt, n_begin, n_end, n_steps, record_every, window), (syn, ring, rsum, r_init, out),
                  (rast_idx, rast_pop, rast_t, rast_n), (work_i, work_e, work_f))


@numba.njit(cache=True, error_model="numpy")
def advance_serial(V, R, E, blk_pop, blk_start, blk_stop, n_neurons, inv_tau, t_half, vp, inv_ts, K,
                   const, series, series_shared, stride, sin_amp, omega, phase, has_series, has_sin,
                   sigma, key, dt, n_begin, n_end, n_steps, record_every, window, syn, ring, rsum, r_init,
                   out, rast_idx, rast_pop, rast_t, rast_n, work_i, work_e, work_f):
    """:func:`advance` on the calling thread (small networks: a thread hand-off per step costs more
    than it saves)."""
    _advance_body((V, R, E), (blk_pop, blk_start, blk_stop), (n_neurons, inv_tau, t_half, vp, inv_ts, K),
                  (const, series, series_shared, stride, sin_amp, omega, phase, has_series, has_sin),
                  (sigma, key), (dt, n_begin, n_end, n_steps, record_every, window), (syn, ring, rsum, r_init, out),
                  (rast_idx, rast_pop, rast_t, rast_n), (work_i, work_e, work_f))
