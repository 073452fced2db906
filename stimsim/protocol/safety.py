"""Notes on a protocol: warn (never refuse) when it leaves the range of measured human fields
(realism), the evidence base of human tDCS (safety), or the range where the heuristic model agrees
with the exact one (model). Sources: models.md M6, M4.

- realism: a cortical field above ~2 V/m, the upper end of the 0.2-2 V/m range of transcranial
  stimulation (Ruffini et al., IEEE TNSRE 21, 333-345, 2013); the largest cortical field measured
  intracranially at 2 mA is 0.8 V/m (Huang et al., eLife 6, e18834, 2017, corrected version). This is
  a realism bound, not a safety limit: such fields are normal in slice experiments. Checked for the
  drive of a time-series run and for the amplitudes of a study; a drive given in model units
  (``unit = "current"``) is converted to the field that would give the same input to a pyramidal
  population under the default coupling (lambda 0.12 mm, 10 mV per QIF unit or 1 mV per sigmoid
  unit; :func:`equivalent_field_v_per_m`);
- safety: tDCS beyond 4 mA, 40 min or 7.2 C: outside the range with no serious adverse effect
  reported (Bikson et al., Brain Stimul. 9, 641-661, 2016); checked when ``[stimulation.device]``
  gives a current and/or session length;
- model: a heuristic model (NMM1) run at drive frequencies where its small-signal gain differs from
  the exact mean field's (NMM2) by more than ``MODEL_GAIN_RATIO`` (either way): NMM1 is NMM2's limit
  only for inputs slow compared with the (r, v) relaxation (Clusella et al. 2023, Biol. Cybern.),
  so its answer there is a property of the heuristic, not of the population.

Every note is ``{"kind", "code", "message", "source"}`` with kind ``realism``, ``safety`` or
``model``; :meth:`Notes.metadata` splits them for ``metadata.json``.
"""
from __future__ import annotations

import numpy as np

from ..coupling import DEFAULT_LAMBDA_MM, default_scale
from ..units import charge_coulomb

#: V/m, upper end of typical cortical fields of transcranial stimulation (Ruffini et al. 2013)
MAX_CORTICAL_FIELD_V_PER_M = 2.0
#: V/m, the largest cortical field measured intracranially at 2 mA (Huang et al. 2017, corrected)
MEASURED_CORTICAL_FIELD_V_PER_M = 0.8
#: mA, min, C: conventional tDCS evidence base (Bikson et al. 2016)
MAX_TDCS_CURRENT_MA = 4.0
MAX_TDCS_SESSION_MIN = 40.0
MAX_TDCS_CHARGE_C = 7.2
#: largest ratio (either way) of a heuristic model's linear gain to the exact model's before a note
MODEL_GAIN_RATIO = 2.0

_RUFFINI = "Ruffini et al. 2013, IEEE TNSRE; Huang et al. 2017, eLife (corrected) (models.md M6)"


class Notes(list):
    """The notes of a protocol (a list of dicts) that can split themselves for ``metadata.json``."""

    def of_kind(self, kind):
        return [n for n in self if n.get("kind") == kind]

    def metadata(self):
        """{"safety": {...}, "realism": {...}}: device limits apart from field realism and model notes."""
        safety, realism, model = self.of_kind("safety"), self.of_kind("realism"), self.of_kind("model")
        return {
            "initial_state": {"warnings": self.of_kind("initial")},
            "safety": {"warnings": safety, "within_evidence_base": not safety,
                       "scope": "tDCS device current, session and charge (Bikson et al. 2016)"},
            "realism": {"warnings": realism + model, "field_within_realistic_range": not realism,
                        "heuristic_model_agrees": not model,
                        "scope": (f"cortical field above {MAX_CORTICAL_FIELD_V_PER_M:g} V/m (measured human maximum "
                                  f"{MEASURED_CORTICAL_FIELD_V_PER_M:g} V/m at 2 mA); NMM1 gain vs NMM2")},
        }


def charge_c(current_ma, session_min):
    """Charge Q = I t delivered by a constant device current, C."""
    return float(charge_coulomb(current_ma, session_min))


def reference_input_per_v_per_m(protocol):
    """Largest input per V/m that the default pyramidal coupling gives a driven population:
    DEFAULT_LAMBDA_MM / default scale (0.012 QIF units or 0.12 mV per V/m)."""
    pops = [p for p in protocol.circuit.populations if p.name in protocol.input_populations]
    return max(DEFAULT_LAMBDA_MM / default_scale(p) for p in pops) if pops else DEFAULT_LAMBDA_MM / default_scale(
        protocol.circuit.populations[0])


def equivalent_field_v_per_m(protocol, drive):
    """Field (V/m) equivalent to a drive in the protocol's unit: the drive itself for ``field``; for
    ``current`` the field giving the same input to a pyramidal population under the default coupling."""
    if protocol.drive_unit == "field":
        return float(drive)
    return float(drive) / reference_input_per_v_per_m(protocol)


