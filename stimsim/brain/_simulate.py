"""Simulate a network of regions (:class:`BrainNetwork`) under any model that supports delays.

This module checks what every whole-brain run shares (the network, the time grid, the sets of G,
conduction speed and stimulus scale, the stimulus, the initial state, the recorded output's size)
and asks the model for the rest: :meth:`stimsim.models.Model.check_regions` (its capability,
options, delays and memory) and :meth:`~stimsim.models.Model.simulate_regions` (the integration:
the lane kernels with a delay ring buffer for the mean fields, ``stimsim.models._delayed``; a
spiking network per region for the network model, ``stimsim.models._network_regions``). No model
is named here. Everything is checked before any kernel is compiled or run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import models as _models
from .._simulate import LANES, MAX_OUTPUT_BYTES, check_positive_int, check_run, checked_initial_state
from ..coupling import FieldCoupling
from ..errors import InputError, check_finite, check_positive, unknown_name_error
from ._network import BrainNetwork

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
    """RegionLanes: (G, speed, scale) arrays of one common length B (None: the network's G and
    speed, scale 1), and whether the call asked for a batch (any of them given as an array)."""
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
    return _models.RegionLanes(out["G"], out["speed_mm_per_ms"], out["field_scale"], batched)


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



@dataclass
class SpikingBrainResult(BrainResult):
    """A :class:`BrainResult` of a model that simulates neurons (the spiking network), with its
    raster and settings.

    ``spikes``: tidy table of the raster subset's spikes ([set,] region, population, neuron, eta,
    time_ms); ``settings``: the options, the region seeds (sets x regions), the chunk length and
    the shortest delay per set.
    """

    spikes: object = None
    settings: dict = field(default_factory=dict)


def _check_output(spec, network, B):
    """Refuse, before running, a recording that would not fit in MAX_OUTPUT_BYTES."""
    nv, R, P = spec.model.n_recorded, network.n_regions, network.local.n_populations
    nbytes = spec.n_records * nv * R * P * B * 8
    if nbytes > MAX_OUTPUT_BYTES:
        raise InputError(f"recording {spec.n_records:,} time points x {nv} variables x {R} regions x {P} populations "
                         f"x {B} sets needs {nbytes / 2**30:.1f} GiB (limit {MAX_OUTPUT_BYTES / 2**30:.0f} GiB); "
                         f"raise record_every (now {spec.record_every}) or shorten duration_ms")


def _model(model):
    try:
        return _models.get(model)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def check_network_run(network, model, duration_ms=1000.0, dt_ms=0.05, record_every=1, integrator="rk4", G=None,
                      speed_mm_per_ms=None, field_scale=None, options=None, history=None, lanes=LANES):
    """Every check of a whole-brain run that needs no stimulus or initial state, for any model.

    The network, the time grid, the sets (G, speed, scale), the recorded output's size, then the
    model's own checks (:meth:`stimsim.models.Model.check_regions`: the capability
    ``supports_delays``, its options, delays and memory). Protocol files call it at load time.

    Parameters
    ----------
    As :func:`simulate_network` (``options`` is its ``network_options``).

    Returns
    -------
    (model, spec, lanes, plan)
        The model object, the :class:`stimsim._simulate.RunSpec`, the
        :class:`stimsim.models.RegionLanes` and the model's plan for ``simulate_regions``.

    Raises
    ------
    stimsim.errors.InputError
    """
    if not isinstance(network, BrainNetwork):
        raise InputError(f"network must be a stimsim.brain.BrainNetwork, got {type(network).__name__}")
    m = _model(model)
    if not m.supports_delays:
        raise m.lacks("supports_delays", "run as the local circuit of a whole-brain network with delays")
    lanes = check_positive_int("lanes", lanes)
    if history is not None and history not in ("cubic", "linear"):
        raise unknown_name_error("history", history, ("cubic", "linear"))
    spec = check_run([network.local], m, duration_ms, dt_ms, record_every, integrator)
    sets = _lanes(network, G, speed_mm_per_ms, field_scale)
    _check_output(spec, network, sets.n_sets)
    if options is not None and not m.options:
        raise InputError(f"network_options are options of the model; model {m.name!r} takes none "
                         f"(models with options: {', '.join(n for n in _models.available() if _models.get(n).options)})")
    plan = m.check_regions(network, spec, sets, options, history, lanes)
    return m, spec, sets, plan


def simulate_network(network, model="nmm2", duration_ms=1000.0, dt_ms=0.05, stimulus=None, record_every=1,
                     integrator="rk4", initial=None, G=None, speed_mm_per_ms=None, field_scale=None,
                     lanes=LANES, on_divergence="raise", network_options=None, progress=None,
                     history=None):
    """Integrate a network of regions with delayed long-range coupling (models.md M1/M2/M4, M5).

    Parameters
    ----------
    network : BrainNetwork
    model : str or Model
        Any registered model with the capability ``supports_delays``: 'nmm2' (exact mean field,
        QIF local circuits), 'nmm1' (heuristic; QIF or sigmoid), 'network' (the spiking QIF
        network in every region, ``stimsim.models._network_regions``; every delay with a nonzero
        weight must be >= dt_ms, sets run one after another), or a model registered by the user.
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
        Options of a model that takes options (``model.options``; for 'network': neurons, seed,
        noise, v_peak, raster_neurons, rate_window_ms, parallel, progress; region i of set b is
        seeded with seed + b R + i). Refused for models without options.
    progress : None or bool
        A progress bar (steps, rate, time left); None: shown when the run is expected to be long
        (the mean fields: more than 1e7 population-steps; the spiking network: its ``progress``
        option, else a run expected to take more than 5 s). Either way the kernels run in calls
        of about 0.5 s (mean fields) or 2e8 neuron updates (network) that continue one another
        exactly, so Ctrl-C and SIGTERM stop a long run between calls.
    history : {None, 'cubic', 'linear'}
        How delayed values are read between the stored steps (``stimsim.kernels.delayed``):
        cubic Hermite with the slope of the sent variable (fourth order in dt; models with
        ``history_slope``, e.g. NMM2 and NMM1 with ds/dt = z / tau_s) or linear (second order;
        fewer operations per connection). None: cubic where the model allows it, else linear.
        The spiking network always interpolates linearly.

    Returns
    -------
    BrainResult
        ``.rate_hz`` (n_records, R, P[, B]); ``.to_frame()`` a tidy table. A
        :class:`SpikingBrainResult` (with ``spikes`` and ``settings``) for models that simulate
        neurons.

    Raises
    ------
    stimsim.errors.InputError
        Bad arguments, or a model without the capability ``supports_delays``, before anything is
        compiled or run.
    SimulationDiverged
        A trajectory became non-finite (``on_divergence='raise'``).
    """
    if on_divergence not in ("raise", "nan"):
        raise unknown_name_error("on_divergence", on_divergence, ("raise", "nan"))
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise InputError(f"progress must be true, false or None (automatic), got {progress!r}")
    m, spec, sets, plan = check_network_run(network, model, duration_ms, dt_ms, record_every, integrator, G,
                                            speed_mm_per_ms, field_scale, network_options, history, lanes)
    stride = 1 if stimulus is None else _stimulus_stride(stimulus, network, spec)
    y0 = _initial(m, network, initial)
    run = m.simulate_regions(network, spec, y0, stimulus, stride, sets, plan, progress, on_divergence)
    common = (network, spec, run.states, sets.G, sets.speed_mm_per_ms, sets.field_scale, sets.batched,
              run.wall_time_s, run.diverged)
    if run.spikes is not None:
        return SpikingBrainResult(*common, run.spikes, run.settings)
    return BrainResult(*common)
