"""Circuit protocol files: TOML (or resolved JSON) -> validated :class:`Protocol`, before anything runs.

The schema is documented in ``protocols/README.md``. Every problem raises :class:`ProtocolError`
(an :class:`~stimsim.errors.InputError`, a ``ValueError``) with one line
``<file>: <key path>: <problem>``; unknown keys are errors with the closest valid key suggested
(``stimsim.errors.closest``). Loading reads the protocol (UTF-8, a byte-order mark allowed) and any
waveform CSV, builds the circuit, finds the initial states and fixed points the run needs and
estimates its peak memory, but compiles no kernel and integrates nothing.

This module assembles the protocol from the readers of its tables, each in its own module:

* :mod:`~stimsim.protocol.reader`: the shared reader (files, ``--set``, typed access, messages);
* :mod:`~stimsim.protocol.circuit_table`: ``[circuit]``;
* :mod:`~stimsim.protocol.run_table`: ``[run]``, ``[analysis]``, ``[output]``;
* :mod:`~stimsim.protocol.stimulation_table`: ``[stimulation]``;
* :mod:`~stimsim.protocol.study`: ``[study]``; :mod:`~stimsim.protocol.sweep_table`: ``[sweep]``;
* :mod:`~stimsim.protocol.checks`: the initial states and the peak memory of the whole run;
* :mod:`~stimsim.protocol.validated`: the :class:`Protocol` they build.

It sits above all of them (none imports it). A whole-brain protocol (``[network]``) is refused
with one line naming the command that runs it (:mod:`~stimsim.protocol.kinds`).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np

from .. import models as _models
from . import kinds
# names marked F401 were defined here before the split and are still importable from here
from .checks import check_initial_states, check_memory, estimate_memory, memory_limit_bytes  # noqa: F401
from .circuit_table import circuit_example, circuit_key, read_circuit  # noqa: F401
from .reader import ProtocolError, Reader, apply_sets, read_file
from .run_table import FILES, INITIAL, INTEGRATORS, read_analysis, read_output, read_run  # noqa: F401
from .stimulation_table import DRIVE_UNITS, read_stimulation  # noqa: F401
from .study import check_against_run, validate_study
from .sweep_table import validate_sweep
from .validated import Protocol

__all__ = ["Protocol", "ProtocolError", "TOP_KEYS", "apply_sets", "default_name", "folder_safe", "load_dict",
           "load_protocol"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: top-level keys of a circuit protocol (with or without [sweep]), as the kinds declare them
TOP_KEYS = kinds.CIRCUIT_SWEEP.keys


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
    data = read_file(path)
    if sets:
        data = apply_sets(data, sets, str(path))
    return load_dict(data, source=path)


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
    top = Reader(data, "", label)
    kind = kinds.kind_of(data)
    if kind in (kinds.BRAIN, kinds.BRAIN_SWEEP):
        # not a circuit protocol with a stray key: say what it is and what runs it
        raise ProtocolError(kinds.wrong_kind(source, kind))
    top.finish(TOP_KEYS)

    name = top.string("name", default_name(source) if source is not None else ...)
    if not NAME_PATTERN.match(name):
        suggestion = folder_safe(name)
        top.fail(f"{name!r} must be a folder-safe name (letters, digits, '.', '_', '-', starting with a letter "
                 f"or digit), e.g. name = {json.dumps(suggestion)}", "name")
    description = top.string("description", "")

    circuit_r = top.child("circuit", required=True)
    preset_name, overrides, circuit = read_circuit(circuit_r)

    run_r = top.child("run", required=True)
    run = read_run(run_r, circuit)

    stim_r = top.child("stimulation")
    stim = read_stimulation(stim_r, circuit, run, base)

    analysis_r = top.child("analysis")
    analysis = read_analysis(analysis_r, run, stim["waveforms"])

    output = read_output(top.child("output"))

    study, study_raw = None, None
    if top.has("study"):
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
        check_initial_states(protocol, label)
        check_memory(protocol, label)
    if study is not None:
        # populations, Nyquist of run.dt_ms, analysis windows, parameter sets and their fixed points
        check_against_run(study, protocol, label, "study")
    if top.has("sweep"):
        raw = top.get("sweep")
        protocol.resolved["sweep"] = raw
        object.__setattr__(protocol, "sweep", validate_sweep(raw, protocol, label, "sweep"))
    return protocol
