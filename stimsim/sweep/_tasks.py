"""What one point of a sweep computes: task kinds, content keys, seeds, and the chunk function.

A *task* is one (point, model): the circuit at that point's parameter values, the model, the drive
and the analysis settings, and the seed. Its *content key* is the sha256 of all of that (circuit
by :meth:`stimsim.Circuit.content_key`, floats exactly): two tasks with one key give one result,
wherever and in whatever batch they run. The seed of a stochastic drive is a
``numpy.random.SeedSequence`` of the sweep's seed and the key, so results do not depend on how
tasks are batched or where they run.

Kinds (one row per task; ``status`` 'ok', 'diverged' or 'failed' with a ``reason``):

``lockin``
    simulate the circuit from its stable fixed point with the drive A cos(2 pi f t) (+ white noise
    of standard deviation ``noise_std`` per step when asked) for settle_ms + measure_ms, and lock in
    at f over whole cycles of the measured window (:func:`stimsim.analysis.lockin_full`):
    ``response`` (output units), ``phase_rad``, ``mean``, ``harmonic2``, ``gain`` = response / A;
``linear``
    the small-signal gain and phase at f from the linearisation (models.md M8; no simulation);
``resonance``
    the linear gain over ``freqs_hz``, and its peak (:func:`stimsim.analysis.resonance_summary_curve`);
``fixed_points``
    the number of fixed points, the lowest rate and its stability;
``entrainment``
    phase locking of the output to the drive (:func:`stimsim.entrainment` on this one point: an
    undriven warm-up of ``settle_ms`` from synapses at rest, the undriven reference and the driven
    run over ``measure_ms``; the surrogate test seeded by the task's content): ``plv``,
    ``plv_1to1``, ``ratio``, ``locked``, ``locked_1to1``, ``mean_freq_hz``, ``natural_freq_hz``;
``bifurcation``
    a one-parameter bifurcation diagram in ``bifurcation_parameter`` over ``bifurcation_range``
    (:func:`stimsim.continuation.bifurcation_diagram`, no cycles): the numbers of Hopf and fold
    points, and the first Hopf point's parameter value, frequency and first Lyapunov coefficient.

The chunk function :func:`evaluate_chunk` is what executors run: it is a plain function of
picklable arguments and returns a tidy DataFrame.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..circuit import canonical
from ..errors import InputError
from ..units import MS_PER_S

KINDS = ("lockin", "linear", "resonance", "fixed_points", "bifurcation", "entrainment")
#: parameters of the drive (not of the circuit) a sweep may vary
DRIVE_PARAMETERS = ("frequency_hz", "amplitude")
#: bump when what a task computes changes: old stores then no longer match
TASK_VERSION = 1
STATUS = ("ok", "diverged", "failed")


@dataclass(frozen=True)
class TaskSpec:
    """Everything a task needs besides its point (picklable; sent to workers once per chunk).

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    models : tuple of str
    circuit : Circuit
        The base circuit; circuit parameters of the design are set on it.
    names : tuple of str
        Design parameters, in column order: circuit parameters (``stimsim.continuation.parameter``
        names, e.g. 'J', 'eta_bar[E]', 'J[E,I]', 'tau_s/tau_m', 'field') and drive parameters
        'frequency_hz' (Hz), 'amplitude' (drive units).
    parameters : tuple
        The parsed circuit parameters (None at the positions of drive parameters).
    drive : stimsim.analysis.Drive
    frequency_hz, amplitude : float
        Drive frequency (Hz) and amplitude (drive units) when not in the design.
    output_population : str
    output : {'rate', 'v'}
    dt_ms, settle_ms, measure_ms : float
        Lock-in time grid, ms.
    record_every : int
    integrator : str
    noise_std : float
        Standard deviation of an additive white-noise drive (drive units, one value per step), 0: none.
    seed : int
    freqs_hz : tuple
        Frequencies of the 'resonance' kind, Hz.
    bifurcation_parameter : str
        Continuation parameter of the 'bifurcation' kind.
    bifurcation_range : tuple
        Its range, the parameter's units.
    """

    kind: str
    models: tuple
    circuit: object
    names: tuple
    parameters: tuple
    drive: object
    frequency_hz: float = math.nan
    amplitude: float = 1.0
    output_population: str = ""
    output: str = "rate"
    dt_ms: float = 0.05
    settle_ms: float = 500.0
    measure_ms: float = 500.0
    record_every: int = 1
    integrator: str = "rk4"
    noise_std: float = 0.0
    seed: int = 0
    freqs_hz: tuple = field(default_factory=tuple)
    bifurcation_parameter: str = ""
    bifurcation_range: tuple = ()

    def __post_init__(self):
        seen = {}
        for name, par in zip(self.names, self.parameters):
            if par is None:
                continue
            mine = circuit_entries(par, self.circuit)
            for other, entries in seen.items():
                if entries & mine:
                    raise InputError(f"sweep parameter {name!r} sets the same circuit entry as {other!r}; "
                                     "give each parameter under one name only")
            seen[name] = mine

    # --- the interface run_sweep uses (stimsim.brain.BrainTaskSpec has the same) --------------
    @property
    def evaluate(self):
        """The chunk function executors run: f(spec, point_ids, values, numba_threads=None) -> DataFrame."""
        return evaluate_chunk

    def describe(self):
        """What identifies the sweep's tasks (sweep.json: a resumed sweep must match it)."""
        return {"task_version": TASK_VERSION, "kind": self.kind, "models": list(self.models),
                "analysis": self.analysis_key(), "circuit": self.circuit.content_key(),
                "parameters": list(self.names),
                "drive": {"frequency_hz": canonical(self.frequency_hz), "amplitude": canonical(self.amplitude),
                          "unit": self.drive.unit, "populations": self.drive.populations,
                          "coupling": repr(self.drive.coupling)}}

    def columns(self):
        """Result columns with their units (after point_id, model, parameters, task_key, status, reason)."""
        return result_columns(self.kind, self.output)

    def rows_per_point(self):
        """Rows of the result table per design point (one per model)."""
        return len(self.models)

    def chunk_size(self, n_points):
        """Default points per chunk (:func:`stimsim.sweep.default_chunk_size`)."""
        from ._run import default_chunk_size

        return default_chunk_size(self, n_points)

    def analysis_key(self):
        """Canonical text of the settings that determine a task's result (besides circuit and drive)."""
        parts = [self.kind, self.output_population, self.output, self.integrator, str(self.record_every),
                 canonical(self.dt_ms), canonical(self.settle_ms), canonical(self.measure_ms),
                 canonical(self.noise_std), str(int(self.seed)), ",".join(canonical(f) for f in self.freqs_hz),
                 self.drive.unit, repr(self.drive.populations), self.bifurcation_parameter,
                 ",".join(canonical(v) for v in self.bifurcation_range)]
        return "|".join(parts)

    def point(self, values, cache=None):
        """(circuit, frequency_hz, amplitude) at one row of design values; raises ValueError.

        ``cache`` (a dict) keeps the circuits already built for these circuit-parameter values.
        """
        f, a = self.frequency_hz, self.amplitude
        circuit_values = []
        for name, v in zip(self.names, values):
            if name == "frequency_hz":
                f = float(v)
            elif name == "amplitude":
                a = float(v)
            else:
                circuit_values.append(float(v))
        key = tuple(circuit_values)
        if cache is not None and key in cache:
            return cache[key], f, a
        c = self.circuit
        for name, par, v in zip(self.names, self.parameters, values):
            if name not in DRIVE_PARAMETERS:
                c = par.apply(c, float(v))
        if cache is not None:
            cache[key] = c
        return c, f, a


