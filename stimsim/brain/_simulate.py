"""Simulate a network of regions (:class:`BrainNetwork`) under NMM2 or NMM1, in batches of lanes.

The kernel (``stimsim.kernels.delayed``) integrates every region's local circuit with fixed-step
RK4 or Heun, reading the delayed long-range input from a ring buffer of past synaptic activations
interpolated at the Runge-Kutta stage times (its module docstring states the error). Lanes are
parameter sets differing in global coupling G, conduction speed and stimulus scale (a G sweep is
one call); everything is checked before any kernel is compiled or run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import models as _models
from .._simulate import (CHECK_EVERY, INTEGRATORS, LANES, MAX_OUTPUT_BYTES, _pad_lanes, check_positive_int,
                         check_run, checked_initial_state)
from ..coupling import FieldCoupling
from ..errors import InputError, SimulationDiverged, check_finite, check_positive, unknown_name_error
from ._network import BrainNetwork

#: largest ring buffer of past activations a run may allocate, bytes
MAX_HISTORY_BYTES = 2 * 2**30
#: a run of more population-steps (steps x regions x populations x sets) shows a progress bar
#: by default (benchmarks/bench_brain.py: ~220 ns per population-step for one set, so ~2 s)
PROGRESS_ELEMENT_STEPS = 1e7
#: wall time of one kernel call under a progress bar, s (the first call, of PROGRESS_FIRST_STEPS
#: steps, measures the speed)
PROGRESS_CALL_S = 0.5
PROGRESS_FIRST_STEPS = 256


@dataclass(frozen=True, eq=False)
class RegionalStimulus:
    """A stimulus that is a sum of spatial patterns x waveforms (model input units).

    I^ext_{i,k}(t) = sum_p patterns[p, i, k] w_p(t) for population k of region i, with w_p
    sampled every ``dt_ms`` from t = 0 and linearly interpolated at the stage times (as
    :class:`stimsim.drive.SampledInput`).

    Parameters
    ----------
    patterns : array_like (n_patterns, R, P)
        Model input units per waveform unit (e.g. field V/m per unit waveform x lambda / scale).
    waveforms : array_like (n_samples, n_patterns) or (n_samples,) for one pattern
        Dimensionless (or V/m when the patterns are input per V/m), sampled every ``dt_ms``.
    dt_ms : float
        Sample spacing, ms; a whole multiple of half the integration step.
    """

    patterns: np.ndarray
    waveforms: np.ndarray
    dt_ms: float

    def __post_init__(self):
        try:
            pat = np.array(self.patterns, dtype=float)
            wav = np.array(self.waveforms, dtype=float)
        except (TypeError, ValueError):
            raise InputError("stimulus patterns and waveforms must be numeric arrays") from None
        if wav.ndim == 1:
            wav = wav[:, None]
        if pat.ndim != 3:
            raise InputError(f"stimulus patterns must have shape (n_patterns, R regions, P populations), got {pat.shape}")
        if wav.ndim != 2 or wav.shape[0] < 2 or wav.shape[1] != pat.shape[0]:
            raise InputError(f"stimulus waveforms must have shape (n_samples >= 2, n_patterns = {pat.shape[0]}), "
                             f"got {wav.shape}")
        for name, a in (("patterns", pat), ("waveforms", wav)):
            if not np.all(np.isfinite(a)):
                raise InputError(f"stimulus {name} must be finite; first bad entry at "
                                 f"{tuple(int(v) for v in np.argwhere(~np.isfinite(a))[0])}")
        object.__setattr__(self, "patterns", pat)
        object.__setattr__(self, "waveforms", np.ascontiguousarray(wav))
        object.__setattr__(self, "dt_ms", check_positive("stimulus dt_ms", self.dt_ms, "ms"))

    @classmethod
    def from_fields(cls, network, fields_v_per_m, waveforms, dt_ms, coupling=None):
        """Patterns from regional fields: fields (n_patterns, R) V/m per waveform unit, times each
        population's gain lambda_k / scale_k (model input units per V/m, models.md M6;
        ``coupling`` a :class:`stimsim.coupling.FieldCoupling`, default cell-type defaults)."""
        E = np.array(fields_v_per_m, dtype=float)
        if E.ndim == 1:
            E = E[None]
        if E.ndim != 2 or E.shape[1] != network.n_regions:
            raise InputError(f"fields_v_per_m must have shape (n_patterns, R = {network.n_regions}), got {E.shape}")
        gains = (coupling or FieldCoupling()).gains(network.local)
        return cls(E[:, :, None] * gains[None, None, :], waveforms, dt_ms)

    @property
    def n_patterns(self):
        return self.patterns.shape[0]

    @property
    def duration_ms(self):
        return (self.waveforms.shape[0] - 1) * self.dt_ms


def _lane_values(name, value, positive=False, unit=""):
    """None, or a 1-D float array of per-set values (a scalar is one value), checked finite (> 0)."""
    if value is None:
        return None
    try:
        a = np.atleast_1d(np.array(value, dtype=float))
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or a 1-D array of numbers (one per set), got {value!r}") from None
    if a.ndim != 1 or a.size < 1:
        raise InputError(f"{name} must be a number or a 1-D array of numbers (one per set), got shape {a.shape}")
    for v in a:
        if positive:
            check_positive(name, v, unit)
        else:
            check_finite(name, v)
    return a


def _lanes(network, G, speed, field_scale):
    """(G, speed, scale) arrays of one common length B (None: the network's G and speed, scale 1),
    and whether the call asked for a batch (any of them given as an array)."""
    given = {"G": _lane_values("G", G),
             "speed_mm_per_ms": _lane_values("speed_mm_per_ms", speed, True, "mm/ms (= m/s)"),
             "field_scale": _lane_values("field_scale", field_scale)}
    sizes = {k: v.size for k, v in given.items() if v is not None and v.size > 1}
    if len(set(sizes.values())) > 1:
        raise InputError(f"per-set arrays must have one common length, got sizes {sizes}")
    B = max(sizes.values()) if sizes else 1
    defaults = {"G": network.G, "speed_mm_per_ms": network.speed_mm_per_ms, "field_scale": 1.0}
    out = {k: np.array(np.broadcast_to(defaults[k] if v is None else v, (B,)), dtype=float)
           for k, v in given.items()}
    batched = any(x is not None and np.ndim(x) > 0 for x in (G, speed, field_scale))
    return out["G"], out["speed_mm_per_ms"], out["field_scale"], batched


def _initial(model, network, initial):
    """(n_state, R, P) initial state: the local circuit's (None, 'fixed_point': uncoupled) in every
    region, or a given array (n_state, P) (every region) or (n_state, R, P)."""
    local, R = network.local, network.n_regions
    if initial is None or isinstance(initial, str):
        y = checked_initial_state(model, local, initial)
        return np.repeat(y[:, None, :], R, axis=1)
    try:
        a = np.array(initial, dtype=float)
    except (TypeError, ValueError):
        a = None
    P = local.n_populations
    if a is not None and a.shape == (model.n_state, P):
        y = checked_initial_state(model, local, a)
        return np.repeat(y[:, None, :], R, axis=1)
    if a is None or a.shape != (model.n_state, R, P):
        raise InputError(f"initial for {model.name} must be None, 'fixed_point', or an array of shape "
                         f"({model.n_state}, {P}) or ({model.n_state}, {R}, {P}) = (variables {model.state_names}, "
                         f"regions, populations), got {None if a is None else a.shape}")
    for r in range(R):
        checked_initial_state(model, local, a[:, r, :])
    return a


def _stimulus_stride(stim, network, spec):
    """Stride of the waveform samples in half-steps; checks shape and coverage."""
    R, P = network.n_regions, network.local.n_populations
    if not isinstance(stim, RegionalStimulus):
        raise InputError(f"stimulus must be a stimsim.brain.RegionalStimulus, got {type(stim).__name__}")
    if stim.patterns.shape[1:] != (R, P):
        raise InputError(f"stimulus patterns have shape {stim.patterns.shape}; the network needs "
                         f"(n_patterns, {R} regions, {P} populations)")
    half = 0.5 * spec.dt_ms
    stride = stim.dt_ms / half
    if abs(stride - round(stride)) > 1e-9 * stride or round(stride) < 1:
        raise InputError(f"stimulus dt_ms={stim.dt_ms} must be a whole multiple of half the step "
                         f"(dt_ms/2 = {half:g} ms)")
    stride = int(round(stride))
    need = (2 * spec.n_steps + stride - 1) // stride + 1
    if stim.waveforms.shape[0] < need:
        raise InputError(f"stimulus covers {stim.duration_ms:g} ms ({stim.waveforms.shape[0]} samples) but the "
                         f"run needs {spec.duration_ms:g} ms ({need} samples every {stim.dt_ms:g} ms)")
    return stride


def _sparse_rows(W):
    """CSR of the nonzero W[i, j]: row pointers (R + 1,), sources (nnz,), values (nnz,)."""
    rows, cols = np.nonzero(W)
    row_ptr = np.zeros(W.shape[0] + 1, dtype=np.int64)
    np.add.at(row_ptr, rows + 1, 1)
    return np.cumsum(row_ptr), cols.astype(np.int64), W[rows, cols], rows


@dataclass
class BrainResult:
    """Trajectories of a network run.

    ``states`` (n_records, n_recorded, R, P, B) in the equations' units (r kHz, v, s kHz, z kHz),
    B the number of sets (lanes); ``G``, ``speed_mm_per_ms``, ``field_scale`` (B,) their values.
    """

    network: BrainNetwork
    spec: object
    states: np.ndarray
    G: np.ndarray
    speed_mm_per_ms: np.ndarray
    field_scale: np.ndarray
    batched: bool = False
    wall_time_s: float = 0.0
    diverged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def model(self):
        return self.spec.model

    @property
    def time_ms(self):
        return self.spec.time_ms

    def variable(self, name, units="column"):
        """A recorded variable ('r' or 'rate_hz', ...), (n_records, R, P) or (n_records, R, P, B)
        for a batch; ``units='column'``: table units (Hz), ``'model'``: the equations' (kHz)."""
        a = self.model.recorded_index(name)
        if units not in ("column", "model"):
            raise InputError(f"units must be 'column' or 'model', got {units!r}")
        scale = self.model.recorded_variables[a].to_column if units == "column" else 1.0
        out = scale * self.states[:, a]
        return out if self.batched else out[..., 0]

    @property
    def rate_hz(self):
        """Firing rates, Hz: (n_records, R, P) (batch: (n_records, R, P, B))."""
        return self.variable("r")

    def to_frame(self):
        """Tidy table: [set, G, speed_mm_per_ms, field_scale,] time_ms, model, region, population
        and one column per recorded variable (rate_hz, v, s_hz, z_hz)."""
        n_rec, _, R, P, B = self.states.shape
        labels = np.array(self.network.region_labels, dtype=object)
        names = np.array(self.network.local.names, dtype=object)
        frames = []
        for b in range(B):
            data = {}
            if self.batched:
                data.update({"set": b, "G": self.G[b], "speed_mm_per_ms": self.speed_mm_per_ms[b],
                             "field_scale": self.field_scale[b]})
            data.update({"time_ms": np.tile(self.time_ms, R * P), "model": self.model.name,
                         "region": np.repeat(labels, P * n_rec), "population": np.tile(np.repeat(names, n_rec), R)})
            for a, var in enumerate(self.model.recorded_variables):
                data[var.column] = var.to_column * np.moveaxis(self.states[:, a, :, :, b], 0, -1).reshape(-1)
            frames.append(pd.DataFrame(data))
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _check_memory(spec, network, B, nbuf, lanes):
    nv, R, P = spec.model.n_recorded, network.n_regions, network.local.n_populations
    nbytes = spec.n_records * nv * R * P * B * 8
    if nbytes > MAX_OUTPUT_BYTES:
        raise InputError(f"recording {spec.n_records:,} time points x {nv} variables x {R} regions x {P} populations "
                         f"x {B} sets needs {nbytes / 2**30:.1f} GiB (limit {MAX_OUTPUT_BYTES / 2**30:.0f} GiB); "
                         f"raise record_every (now {spec.record_every}) or shorten duration_ms")
    hist = 2 * nbuf * R * (-(-B // lanes) * lanes) * 8               # s and z
    if hist > MAX_HISTORY_BYTES:
        raise InputError(f"the delay history needs {hist / 2**30:.1f} GiB ({nbuf} steps x {R} regions x {B} sets; "
                         f"limit {MAX_HISTORY_BYTES / 2**30:.0f} GiB): the longest delay spans too many steps; "
                         "raise dt_ms or the speed, or run fewer sets at once")


def simulate_network(network, model="nmm2", duration_ms=1000.0, dt_ms=0.05, stimulus=None, record_every=1,
                     integrator="rk4", initial=None, G=None, speed_mm_per_ms=None, field_scale=None,
                     lanes=LANES, on_divergence="raise", network_options=None, progress=None,
                     history="cubic"):
    """Integrate a network of regions with delayed long-range coupling (models.md M1/M2/M4, M5).

    Parameters
    ----------
    network : BrainNetwork
    model : {'nmm2', 'nmm1', 'network'} or Model
        NMM2 (exact mean field, QIF local circuits), NMM1 (heuristic; QIF or sigmoid) or the
        spiking QIF network in every region (``stimsim.brain._spiking``; every delay with a
        nonzero weight must be >= dt_ms, sets run one after another).
    duration_ms, dt_ms : float
        Simulated time and fixed step, ms; dt <= 0.1 x the fastest time constant of the circuit.
    stimulus : None or RegionalStimulus
        Patterns (n_patterns, R, P) x waveforms, model input units; scaled per set by ``field_scale``.
    record_every : int
        Keep every n-th step (and t = 0).
    integrator : {'rk4', 'heun'}
    initial : None, 'fixed_point', or array (n_state, P) or (n_state, R, P)
        None / 'fixed_point': the local circuit's initial state (uncoupled, see
        :meth:`stimsim.models.Model.initial_state`) in every region. History before t = 0 is this
        state held constant.
    G, speed_mm_per_ms, field_scale : None, float or 1-D array (one value per set)
        Per-set global coupling, conduction speed (mm/ms = m/s) and stimulus scale; None: the
        network's G and speed, scale 1. Arrays (of one common length B) make a batch.
    lanes : int
        Largest number of sets per contiguous block (the vector width the compiler sees); a batch
        is split into at least as many blocks as numba has threads (blocks run on threads).
    on_divergence : {'raise', 'nan'}
    network_options : None, dict or stimsim.models.NetworkOptions
        Options of model 'network' (neurons, seed, noise, v_peak, raster_neurons, rate_window_ms,
        parallel, progress; :class:`stimsim.models.NetworkModel`); region i of set b is seeded
        with seed + b R + i. Refused for the mean-field models.
    progress : None or bool
        A progress bar (steps, rate, time left) for the mean-field models; None: shown when the
        run holds more than PROGRESS_ELEMENT_STEPS population-steps. The run is then integrated
        in calls of about PROGRESS_CALL_S seconds that continue one another exactly, which also
        lets Ctrl-C stop it between calls.
    history : {'cubic', 'linear'}
        How delayed values are read between the stored steps (``stimsim.kernels.delayed``):
        cubic Hermite with the slopes z / tau_s (fourth order in dt, the default), or linear
        (second order; fewer operations per connection, for large sweeps where the step is
        small anyway). Mean-field models only: the spiking network interpolates linearly.
        For 'network', when not None, it overrides ``network_options['progress']``.

    Returns
    -------
    BrainResult
        ``.rate_hz`` (n_records, R, P[, B]); ``.to_frame()`` a tidy table.

    Raises
    ------
    stimsim.errors.InputError
        Bad arguments, before anything is compiled or run.
    SimulationDiverged
        A trajectory became non-finite (``on_divergence='raise'``).
    """
    if not isinstance(network, BrainNetwork):
        raise InputError(f"network must be a stimsim.brain.BrainNetwork, got {type(network).__name__}")
    if on_divergence not in ("raise", "nan"):
        raise unknown_name_error("on_divergence", on_divergence, ("raise", "nan"))
    try:
        m = _models.get(model)
    except ValueError:
        m = None
    if m is None or m.name not in ("nmm2", "nmm1", "network"):
        raise InputError(f"model for a brain network must be 'nmm2', 'nmm1' or 'network', got {model!r}")
    if m.name == "network":
        check_positive_int("lanes", lanes)
        from ._spiking import simulate_spiking_network

        return simulate_spiking_network(network, m, duration_ms, dt_ms, stimulus, record_every, integrator, initial,
                                        G, speed_mm_per_ms, field_scale, on_divergence, network_options, progress)
    if network_options is not None:
        raise InputError(f"network_options apply only to model 'network' (the spiking network), not {m.name!r}")
    lanes = check_positive_int("lanes", lanes)
    if history not in ("cubic", "linear"):
        raise unknown_name_error("history", history, ("cubic", "linear"))
    if progress not in (None, True, False):
        raise InputError(f"progress must be None, True or False, got {progress!r}")
    spec = check_run([network.local], m, duration_ms, dt_ms, record_every, integrator)
    Gs, speeds, scales, batched = _lanes(network, G, speed_mm_per_ms, field_scale)
    B = Gs.size
    stride = 1 if stimulus is None else _stimulus_stride(stimulus, network, spec)
    y0 = _initial(m, network, initial)
    R, P = network.n_regions, network.local.n_populations
    L = _lane_width(B, lanes)

    row_ptr, src, wvals, rows = _sparse_rows(network.weights)
    shared_speed = bool(np.all(speeds == speeds[0]))
    d = network.lengths_mm[rows, src][:, None] / (speeds[:1] if shared_speed else speeds)[None, :]   # (nnz, Ld)
    off, theta = _delay_table(d, spec.dt_ms)
    from ..kernels.delayed import buffer_slots

    nbuf = buffer_slots(int(off.max()) if off.size else 1)
    _check_memory(spec, network, B, nbuf, L)
    reuse = bool(np.all(d >= spec.dt_ms))
    from ..kernels.delayed import hermite_weights, linear_weights

    if history == "cubic":
        tau_s = network.local.populations[network.sender].tau_s
        w = hermite_weights(wvals[None, :, None], theta, spec.dt_ms, tau_s)            # (4, 3, nnz, Ld)
    else:
        w = linear_weights(wvals[None, :, None], theta)                                # (2, 3, nnz, Ld)

    def per_lane(arr):          # (..., Ld) -> (nb, ..., Ld) with Ld = 1 or L
        if shared_speed:
            return np.ascontiguousarray(np.broadcast_to(arr, (-(-B // L),) + arr.shape))
        return _pad_lanes(arr, B, L)

    if progress is None:
        progress = spec.n_steps * network.n_regions * network.local.n_populations * B > PROGRESS_ELEMENT_STEPS
    states, status, wall = _run(m, network, spec, y0, stimulus, stride, Gs, scales, L, row_ptr, src,
                                per_lane(off), per_lane(w), nbuf, reuse, bool(progress))
    bad = np.flatnonzero(status >= 0)
    if bad.size and on_divergence == "raise":
        b = int(bad[0])
        t_hi = status[b] * spec.dt_ms
        which = f" (set {b} of {B}: G = {Gs[b]:g}, speed = {speeds[b]:g} mm/ms)" if B > 1 else ""
        raise SimulationDiverged(
            f"{m.name} brain network{which} became non-finite between t = {max(0.0, t_hi - CHECK_EVERY * spec.dt_ms):g} "
            f"and {t_hi:g} ms; reduce dt_ms (now {spec.dt_ms}) or G, or check the parameters")
    return BrainResult(network, spec, states, Gs, speeds, scales, batched, wall, bad)


def _lane_width(B, lanes):
    """Sets per block: at most ``lanes``, and few enough that every thread gets a block (B = 32 on
    2 threads: 2 blocks of 16, 1.7 x faster than one block of 32 for 68 PING regions)."""
    import numba

    if B == 1:
        return 1
    return max(1, min(lanes, -(-B // numba.get_num_threads())))


def _delay_table(d, dt):
    from ..kernels.delayed import delay_table

    return delay_table(d, dt)


def _run(m, network, spec, y0, stimulus, stride, Gs, scales, L, row_ptr, src, off, w, nbuf, reuse, progress):
    """Pack into the lane layout, call the kernel (in calls of about PROGRESS_CALL_S under a
    progress bar, else one); states (n_rec, n_recorded, R, P, B), status (B,)."""
    from tqdm.auto import tqdm

    from ..kernels import delayed as _k

    B = Gs.size
    R, P = network.n_regions, network.local.n_populations
    local = network.local
    RP = R * P
    y = np.repeat(y0.reshape(m.n_state, RP)[..., None], B, axis=-1)            # (NV, RP, B)
    y0p = _pad_lanes(y, B, L)
    par1 = m.kernel_parameters([local])[..., 0]                                # (npar, P)
    par = _pad_lanes(np.repeat(np.tile(par1, (1, R))[..., None], B, axis=-1), B, L)
    K = np.ascontiguousarray(local.effective_coupling)
    recv_w = network.receiver_factors()
    const = np.tile(local.vector("I"), R)
    if stimulus is None:
        coef = _pad_lanes(np.zeros((1, RP, B)), B, L)
        waves = np.zeros((2, 1))
        has_wave = False
    else:
        pat = stimulus.patterns.reshape(stimulus.n_patterns, RP)
        coef = _pad_lanes(pat[..., None] * scales[None, None, :], B, L)     # scale x pattern per lane
        waves = stimulus.waveforms
        has_wave = True
    Gp = _pad_lanes(Gs, B, L)
    nb = y0p.shape[0]
    out = np.empty((spec.n_records, nb, m.n_recorded, RP, L))
    status = np.full((nb, L), -1, dtype=np.int64)
    H = np.empty((nb, nbuf, R, 2, L))                    # ring buffer (s, z) and delayed sums, carried between calls
    state = y0p.copy()                                   # the kernel leaves the state of its last step here
    n_steps = spec.n_steps
    per_call = PROGRESS_FIRST_STEPS if progress else n_steps
    kinds = np.ascontiguousarray(np.tile(local.transfer_parameters()[0], R)) if m.name == "nmm1" else None
    wall = 0.0
    with tqdm(total=n_steps, desc=f"{m.name} brain network ({R} regions, {B} set{'s' * (B > 1)})", unit="step",
              unit_scale=True, disable=not progress, leave=False) as bar:
        n_begin = 0
        while n_begin < n_steps:
            n_end = min(n_steps, n_begin + per_call)
            args = (K, recv_w, np.int64(network.sender), const, coef, waves, np.int64(stride), has_wave, Gp, row_ptr,
                    src, off, w, H, np.int64(n_begin), np.int64(n_end), reuse, float(spec.dt_ms),
                    np.int64(n_steps), np.int64(spec.record_every), np.int64(CHECK_EVERY),
                    np.int64(INTEGRATORS[spec.integrator]), out, status)
            t0 = time.perf_counter()
            if m.name == "nmm2":
                _k.integrate_nmm2(state, par, *args)
            else:
                _k.integrate_nmm1(state, par, kinds, *args)
            took = time.perf_counter() - t0
            wall += took
            bar.update(n_end - n_begin)
            # the next call lasts about PROGRESS_CALL_S (a whole number of drive chunks)
            per_call = max(_k.CHUNK, int(PROGRESS_CALL_S * (n_end - n_begin) / max(took, 1e-9)) // _k.CHUNK * _k.CHUNK)
            n_begin = n_end
    states = np.moveaxis(out, 1, -2).reshape(spec.n_records, m.n_recorded, RP, nb * L)[..., :B]
    return states.reshape(spec.n_records, m.n_recorded, R, P, B), status.reshape(-1)[:B], wall
