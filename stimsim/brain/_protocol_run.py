"""Running a validated whole-brain protocol and writing its files (schema: ``stimsim.brain._protocol``)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ._protocol_figures import eeg_spectra_figure, eeg_trace_figure
from ._protocol_read import model_options


def finite_json(obj):
    """``obj`` with every non-finite float (nan, +-inf, also numpy's) replaced by None, in nested
    dicts, lists and tuples: ``metadata.json`` is strict JSON (``Infinity`` and ``NaN`` are not JSON)."""
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite_json(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def run_brain_protocol(bp, out_dir, progress=True, command=None):
    """Simulate a whole-brain protocol with and without the montage; write its files (all or nothing).

    With ``progress``, one line per model and one naming the analysed frequency and why it is that
    (``BrainProtocol.drive_frequency_source``: given, the montage waveform's rhythm, or the envelope
    |f1 - f2| of a two-carrier montage) and the estimated peak memory; ``metadata.json`` records both
    (``analysis``, ``estimate``).
    """
    from ..analysis import welch_psd
    from ..io import (
        environment_info,
        save_figure,
        staged_directory,
        write_csv,
        write_json,
    )
    from ..plots import close
    from ._eeg import eeg_from_sources, eeg_lead_field
    from ._fields import peak_fields_v_per_m
    from ._observables import (
        regional_entrainment,
        regional_response,
        response_gain,
        response_map_figure,
        segment_samples,
    )
    from ._simulate import RegionalStimulus, simulate_network

    c = bp.carrier
    waves_ma = np.stack([k.drive_grid()[1] for k in bp.carriers], axis=1)          # (n, channels), mA
    # V/m per mA of waveform: the electrodes' currents are per unit of the waveform, so a channel
    # injects (its injected current) x waveform mA; the regional fields are per mA injected
    per_ma = np.stack([fl.normal_v_per_m_per_ma * m.injected_current_ma for fl, m in zip(bp.field, bp.montage)])
    stim = RegionalStimulus.from_fields(bp.network, per_ma, waves_ma, c.waveform_dt_ms, bp.coupling)
    # each region's field when |field| is largest, V/m (computed in blocks: never the (n, R) field)
    field_peak = (bp.field_peak_v_per_m if bp.field_peak_v_per_m is not None else
                  peak_fields_v_per_m(waves_ma, per_ma))
    mem = bp.estimate.get("memory_bytes", {})
    if progress:
        f_text = (f"{bp.drive_frequency_hz:g} Hz ({bp.drive_frequency_source})" if bp.drive_frequency_hz else
                  f"none ({bp.drive_frequency_source}): mean rates and band power only")
        print(f"stimsim: analysed frequency {f_text}; band {bp.band_hz[0]:g}-{bp.band_hz[1]:g} Hz"
              + (f"; estimated peak memory {mem['total'] / 2**30:.2g} GiB" if mem else ""), flush=True)
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
                                   network_options=model_options(c, model),
                                   field_scale=np.tile([1.0, 0.0], len(bp.G_values)))
            results[model] = res
        rows, spectra, traces = [], [], []
        lead = bp.eeg_lead if bp.eeg_lead is not None else eeg_lead_field(bp.connectome, bp.eeg_electrodes)
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
        fig = eeg_spectra_figure(eeg_table[eeg_table.G == g0], first)
        save_figure(fig, stage / "eeg_spectra.png")
        close(fig)
        fig = eeg_trace_figure(eeg_series[(eeg_series.G == g0) & (eeg_series.model == first)], bp.windows,
                                f"{bp.name}: {first}, G = {g0:g}")
        save_figure(fig, stage / "eeg.png")
        close(fig)
        write_json(finite_json({
                    "command": command, "protocol": bp.resolved, "regions": bp.network.n_regions,
                    "analysis": {"drive_frequency_hz": bp.drive_frequency_hz,
                                 "drive_frequency_source": bp.drive_frequency_source,
                                 "band_hz": list(bp.band_hz), "eeg_electrodes": list(bp.eeg_electrodes)},
                    "estimate": {**bp.estimate,
                                 "scope": "estimated peak memory (bytes, above the loaded libraries) and table rows "
                                          "(stimsim.brain._estimate.estimate_brain_memory)"},
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
                    "environment": environment_info()}), stage / "metadata.json")
    return regional, eeg_table