def circuit_entries(par, circuit):
    """The circuit entries a continuation parameter sets, as a set of tuples.

    ``('J', post, pre)`` for a coupling (population indices), ``(name, k)`` per population for a
    population parameter (``'tau_s/tau_m'`` sets ``tau_s``), ``('field', k)`` for a DC field. Two
    names that set a common entry (``J`` and ``"J[P,P]"`` in a one-population circuit,
    ``eta_bar`` and ``"eta_bar[E]"``) would write one number twice.
    """
    if par.kind == "J":
        post, pre = par.populations or (circuit.names[0], circuit.names[0])
        return {("J", circuit.index(post), circuit.index(pre))}
    name = "tau_s" if par.kind == "tau_s/tau_m" else par.kind
    return {(name, circuit.index(p)) for p in (par.populations or circuit.names)}


def task_key(spec, model, circuit, freq_hz, amplitude, gains, content_key=None):
    """sha256 (hex) of one task's content (module docstring)."""
    content_key = circuit.content_key() if content_key is None else content_key
    text = repr((TASK_VERSION, str(model), content_key, canonical(float(freq_hz)),
                 canonical(float(amplitude)), [canonical(g) for g in np.asarray(gains, dtype=float)],
                 spec.analysis_key()))
    return hashlib.sha256(text.encode()).hexdigest()


