"""The ``[run]``, ``[analysis]`` and ``[output]`` tables of a circuit protocol, and the analysis stride.

:func:`read_run` checks the models against the circuit, the time grid, the integrator and the
spiking network's options; :func:`read_analysis` the summary's drive frequency and Welch segment
against the run; :func:`read_output` the time-series columns and files. :func:`analysis_stride`
is the recording stride of the series the summary is computed from (used by the runner, the
memory estimate and ``stimsim validate``).
"""
from __future__ import annotations

import json
import secrets

from .. import models as _models
from .._simulate import check_run
from ..models._network import DEFAULT_NEURONS
from ..units import hz_to_khz, khz_to_hz

INTEGRATORS = ("rk4", "heun")
INITIAL = ("fixed_point", "synapses_at_rest")
FILES = ("timeseries", "summary", "figure")

#: guards against runs that cannot fit in memory (records are float64)
MAX_STEPS = 1e8
MAX_RECORDS = 1e7
#: longest sampling interval of the series the summary is computed from, ms (Nyquist 1 kHz); the
#: CSV keeps the protocol's record_every, a whole multiple of the analysis stride
ANALYSIS_MAX_STEP_MS = 0.5


def recorded_columns():
    """Table columns of every registered model's recorded variables (the choices of output.variables)."""
    cols = []
    for name in _models.available():
        cols += [v.column for v in _models.get(name).recorded_variables if v.column not in cols]
    return tuple(cols)


def read_run(r, circuit):
    """The validated ``[run]`` table (a dict; ``resolved`` as written to the resolved protocol)."""
    registered = _models.available()
    # default: the mean-field models; the spiking network (N neurons per population) is asked for by name
    fitting = [m for m in registered if _models.get(m).supports(circuit) is None and not _models.get(m).ground_truth]
    models = r.string_list("models", fitting, registered)
    for m in models:
        reason = _models.get(m).supports(circuit)
        if reason:
            r.fail(f"model {m!r} cannot describe preset {circuit.name!r}: {reason}; use models = "
                   f"{json.dumps(fitting)}", "models")
    duration_ms = r.number("duration_ms", minimum=0.0, exclusive=True, unit="ms")
    dt_ms = r.number("dt_ms", minimum=0.0, exclusive=True, unit="ms")
    transient_ms = r.number("transient_ms", 0.0, minimum=0.0, unit="ms")
    if transient_ms >= duration_ms:
        r.fail(f"transient_ms={transient_ms:g} must be shorter than duration_ms={duration_ms:g}", "transient_ms")
    record_every = r.integer("record_every", 1, minimum=1)
    integrator = r.string("integrator", "rk4", INTEGRATORS)
    initial = r.string("initial", "fixed_point", INITIAL)
    takes = [m for m in models if "neurons" in _models.get(m).options]
    for key in ("neurons", "seed"):
        if r.has(key) and not takes:
            r.fail(f"applies only to the spiking network; add \"network\" to run.models (now {json.dumps(models)})", key)
    neurons = r.integer("neurons", DEFAULT_NEURONS, minimum=1)
    seed = None
    if takes:
        seed = r.integer("seed", minimum=0) if r.has("seed") else secrets.randbits(63)   # recorded in resolved
        if seed >= 2**63:
            r.fail(f"must be an integer in [0, 2^63), got {seed}", "seed")
    r.finish(["models", "duration_ms", "dt_ms", "transient_ms", "record_every", "integrator", "initial",
              "neurons", "seed"])
    n_steps = duration_ms / dt_ms
    if n_steps > MAX_STEPS:
        r.fail(f"duration_ms / dt_ms = {n_steps:.3g} steps is more than {MAX_STEPS:.0e}; shorten the run or "
               "raise dt_ms", "duration_ms")
    if n_steps / record_every > MAX_RECORDS:
        r.fail(f"{n_steps / record_every:.3g} recorded samples per model is more than {MAX_RECORDS:.0e}; "
               "raise record_every", "record_every")
    for model in models:
        try:
            spec = check_run([circuit], model, duration_ms, dt_ms, record_every, integrator)
            m = _models.get(model)
            if m.options:               # the network: neurons (memory), its step against V_peak
                m.check_options(circuit, spec, {k: v for k, v in (("neurons", neurons), ("seed", seed))
                                                if k in m.options})
        except ValueError as exc:
            r.fail(str(exc))
    resolved = dict(models=models, duration_ms=duration_ms, dt_ms=dt_ms, transient_ms=transient_ms,
                    record_every=record_every, integrator=integrator, initial=initial)
    if takes:
        resolved.update(neurons=neurons, seed=seed)
    return dict(resolved, resolved=resolved, neurons=neurons, seed=seed)


