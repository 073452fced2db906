"""Reading and validating whole-brain protocol files (schema: ``stimsim.brain._protocol``).

:func:`load_brain_protocol` reads a file through the shared protocol reader
(:mod:`stimsim.protocol.reader`: key paths and did-you-mean hints in every message), builds the
connectome, the network, the montages and their regional fields, and validates the local circuit,
``[run]`` and the montage waveforms as a circuit protocol (one "carrier" per montage channel,
:func:`stimsim.protocol.schema.load_dict`), the analysed windows, and the run of every model
(:func:`stimsim.brain._simulate.check_network_run`); nothing is simulated. A ``[sweep]`` table is
validated by :func:`stimsim.brain._sweep.validate_brain_sweep`.

Before any matrix of the size of the network is allocated, the peak memory of the run is
estimated (:func:`estimate_brain_memory`) and a run that would not fit in
:func:`stimsim.protocol.checks.memory_limit_bytes` is refused; the estimate is kept for
``metadata.json``.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import models as _models
from ..coupling import FieldCoupling
from ..errors import InputError, closest
from ..protocol import checks as _checks
from ..protocol import kinds
from ..protocol import waveforms as _wf
from ..protocol.reader import ProtocolError, Reader, apply_sets, read_file, show
from ..protocol.schema import load_dict
from ._connectome import (
    generated_connectome,
    generated_connectome_bytes,
    load_tvb_zip,
    tvb_data_connectome,
)
from ._eeg import eeg_lead_field
from ._estimate import estimate_brain_memory
from ._fields import (
    MAX_FIELD_V_PER_M,
    Montage,
    RegionalField,
    canonical_electrode,
    peak_fields_v_per_m,
)
from ._network import BrainNetwork
from ._simulate import check_network_run
from ._sweep import validate_brain_sweep

#: top-level keys of a whole-brain protocol (with or without [sweep]), as the kinds declare them
TOP_KEYS = kinds.BRAIN_SWEEP.keys
NETWORK_KEYS = ("connectome", "regions", "seed", "normalise", "local", "G", "speed_mm_per_ms", "sender", "receivers")
MONTAGE_KEYS = ("electrodes", "fields", "lambda_mm", "waveforms", "channels")
CHANNEL_KEYS = ("electrodes", "waveforms")
ANALYSIS_KEYS = ("band_hz", "eeg_electrodes", "drive_frequency_hz", "after_stimulation")
#: the 10-20 system's 19 electrodes: the default simulated EEG
EEG_10_20 = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4",
             "P8", "O1", "O2")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: largest montage.lambda_mm, mm: ten times the largest measured somatic polarization length
#: (0.1-0.5 mm; Bikson et al. 2004, Radman et al. 2009) and longer than any cortical neuron
MAX_LAMBDA_MM = 10.0



@dataclass(frozen=True)
class BrainProtocol:
    """A validated whole-brain protocol (schema: ``stimsim.brain._protocol``)."""

    name: str
    description: str
    connectome: object
    network: object
    montage: object                  # tuple of Montage, one per channel
    field: object                    # tuple of RegionalField (V/m per mA), one per channel
    carrier: object                  # a stimsim Protocol holding the local circuit, run and the first channel's waveforms (mA)
    band_hz: tuple
    eeg_electrodes: tuple
    G_values: tuple
    coupling: object
    resolved: dict = field(repr=False)
    carriers: tuple = ()             # one per channel (waveforms in mA on the run's grid)
    drive_frequency_hz: float = None
    montage_fields_source: str = "sphere"
    windows: tuple = ()              # (name, start_ms, stop_ms): 'during' and, after the current ends, 'after'
    sweep: object = None             # (BrainTaskSpec, Design, chunk_size) of a [sweep] table (stimsim sweep)
    drive_frequency_source: str = ""  # why drive_frequency_hz is what it is (for the summary and metadata)
    field_peak_v_per_m: object = None  # (R,) each region's field when its magnitude is largest, V/m
    eeg_lead: object = None          # the EEGLeadField of eeg_electrodes
    estimate: dict = field(default_factory=dict)   # estimate_brain_memory: memory (bytes) and table rows


def model_options(carrier, model, progress=None):
    """The options of ``simulate_network`` for ``model`` (``network_options``): the protocol's
    values of the options the model declares, or None for a model that declares none."""
    return carrier.model_options(model, progress) if _models.get(model).options else None


def _table(top, key, keys, required=True):
    """A Reader of the top-level table ``key`` whose keys must be among ``keys``."""
    if required and not top.has(key):
        top.fail("is required", key)
    r = top.child(key)
    r.reject_unknown(keys)
    return r


def _connectome(net, check_size):
    """The connectome of [network], normalised; ``check_size(R, connections, generated)`` runs
    before a generated connectome is allocated (and after a file is read)."""
    spec = net.get("connectome", "generated")
    norm = net.string("normalise", "max", ("max", "row_sum", "none"))

    def only_generated():
        for k in ("regions", "seed"):
            if net.has(k):
                net.fail("applies only to connectome = 'generated'", k)

    if spec == "generated":
        regions, seed = net.integer("regions", 40, minimum=2), net.integer("seed", 0, minimum=0)
        check_size(regions, regions * (regions - 1), True)          # before any R x R matrix exists
        try:
            conn = generated_connectome(regions, seed=seed)
        except InputError as exc:
            net.fail(str(exc), "regions")
    elif isinstance(spec, str) and spec.startswith("tvb-data:"):
        only_generated()
        conn = tvb_data_connectome(spec.split(":", 1)[1])
    elif isinstance(spec, str):
        path = Path(spec) if Path(spec).is_absolute() else Path(net.source).resolve().parent / spec
        if not path.is_file():
            net.fail(f"{spec!r} is not 'generated', 'tvb-data:NAME' or an existing TVB zip", "connectome")
        only_generated()
        conn = load_tvb_zip(path)
    else:
        net.fail(f"must be a string, got {show(spec)}", "connectome")
    if spec != "generated":
        check_size(conn.n_regions, int(np.count_nonzero(conn.weights)), False)
    return conn.normalised(norm) if norm != "none" else conn


def _channels(mon, sweeping=False):
    """[(key path, electrodes, waveforms)]: one channel from electrodes + waveforms, or montage.channels.

    A sweep drives one channel with its own sinusoid: no waveforms, no channels."""
    if sweeping:
        for k in ("waveforms", "channels"):
            if mon.has(k):
                mon.fail("a [sweep] drives one montage with its own sinusoid (sweep.frequency_hz, sweep.amplitude "
                         "in mA); remove it", k)
        electrodes = mon.get("electrodes", None)
        if electrodes is None:
            return []
        if not isinstance(electrodes, dict) or not electrodes:
            mon.fail("must be a table {ELECTRODE = current per waveform unit}", "electrodes")
        return [("montage", electrodes, [])]
    if mon.has("channels"):
        for k in ("electrodes", "waveforms"):
            if mon.has(k):
                mon.fail("give either montage.channels or montage.electrodes and montage.waveforms", k)
        chans = mon.get("channels")
        if not isinstance(chans, list) or not chans:
            mon.fail("must be a non-empty list of tables {electrodes, waveforms}", "channels")
        raw = [Reader(ch, mon.where(f"channels[{i}]"), mon.source) for i, ch in enumerate(chans)]
    else:
        raw = [Reader({k: mon.data[k] for k in CHANNEL_KEYS if k in mon.data}, "montage", mon.source)]
    out = []
    for ch in raw:
        ch.reject_unknown(CHANNEL_KEYS)
        electrodes, waves = ch.get("electrodes", None), ch.get("waveforms", None)
        if not isinstance(electrodes, dict) or not electrodes:
            ch.fail("is required: a table {ELECTRODE = current per waveform unit}", "electrodes")
        if not isinstance(waves, list) or not waves:
            ch.fail("is required: a list of waveform tables (amplitudes in mA)", "waveforms")
        out.append((ch.path, electrodes, waves))
    return out


def load_brain_protocol(path, sets=None):
    """Read and validate a whole-brain protocol file; nothing is simulated.

    Raises
    ------
    stimsim.errors.InputError
        One line ``<file>: <key.path>: <problem>``; for a circuit protocol, one line naming the
        command that runs it (:mod:`stimsim.protocol.kinds`).
    """
    source = str(path)
    data = read_file(path)
    if sets:
        data = apply_sets(data, sets, source)
    top = Reader(data, "", source)
    kind = kinds.kind_of(data)
    if kind in (kinds.CIRCUIT, kinds.CIRCUIT_SWEEP):
        raise ProtocolError(kinds.wrong_kind(source, kind))
    top.reject_unknown(TOP_KEYS)
    name = top.string("name", Path(source).stem)
    if not NAME_PATTERN.match(name):
        top.fail(f"must be a folder-safe name, got {name!r}", "name")
    net = _table(top, "network", NETWORK_KEYS)
    mon = _table(top, "montage", MONTAGE_KEYS)
    ana = _table(top, "analysis", ANALYSIS_KEYS, required=False)
    local = net.get("local", "pyramidal")
    circuit = {"preset": local} if isinstance(local, str) else local
    if not isinstance(circuit, dict):
        net.fail(f"must be a preset name or {{preset, overrides}}, got {show(local)}", "local")
    sweeping = top.has("sweep")
    if sweeping and top.has("analysis"):
        top.fail("a sweep's analysis is set in [sweep] (band_hz, entrainment); remove [analysis]", "analysis")
    channels = _channels(mon, sweeping)
    # [analysis] keys that need no run: the analysed frequency (given, or from the channels' raw
    # waveforms, so that every channel is validated against it) and the EEG electrodes
    f_given = ana.number("drive_frequency_hz", None, minimum=0.0, exclusive=True, unit="Hz")
    eeg = _eeg_names(ana)
    after = ana.boolean("after_stimulation", True)
    f_source = "analysis.drive_frequency_hz"
    f = f_given
    if f is None and not sweeping:
        f, f_source = _default_frequency(ana, [waves for _, _, waves in channels])
    carriers = []
    for where, _, waves in channels or [("montage", None, [])]:
        carrier_dict = {"name": name, "circuit": circuit, "run": data.get("run", {}),
                        "stimulation": {"unit": "current", "waveforms": waves}}
        if f is not None:
            carrier_dict["analysis"] = {"drive_frequency_hz": f}       # checked against the recording
        try:
            carriers.append(load_dict(carrier_dict, source))
        except ProtocolError as exc:
            msg = str(exc).replace("stimulation.waveforms", f"{where}.waveforms").replace(": circuit", ": network.local")
            if f_given is None and ": analysis.drive_frequency_hz: " in msg:
                msg += f" (the default analysed frequency: {f_source}; set analysis.drive_frequency_hz)"
            raise InputError(msg) from None
    carrier = carriers[0]
    if f is None and f_source is None:           # a waveform the default could not read: the first channel's rhythm
        f, f_source = carrier.drive_frequency_hz, "the first channel's rhythm"
    G_values = net.get("G", 0.0)
    G_values = G_values if isinstance(G_values, list) else [G_values]
    if not G_values or not all(isinstance(g, (int, float)) and not isinstance(g, bool) for g in G_values):
        net.fail(f"must be a number or a non-empty list of numbers, got {net.data.get('G')!r}", "G")
    if len(set(G_values)) != len(G_values):
        net.fail(f"has repeated values: {G_values}", "G")
    G = float(G_values[0])
    windows = () if sweeping else analysis_windows(carriers, after)
    if not sweeping and not windows:
        mon.fail(f"the montage current is zero throughout the analysed window "
                 f"[{carrier.transient_ms:g}, {carrier.duration_ms:g}] ms (run.transient_ms, run.duration_ms)",
                 "waveforms")
    estimate = {}

    def check_size(R, connections, generated):
        estimate.update(estimate_brain_memory(R, connections, carrier, 2 * len(G_values), len(eeg), windows,
                                              len(carriers), generated))
        _check_memory(estimate, source, R, connections, generated, carrier, len(eeg), len(G_values), windows,
                      len(carriers))

    conn = _connectome(net, check_size)
    speed = net.get("speed_mm_per_ms", 5.0)
    try:
        network = BrainNetwork.from_connectome(conn, carrier.circuit, G=G, speed_mm_per_ms=speed,
                                               sender=net.get("sender", carrier.circuit.names[0]),
                                               receivers=net.get("receivers", None))
    except InputError as exc:
        raise InputError(f"{source}: network: {exc}") from None
    montages, fields_ = [], []
    for where, electrodes, _ in channels:
        try:
            montages.append(Montage(tuple(electrodes), tuple(float(v) for v in electrodes.values())))
        except (InputError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: {where}.electrodes: {exc}") from None
    fields = mon.get("fields", "sphere")
    if fields != "sphere" and len(channels) > 1:
        mon.fail("a field table describes one montage; with several channels use 'sphere'", "fields")
    try:
        for m in montages:
            if fields == "sphere":
                fields_.append(RegionalField.from_sphere(conn, m))
            else:
                p = Path(fields) if Path(fields).is_absolute() else Path(source).resolve().parent / str(fields)
                fields_.append(RegionalField.from_table(p, conn))
    except InputError as exc:
        raise InputError(f"{source}: montage.fields: {exc}") from None
    coupling = _coupling(mon, carrier.circuit)
    field_peak = None if sweeping else _field_peak(mon, channels, carriers, montages, fields_, conn)
    rec_dt = carrier.dt_ms * carrier.record_every
    band = _band(ana, f, rec_dt)
    for wname, lo, hi in windows:
        window = hi - lo
        what = ("the analysed" if wname == "during" else "the") + f" {window:g} ms {wname} stimulation"
        hint = "lengthen the run" if wname == "during" else "lengthen the run or set analysis.after_stimulation = false"
        if window / rec_dt + 1 < 8 - 1e-9:
            raise InputError(f"{source}: run.duration_ms: {what} [{lo:g}, {hi:g}] ms hold fewer than 8 recorded "
                             f"samples (every dt_ms x record_every = {rec_dt:g} ms) for their spectra; {hint} or "
                             "lower run.record_every")
        resolution = 1000.0 / min(window, 1000.0)            # Hz: Welch segments of at most 1 s
        if band[1] - band[0] < 2 * resolution:
            ana.fail(f"{list(band)} Hz spans fewer than 2 frequency bins of {what} [{lo:g}, {hi:g}] ms (resolution "
                     f"{resolution:.3g} Hz); widen the band or {hint}", "band_hz")
        if f and window * f / 1000.0 < 1.0:
            raise InputError(f"{source}: run.duration_ms: {what} [{lo:g}, {hi:g}] ms hold less than one cycle of "
                             f"the {f:g} Hz drive; {hint}")
    try:
        lead = eeg_lead_field(conn, eeg)
    except InputError as exc:
        raise InputError(f"{source}: analysis.eeg_electrodes: {exc}") from None
    resolved = {"name": name, "description": data.get("description", ""), "network": net.data, "montage": mon.data,
                "run": carrier.resolved["run"], "analysis": {"band_hz": list(band), "eeg_electrodes": list(eeg)}}
    if f is not None and not sweeping:
        resolved["analysis"]["drive_frequency_hz"] = float(f)
    if not sweeping:
        # every model's checks that need no stimulus (grid, delays, options, memory) before any runs
        for model in carrier.models:
            try:
                check_network_run(network, model, carrier.duration_ms, carrier.dt_ms, carrier.record_every,
                                  carrier.integrator, G=np.repeat(G_values, 2), speed_mm_per_ms=None,
                                  field_scale=np.tile([1.0, 0.0], len(G_values)),
                                  options=model_options(carrier, model))
            except InputError as exc:
                raise InputError(f"{source}: run (model {model!r}): {exc}") from None
    bp = BrainProtocol(name=name, description=str(data.get("description", "")), connectome=conn, network=network,
                       montage=tuple(montages), field=tuple(fields_), carrier=carrier, carriers=tuple(carriers),
                       drive_frequency_hz=float(f) if f else None, band_hz=band,
                       eeg_electrodes=eeg, G_values=tuple(float(g) for g in G_values), coupling=coupling,
                       resolved=json.loads(json.dumps(resolved)), montage_fields_source=str(fields),
                       windows=tuple(windows), drive_frequency_source=f_source if f else "no periodic waveform",
                       field_peak_v_per_m=field_peak, eeg_lead=lead, estimate=dict(estimate))
    if sweeping:
        return _with_sweep(bp, top)
    return bp


def _eeg_names(ana):
    """``analysis.eeg_electrodes`` in their standard spelling: a list of at least 2 distinct 10-20/10-05
    names (the EEG is average-referenced, so one electrode alone would read 0)."""
    raw = ana.get("eeg_electrodes", list(EEG_10_20))
    allowed = ('a list of at least 2 distinct 10-20/10-05 electrode names, e.g. ["Fz", "Cz", "Pz"] (the EEG is '
               'average-referenced: one electrode alone reads 0)')
    if not isinstance(raw, list) or len(raw) < 2:
        ana.fail(f"must be {allowed}, got {_show_json(raw)}", "eeg_electrodes")
    names = []
    for i, e in enumerate(raw):
        if not isinstance(e, str):
            ana.fail(f"must be an electrode name (a string), got {show(e)}", f"eeg_electrodes[{i}]")
        try:
            names.append(canonical_electrode(e))
        except InputError as exc:
            ana.fail(str(exc), f"eeg_electrodes[{i}]")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        ana.fail(f"must be {allowed}; repeated: {', '.join(repeated)}", "eeg_electrodes")
    return tuple(names)


def _show_json(value):
    """A value as written in a protocol file, shortened for a one-line message."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _rhythm(waves):
    """Frequency (Hz) of the first periodic waveform among a channel's raw waveform tables (as the
    circuit schema picks a drive frequency), None when it has none, ... when a table cannot be read
    (it is then reported by the schema)."""
    if not isinstance(waves, list):
        return ...
    for raw in waves:
        cls = _wf.KINDS.get(raw.get("kind")) if isinstance(raw, dict) and isinstance(raw.get("kind"), str) else None
        if cls is None:
            return ...
        if cls.drive_frequency_hz is _wf.Waveform.drive_frequency_hz:
            continue                                     # a kind without a rhythm (DC, noise, CSV)
        try:
            w = cls(**{k: v for k, v in raw.items() if k != "kind"})
        except (TypeError, ValueError, AttributeError, ArithmeticError):     # bad values: the schema says which
            return ...
        if w.drive_frequency_hz is not None:
            return float(w.drive_frequency_hz)
    return None