def task_rng(seed, key):
    """The random generator of a task: SeedSequence(seed, the key's 8 32-bit words)."""
    words = np.frombuffer(bytes.fromhex(key), dtype="<u4")
    return np.random.default_rng(np.random.SeedSequence([int(seed), *(int(w) for w in words)]))


def result_columns(kind, output):
    """The result columns of a kind, with units, after point_id, model, parameters, task_key, status, reason."""
    unit = "Hz" if output == "rate" else "QIF units"
    if kind == "lockin":
        return {"response": f"amplitude of the output at the drive frequency, {unit}",
                "phase_rad": "phase of the output relative to the drive cos(2 pi f t), rad",
                "mean": f"mean of the output over the measured window, {unit}",
                "harmonic2": f"amplitude at twice the drive frequency, {unit}",
                "gain": f"response / amplitude, {unit} per drive unit",
                "fixed_point_rate_hz": "output population's rate at the starting fixed point, Hz"}
    if kind == "linear":
        return {"gain": f"small-signal gain at the drive frequency, {unit} per drive unit",
                "phase_rad": "phase of the linear response, rad",
                "stable": "the fixed point is stable", "fixed_point_rate_hz": "output population's rate, Hz"}
    if kind == "resonance":
        return {"peak_freq_hz": "frequency of the largest linear gain, Hz",
                "peak_gain": f"largest gain, {unit} per drive unit",
                "low_freq_gain": f"gain at the lowest frequency, {unit} per drive unit",
                "resonance": "the peak lies inside the frequency grid",
                "stable": "the fixed point is stable", "fixed_point_rate_hz": "output population's rate, Hz"}
    if kind == "entrainment":
        return {"plv": "phase-locking value at the detected p:q ratio", "plv_1to1": "1:1 phase-locking value",
                "ratio": "output : drive frequency ratio p:q", "locked": "locked at p:q (PLV above threshold and surrogate)",
                "locked_1to1": "locked 1:1", "mean_freq_hz": "mean frequency of the driven output, Hz",
                "natural_freq_hz": "frequency of the undriven output, Hz (NaN: it does not oscillate)",
                "self_oscillating": "the undriven output oscillates"}
    if kind == "bifurcation":
        return {"n_hopf": "Hopf points in the range", "n_fold": "folds in the range",
                "first_hopf": "parameter value of the first Hopf point (NaN: none)",
                "first_hopf_frequency_hz": "its frequency, Hz",
                "first_hopf_l1": "its first Lyapunov coefficient (< 0: supercritical)"}
    return {"n_fixed_points": "number of fixed points", "fixed_point_rate_hz": "lowest fixed point's rate, Hz",
            "stable": "the lowest fixed point is stable"}


def evaluate_chunk(spec, point_ids, values, numba_threads=None):
    """Compute every task of a chunk of points; the function executors run.

    Parameters
    ----------
    spec : TaskSpec
    point_ids : array (m,) of int
    values : array (m, n_parameters)
    numba_threads : int, optional
        Threads the batched kernel may use here (the executor's thread policy).

    Returns
    -------
    pandas.DataFrame
        One row per (point, model): point_id, model, the design parameters, task_key, status,
        reason and the kind's result columns (:func:`result_columns`). Identical points of the
        chunk are computed once and each keeps its own rows
        (:func:`stimsim.sweep._points.evaluate_distinct`).
    """
    from ._points import evaluate_distinct

    return evaluate_distinct(_evaluate_points, spec, point_ids, values, numba_threads=numba_threads)


def _evaluate_points(spec, point_ids, values, numba_threads=None):
    """:func:`evaluate_chunk` on points that are all different."""
    if numba_threads is not None:
        import numba

        numba.set_num_threads(max(1, min(int(numba_threads), numba.config.NUMBA_NUM_THREADS)))
    point_ids = np.asarray(point_ids, dtype=np.int64)
    values = np.asarray(values, dtype=float).reshape(len(point_ids), len(spec.names))
    frames = []
    roots_cache = {}                 # fixed points depend on the circuit only (not drive, not model)
    for model in spec.models:
        rows = _prepare(spec, model, point_ids, values, roots_cache)
        good = [r for r in rows if r["status"] == "ok"]
        if good and spec.kind == "lockin":
            _lockin_kind(spec, model, good)          # one batch through the kernel
        for r in good if spec.kind != "lockin" else ():
            try:
                _KIND_FUNCS[spec.kind](spec, model, r)
            except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
                r.update(status="failed", reason=f"{type(exc).__name__}: {exc}".replace("\n", " "))
        frames.append(pd.DataFrame([_public(r, spec) for r in rows]))
    cols = ["point_id", "model", *spec.names, "task_key", "status", "reason", *result_columns(spec.kind, spec.output)]
    return pd.concat(frames, ignore_index=True).reindex(columns=cols)


