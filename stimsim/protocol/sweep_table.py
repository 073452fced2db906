"""The ``[sweep]`` table of a circuit protocol: schema and validation, before anything runs.

:func:`validate_sweep` reads the table against the loaded protocol into the sweep engine's task
(:class:`stimsim.sweep.TaskSpec`) and design (:class:`stimsim.sweep.Design`); it is called by
:func:`stimsim.protocol.schema.load_dict`, like the ``[study]`` reader (:mod:`stimsim.protocol.study`),
and its design helpers (:func:`axis_values`, :func:`read_design`) also read whole-brain sweeps
(``stimsim.brain._sweep``). The engine itself (:mod:`stimsim.sweep`) knows nothing of protocol files.

Schema (units in key names where they apply)::

    [sweep]
    kind = "lockin"                 # lockin | linear | resonance | fixed_points | bifurcation | entrainment
    design = "grid"                 # grid | list | random | lhs
    n = 1000                        # random / lhs: number of points
    seed = 0                        # random / lhs: the sample's seed; lockin: the noise seed
    log = ["tau_s"]                 # random / lhs: parameters sampled uniformly in log
    frequency_hz = 40.0             # drive frequency when not a design parameter (lockin, linear)
    amplitude = 1.0                 # drive amplitude, [stimulation] unit (V/m or model units)
    noise_std = 0.0                 # lockin: white noise added to the drive, drive units per step
    output_population = "P"         # default: the first population
    output = "rate"                 # rate | v
    settle_ms = 500.0               # lockin: discarded transient, ms
    measure_ms = 500.0              # lockin: analysed window, ms (whole drive cycles are used)
    record_every = 4                # lockin: recording stride (default: >= 24 samples per period)
    freqs_hz = {start = 1, stop = 100, num = 100}   # resonance: the frequency grid, Hz
    bifurcation_parameter = "I"     # bifurcation: the continuation parameter ...
    bifurcation_range = [-20, 100]  # ... and its range
    chunk_size = 256                # optional: points per chunk (results do not depend on it)
    [sweep.parameters]              # grid: values; list: values (zipped); random / lhs: [low, high]
    J = {start = 0, stop = 12, num = 25}
    eta_bar = [-1, 0, 1, 2]
    "J[E,I]" = [-20, -10]           # circuit parameters as in stimsim.continuation.parameter
    frequency_hz = {start = 5, stop = 80, num = 16}  # drive parameters: frequency_hz, amplitude

The models, dt_ms and integrator come from ``[run]``; the drive unit, coupling and populations
from ``[stimulation]`` (a sweep drives with its own sinusoid: ``[stimulation].waveforms`` must be
empty).
"""
from __future__ import annotations

import math

from .. import models as _models
from ..circuit import POPULATION_PARAMETERS  # noqa: F401  (documented names)
from ..errors import InputError, closest
from ..sweep._points import DESIGNS, Design
from ..sweep._tasks import DRIVE_PARAMETERS, KINDS, TaskSpec, circuit_entries
from .reader import ProtocolError, Reader, grid, key_text, show

KEYS = ("kind", "design", "n", "seed", "log", "frequency_hz", "amplitude", "noise_std", "output_population",
        "output", "settle_ms", "measure_ms", "record_every", "freqs_hz", "chunk_size", "parameters",
        "bifurcation_parameter", "bifurcation_range")
#: samples per period of the drive when record_every is not given
SAMPLES_PER_PERIOD = 24


def axis_values(pr, key, raw, design_kind):
    """The values of one design axis (a tuple of floats): bounds [low, high] of a random or lhs
    sample, a grid (list or {start, stop, num}), or a list sweep's values (zipped; order and
    repeats kept). ``pr`` reads [sweep.parameters] (key paths in messages)."""
    if design_kind in ("random", "lhs"):
        if not isinstance(raw, list) or len(raw) != 2:
            pr.fail(f"a {design_kind} sample needs bounds [low, high], got {show(raw)}", key)
        vals = tuple(pr.as_number(v, f"{key}[{i}]") for i, v in enumerate(raw))
        if vals[0] >= vals[1]:
            pr.fail(f"bounds must be [low, high] with low < high, got {show(raw)}", key)
        return vals
    if design_kind == "grid":
        return tuple(grid(pr, key, raw if isinstance(raw, (list, dict)) else [raw], None, False, ""))
    if not isinstance(raw, list) or not raw:
        pr.fail(f"a list sweep needs a non-empty list of values, got {show(raw)}", key)
    return tuple(pr.as_number(v, f"{key}[{i}]") for i, v in enumerate(raw))


def check_distinct(pr, key, par, circuit, seen):
    """Refuse a design parameter that sets a circuit entry an earlier one sets (an alias).

    ``seen`` maps the keys read so far to their entries (:func:`circuit_entries`); this key's
    entries are added to it. ``pr`` reads [sweep.parameters] (key paths in messages).
    """
    mine = circuit_entries(par, circuit)
    for other, entries in seen.items():
        if entries & mine:
            pr.fail(f"sets the same circuit entry as {other} ({_entry_text(min(entries & mine), circuit)}); "
                    "give each parameter under one name only", key)
    seen[key] = mine


