"""Running study protocols: the ``[study]`` table of a protocol file (frequency response or entrainment).

The table is validated by the protocol layer (``stimsim.protocol.study.validate_study`` and
``check_against_run``, schema in that module) before anything runs; :func:`run_study` takes the
validated spec and returns tidy tables and figures that the protocol runner writes as CSV and PNG.
This module only computes: it imports nothing from ``stimsim.protocol``.

Tables (one row per model x parameter set x frequency x amplitude): ``frequency_response`` and
``resonance`` (one row per curve), or ``entrainment`` and ``tongue_width``.
Figures: ``resonance_curves``, ``resonance_peak`` / ``arnold_tongue``, ``plv_vs_amplitude``.
Runs that became non-finite are flagged ``diverged`` in the run tables, left out of the summaries
and figures, and counted by :func:`diverged_runs`.
"""
from __future__ import annotations

import numpy as np


def _circuits(circuit, spec, where="study"):
    """[(labels, circuit)] for each parameter set, applying ``name`` or ``name.population``.

    Parameters
    ----------
    circuit : stimsim.Circuit
    spec : StudySpec
        Validated study (``parameter_sets()``).
    where : str
        Start of error messages (``"<file>: study"``).
    """
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


def run_study(protocol, progress=True):
    """Run ``protocol.study`` on ``protocol.circuit``.

    Parameters
    ----------
    protocol : stimsim.protocol.Protocol or object
        Uses ``circuit``, ``models``, ``coupling``, ``drive_unit``, ``input_populations``
        (optional), ``dt_ms``, ``transient_ms``, ``integrator`` and ``study``: a
        ``stimsim.protocol.study.StudySpec`` already validated, and checked against the circuit
        and the run (``stimsim.protocol.study.check_against_run``), as ``load_protocol`` does.
    progress : bool
        Show progress of the runs.

    Returns
    -------
    tables : dict[str, pandas.DataFrame]
    figures : dict[str, matplotlib.figure.Figure]

    Raises
    ------
    TypeError
        When ``protocol.study`` is not a validated spec (e.g. the raw table).
    """
    from .. import models as _models
    from . import _figures as figs
    from ._entrainment import entrainment, tongue_width
    from ._resonance import resonance_summary
    from ._response import frequency_response
    from ._settings import Drive, EntrainmentGrid, LockingCriterion, LockinGrid, Readout

    where = f"{getattr(protocol, 'source', None) or getattr(protocol, 'name', 'protocol')}: study"
    spec = protocol.study
    if not hasattr(spec, "parameter_sets"):
        raise TypeError(f"{where}: run_study needs a validated study (stimsim.protocol.study.validate_study), "
                        f"got {type(spec).__name__}")
    if spec.kind == "bifurcation":
        return run_bifurcation_study(protocol, progress)
    cases = _circuits(protocol.circuit, spec, where)
    circuits = [c for _, c in cases]
    labels = [lab for lab, _ in cases]
    models = [m for m in protocol.models if _models.get(m).supports(protocol.circuit) is None]
    pops = getattr(protocol, "input_populations", None)
    common = dict(model=models, labels=labels, progress=progress,
                  drive=Drive(unit=protocol.drive_unit, coupling=protocol.coupling,
                              populations=tuple(pops) if pops else None),
                  readout=Readout(population=spec.output_population, output=spec.output))
    transient = float(getattr(protocol, "transient_ms", 0.0) or 0.0)
    if spec.kind == "frequency_response":
        grid = LockinGrid(dt_ms=protocol.dt_ms, settle_ms=spec.settle_ms, min_settle_ms=transient,
                          measure_cycles=spec.measure_cycles, min_measure_ms=spec.min_measure_ms,
                          integrator=protocol.integrator)
        table = frequency_response(circuits, freqs_hz=np.array(spec.freqs_hz), method=spec.method,
                                   amplitude=np.array(spec.amplitudes), lockin=grid, **common)
        summary = resonance_summary(table)
        tables = {"frequency_response": table, "resonance": summary}
        figures = {"resonance_curves": figs.resonance_curves(table, list(spec.parameters)),
                   "resonance_peak": figs.resonance_peaks(summary, list(spec.parameters))}
        return tables, figures
    settle = spec.settle_ms if spec.settle_ms is not None else max(500.0, transient)
    grid = EntrainmentGrid(dt_ms=protocol.dt_ms, settle_ms=settle, measure_ms=spec.measure_ms,
                           integrator=protocol.integrator)
    criterion = LockingCriterion(plv_threshold=spec.plv_threshold, max_denominator=spec.max_denominator,
                                 freq_tol_hz=spec.freq_tol_hz)
    table = entrainment(circuits, freqs_hz=np.array(spec.freqs_hz), amplitudes=np.array(spec.amplitudes),
                        grid=grid, criterion=criterion, **common)
    widths = tongue_width(table)
    tables = {"entrainment": table, "tongue_width": widths}
    figures = {"arnold_tongue": figs.arnold_tongue(table, list(spec.parameters)),
               "plv_vs_amplitude": figs.plv_vs_amplitude(table, spec.plv_freqs_hz, list(spec.parameters))}
    return tables, figures


