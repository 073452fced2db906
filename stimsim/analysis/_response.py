"""Frequency response of a circuit to a sinusoidal drive: linear theory (M8) and simulated lock-in.

:func:`frequency_response` is the public entry point. It returns a tidy table with one row per
model x parameter set x frequency x amplitude (x method). Column names carry units:

- ``freq_hz``: drive frequency; ``amplitude_<drive>``: zero-to-peak drive amplitude in drive
  units (``v_per_m`` for a field, ``unit`` for a current in model input units; NaN for linear rows);
- ``gain_<out>_per_<drive>``: output amplitude at the drive frequency per drive amplitude
  (``hz`` for rates, ``qif`` for QIF mean voltage, ``mv`` for a sigmoid population's input);
- ``phase_deg``: phase of the output relative to the drive ``cos(2 pi f t)`` (in (-180, 180]);
- ``response_<out>``: output amplitude at f (lock-in; NaN for linear rows); ``mean_shift_<out>``:
  mean output over whole cycles minus the fixed-point value (rectification; zero to first order,
  so 0 in linear rows);
  ``harmonic2_<out>``, ``harmonic3_<out>``: amplitudes at 2f and 3f (lock-in only);
- ``baseline_<out>``: output at the fixed point; ``fixed_point_rate_hz``: the output population's
  firing rate r* at that fixed point (Hz; NMM2's frozen-input (r, v) focus rotates at ~r*, so a
  resonance near r* is the population's own firing rhythm, models.md M7.2); ``stable``: fixed point
  stable under the model;
- ``diverged``: the lock-in run became non-finite (its numbers are NaN and are not a response; such
  rows are left out of :func:`resonance_summary`); always False for linear rows.

Diverged lock-in runs are counted in one :class:`DivergenceWarning`.

The lock-in runs every (parameter set, frequency, amplitude) of a model as one batch through
:func:`stimsim.simulate_batch` (in memory-bounded chunks), from the fixed point, discarding a
settle time derived from the slowest decay rate of the linearisation (models.md M8).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import models as _models
from .._simulate import simulate_batch
from ..circuit import Circuit
from ..coupling import FieldCoupling
from ..drive import SinusoidInput
from ..errors import check_positive, check_positive_int, unknown_name_error
from ..dynamics import find_fixed_points
from ..units import MS_PER_S
from ._linear import OUTPUTS, state_space
from ._settings import Drive, LockinGrid, Readout, as_setting, warn_diverged
from ._lockin import lockin_many

METHODS = ("linear", "lockin", "both")
#: recorded variable of each output
_OUTPUT_VARIABLE = {"rate": "r", "v": "v"}
#: settle time = SETTLE_DECAYS / |Re lambda| of the least damped mode (e^-8 ~ 3e-4 of the transient left)
SETTLE_DECAYS = 8.0
#: cap on the automatic settle time, ms (weakly damped / unstable points)
MAX_SETTLE_MS = 5000.0
#: settle time when no fixed point of the batch is stable (the response is then not a small-signal one)
UNSTABLE_SETTLE_MS = 500.0
#: recorded samples per period of the highest drive frequency
SAMPLES_PER_PERIOD = 24
#: bytes of recorded states per chunk of the batch
CHUNK_BYTES = 200e6


def column_names(drive, readout, circuit):
    """Names of the unit-carrying columns for this output and drive."""
    o, d = readout.suffix(circuit), drive.suffix
    return dict(amplitude=f"amplitude_{d}", gain=f"gain_{o}_per_{d}", response=f"response_{o}",
                mean_shift=f"mean_shift_{o}", harmonic2=f"harmonic2_{o}", harmonic3=f"harmonic3_{o}",
                baseline=f"baseline_{o}")


def check_freqs(freqs_hz, name="freqs_hz"):
    try:
        f = np.asarray(freqs_hz, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of frequencies in Hz, got {freqs_hz!r}") from None
    if f.size == 0 or not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ValueError(f"{name} must be a non-empty sequence of finite frequencies > 0 Hz, got {f.tolist()[:6]}")
    return f


def check_amplitudes(amplitudes, name="amplitude"):
    try:
        a = np.atleast_1d(np.asarray(amplitudes, dtype=float)).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a sequence of numbers >= 0 (drive units), got {amplitudes!r}") from None
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{name} must be finite and >= 0 (zero-to-peak, drive units), got {a.tolist()[:6]}")
    return a


def _as_cases(circuit, labels):
    """[(label dict, Circuit)] from one circuit or a sequence of circuits."""
    circuits = [circuit] if isinstance(circuit, Circuit) else list(circuit)
    if not circuits or not all(isinstance(c, Circuit) for c in circuits):
        raise ValueError("circuit must be a stimsim Circuit or a non-empty sequence of Circuits")
    if labels is None:
        labels = [{"set": i} for i in range(len(circuits))] if len(circuits) > 1 else [{}]
    labels = list(labels)
    if len(labels) != len(circuits):
        raise ValueError(f"labels has {len(labels)} entries for {len(circuits)} circuits")
    return list(zip(labels, circuits))


def _check_models(model, circuit):
    """Model objects from names/objects, each checked to describe ``circuit``."""
    models = _models.resolve(model)
    for m in models:
        m.check_supports(circuit)
    return models


@dataclass(frozen=True)
class LockinSettings:
    """Time grid of a lock-in study (all ms)."""

    dt_ms: float
    settle_ms: float
    measure_ms: float
    record_every: int

    @property
    def duration_ms(self):
        return self.settle_ms + self.measure_ms


def lockin_settings(spaces, freqs_hz, grid, n_harmonics=3):
    """Choose settle, measure window and recording stride from a :class:`LockinGrid`.

    Settle: ``SETTLE_DECAYS / |Re lambda|`` of the least damped mode over all stable state spaces
    (at least ``grid.min_settle_ms``, at most ``MAX_SETTLE_MS``) unless ``grid.settle_ms`` is
    given. Measure: ``grid.measure_cycles`` cycles of the lowest frequency, at least
    ``grid.min_measure_ms``. Stride: >= SAMPLES_PER_PERIOD (and 4 per period of the highest
    harmonic) samples per period of the highest frequency.
    """
    dt_ms = grid.dt_ms
    nyquist_hz = MS_PER_S / (2 * dt_ms)
    if np.max(freqs_hz) >= nyquist_hz:
        raise ValueError(f"freqs_hz up to {np.max(freqs_hz):g} Hz must stay below the Nyquist frequency {nyquist_hz:g} Hz of dt_ms={dt_ms}")
    settle_ms = grid.settle_ms
    if settle_ms is None:
        # unstable fixed points (rows flagged stable=False) have no decay time: they do not set the settle
        decays = [s.slowest_decay_ms for s in spaces if s.stable]
        decay = max(decays) if decays else UNSTABLE_SETTLE_MS / SETTLE_DECAYS
        settle_ms = min(MAX_SETTLE_MS, max(grid.min_settle_ms, SETTLE_DECAYS * decay))
    measure_ms = max(float(grid.min_measure_ms), float(grid.measure_cycles) * MS_PER_S / float(np.min(freqs_hz)))
    record_every = grid.record_every
    if record_every is None:
        per = max(SAMPLES_PER_PERIOD, 4 * n_harmonics)
        record_every = max(1, int(MS_PER_S / (np.max(freqs_hz) * per) // dt_ms))
    if dt_ms * record_every * np.max(freqs_hz) > MS_PER_S / 4:
        raise ValueError(f"record_every={record_every} records every {dt_ms * record_every:g} ms, fewer than 4 samples "
                         f"per period of {np.max(freqs_hz):g} Hz; lower record_every (or leave it to the default)")
    # whole steps and whole records
    step = dt_ms * record_every
    settle_ms = math.ceil(settle_ms / step - 1e-9) * step
    measure_ms = math.ceil(measure_ms / step - 1e-9) * step
    return LockinSettings(dt_ms, settle_ms, measure_ms, record_every)


def diverged_sets(batch):
    """(B,) bool: sets of a :class:`stimsim.BatchResult` that diverged.

    A set diverged when the kernel listed it (``batch.diverged``) or any recorded value of it
    (any variable, population or time) is non-finite.
    """
    bad = ~np.all(np.isfinite(batch.states), axis=(0, 1, 2))
    bad[np.asarray(batch.diverged, dtype=int)] = True
    return bad


def _chunks(n, size):
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


def run_lockin(circuits, model, freqs_hz, amplitudes, gains, out_index, output, settings,
               initials, integrator="rk4", n_harmonics=3, progress=False, desc="lock-in"):
    """Simulate every circuit x frequency x amplitude and lock in at the drive frequency.

    Parameters
    ----------
    circuits : list of Circuit (one structure)
    freqs_hz, amplitudes : 1-D arrays (Hz, drive units)
    gains : list of (P,) arrays
        Model input units per drive unit for each circuit.
    out_index : int
        Output population.
    output : {'rate', 'v'}
    settings : LockinSettings
    initials : list of state arrays (one per circuit)

    Returns
    -------
    dict of arrays (n_circuits, n_freqs, n_amplitudes): 'response', 'phase_rad', 'mean',
    'harmonic2', 'harmonic3' (output units: Hz for rates; NaN for diverged runs), 'diverged'
    (bool: the run became non-finite, listed by the kernel or non-finite in any recorded
    variable), and 'wall_s', 'simulated_s' (floats).
    """
    from tqdm.auto import tqdm

    nc, nf, na = len(circuits), len(freqs_hz), len(amplitudes)
    # frequency-major order: a chunk then holds few distinct frequencies, and the lock-in fits one
    # least-squares factorisation per distinct frequency in the chunk
    fi, ci, ai = np.unravel_index(np.arange(nc * nf * na), (nf, nc, na))
    idx = np.stack([ci, fi, ai], axis=1)
    P = circuits[0].n_populations
    n_rec = int(round(settings.duration_ms / settings.dt_ms)) // settings.record_every + 1
    model = _models.get(model)
    per_set = n_rec * model.n_recorded * P * 8
    size = max(16, int(CHUNK_BYTES // per_set) // 16 * 16)
    B = len(idx)
    res = {k: np.full(B, np.nan) for k in ("response", "phase_rad", "mean", "harmonic2", "harmonic3")}
    diverged = np.zeros(B, dtype=bool)
    wall = 0.0
    rec_dt = settings.dt_ms * settings.record_every
    first = int(round(settings.settle_ms / rec_dt))
    scale = MS_PER_S if output == "rate" else 1.0
    chunks = _chunks(B, size)
    for sl in tqdm(chunks, desc=desc, disable=not progress or len(chunks) < 2, leave=False):
        sets = idx[sl]
        cs = [circuits[i] for i, _, _ in sets]
        inputs = [SinusoidInput(amplitudes[a] * gains[i], float(freqs_hz[f])) for i, f, a in sets]
        y0 = [initials[i] for i, _, _ in sets]
        br = simulate_batch(cs, model=model, duration_ms=settings.duration_ms, dt_ms=settings.dt_ms,
                            inputs=inputs, record_every=settings.record_every, integrator=integrator,
                            initial=y0, on_divergence="nan")
        wall += br.wall_time_s
        var = model.recorded_index(_OUTPUT_VARIABLE[output])
        sig = br.states[first:, var, out_index, :] * scale
        bad = diverged_sets(br)
        diverged[np.ravel_multi_index(tuple(sets[bad].T), (nc, nf, na))] = True
        ok = ~bad
        if not np.any(ok):
            continue
        li = lockin_many(sig[:, ok].T, rec_dt, freqs_hz[sets[ok, 1]], t0_ms=first * rec_dt,
                         n_harmonics=max(3, n_harmonics))
        pos = np.ravel_multi_index(tuple(sets[ok].T), (nc, nf, na))
        res["response"][pos] = li.amplitude
        res["phase_rad"][pos] = li.phase_rad
        res["mean"][pos] = li.mean
        res["harmonic2"][pos] = li.harmonic_amplitude[:, 1]
        res["harmonic3"][pos] = li.harmonic_amplitude[:, 2]
    out = {k: v.reshape(nc, nf, na) for k, v in res.items()}
    out["diverged"] = diverged.reshape(nc, nf, na)
    out["wall_s"] = wall
    out["simulated_s"] = B * settings.duration_ms / MS_PER_S
    return out


def _wrap_deg(phase_rad):
    """Phase in degrees wrapped to (-180, 180]."""
    d = np.degrees(np.angle(np.exp(1j * np.asarray(phase_rad))))
    return np.where(d <= -180.0, d + 360.0, d)


def frequency_response(circuit, model=("nmm2", "nmm1"), freqs_hz=None, method="linear", amplitude=None,
                       drive=None, readout=None, lockin=None, fixed_point="stable", labels=None,
                       progress=False, return_info=False):
    """Gain and phase of the response to a sinusoidal drive, per frequency (models.md M8).

    Parameters
    ----------
    circuit : Circuit or sequence of Circuit
        One circuit, or several of one structure (parameter sets to compare, e.g. several J).
    model : model or sequence of models (names or objects)
        Default NMM2 and NMM1, side by side.
    freqs_hz : array_like
        Drive frequencies, Hz (> 0); default 1..150 Hz in 1 Hz steps.
    method : {'linear', 'lockin', 'both'}
        Linearisation at the fixed point (exact small-signal limit) and/or simulated lock-in.
    amplitude : float or sequence
        Zero-to-peak drive amplitude(s) for the lock-in, drive units (default 1e-3 in model units
        or 0.1 V/m).
    drive : Drive or dict, optional
        How the drive reaches the circuit (unit 'current' or 'field', coupling, populations);
        default ``Drive()``: a current in model input units into every population.
    readout : Readout or dict, optional
        Output population and variable ('rate' in Hz or 'v'); default the first population's rate.
    lockin : LockinGrid or dict, optional
        Time grid of the lock-in runs (dt_ms, settle, measure window, stride, integrator).
    fixed_point : 'stable' or int
        Fixed point to linearise about and to start the simulation from.
    labels : list of dict, optional
        Columns identifying each circuit (e.g. ``{"J": 8, "eta_bar": 1}``); default a ``set`` index.
    progress : bool
        tqdm progress bar over the batch chunks.
    return_info : bool
        Also return a dict with timings, the lock-in settings, and ``lockin_runs`` /
        ``diverged_runs`` (counts of lock-in rows and of those whose run diverged).

    Returns
    -------
    pandas.DataFrame (and dict if ``return_info``)
        Tidy table described in the module docstring, with columns ``model``, ``method``,
        ``population``, ``output``, the label columns, ``freq_hz``, ..., ``diverged``.

    Warns
    -----
    DivergenceWarning
        When lock-in runs became non-finite (their rows have ``diverged = True``).

    References
    ----------
    .. [1] K. J. Åström, R. M. Murray, *Feedback Systems*, Princeton University Press (2008),
       ch. 9 (frequency response of a linearised system).

    Examples
    --------
    >>> import stimsim
    >>> t = stimsim.frequency_response(stimsim.preset("pyramidal"), freqs_hz=[10, 47])
    >>> t.pivot(index="freq_hz", columns="model", values="gain_hz_per_unit").round(2)
    model    nmm1   nmm2
    freq_hz
    10.0     3.01   3.13
    47.0     2.64  18.48
    """
    cases = _as_cases(circuit, labels)
    first = cases[0][1]
    models = _check_models(model, first)
    if method not in METHODS:
        raise unknown_name_error("method", method, METHODS)
    drive = as_setting(drive, Drive, "drive")
    readout = as_setting(readout, Readout, "readout")
    grid = as_setting(lockin, LockinGrid, "lockin")
    output = readout.output
    freqs = check_freqs(np.arange(1.0, 151.0) if freqs_hz is None else freqs_hz)
    if amplitude is None:
        amplitude = 0.1 if drive.unit == "field" else 1e-3
    amps = check_amplitudes(amplitude)
    pop = readout.population_of(first)
    k_out = first.index(pop)
    gains = [drive.gains(c) for _, c in cases]
    cols = column_names(drive, readout, first)
    lockin_wanted = method in ("lockin", "both")
    if lockin_wanted and np.max(freqs) >= MS_PER_S / (2 * grid.dt_ms):
        raise ValueError(f"freqs_hz up to {np.max(freqs):g} Hz must stay below the Nyquist frequency "
                         f"{MS_PER_S / (2 * grid.dt_ms):g} Hz of dt_ms={grid.dt_ms}")
    frames, info = [], {"linear_s": 0.0, "lockin_wall_s": 0.0, "lockin_simulated_s": 0.0, "settings": {},
                        "lockin_runs": 0, "diverged_runs": 0}
    t0 = time.perf_counter()
    roots = [find_fixed_points(c) for _, c in cases]
    info["linear_s"] += time.perf_counter() - t0
    for m in models:
        t0 = time.perf_counter()
        spaces = [state_space(c, m, g, pop, output, fixed_point, rt) for (_, c), g, rt in zip(cases, gains, roots)]
        base = [_baseline(c, m, ss.rates_khz, k_out, output) for (_, c), ss in zip(cases, spaces)]
        name = m.name
        if method in ("linear", "both"):
            for (lab, c), ss, b0 in zip(cases, spaces, base):
                H = ss.transfer(freqs)
                if not ss.stable:
                    H = np.full_like(H, np.nan)
                frames.append(_frame(lab, name, "linear", pop, output, freqs, np.nan, np.abs(H), np.angle(H),
                                     np.nan, 0.0, np.nan, np.nan, b0, ss, cols, False))
        info["linear_s"] += time.perf_counter() - t0
        if lockin_wanted:
            st = lockin_settings(spaces, freqs, grid)
            info["settings"][name] = st
            initials = [m.state_at_rates(c, ss.rates_khz) for (_, c), ss in zip(cases, spaces)]
            r = run_lockin([c for _, c in cases], m, freqs, amps, gains, k_out, output, st, initials,
                           grid.integrator, progress=progress, desc=f"lock-in {name}")
            info["lockin_wall_s"] += r["wall_s"]
            info["lockin_simulated_s"] += r["simulated_s"]
            info["lockin_runs"] += int(r["diverged"].size)
            info["diverged_runs"] += int(np.count_nonzero(r["diverged"]))
            for i, ((lab, c), ss, b0) in enumerate(zip(cases, spaces, base)):
                for j, a in enumerate(amps):
                    resp = r["response"][i, :, j]
                    with np.errstate(divide="ignore", invalid="ignore"):
                        gain = resp / a if a > 0 else np.full_like(resp, np.nan)
                    frames.append(_frame(lab, name, "lockin", pop, output, freqs, a, gain, r["phase_rad"][i, :, j],
                                         resp, r["mean"][i, :, j] - b0, r["harmonic2"][i, :, j],
                                         r["harmonic3"][i, :, j], b0, ss, cols, r["diverged"][i, :, j]))
    table = pd.concat(frames, ignore_index=True)
    warn_diverged(info["diverged_runs"], info["lockin_runs"], "lock-in")
    return (table, info) if return_info else table


def _baseline(circuit, model, rates_khz, k, output):
    """Output at the fixed point in table units: the model's recorded rate (Hz) or v read-out."""
    a = model.recorded_index(_OUTPUT_VARIABLE[output])
    y = model.observe(circuit, model.state_at_rates(circuit, rates_khz))
    return float(model.recorded_variables[a].to_column * y[a, k])