def read_analysis(r, run, waves):
    """The validated ``[analysis]`` table against the run and the waveforms ``waves`` (a dict)."""
    f = r.number("drive_frequency_hz", None, minimum=0.0, exclusive=True, unit="Hz")
    phase = 0.0
    periodic = [w for w in waves if w.drive_frequency_hz is not None]
    if f is None and periodic:
        f, phase = periodic[0].drive_frequency_hz, periodic[0].drive_phase_rad
    elif f is not None:
        match = [w for w in periodic if w.drive_frequency_hz == f]
        phase = match[0].drive_phase_rad if match else 0.0
    window_ms = run["duration_ms"] - run["transient_ms"]
    welch_ms = r.number("welch_segment_ms", min(1000.0, window_ms), minimum=0.0, exclusive=True, unit="ms")
    r.finish(["drive_frequency_hz", "welch_segment_ms"])
    record_dt = run["dt_ms"] * run["record_every"]
    if welch_ms > window_ms:
        r.fail(f"{welch_ms:g} ms is longer than the analysed window duration_ms - transient_ms = {window_ms:g} ms",
               "welch_segment_ms")
    if welch_ms < 8 * record_dt:
        r.fail(f"{welch_ms:g} ms holds fewer than 8 recorded samples (every {record_dt:g} ms)", "welch_segment_ms")
    if f is not None:
        cycle_ms = 1.0 / hz_to_khz(f)
        if window_ms < cycle_ms:
            r.fail(f"the analysed window duration_ms - transient_ms = {window_ms:g} ms is shorter than one "
                   f"cycle of the drive frequency {f:g} Hz", "drive_frequency_hz")
        rec_nyquist = khz_to_hz(1.0 / (2.0 * record_dt))
        if f >= rec_nyquist:
            r.fail(f"{f:g} Hz is not below the Nyquist frequency {rec_nyquist:g} Hz of the recorded series "
                   f"(dt_ms x record_every = {record_dt:g} ms); lower run.record_every", "drive_frequency_hz")
    resolved = {"welch_segment_ms": welch_ms}
    if f is not None:
        resolved["drive_frequency_hz"] = f
    return dict(drive_frequency_hz=f, drive_phase_rad=float(phase), welch_segment_ms=welch_ms, resolved=resolved)


def read_output(r):
    """The validated ``[output]`` table: time-series ``variables``, ``files``, ``include_transient``."""
    output = dict(
        variables=tuple(r.string_list("variables", list(recorded_columns()), recorded_columns())),
        files=tuple(r.string_list("files", list(FILES), FILES, nonempty=False)),
        include_transient=r.boolean("include_transient", False),
    )
    r.finish(["variables", "files", "include_transient"])
    return output


def analysis_stride(dt_ms, record_every):
    """Recording stride (steps) of the analysed series.

    The largest divisor of ``record_every`` whose interval ``stride * dt_ms`` is at most
    ``ANALYSIS_MAX_STEP_MS`` (every step when ``dt_ms`` itself is longer), so that the CSV series
    (every ``record_every`` steps) is this series thinned, sample for sample.

    Parameters
    ----------
    dt_ms : float
        Integration step, ms.
    record_every : int
        Steps between the samples written to CSV.

    Returns
    -------
    int
    """
    best = 1
    d = 1
    while d * d <= record_every:
        if record_every % d == 0:
            for q in (d, record_every // d):
                if q * dt_ms <= ANALYSIS_MAX_STEP_MS * (1 + 1e-9):
                    best = max(best, q)
        d += 1
    return best
