"""Bifurcation diagrams of any registered model on any circuit: the public entry points.

:func:`bifurcation_diagram`
    equilibria against one parameter (every branch through the fixed points at both ends of the
    range), their stability, folds and Hopf points (frequency, first Lyapunov coefficient), and
    the limit cycles born at each Hopf point (period, extremes, Floquet multipliers).
:func:`two_parameter_diagram`
    the fold and Hopf curves through the codimension-one points of a one-parameter diagram,
    with cusp, Bogdanov-Takens and generalized-Hopf points.

Both return objects whose methods give tidy pandas tables; units are those of the tables
(rates in Hz, frequencies in Hz, periods in ms, parameters in their own units).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field as dc_field

import numpy as np
import pandas as pd

from .. import models as _models
from ..circuit import Circuit
from ..errors import InputError
from ._branches import StepControl, continue_equilibria
from ._curves import continue_curve
from ._orbits import continue_cycles, nontrivial_multipliers
from ._parameters import parameter as _parse_parameter
from ._system import ModelField

#: Hopf criticality labels from the sign of l1 (Kuznetsov 2004, Sec. 3.4)
SUPERCRITICAL, SUBCRITICAL = "supercritical", "subcritical"
#: |l1| below this (relative to the largest |l1| of the diagram) is reported as degenerate
L1_DEGENERATE = 1e-9
KIND_NAMES = {"LP": "fold", "H": "Hopf", "BP": "branch point", "CP": "cusp", "BT": "Bogdanov-Takens",
              "GH": "generalized Hopf", "LPC": "cycle fold", "PD": "period doubling", "NS": "torus"}


def _khz_to_hz(omega_rad_per_ms):
    return omega_rad_per_ms / (2 * math.pi) * 1000.0


def criticality(l1):
    """'supercritical' (l1 < 0), 'subcritical' (l1 > 0) or 'degenerate' (l1 = 0 or not finite)."""
    if not np.isfinite(l1) or l1 == 0:
        return "degenerate"
    return SUPERCRITICAL if l1 < 0 else SUBCRITICAL


def _check_range(par, p_range, name="range"):
    try:
        lo, hi = (float(v) for v in p_range)
    except (TypeError, ValueError):
        raise InputError(f"{name} of {par.label!r} must be two numbers (start, stop), got {p_range!r}") from None
    par.check_value(lo, f"{name} start")
    par.check_value(hi, f"{name} stop")
    if lo == hi:
        raise InputError(f"{name} of {par.label!r} must have two different ends, got {p_range!r}")
    return lo, hi


def _checked(circuit, model, parameter, p_range, coupling):
    if not isinstance(circuit, Circuit):
        raise InputError(f"circuit must be a stimsim Circuit, got {type(circuit).__name__}")
    model = _models.get(model)
    reason = model.supports(circuit)
    if reason:
        raise InputError(f"model {model.name!r} cannot describe circuit {circuit.name!r}: {reason}")
    if not model.has_equations:
        raise InputError(f"model {model.name!r} has no equations to continue (it is simulated, not "
                         "linearised); continuation needs a smooth vector field: use nmm2 or nmm1")
    par = _parse_parameter(parameter, circuit, coupling)
    lo, hi = _check_range(par, p_range)
    return model, par, lo, hi


@dataclass
class BifurcationDiagram:
    """Equilibrium branches and limit-cycle branches of one model in one parameter.

    Attributes
    ----------
    model : Model
    circuit : Circuit
        The base circuit (the parameter is set on it along the branches).
    parameter : Parameter
    p_range : (float, float)
    branches : list of Branch
    cycles : list of CycleBranch
    """

    model: object
    circuit: object
    parameter: object
    p_range: tuple
    branches: list
    cycles: list = dc_field(default_factory=list)
    field: object = None

    # --- points ----------------------------------------------------------------------------------
    @property
    def special(self):
        """All located special points of the equilibrium branches, (branch index, SpecialPoint)."""
        return [(b, s) for b, br in enumerate(self.branches) for s in br.special]

    def hopf_points(self, located_only=True):
        """The Hopf points, sorted by parameter value (duplicates from overlapping branches removed)."""
        pts = [s for _, s in self.special if s.kind == "H" and (s.located or not located_only)]
        return _unique_points(pts, self.p_range)

    def fold_points(self, located_only=True):
        pts = [s for _, s in self.special if s.kind == "LP" and (s.located or not located_only)]
        return _unique_points(pts, self.p_range)

    # --- tables ----------------------------------------------------------------------------------
    def _recorded(self, x, p):
        c = self.field.circuit_at([p])
        return self.model.observe(c, self.field.state(x))

    def equilibria(self):
        """Tidy table: one row per (branch, point, population).

        Columns: model, parameter, parameter_value, branch, point, population, stability, stable,
        n_unstable, leading_real_per_ms, leading_frequency_hz (|Im| of the leading eigenvalue
        / 2 pi), and one column per recorded variable in table units (rate_hz, v, s_hz, z_hz).
        """
        from ..dynamics import n_unstable

        rows = []
        for b, br in enumerate(self.branches):
            for i, (x, p) in enumerate(zip(br.x, br.p)):
                rec = self._recorded(x, p)
                lead = br.eigenvalues[i][0]
                base = dict(model=self.model.name, parameter=self.parameter.label, parameter_value=float(p),
                            branch=b, point=i, stability=br.stability[i],
                            stable=bool(br.stability[i].startswith("stable")),
                            n_unstable=n_unstable(br.eigenvalues[i]), leading_real_per_ms=float(lead.real),
                            leading_frequency_hz=_khz_to_hz(abs(lead.imag)))
                for k, pop in enumerate(self.circuit.names):
                    row = dict(base, population=pop)
                    for a, var in enumerate(self.model.recorded_variables):
                        row[var.column] = float(rec[a, k] * var.to_column)
                    rows.append(row)
        return pd.DataFrame(rows)

    def special_points(self):
        """Tidy table of folds, Hopf points and branch points (one row per point and population).

        Columns: model, parameter, parameter_value, kind ('LP', 'H', 'BP'), name, branch,
        frequency_hz (Hopf), first_lyapunov (Hopf l1, 1/ms in the flat state's units) or
        fold_coefficient (fold), criticality, residual (max norm of the defining system, 1/ms),
        located, population and the recorded variables.
        """
        rows = []
        for b, s in self.special:
            rec = self._recorded(s.x, s.p[0])
            base = dict(model=self.model.name, parameter=self.parameter.label, parameter_value=float(s.p[0]),
                        kind=s.kind, name=KIND_NAMES[s.kind], branch=b,
                        frequency_hz=_khz_to_hz(s.omega) if s.kind == "H" else np.nan,
                        first_lyapunov=s.coefficient if s.kind == "H" else np.nan,
                        fold_coefficient=s.coefficient if s.kind == "LP" else np.nan,
                        criticality=criticality(s.coefficient) if s.kind == "H" else "",
                        residual=float(s.residual), located=bool(s.located))
            for k, pop in enumerate(self.circuit.names):
                row = dict(base, population=pop)
                for a, var in enumerate(self.model.recorded_variables):
                    row[var.column] = float(rec[a, k] * var.to_column)
                rows.append(row)
        cols = ["model", "parameter", "parameter_value", "kind", "name", "branch", "frequency_hz",
                "first_lyapunov", "fold_coefficient", "criticality", "residual", "located", "population"]
        return pd.DataFrame(rows, columns=cols + [v.column for v in self.model.recorded_variables])

    def limit_cycles(self):
        """Tidy table of the limit-cycle branches (one row per orbit and population).

        Columns: model, parameter, parameter_value, cycle_branch, hopf_parameter_value, point,
        period_ms, frequency_hz, stable, max_multiplier (largest nontrivial |Floquet multiplier|),
        label ('LPC', 'PD', 'NS' at the bracketing orbit, else ''), population, and
        ``<variable>_min`` / ``<variable>_max`` for each recorded variable in table units.
        """
        rows = []
        for c, cb in enumerate(self.cycles):
            labels = {s["index"]: s["kind"] for s in cb.special}
            for i in range(len(cb.p)):
                base = dict(model=self.model.name, parameter=self.parameter.label, parameter_value=float(cb.p[i]),
                            cycle_branch=c, hopf_parameter_value=float(cb.hopf.p[0]), point=i,
                            period_ms=float(cb.period_ms[i]), frequency_hz=1000.0 / cb.period_ms[i],
                            stable=bool(cb.stable[i]),
                            max_multiplier=float(np.max(np.abs(nontrivial_multipliers(cb.multipliers[i])))),
                            label=labels.get(i, ""))
                for k, pop in enumerate(self.circuit.names):
                    row = dict(base, population=pop)
                    for a, var in enumerate(self.model.recorded_variables):
                        row[f"{var.column}_min"] = float(cb.minimum[i, a, k] * var.to_column)
                        row[f"{var.column}_max"] = float(cb.maximum[i, a, k] * var.to_column)
                    rows.append(row)
        cols = ["model", "parameter", "parameter_value", "cycle_branch", "hopf_parameter_value", "point",
                "period_ms", "frequency_hz", "stable", "max_multiplier", "label", "population"]
        extra = [f"{v.column}_{e}" for v in self.model.recorded_variables for e in ("min", "max")]
        return pd.DataFrame(rows, columns=cols + extra)


def _unique_points(points, p_range):
    tol = 1e-7 * max(1.0, abs(p_range[1] - p_range[0]))
    out = []
    for s in sorted(points, key=lambda s: s.p[0]):
        if not out or abs(s.p[0] - out[-1].p[0]) > tol or np.max(np.abs(s.x - out[-1].x)) > 1e-6 * (1 + np.max(np.abs(s.x))):
            out.append(s)
    return out


def _start_states(model, field, p):
    from ..dynamics import find_fixed_points

    c = field.circuit_at([p])
    return [model.state_at_rates(c, r).ravel() for r in find_fixed_points(c)]


def _on_branches(x, p, branches):
    for br in branches:
        near = np.flatnonzero(np.isclose(br.p, p, rtol=0, atol=1e-9 * (1 + abs(p))))
        for i in near:
            if np.max(np.abs(br.x[i] - x)) <= 1e-6 * (1 + np.max(np.abs(x))):
                return True
    return False


def bifurcation_diagram(circuit, model="nmm2", parameter="I", p_range=(-20.0, 100.0), cycles=True,
                        steps=None, coupling=None, max_cycle_points=200, progress=False):
    """Equilibria, their bifurcations and the limit cycles of a model against one parameter.

    Every equilibrium branch through the fixed points at either end of ``p_range`` is followed by
    pseudo-arclength continuation (through folds); folds and Hopf points are located to Newton
    accuracy on their defining systems; from each Hopf point the branch of limit cycles is
    followed by shooting with the model's compiled kernel. Isolated branches (isolas) that reach
    neither end of the range are not found.

    Parameters
    ----------
    circuit : Circuit
    model : str or Model
        Any registered model with a Jacobian ('nmm2', 'nmm1').
    parameter : str or Parameter
        See :func:`stimsim.continuation.parameter`: 'I', 'eta_bar', 'J', 'J[E,I]', 'tau_s',
        'tau_m', 'delta', 'tau_s/tau_m', 'field' (V/m), with an optional population '[E]'.
    p_range : (float, float)
        Parameter range, the parameter's units.
    cycles : bool
        Follow the limit cycles born at the Hopf points.
    steps : StepControl, optional
    coupling : FieldCoupling, optional
        For parameter 'field'.
    max_cycle_points : int
        Orbits per limit-cycle branch at most.
    progress : bool
        Show a progress bar (branches and cycle branches).

    Returns
    -------
    BifurcationDiagram

    Raises
    ------
    stimsim.errors.InputError
        Bad circuit, model, parameter or range (before any computation).

    Examples
    --------
    >>> import stimsim
    >>> from stimsim.continuation import bifurcation_diagram
    >>> d = bifurcation_diagram(stimsim.preset("interneurons"), "nmm2", "I", (-20, 100), cycles=False)
    >>> d.special_points()[["kind", "parameter_value", "frequency_hz", "criticality"]].round(2)
      kind  parameter_value  frequency_hz    criticality
    0    H             5.32         54.55  supercritical
    1    H            76.70        255.47  supercritical
    """
    model, par, lo, hi = _checked(circuit, model, parameter, p_range, coupling)
    steps = StepControl() if steps is None else steps
    if not isinstance(steps, StepControl):
        raise InputError(f"steps must be a stimsim.continuation.StepControl, got {type(steps).__name__}")
    field = ModelField(model, circuit, [par])
    bar = _progress_bar(progress, f"{model.name} {par.label}")
    branches = []
    with np.errstate(all="ignore"):
        for p0, direction in ((lo, 1 if hi > lo else -1), (hi, -1 if hi > lo else 1)):
            try:
                starts = _start_states(model, field, p0)
            except ValueError as exc:
                raise InputError(f"no fixed point to start from at {par.label} = {p0}: {exc}") from None
            for x0 in starts:
                if _on_branches(x0, p0, branches):
                    continue
                branches.append(continue_equilibria(field, x0, p0, (lo, hi), direction, steps))
                bar.update(1)
        cyc = []
        if cycles:
            hopfs = BifurcationDiagram(model, circuit, par, (lo, hi), branches, field=field).hopf_points()
            done = []
            for h in hopfs:
                if any(abs(h.p[0] - q) < 1e-6 * (1 + abs(q)) for q in done):
                    continue
                others = [o for o in hopfs if o is not h]
                cb = continue_cycles(field, h, (lo, hi), others=others, max_points=max_cycle_points)
                cyc.append(cb)
                done.append(h.p[0])
                if cb.end_reason.startswith("ended at the Hopf point"):
                    done.append(float(cb.end_reason.rsplit("=", 1)[1]))
                bar.update(1)
    bar.close()
    return BifurcationDiagram(model, circuit, par, (lo, hi), branches, cyc if cycles else [], field=field)


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress_bar(progress, desc):
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(desc=desc, unit="branch", leave=False)


@dataclass
class TwoParameterDiagram:
    """Fold and Hopf curves in two parameters.

    Attributes
    ----------
    model, circuit
    parameters : (Parameter, Parameter)
    ranges : ((lo1, hi1), (lo2, hi2))
    curves : list of Curve
    """

    model: object
    circuit: object
    parameters: tuple
    ranges: tuple
    curves: list
    field: object = None

    def to_frame(self):
        """Tidy table: one row per curve point.

        Columns: model, curve, kind ('LP' fold / 'H' Hopf), point, <p1 label>, <p2 label>,
        hopf (True where the Hopf-curve point is a Hopf point, False on neutral saddles),
        frequency_hz, first_lyapunov (Hopf) or fold_coefficient (fold), residual (1/ms) and
        rate_hz per population (``rate_hz_<population>``).
        """
        l1, l2 = (p.label for p in self.parameters)
        rows = []
        for c, cv in enumerate(self.curves):
            for i in range(len(cv.p)):
                row = {"model": self.model.name, "curve": c, "kind": cv.kind, "point": i,
                       l1: float(cv.p[i, 0]), l2: float(cv.p[i, 1]),
                       "hopf": bool(cv.kind == "H" and cv.kappa[i] > 0),
                       "frequency_hz": _khz_to_hz(cv.omega[i]) if cv.kind == "H" else np.nan,
                       "first_lyapunov": cv.coefficient[i] if cv.kind == "H" else np.nan,
                       "fold_coefficient": cv.coefficient[i] if cv.kind == "LP" else np.nan,
                       "residual": float(cv.residual[i])}
                rec = self.model.observe(self.field.circuit_at(cv.p[i]), self.field.state(cv.x[i]))
                for k, pop in enumerate(self.circuit.names):
                    row[f"rate_hz_{pop}"] = float(rec[self.model.recorded_index("r"), k] * 1000.0)
                rows.append(row)
        return pd.DataFrame(rows)

    def special_points(self):
        """Codimension-two points: model, curve, kind ('CP', 'BT', 'GH'), name, the two parameter
        values, residual and located."""
        l1, l2 = (p.label for p in self.parameters)
        rows = [{"model": self.model.name, "curve": c, "kind": s.kind, "name": KIND_NAMES[s.kind],
                 l1: float(s.p[0]), l2: float(s.p[1]), "residual": float(s.residual), "located": bool(s.located)}
                for c, cv in enumerate(self.curves) for s in cv.special]
        return pd.DataFrame(rows, columns=["model", "curve", "kind", "name", l1, l2, "residual", "located"])


def two_parameter_diagram(circuit, model="nmm2", parameters=("I", "tau_s/tau_m"), ranges=((-20.0, 100.0), (0.05, 2.0)),
                          kinds=("H", "LP"), coupling=None, max_points=400, progress=False):
    """Fold and Hopf curves in two parameters, with their codimension-two points.

    The curves start at the folds and Hopf points of the one-parameter diagram in the first
    parameter (at the circuit's value of the second) and are followed both ways until they leave
    the ranges or close. Curves that do not cross that one-parameter line are not found.

    Parameters
    ----------
    circuit : Circuit
    model : str or Model
    parameters : (str, str)
        As for :func:`bifurcation_diagram`.
    ranges : ((float, float), (float, float))
        The window of the diagram, in each parameter's units.
    kinds : tuple of {'H', 'LP'}
        Which curves to follow.

    Returns
    -------
    TwoParameterDiagram

    Examples
    --------
    The cusp of the MPR model (Montbrió, Pazó & Roxin 2015): eta_bar = -sqrt(3) Delta,
    J = 8 pi 3^(1/4) sqrt(Delta) / (3 sqrt 2).

    >>> import stimsim
    >>> from stimsim.continuation import two_parameter_diagram
    >>> c = stimsim.preset("pyramidal", J=15.0)
    >>> d = two_parameter_diagram(c, "nmm2", ("eta_bar", "J"), ((-10, 0), (5, 30)), kinds=("LP",))
    >>> d.special_points()[["kind", "eta_bar", "J"]].round(6)
      kind   eta_bar         J
    0   CP -1.732051  7.796217
    """
    if not isinstance(parameters, (tuple, list)) or len(parameters) != 2:
        raise InputError(f"parameters must be two names, e.g. ('I', 'tau_s/tau_m'), got {parameters!r}")
    if not isinstance(ranges, (tuple, list)) or len(ranges) != 2:
        raise InputError(f"ranges must be two (start, stop) pairs, got {ranges!r}")
    model, p1, lo1, hi1 = _checked(circuit, model, parameters[0], ranges[0], coupling)
    p2 = _parse_parameter(parameters[1], circuit, coupling)
    lo2, hi2 = _check_range(p2, ranges[1])
    if p1.label == p2.label:
        raise InputError(f"the two parameters must differ, got {p1.label!r} twice")
    bad = [k for k in kinds if k not in ("H", "LP")]
    if bad or not kinds:
        raise InputError(f"kinds must be a non-empty subset of ('H', 'LP'), got {kinds!r}")
    v2 = p2.value(circuit)
    if not min(lo2, hi2) <= v2 <= max(lo2, hi2):
        raise InputError(f"the circuit's {p2.label} = {v2} lies outside the range {ranges[1]!r} of the second parameter")
    one = bifurcation_diagram(circuit, model, p1, (lo1, hi1), cycles=False)
    field = ModelField(model, circuit, [p1, p2])
    seeds = ([("H", h) for h in one.hopf_points()] if "H" in kinds else []) + \
            ([("LP", f) for f in one.fold_points()] if "LP" in kinds else [])
    bounds = ((min(lo1, hi1), min(lo2, hi2)), (max(lo1, hi1), max(lo2, hi2)))
    scales = (abs(hi1 - lo1), abs(hi2 - lo2))
    curves = []
    bar = _progress_bar(progress, f"{model.name} {p1.label} x {p2.label}")
    with np.errstate(all="ignore"):
        for kind, s in seeds:
            if _on_curves(kind, s.p[0], v2, curves, scales):
                continue
            for direction in (1, -1):
                v = s.eigenvector.real if kind == "H" else s.eigenvector
                kappa = s.omega ** 2 if kind == "H" else None
                try:
                    curves.append(continue_curve(field, kind, s.x, [s.p[0], v2], v, kappa=kappa, bounds=bounds,
                                                 scales=scales, direction=direction, max_points=max_points))
                except ValueError:
                    continue
                bar.update(1)
    bar.close()
    return TwoParameterDiagram(model, circuit, (p1, p2), ((lo1, hi1), (lo2, hi2)), curves, field=field)


def _on_curves(kind, p1, p2, curves, scales):
    for cv in curves:
        if cv.kind != kind or len(cv.p) < 2:
            continue
        q = cv.p / np.asarray(scales)
        a, b = q[:-1], q[1:]
        z = np.array([p1, p2]) / np.asarray(scales)
        seg = b - a
        w = np.clip(np.einsum("ij,ij->i", z - a, seg) / np.maximum(np.einsum("ij,ij->i", seg, seg), 1e-300), 0, 1)
        d = np.linalg.norm(a + w[:, None] * seg - z, axis=1)      # distance to each chord of the curve
        if np.min(d) < 2e-3:                                      # chords deviate from the curve by ~ step^2
            return True
    return False
