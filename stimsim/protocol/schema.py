"""Protocol files: TOML (or resolved JSON) -> validated :class:`Protocol`, before anything runs.

The schema is documented in ``protocols/README.md``. Every problem raises :class:`ProtocolError`
(an :class:`~stimsim.errors.InputError`, a ``ValueError``) with one line
``<file>: <key path>: <problem>``; unknown keys are errors with the closest valid key suggested
(``stimsim.errors.closest``). Loading reads the protocol (UTF-8, a byte-order mark allowed) and any
waveform CSV, builds the circuit, finds the initial states and fixed points the run needs and
estimates its peak memory, but compiles no kernel and integrates nothing.
"""
from __future__ import annotations

import copy
import difflib
import json
import math
import os
import re
import secrets
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..circuit import POPULATION_PARAMETERS
from ..coupling import FieldCoupling, default_lambdas_mm
from ..errors import InputError, closest
from ..presets import PRESETS, preset, preset_parameters
from ..units import field_to_input, hz_to_khz, khz_to_hz
from . import waveforms as wf

INTEGRATORS = ("rk4", "heun")
INITIAL = ("fixed_point", "synapses_at_rest")
DRIVE_UNITS = ("field", "current")

FILES = ("timeseries", "summary", "figure")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

#: guards against runs that cannot fit in memory (drive samples at dt/2 and records are float64)
MAX_STEPS = 1e8
MAX_RECORDS = 1e7
MAX_DRIVE_SAMPLES = 5e7

TOP_KEYS = ("name", "description", "circuit", "run", "stimulation", "analysis", "output", "study", "sweep")


def recorded_columns():
    """Table columns of every registered model's recorded variables (the choices of output.variables)."""
    from .. import models as _models

    cols = []
    for name in _models.available():
        cols += [v.column for v in _models.get(name).recorded_variables if v.column not in cols]
    return tuple(cols)


class ProtocolError(InputError):
    """A protocol that cannot run; the message names the file, the key path and the problem.

    An :class:`~stimsim.errors.InputError` (a ``ValueError``): the command line prints it as one
    line with exit code 2.
    """


# --- reading helpers --------------------------------------------------------------------------------
class _Reader:
    """Typed access to one table with key paths in every message, and an unknown-key check."""

    def __init__(self, data, path, source):
        self.source = source
        self.path = path
        if not isinstance(data, dict):
            self.fail(f"must be a table, got {_type_name(data)}")
        self.data = data
        self.used = set()

    # messages ---------------------------------------------------------------------------------
    def where(self, key=None):
        if key is None:
            return self.path or "<top level>"
        key = str(key)
        key = key if key.isprintable() else json.dumps(key)
        return f"{self.path}.{key}" if self.path else key

    def fail(self, problem, key=None):
        raise ProtocolError(f"{self.source}: {self.where(key)}: {problem}")

    def child(self, key, required=False):
        """A _Reader for a sub-table (an empty one when absent and not required)."""
        self.used.add(key)
        if key not in self.data:
            if required:
                self.fail(f"missing table [{self.where(key)}]")
            return _Reader({}, self.where(key), self.source)
        return _Reader(self.data[key], self.where(key), self.source)

    def has(self, key):
        return key in self.data

    def _misspelling_hint(self, key):
        """' (found unknown key X: a misspelling?)' when a key of this table looks like ``key``."""
        stray = [k for k in self.data if isinstance(k, str) and k not in self.used]
        match = difflib.get_close_matches(str(key), stray, n=1, cutoff=0.6)
        return f" (found unknown key {_key_text(match[0])}: a misspelling?)" if match else ""

    # typed getters ------------------------------------------------------------------------------
    def get(self, key, default=..., required=False):
        self.used.add(key)
        if key not in self.data:
            if required or default is ...:
                self.fail("is required" + self._misspelling_hint(key), key)
            return default
        return self.data[key]

    def number(self, key, default=..., minimum=None, exclusive=False, unit="", maximum=None):
        if key not in self.data and default is None:
            self.used.add(key)
            return None                                 # optional and absent (null is not absent)
        return self.as_number(self.get(key, default), key, minimum, exclusive, unit, maximum)

    def as_number(self, value, key, minimum=None, exclusive=False, unit="", maximum=None):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"must be a number{(' in ' + unit) if unit else ''}, got {_show(value)}", key)
        try:
            value = float(value)
        except OverflowError:
            self.fail(f"{value} is out of range", key)
        if not math.isfinite(value):
            self.fail(f"must be finite, got {value}", key)
        if minimum is not None and (value < minimum or (exclusive and value == minimum)):
            self.fail(f"must be {'>' if exclusive else '>='} {minimum:g}{(' ' + unit) if unit else ''}, got {value:g}", key)
        if maximum is not None and value > maximum:
            self.fail(f"must be <= {maximum:g}{(' ' + unit) if unit else ''}, got {value:g}", key)
        return value

    def integer(self, key, default=..., minimum=None):
        return self.as_integer(self.get(key, default), key, minimum)

    def as_integer(self, value, key, minimum=None):
        if (isinstance(value, bool) or not isinstance(value, int)
                or (minimum is not None and value < minimum)):
            self.fail(f"must be an integer{'' if minimum is None else f' >= {minimum}'}, got {_show(value)}", key)
        return value

    def string(self, key, default=..., choices=None):
        value = self.get(key, default)
        return self.as_string(value, key, choices)

    def as_string(self, value, key, choices=None):
        if not isinstance(value, str):
            self.fail(f"must be a string, got {_show(value)}", key)
        if choices is not None and value not in choices:
            self.fail(f"{value!r} is not allowed{closest(value, choices)}; allowed: {', '.join(choices)}", key)
        return value

    def boolean(self, key, default=...):
        value = self.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"must be true or false, got {_show(value)}", key)
        return value

    def string_list(self, key, default=..., choices=None, nonempty=True):
        value = self.get(key, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail(f"must be a list of strings, got {_show(value)}", key)
        if nonempty and not value:
            self.fail("must not be empty", key)
        out = []
        for i, item in enumerate(value):
            out.append(self.as_string(item, f"{key}[{i}]", choices))
        if len(set(out)) != len(out):
            self.fail(f"has repeated entries {out}", key)
        return out

    def finish(self, allowed=None):
        """Unknown keys are errors naming the closest valid key."""
        allowed = list(allowed) if allowed is not None else sorted(self.used)
        for key in self.data:
            if key not in allowed:
                self.fail(f"unknown key {key!r}{closest(key, allowed)}; allowed: {', '.join(allowed)}")


_BARE_KEY = re.compile(r"^[A-Za-z0-9_.\-\[\]]+$")


def _key_text(key):
    """A key as written in a key path: bare when TOML allows it, else quoted with escapes."""
    key = str(key)
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _type_name(value):
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)


