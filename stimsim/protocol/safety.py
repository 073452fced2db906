"""Safety notes: warn (never refuse) when a protocol goes beyond the evidence base for humans.

Limits (models.md M6; stimulation-notes 2.1, 2.6):

- cortical field above ~2 V/m: outside the usual transcranial range 0.2-2 V/m (Ruffini et al.
  2013, IEEE TNSRE) -- fine for slice comparisons, flagged for human protocols;
- tDCS beyond 4 mA, 40 min or 7.2 C: outside the range with no serious adverse effect reported
  (Bikson et al. 2016, Brain Stimul, PMC5007190); checked when ``[stimulation.device]`` gives a
  current and/or session length;
- carriers at or above 1 kHz with NMM1: the heuristic model feeds the field into the transfer
  function without a membrane filter and overstates kHz effects (stimulation-notes 1.3, 2.6 (v)).
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
#: Hz, carriers from here on are "kHz stimulation" (stimulation-notes 2.5, 2.6)
KHZ_CARRIER_HZ = 1000.0


def charge_c(current_ma, session_min):
    """Charge Q = I t delivered by a constant device current, C (stimulation-notes 2.2)."""
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
    fast = [w.highest_frequency_hz for w in protocol.waveforms if w.highest_frequency_hz >= KHZ_CARRIER_HZ]
    if fast and "nmm1" in protocol.models:
        notes.append(dict(
            code="khz_carrier_nmm1",
            message=(f"carrier up to {max(fast):g} Hz: NMM1 puts the field inside the transfer function with no "
                     "membrane filter and overstates kHz effects; compare with NMM2"),
            source="stimulation-notes 1.3 and 2.6 (v)"))
    return notes


def peak_abs(values):
    """max |values| (0 for an empty drive)."""
    values = np.asarray(values)
    return float(np.max(np.abs(values))) if values.size else 0.0