def _default_frequency(ana, channel_waves):
    """(frequency Hz or None, why) of the analysis when ``analysis.drive_frequency_hz`` is not given.

    The channels' rhythms (each channel's first periodic waveform): none, no frequency; one value
    (one channel, or channels at the same frequency), that frequency; two values f1 != f2 (a
    temporal-interference montage), the envelope |f1 - f2|; more, an error (give it). (None, None)
    when a waveform table cannot be read (the schema then reports it)."""
    rhythms = [_rhythm(w) for w in channel_waves]
    if any(r is ... for r in rhythms):
        return None, None
    freqs = sorted({r for r in rhythms if r is not None})
    if not freqs:
        return None, "no periodic waveform"
    if len(freqs) == 1:
        return freqs[0], ("the montage waveform's rhythm" if len(channel_waves) == 1 else
                          "the rhythm common to the channels' waveforms")
    if len(freqs) == 2:
        return abs(freqs[1] - freqs[0]), (f"the envelope |f1 - f2| of the channels' carriers {freqs[0]:g} and "
                                          f"{freqs[1]:g} Hz")
    ana.fail(f"is required when the channels' carriers take more than two frequencies "
             f"({', '.join(f'{v:g}' for v in freqs)} Hz): give the frequency to analyse", "drive_frequency_hz")