def _public(row, spec):
    out = {k: v for k, v in row.items() if not k.startswith("_")}
    return out


def _prepare(spec, model, point_ids, values, roots_cache):
    from ..analysis._linear import select_fixed_point
    from ..dynamics import find_fixed_points
    from .. import models as _models

    from .._simulate import check_run

    m = _models.get(model)
    rows = []
    circuits = roots_cache.setdefault("_circuits", {})       # circuit values -> circuit
    facts = roots_cache.setdefault("_facts", {})             # id(circuit) -> (content key, gains)
    for pid, vals in zip(point_ids, values):
        row = {"point_id": int(pid), "model": m.name, **{n: float(v) for n, v in zip(spec.names, vals)},
               "task_key": "", "status": "ok", "reason": ""}
        try:
            c, f, a = spec.point(vals, circuits)
            reason = m.supports(c)
            if reason:
                raise ValueError(reason)
            if id(c) not in facts:
                facts[id(c)] = (c.content_key(), spec.drive.gains(c))
            ck, gains = facts[id(c)]
            row["task_key"] = task_key(spec, m.name, c, f, a, gains, ck)
            row.update(_circuit=c, _f=f, _a=a, _gains=gains)
            if spec.kind in ("lockin", "entrainment"):
                check_run([c], m, spec.settle_ms + spec.measure_ms, spec.dt_ms, spec.record_every, spec.integrator)
            if spec.kind not in ("fixed_points", "bifurcation", "entrainment"):
                if ck not in roots_cache:
                    try:
                        roots_cache[ck] = (find_fixed_points(c), {})
                    except ValueError as exc:
                        roots_cache[ck] = (exc, {})
                roots, chosen = roots_cache[ck]
                if isinstance(roots, Exception):
                    raise roots
                if m.name not in chosen:
                    chosen[m.name] = np.asarray(select_fixed_point(c, m, "stable", roots), dtype=float)
                row["_roots"] = roots
                row["_rates"] = chosen[m.name]
        except ValueError as exc:
            row.update(status="failed", reason=str(exc).replace("\n", " "))
            if not row["task_key"]:
                row["task_key"] = hashlib.sha256(repr((TASK_VERSION, m.name, tuple(map(canonical, vals)),
                                                       spec.analysis_key())).encode()).hexdigest()
        rows.append(row)
    return rows


def _out_index(spec, c):
    return c.index(spec.output_population) if spec.output_population else 0


def _lockin_kind(spec, model, rows):
    from .. import models as _models
    from .._simulate import simulate_batch
    from ..analysis._lockin import lockin_full
    from ..analysis._response import _OUTPUT_VARIABLE, diverged_sets
    from ..drive import SampledInput, SinusoidInput

    m = _models.get(model)
    duration = spec.settle_ms + spec.measure_ms
    n_steps = int(round(duration / spec.dt_ms))
    inputs, initials, circuits = [], [], []
    for r in rows:
        c = r["_circuit"]
        drive = [SinusoidInput(r["_a"] * r["_gains"], r["_f"])]
        if spec.noise_std > 0:
            noise = task_rng(spec.seed, r["task_key"]).standard_normal(n_steps + 1) * spec.noise_std
            drive.append(SampledInput(noise[:, None] * r["_gains"][None, :], spec.dt_ms))
        inputs.append(drive)
        initials.append(m.state_at_rates(c, r["_rates"]))
        circuits.append(c)
    # a batch of one runs a single-lane kernel path: pad so every task runs in the lane layout
    pad = 1 if len(rows) == 1 else 0
    br = simulate_batch(circuits + circuits[:pad], model=m, duration_ms=duration, dt_ms=spec.dt_ms,
                        inputs=inputs + inputs[:pad], record_every=spec.record_every, integrator=spec.integrator,
                        initial=initials + initials[:pad], on_divergence="nan")
    bad = diverged_sets(br)
    rec_dt = spec.dt_ms * spec.record_every
    first = int(round(spec.settle_ms / rec_dt))
    var = m.recorded_index(_OUTPUT_VARIABLE[spec.output])
    scale = MS_PER_S if spec.output == "rate" else 1.0
    for b, r in enumerate(rows):
        c = r["_circuit"]
        k = _out_index(spec, c)
        r["fixed_point_rate_hz"] = float(r["_rates"][k] * MS_PER_S)
        if bad[b]:
            r.update(status="diverged", reason="the trajectory became non-finite; reduce dt_ms or the amplitude")
            continue
        sig = br.states[first:, var, k, b] * scale
        # one signal at a time: the fit of a task never depends on the other tasks of its chunk
        li = lockin_full(sig, rec_dt, r["_f"], t0_ms=first * rec_dt, n_harmonics=3)
        r.update(response=float(li.amplitude), phase_rad=float(li.phase_rad), mean=float(li.mean),
                 harmonic2=float(li.harmonic_amplitude[1]),
                 gain=float(li.amplitude) / r["_a"] if r["_a"] != 0 else math.nan)