def _frame(labels, model, method, pop, output, freqs, amp, gain, phase_rad, response, mean_shift,
           h2, h3, baseline, ss, cols, diverged):
    n = len(freqs)
    data = {"model": model, "method": method, "population": pop, "output": output}
    data.update({k: v for k, v in labels.items()})
    data.update({
        "freq_hz": freqs,
        cols["amplitude"]: np.full(n, amp, dtype=float),
        cols["gain"]: np.asarray(gain, dtype=float),
        "phase_deg": _wrap_deg(phase_rad),
        cols["response"]: np.broadcast_to(np.asarray(response, dtype=float), (n,)),
        cols["mean_shift"]: np.broadcast_to(np.asarray(mean_shift, dtype=float), (n,)),
        cols["harmonic2"]: np.broadcast_to(np.asarray(h2, dtype=float), (n,)),
        cols["harmonic3"]: np.broadcast_to(np.asarray(h3, dtype=float), (n,)),
        cols["baseline"]: baseline,
        # the output population's rate at the fixed point: NMM2's (r, v) focus rings near r* (models.md M7.2)
        "fixed_point_rate_hz": ss.output_rate_hz,
        "stable": ss.stable,
        "stability": ss.stability,
        "diverged": np.broadcast_to(np.asarray(diverged, dtype=bool), (n,)),
    })
    return pd.DataFrame(data)