def peak_drive_of(protocol, peak_drive):
    """(peak drive, where): the larger of the time-series drive and the study amplitudes."""
    study = getattr(protocol, "study", None)
    amps = [float(a) for a in getattr(study, "amplitudes", ())] if study is not None else []
    if amps and max(amps) > peak_drive:
        return max(amps), "study amplitude"
    return float(peak_drive), "peak drive"


def realism_notes(protocol, peak_drive):
    """A note when the (equivalent) peak field exceeds MAX_CORTICAL_FIELD_V_PER_M."""
    peak, where = peak_drive_of(protocol, peak_drive)
    field = equivalent_field_v_per_m(protocol, peak)
    if field <= MAX_CORTICAL_FIELD_V_PER_M:
        return []
    bound = (f"~{MAX_CORTICAL_FIELD_V_PER_M:g} V/m, the upper end of cortical fields in transcranial stimulation "
             f"(the largest measured in human cortex at 2 mA is {MEASURED_CORTICAL_FIELD_V_PER_M:g} V/m); a realism "
             "bound, not a safety limit: fields of this size are used in slices, not reached in human cortex")
    if protocol.drive_unit == "field":
        return [dict(kind="realism", code="field_above_realistic_cortical_range", source=_RUFFINI,
                     message=f"{where} {field:.3g} V/m exceeds {bound}")]
    gain = reference_input_per_v_per_m(protocol)
    return [dict(kind="realism", code="current_drive_above_realistic_cortical_field", source=_RUFFINI,
                 message=(f"{where} {peak:.3g} model input units is the input a {field:.3g} V/m field gives a pyramidal "
                          f"population under the default coupling ({gain:.3g} units per V/m: lambda "
                          f"{DEFAULT_LAMBDA_MM:g} mm); it exceeds {bound}"))]


def safety_notes(protocol, peak_drive):
    """Notes for a protocol whose drive reaches ``peak_drive`` (max |drive|, drive units).

    Returns
    -------
    Notes
        A list of ``{"kind", "code", "message", "source"}``, empty when nothing is flagged; realism
        notes first, then device (safety) notes, then model notes.
    """
    notes = Notes(realism_notes(protocol, peak_drive))
    dev = protocol.device
    current, session = dev.get("current_ma"), dev.get("session_min")
    bikson = "Bikson et al. 2016, Brain Stimul (models.md M6: tDCS <= 4 mA, <= 40 min, <= 7.2 C)"
    if current is not None and current > MAX_TDCS_CURRENT_MA:
        notes.append(dict(kind="safety", code="current_above_4_ma", source=bikson,
                          message=f"device current {current:g} mA exceeds the tDCS evidence base of {MAX_TDCS_CURRENT_MA:g} mA"))
    if session is not None and session > MAX_TDCS_SESSION_MIN:
        notes.append(dict(kind="safety", code="session_above_40_min", source=bikson,
                          message=f"session of {session:g} min exceeds the tDCS evidence base of {MAX_TDCS_SESSION_MIN:g} min"))
    if current is not None and session is not None and charge_c(current, session) > MAX_TDCS_CHARGE_C:
        notes.append(dict(kind="safety", code="charge_above_7_2_c", source=bikson,
                          message=(f"charge {charge_c(current, session):.3g} C ({current:g} mA x {session:g} min) exceeds "
                                   f"the tDCS evidence base of {MAX_TDCS_CHARGE_C:g} C")))
    for note in model_disagreement_notes(protocol):
        notes.append(dict(note, kind="model"))
    notes.extend(unstable_start_notes(protocol, peak_drive))
    return notes


def unstable_start_notes(protocol, peak_drive):
    """Notes for undriven runs that start exactly on a fixed point that is unstable under a model.

    An unstable equilibrium is still an equilibrium: started exactly on it and never perturbed,
    the trajectory stays there, so the run would show a flat line where the model has a rhythm.
    """
    from .. import models as _models
    from ..dynamics import find_fixed_points, linearize

    if protocol.initial != "fixed_point" or not protocol.has_timeseries or peak_drive > 0:
        return []
    r = find_fixed_points(protocol.circuit)[0]
    notes = []
    for name in protocol.models:
        lin = linearize(protocol.circuit, _models.get(name), r)
        if not lin.stable:
            notes.append(dict(
                kind="initial", code=f"{name}_starts_on_unstable_fixed_point", source="linear stability (models.md M4)",
                message=(f"{name} starts on its lowest-rate fixed point, which is unstable ({lin.stability}), and "
                         "nothing drives it away: the run stays on that equilibrium instead of showing the "
                         'model\'s rhythm; set run.initial = "synapses_at_rest" or add a drive')))
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
        freqs.update(float(f) for f in getattr(study, "freqs_hz", ()))     # a bifurcation study drives at none
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
    heuristic = [m for m in map(_models.get, protocol.models)     # the spiking network has no linearisation
                 if not m.exact and m.has_equations and m.supports(circuit) is None]
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