def _entry_text(entry, circuit):
    if entry[0] == "J":
        return f"J[{circuit.names[entry[1]]},{circuit.names[entry[2]]}]"
    return f"{entry[0]}[{circuit.names[entry[1]]}]"


def read_design(r, design_kind, values, default_n):
    """(Design, seed) from the [sweep] keys log, n and seed and the axes' values {name: values}."""
    names = list(values)
    log = tuple(r.string_list("log", [], names, nonempty=False)) if r.has("log") else ()
    sampled = design_kind in ("random", "lhs")
    if not sampled:
        for k in ("n", "log"):
            if r.has(k):
                r.fail(f"applies only to design = 'random' or 'lhs' (here {design_kind!r})", k)
    n = r.integer("n", default_n, minimum=1) if sampled else 0
    seed = r.integer("seed", 0, minimum=0)
    try:
        return Design(design_kind, values, n=n, seed=seed, log=log), seed
    except InputError as exc:
        r.fail(str(exc), "parameters")


def validate_sweep(table, protocol, source="protocol", path="sweep"):
    """Validate a raw ``[sweep]`` table against a loaded protocol; return (TaskSpec, Design, chunk_size).

    Raises
    ------
    stimsim.protocol.reader.ProtocolError
        One line ``<source>: sweep.<key>: <problem>``.
    """
    from ..analysis import Drive
    from ..continuation import parameter as parse_parameter

    r = Reader(table, path, source)
    r.reject_unknown(KEYS)
    if protocol.waveforms:
        raise ProtocolError(f"{source}: stimulation.waveforms: a sweep drives with its own sinusoid ([sweep] "
                            "frequency_hz, amplitude, noise_std); remove the waveforms")
    kind = r.string("kind", "lockin", KINDS)
    design_kind = r.string("design", "grid", DESIGNS)
    circuit = protocol.circuit
    params = table.get("parameters")
    if not isinstance(params, dict) or not params:
        r.fail("is required: a table {name = values} of at least one parameter", "parameters")
    pr = r.child("parameters")
    names, parsed, values, entries = [], [], {}, {}
    for name, raw in params.items():
        name = str(name)
        key = key_text(name)
        if name in DRIVE_PARAMETERS:
            if kind in ("resonance", "fixed_points", "bifurcation"):
                pr.fail(f"the {kind!r} kind has no drive {name}", key)
            par = None
        else:
            try:
                par = parse_parameter(name, circuit, protocol.coupling if protocol.drive_unit == "field" else None)
            except InputError as exc:
                pr.fail(f"{exc} (drive parameters: {', '.join(DRIVE_PARAMETERS)})", key)
            check_distinct(pr, key, par, circuit, entries)
        vals = axis_values(pr, key, raw, design_kind)
        for v in (min(vals), max(vals)):
            if par is not None:
                try:
                    par.check_value(v, "each value")
                except InputError as exc:
                    pr.fail(str(exc), key)
            elif name == "frequency_hz" and v <= 0:
                pr.fail(f"frequencies must be > 0 Hz, got {v:g}", key)
            elif name == "amplitude" and v < 0:
                pr.fail(f"amplitudes must be >= 0 drive units (as [sweep] amplitude), got {v:g}", key)
        names.append(name)
        parsed.append(par)
        values[name] = list(vals)
    design, seed = read_design(r, design_kind, values, default_n=1000)

    f_fixed = r.number("frequency_hz", None, minimum=0.0, exclusive=True, unit="Hz")
    if kind in ("lockin", "linear", "entrainment") and "frequency_hz" not in names and f_fixed is None:
        r.fail(f"is required for kind = {kind!r} unless frequency_hz is a design parameter", "frequency_hz")
    amplitude = r.number("amplitude", 1.0, minimum=0.0, unit="drive units")
    noise = r.number("noise_std", 0.0, minimum=0.0, unit="drive units")
    if noise and kind != "lockin":               # entrainment runs are deterministic; the lock-in takes noise
        r.fail("applies only to kind = 'lockin'", "noise_std")
    out_pop = r.string("output_population", circuit.names[0])
    if out_pop not in circuit.names:
        r.fail(f"{out_pop!r} is not a population{closest(out_pop, circuit.names)}; allowed: {', '.join(circuit.names)}",
               "output_population")
    output = r.string("output", "rate", ("rate", "v"))
    settle = r.number("settle_ms", 500.0, minimum=0.0, unit="ms")
    measure = r.number("measure_ms", 500.0, minimum=0.0, exclusive=True, unit="ms")
    freqs = values.get("frequency_hz", [f_fixed] if f_fixed else [])
    f_max = max(freqs) if freqs else None
    dt = protocol.dt_ms
    if kind in ("lockin", "entrainment"):
        nyquist = 1000.0 / (2 * dt)
        if f_max >= nyquist:
            r.fail(f"{f_max:g} Hz is not below the Nyquist frequency {nyquist:g} Hz of run.dt_ms = {dt:g}", "frequency_hz")
        f_min = min(freqs)
        if measure * f_min / 1000.0 < 1.0:
            r.fail(f"{measure:g} ms holds less than one cycle of {f_min:g} Hz; lengthen measure_ms", "measure_ms")
        if kind == "entrainment":
            from ..analysis import LockingCriterion

            need = 4 * LockingCriterion().segment_cycles
            if measure * f_min / 1000.0 < need:
                r.fail(f"{measure:g} ms holds {measure * f_min / 1000.0:.3g} cycles of {f_min:g} Hz, fewer than the "
                       f"{need:g} the phase-locking test needs; lengthen measure_ms", "measure_ms")
            if settle <= 0:
                r.fail("must be > 0 ms for kind = 'entrainment' (the undriven warm-up)", "settle_ms")
        # lock-in: >= 24 samples per drive period; entrainment: the same for the fastest p:q output (x4)
        f_rec = f_max * (4 if kind == "entrainment" else 1)
        default_stride = max(1, int(1000.0 / (f_rec * SAMPLES_PER_PERIOD) // dt))
        record_every = r.integer("record_every", default_stride, minimum=1)
        if dt * record_every * f_rec > 250.0:
            r.fail(f"records every {dt * record_every:g} ms, fewer than 4 samples per period of {f_max:g} Hz", "record_every")
        for which, v in (("settle_ms", settle), ("measure_ms", measure)):
            if abs(round(v / dt) * dt - v) > 1e-9 * max(1.0, v):
                r.fail(f"must be a whole number of steps run.dt_ms = {dt:g}, got {v:g}", which)
    else:
        record_every = 1
        for k in ("record_every", "settle_ms", "measure_ms"):
            if r.has(k):
                r.fail("applies only to kind = 'lockin'", k)
    freqs_hz = ()
    if kind == "resonance":
        if not r.has("freqs_hz"):
            r.fail("is required for kind = 'resonance': a list of Hz or {start, stop, num}", "freqs_hz")
        freqs_hz = grid(r, "freqs_hz", table["freqs_hz"], 0.0, False, "Hz")
        if len(freqs_hz) < 2:
            r.fail("needs at least 2 frequencies", "freqs_hz")
    elif r.has("freqs_hz"):
        r.fail("applies only to kind = 'resonance'", "freqs_hz")
    bif_par, bif_range = "", ()
    if kind == "bifurcation":
        for k in ("bifurcation_parameter", "bifurcation_range"):
            if not r.has(k):
                r.fail("is required for kind = 'bifurcation'", k)
        bif_par = r.string("bifurcation_parameter")
        raw = r.get("bifurcation_range")
        if not isinstance(raw, list) or len(raw) != 2:
            r.fail(f"must be [start, stop], got {show(raw)}", "bifurcation_range")
        bif_range = tuple(r.as_number(v, f"bifurcation_range[{i}]") for i, v in enumerate(raw))
        try:
            bp = parse_parameter(bif_par, circuit, protocol.coupling if protocol.drive_unit == "field" else None)
            for v in bif_range:
                bp.check_value(v, "each end of the range")
        except InputError as exc:
            r.fail(str(exc), "bifurcation_parameter")
        if bif_range[0] == bif_range[1]:
            r.fail("must have two different ends", "bifurcation_range")
        both = [n for n, q in zip(names, parsed) if q is not None and circuit_entries(q, circuit) & circuit_entries(bp, circuit)]
        if both:
            r.fail(f"{bif_par!r} sets the same circuit entry as the design parameter {key_text(both[0])}",
                   "bifurcation_parameter")
    else:
        for k in ("bifurcation_parameter", "bifurcation_range"):
            if r.has(k):
                r.fail("applies only to kind = 'bifurcation'", k)
    chunk = r.integer("chunk_size", None, minimum=1) if r.has("chunk_size") else None
    try:
        drive = Drive(unit=protocol.drive_unit, coupling=protocol.coupling,
                      populations=tuple(protocol.input_populations) or None)
    except ValueError as exc:
        raise ProtocolError(f"{source}: stimulation: {exc}") from None
    models = tuple(m for m in protocol.models)
    task = TaskSpec(kind=kind, models=models, circuit=circuit, names=tuple(names), parameters=tuple(parsed),
                    drive=drive, frequency_hz=f_fixed if f_fixed is not None else math.nan, amplitude=amplitude,
                    output_population=out_pop, output=output, dt_ms=dt, settle_ms=settle, measure_ms=measure,
                    record_every=record_every, integrator=protocol.integrator, noise_std=noise, seed=seed,
                    freqs_hz=tuple(freqs_hz), bifurcation_parameter=bif_par, bifurcation_range=bif_range)
    _check_models(task, source)
    return task, design, chunk


def _check_models(task, source):
    for m in task.models:
        model = _models.get(m)
        reason = model.supports(task.circuit)
        if reason:
            raise ProtocolError(f"{source}: run.models: {model.name!r} cannot describe this circuit: {reason}")
        if not model.has_equations:
            usable = [n for n in _models.available() if _models.get(n).has_equations]
            raise ProtocolError(f"{source}: run.models: {model.name!r} cannot run in a sweep (it has no fixed "
                                f"points or linearisation); use {' or '.join(usable)}")