def _show(value):
    text = repr(value) if not isinstance(value, (dict, list)) else _type_name(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- the validated protocol ------------------------------------------------------------------------
@dataclass(frozen=True)
class Protocol:
    """A validated stimulation protocol (built only by :func:`load_protocol` / :func:`load_dict`).

    Contract (used by the runner and by ``stimsim.analysis._studies``):

    Attributes
    ----------
    name : str
        Protocol name (folder-safe); results go to ``results/<name>/<run-id>/``.
    source : pathlib.Path or None
        File the protocol came from (None when built from a dict).
    description : str
    preset : str
        Preset name (``stimsim.PRESETS``).
    overrides : dict
        Preset overrides as in the file (population parameter -> number or {population: number};
        ``J`` -> number, matrix or {post: {pre: number}}).
    circuit : stimsim.Circuit
        The preset with the overrides applied.
    models : tuple of str
        Registered model names run side by side: ``"nmm2"``, ``"nmm1"``, ``"network"`` (the spiking
        QIF network, models.md M1).
    duration_ms, dt_ms, transient_ms : float
        Simulated time, integration step and the initial part discarded from the analysis (and
        from the time-series output unless ``output.include_transient``), ms.
    record_every : int
        Keep every n-th step.
    integrator : {'rk4', 'heun'}
    initial : {'fixed_point', 'synapses_at_rest'}
        Start on the lowest-rate fixed point (s = r*), or with synapses at rest and (r, v) on the
        uncoupled frozen-input fixed point (``stimsim.simulate`` default).
    coupling : stimsim.coupling.FieldCoupling
        Polarization lengths (mm) and voltage scales (mV per model unit) per population (M6).
        Used when ``drive_unit == "field"``; the default coupling otherwise.
    drive_unit : {'field', 'current'}
        Unit of every waveform amplitude: V/m ("field", coupled by lambda E / scale) or model
        input units ("current", added to the input I(t) as is, as in the paper's figures).
    input_populations : tuple of str
        Populations that receive the drive (all by default; the others get 0).
    input_gains : ndarray (P,)
        Model input units per drive unit, per population (``coupling.gains`` x mask for "field",
        the 0/1 mask for "current").
    waveforms : tuple of stimsim.protocol.waveforms.Waveform
        Summed to give the drive (empty: no stimulation).
    waveform_dt_ms : float
        Spacing of the precomputed drive samples (a whole multiple of dt/2; default dt/2, which
        makes the drive exact at every RK4 stage), ms.
    device : dict
        Optional device settings used only for safety notes: ``current_ma``, ``session_min``.
    drive_frequency_hz : float or None
        Frequency of the lock-in and PSD columns of the summary (explicit, or the first
        periodic waveform's rhythm: sine/oscillating DC frequency, AM modulation, TI difference,
        pulse rate); ``drive_phase_rad`` is that rhythm's phase relative to cos(2 pi f t).
    welch_segment_ms : float
        Welch segment length for the summary PSD, ms.
    variables, files : tuple of str
        Time-series columns and output files to write (metadata.json is always written).
    include_transient : bool
    study : stimsim.protocol.study.StudySpec or None
        The validated ``[study]`` table (:func:`stimsim.protocol.study.validate_study`), already
        checked against the circuit and the run; run by ``stimsim.analysis._studies.run_study``.
    resolved : dict
        The fully resolved protocol (every default filled in, noise seeds drawn, CSV paths
        absolute with their SHA-256); loading it again gives the same protocol and numbers.
    neurons : int
        Neurons per population of the spiking network (``run.neurons``; used when ``models``
        includes ``"network"``).
    seed : int or None
        Seed of the spiking network (``run.seed``; drawn and recorded in ``resolved`` when absent),
        None without the network.
    sweep : (TaskSpec, Design, chunk_size) or None
        The validated ``[sweep]`` table (:func:`stimsim.sweep._spec.validate_sweep`); run by
        ``stimsim sweep``.
    """

    name: str
    source: Path | None
    description: str
    preset: str
    overrides: dict
    circuit: object
    models: tuple
    duration_ms: float
    dt_ms: float
    transient_ms: float
    record_every: int
    integrator: str
    initial: str
    coupling: FieldCoupling
    drive_unit: str
    input_populations: tuple
    waveforms: tuple
    waveform_dt_ms: float
    device: dict
    drive_frequency_hz: float | None
    drive_phase_rad: float
    welch_segment_ms: float
    variables: tuple
    files: tuple
    include_transient: bool
    study: object
    resolved: dict = field(repr=False)
    neurons: int = 10_000
    seed: int | None = None
    sweep: object = None

    def model_options(self, model, progress=None):
        """Options of ``stimsim.simulate`` for ``model`` (the network's neurons, seed, progress; none
        for the mean-field models)."""
        from .. import models as _models

        m = _models.get(model)
        opts = {"neurons": self.neurons, "seed": self.seed, "progress": progress}
        return {k: v for k, v in opts.items() if k in m.options}

    @property
    def input_gains(self):
        """(P,) model input units per drive unit (models.md M6 for fields)."""
        mask = np.array([1.0 if n in self.input_populations else 0.0 for n in self.circuit.names])
        if self.drive_unit == "field":
            # lambda * (1 V/m) / scale: the input per V/m (models.md M6)
            return field_to_input(1.0, self.coupling.lambdas_mm(self.circuit) * mask,
                                  self.coupling.scales_mv(self.circuit))
        return mask

    @property
    def has_timeseries(self):
        """A time-series run happens when there is stimulation, or when there is no study."""
        return bool(self.waveforms) or (self.study is None and self.sweep is None)

    @property
    def drive_label(self):
        return "field_v_per_m" if self.drive_unit == "field" else "drive_model_units"

    def drive_grid(self):
        """(t_ms, drive) sampled every ``waveform_dt_ms`` over the whole run (drive units)."""
        n_steps = int(round(self.duration_ms / self.dt_ms))
        stride = int(round(self.waveform_dt_ms / (0.5 * self.dt_ms)))
        n = -(-2 * n_steps // stride) + 1              # samples the kernel needs (covers the run)
        t = np.arange(n) * self.waveform_dt_ms
        return t, wf.total(self.waveforms, t)

    def seeds(self):
        """{key path: seed} of every noise waveform."""
        out = {f"stimulation.waveforms[{i}].seed": w.seed for i, w in enumerate(self.waveforms)
               if isinstance(w, wf.Noise)}
        if self.seed is not None:
            out["run.seed"] = self.seed               # the spiking network's
        return out


# --- entry points ---------------------------------------------------------------------------------
def load_protocol(path, sets=None):
    """Read and validate a protocol file (.toml, or a run's metadata.json / resolved .json).

    Parameters
    ----------
    path : str or Path
    sets : list of str, optional
        ``"key.path=value"`` overrides applied before validation (value parsed as a TOML value,
        else taken as a string); list items are addressed as ``waveforms.0`` or ``waveforms[0]``.

    Raises
    ------
    ProtocolError
    """
    path = Path(path)
    label = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProtocolError(f"{label}: cannot read protocol file: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(raw.decode("utf-8-sig"))      # a byte-order mark is allowed
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(f"{label}: malformed JSON: {exc}") from None
        if isinstance(data, dict) and "protocol" in data and "environment" in data:
            data = data["protocol"]                     # a run's metadata.json: re-run it
    else:
        try:
            data = tomllib.loads(raw.decode("utf-8-sig"))   # a byte-order mark is allowed
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"{label}: not a UTF-8 text file: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ProtocolError(f"{label}: malformed TOML: {exc}") from None
    if sets:
        data = apply_sets(data, sets, label)
    return load_dict(data, source=path)


def apply_sets(data, sets, label="protocol"):
    """A copy of ``data`` with ``key.path=value`` assignments applied (``--set``)."""
    data = copy.deepcopy(data)
    if not isinstance(data, dict):
        raise ProtocolError(f"{label}: <top level>: must be a table, got {_type_name(data)}")
    for item in sets:
        if not isinstance(item, str) or "=" not in item:
            raise ProtocolError(f"{label}: --set expects key.path=value, got {item!r}")
        key, raw = item.split("=", 1)
        parts = [p for p in re.split(r"\.|\[(\d+)\]", key.strip()) if p]
        if not parts:
            raise ProtocolError(f"{label}: --set expects key.path=value, got {item!r}")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            here = ".".join(parts[:depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ProtocolError(f"{label}: --set {key}: {here} is not an index of a list of {len(node)}")
                part = int(part)
            elif not isinstance(node, dict):
                raise ProtocolError(f"{label}: --set {key}: {'.'.join(parts[:depth])} is not a table")
            if last:
                node[part] = value
            else:
                if isinstance(node, dict) and part not in node:
                    node[part] = {}
                node = node[part]
    return data


def load_dict(data, source=None):
    """Validate a protocol given as a dict (parsed TOML/JSON); return a :class:`Protocol`.

    Everything that can be checked without running is checked here, with numpy's floating-point
    warnings silenced (a problem is one :class:`ProtocolError`, not a warning and then a message):
    the schema, the run grid, the waveforms, the state each model starts from (the fixed point for
    ``run.initial = "fixed_point"``), the fixed points a frequency-response study linearises at,
    and the peak memory of the run (:func:`estimate_memory`).

    Raises
    ------
    ProtocolError
        One line ``<file>: <key.path>: <problem>``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(all="ignore"):
            return _load_dict(data, source)


def folder_safe(text):
    """``text`` made a valid protocol name: runs of other characters than letters, digits, '.', '_'
    and '-' become '-', leading non-alphanumerics are dropped (``"my protocol"`` -> ``"my-protocol"``);
    ``"protocol"`` if nothing usable is left."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text))
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)
    return name if name and NAME_PATTERN.match(name) else "protocol"


def default_name(source):
    """The protocol name used when the file has no ``name``: its stem, made :func:`folder_safe`."""
    return folder_safe(Path(source).stem)


def _load_dict(data, source):
    label = str(source) if source is not None else "protocol"
    base = Path(source).resolve().parent if source is not None else Path.cwd()
    top = _Reader(data, "", label)
    top.finish(TOP_KEYS)

    name = top.string("name", default_name(source) if source is not None else ...)
    if not NAME_PATTERN.match(name):
        suggestion = folder_safe(name)
        top.fail(f"{name!r} must be a folder-safe name (letters, digits, '.', '_', '-', starting with a letter "
                 f"or digit), e.g. name = {json.dumps(suggestion)}", "name")
    description = top.string("description", "")

    circuit_r = top.child("circuit", required=True)
    preset_name, overrides, circuit = _circuit(circuit_r)

    run_r = top.child("run", required=True)
    run = _run(run_r, circuit)

    stim_r = top.child("stimulation")
    stim = _stimulation(stim_r, circuit, run, base)

    analysis_r = top.child("analysis")
    analysis = _analysis(analysis_r, run, stim["waveforms"])

    out_r = top.child("output")
    output = dict(
        variables=tuple(out_r.string_list("variables", list(recorded_columns()), recorded_columns())),
        files=tuple(out_r.string_list("files", list(FILES), FILES, nonempty=False)),
        include_transient=out_r.boolean("include_transient", False),
    )
    out_r.finish(["variables", "files", "include_transient"])

    study, study_raw = None, None
    if top.has("study"):
        from .study import validate_study          # here: stimsim.protocol.study imports this module

        study_raw = top.get("study")
        study = validate_study(study_raw, label, "study")

    resolved = {
        "name": name, "description": description,
        "circuit": {"preset": preset_name, "overrides": overrides},
        "run": run["resolved"],
        "stimulation": stim["resolved"],
        "analysis": analysis["resolved"],
        "output": {k: list(v) if isinstance(v, tuple) else v for k, v in output.items()},
    }
    if study_raw is not None:
        resolved["study"] = study_raw
        from .. import models as _models

        simulated = [m for m in run["models"] if not _models.get(m).has_equations]
        if simulated:
            run_r.fail(f"model {simulated[0]!r} cannot run a [study] (it has no fixed points or linear response, "
                       "and its studies would take N neurons per run); drop it from run.models here and compare "
                       "it with the mean-field models with: stimsim validate PROTOCOL.toml", "models")
    protocol = Protocol(
        name=name, source=Path(source) if source is not None else None, description=description,
        preset=preset_name, overrides=overrides, circuit=circuit, models=tuple(run["models"]),
        duration_ms=run["duration_ms"], dt_ms=run["dt_ms"], transient_ms=run["transient_ms"],
        record_every=run["record_every"], integrator=run["integrator"], initial=run["initial"],
        coupling=stim["coupling"], drive_unit=stim["unit"], input_populations=stim["populations"],
        waveforms=stim["waveforms"], waveform_dt_ms=stim["waveform_dt_ms"], device=stim["device"],
        drive_frequency_hz=analysis["drive_frequency_hz"], drive_phase_rad=analysis["drive_phase_rad"],
        welch_segment_ms=analysis["welch_segment_ms"], variables=output["variables"],
        files=output["files"], include_transient=output["include_transient"], study=study,
        resolved=resolved, neurons=run["neurons"], seed=run["seed"])
    if protocol.has_timeseries:
        _check_initial_states(protocol, label)
        check_memory(protocol, label)
    if study is not None:
        from .study import check_against_run

        # populations, Nyquist of run.dt_ms, analysis windows, parameter sets and their fixed points
        check_against_run(study, protocol, label, "study")
    if top.has("sweep"):
        from ..sweep._spec import validate_sweep     # here: stimsim.sweep imports this module

        raw = top.get("sweep")
        protocol.resolved["sweep"] = raw
        object.__setattr__(protocol, "sweep", validate_sweep(raw, protocol, label, "sweep"))
    return protocol


# --- checks of the whole protocol -----------------------------------------------------------------
def circuit_key(overrides, message):
    """Key path to blame for a circuit without a usable state (no fixed point, a rate that overflows).

    ``circuit.overrides.J`` when the message names the coupling J and J was overridden,
    ``circuit.overrides.eta_bar`` / ``.I`` when it names eta_bar + I and only that one was
    overridden, else ``circuit.overrides`` (or ``circuit.preset`` without overrides).

    Parameters
    ----------
    overrides : dict
        ``[circuit.overrides]`` as in the file.
    message : str
        The error message of the fixed-point search or of the initial state.
    """
    overrides = overrides or {}
    if "coupling J[" in message and "J" in overrides:
        return "circuit.overrides.J"
    if "eta_bar + I" in message:
        given = [k for k in ("eta_bar", "I") if k in overrides]
        rest = [k for k in overrides if k not in ("eta_bar", "I", "J")]
        if len(given) == 1 and not rest:
            return f"circuit.overrides.{given[0]}"
    return "circuit.overrides" if overrides else "circuit.preset"


def _check_initial_states(protocol, label):
    """The state each model starts from exists and is finite (``run.initial``), before anything runs."""
    from .. import models as _models
    from .._simulate import checked_initial_state

    initial = "fixed_point" if protocol.initial == "fixed_point" else None
    for model in protocol.models:
        try:
            checked_initial_state(_models.get(model), protocol.circuit, initial)
        except ValueError as exc:
            why = ("run.initial = \"fixed_point\" starts the run there" if initial else
                   "run.initial = \"synapses_at_rest\" starts at the uncoupled rates")
            raise ProtocolError(f"{label}: {circuit_key(protocol.overrides, str(exc))}: {exc} ({why})") from None


#: peak memory a run may use, bytes; None: ``MEMORY_FRACTION`` of the machine's physical memory
MAX_MEMORY_BYTES = None
MEMORY_FRACTION = 0.5
#: bytes per time-series table row taken by the figure (seaborn and matplotlib copies of the
#: points drawn); calibrated, see :func:`estimate_memory`
FIGURE_BYTES_PER_ROW = 120.0


def memory_limit_bytes():
    """The memory a run may use: ``MAX_MEMORY_BYTES``, or ``MEMORY_FRACTION`` x physical memory."""
    if MAX_MEMORY_BYTES is not None:
        return float(MAX_MEMORY_BYTES)
    try:
        return MEMORY_FRACTION * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):       # not POSIX: a fixed cap
        return 8.0 * 2**30


def estimate_memory(protocol):
    """Estimated peak memory (bytes) of a protocol's time-series run beyond the loaded libraries.

    Parts (float64 throughout):

    * ``drive``: the drive grid, the summed waveform and its temporaries, and the (samples, P)
      kernel input, at ``waveform_dt_ms`` over the run: samples x (P + 5) x 8.
    * ``states``: the recorded states of every model (recorded every
      ``stimsim.protocol.runner.analysis_stride`` steps and kept until the tables are built, plus
      one copy while the kernel output is reordered), counted twice: the summary's spectral and
      lock-in analysis of the same series needs about as much again.
    * ``table``: the tidy time-series table, rows = CSV records x populations x models, one
      8-byte cell per column (time, model, population, variables, drive, input); the larger of
      2 copies (while the per-model frames are built, filtered and joined) and 1.5 copies plus the
      figure (``FIGURE_BYTES_PER_ROW`` per row, when the figure is written). The CSV is streamed in
      chunks (``stimsim.io.write_csv``) and adds little.

    Calibration (peak ``VmRSS`` sampled every 10 ms minus that of the process after importing and
    compiling, 274 MB): PING (2 populations, both models), dt 0.01 ms, record_every 1, 4000 ms:
    0.4 M records per model, 1.6 M table rows (9 columns): measured 513 MB (drive 30, simulation
    50, table 219 at its build peak and 160 after, summary 80, figure 184), estimated 537 MB. A
    pyramidal run (1 population, both models, 20000 ms, dt 0.01 ms, record_every 2: 1 M records per
    model, 2 M rows): measured 753 MB, estimated 801 MB. Before the CSV was streamed, the
    text and its UTF-8 copy (about 270 bytes per row) came on top; the PING run peaked at 1043 MB
    (``ru_maxrss``).

    Parameters
    ----------
    protocol : Protocol

    Returns
    -------
    dict
        ``drive``, ``states``, ``table`` and ``total``, bytes.
    """
    from .. import models as _models

    P = protocol.circuit.n_populations
    n_steps = int(round(protocol.duration_ms / protocol.dt_ms))
    drive = 0.0
    if protocol.waveforms:
        stride = int(round(protocol.waveform_dt_ms / (0.5 * protocol.dt_ms)))
        n_drive = -(-2 * n_steps // stride) + 1
        drive = n_drive * 8.0 * (P + 5)
    try:
        from .runner import analysis_stride
        a_stride = analysis_stride(protocol.dt_ms, protocol.record_every)
    except ImportError:                               # a runner that records at record_every
        a_stride = protocol.record_every
    n_csv = n_steps // protocol.record_every + 1
    if not protocol.include_transient:
        n_csv -= min(n_csv - 1, int(protocol.transient_ms / (protocol.dt_ms * protocol.record_every)))
    per_model = [(n_steps // a_stride + 1) * _models.get(m).n_recorded * P * 8.0 for m in protocol.models]
    states = 2.0 * (sum(per_model) + max(per_model))
    rows = n_csv * P * len(protocol.models)
    n_cols = 3 + len(protocol.variables) + 2
    one = rows * n_cols * 8.0
    figure = rows * FIGURE_BYTES_PER_ROW if "figure" in protocol.files else 0.0
    table = max(2.0 * one, 1.5 * one + figure)
    return {"drive": drive, "states": states, "table": table, "total": drive + states + table}


def check_memory(protocol, label="protocol"):
    """Refuse, before anything runs, a run whose estimated peak memory exceeds :func:`memory_limit_bytes`."""
    est = estimate_memory(protocol)
    limit = memory_limit_bytes()
    if est["total"] <= limit:
        return
    gib = 2.0**30
    which = (f"{MEMORY_FRACTION:.0%} of this machine's {limit / MEMORY_FRACTION / gib:.0f} GiB"
             if MAX_MEMORY_BYTES is None else "stimsim.protocol.schema.MAX_MEMORY_BYTES")
    raise ProtocolError(
        f"{label}: run.record_every: the run would need about {est['total'] / gib:.1f} GiB of memory at its peak "
        f"(recorded states and their analysis {est['states'] / gib:.1f} GiB, time-series table and figure "
        f"{est['table'] / gib:.1f} GiB, drive "
        f"{est['drive'] / gib:.1f} GiB), more than {limit / gib:.1f} GiB ({which}); raise run.record_every "
        f"(now {protocol.record_every}) or shorten run.duration_ms (now {protocol.duration_ms:g} ms)")


# --- sections -------------------------------------------------------------------------------------------
def _circuit(r):
    preset_name = r.string("preset", choices=list(PRESETS))
    own = preset_parameters(preset_name)
    allowed = list(dict.fromkeys(list(own) + list(POPULATION_PARAMETERS) + ["J"]))
    ov = r.child("overrides")
    kwargs, later = {}, {}
    for key, value in ov.data.items():
        if key not in allowed:
            ov.fail(f"unknown parameter {key!r} for preset {preset_name!r}{closest(key, allowed)}; allowed: {', '.join(allowed)}")
        if isinstance(value, dict) and not value:
            ov.fail("is an empty table, which would change nothing; give values (e.g. "
                    + (f"J = {{ {circuit_example(preset_name)[0]} = {{ {circuit_example(preset_name)[-1]} = 2.0 }} }}"
                       if key == "J" else f"{key} = {{ {circuit_example(preset_name)[0]} = 1.0 }}")
                    + ") or remove the key", _key_text(key))
        if key == "J":
            kwargs["J"] = _coupling_matrix(ov, value)
        elif key in own and isinstance(value, dict) and key in POPULATION_PARAMETERS:
            # a preset argument that is also a population parameter (e.g. ping's common eta_bar),
            # given per population: applied to the populations after the preset is built
            later[key] = _per_population(ov, key, value, lambda v, k: ov.as_number(v, k))
        elif key in own:
            kwargs[key] = ov.as_number(value, key)
        elif key == "transfer":
            kwargs[key] = _per_population(ov, key, value, lambda v, k: ov.as_string(v, k, ["qif", "sigmoid"]))
        else:
            kwargs[key] = _per_population(ov, key, value, lambda v, k: ov.as_number(v, k))
    r.finish(["preset", "overrides"])
    try:
        circuit = preset(preset_name, **kwargs)
        if later:
            circuit = circuit.replace(**later)
    except (ValueError, TypeError) as exc:
        ov.fail(str(exc))
    return preset_name, json.loads(json.dumps(ov.data)), circuit


def circuit_example(preset_name):
    """The population names of a preset (for examples in messages)."""
    return list(preset(preset_name).names)


def _per_population(r, key, value, check):
    if isinstance(value, dict):
        return {pop: check(v, f"{key}.{_key_text(pop)}") for pop, v in value.items()}
    return check(value, key)


def _coupling_matrix(r, value):
    """J as a number, a (post, pre) matrix or {post: {pre: number}} -> preset argument."""
    if isinstance(value, dict):
        out = {}
        for post, row in value.items():
            if not isinstance(row, dict):
                r.fail(f"must be a table {{pre = number}}, got {_show(row)}", f"J.{_key_text(post)}")
            if not row:
                r.fail("is an empty table, which would change nothing; give {pre = number} or remove it",
                       f"J.{_key_text(post)}")
            for pre, v in row.items():
                out[(post, pre)] = r.as_number(v, f"J.{_key_text(post)}.{_key_text(pre)}")
        return out
    if isinstance(value, list):
        if not value or not all(isinstance(row, list) and len(row) == len(value) for row in value):
            r.fail("a J matrix must be a square list of lists (rows = post, columns = pre)", "J")
        return [[r.as_number(v, f"J[{i}][{j}]") for j, v in enumerate(row)] for i, row in enumerate(value)]
    return r.as_number(value, "J")


def _run(r, circuit):
    from .. import models as _models
    from .._simulate import check_run

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
    from ..models._network import DEFAULT_NEURONS

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


def _stimulation(r, circuit, run, base):
    dt = run["dt_ms"]
    unit = r.string("unit", "field", DRIVE_UNITS)
    wdt = r.number("waveform_dt_ms", 0.5 * dt, minimum=0.0, exclusive=True, unit="ms")
    stride = wdt / (0.5 * dt)
    if abs(stride - round(stride)) > 1e-9 * stride:
        r.fail(f"{wdt:g} must be a whole multiple of dt_ms/2 = {0.5 * dt:g} ms", "waveform_dt_ms")
    nyquist_hz = min(khz_to_hz(1.0 / (2.0 * dt)), khz_to_hz(1.0 / (2.0 * wdt)))

    cr = r.child("coupling")
    populations = cr.string_list("populations", list(circuit.names), circuit.names)
    if unit == "field":
        lam = _per_pop_values(cr, "lambda_mm", circuit, dict(zip(circuit.names, default_lambdas_mm(circuit))),
                              positive=False)
        default_scales = FieldCoupling().scales_mv(circuit)
        scales = _per_pop_values(cr, "scale_mv_per_unit", circuit, dict(zip(circuit.names, default_scales)), positive=True)
        cr.finish(["lambda_mm", "scale_mv_per_unit", "populations"])
        coupling = FieldCoupling(lambda_mm=lam, scale_mv_per_unit=scales)
        coupling_resolved = dict(lambda_mm=lam, scale_mv_per_unit=scales, populations=populations)
    else:
        for key in ("lambda_mm", "scale_mv_per_unit"):
            if cr.has(key):
                cr.fail("applies only to unit = \"field\" (here unit = \"current\": amplitudes are model input units)", key)
        cr.finish(["populations"])
        coupling = FieldCoupling()
        coupling_resolved = dict(populations=populations)

    dr = r.child("device")
    device = {}
    for key, unit_name in (("current_ma", "mA"), ("session_min", "min")):
        v = dr.number(key, None, minimum=0.0, exclusive=True, unit=unit_name)
        if v is not None:
            device[key] = v
    dr.finish(["current_ma", "session_min"])

    raw_waves = r.get("waveforms", [])
    if not isinstance(raw_waves, list):
        r.fail(f"must be a list of tables [[stimulation.waveforms]], got {_show(raw_waves)}", "waveforms")
    waves = tuple(_waveform(_Reader(item, r.where(f"waveforms[{i}]"), r.source), run, nyquist_hz, wdt, base)
                  for i, item in enumerate(raw_waves))
    r.finish(["unit", "waveform_dt_ms", "coupling", "device", "waveforms"])
    mask = np.array([n in populations for n in circuit.names], dtype=float)
    gains = coupling.gains(circuit) * mask if unit == "field" else mask
    if waves and not np.any(gains != 0.0):
        r.fail("the drive reaches no population (every listed population has lambda_mm = 0)", "coupling")
    n_samples = run["duration_ms"] / wdt * circuit.n_populations
    if waves and n_samples > MAX_DRIVE_SAMPLES:
        r.fail(f"the drive would need {n_samples:.3g} samples (duration / waveform_dt_ms x populations), more "
               f"than {MAX_DRIVE_SAMPLES:.0e}; set a coarser waveform_dt_ms", "waveform_dt_ms")
    resolved = dict(unit=unit, waveform_dt_ms=wdt, coupling=coupling_resolved,
                    waveforms=[w.resolved() for w in waves])
    if device:
        resolved["device"] = device
    return dict(unit=unit, waveform_dt_ms=wdt, coupling=coupling, populations=tuple(populations),
                device=device, waveforms=waves, resolved=resolved)


def _per_pop_values(r, key, circuit, default, positive):
    """{population: float} from a number or a table; missing populations get ``default``."""
    defaults = default if isinstance(default, dict) else {n: default for n in circuit.names}
    if not r.has(key):
        r.used.add(key)
        return {n: float(defaults[n]) for n in circuit.names}
    value = r.get(key)
    if isinstance(value, dict):
        for pop in value:
            if pop not in circuit.names:
                r.fail(f"unknown population {pop!r}{closest(pop, circuit.names)}; allowed: {', '.join(circuit.names)}", key)
        values = {n: value.get(n, defaults[n]) for n in circuit.names}
        return {n: r.as_number(v, f"{key}.{n}", 0.0, positive) for n, v in values.items()}
    v = r.as_number(value, key, 0.0, positive)
    return {n: v for n in circuit.names}


def _waveform(r, run, nyquist_hz, wdt, base):
    kind = r.string("kind", choices=list(wf.KINDS))
    types = wf.field_types(kind)
    allowed = ["kind"] + wf.waveform_keys(kind)
    r.finish(allowed)
    missing = [k for k in wf.required_keys(kind) if k not in r.data]
    if missing:
        r.fail(f"is required for kind = {kind!r}", missing[0])
    kwargs = {}
    for key, value in r.data.items():
        if key == "kind":
            continue
        t = types[key]
        if t is float:
            kwargs[key] = r.as_number(value, key)
        elif t is int:
            if isinstance(value, bool) or not isinstance(value, int):
                r.fail(f"must be an integer, got {_show(value)}", key)
            kwargs[key] = value
        elif t is bool:
            if not isinstance(value, bool):
                r.fail(f"must be true or false, got {_show(value)}", key)
            kwargs[key] = value
        else:
            kwargs[key] = r.as_string(value, key)
    if kind == "noise" and kwargs.get("seed") is None:
        kwargs["seed"] = secrets.randbits(63)           # recorded in the resolved protocol
    if kind == "csv":
        p = Path(kwargs["path"])
        kwargs["path"] = str(p if p.is_absolute() else base / p)
    try:
        wave = wf.KINDS[kind](**kwargs)
        wave.check_grid(run["duration_ms"], nyquist_hz, wdt)
    except ValueError as exc:
        r.fail(str(exc))
    return wave


def _analysis(r, run, waves):
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