def _coupling(mon, circuit):
    """``montage.lambda_mm``: none (the cell-type defaults), a number or {population = number}, each
    in [0, MAX_LAMBDA_MM] mm."""
    raw = mon.get("lambda_mm", None)
    if raw is None:
        return FieldCoupling()

    def value(v, key):
        lam = mon.as_number(v, key, 0.0, unit="mm")
        if lam > MAX_LAMBDA_MM:
            mon.fail(f"must be <= {MAX_LAMBDA_MM:g} mm, got {lam:g} (ten times the largest measured somatic "
                     f"polarization length, 0.1-0.5 mm: Bikson et al. 2004, Radman et al. 2009)", key)
        return lam

    if isinstance(raw, dict):
        for pop in raw:
            if pop not in circuit.names:
                mon.fail(f"unknown population {pop!r}{closest(str(pop), circuit.names)}; allowed: "
                         f"{', '.join(circuit.names)}", "lambda_mm")
        lam = {pop: value(v, f"lambda_mm.{pop}") for pop, v in raw.items()}
    else:
        lam = value(raw, "lambda_mm")
    coupling = FieldCoupling(lambda_mm=lam)
    try:
        coupling.gains(circuit)
    except ValueError as exc:
        mon.fail(str(exc), "lambda_mm")
    return coupling


