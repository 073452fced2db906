"""The ``[study]`` table of a protocol file: schema and validation, before anything runs.

:func:`validate_study` reads the raw table into a :class:`StudySpec`; :func:`check_against_run`
checks it against the rest of the protocol (circuit populations, ``run.dt_ms``, the analysis
windows, the circuits of the parameter sets and their fixed points). Both are called
by :func:`stimsim.protocol.schema.load_dict`, and both raise
:class:`~stimsim.protocol.reader.ProtocolError` with one line ``<file>: <key.path>: <problem>``
(the shared reader, :mod:`stimsim.protocol.reader`). ``stimsim.analysis._studies.run_study`` runs a
validated spec. Schema (units in key names where they apply)::

    [study]
    kind = "frequency_response"          # or "entrainment"
    freqs_hz = [1, 2, 5]                 # (>= 2 for a frequency response) or {start = 1, stop = 150, num = 150,
                                         # spacing = "linear"|"log"}
                                         # or {start = 1, stop = 150, step = 1}
    amplitudes = [0.1, 1.0]              # drive units of the protocol (V/m or model units); same forms
    output_population = "P"              # default: the first population
    output = "rate"                      # rate | v
    # frequency_response only
    method = "both"                      # linear | lockin | both
    settle_ms = 500                      # optional; default from the slowest decay rate (and run.transient_ms)
    measure_cycles = 3                   # cycles of the lowest frequency in the lock-in window
    min_measure_ms = 200
    # entrainment only
    settle_ms = 500                      # discarded locking transient (default: max(500, run.transient_ms))
    measure_ms = 1000                    # analysed window, >= 20 cycles of the lowest frequency
    plv_threshold = 0.9
    max_denominator = 4
    freq_tol_hz = 0.1                    # optional; default 0.1 / analysed window
    plv_freqs_hz = [125, 129, 133]       # optional: frequencies of the PLV-vs-amplitude figure
    [study.parameters]                   # optional: parameter sets to compare (Cartesian product)
    J = [2, 4, 8, 12]
    eta_bar = [0, 1, 2, 3]               # population parameters; "eta_bar.E" for one population

A bifurcation study (``stimsim.continuation``; no frequencies, amplitudes or parameter sets)::

    [study]
    kind = "bifurcation"
    parameter = "I"                      # I, eta_bar, delta, tau_s, tau_m, J, "J[E,I]", "tau_s/tau_m",
                                         # "field" (V/m, coupled as in [stimulation]); "I[E]" for one population
    range = [-20, 100]                   # the parameter's units
    cycles = true                        # follow the limit cycles born at the Hopf points
    max_cycle_points = 200
    second_parameter = "tau_s/tau_m"     # optional: fold and Hopf curves in two parameters
    second_range = [0.05, 2.0]
    output_population = "I"              # population drawn in the figures (default: the first)
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from ..analysis._settings import EntrainmentGrid, LockingCriterion, LockinGrid
from ..circuit import POPULATION_PARAMETERS
from ..errors import closest
from .circuit_table import circuit_key
from .reader import MAX_GRID_VALUES, ProtocolError, Reader, grid, key_text, show, type_name

# one source of defaults: the analysis layer's settings objects
_LOCKIN, _ENTRAIN, _CRITERION = LockinGrid(), EntrainmentGrid(), LockingCriterion()

KINDS = ("frequency_response", "entrainment", "bifurcation")
BIFURCATION_KEYS = ("kind", "parameter", "range", "cycles", "max_cycle_points", "second_parameter",
                    "second_range", "output_population")
COMMON_KEYS = ("kind", "freqs_hz", "amplitudes", "output_population", "output", "parameters")
KIND_KEYS = {
    "frequency_response": ("method", "settle_ms", "measure_cycles", "min_measure_ms"),
    "entrainment": ("settle_ms", "measure_ms", "plv_threshold", "max_denominator", "freq_tol_hz",
                    "plv_freqs_hz"),
}
SWEEPABLE = tuple(p for p in POPULATION_PARAMETERS if p not in ("transfer",)) + ("J",)
#: grids larger than this are refused (memory and time): frequencies x amplitudes x parameter sets
#: (each grid alone is bounded by the reader's limit, the same number)
MAX_RUNS = MAX_GRID_VALUES
#: parameter sets whose circuits (and, for a frequency response, fixed points) are checked before the
#: run: all of them up to this many, else the corners of the grid (every parameter at its smallest and
#: largest value), where a value out of range or a circuit without fixed point shows first
MAX_CHECKED_SETS = 256


@dataclass(frozen=True)
class StudySpec:
    """A validated ``[study]`` table (see the module docstring for the meaning of each field).

    Built by :func:`validate_study`; run by ``stimsim.analysis._studies.run_study``. Grids
    (``freqs_hz``, ``amplitudes``, ``plv_freqs_hz`` and each entry of ``parameters``) are sorted
    tuples of floats without repeats.
    """

    kind: str
    freqs_hz: tuple
    amplitudes: tuple
    output_population: str | None = None
    output: str = "rate"
    parameters: dict = field(default_factory=dict)
    method: str = "both"
    settle_ms: float | None = None
    measure_cycles: float = _LOCKIN.measure_cycles
    min_measure_ms: float = _LOCKIN.min_measure_ms
    measure_ms: float = _ENTRAIN.measure_ms
    plv_threshold: float = _CRITERION.plv_threshold
    max_denominator: int = _CRITERION.max_denominator
    freq_tol_hz: float | None = None
    plv_freqs_hz: tuple = ()

    def parameter_sets(self):
        """[{name: value}] over the Cartesian product of ``parameters`` ([{}] when none)."""
        if not self.parameters:
            return [{}]
        names = list(self.parameters)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.parameters[n] for n in names))]


def validate_study(table, source="protocol", path="study"):
    """Validate a raw ``[study]`` table; return a :class:`StudySpec`.

    Only the table itself is checked; :func:`check_against_run` checks it against the circuit
    and the run.

    Parameters
    ----------
    table : object
        The ``[study]`` table as read from the protocol file.
    source : str
        File name (or ``"protocol"``) starting every message.
    path : str
        Key path of the table in the file.

    Returns
    -------
    StudySpec

    Raises
    ------
    stimsim.protocol.reader.ProtocolError
        One line ``<source>: <path>.<key>: <problem>``, naming the value and what is allowed.
    """
    r = Reader(table, path, source)                     # fails unless a table
    if not r.has("kind"):
        r.fail(f"is required{r.misspelling_hint('kind')}; allowed: {', '.join(KINDS)}", "kind")
    kind = r.string("kind", choices=KINDS)
    if kind == "bifurcation":
        return _validate_bifurcation(r, table)
    allowed = COMMON_KEYS + KIND_KEYS[kind]
    for key in table:
        if key not in allowed:
            other = [k for k, keys in KIND_KEYS.items() if key in keys and k != kind]
            hint = f" (only for kind = {other[0]!r})" if other else closest(key, allowed)
            r.fail(f"unknown key{hint}; allowed for kind = {kind!r}: {', '.join(allowed)}", key)
    if not r.has("freqs_hz"):
        r.fail("is required: a list of frequencies in Hz or {start, stop, num}", "freqs_hz")
    spec = dict(kind=kind, freqs_hz=grid(r, "freqs_hz", table["freqs_hz"], 0.0, True, "Hz"))
    default_amp = [1.0] if kind == "frequency_response" else [0.0, 1.0]
    spec["amplitudes"] = grid(r, "amplitudes", table.get("amplitudes", default_amp), 0.0, False, "drive units")
    if r.has("output_population"):
        op = table["output_population"]
        if not isinstance(op, str) or not op:
            r.fail(f"must be a population name, got {show(op)}", "output_population")
        spec["output_population"] = op
    spec["output"] = r.string("output", "rate", ("rate", "v"))
    params = table.get("parameters", {})
    if not isinstance(params, dict):
        r.fail(f"must be a table {{name = [values]}}, got {type_name(params)}", "parameters")
    pr = r.child("parameters")
    parsed = {}
    for name, values in params.items():
        name = str(name)
        base = name.split(".", 1)[0]
        key = key_text(name)
        if base not in SWEEPABLE:
            pr.fail(f"unknown parameter{closest(base, SWEEPABLE)}; allowed: {', '.join(SWEEPABLE)} "
                    "(population-specific as 'eta_bar.E')", key)
        if base == "J" and "." in name:
            pr.fail("J takes one value for a one-population circuit; sweep a coupling as 'J'", key)
        parsed[name] = grid(pr, key, values if isinstance(values, (list, dict)) else [values], None, False, "")
    spec["parameters"] = parsed
    if kind == "frequency_response":
        spec["method"] = r.string("method", "both", ("linear", "lockin", "both"))
        spec["settle_ms"] = r.number("settle_ms", None, minimum=0.0, unit="ms")
        spec["measure_cycles"] = r.number("measure_cycles", _LOCKIN.measure_cycles, minimum=1.0, unit="cycles")
        spec["min_measure_ms"] = r.number("min_measure_ms", _LOCKIN.min_measure_ms, minimum=0.0, exclusive=True, unit="ms")
        n_amp = len(spec["amplitudes"]) if spec["method"] != "linear" else 1
    else:
        spec["settle_ms"] = r.number("settle_ms", None, minimum=0.0, exclusive=True, unit="ms")
        spec["measure_ms"] = r.number("measure_ms", _ENTRAIN.measure_ms, minimum=0.0, exclusive=True, unit="ms")
        spec["plv_threshold"] = r.number("plv_threshold", _CRITERION.plv_threshold, minimum=0.0, exclusive=True, maximum=1.0)
        spec["max_denominator"] = r.integer("max_denominator", _CRITERION.max_denominator, minimum=1)
        spec["freq_tol_hz"] = r.number("freq_tol_hz", None, minimum=0.0, exclusive=True, unit="Hz")
        if r.has("plv_freqs_hz"):
            spec["plv_freqs_hz"] = grid(r, "plv_freqs_hz", table["plv_freqs_hz"], 0.0, True, "Hz")
        n_amp = len(spec["amplitudes"])
    runs = len(spec["freqs_hz"]) * n_amp * math.prod(len(v) for v in parsed.values())
    if runs > MAX_RUNS:
        r.fail(f"{runs} runs (frequencies x amplitudes x parameter sets) exceed the limit {MAX_RUNS}; "
               "use a coarser grid")
    return StudySpec(**spec)


@dataclass(frozen=True)
class BifurcationSpec:
    """A validated ``[study]`` table of kind 'bifurcation' (module docstring)."""

    parameter: str
    range: tuple
    cycles: bool = True
    max_cycle_points: int = 200
    second_parameter: str | None = None
    second_range: tuple | None = None
    output_population: str | None = None
    kind: str = "bifurcation"
    parameters: dict = field(default_factory=dict)

    def parameter_sets(self):
        return [{}]


def _pair(r, key):
    value = r.get(key)
    if not isinstance(value, list) or len(value) != 2:
        r.fail(f"must be a list of two numbers [start, stop], got {show(value)}", key)
    lo, hi = (r.as_number(v, f"{key}[{i}]", None, False, "") for i, v in enumerate(value))
    if lo == hi:
        r.fail(f"must have two different ends, got {show(value)}", key)
    return (lo, hi)


def _validate_bifurcation(r, table):
    for key in table:
        if key not in BIFURCATION_KEYS:
            r.fail(f"unknown key{closest(key, BIFURCATION_KEYS)}; allowed for kind = 'bifurcation': "
                   f"{', '.join(BIFURCATION_KEYS)}", key)
    for key in ("parameter", "range"):
        if not r.has(key):
            r.fail("is required for kind = 'bifurcation'", key)
    spec = dict(parameter=r.string("parameter"), range=_pair(r, "range"),
                cycles=r.boolean("cycles", True),
                max_cycle_points=r.integer("max_cycle_points", 200, minimum=2))
    if r.has("second_parameter") != r.has("second_range"):
        r.fail("second_parameter and second_range go together", "second_parameter" if r.has("second_range") else "second_range")
    if r.has("second_parameter"):
        spec["second_parameter"] = r.string("second_parameter")
        spec["second_range"] = _pair(r, "second_range")
    if r.has("output_population"):
        op = table["output_population"]
        if not isinstance(op, str) or not op:
            r.fail(f"must be a population name, got {show(op)}", "output_population")
        spec["output_population"] = op
    return BifurcationSpec(**spec)


def _check_bifurcation(r, spec, protocol):
    """Parameter names, ranges, populations, models with a Jacobian, fixed points at the range ends."""
    from .. import models as _models
    from ..continuation import parameter as parse
    from ..dynamics import find_fixed_points
    from ..errors import InputError

    circuit = protocol.circuit
    names = circuit.names
    if spec.output_population is not None and spec.output_population not in names:
        r.fail(f"{spec.output_population!r} is not a population{closest(spec.output_population, names)}; "
               f"allowed: {', '.join(names)}", "output_population")
    coupling = getattr(protocol, "coupling", None)
    checks = [("parameter", spec.parameter, "range", spec.range)]
    if spec.second_parameter is not None:
        checks.append(("second_parameter", spec.second_parameter, "second_range", spec.second_range))
    parsed = []
    for key, name, range_key, rng in checks:
        try:
            par = parse(name, circuit, coupling)
            for end in rng:
                par.check_value(end, "each end of the range")
        except InputError as exc:
            r.fail(str(exc), key if "range" not in str(exc) else range_key)
        parsed.append(par)
    if len(parsed) == 2:
        if parsed[0].label == parsed[1].label:
            r.fail(f"must differ from parameter ({parsed[0].label!r})", "second_parameter")
        v2 = parsed[1].value(circuit)
        if not min(spec.second_range) <= v2 <= max(spec.second_range):
            r.fail(f"must contain the circuit's {parsed[1].label} = {v2:g} (the curves start on that line)",
                   "second_range")
    for m in getattr(protocol, "models", ()):
        model = _models.get(m)
        if model.supports(circuit) is not None:
            continue
        if not model.has_equations:
            with_equations = [n for n in _models.available() if _models.get(n).has_equations]
            r.fail(f"model {model.name!r} has no equations to continue; use {' or '.join(with_equations)}", "kind")
    for end in spec.range:
        try:
            find_fixed_points(parsed[0].apply(circuit, end))
        except ValueError as exc:
            r.fail(f"no fixed point to start the branches from at {parsed[0].label} = {end:g}: {exc}", "range")


def check_against_run(spec, protocol, source="protocol", path="study"):
    """Check a study against the rest of the protocol, before anything runs.

    Checks the frequencies against the Nyquist frequency of ``run.dt_ms``, that the output
    population and the populations of ``parameters`` exist (a scalar ``J`` sweep needs a
    one-population circuit), that an entrainment window ``measure_ms`` holds enough cycles of the
    lowest frequency for the surrogate test, that the circuit of every parameter set can be built
    and integrated with ``run.dt_ms``, and, for a frequency response, that each has a fixed point
    (the linear theory and the lock-in settle time start there); see ``MAX_CHECKED_SETS``.

    Parameters
    ----------
    spec : StudySpec
    protocol : Protocol or object
        Anything with ``dt_ms`` (ms) and ``circuit``; ``models``, ``integrator`` and
        ``overrides`` are used when present.
    source, path : str
        As in :func:`validate_study`.

    Raises
    ------
    stimsim.protocol.reader.ProtocolError
    """
    r = Reader({}, path, source)                        # messages only
    if spec.kind == "bifurcation":
        _check_bifurcation(r, spec, protocol)
        return
    nyquist_hz = 1000.0 / (2.0 * protocol.dt_ms)
    if max(spec.freqs_hz) >= nyquist_hz:
        r.fail(f"{max(spec.freqs_hz):g} Hz is not below the Nyquist frequency {nyquist_hz:g} Hz of "
               f"run.dt_ms = {protocol.dt_ms:g}; lower the frequencies or dt_ms", "freqs_hz")
    names = protocol.circuit.names
    if spec.output_population is not None and spec.output_population not in names:
        r.fail(f"{spec.output_population!r} is not a population{closest(spec.output_population, names)}; "
               f"allowed: {', '.join(names)}", "output_population")
    for name in spec.parameters:
        key = f"parameters.{key_text(name)}"
        pop = name.partition(".")[2]
        if pop and pop not in names:
            r.fail(f"population {pop!r} does not exist{closest(pop, names)}; allowed: {', '.join(names)}", key)
        if name == "J" and len(names) > 1:
            r.fail(f"a scalar J sweep needs a one-population circuit (this one has {', '.join(names)})", key)
    if spec.kind == "frequency_response" and len(spec.freqs_hz) < 2:
        r.fail(f"a frequency response needs at least 2 frequencies (its resonance summary compares the gain "
               f"across frequencies), got {len(spec.freqs_hz)} ({spec.freqs_hz[0]:g} Hz); add frequencies, "
               "e.g. freqs_hz = {start = 1, stop = 100, num = 100}", "freqs_hz")
    if spec.kind == "entrainment":
        _check_entrainment_window(r, spec)
    _check_parameter_sets(r, spec, protocol, source)


def _check_entrainment_window(r, spec):
    """``measure_ms`` must hold 4 surrogate segments of the lowest frequency (as the analysis requires)."""
    cycles = 4 * _CRITERION.segment_cycles
    f_low = min(spec.freqs_hz)
    if spec.measure_ms * f_low / 1000.0 < cycles:
        need = cycles * 1000.0 / f_low
        r.fail(f"{spec.measure_ms:g} ms holds {spec.measure_ms * f_low / 1000.0:.3g} cycles of the lowest drive "
               f"frequency {f_low:g} Hz, fewer than the {cycles:g} the phase-locking test needs (4 surrogate "
               f"segments of {cycles / 4:g} cycles); set measure_ms >= {math.ceil(need):g} or raise the lowest "
               "frequency", "measure_ms")


def _checked_sets(spec):
    """The parameter sets checked before the run (all, or the grid corners; see ``MAX_CHECKED_SETS``)."""
    n = math.prod(len(v) for v in spec.parameters.values())
    if n <= MAX_CHECKED_SETS:
        return spec.parameter_sets()
    names = list(spec.parameters)
    ends = [sorted({vals[0], vals[-1]}) for vals in spec.parameters.values()]
    corners = itertools.islice(itertools.product(*ends), MAX_CHECKED_SETS)
    return [dict(zip(names, combo)) for combo in corners]


def _check_parameter_sets(r, spec, protocol, source):
    from types import SimpleNamespace

    from .. import models as _models
    from .._simulate import check_run
    from ..analysis._studies import _circuits
    from ..dynamics import find_fixed_points

    sets = _checked_sets(spec)
    try:
        cases = _circuits(protocol.circuit, SimpleNamespace(parameter_sets=lambda: sets), f"{source}: {r.path}")
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None

    def blame(labels):
        return ("parameters", f"with {_labels_text(labels)}: ") if labels else (None, "")

    models = [m for m in getattr(protocol, "models", ()) if _models.get(m).supports(protocol.circuit) is None]
    dt = protocol.dt_ms
    for labels, c in cases:
        for m in models:
            try:
                check_run([c], m, dt, dt, 1, getattr(protocol, "integrator", "rk4"))
            except ValueError as exc:
                key, what = blame(labels)
                r.fail(f"{what}{exc}", key or "parameters")
    if spec.kind != "frequency_response":
        return
    for labels, c in cases:
        try:
            find_fixed_points(c)
        except ValueError as exc:
            key, what = blame(labels)
            why = " (the frequency response linearises at the fixed points and starts its runs there)"
            if key:
                r.fail(f"{what}{exc}{why}", key)
            raise ProtocolError(f"{source}: {circuit_key(getattr(protocol, 'overrides', {}), str(exc))}: "
                                f"{exc}{why}") from None


def _labels_text(labels):
    return "{" + ", ".join(f"{k} = {v:g}" for k, v in labels.items()) + "}"
