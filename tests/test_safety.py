"""Model-disagreement notes: a heuristic model is flagged where its linear gain and the exact
model's differ by more than MODEL_GAIN_RATIO at a drive frequency (Clusella et al. 2023)."""
from pathlib import Path

import numpy as np
import pytest

import stimsim
from stimsim.protocol import load_protocol
from stimsim.protocol.safety import MODEL_GAIN_RATIO, model_disagreement_notes

PROTOCOLS = Path(__file__).resolve().parents[1] / "protocols"


def gain_ratio(protocol, f_hz):
    """|H_nmm1 / H_nmm2| at f from the public frequency response (field drive of the protocol)."""
    from stimsim.analysis import Drive

    tab = stimsim.frequency_response(protocol.circuit, freqs_hz=[f_hz],
                                     drive=Drive(unit=protocol.drive_unit, coupling=protocol.coupling))
    g = tab.set_index("model").filter(like="gain_").iloc[:, 0]
    return g["nmm1"] / g["nmm2"]


@pytest.mark.parametrize("name,flagged", [("tacs-resonance-pyramidal", True), ("tacs-10hz-pyramidal", False),
                                          ("ti-pyramidal", True), ("tdcs-pyramidal", False)])
def test_disagreement_note_follows_the_linear_gains(name, flagged):
    p = load_protocol(PROTOCOLS / f"{name}.toml")
    notes = model_disagreement_notes(p)
    assert bool(notes) == flagged
    if p.drive_frequency_hz:
        r = gain_ratio(p, p.drive_frequency_hz)
        assert (max(r, 1 / r) > MODEL_GAIN_RATIO) == (name == "tacs-resonance-pyramidal")
    if name == "tacs-resonance-pyramidal":
        # at the 47 Hz resonance NMM1's gain is ~1/7 of NMM2's; the note quotes that ratio
        r = gain_ratio(p, 47.0)
        assert 0.1 < r < 0.2
        assert f"{r:.3g} x" in notes[0]["message"]


def test_no_note_when_only_the_exact_model_runs():
    p = load_protocol(PROTOCOLS / "tacs-resonance-pyramidal.toml", sets=['run.models=["nmm2"]'])
    assert model_disagreement_notes(p) == []


# --- realism vs safety (docs/models.md M6) ---------------------------------------------------------------------------
import json  # noqa: E402

from stimsim.protocol import load_dict, run_protocol  # noqa: E402
from stimsim.protocol.safety import (MAX_CORTICAL_FIELD_V_PER_M, MEASURED_CORTICAL_FIELD_V_PER_M,  # noqa: E402
                                     equivalent_field_v_per_m, safety_notes)

SMALL = {"name": "small", "circuit": {"preset": "pyramidal"},
         "run": {"duration_ms": 100.0, "dt_ms": 0.05, "record_every": 20},
         "stimulation": {"waveforms": [{"kind": "sine", "amplitude": 3.0, "convention": "zero_to_peak",
                                        "frequency_hz": 20.0}]}}


def codes(notes):
    return [(n["kind"], n["code"]) for n in notes]


def test_limits_are_the_cited_numbers():
    assert (MAX_CORTICAL_FIELD_V_PER_M, MEASURED_CORTICAL_FIELD_V_PER_M) == (2.0, 0.8)


def test_field_above_realistic_range_is_a_realism_note_not_a_safety_warning(tmp_path):
    report = run_protocol(load_dict(SMALL), out_dir=tmp_path / "out", stream=open("/dev/null", "w"))
    assert codes(report.notes) == [("realism", "field_above_realistic_cortical_range")]
    assert "realism bound, not a safety limit" in report.notes[0]["message"]
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["safety"]["warnings"] == [] and meta["safety"]["within_evidence_base"] is True
    assert meta["realism"]["field_within_realistic_range"] is False
    assert [n["code"] for n in meta["realism"]["warnings"]] == ["field_above_realistic_cortical_range"]


