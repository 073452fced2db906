"""Whole-brain studies through the sweep engine: G x speed x montage x frequency x amplitude x local parameters.

A whole-brain protocol file with a ``[sweep]`` table runs with ``stimsim sweep``: every point of
the design is one whole-brain run with a sinusoidal montage current, analysed per region, under
each model; chunks stream into the sweep store (:mod:`stimsim.sweep`), resumable, locally or on
a Dask cluster. Schema (beside ``[network]``, ``[montage]`` and ``[run]``)::

    [sweep]
    design = "grid"                # grid | list | random | lhs (a montage axis: grid or list only)
    n = 100                        # random / lhs: number of points
    seed = 0                       # random / lhs: the sample's seed; also seeds the surrogate draws
    log = ["G"]                    # random / lhs: parameters sampled uniformly in log
    frequency_hz = 10.0            # the montage current's frequency when not a design parameter, Hz
    amplitude = 1.0                # its amplitude, mA zero-to-peak, when not a design parameter
    band_hz = [8, 12]              # band of the band-power columns (default: each point's frequency +- 2 Hz)
    entrainment = true             # per-region locking columns (needs 20 drive cycles in the window)
    chunk_size = 8                 # optional: points per chunk (results do not depend on it)
    [sweep.parameters]             # grid: values; list: values (zipped); random / lhs: [low, high]
    G = [0.0, 0.3, 0.6]            # global coupling
    speed_mm_per_ms = [3.0, 6.0]   # conduction speed, mm/ms (= m/s)
    frequency_hz = { start = 6, stop = 14, num = 5 }
    amplitude = [0.5, 1.0]         # mA zero-to-peak
    montage = ["occipital", "frontal"]   # names of [sweep.montages]
    eta_bar = [-1.0, 0.0]          # parameters of the local circuit (stimsim.continuation.parameter names)
    [sweep.montages]               # electrode currents per unit of the waveform, as montage.electrodes
    occipital = { O1 = 0.5, O2 = 0.5, Cz = -1.0 }
    frontal = { F3 = 1.0, F4 = -1.0 }

``[run]`` gives the models, dt_ms, integrator, record_every, ``duration_ms`` and ``transient_ms``
(the analysed window is duration - transient); ``[montage]`` gives the field model (``fields``,
``lambda_mm``) and the electrodes when montage is not a design parameter; it has no waveforms
(the sweep drives with A cos(2 pi f t) mA).

What one task computes (one (point, model); one row per region)
-----------------------------------------------------------------
The network with the montage current A cos(2 pi f t) mA (the regional normal fields of
:class:`stimsim.brain.RegionalField` times each population's polarization gain) and the same
network unstimulated (the stimulus scaled by 0), from the local circuit's fixed point (``run.initial``); after
``transient_ms`` the output population's rate in each region gives: ``mean_rate_hz`` and
``baseline_rate_hz``; ``response_hz`` and ``phase_rad`` at f (:func:`regional_response`);
``band_power_hz2`` and ``baseline_band_power_hz2``; and the entrainment columns of
:func:`regional_entrainment` (judged against the unstimulated run). Points that share the local
circuit, the montage and f run as lanes of one batch (G, speed and amplitude differ per lane;
one unstimulated lane per distinct (G, speed)), which gives the same numbers as separate runs.
The table has one row per design point, model and region: identical points of a list design run
once per chunk and each keeps its rows with its own ``point_id``. A local-circuit parameter given
under two names (``eta_bar`` and ``"eta_bar[P]"``) is refused when the protocol is loaded.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import models as _models
from ..circuit import canonical
from ..errors import InputError, closest
from ..protocol.reader import ProtocolError, Reader, key_text, show
from ..protocol.sweep_table import axis_values, check_distinct, read_design
from ..sweep._points import DESIGNS, evaluate_distinct
from ..units import MS_PER_S
from ._observables import ENTRAINMENT_COLUMNS

KEYS = ("design", "n", "seed", "log", "frequency_hz", "amplitude", "band_hz", "entrainment", "chunk_size",
        "parameters", "montages")
#: design parameters of the network and the montage current (besides local-circuit parameters)
NETWORK_PARAMETERS = ("G", "speed_mm_per_ms", "frequency_hz", "amplitude", "montage")
#: bump when what a task computes changes: old stores then no longer match
TASK_VERSION = 1
#: a chunk records at most this many bytes of trajectories
CHUNK_BYTES = 400e6


@dataclass(frozen=True)
class BrainTaskSpec:
    """Everything a whole-brain sweep task needs besides its point (picklable).

    Attributes
    ----------
    models : tuple of str
    network : BrainNetwork
        The base network; local-circuit parameters of the design are set on its circuit.
    names : tuple of str
        Design parameters in column order.
    parameters : tuple
        Parsed local-circuit parameters (None at the network/montage parameters).
    montage_names : tuple of str
        Montages of the design (one, 'montage', when montage is not a design parameter).
    montage_fields : tuple of tuple
        Per montage, the regional normal field per mA of the waveform, V/m (R values).
    gains : tuple
        Polarization gain of each local population, model input units per V/m.
    frequency_hz, amplitude : float
        Drive frequency (Hz) and current amplitude (mA zero-to-peak) when not in the design.
    dt_ms, duration_ms, transient_ms : float
    record_every : int
    integrator : str
    band_hz : tuple
        () for each point's frequency +- 2 Hz.
    entrainment : bool
    seed : int
    montage_electrodes : tuple
        Per montage, the (electrode, current) pairs (for the content key and the metadata).
    initial : {'fixed_point', None}
        Every region starts at the local circuit's fixed point (uncoupled), or with synapses at
        rest (None; ``run.initial = 'synapses_at_rest'``).
    """

    models: tuple
    network: object
    names: tuple
    parameters: tuple
    montage_names: tuple
    montage_fields: tuple
    gains: tuple
    frequency_hz: float = math.nan
    amplitude: float = 1.0
    dt_ms: float = 0.05
    duration_ms: float = 2000.0
    transient_ms: float = 500.0
    record_every: int = 20
    integrator: str = "rk4"
    band_hz: tuple = ()
    entrainment: bool = True
    seed: int = 0
    montage_electrodes: tuple = field(default_factory=tuple)
    initial: object = "fixed_point"

    kind = "brain"

    # --- the sweep engine's interface (stimsim.sweep.run_sweep) ----------------------------
    @property
    def evaluate(self):
        return evaluate_brain_chunk

    def network_key(self):
        """sha256 of the base network's content (weights, lengths, labels, local circuit, sender, receivers)."""
        n = self.network
        h = hashlib.sha256()
        for a in (n.weights, n.lengths_mm):
            h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
        h.update(repr((n.region_labels, n.local.content_key(), n.sender, n.receivers, canonical(n.G),
                       canonical(n.speed_mm_per_ms))).encode())
        return h.hexdigest()

    def analysis_key(self):
        """Canonical text of everything besides the point that determines a task's result."""
        fields_hash = hashlib.sha256(np.ascontiguousarray(self.montage_fields, dtype="<f8").tobytes()).hexdigest()
        return "|".join(["brain", self.network_key(), fields_hash, repr(self.montage_electrodes),
                         ",".join(canonical(g) for g in self.gains), canonical(self.dt_ms),
                         canonical(self.duration_ms), canonical(self.transient_ms), str(self.record_every),
                         self.integrator, ",".join(canonical(b) for b in self.band_hz), str(self.entrainment),
                         str(int(self.seed)), str(self.initial)])

    def describe(self):
        return {"task_version": TASK_VERSION, "kind": self.kind, "models": list(self.models),
                "analysis": self.analysis_key(), "parameters": list(self.names),
                "montages": {m: dict(e) for m, e in zip(self.montage_names, self.montage_electrodes)},
                "drive": {"frequency_hz": canonical(self.frequency_hz), "amplitude_ma": canonical(self.amplitude)}}

    def columns(self):
        """Result columns (after point_id, model, the design parameters, region, task_key, status, reason)."""
        cols = {  # rows of a diverged or failed task: status and reason, every figure empty
            "field_v_per_m_per_ma": "normal field at the region per mA of the montage current, V/m",
                "mean_rate_hz": "mean rate of the output population with the stimulus, Hz",
                "baseline_rate_hz": "mean rate without the stimulus, Hz",
                "response_hz": "amplitude of the rate at the drive frequency (zero-to-peak), Hz",
                "phase_rad": "its phase relative to the current A cos(2 pi f t), rad",
                "gain_hz_per_v_per_m": "response_hz per V/m of the region's field amplitude (empty: no field there)",
                "band_power_hz2": "Welch power of the rate in the band, Hz^2",
                "baseline_band_power_hz2": "the same without the stimulus, Hz^2"}
        if self.entrainment:
            cols.update({"natural_freq_hz": "dominant frequency of the unstimulated region, Hz (empty: no rhythm)",
                         "self_oscillating": "the unstimulated region oscillates",
                         "mean_freq_hz": "mean frequency of the stimulated rate, Hz (empty: it does not oscillate)",
                         "ratio": "output : drive frequency ratio p:q (empty: no oscillation)",
                         "plv": "phase-locking value at p:q (empty: no oscillation)",
                         "plv_1to1": "1:1 phase-locking value (empty: no oscillation)",
                         "plv_surrogate": "chance level of the PLV (surrogate and unstimulated run; empty: no oscillation)",
                         "locked": "locked p:q", "locked_1to1": "locked 1:1"})
        return cols

    def row_columns(self):
        return ["point_id", "model", *self.names, "region", "task_key", "status", "reason", *self.columns()]

    def rows_per_point(self):
        """Rows of the result table per design point: one per model and region."""
        return len(self.models) * self.network.n_regions

    def chunk_size(self, n_points):
        """Points per chunk: trajectories of a chunk (2 lanes per point at most) within CHUNK_BYTES."""
        n_rec = int(round(self.duration_ms / self.dt_ms)) // self.record_every + 1
        per_point = 2 * n_rec * 4 * self.network.n_regions * self.network.local.n_populations * 8
        return int(min(64, max(1, CHUNK_BYTES // per_point), max(1, n_points)))

    # --- one point ---------------------------------------------------------------------------------
    def point(self, values, cache=None):
        """(network, G, speed, f, amplitude, montage index) at one row of design values; raises ValueError."""
        G, speed, f, a, mi = self.network.G, self.network.speed_mm_per_ms, self.frequency_hz, self.amplitude, 0
        local_values = []
        for name, v in zip(self.names, values):
            if name == "G":
                G = float(v)
            elif name == "speed_mm_per_ms":
                speed = float(v)
            elif name == "frequency_hz":
                f = float(v)
            elif name == "amplitude":
                a = float(v)
            elif name == "montage":
                mi = int(round(v))
            else:
                local_values.append(float(v))
        key = tuple(local_values)
        if cache is not None and key in cache:
            return cache[key], G, speed, f, a, mi
        local = self.network.local
        for name, par, v in zip(self.names, self.parameters, values):
            if par is not None:
                local = par.apply(local, float(v))
        net = self.network if local is self.network.local else self.network.replace(local=local)
        if cache is not None:
            cache[key] = net
        return net, G, speed, f, a, mi

    def public_values(self, values):
        """Design values as table cells: the montage's name instead of its index."""
        return {n: (self.montage_names[int(round(v))] if n == "montage" else float(v))
                for n, v in zip(self.names, values)}

    def task_key(self, model, values):
        text = repr((TASK_VERSION, str(model), self.analysis_key(),
                     tuple((n, canonical(float(v))) for n, v in zip(self.names, values))))
        return hashlib.sha256(text.encode()).hexdigest()


def evaluate_brain_chunk(spec, point_ids, values, numba_threads=None):
    """Every task of a chunk of points (the function executors run); a tidy DataFrame, one row per
    (point, model, region) (module docstring). Identical points of the chunk run once and each
    keeps its own rows (:func:`stimsim.sweep._points.evaluate_distinct`)."""
    return evaluate_distinct(_evaluate_points, spec, point_ids, values, numba_threads=numba_threads)


def _evaluate_points(spec, point_ids, values, numba_threads=None):
    """:func:`evaluate_brain_chunk` on points that are all different."""
    if numba_threads is not None:
        import numba

        numba.set_num_threads(max(1, min(int(numba_threads), numba.config.NUMBA_NUM_THREADS)))
    point_ids = np.asarray(point_ids, dtype=np.int64)
    values = np.asarray(values, dtype=float).reshape(len(point_ids), len(spec.names))
    frames = []
    cache = {}
    for model in spec.models:
        groups, failed = {}, []
        for pid, vals in zip(point_ids, values):
            try:
                net, G, speed, f, a, mi = spec.point(vals, cache)
                groups.setdefault((id(net), mi, f), (net, mi, f, []))[3].append((int(pid), vals, G, speed, a))
            except (ValueError, InputError) as exc:
                failed.append((int(pid), vals, str(exc).replace("\n", " ")))
        for pid, vals, reason in failed:
            frames.append(_status_rows(spec, model, pid, vals, "failed", reason))
        for net, mi, f, points in groups.values():
            frames.extend(_run_group(spec, model, net, mi, f, points))
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(["point_id", "model"], kind="stable").reset_index(drop=True).reindex(
        columns=spec.row_columns())


def _status_rows(spec, model, pid, vals, status, reason, net=None):
    labels = (net or spec.network).region_labels
    row = {"point_id": pid, "model": model, **spec.public_values(vals), "task_key": spec.task_key(model, vals),
           "status": status, "reason": reason}
    return pd.DataFrame([{**row, "region": lab} for lab in labels])


def _run_group(spec, model, net, mi, f, points):
    """One batch: a stimulated lane per point, an unstimulated lane per distinct (G, speed)."""
    from ._observables import regional_entrainment, regional_response, response_gain, segment_samples
    from ._simulate import RegionalStimulus, simulate_network

    base = {}
    for _, _, G, speed, _ in points:
        base.setdefault((G, speed), None)
    lanes = [(G, speed, a) for _, _, G, speed, a in points] + [(G, speed, 0.0) for G, speed in base]
    for j, k in enumerate(base):
        base[k] = len(points) + j
    per_ma = np.asarray(spec.montage_fields[mi], dtype=float)
    wave_dt = 0.5 * spec.dt_ms
    t = np.arange(int(round(spec.duration_ms / wave_dt)) + 1) * wave_dt
    wave = np.cos(2.0 * np.pi * f * t / MS_PER_S)                                       # mA per mA of amplitude
    gains = np.asarray(spec.gains, dtype=float)
    stim = RegionalStimulus(per_ma[None, :, None] * gains[None, None, :], wave[:, None], wave_dt)
    try:
        res = simulate_network(net, model, duration_ms=spec.duration_ms, dt_ms=spec.dt_ms, stimulus=stim,
                               record_every=spec.record_every, integrator=spec.integrator, initial=spec.initial,
                               G=np.array([x[0] for x in lanes]), speed_mm_per_ms=np.array([x[1] for x in lanes]),
                               field_scale=np.array([x[2] for x in lanes]), on_divergence="nan", progress=False)
    except (ValueError, InputError) as exc:
        return [_status_rows(spec, model, pid, vals, "failed", str(exc).replace("\n", " "), net)
                for pid, vals, *_ in points]
    bad = set(int(b) for b in res.diverged)
    rec_dt = spec.dt_ms * spec.record_every
    keep = res.time_ms >= spec.transient_ms - 1e-9
    t0 = float(res.time_ms[keep][0])
    rate = res.variable("r")[keep][:, :, net.sender_index, :]                      # (n, R, lanes), Hz
    band = spec.band_hz or (max(0.5, f - 2.0), f + 2.0)
    nper = segment_samples(int(keep.sum()), rec_dt)
    labels = list(net.region_labels)
    frames = []
    from ..analysis import LockingCriterion, band_power

    for b, (pid, vals, G, speed, a) in enumerate(points):
        rb = base[(G, speed)]
        key = spec.task_key(model, vals)
        if b in bad or rb in bad:
            frames.append(_status_rows(spec, model, pid, vals, "diverged",
                                       "the trajectory became non-finite; reduce dt_ms, G or the amplitude", net))
            continue
        y, y0 = rate[:, :, b].T, rate[:, :, rb].T
        reg = regional_response(y, rec_dt, t0_ms=t0, drive_hz=f, band_hz=band, labels=labels)
        out = pd.DataFrame({"point_id": pid, "model": model, **spec.public_values(vals), "region": labels,
                            "task_key": key, "status": "ok", "reason": "", "field_v_per_m_per_ma": per_ma,
                            "mean_rate_hz": reg.mean_rate_hz, "baseline_rate_hz": y0.mean(axis=1),
                            "response_hz": reg.response_hz, "phase_rad": reg.phase_rad,
                            "gain_hz_per_v_per_m": response_gain(reg.response_hz, per_ma * a),
                            "band_power_hz2": reg.band_power_hz2,
                            "baseline_band_power_hz2": np.asarray(band_power(y0, rec_dt, tuple(band), nperseg=nper),
                                                                  dtype=float)})
        if spec.entrainment:
            ent = regional_entrainment(y, y0, rec_dt, f, t0_ms=t0, criterion=LockingCriterion(seed=spec.seed), key=key)
            out = pd.concat([out, ent[list(ENTRAINMENT_COLUMNS)]], axis=1)
        frames.append(out)
    return frames


def validate_brain_sweep(table, bp, source="protocol"):
    """Validate a whole-brain ``[sweep]`` table against a loaded :class:`BrainProtocol`; return
    (BrainTaskSpec, Design, chunk_size). Raises :class:`stimsim.protocol.reader.ProtocolError`."""
    from ..analysis import LockingCriterion
    from ..continuation import parameter as parse_parameter
    from ._fields import Montage, RegionalField

    r = Reader(table, "sweep", source)
    r.reject_unknown(KEYS)
    design_kind = r.string("design", "grid", DESIGNS)
    local = bp.network.local
    params = table.get("parameters")
    if not isinstance(params, dict) or not params:
        r.fail("is required: a table {name = values} of at least one parameter", "parameters")
    pr = r.child("parameters")
    # montages: [sweep.montages] when montage is a design parameter, else [montage].electrodes
    montages = {}
    if "montage" in params:
        raw = table.get("montages")
        if not isinstance(raw, dict) or not raw:
            r.fail("is required when montage is a design parameter: a table {name = {ELECTRODE = current}}", "montages")
        if bp.montage_fields_source != "sphere":
            r.fail("montage sweeps compute each montage's fields from the sphere model; set montage.fields = "
                   "'sphere'", "montages")
        for name, el in raw.items():
            if not isinstance(el, dict) or not el:
                r.fail(f"must be a table {{ELECTRODE = current per waveform unit}}, got {show(el)}",
                       f"montages.{key_text(str(name))}")
            try:
                montages[str(name)] = Montage(tuple(el), tuple(float(v) for v in el.values()))
            except (InputError, TypeError, ValueError) as exc:
                r.fail(str(exc), f"montages.{key_text(str(name))}")
    elif r.has("montages"):
        r.fail("applies only when montage is a design parameter ([sweep.parameters] montage = [...])", "montages")
    names, parsed, values, entries = [], [], {}, {}
    for name, raw in params.items():
        name = str(name)
        key = key_text(name)
        par = None
        if name == "montage":
            if design_kind not in ("grid", "list"):
                pr.fail(f"a montage axis needs design = 'grid' or 'list' (here {design_kind!r})", key)
            if not isinstance(raw, list) or not raw or not all(isinstance(v, str) for v in raw):
                pr.fail(f"must be a non-empty list of names of [sweep.montages], got {show(raw)}", key)
            unknown = [v for v in raw if v not in montages]
            if unknown:
                pr.fail(f"{unknown[0]!r} is not in [sweep.montages]{closest(unknown[0], list(montages))}; "
                        f"allowed: {', '.join(montages)}", key)
            if design_kind == "grid" and len(set(raw)) != len(raw):
                pr.fail(f"has repeated names: {raw}", key)
            order = list(montages)
            values[name] = [float(order.index(v)) for v in raw]
            names.append(name)
            parsed.append(None)
            continue
        if name not in NETWORK_PARAMETERS:
            try:
                par = parse_parameter(name, local, None)
            except InputError as exc:
                pr.fail(f"{exc} (network parameters: {', '.join(NETWORK_PARAMETERS)})", key)
            check_distinct(pr, key, par, local, entries)
        minimum = {"speed_mm_per_ms": 0.0, "frequency_hz": 0.0}.get(name)
        vals = axis_values(pr, key, raw, design_kind)
        for v in (min(vals), max(vals)):
            if par is not None:
                try:
                    par.check_value(v, "each value")
                except InputError as exc:
                    pr.fail(str(exc), key)
            elif minimum is not None and v <= minimum:
                unit = "mm/ms (= m/s)" if name == "speed_mm_per_ms" else "Hz"
                pr.fail(f"values must be > 0 {unit}, got {v:g}", key)
            elif name == "amplitude" and v < 0:
                pr.fail(f"amplitudes are mA zero-to-peak >= 0, got {v:g}", key)
            elif not math.isfinite(v):
                pr.fail(f"values must be finite, got {v!r}", key)
        names.append(name)
        parsed.append(par)
        values[name] = list(vals)
    design, seed = read_design(r, design_kind, values, default_n=100)
    f_fixed = r.number("frequency_hz", None, minimum=0.0, exclusive=True, unit="Hz")
    if "frequency_hz" not in names and f_fixed is None:
        r.fail("is required unless frequency_hz is a design parameter", "frequency_hz")
    amplitude = r.number("amplitude", 1.0, minimum=0.0, unit="mA")
    ent = r.boolean("entrainment", True)
    c = bp.carrier
    freqs = values.get("frequency_hz", [f_fixed])
    f_lo, f_hi = min(freqs), max(freqs)
    window = c.duration_ms - c.transient_ms
    rec_dt = c.dt_ms * c.record_every
    if rec_dt * f_hi * (4 if ent else 1) > MS_PER_S / 6:
        need = "24 samples per period of 4 x" if ent else "6 samples per period of"
        r.fail(f"run.record_every = {c.record_every} records every {rec_dt:g} ms: fewer than {need} the highest "
               f"frequency {f_hi:g} Hz; lower run.record_every", "frequency_hz" if "frequency_hz" not in names else "parameters")
    if window * f_lo / MS_PER_S < 1.0:
        r.fail(f"the analysed {window:g} ms (run.duration_ms - run.transient_ms) hold less than one cycle of "
               f"{f_lo:g} Hz; lengthen the run", "frequency_hz" if "frequency_hz" not in names else "parameters")
    if ent:
        need = 4 * LockingCriterion().segment_cycles
        if window * f_lo / MS_PER_S < need:
            r.fail(f"the analysed {window:g} ms (run.duration_ms - run.transient_ms) hold "
                   f"{window * f_lo / MS_PER_S:.3g} cycles of {f_lo:g} Hz, fewer than the {need:g} the per-region "
                   "phase-locking test needs; lengthen the run or set entrainment = false", "entrainment")
    band = ()
    if r.has("band_hz"):
        raw = r.get("band_hz")
        if not (isinstance(raw, list) and len(raw) == 2):
            r.fail(f"must be [low, high] Hz, got {show(raw)}", "band_hz")
        band = tuple(r.as_number(v, f"band_hz[{i}]", 0.0, False, "Hz") for i, v in enumerate(raw))
        if band[0] >= band[1]:
            r.fail(f"must be [low, high] Hz with low < high, got {show(raw)}", "band_hz")
    resolution = MS_PER_S / min(window, MS_PER_S)
    width = (band[1] - band[0]) if band else 4.0
    if width < 2 * resolution:
        r.fail(f"the band spans fewer than 2 frequency bins of the analysed {window:g} ms (resolution "
               f"{resolution:.3g} Hz); widen it or lengthen the run", "band_hz")
    chunk = r.integer("chunk_size", None, minimum=1) if r.has("chunk_size") else None
    if montages:
        fields = []
        for m in montages.values():
            try:
                fields.append(RegionalField.from_sphere(bp.connectome, m).normal_v_per_m_per_ma * m.injected_current_ma)
            except InputError as exc:
                r.fail(str(exc), "montages")
        names_m, electrodes = tuple(montages), tuple(tuple(zip(m.electrodes, m.currents_ma)) for m in montages.values())
    else:
        m0, fl0 = bp.montage[0], bp.field[0]
        fields = [fl0.normal_v_per_m_per_ma * m0.injected_current_ma]
        names_m, electrodes = ("montage",), (tuple(zip(m0.electrodes, m0.currents_ma)),)
    for model in c.models:
        if not _models.get(model).lane_kernel:
            have = [m for m in _models.available() if _models.get(m).lane_kernel]
            raise ProtocolError(f"{source}: run.models: model {model!r} cannot run in a whole-brain sweep: it lacks "
                                "the capability 'lane_kernel' (a sweep runs points as lanes of one batched kernel); "
                                f"use a model that has it: {', '.join(have)}")
    task = BrainTaskSpec(models=tuple(c.models), network=bp.network, names=tuple(names), parameters=tuple(parsed),
                         montage_names=names_m, montage_fields=tuple(tuple(float(x) for x in f) for f in fields),
                         gains=tuple(float(g) for g in bp.coupling.gains(local)),
                         frequency_hz=f_fixed if f_fixed is not None else math.nan, amplitude=amplitude,
                         dt_ms=c.dt_ms, duration_ms=c.duration_ms, transient_ms=c.transient_ms,
                         record_every=c.record_every, integrator=c.integrator, band_hz=band, entrainment=ent,
                         seed=seed, montage_electrodes=electrodes,
                         initial="fixed_point" if c.initial == "fixed_point" else None)
    return task, design, chunk
