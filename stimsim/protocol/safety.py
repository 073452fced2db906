"""Safety notes: warn (never refuse) when a protocol goes beyond the evidence base for humans.

Limits (models.md M6; Ruffini et al., IEEE TNSRE 21, 333-345, 2013; Bikson et al., Brain Stimul. 9, 641-661, 2016):

- cortical field above ~2 V/m: outside the usual transcranial range 0.2-2 V/m (Ruffini et al.
  2013, IEEE TNSRE) -- fine for slice comparisons, flagged for human protocols;
- tDCS beyond 4 mA, 40 min or 7.2 C: outside the range with no serious adverse effect reported
  (Bikson et al. 2016, Brain Stimul, PMC5007190); checked when ``[stimulation.device]`` gives a
  current and/or session length;
- a heuristic model (NMM1) run at drive frequencies where its small-signal gain differs from the
  exact mean field's (NMM2) by more than ``MODEL_GAIN_RATIO`` (either way): NMM1 is NMM2's limit
  only for inputs slow compared with the (r, v) relaxation (Clusella et al. 2023, Biol. Cybern.),
  so its answer there is a property of the heuristic, not of the population.
"""
from __future__ import annotations

import numpy as np

from ..units import charge_coulomb

#: V/m, upper end of typical cortical fields of transcranial stimulation (Ruffini et al. 2013)
MAX_CORTICAL_FIELD_V_PER_M = 2.0
#: mA, min, C: conventional tDCS evidence base (Bikson et al. 2016)
MAX_TDCS_CURRENT_MA = 4.0
MAX_TDCS_SESSION_MIN = 40.0
MAX_TDCS_CHARGE_C = 7.2
#: largest ratio (either way) of a heuristic model's linear gain to the exact model's before a note
MODEL_GAIN_RATIO = 2.0


def charge_c(current_ma, session_min):
    """Charge Q = I t delivered by a constant device current, C."""
    return float(charge_coulomb(current_ma, session_min))


def safety_notes(protocol, peak_drive):
    """Notes for a protocol whose drive reaches ``peak_drive`` (max |drive|, drive units).

    Returns
    -------
    list of dict
        ``{"code", "message", "source"}``, empty when nothing is beyond the evidence base.
    """
    notes = []
    if protocol.drive_unit == "field" and peak_drive > MAX_CORTICAL_FIELD_V_PER_M:
        notes.append(dict(
            code="field_above_2_v_per_m",
            message=(f"peak field {peak_drive:.3g} V/m exceeds ~{MAX_CORTICAL_FIELD_V_PER_M:g} V/m, the upper end of "
                     "cortical fields in transcranial stimulation (fine for slice comparisons, not for human protocols)"),
            source="Ruffini et al. 2013, IEEE TNSRE (models.md M6)"))
    dev = protocol.device
    current, session = dev.get("current_ma"), dev.get("session_min")
    bikson = "Bikson et al. 2016, Brain Stimul (models.md M6: tDCS <= 4 mA, <= 40 min, <= 7.2 C)"
    if current is not None and current > MAX_TDCS_CURRENT_MA:
        notes.append(dict(code="current_above_4_ma", source=bikson,
                          message=f"device current {current:g} mA exceeds the tDCS evidence base of {MAX_TDCS_CURRENT_MA:g} mA"))
    if session is not None and session > MAX_TDCS_SESSION_MIN:
        notes.append(dict(code="session_above_40_min", source=bikson,
                          message=f"session of {session:g} min exceeds the tDCS evidence base of {MAX_TDCS_SESSION_MIN:g} min"))
    if current is not None and session is not None and charge_c(current, session) > MAX_TDCS_CHARGE_C:
        notes.append(dict(code="charge_above_7_2_c", source=bikson,
                          message=(f"charge {charge_c(current, session):.3g} C ({current:g} mA x {session:g} min) exceeds "
                                   f"the tDCS evidence base of {MAX_TDCS_CHARGE_C:g} C")))
    notes += model_disagreement_notes(protocol)
    return notes


def peak_abs(values):
    """max |values| (0 for an empty drive)."""
    values = np.asarray(values)
    return float(np.max(np.abs(values))) if values.size else 0.0


def drive_frequencies_hz(protocol):
    """The positive frequencies a protocol drives at, Hz: the analysed rhythm and each waveform's highest."""
    freqs = {float(w.highest_frequency_hz) for w in protocol.waveforms}
    if protocol.drive_frequency_hz:
        freqs.add(float(protocol.drive_frequency_hz))
    study = getattr(protocol, "study", None)
    if study is not None:
        freqs.update(float(f) for f in study.freqs_hz)
    return sorted(f for f in freqs if f > 0)


def model_disagreement_notes(protocol):
    """Notes where a non-exact model's linear rate gain differs from the exact model's by more than
    ``MODEL_GAIN_RATIO`` at a drive frequency (computed from both linearisations at the fixed point).
    """
    from .. import models as _models
    from ..analysis import state_space
    from ..dynamics import find_fixed_points

    circuit = protocol.circuit
    exact = [m for m in map(_models.get, _models.available()) if m.exact and m.supports(circuit) is None]
    heuristic = [m for m in map(_models.get, protocol.models) if not m.exact and m.supports(circuit) is None]
    freqs = drive_frequencies_hz(protocol)
    if not exact or not heuristic or not freqs or not np.any(protocol.input_gains != 0):
        return []
    roots = find_fixed_points(circuit)
    notes = []
    for ref in exact:
        for m in heuristic:
            worst = None
            for pop in circuit.names:
                a = state_space(circuit, ref, protocol.input_gains, pop, roots=roots)
                b = state_space(circuit, m, protocol.input_gains, pop, roots=roots)
                if not (a.stable and b.stable):
                    continue
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.abs(b.transfer(freqs)) / np.abs(a.transfer(freqs))
                ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, np.inf)
                far = np.maximum(ratio, 1.0 / ratio)
                i = int(np.argmax(far))
                if far[i] > MODEL_GAIN_RATIO and (worst is None or far[i] > worst[0]):
                    worst = (far[i], ratio[i], freqs[i], pop)
            if worst is not None:
                _, ratio, f, pop = worst
                notes.append(dict(
                    code=f"{m.name}_gain_differs_from_{ref.name}",
                    message=(f"at {f:g} Hz the linear rate gain of {m.name} for population {pop} is {ratio:.3g} x "
                             f"that of {ref.name} (exact): {m.name} describes {ref.name} only for inputs slow "
                             f"compared with the population's own relaxation; trust {ref.name} here"),
                    source="Clusella et al. 2023, Biol. Cybern. 117 (NMM1 as the slow-synapse limit of NMM2)"))
    return notes