def run_bifurcation_study(protocol, progress=True):
    """A ``kind = "bifurcation"`` study: diagrams of every model, and curves when asked.

    Tables: ``equilibria``, ``special_points``, ``limit_cycles`` (all models), and with a second
    parameter ``bifurcation_curves`` and ``codim2_points``. Figures: ``bifurcation_diagram`` and
    ``bifurcation_curves``.
    """
    import pandas as pd

    from .. import models as _models
    from .. import continuation as cont

    spec = protocol.study
    circuit = protocol.circuit
    coupling = protocol.coupling if getattr(protocol, "drive_unit", "field") == "field" else None
    models = [m for m in protocol.models if _models.get(m).supports(circuit) is None]
    diagrams = [cont.bifurcation_diagram(circuit, m, spec.parameter, spec.range, cycles=spec.cycles,
                                         coupling=coupling, max_cycle_points=spec.max_cycle_points,
                                         progress=progress) for m in models]
    tables = {"equilibria": pd.concat([d.equilibria() for d in diagrams], ignore_index=True),
              "special_points": pd.concat([d.special_points() for d in diagrams], ignore_index=True),
              "limit_cycles": pd.concat([d.limit_cycles() for d in diagrams], ignore_index=True)}
    pop = spec.output_population or circuit.names[0]
    figures = {"bifurcation_diagram": cont.diagram_figure(tables["equilibria"], tables["special_points"],
                                                          tables["limit_cycles"], population=pop)}
    if spec.second_parameter is not None:
        two = [cont.two_parameter_diagram(circuit, m, (spec.parameter, spec.second_parameter),
                                          (spec.range, spec.second_range), coupling=coupling, progress=progress)
               for m in models]
        curves = pd.concat([d.to_frame() for d in two], ignore_index=True)
        points = pd.concat([d.special_points() for d in two], ignore_index=True)
        tables["bifurcation_curves"], tables["codim2_points"] = curves, points
        labels = tuple(p.label for p in two[0].parameters)
        figures["bifurcation_curves"] = cont.curves_figure(curves, points, labels, models=models)
    return tables, figures


def diverged_runs(tables):
    """(n_diverged, n_runs): simulated study runs that diverged, and all simulated study runs.

    Counts the rows of the run tables (``frequency_response``: lock-in rows only, linear rows are not
    simulated; ``entrainment``: every row) and those flagged ``diverged``.

    Parameters
    ----------
    tables : dict[str, pandas.DataFrame]
        As returned by :func:`run_study`.

    Returns
    -------
    tuple of int
    """
    n_bad = n_all = 0
    for name in ("frequency_response", "entrainment"):
        t = tables.get(name)
        if t is None or "diverged" not in t:
            continue
        simulated = (t["method"] != "linear").to_numpy() if "method" in t else np.ones(len(t), dtype=bool)
        n_all += int(np.count_nonzero(simulated))
        n_bad += int(np.count_nonzero(t["diverged"].to_numpy(dtype=bool) & simulated))
    return n_bad, n_all
