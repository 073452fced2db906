"""Study protocols: the ``[study]`` table of a protocol file (frequency response or entrainment).

``validate_study(table, where)`` checks the raw table before anything runs and returns a
:class:`StudySpec`; ``run_study(protocol)`` runs it and returns tidy tables and figures that the
protocol runner writes as CSV and PNG. Schema (units in key names where they apply)::

    [study]
    kind = "frequency_response"          # or "entrainment"
    freqs_hz = [1, 2, 5]                 # or {start = 1, stop = 150, num = 150, spacing = "linear"|"log"}
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
    measure_ms = 1000                    # analysed window
    plv_threshold = 0.9
    max_denominator = 4
    freq_tol_hz = 0.1                    # optional; default 0.1 / analysed window
    plv_freqs_hz = [125, 129, 133]       # optional: frequencies of the PLV-vs-amplitude figure
    [study.parameters]                   # optional: parameter sets to compare (Cartesian product)
    J = [2, 4, 8, 12]
    eta_bar = [0, 1, 2, 3]               # population parameters; "eta_bar.E" for one population

Tables (one row per model x parameter set x frequency x amplitude): ``frequency_response`` and
``resonance`` (one row per curve), or ``entrainment`` and ``tongue_width``.
Figures: ``resonance_curves``, ``resonance_peak`` / ``arnold_tongue``, ``plv_vs_amplitude``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..circuit import POPULATION_PARAMETERS
from ..errors import closest

KINDS = ("frequency_response", "entrainment")
COMMON_KEYS = ("kind", "freqs_hz", "amplitudes", "output_population", "output", "parameters")
KIND_KEYS = {
    "frequency_response": ("method", "settle_ms", "measure_cycles", "min_measure_ms"),
    "entrainment": ("settle_ms", "measure_ms", "plv_threshold", "max_denominator", "freq_tol_hz",
                    "plv_freqs_hz"),
}
SWEEPABLE = tuple(p for p in POPULATION_PARAMETERS if p not in ("transfer",)) + ("J",)
#: grids larger than this are refused (memory and time): frequencies x amplitudes x parameter sets
MAX_RUNS = 200_000


@dataclass(frozen=True)
class StudySpec:
    """A validated ``[study]`` table (see the module docstring for the meaning of each field)."""

    kind: str
    freqs_hz: tuple
    amplitudes: tuple
    output_population: str | None = None
    output: str = "rate"
    parameters: dict = field(default_factory=dict)
    method: str = "both"
    settle_ms: float | None = None
    measure_cycles: float = 3.0
    min_measure_ms: float = 200.0
    measure_ms: float = 1000.0
    plv_threshold: float = 0.9
    max_denominator: int = 4
    freq_tol_hz: float | None = None
    plv_freqs_hz: tuple = ()

    def parameter_sets(self):
        """[{name: value}] over the Cartesian product of ``parameters`` ([{}] when none)."""
        if not self.parameters:
            return [{}]
        names = list(self.parameters)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.parameters[n] for n in names))]


class _Check:
    """Messages ``<where>.<key>: <problem>`` (one line) for the study table."""

    def __init__(self, where):
        self.where = where

    def fail(self, key, problem):
        raise ValueError(f"{self.where}.{key}: {problem}" if key else f"{self.where}: {problem}")

    def number(self, key, value, minimum=None, exclusive=False, maximum=None, unit=""):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(key, f"must be a finite number{(' in ' + unit) if unit else ''}, got {value!r}")
        value = float(value)
        if minimum is not None and (value < minimum or (exclusive and value == minimum)):
            self.fail(key, f"must be {'>' if exclusive else '>='} {minimum:g}{(' ' + unit) if unit else ''}, got {value:g}")
        if maximum is not None and value > maximum:
            self.fail(key, f"must be <= {maximum:g}{(' ' + unit) if unit else ''}, got {value:g}")
        return value

    def integer(self, key, value, minimum):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(key, f"must be an integer >= {minimum}, got {value!r}")
        return value

    def choice(self, key, value, choices):
        if not isinstance(value, str) or value not in choices:
            self.fail(key, f"{value!r} is not allowed{closest(value, choices)}; allowed: {', '.join(choices)}")
        return value

    def grid(self, key, value, minimum, exclusive, unit):
        """A list of numbers or {start, stop, num[, spacing]} / {start, stop, step}."""
        if isinstance(value, list):
            if not value:
                self.fail(key, "must not be empty")
            vals = [self.number(f"{key}[{i}]", v, minimum, exclusive, unit=unit) for i, v in enumerate(value)]
        elif isinstance(value, dict):
            allowed = ("start", "stop", "num", "step", "spacing")
            for k in value:
                if k not in allowed:
                    self.fail(f"{key}.{k}", f"unknown key{closest(k, allowed)}; allowed: {', '.join(allowed)}")
            for k in ("start", "stop"):
                if k not in value:
                    self.fail(f"{key}.{k}", "is required (a range needs start and stop)")
            start = self.number(f"{key}.start", value["start"], minimum, exclusive, unit=unit)
            stop = self.number(f"{key}.stop", value["stop"], minimum, exclusive, unit=unit)
            if stop < start:
                self.fail(f"{key}.stop", f"must be >= start ({start:g}), got {stop:g}")
            if ("num" in value) == ("step" in value):
                self.fail(key, "give exactly one of num or step")
            spacing = self.choice(f"{key}.spacing", value.get("spacing", "linear"), ("linear", "log"))
            if "num" in value:
                num = self.integer(f"{key}.num", value["num"], 1)
                if spacing == "log":
                    if start <= 0:
                        self.fail(f"{key}.start", f"must be > 0 for log spacing, got {start:g}")
                    vals = np.geomspace(start, stop, num).tolist()
                else:
                    vals = np.linspace(start, stop, num).tolist()
            else:
                if spacing == "log":
                    self.fail(f"{key}.spacing", "'log' needs num, not step")
                step = self.number(f"{key}.step", value["step"], 0.0, exclusive=True, unit=unit)
                n = int(math.floor((stop - start) / step * (1 + 1e-12))) + 1
                vals = (start + step * np.arange(n)).tolist()
        else:
            self.fail(key, f"must be a list of numbers or a table {{start, stop, num}}, got {type(value).__name__}")
        if len(set(vals)) != len(vals):
            self.fail(key, "has repeated values")
        return tuple(sorted(vals))


def validate_study(table, where="study"):
    """Validate a raw ``[study]`` table; return a :class:`StudySpec`.

    Raises
    ------
    ValueError
        One line starting with ``where``, naming the key path, the value and what is allowed.
    """
    chk = _Check(where)
    if not isinstance(table, dict):
        chk.fail("", f"must be a table, got {type(table).__name__}")
    if "kind" not in table:
        chk.fail("kind", f"is required; allowed: {', '.join(KINDS)}")
    kind = chk.choice("kind", table["kind"], KINDS)
    allowed = COMMON_KEYS + KIND_KEYS[kind]
    for key in table:
        if key not in allowed:
            other = [k for k, keys in KIND_KEYS.items() if key in keys and k != kind]
            hint = f" (only for kind = {other[0]!r})" if other else closest(key, allowed)
            chk.fail(key, f"unknown key{hint}; allowed for kind = {kind!r}: {', '.join(allowed)}")
    if "freqs_hz" not in table:
        chk.fail("freqs_hz", "is required: a list of frequencies in Hz or {start, stop, num}")
    spec = dict(kind=kind, freqs_hz=chk.grid("freqs_hz", table["freqs_hz"], 0.0, True, "Hz"))
    default_amp = [1.0] if kind == "frequency_response" else [0.0, 1.0]
    spec["amplitudes"] = chk.grid("amplitudes", table.get("amplitudes", default_amp), 0.0, False, "drive units")
    if "output_population" in table:
        op = table["output_population"]
        if not isinstance(op, str) or not op:
            chk.fail("output_population", f"must be a population name, got {op!r}")
        spec["output_population"] = op
    spec["output"] = chk.choice("output", table.get("output", "rate"), ("rate", "v"))
    params = table.get("parameters", {})
    if not isinstance(params, dict):
        chk.fail("parameters", f"must be a table {{name = [values]}}, got {type(params).__name__}")
    parsed = {}
    for name, values in params.items():
        base = name.split(".", 1)[0]
        if base not in SWEEPABLE:
            chk.fail(f"parameters.{name}", f"unknown parameter{closest(base, SWEEPABLE)}; allowed: {', '.join(SWEEPABLE)} "
                                           "(population-specific as 'eta_bar.E')")
        if base == "J" and "." in name:
            chk.fail(f"parameters.{name}", "J takes one value for a one-population circuit; sweep a coupling as 'J'")
        parsed[name] = chk.grid(f"parameters.{name}", values if isinstance(values, (list, dict)) else [values],
                                None, False, "")
    spec["parameters"] = parsed
    if kind == "frequency_response":
        spec["method"] = chk.choice("method", table.get("method", "both"), ("linear", "lockin", "both"))
        if "settle_ms" in table:
            spec["settle_ms"] = chk.number("settle_ms", table["settle_ms"], 0.0, unit="ms")
        spec["measure_cycles"] = chk.number("measure_cycles", table.get("measure_cycles", 3.0), 1.0, unit="cycles")
        spec["min_measure_ms"] = chk.number("min_measure_ms", table.get("min_measure_ms", 200.0), 0.0, True, unit="ms")
        n_amp = len(spec["amplitudes"]) if spec["method"] != "linear" else 1
    else:
        if "settle_ms" in table:
            spec["settle_ms"] = chk.number("settle_ms", table["settle_ms"], 0.0, True, unit="ms")
        spec["measure_ms"] = chk.number("measure_ms", table.get("measure_ms", 1000.0), 0.0, True, unit="ms")
        spec["plv_threshold"] = chk.number("plv_threshold", table.get("plv_threshold", 0.9), 0.0, True, maximum=1.0)
        spec["max_denominator"] = chk.integer("max_denominator", table.get("max_denominator", 4), 1)
        if "freq_tol_hz" in table:
            spec["freq_tol_hz"] = chk.number("freq_tol_hz", table["freq_tol_hz"], 0.0, True, unit="Hz")
        if "plv_freqs_hz" in table:
            spec["plv_freqs_hz"] = chk.grid("plv_freqs_hz", table["plv_freqs_hz"], 0.0, True, "Hz")
        n_amp = len(spec["amplitudes"])
    n_sets = int(np.prod([len(v) for v in parsed.values()])) if parsed else 1
    runs = len(spec["freqs_hz"]) * n_amp * n_sets
    if runs > MAX_RUNS:
        chk.fail("", f"{runs} runs (frequencies x amplitudes x parameter sets) exceed the limit {MAX_RUNS}; use a coarser grid")
    return StudySpec(**spec)


# --- running ------------------------------------------------------------------------------------
def _circuits(circuit, spec, where="study"):
    """[(labels, circuit)] for each parameter set, applying ``name`` or ``name.population``."""
    out = []
    for ps in spec.parameter_sets():
        changes = {}
        for name, value in ps.items():
            base, _, pop = name.partition(".")
            if pop:
                circuit.index(pop)                       # raises a helpful error for unknown populations
                changes.setdefault(base, {})[pop] = value
            else:
                changes[base] = value
        try:
            c = circuit.replace(**changes) if changes else circuit
        except ValueError as exc:
            raise ValueError(f"{where}.parameters: {exc}") from None
        out.append((dict(ps), c))
    return out


def _gains(protocol, circuit):
    """Drive gains of a (possibly modified) circuit: the protocol's coupling and input populations."""
    from .response import drive_gains

    pops = getattr(protocol, "input_populations", None)
    return drive_gains(circuit, protocol.drive_unit, protocol.coupling, list(pops) if pops else None)