def _field_peak(mon, channels, carriers, montages, fields_, conn):
    """(R,) each region's field at its peak, V/m; refused above MAX_FIELD_V_PER_M or non-finite."""
    waves_ma = np.stack([k.drive_grid()[1] for k in carriers], axis=1)              # (n, channels), mA
    per_ma = np.stack([fl.normal_v_per_m_per_ma * m.injected_current_ma for fl, m in zip(fields_, montages)])
    peak = peak_fields_v_per_m(waves_ma, per_ma)
    mag = np.where(np.isnan(peak), np.inf, np.abs(peak))
    k = int(np.argmax(mag))
    if mag[k] > MAX_FIELD_V_PER_M:
        current = float(np.max(np.abs(waves_ma)))
        key = f"{channels[0][0]}.waveforms" if len(channels) == 1 else "montage.channels"
        mon.fail(f"the montage current (peak {current:.3g} mA) gives region {conn.region_labels[k]} a field of "
                 f"{mag[k]:.3g} V/m, more than {MAX_FIELD_V_PER_M:g} V/m: the field coupling lambda E / scale is a "
                 "weak-field model (linear membrane polarization, docs/models.md M6) and 1000 V/m is ten times "
                 "the cortical field of a TMS pulse; lower the amplitude", key.removeprefix("montage."))
    return peak


