"""Run circuits under any registered model: validate, pack into the kernels' lane layout, integrate.

Public entry points: :func:`simulate` (one circuit) and :func:`simulate_batch` (many circuits of
one structure, differing in any parameter or input). Both check every argument before any
compilation starts, and both run the same compiled kernels.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import models as _models
from .circuit import Circuit
from .drive import SampledInput, SinusoidInput, split_input
from .dynamics import find_fixed_points
from .errors import InputError, SimulationDiverged, check_positive, check_positive_int, unknown_name_error
from .result import BatchResult, SimulationResult
from .units import hz_to_rad_per_ms

from .kernels.common import CHECK_EVERY, pad_lanes
from .kernels.common import METHODS as INTEGRATORS

#: dt may be at most this fraction of the fastest time constant (tau_m or tau_s)
MAX_DT_FRACTION = 0.1
#: parameter sets per block of contiguous lanes in batched runs
LANES = 32
#: largest recorded output a run may allocate, bytes (a clear error beats an out-of-memory kill)
MAX_OUTPUT_BYTES = 8 * 2**30


@dataclass(frozen=True)
class RunSpec:
    """Validated time grid of a run: the model object, ms grid, recording stride, integrator."""

    model: object
    duration_ms: float
    dt_ms: float
    n_steps: int
    record_every: int
    integrator: str

    @property
    def n_records(self):
        return self.n_steps // self.record_every + 1

    @property
    def time_ms(self):
        return np.arange(self.n_records) * (self.record_every * self.dt_ms)


def check_run(circuits, model, duration_ms, dt_ms, record_every, integrator):
    """Validate model, grid and step size for circuits of one structure; return a RunSpec."""
    model = _models.get(model)
    if not isinstance(integrator, str) or integrator not in INTEGRATORS:
        raise unknown_name_error("integrator", integrator, INTEGRATORS)
    duration_ms = check_positive("duration_ms", duration_ms, "ms")
    dt_ms = check_positive("dt_ms", dt_ms, "ms")
    record_every = check_positive_int("record_every", record_every)
    n_steps = int(round(duration_ms / dt_ms))
    if n_steps < 1 or abs(n_steps * dt_ms - duration_ms) > 1e-9 * max(duration_ms, 1.0):
        raise InputError(f"duration_ms={duration_ms} must be a whole number of steps dt_ms={dt_ms}")
    fastest = min(c.fastest_time_scale_ms for c in circuits)
    if dt_ms > MAX_DT_FRACTION * fastest:
        raise InputError(
            f"dt_ms={dt_ms} is too coarse: it must be at most {MAX_DT_FRACTION} x the fastest time "
            f"constant ({fastest} ms), i.e. <= {MAX_DT_FRACTION * fastest:g} ms")
    for c in circuits:
        try:
            model.check_supports(c)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    return RunSpec(model, duration_ms, dt_ms, n_steps, record_every, integrator)


def check_output_size(spec, n_populations, n_sets):
    """Refuse, before running, a recording that would not fit in MAX_OUTPUT_BYTES."""
    nv = spec.model.n_recorded
    nbytes = spec.n_records * nv * n_populations * n_sets * 8
    if nbytes > MAX_OUTPUT_BYTES:
        raise InputError(
            f"recording {spec.n_records:,} time points x {nv} variables x {n_populations} populations x "
            f"{n_sets} sets needs {nbytes / 2**30:.1f} GiB (limit {MAX_OUTPUT_BYTES / 2**30:.0f} GiB); "
            f"raise record_every (now {spec.record_every}) or shorten duration_ms")


def check_same_structure(circuits):
    first = circuits[0]
    kinds = [p.transfer for p in first.populations]
    for i, c in enumerate(circuits[1:], 1):
        if c.names != first.names or [p.transfer for p in c.populations] != kinds:
            raise InputError(
                f"circuit {i} differs in structure from circuit 0 (populations {c.names} vs "
                f"{first.names}); a batch shares populations and transfer kinds")


def as_input(inp, input_dt_ms, dt_ms):
    """Accept Input objects as they are; an array becomes a SampledInput every input_dt_ms (default dt_ms)."""
    if inp is None or isinstance(inp, (SampledInput, SinusoidInput)):
        return inp
    if isinstance(inp, (list, tuple)) and inp and all(isinstance(p, (SampledInput, SinusoidInput)) for p in inp):
        return inp
    try:
        values = np.asarray(inp, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"input must be an array of numbers or stimsim input objects, got {type(inp).__name__}") from None
    try:
        return SampledInput(values, dt_ms if input_dt_ms is None else input_dt_ms)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def check_sampled(sampled, P, spec):
    """Stride in half-steps, and a check that the samples cover the run."""
    half = 0.5 * spec.dt_ms
    stride = sampled.dt_ms / half
    if abs(stride - round(stride)) > 1e-9 * stride or round(stride) < 1:
        raise InputError(
            f"input dt_ms={sampled.dt_ms} must be a whole multiple of half the step "
            f"(dt_ms/2 = {half:g} ms)")
    stride = int(round(stride))
    if sampled.values.shape[1] != P:
        raise InputError(f"input has {sampled.values.shape[1]} columns but the circuit has {P} populations")
    need = (2 * spec.n_steps + stride - 1) // stride + 1
    if sampled.values.shape[0] < need:
        raise InputError(
            f"input covers {sampled.duration_ms:g} ms ({sampled.values.shape[0]} samples) but the run "
            f"needs {spec.duration_ms:g} ms ({need} samples every {sampled.dt_ms:g} ms)")
    return stride


def check_sinusoid(sine, P, spec):
    if sine.amplitude.shape[0] not in (1, P):
        raise InputError(f"sinusoid amplitude has {sine.amplitude.shape[0]} entries, expected 1 or {P}")
    nyquist_hz = 1000.0 / (2.0 * spec.dt_ms)
    if sine.freq_hz >= nyquist_hz:
        raise InputError(f"sinusoid freq_hz={sine.freq_hz} must be below the Nyquist frequency {nyquist_hz:g} Hz of dt_ms={spec.dt_ms}")


def initial_state(circuit, model, initial=None):
    """Initial state (n_state, P) of ``model`` (see :meth:`stimsim.models.Model.initial_state`);
    ``'fixed_point'``: at the lowest-rate fixed point (:func:`stimsim.dynamics.find_fixed_points`)."""
    rates = find_fixed_points(circuit)[0] if isinstance(initial, str) and initial == "fixed_point" else None
    return _models.get(model).initial_state(circuit, initial, rates)


def _split(inp):
    """``split_input`` with its complaints as :class:`InputError` (they are about the argument)."""
    try:
        return split_input(inp)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def checked_initial_state(model, circuit, initial, require_finite=True):
    """The model's initial state, with the reasons there is none reported as bad input.

    A missing fixed point ("no fixed point found ...") or (with ``require_finite``) an initial
    rate that under- or overflows is a property of the parameters, reported before anything is
    compiled or run; numpy floating-point warnings are silenced meanwhile.

    Parameters
    ----------
    model : stimsim.models.Model
    circuit : Circuit
    initial : None, 'fixed_point' or array (n_state, P)
        As for :func:`simulate`.
    require_finite : bool
        Refuse a non-finite state. Without it the state is returned as it is (a batch run with
        ``on_divergence='nan'`` then flags that set as diverged).

    Returns
    -------
    numpy.ndarray (n_state, P)

    Raises
    ------
    stimsim.errors.InputError
    """
    try:
        with np.errstate(all="ignore"):
            y0 = initial_state(circuit, model, initial)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    y0 = np.asarray(y0, dtype=float)
    if require_finite and not np.all(np.isfinite(y0)):
        pops = [circuit.names[k] for k in range(y0.shape[-1]) if not np.all(np.isfinite(y0[..., k]))]
        how = "synapses at rest, rates T(eta_bar + I)" if initial is None else (
            initial if isinstance(initial, str) else "given")
        raise InputError(f"the initial state of {model.name} ({how}) is not finite in population(s) {pops}: "
                         "a rate under- or overflows in double precision; check the parameters")
    return y0


def run_kernel(circuits, spec, inputs, initials, lanes=LANES):
    """Integrate B circuits; return (states (n_rec, n_recorded, P, B), status (B,), wall seconds).

    ``inputs`` is a list (one per circuit) of (SampledInput or None, SinusoidInput or None),
    already validated; all sampled inputs share dt and length, or there is one shared input.
    """
    B = len(circuits)
    P = circuits[0].n_populations
    L = 1 if B == 1 else lanes
    model = spec.model
    y0 = pad_lanes(np.stack(initials, axis=-1), B, L)
    par = pad_lanes(model.kernel_parameters(circuits), B, L)
    K = pad_lanes(np.stack([c.effective_coupling for c in circuits], axis=-1), B, L)
    const = pad_lanes(np.stack([c.vector("I") for c in circuits], axis=-1), B, L)
    nb = y0.shape[0]

    sampled = [s for s, _ in inputs]
    sines = [w for _, w in inputs]
    has_series = any(s is not None for s in sampled)
    shared = has_series and all(s is sampled[0] for s in sampled)
    if not has_series:
        series, stride = np.zeros((2, 1, P, 1)), 1
    else:
        stride = check_sampled(next(s for s in sampled if s is not None), P, spec)
        if shared:
            series = np.ascontiguousarray(sampled[0].values[:, None, :, None])
        else:
            n = min(s.values.shape[0] for s in sampled if s is not None)
            stack = np.stack([s.values[:n] if s is not None else np.zeros((n, P)) for s in sampled], axis=-1)
            series = np.ascontiguousarray(np.moveaxis(pad_lanes(np.moveaxis(stack, 0, -2), B, L), -2, 0))
    has_sin = any(w is not None for w in sines)
    amp = np.stack([np.broadcast_to(w.amplitude, (P,)) if w is not None else np.zeros(P) for w in sines], axis=-1)
    omega = np.array([hz_to_rad_per_ms(w.freq_hz) if w is not None else 0.0 for w in sines])
    phase = np.array([w.phase_rad if w is not None else 0.0 for w in sines])
    amp, omega, phase = pad_lanes(amp, B, L), pad_lanes(omega, B, L), pad_lanes(phase, B, L)

    nv = model.n_recorded
    out = np.empty((spec.n_records, nb, nv, P, L))
    status = np.full((nb, L), -1, dtype=np.int64)
    t0 = time.perf_counter()
    # a single block runs on the calling thread: handing it to a worker only adds contention
    model.run_kernel(nb > 1, circuits[0], y0, par, K, const, series, shared, stride, amp, omega, phase,
                     has_series, has_sin, spec.dt_ms, spec.n_steps, spec.record_every, CHECK_EVERY,
                     INTEGRATORS[spec.integrator], out, status)
    wall = time.perf_counter() - t0
    states = np.moveaxis(out, 1, -2).reshape(spec.n_records, nv, P, nb * L)[..., :B]
    return states, status.reshape(-1)[:B], wall


def _raise_if_diverged(status, states, spec, circuits, raise_error=True):
    bad = np.flatnonzero(status >= 0)
    if bad.size == 0:
        return bad
    if raise_error:
        b = int(bad[0])
        t_hi = status[b] * spec.dt_ms
        t_lo = max(0.0, t_hi - CHECK_EVERY * spec.dt_ms)
        last = states[-1, :, :, b]
        pops = [circuits[b].names[k] for k in range(last.shape[1]) if not np.all(np.isfinite(last[:, k]))]
        which = f" (set {b} of {len(circuits)})" if len(circuits) > 1 else ""
        raise SimulationDiverged(
            f"{spec.model.name} trajectory{which} became non-finite between t = {t_lo:g} and {t_hi:g} ms "
            f"in population(s) {pops or circuits[b].names}; reduce dt_ms (now {spec.dt_ms}) or check the parameters")
    return bad


def simulate(circuit, model="nmm2", duration_ms=1000.0, dt_ms=0.01, input=None, record_every=1,
             integrator="rk4", initial=None, input_dt_ms=None, **options):
    """Integrate one circuit under a model: NMM2 (exact, M2), NMM1 (heuristic, M4), the spiking
    network (M1), or any registered one.

    Parameters
    ----------
    circuit : Circuit
    model : str or Model
        A registered model name (``stimsim.models.available()``: 'nmm2', 'nmm1', 'network') or object.
    duration_ms, dt_ms : float
        Simulated time and fixed step, ms. dt must be <= 0.1 x the fastest tau.
    input : None, array_like, SampledInput, SinusoidInput or list of them
        Time-varying external input I_k(t) added to each population's constant I (model units).
        An array has shape (n_samples,) or (n_samples, P), sampled every ``input_dt_ms`` (default
        ``dt_ms``) from t = 0 and linearly interpolated onto the RK4 stage grid.
    record_every : int
        Keep every n-th step (and t = 0).
    integrator : {'rk4', 'heun'}
        Fixed-step explicit Runge-Kutta scheme of the mean-field models (the network has its own
        scheme, models.md M1).
    initial : None, 'fixed_point' or array (n_state, P)
        See :meth:`stimsim.models.Model.initial_state`.
    **options
        Options of the model (``model.options``): for 'network' ``neurons``, ``seed``, ``v_peak``,
        ... (:class:`stimsim.models.NetworkModel`); the mean-field models take none.

    Returns
    -------
    SimulationResult
        ``.to_frame()`` gives a tidy table (time_ms, model, population and one column per
        recorded variable of the model, e.g. rate_hz, v, s_hz, z_hz).

    Raises
    ------
    stimsim.errors.InputError
        (a ``ValueError``) On bad arguments, or when the circuit has no usable initial state (no
        fixed point, or an initial rate that under- or overflows), before anything is compiled or run.
    SimulationDiverged
        If the trajectory becomes non-finite (with the time window and population).

    Examples
    --------
    >>> import stimsim
    >>> res = stimsim.simulate(stimsim.preset("pyramidal"), "nmm2", duration_ms=20.0, dt_ms=0.05)
    >>> res.rate_hz.shape
    (401, 1)
    >>> list(res.to_frame().columns)
    ['time_ms', 'model', 'population', 'rate_hz', 'v', 's_hz', 'z_hz']
    """
    if not isinstance(circuit, Circuit):
        raise InputError(f"circuit must be a stimsim Circuit (e.g. stimsim.preset('pyramidal')), got {type(circuit).__name__}")
    spec = check_run([circuit], model, duration_ms, dt_ms, record_every, integrator)
    opts = spec.model.check_options(circuit, spec, options)
    check_output_size(spec, circuit.n_populations, 1)
    sampled, sine = _split(as_input(input, input_dt_ms, dt_ms))
    P = circuit.n_populations
    if sampled is not None:
        check_sampled(sampled, P, spec)
    if sine is not None:
        check_sinusoid(sine, P, spec)
    y0 = checked_initial_state(spec.model, circuit, initial)
    if not spec.model.lane_kernel:                 # a model that runs itself (the spiking network)
        return spec.model.simulate_circuit(circuit, spec, sampled, sine, y0, opts)
    states, status, wall = run_kernel([circuit], spec, [(sampled, sine)], [y0])
    _raise_if_diverged(status, states, spec, [circuit])
    return SimulationResult(circuit=circuit, spec=spec, states=states[..., 0], wall_time_s=wall)


def simulate_batch(circuits, model="nmm2", duration_ms=1000.0, dt_ms=0.01, input=None,
                   inputs=None, record_every=1, integrator="rk4", initial=None, on_divergence="raise", lanes=LANES,
                   **options):
    """Integrate many circuits of one structure at once (threads over blocks, SIMD over sets).

    Parameters
    ----------
    circuits : sequence of Circuit
        Same populations and transfer kinds; any parameter may differ.
    input : None or one input shared by all sets (as for :func:`simulate`)
    inputs : None or a list with one input (or None) per set; sampled ones share dt and length
    initial : None, 'fixed_point', or a list of per-set arrays
    on_divergence : {'raise', 'nan'}
        'nan' keeps going and leaves diverged sets non-finite (listed in ``result.diverged``).
    lanes : int
        Sets per contiguous block (the vector width the compiler sees).
    **options
        Model options as for :func:`simulate` (the network runs the sets one after the other,
        set b with seed ``seed + b``).

    Returns
    -------
    BatchResult
    """
    if isinstance(circuits, Circuit):
        raise InputError(f"simulate_batch takes a sequence of circuits, got one Circuit ({circuits.name!r}); "
                         "pass [circuit], or run it with stimsim.simulate")
    try:
        circuits = list(circuits)
    except TypeError:
        raise InputError(f"circuits must be a non-empty sequence of stimsim Circuit objects, got "
                         f"{type(circuits).__name__}") from None
    if not circuits or not all(isinstance(c, Circuit) for c in circuits):
        raise InputError("circuits must be a non-empty sequence of stimsim Circuit objects")
    if on_divergence not in ("raise", "nan"):
        raise unknown_name_error("on_divergence", on_divergence, ("raise", "nan"))
    lanes = check_positive_int("lanes", lanes)
    check_same_structure(circuits)
    spec = check_run(circuits, model, duration_ms, dt_ms, record_every, integrator)
    opts = spec.model.check_options(circuits[0], spec, options)
    B, P = len(circuits), circuits[0].n_populations
    check_output_size(spec, P, B)
    if inputs is not None and input is not None:
        raise InputError("give either input (shared by all sets) or inputs (one per set), not both")
    if inputs is not None:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != B:
            raise InputError(f"inputs must be a list with one input (or None) per circuit ({B}), got {type(inputs).__name__}")
        per_set = [_split(as_input(x, None, dt_ms)) for x in inputs]
    else:
        per_set = [_split(as_input(input, None, dt_ms))] * B
    strides = set()
    lengths = set()
    for s, w in per_set:
        if s is not None:
            strides.add(check_sampled(s, P, spec))
            lengths.add(s.values.shape[0])
        if w is not None:
            check_sinusoid(w, P, spec)
    if len(strides) > 1:
        raise InputError("per-set sampled inputs must share one dt_ms")
    if isinstance(initial, (list, tuple)):
        if len(initial) != B:
            raise InputError(f"initial has {len(initial)} entries for {B} circuits")
        y0 = [checked_initial_state(spec.model, c, i, on_divergence == "raise") for c, i in zip(circuits, initial)]
    else:
        y0 = [checked_initial_state(spec.model, c, initial, on_divergence == "raise") for c in circuits]
    if not spec.model.lane_kernel:                 # a model that runs itself (the spiking network)
        return spec.model.simulate_circuits(circuits, spec, per_set, y0, opts, on_divergence)
    states, status, wall = run_kernel(circuits, spec, per_set, y0, lanes=lanes)
    bad = _raise_if_diverged(status, states, spec, circuits, on_divergence == "raise")
    return BatchResult(circuits=circuits, spec=spec, states=states, wall_time_s=wall, diverged=bad)


def prepare_kernels(models, parallel=(False,), integrators=("rk4",), notify=None, after_s=2.0):
    """Compile (or load from numba's cache) exactly the entry points a run will use.

    Parameters
    ----------
    models : sequence of str or Model
    parallel : sequence of bool
        Which entry points: False = one block on the calling thread (single runs), True = threaded
        over blocks (batches of more than one block of lanes).
    integrators : sequence of {'rk4', 'heun'}
    notify : callable, optional
        Called once with a message if this takes longer than ``after_s`` seconds (a first compile),
        so a user is not left waiting in silence.

    Returns
    -------
    dict
        {(model name, 'threaded' | 'serial', integrator): seconds}.
    """
    import threading

    timer = None
    if notify is not None:
        timer = threading.Timer(after_s, notify, args=(
            "compiling the numba kernels this run needs (once after an install or update) ...",))
        timer.daemon = True
        timer.start()
    try:
        return warmup(models=models, parallel=parallel, integrators=integrators)
    finally:
        if timer is not None:
            timer.cancel()


def warmup(models=None, parallel=(False, True), integrators=("rk4",)):
    """Compile (or load from cache) kernel entry points; return {(model, entry, integrator): seconds}.

    The first call in a fresh install compiles and writes numba's cache; later processes load it.
    ``models`` defaults to every registered model.
    """
    ms = _models.resolve(_models.available() if models is None else models)
    times = {}
    c = Circuit.single(J=1.0, tau_m=10.0, tau_s=5.0)
    for model in ms:
        for integrator in integrators:
            for par in parallel:
                t0 = time.perf_counter()
                # a model that runs itself (the network) names its own tiny run and entry point
                opts = model.warmup_options(par)
                dt = 0.1 if model.lane_kernel else 0.01
                if par and model.lane_kernel:
                    # more sets than one block of lanes, so that the threaded entry point runs
                    n = LANES + 1
                    simulate_batch([c] * n, model=model, duration_ms=1.0, dt_ms=dt, integrator=integrator,
                                   inputs=[SinusoidInput(0.1, 10.0 + i) for i in range(n)])
                else:
                    simulate(c, model=model, duration_ms=1.0, dt_ms=dt, integrator=integrator, **opts)
                times[(model.name, "threaded" if par else "serial", integrator)] = time.perf_counter() - t0
    return times
