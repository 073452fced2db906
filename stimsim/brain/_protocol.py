"""Whole-brain protocol files: ``[network]`` and ``[montage]``; validation, run, files.

Schema (units in key names where they apply)::

    name = "tacs-alpha-occipital"
    description = "..."
    [network]
    connectome = "generated"            # "generated" | a TVB connectivity zip | "tvb-data:connectivity_76"
    regions = 40                        # generated only: number of regions
    seed = 1                            # generated only
    normalise = "max"                   # max | row_sum | none
    local = "pyramidal"                 # preset of the local circuit, or {preset = "...", overrides = {...}}
    G = 0.5                             # global coupling (the units of J); a list runs every value as lanes
    speed_mm_per_ms = 5.0               # conduction speed (mm/ms = m/s)
    sender = "P"                        # population whose synaptic activation is sent (default: the first)
    receivers = ["P"]                   # populations receiving long-range input (default: the sender)
    [montage]
    electrodes = { O1 = 1.0, Cz = -1.0 }  # current of each electrode per unit of the waveforms (mA per mA; sum 0)
    fields = "sphere"                   # concentric-sphere head model, or a CSV region -> V/m per mA
    lambda_mm = 0.12                    # polarization length of the receiving populations (default per cell type)
    [[montage.waveforms]]               # the montage current in mA: the waveform kinds of [stimulation]
    kind = "sine"
    amplitude = 1.0                     # mA
    frequency_hz = 10.0
    convention = "zero_to_peak"
    # or several channels, each its electrodes and waveforms (temporal interference: two pairs at
    # f and f + df; fields = "sphere" only):
    # [[montage.channels]]   electrodes = {...}   [[montage.channels.waveforms]] ...
    [run]                               # models, duration_ms, dt_ms, transient_ms, record_every, integrator
    [analysis]
    band_hz = [8, 12]                   # band of the band-power columns (default: drive frequency +- 2 Hz)
    drive_frequency_hz = 10.0           # frequency of the response columns (default: the first channel's rhythm)
    eeg_electrodes = ["Fz", "Cz", "Pz", "O1", "O2"]   # simulated EEG (default: the 10-20 set)
    after_stimulation = true            # also analyse the time after the montage current ends (if it does)

The run simulates the network twice in one batch, with the montage and without it (the
stimulus scaled by 1 and by 0), and analyses the window *during* stimulation (from the end of
run.transient_ms, or the current's onset, to the current's end) and, when the current ends
before the run does, the window *after* it. It writes per model, G, condition, window and region
the field, mean rates, the response and phase at the drive frequency (and, for the stimulated
rows, the gain: response per V/m of the region's peak field), the band power and the
entrainment columns (``regional.csv``), the regional map (``response_map.png``), the simulated
EEG: spectra per window (``eeg_spectra.csv``, ``eeg_spectra.png``) and traces (``eeg.csv``,
``eeg.png``), and ``metadata.json``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

TOP_KEYS = ("name", "description", "network", "montage", "run", "analysis", "sweep")
NETWORK_KEYS = ("connectome", "regions", "seed", "normalise", "local", "G", "speed_mm_per_ms", "sender", "receivers")
MONTAGE_KEYS = ("electrodes", "fields", "lambda_mm", "waveforms", "channels")
CHANNEL_KEYS = ("electrodes", "waveforms")
ANALYSIS_KEYS = ("band_hz", "eeg_electrodes", "drive_frequency_hz", "after_stimulation")
#: the 10-20 system's 19 electrodes: the default simulated EEG
EEG_10_20 = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4",
             "P8", "O1", "O2")


@dataclass(frozen=True)
class BrainProtocol:
    """A validated whole-brain protocol (module docstring)."""

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


def _fail(source, key, message):
    raise InputError(f"{source}: {key}: {message}")


def _table(source, data, key, keys, required=True):
    t = data.get(key)
    if t is None:
        if required:
            _fail(source, key, "is required")
        return {}
    if not isinstance(t, dict):
        _fail(source, key, f"must be a table, got {type(t).__name__}")
    from ..errors import closest

    for k in t:
        if k not in keys:
            _fail(source, f"{key}.{k}", f"unknown key{closest(str(k), keys)}; allowed: {', '.join(keys)}")
    return t


def _connectome(source, net):
    from ._connectome import generated_connectome, load_tvb_zip, tvb_data_connectome

    spec = net.get("connectome", "generated")
    norm = net.get("normalise", "max")
    if norm not in ("max", "row_sum", "none"):
        _fail(source, "network.normalise", f"{norm!r} is not allowed; allowed: max, row_sum, none")
    if spec == "generated":
        regions, seed = net.get("regions", 40), net.get("seed", 0)
        for k, v in (("regions", regions), ("seed", seed)):
            if isinstance(v, bool) or not isinstance(v, int) or v < (2 if k == "regions" else 0):
                _fail(source, f"network.{k}", f"must be an integer >= {2 if k == 'regions' else 0}, got {v!r}")
        conn = generated_connectome(regions, seed=seed)
    elif isinstance(spec, str) and spec.startswith("tvb-data:"):
        conn = tvb_data_connectome(spec.split(":", 1)[1])
    elif isinstance(spec, str):
        path = Path(spec) if Path(spec).is_absolute() else Path(source).resolve().parent / spec
        if not path.is_file():
            _fail(source, "network.connectome", f"{spec!r} is not 'generated', 'tvb-data:NAME' or an existing TVB zip")
        conn = load_tvb_zip(path)
    else:
        _fail(source, "network.connectome", f"must be a string, got {spec!r}")
    for k in ("regions", "seed"):
        if k in net and spec != "generated":
            _fail(source, f"network.{k}", "applies only to connectome = 'generated'")
    return conn.normalised(norm) if norm != "none" else conn


def _read(path):
    import tomllib

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read protocol file: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: malformed TOML: {exc}") from None


def _channels(source, mon, sweeping=False):
    """[(key path, electrodes, waveforms)]: one channel from electrodes + waveforms, or montage.channels.

    A sweep drives one channel with its own sinusoid: no waveforms, no channels."""
    if sweeping:
        for k in ("waveforms", "channels"):
            if k in mon:
                _fail(source, f"montage.{k}", "a [sweep] drives one montage with its own sinusoid (sweep.frequency_hz, "
                      "sweep.amplitude in mA); remove it")
        electrodes = mon.get("electrodes")
        if electrodes is None:
            return []
        if not isinstance(electrodes, dict) or not electrodes:
            _fail(source, "montage.electrodes", "must be a table {ELECTRODE = current per waveform unit}")
        return [("montage", electrodes, [])]
    if "channels" in mon:
        for k in ("electrodes", "waveforms"):
            if k in mon:
                _fail(source, f"montage.{k}", "give either montage.channels or montage.electrodes and montage.waveforms")
        chans = mon["channels"]
        if not isinstance(chans, list) or not chans:
            _fail(source, "montage.channels", "must be a non-empty list of tables {electrodes, waveforms}")
        raw = [(f"montage.channels[{i}]", ch) for i, ch in enumerate(chans)]
    else:
        raw = [("montage", {k: mon.get(k) for k in CHANNEL_KEYS})]
    out = []
    from ..errors import closest

    for where, ch in raw:
        if not isinstance(ch, dict):
            _fail(source, where, f"must be a table {{electrodes, waveforms}}, got {ch!r}")
        for k in ch:
            if k not in CHANNEL_KEYS:
                _fail(source, f"{where}.{k}", f"unknown key{closest(str(k), CHANNEL_KEYS)}; allowed: electrodes, waveforms")
        electrodes, waves = ch.get("electrodes"), ch.get("waveforms")
        if not isinstance(electrodes, dict) or not electrodes:
            _fail(source, f"{where}.electrodes", "is required: a table {ELECTRODE = current per waveform unit}")
        if not isinstance(waves, list) or not waves:
            _fail(source, f"{where}.waveforms", "is required: a list of waveform tables (amplitudes in mA)")
        out.append((where, electrodes, waves))
    return out


def is_brain_protocol(path):
    """True when the file is a whole-brain protocol (it has a [network] table); False when it
    cannot be read as TOML (the protocol loader then reports why)."""
    try:
        return isinstance(_read(path).get("network"), dict)
    except InputError:
        return False


def load_brain_protocol(path, sets=None):
    """Read and validate a whole-brain protocol file; nothing is simulated.

    Raises
    ------
    stimsim.errors.InputError
        One line ``<file>: <key.path>: <problem>``.
    """
    from ..coupling import FieldCoupling
    from ..protocol.schema import ProtocolError, apply_sets, load_dict
    from ._fields import Montage, RegionalField
    from ._network import BrainNetwork

    source = str(path)
    data = _read(path)
    if sets:
        data = apply_sets(data, sets, source)
    if not isinstance(data, dict):
        raise InputError(f"{source}: must be a table")
    from ..errors import closest

    for k in data:
        if k not in TOP_KEYS:
            _fail(source, k, f"unknown key{closest(str(k), TOP_KEYS)}; allowed: {', '.join(TOP_KEYS)}")
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
        _fail(source, "name", f"must be a folder-safe name, got {name!r}")
    net = _table(source, data, "network", NETWORK_KEYS)
    mon = _table(source, data, "montage", MONTAGE_KEYS)
    ana = _table(source, data, "analysis", ANALYSIS_KEYS, required=False)
    local = net.get("local", "pyramidal")
    circuit = {"preset": local} if isinstance(local, str) else local
    if not isinstance(circuit, dict):
        _fail(source, "network.local", f"must be a preset name or {{preset, overrides}}, got {local!r}")
    sweeping = "sweep" in data
    if sweeping and "analysis" in data:
        _fail(source, "analysis", "a sweep's analysis is set in [sweep] (band_hz, entrainment); remove [analysis]")
    channels = _channels(source, mon, sweeping)
    carriers = []
    for i, (where, _, waves) in enumerate(channels or [("montage", None, [])]):
        carrier_dict = {"name": name, "circuit": circuit, "run": data.get("run", {}),
                        "stimulation": {"unit": "current", "waveforms": waves}}
        try:
            carriers.append(load_dict(carrier_dict, source))
        except ProtocolError as exc:
            msg = str(exc).replace("stimulation.waveforms", f"{where}.waveforms").replace(": circuit", ": network.local")
            raise InputError(msg) from None
    carrier = carriers[0]
    conn = _connectome(source, net)
    G_values = net.get("G", 0.0)
    G_values = G_values if isinstance(G_values, list) else [G_values]
    if not G_values or not all(isinstance(g, (int, float)) and not isinstance(g, bool) for g in G_values):
        _fail(source, "network.G", f"must be a number or a non-empty list of numbers, got {net.get('G')!r}")
    if len(set(G_values)) != len(G_values):
        _fail(source, "network.G", f"has repeated values: {G_values}")
    G = float(G_values[0])
    speed = net.get("speed_mm_per_ms", 5.0)
    try:
        network = BrainNetwork.from_connectome(conn, carrier.circuit, G=G, speed_mm_per_ms=speed,
                                               sender=net.get("sender", carrier.circuit.names[0]),
                                               receivers=net.get("receivers"))
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
        _fail(source, "montage.fields", "a field table describes one montage; with several channels use 'sphere'")
    try:
        for m in montages:
            if fields == "sphere":
                fields_.append(RegionalField.from_sphere(conn, m))
            else:
                p = Path(fields) if Path(fields).is_absolute() else Path(source).resolve().parent / str(fields)
                fields_.append(RegionalField.from_table(p, conn))
    except InputError as exc:
        raise InputError(f"{source}: montage.fields: {exc}") from None
    lam = mon.get("lambda_mm")
    coupling = FieldCoupling(lambda_mm=lam) if lam is not None else FieldCoupling()
    try:
        coupling.gains(carrier.circuit)
    except ValueError as exc:
        raise InputError(f"{source}: montage.lambda_mm: {exc}") from None
    band = ana.get("band_hz")
    f = ana.get("drive_frequency_hz", carrier.drive_frequency_hz)
    if f is not None and not (isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0):
        _fail(source, "analysis.drive_frequency_hz", f"must be a frequency > 0 Hz, got {f!r}")
    if band is None:
        band = (max(0.5, f - 2.0), f + 2.0) if f else (8.0, 12.0)
    elif not (isinstance(band, list) and len(band) == 2 and 0 <= float(band[0]) < float(band[1])):
        _fail(source, "analysis.band_hz", f"must be [low, high] Hz with 0 <= low < high, got {band!r}")
    after = ana.get("after_stimulation", True)
    if not isinstance(after, bool):
        _fail(source, "analysis.after_stimulation", f"must be true or false, got {after!r}")
    windows = () if sweeping else analysis_windows(carriers, after)
    if not sweeping and not windows:
        _fail(source, "montage.waveforms", f"the montage current is zero throughout the analysed window "
              f"[{carrier.transient_ms:g}, {carrier.duration_ms:g}] ms (run.transient_ms, run.duration_ms)")
    for wname, lo, hi in windows:
        window = hi - lo
        what = ("the analysed" if wname == "during" else "the") + f" {window:g} ms {wname} stimulation"
        hint = "lengthen the run" if wname == "during" else "lengthen the run or set analysis.after_stimulation = false"
        resolution = 1000.0 / min(window, 1000.0)            # Hz: Welch segments of at most 1 s
        if float(band[1]) - float(band[0]) < 2 * resolution:
            _fail(source, "analysis.band_hz", f"{list(band)} Hz spans fewer than 2 frequency bins of {what} "
                  f"[{lo:g}, {hi:g}] ms (resolution {resolution:.3g} Hz); widen the band or {hint}")
        if f and window * f / 1000.0 < 1.0:
            _fail(source, "run.duration_ms", f"{what} [{lo:g}, {hi:g}] ms hold less than one cycle of the {f:g} Hz "
                  f"drive; {hint}")
    eeg = tuple(ana.get("eeg_electrodes", EEG_10_20))
    resolved = {"name": name, "description": data.get("description", ""), "network": net, "montage": mon,
                "run": carrier.resolved["run"], "analysis": {"band_hz": [float(b) for b in band],
                                                             "eeg_electrodes": list(eeg)}}
    if "network" in carrier.models and not sweeping:
        # the spiking network's checks (options, delays, memory) before any model runs
        from .. import models as _models
        from ._spiking import check_spiking_run

        try:
            check_spiking_run(network, _models.get("network"), carrier.duration_ms, carrier.dt_ms,
                              carrier.record_every, carrier.integrator, np.repeat(G_values, 2),
                              None, np.tile([1.0, 0.0], len(G_values)), carrier.model_options("network"))
        except InputError as exc:
            raise InputError(f"{source}: run (model 'network'): {exc}") from None
    bp = BrainProtocol(name=name, description=str(data.get("description", "")), connectome=conn, network=network,
                       montage=tuple(montages), field=tuple(fields_), carrier=carrier, carriers=tuple(carriers),
                       drive_frequency_hz=float(f) if f else None, band_hz=tuple(float(b) for b in band),
                       eeg_electrodes=eeg, G_values=tuple(float(g) for g in G_values), coupling=coupling,
                       resolved=json.loads(json.dumps(resolved)), montage_fields_source=str(fields),
                       windows=tuple(windows))
    if sweeping:
        return _with_sweep(bp, data, source)
    return bp


def _with_sweep(bp, data, source):
    """The protocol with its validated [sweep] (stimsim.brain._sweep)."""
    import dataclasses

    from ._sweep import validate_brain_sweep

    table = data["sweep"]
    if not isinstance(table, dict):
        _fail(source, "sweep", f"must be a table, got {type(table).__name__}")
    if isinstance(data["network"].get("G"), list):
        _fail(source, "network.G", "is one value in a sweep; sweep G with [sweep.parameters] G = [...]")
    params = table.get("parameters") if isinstance(table.get("parameters"), dict) else {}
    if not bp.montage and "montage" not in params:
        _fail(source, "montage.electrodes", "is required unless montage is a sweep parameter")
    sweep = validate_brain_sweep(table, bp, source)
    resolved = dict(bp.resolved, sweep=json.loads(json.dumps(table)))
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


def run_brain_protocol(bp, out_dir, progress=True, command=None):
    """Simulate a whole-brain protocol with and without the montage; write its files (all or nothing)."""
    from ..analysis import welch_psd
    from ..io import environment_info, save_figure, staged_directory, write_csv, write_json
    from ..plots import close
    from ._eeg import eeg_from_sources, eeg_lead_field
    from ._observables import (regional_entrainment, regional_response, response_gain, response_map_figure,
                               segment_samples)
    from ._simulate import RegionalStimulus, simulate_network

    c = bp.carrier
    waves_ma = np.stack([k.drive_grid()[1] for k in bp.carriers], axis=1)          # (n, channels), mA
    # V/m per mA of waveform: the electrodes' currents are per unit of the waveform, so a channel
    # injects (its injected current) x waveform mA; the regional fields are per mA injected
    per_ma = np.stack([fl.normal_v_per_m_per_ma * m.injected_current_ma for fl, m in zip(bp.field, bp.montage)])
    stim = RegionalStimulus.from_fields(bp.network, per_ma, waves_ma, c.waveform_dt_ms, bp.coupling)
    field_t = waves_ma @ per_ma                                                    # (n, R) V/m
    field_peak = field_t[np.argmax(np.abs(field_t), axis=0), np.arange(field_t.shape[1])]
    results = {}
    with staged_directory(Path(out_dir)) as stage:
        for model in c.models:
            if progress:
                print(f"stimsim: {model}: {bp.network.n_regions} regions, {c.duration_ms:g} ms, with and without "
                      "the montage", flush=True)
            # one batch: every G with the montage (scale 1) and without it (scale 0)
            Gs = np.repeat(np.asarray(bp.G_values), 2)
            res = simulate_network(bp.network, model, duration_ms=c.duration_ms, dt_ms=c.dt_ms, stimulus=stim,
                                   record_every=c.record_every, integrator=c.integrator, G=Gs,
                                   initial="fixed_point" if c.initial == "fixed_point" else None,
                                   progress=None if progress else False,
                                   network_options=c.model_options(model) if model == "network" else None,
                                   field_scale=np.tile([1.0, 0.0], len(bp.G_values)))
            results[model] = res
        rows, spectra, traces = [], [], []
        lead = eeg_lead_field(bp.connectome, bp.eeg_electrodes)
        fig = None
        rec_dt = c.dt_ms * c.record_every
        k_send = bp.network.sender_index
        for model, res in results.items():
            t = res.time_ms
            rate = res.variable("r")                                       # (n_rec, R, P, 2), Hz
            s = res.variable("s")
            analysed = t >= c.transient_ms - 1e-9
            for b, (G, label) in enumerate((g, lab) for g in bp.G_values for lab in ("stimulated", "baseline")):
                # EEG: the sender's synaptic activation about its mean over the analysed time as the
                # regional dipole moment (arbitrary units: the scale from activity to A m is not modelled)
                q = s[:, :, k_send, b].T
                eeg = eeg_from_sources(lead, q - q[:, analysed].mean(axis=1, keepdims=True))   # (electrodes, n_rec)
                traces.append(pd.DataFrame({"model": model, "G": G, "condition": label,
                                            "electrode": np.repeat(np.array(bp.eeg_electrodes, dtype=object),
                                                                   int(analysed.sum())),
                                            "time_ms": np.tile(t[analysed], len(bp.eeg_electrodes)),
                                            "eeg_au": eeg[:, analysed].reshape(-1)}))
                for wname, lo, hi in bp.windows:
                    keep = (t >= lo - 1e-9) & (t <= hi + 1e-9)
                    t0 = float(t[keep][0])
                    y = rate[keep, :, k_send, b].T
                    reg = regional_response(y, rec_dt, t0_ms=t0, drive_hz=bp.drive_frequency_hz,
                                            band_hz=bp.band_hz, labels=list(bp.connectome.region_labels))
                    if bp.drive_frequency_hz:
                        # judged against the same G's unstimulated lane (b + 1 for a stimulated lane);
                        # the baseline against itself, so its PLV is the chance level, never locked
                        ref = rate[keep, :, k_send, b + 1 if label == "stimulated" else b].T
                        ent = regional_entrainment(y, ref, rec_dt, bp.drive_frequency_hz, t0_ms=t0,
                                                   key=f"{model}|{G!r}|{label}|{wname}")
                        reg = pd.concat([reg, ent], axis=1)
                    for col, v in (("window", wname), ("condition", label), ("G", G), ("model", model)):
                        reg.insert(0, col, v)
                    reg["field_v_per_m_at_peak"] = field_peak          # the field when |field| is largest
                    if bp.drive_frequency_hz:
                        # the response per V/m of the region's peak field (stimulated rows; the baseline has no field)
                        reg["gain_hz_per_v_per_m"] = (response_gain(reg.response_hz, field_peak)
                                                      if label == "stimulated" else np.nan)
                    rows.append(reg)
                    e_w = eeg[:, keep]
                    f, psd = welch_psd(e_w, rec_dt, nperseg=segment_samples(e_w.shape[1], rec_dt))
                    for e, name in enumerate(bp.eeg_electrodes):
                        spectra.append(pd.DataFrame({"model": model, "G": G, "condition": label, "window": wname,
                                                     "electrode": name, "freq_hz": f, "psd_au": psd[e]}))
        regional = pd.concat(rows, ignore_index=True)
        eeg_table = pd.concat(spectra, ignore_index=True)
        write_csv(regional, stage / "regional.csv")
        write_csv(eeg_table, stage / "eeg_spectra.csv")
        eeg_series = pd.concat(traces, ignore_index=True)
        write_csv(eeg_series, stage / "eeg.csv")
        first = c.models[0]
        g0 = bp.G_values[0]
        regional0 = regional[(regional.G == g0) & (regional.window == "during")]
        sub = regional0[(regional0.model == first) & (regional0.condition == "stimulated")]
        value, what = ((sub.response_hz.to_numpy(), f"response at {bp.drive_frequency_hz:g} Hz (Hz)")
                       if bp.drive_frequency_hz else
                       (sub.mean_rate_hz.to_numpy() - regional0[(regional0.model == first) &
                                                                (regional0.condition == "baseline")].mean_rate_hz.to_numpy(),
                        "mean rate change (Hz)"))
        fig = response_map_figure(value, bp.connectome.centres_mm, title=f"{bp.name}: {first}, G = {g0:g}", label=what)
        save_figure(fig, stage / "response_map.png")
        close(fig)
        fig = _eeg_figure(eeg_table[eeg_table.G == g0], first)
        save_figure(fig, stage / "eeg_spectra.png")
        close(fig)
        fig = _eeg_trace_figure(eeg_series[(eeg_series.G == g0) & (eeg_series.model == first)], bp.windows,
                                f"{bp.name}: {first}, G = {g0:g}")
        save_figure(fig, stage / "eeg.png")
        close(fig)
        write_json({"command": command, "protocol": bp.resolved, "regions": bp.network.n_regions,
                    "field": {"channels": [fl.source for fl in bp.field],
                              "peak_current_ma": [float(np.max(np.abs(w))) for w in waves_ma.T]},
                    "windows": [{"name": n, "start_ms": lo, "stop_ms": hi} for n, lo, hi in bp.windows],
                    "files": {"regional.csv": list(regional.columns), "eeg_spectra.csv": list(eeg_table.columns),
                              "eeg.csv": list(eeg_series.columns),
                              "response_map.png": what + " (during stimulation)",
                              "eeg_spectra.png": "EEG power spectra with and without the montage, during and after "
                                                 "stimulation",
                              "eeg.png": "simulated EEG traces with and without the montage"},
                    "eeg_units": "arbitrary (lead field x synaptic activation about its mean)",
                    "environment": environment_info()}, stage / "metadata.json")
    return regional, eeg_table


def _eeg_figure(table, model):
    from ..plots import subplots, theme

    with theme():
        electrodes = list(dict.fromkeys(table.electrode))[:6]
        fig, axes = subplots(1, len(electrodes), figsize=(3 * len(electrodes), 3), sharey=True)
        curves = [("baseline", "during", "--", "unstimulated"), ("stimulated", "during", "-", "during stimulation"),
                  ("stimulated", "after", ":", "after stimulation")]
        for ax, e in zip(axes[0], electrodes):
            for cond, window, style, label in curves:
                sub = table[(table.model == model) & (table.electrode == e) & (table.condition == cond)
                            & (table.window == window)]
                if len(sub):
                    ax.semilogy(sub.freq_hz, sub.psd_au, style, label=label)
            ax.set_title(e)
            ax.set_xlim(0, 80)
            ax.set_xlabel("frequency (Hz)")
        axes[0][0].set_ylabel("EEG power (a.u.)")
        axes[0][0].legend(fontsize=8)
        fig.tight_layout()
    return fig


def _eeg_trace_figure(table, windows, title):
    """The simulated EEG at the 4 electrodes where the stimulated trace varies most, over the
    analysed time, with and without the montage; the stimulation window shaded."""
    from ..plots import subplots, theme

    with theme():
        spread = table[table.condition == "stimulated"].groupby("electrode", sort=False).eeg_au.std()
        electrodes = list(spread.sort_values(ascending=False, kind="stable").index[:4])
        fig, axes = subplots(len(electrodes), 1, figsize=(10, 1.8 * len(electrodes) + 0.6), sharex=True)
        for ax, e in zip(axes[:, 0], electrodes):
            for cond, color in (("baseline", "0.6"), ("stimulated", "C0")):
                sub = table[(table.electrode == e) & (table.condition == cond)]
                ax.plot(sub.time_ms, sub.eeg_au, color=color, lw=0.8, label=cond)
            for name, lo, hi in windows:
                if name == "during":
                    ax.axvspan(lo, hi, color="C1", alpha=0.08, lw=0)
            ax.set_ylabel(f"{e} (a.u.)")
        axes[0, 0].legend(fontsize=8, loc="upper right")
        axes[0, 0].set_title(title + " (shaded: montage current on)")
        axes[-1, 0].set_xlabel("time (ms)")
        fig.tight_layout()
    return fig