def check_against_run(spec, protocol, where="study"):
    """Checks that need the protocol: Nyquist frequency of run.dt_ms, output population, models."""
    nyquist_hz = 1000.0 / (2.0 * protocol.dt_ms)
    if max(spec.freqs_hz) >= nyquist_hz:
        raise ValueError(f"{where}.freqs_hz: {max(spec.freqs_hz):g} Hz is not below the Nyquist frequency "
                         f"{nyquist_hz:g} Hz of run.dt_ms = {protocol.dt_ms:g}; lower the frequencies or dt_ms")
    names = protocol.circuit.names
    if spec.output_population is not None and spec.output_population not in names:
        raise ValueError(f"{where}.output_population: {spec.output_population!r} is not a population"
                         f"{closest(spec.output_population, names)}; allowed: {', '.join(names)}")
    for name in spec.parameters:
        pop = name.partition(".")[2]
        if pop and pop not in names:
            raise ValueError(f"{where}.parameters.{name}: population {pop!r} does not exist"
                             f"{closest(pop, names)}; allowed: {', '.join(names)}")
        if name == "J" and len(names) > 1:
            raise ValueError(f"{where}.parameters.J: a scalar J sweep needs a one-population circuit "
                             f"(this one has {', '.join(names)})")


def run_study(protocol, progress=True):
    """Run ``protocol.study`` on ``protocol.circuit``.

    Uses ``protocol.circuit``, ``models``, ``coupling``, ``drive_unit``, ``input_populations``
    (optional), ``dt_ms``, ``transient_ms``, ``method`` (integrator) and ``study`` (a StudySpec).

    Returns
    -------
    tables : dict[str, pandas.DataFrame]
    figures : dict[str, matplotlib.figure.Figure]
    """
    from . import figures as figs
    from .entrainment import entrainment, tongue_width
    from .resonance import resonance_summary
    from .response import frequency_response

    where = f"{getattr(protocol, 'source', None) or getattr(protocol, 'name', 'protocol')}: study"
    spec = protocol.study
    if not isinstance(spec, StudySpec):
        spec = validate_study(spec, where)
    check_against_run(spec, protocol, where)
    cases = _circuits(protocol.circuit, spec, where)
    circuits = [c for _, c in cases]
    labels = [lab for lab, _ in cases]
    models = [m for m in protocol.models if m == "nmm1" or protocol.circuit.all_qif]
    pops = getattr(protocol, "input_populations", None)
    common = dict(model=models, drive_unit=protocol.drive_unit, coupling=protocol.coupling,
                  input_populations=list(pops) if pops else None,
                  output_population=spec.output_population, output=spec.output, dt_ms=protocol.dt_ms,
                  integrator=protocol.method, labels=labels, progress=progress)
    transient = float(getattr(protocol, "transient_ms", 0.0) or 0.0)
    if spec.kind == "frequency_response":
        table = frequency_response(circuits, freqs_hz=np.array(spec.freqs_hz), method=spec.method,
                                   amplitude=np.array(spec.amplitudes), settle_ms=spec.settle_ms,
                                   min_settle_ms=transient, measure_cycles=spec.measure_cycles,
                                   min_measure_ms=spec.min_measure_ms, **common)
        summary = resonance_summary(table)
        tables = {"frequency_response": table, "resonance": summary}
        figures = {"resonance_curves": figs.resonance_curves(table, list(spec.parameters)),
                   "resonance_peak": figs.resonance_peaks(summary, list(spec.parameters))}
        return tables, figures
    settle = spec.settle_ms if spec.settle_ms is not None else max(500.0, transient)
    table = entrainment(circuits, freqs_hz=np.array(spec.freqs_hz), amplitudes=np.array(spec.amplitudes),
                        settle_ms=settle, measure_ms=spec.measure_ms, plv_threshold=spec.plv_threshold,
                        max_denominator=spec.max_denominator, freq_tol_hz=spec.freq_tol_hz, **common)
    widths = tongue_width(table)
    tables = {"entrainment": table, "tongue_width": widths}
    figures = {"arnold_tongue": figs.arnold_tongue(table, list(spec.parameters)),
               "plv_vs_amplitude": figs.plv_vs_amplitude(table, spec.plv_freqs_hz, list(spec.parameters))}
    return tables, figures
