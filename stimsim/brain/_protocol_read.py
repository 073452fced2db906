"""Reading and validating whole-brain protocol files (schema: ``stimsim.brain._protocol``).

:func:`load_brain_protocol` reads a file through the shared protocol reader
(:mod:`stimsim.protocol.reader`: key paths and did-you-mean hints in every message), builds the
connectome, the network, the montages and their regional fields, and validates the local circuit,
``[run]`` and the montage waveforms as a circuit protocol (one "carrier" per montage channel,
:func:`stimsim.protocol.schema.load_dict`), the analysed windows, and the run of every model
(:func:`stimsim.brain._simulate.check_network_run`); nothing is simulated. A ``[sweep]`` table is
validated by :func:`stimsim.brain._sweep.validate_brain_sweep`.
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
from ..errors import InputError
from ..protocol import kinds
from ..protocol.reader import ProtocolError, Reader, apply_sets, read_file, show
from ..protocol.schema import load_dict
from ._connectome import generated_connectome, load_tvb_zip, tvb_data_connectome
from ._fields import Montage, RegionalField
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


def _connectome(net):
    spec = net.get("connectome", "generated")
    norm = net.string("normalise", "max", ("max", "row_sum", "none"))
    if spec == "generated":
        regions, seed = net.integer("regions", 40, minimum=2), net.integer("seed", 0, minimum=0)
        conn = generated_connectome(regions, seed=seed)
    elif isinstance(spec, str) and spec.startswith("tvb-data:"):
        conn = tvb_data_connectome(spec.split(":", 1)[1])
    elif isinstance(spec, str):
        path = Path(spec) if Path(spec).is_absolute() else Path(net.source).resolve().parent / spec
        if not path.is_file():
            net.fail(f"{spec!r} is not 'generated', 'tvb-data:NAME' or an existing TVB zip", "connectome")
        conn = load_tvb_zip(path)
    else:
        net.fail(f"must be a string, got {show(spec)}", "connectome")
    for k in ("regions", "seed"):
        if net.has(k) and spec != "generated":
            net.fail("applies only to connectome = 'generated'", k)
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
    carriers = []
    for where, _, waves in channels or [("montage", None, [])]:
        carrier_dict = {"name": name, "circuit": circuit, "run": data.get("run", {}),
                        "stimulation": {"unit": "current", "waveforms": waves}}
        try:
            carriers.append(load_dict(carrier_dict, source))
        except ProtocolError as exc:
            msg = str(exc).replace("stimulation.waveforms", f"{where}.waveforms").replace(": circuit", ": network.local")
            raise InputError(msg) from None
    carrier = carriers[0]
    conn = _connectome(net)
    G_values = net.get("G", 0.0)
    G_values = G_values if isinstance(G_values, list) else [G_values]
    if not G_values or not all(isinstance(g, (int, float)) and not isinstance(g, bool) for g in G_values):
        net.fail(f"must be a number or a non-empty list of numbers, got {net.data.get('G')!r}", "G")
    if len(set(G_values)) != len(G_values):
        net.fail(f"has repeated values: {G_values}", "G")
    G = float(G_values[0])
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
    lam = mon.get("lambda_mm", None)
    coupling = FieldCoupling(lambda_mm=lam) if lam is not None else FieldCoupling()
    try:
        coupling.gains(carrier.circuit)
    except ValueError as exc:
        raise InputError(f"{source}: montage.lambda_mm: {exc}") from None
    f = ana.number("drive_frequency_hz", None, minimum=0.0, exclusive=True, unit="Hz")
    f = carrier.drive_frequency_hz if f is None else f
    band = _band(ana, f)
    after = ana.boolean("after_stimulation", True)
    windows = () if sweeping else analysis_windows(carriers, after)
    if not sweeping and not windows:
        mon.fail(f"the montage current is zero throughout the analysed window "
                 f"[{carrier.transient_ms:g}, {carrier.duration_ms:g}] ms (run.transient_ms, run.duration_ms)",
                 "waveforms")
    for wname, lo, hi in windows:
        window = hi - lo
        what = ("the analysed" if wname == "during" else "the") + f" {window:g} ms {wname} stimulation"
        hint = "lengthen the run" if wname == "during" else "lengthen the run or set analysis.after_stimulation = false"
        resolution = 1000.0 / min(window, 1000.0)            # Hz: Welch segments of at most 1 s
        if band[1] - band[0] < 2 * resolution:
            ana.fail(f"{list(band)} Hz spans fewer than 2 frequency bins of {what} [{lo:g}, {hi:g}] ms (resolution "
                     f"{resolution:.3g} Hz); widen the band or {hint}", "band_hz")
        if f and window * f / 1000.0 < 1.0:
            raise InputError(f"{source}: run.duration_ms: {what} [{lo:g}, {hi:g}] ms hold less than one cycle of "
                             f"the {f:g} Hz drive; {hint}")
    eeg = tuple(ana.string_list("eeg_electrodes", list(EEG_10_20)))
    resolved = {"name": name, "description": data.get("description", ""), "network": net.data, "montage": mon.data,
                "run": carrier.resolved["run"], "analysis": {"band_hz": list(band), "eeg_electrodes": list(eeg)}}
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
                       windows=tuple(windows))
    if sweeping:
        return _with_sweep(bp, top)
    return bp


def _band(ana, f):
    """``analysis.band_hz`` as (low, high) Hz; default: the drive frequency +- 2 Hz, else 8-12 Hz."""
    if not ana.has("band_hz"):
        return (max(0.5, f - 2.0), f + 2.0) if f else (8.0, 12.0)
    raw = ana.get("band_hz")
    message = f"must be [low, high] Hz with 0 <= low < high, got {raw!r}"
    if not (isinstance(raw, list) and len(raw) == 2):
        ana.fail(message, "band_hz")
    band = tuple(ana.as_number(v, f"band_hz[{i}]", 0.0, unit="Hz") for i, v in enumerate(raw))
    if band[0] >= band[1]:
        ana.fail(message, "band_hz")
    return band


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