def _linear_kind(spec, model, r):
    from ..analysis._linear import state_space

    c = r["_circuit"]
    ss = state_space(c, model, r["_gains"], c.names[_out_index(spec, c)], spec.output, roots=r["_roots"])
    H = ss.transfer(np.array([r["_f"]]))[0]
    r.update(gain=float(abs(H)), phase_rad=float(np.angle(H)), stable=bool(ss.stable),
             fixed_point_rate_hz=float(ss.output_rate_hz))


def _resonance_kind(spec, model, r):
    from ..analysis._linear import state_space
    from ..analysis._resonance import resonance_summary_curve

    freqs = np.asarray(spec.freqs_hz, dtype=float)
    c = r["_circuit"]
    ss = state_space(c, model, r["_gains"], c.names[_out_index(spec, c)], spec.output, roots=r["_roots"])
    s = resonance_summary_curve(freqs, np.abs(ss.transfer(freqs)))
    r.update(peak_freq_hz=float(s["peak_freq_hz"]), peak_gain=float(s["peak_gain"]),
             low_freq_gain=float(s["low_freq_gain"]), resonance=bool(s["resonance"]), stable=bool(ss.stable),
             fixed_point_rate_hz=float(ss.output_rate_hz))


def _fixed_points_kind(spec, model, r):
    from ..dynamics import find_fixed_points, linearize

    c = r["_circuit"]
    roots = find_fixed_points(c)
    k = _out_index(spec, c)
    r.update(n_fixed_points=len(roots), fixed_point_rate_hz=float(roots[0][k] * MS_PER_S),
             stable=bool(linearize(c, model, roots[0]).stable))


def _bifurcation_kind(spec, model, r):
    from ..continuation import bifurcation_diagram

    d = bifurcation_diagram(r["_circuit"], model, spec.bifurcation_parameter, spec.bifurcation_range, cycles=False)
    hopf, folds = d.hopf_points(), d.fold_points()
    first = hopf[0] if hopf else None
    r.update(n_hopf=len(hopf), n_fold=len(folds), first_hopf=float(first.p[0]) if first else math.nan,
             first_hopf_frequency_hz=float(first.omega / (2 * math.pi) * MS_PER_S) if first else math.nan,
             first_hopf_l1=float(first.coefficient) if first else math.nan)


def _entrainment_kind(spec, model, r):
    import warnings

    from ..analysis import Drive, EntrainmentGrid, LockingCriterion, Readout, entrainment
    from ..analysis._settings import DivergenceWarning

    c = r["_circuit"]
    grid = EntrainmentGrid(dt_ms=spec.dt_ms, settle_ms=spec.settle_ms, measure_ms=spec.measure_ms,
                           record_every=spec.record_every, integrator=spec.integrator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)          # reported as the row's status
        t = entrainment(c, model, freqs_hz=[r["_f"]], amplitudes=[r["_a"]], drive=spec.drive,
                        readout=Readout(population=spec.output_population or None, output=spec.output),
                        grid=grid, criterion=LockingCriterion(seed=spec.seed))
    row = t.iloc[0]
    if bool(row["diverged"]):
        r.update(status="diverged", reason="the trajectory became non-finite; reduce dt_ms or the amplitude")
        return
    r.update(plv=float(row["plv"]), plv_1to1=float(row["plv_1to1"]), ratio=str(row["ratio"]),
             locked=bool(row["locked"]), locked_1to1=bool(row["locked_1to1"]),
             mean_freq_hz=float(row["mean_freq_hz"]), natural_freq_hz=float(row["natural_freq_hz"]),
             self_oscillating=bool(row["self_oscillating"]))


_KIND_FUNCS = {"linear": _linear_kind, "resonance": _resonance_kind, "fixed_points": _fixed_points_kind,
               "bifurcation": _bifurcation_kind, "entrainment": _entrainment_kind}