def test_device_limits_are_safety_warnings(tmp_path):
    d = json.loads(json.dumps(SMALL))
    d["stimulation"]["waveforms"][0]["amplitude"] = 0.5
    d["stimulation"]["device"] = {"current_ma": 5.0, "session_min": 45.0}
    report = run_protocol(load_dict(d), out_dir=tmp_path / "out", stream=open("/dev/null", "w"))
    assert codes(report.notes) == [("safety", "current_above_4_ma"), ("safety", "session_above_40_min"),
                                   ("safety", "charge_above_7_2_c")]
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["safety"]["within_evidence_base"] is False and meta["realism"]["field_within_realistic_range"] is True
    assert "13.5 C" in meta["safety"]["warnings"][2]["message"]                  # 5 mA x 45 min x 0.06 C


def test_current_drive_is_converted_to_an_equivalent_field():
    p = load_protocol(PROTOCOLS / "tacs-interneurons.toml")
    assert equivalent_field_v_per_m(p, 5.0) == pytest.approx(5.0 / (0.12 / 10.0))        # 416.7 V/m
    notes = safety_notes(p, 5.0)
    assert codes(notes) == [("realism", "current_drive_above_realistic_cortical_field")]
    assert "417 V/m" in notes[0]["message"]
    # a sigmoid circuit: 1 mV per unit, so 5 mV is the input of 41.7 V/m
    jr = load_dict({"name": "jr", "circuit": {"preset": "jansen-rit"}, "run": {"duration_ms": 10.0, "dt_ms": 0.1},
                    "stimulation": {"unit": "current", "coupling": {"populations": ["P"]}}})
    assert equivalent_field_v_per_m(jr, 5.0) == pytest.approx(41.6667, rel=1e-4)


def test_study_amplitudes_are_checked():
    p = load_protocol(PROTOCOLS / "study_pyramidal_resonance.toml")
    notes = safety_notes(p, 0.0)
    assert ("realism", "field_above_realistic_cortical_range") in codes(notes)
    assert "study amplitude 100 V/m" in notes[0]["message"]
    p = load_protocol(PROTOCOLS / "study_interneuron_arnold_tongue.toml")
    notes = safety_notes(p, 0.0)
    assert codes(notes)[0] == ("realism", "current_drive_above_realistic_cortical_field")
    assert "667 V/m" in notes[0]["message"]


def test_realistic_protocol_has_no_note():
    p = load_protocol(PROTOCOLS / "tdcs-pyramidal.toml")
    assert safety_notes(p, 0.8) == []
    assert safety_notes(p, 0.8).metadata()["safety"]["within_evidence_base"] is True


def test_undriven_run_on_an_unstable_fixed_point_is_noted(tmp_path):
    """The interneuron preset at I = 30: NMM2's fixed point is an unstable focus; started exactly on
    it with no drive, the run stays flat (an equilibrium), so the run says so; NMM1's is stable."""
    from stimsim.protocol import load_dict, run_protocol

    d = {"name": "flat", "circuit": {"preset": "interneurons", "overrides": {"I": 30.0}},
         "run": {"duration_ms": 200.0, "dt_ms": 0.02}, "stimulation": {"unit": "current"}}
    report = run_protocol(load_dict(d), out_dir=tmp_path / "a")
    codes = [n["code"] for n in report.notes]
    assert codes == ["nmm2_starts_on_unstable_fixed_point"]
    summary = report.summary.set_index("model")
    assert summary.loc["nmm2", "max_rate_hz"] - summary.loc["nmm2", "min_rate_hz"] < 1e-6   # flat, as noted
    assert report.metadata["initial_state"]["warnings"][0]["code"] == codes[0]
    d["run"]["initial"] = "synapses_at_rest"
    report = run_protocol(load_dict(d), out_dir=tmp_path / "b")
    assert report.notes == []
    summary = report.summary.set_index("model")
    assert summary.loc["nmm2", "max_rate_hz"] > 2 * summary.loc["nmm2", "min_rate_hz"]        # the rhythm