def _band(ana, f, rec_dt):
    """``analysis.band_hz`` as (low, high) Hz, finite, 0 <= low < high <= the recording's Nyquist
    frequency; default: the drive frequency +- 2 Hz (within 0.5 Hz and Nyquist), else 8-12 Hz."""
    nyquist = 1000.0 / (2.0 * rec_dt)
    if not ana.has("band_hz"):
        return (max(0.5, f - 2.0), min(f + 2.0, nyquist)) if f else (8.0, 12.0)
    raw = ana.get("band_hz")
    message = f"must be [low, high] Hz with 0 <= low < high, got {raw!r}"
    if not (isinstance(raw, list) and len(raw) == 2):
        ana.fail(message, "band_hz")
    band = tuple(ana.as_number(v, f"band_hz[{i}]", 0.0, unit="Hz") for i, v in enumerate(raw))
    if band[0] >= band[1]:
        ana.fail(message, "band_hz")
    if band[1] > nyquist:
        ana.fail(f"{list(band)} Hz reaches above the Nyquist frequency {nyquist:g} Hz of the recorded series "
                 f"(dt_ms x record_every = {rec_dt:g} ms); lower the band or run.record_every", "band_hz")
    return band


def _check_memory(estimate, source, R, connections, generated, carrier, n_electrodes, n_G, windows, n_channels):
    """Refuse a run whose estimated peak memory exceeds ``stimsim.protocol.checks.memory_limit_bytes()``:
    one line naming the key to change (network.regions or network.connectome when the network's
    size dominates, else run.record_every), its value and what would fit."""
    mem = estimate["memory_bytes"]
    limit = _checks.memory_limit_bytes()
    if mem["total"] <= limit:
        return
    gib = 2.0**30
    which = (f"{_checks.MEMORY_FRACTION:.0%} of this machine's {limit / _checks.MEMORY_FRACTION / gib:.0f} GiB"
             if _checks.MAX_MEMORY_BYTES is None else "stimsim.protocol.checks.MAX_MEMORY_BYTES")
    names = (("connectome", "connectome matrices"), ("delay_tables", "delay tables"),
             ("recordings", "recordings and their analysis"), ("eeg", "EEG traces"), ("tables", "tables"),
             ("drive", "drive"))
    parts = ", ".join(f"{label} {mem[k] / gib:.3g}" for k, label in names)
    size = max(mem["connectome"] + mem["delay_tables"], generated_connectome_bytes(R) if generated else 0.0)
    if size >= mem["recordings"] + mem["eeg"] + mem["tables"] + mem["drive"]:
        if generated:
            def fits(n):
                return estimate_brain_memory(n, n * (n - 1), carrier, 2 * n_G, n_electrodes, windows, n_channels,
                                             True)["memory_bytes"]["total"] <= limit
            lo, hi = 1, int(R)                           # fits(lo) or lo == 1; not fits(hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if fits(mid) else (lo, mid)
            key = "network.regions"
            advice = (f"use regions <= {lo:,} (now {R:,}; {connections:,} connections)" if lo >= 2 else
                      f"even 2 regions do not fit (now {R:,}); raise run.record_every or shorten run.duration_ms")
        else:
            key = "network.connectome"
            advice = f"its {R:,} regions and {connections:,} connections do not fit; use a smaller connectome"
    else:
        key = "run.record_every"
        advice = (f"raise run.record_every (now {carrier.record_every}) or shorten run.duration_ms (now "
                  f"{carrier.duration_ms:g} ms), or use fewer analysis.eeg_electrodes (now {n_electrodes}), "
                  f"network.G values (now {n_G}) or run.models (now {len(carrier.models)})")
    raise ProtocolError(f"{source}: {key}: the run would need about {mem['total'] / gib:.3g} GiB of memory at its "
                        f"peak (GiB: {parts}), more than {limit / gib:.3g} GiB ({which}); {advice}")


def _with_sweep(bp, top):
    """The protocol with its validated [sweep] (stimsim.brain._sweep)."""
    sw = top.child("sweep")                             # fails unless a table
    if isinstance(top.data["network"].get("G"), list):
        top.fail("is one value in a sweep; sweep G with [sweep.parameters] G = [...]", "network.G")
    params = sw.data.get("parameters") if isinstance(sw.data.get("parameters"), dict) else {}
    if not bp.montage and "montage" not in params:
        top.fail("is required unless montage is a sweep parameter", "montage.electrodes")
    sweep = validate_brain_sweep(sw.data, bp, top.source)
    resolved = dict(bp.resolved, sweep=json.loads(json.dumps(sw.data)))
    resolved.pop("analysis", None)
    return dataclasses.replace(bp, sweep=sweep, resolved=resolved)


def analysis_windows(carriers, after=True):
    """The analysed windows of a run, ((name, start_ms, stop_ms), ...), from its montage currents.

    'during': from the transient's end (or the current's onset, if later) to the current's end (or
    the run's end); 'after': from the current's end to the run's end, when the current ends before
    the run does and ``after``. A window is a span of the recording grid; () when the current is
    zero throughout the analysed time.
    """
    c = carriers[0]
    t, _ = c.drive_grid()
    waves = np.stack([k.drive_grid()[1] for k in carriers], axis=1)
    peak = float(np.max(np.abs(waves))) if waves.size else 0.0
    on = np.any(np.abs(waves) > 1e-12 * peak, axis=1) if peak > 0 else np.zeros(t.size, dtype=bool)
    on &= t >= c.transient_ms - 1e-9
    if not on.any():
        return ()
    rec_dt = c.dt_ms * c.record_every
    first, last = t[np.argmax(on)], t[on.size - 1 - np.argmax(on[::-1])]
    # whole recording intervals: the window ends at the first record at or after the current's end
    lo = max(c.transient_ms, np.floor(first / rec_dt + 1e-9) * rec_dt)
    off = min(c.duration_ms, np.ceil(last / rec_dt - 1e-9) * rec_dt)
    out = [("during", float(lo), float(max(off, lo + rec_dt)))]
    if after and off + rec_dt < c.duration_ms - 1e-9:
        out.append(("after", float(off), float(c.duration_ms)))
    return tuple(out)
