"""[study] tables: validation messages (stimsim.protocol.study), run_study on a stand-in protocol,
end to end through `stimsim run`."""
import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stimsim
from stimsim.analysis import run_study
from stimsim.coupling import FieldCoupling
from stimsim.protocol import ProtocolError
from stimsim.protocol.study import check_against_run, validate_study

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "p.toml"
WHERE = "p.toml: study"


def test_validate_frequency_response_study_with_ranges():
    spec = validate_study({"kind": "frequency_response", "freqs_hz": {"start": 1, "stop": 10, "num": 4},
                           "amplitudes": [0.5, 0.1], "method": "lockin",
                           "parameters": {"J": [2, 8], "eta_bar.P": {"start": 0, "stop": 2, "step": 1}}}, SOURCE)
    assert spec.freqs_hz == (1.0, 4.0, 7.0, 10.0)
    assert spec.amplitudes == (0.1, 0.5)
    assert spec.method == "lockin"
    assert spec.parameters == {"J": (2.0, 8.0), "eta_bar.P": (0.0, 1.0, 2.0)}
    assert len(spec.parameter_sets()) == 6
    log = validate_study({"kind": "entrainment", "freqs_hz": {"start": 1, "stop": 100, "num": 3, "spacing": "log"}}, SOURCE)
    np.testing.assert_allclose(log.freqs_hz, [1.0, 10.0, 100.0])
    assert log.amplitudes == (0.0, 1.0)


@pytest.mark.parametrize("table, match", [
    ({"freqs_hz": [1.0]}, r"^p\.toml: study\.kind: is required"),
    ({"kind": "resonance", "freqs_hz": [1.0]}, r"study\.kind: 'resonance' is not allowed.*; allowed: frequency_response, entrainment"),
    ({"kind": "frequency_response", "freqs_hz": [1.0], "amplitude": [1.0]}, r"study\.amplitude: unknown key \(did you mean 'amplitudes'\?\)"),
    ({"kind": "frequency_response", "freqs_hz": [1.0], "measure_ms": 100.0}, r"study\.measure_ms: unknown key \(only for kind = 'entrainment'\)"),
    ({"kind": "frequency_response", "freqs_hz": [0.0, 5.0]}, r"study\.freqs_hz\[0\]: must be > 0 Hz, got 0"),
    ({"kind": "frequency_response", "freqs_hz": "1-10"}, r"study\.freqs_hz: must be a list of numbers"),
    ({"kind": "frequency_response", "freqs_hz": {"start": 1, "stop": 10}}, r"study\.freqs_hz: give exactly one of num or step"),
    ({"kind": "frequency_response", "freqs_hz": {"start": 10, "stop": 1, "num": 3}}, r"study\.freqs_hz\.stop: must be >= start"),
    ({"kind": "frequency_response", "freqs_hz": [1.0], "amplitudes": [-1.0]}, r"study\.amplitudes\[0\]: must be >= 0"),
    ({"kind": "frequency_response", "freqs_hz": [1.0], "method": "fft"}, r"study\.method: 'fft' is not allowed"),
    ({"kind": "frequency_response", "freqs_hz": [1.0], "parameters": {"etabar": [1.0]}}, r"study\.parameters\.etabar: unknown parameter \(did you mean 'eta_bar'\?\)"),
    ({"kind": "entrainment", "freqs_hz": [1.0], "plv_threshold": 2.0}, r"study\.plv_threshold: must be <= 1"),
    ({"kind": "entrainment", "freqs_hz": [1.0], "max_denominator": 0}, r"study\.max_denominator: must be an integer >= 1"),
    ({"kind": "frequency_response", "freqs_hz": {"start": 1, "stop": 1000, "step": 0.001}, "amplitudes": {"start": 0, "stop": 1, "num": 300}}, r"exceed the limit"),
    ({"kind": "frequency_response", "freqs_hz": [1.0, 2.0], "amplitudes": {"start": 0, "stop": 1, "num": 150000}, "method": "lockin"}, r"^p\.toml: study: 300000 runs .* exceed the limit 200000"),
    ({"kind": "frequency_response", "freqs_hz": {"start": 1, "stop": 10, "num": 10**20}}, r"study\.freqs_hz\.num: 100000000000000000000 values exceed the limit"),
    ({"kind": "frequency_response", "freqs_hz": {"start": 1, "stop": 10, "step": 1e-300}}, r"study\.freqs_hz: .* values .* exceed the limit"),
    ({"kind": "frequency_response", "freqs_hz": [1.0], "parameters": {"eta_bar": {"start": -1e308, "stop": 1e308, "num": 3}}}, r"study\.parameters\.eta_bar: the range .* is too wide"),
    ({"kind": "frequency_response", "freqs_hz": [1.0], "parameters": [1.0]}, r"study\.parameters: must be a table \{name = \[values\]\}, got a list"),
    (["frequency_response"], r"^p\.toml: study: must be a table, got a list"),
])
def test_validate_study_errors(table, match):
    with pytest.raises(ProtocolError, match=match) as info:
        validate_study(table, SOURCE)
    msg = str(info.value)
    assert msg.startswith(WHERE) and "\n" not in msg


def stand_in(circuit, study, drive_unit="current", models=("nmm2", "nmm1")):
    return types.SimpleNamespace(circuit=circuit, models=models, coupling=FieldCoupling(), drive_unit=drive_unit,
                                 input_populations=tuple(circuit.names), dt_ms=0.05, transient_ms=0.0,
                                 integrator="rk4", study=study)


def test_run_frequency_response_study_tables_and_figures():
    spec = validate_study({"kind": "frequency_response", "method": "both", "freqs_hz": [2.0, 20.0, 47.0, 80.0],
                           "amplitudes": [1.0], "parameters": {"J": [4.0, 8.0], "eta_bar": [1.0, 2.0]}}, SOURCE)
    tables, figures = run_study(stand_in(stimsim.preset("pyramidal"), spec, drive_unit="field"), progress=False)
    fr, res = tables["frequency_response"], tables["resonance"]
    # tidy: one row per model x parameter set x frequency x (amplitude | linear)
    assert len(fr) == 2 * 4 * 4 * 2
    assert {"model", "method", "J", "eta_bar", "freq_hz", "amplitude_v_per_m", "gain_hz_per_v_per_m",
            "phase_deg", "mean_shift_hz", "harmonic2_hz"} <= set(fr.columns)
    lin = fr[fr.method == "linear"].set_index(["model", "J", "eta_bar", "freq_hz"])["gain_hz_per_v_per_m"]
    sim = fr[fr.method == "lockin"].set_index(["model", "J", "eta_bar", "freq_hz"])["gain_hz_per_v_per_m"]
    np.testing.assert_allclose(sim, lin.loc[sim.index], rtol=0.01)
    assert set(res["summary"]) <= {s for s in res["summary"] if s.startswith(("resonance at", "rising to the grid edge"))}
    assert not res[res.model == "nmm1"]["resonance"].any()
    assert set(figures) == {"resonance_curves", "resonance_peak"}
    for fig in figures.values():
        fig.clf()


def test_run_entrainment_study_on_stand_in():
    spec = validate_study({"kind": "entrainment", "freqs_hz": [125.0, 129.0, 133.0], "amplitudes": [0.0, 3.0],
                           "settle_ms": 300.0, "measure_ms": 500.0}, SOURCE)
    tables, figures = run_study(stand_in(stimsim.preset("interneurons"), spec, models=("nmm2",)), progress=False)
    ent = tables["entrainment"]
    assert len(ent) == 3 * 2
    assert not ent[ent.amplitude_unit == 0]["locked"].any()
    assert ent[(ent.amplitude_unit == 3.0) & (ent.freq_hz == 129.0)]["locked_1to1"].all()
    assert set(figures) == {"arnold_tongue", "plv_vs_amplitude"}


def test_check_against_run_unknown_population_in_parameters():
    spec = validate_study({"kind": "frequency_response", "method": "linear", "freqs_hz": [5.0],
                           "parameters": {"eta_bar.X": [1.0]}}, SOURCE)
    with pytest.raises(ProtocolError, match=r"^p\.toml: study\.parameters\.eta_bar\.X: population 'X' does not exist"):
        check_against_run(spec, stand_in(stimsim.preset("pyramidal"), spec), SOURCE)


@pytest.mark.parametrize("table, match", [
    ({"kind": "frequency_response", "freqs_hz": [5.0, 10000.0]}, r"study\.freqs_hz: 10000 Hz is not below the Nyquist frequency 10000 Hz"),
    ({"kind": "frequency_response", "freqs_hz": [5.0], "output_population": "Q"}, r"study\.output_population: 'Q' is not a population"),
    ({"kind": "frequency_response", "freqs_hz": [5.0], "parameters": {"J": [1.0]}}, r"study\.parameters\.J: a scalar J sweep needs a one-population circuit"),
])
def test_check_against_run(table, match):
    circuit = stimsim.preset("ping") if "parameters" in table else stimsim.preset("pyramidal")
    spec = validate_study(table, SOURCE)
    with pytest.raises(ProtocolError, match=match):
        check_against_run(spec, stand_in(circuit, spec), SOURCE)


def test_run_study_needs_a_validated_spec():
    table = {"kind": "frequency_response", "freqs_hz": [5.0]}
    with pytest.raises(TypeError, match="validate_study"):
        run_study(stand_in(stimsim.preset("pyramidal"), table), progress=False)


def test_analysis_layer_does_not_import_the_protocol_layer():
    code = ("import sys, stimsim.analysis._studies, stimsim.analysis._figures; "
            "assert not [m for m in sys.modules if m.startswith('stimsim.protocol')], sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- end to end through the protocol loader and `stimsim run` ----------------------------------------
needs_protocol = pytest.mark.skipif(importlib.util.find_spec("stimsim.protocol") is None,
                                    reason="protocol layer (issue 3) not available")


def run_cli(args):
    from stimsim.cli import main

    return main(args)


@needs_protocol
def test_cli_runs_pyramidal_resonance_study(tmp_path):
    out = tmp_path / "res"
    # the shipped file, trimmed by --set to keep the test short (the full file runs in ~20 s)
    code = run_cli(["run", str(ROOT / "protocols" / "study_pyramidal_resonance.toml"), "--out", str(out), "--quiet",
                    "--set", "study.freqs_hz=[5.0, 30.0, 47.0, 90.0]",
                    "--set", "study.parameters.J=[4.0, 8.0]", "--set", "study.parameters.eta_bar=[1.0, 2.0]"])
    assert code == 0
    fr = pd.read_csv(out / "frequency_response.csv")
    res = pd.read_csv(out / "resonance.csv")
    assert {"freq_hz", "gain_hz_per_v_per_m", "phase_deg", "amplitude_v_per_m"} <= set(fr.columns)
    assert len(fr) == 2 * 4 * 4 * 3                       # models x sets x freqs x (linear + 2 amplitudes)
    s2 = res[(res.model == "nmm2") & (res.method == "linear")].set_index(["J", "eta_bar"])
    assert s2.loc[(8.0, 1.0), "peak_freq_hz"] > s2.loc[(4.0, 1.0), "peak_freq_hz"]
    for name in ("resonance_curves.png", "resonance_peak.png", "metadata.json"):
        assert (out / name).stat().st_size > 0


@needs_protocol
def test_cli_runs_interneuron_arnold_tongue_study(tmp_path):
    out = tmp_path / "tongue"
    code = run_cli(["run", str(ROOT / "protocols" / "study_interneuron_arnold_tongue.toml"), "--out", str(out),
                    "--quiet", "--set", "study.freqs_hz={start = 121.0, stop = 137.0, num = 5}",
                    "--set", "study.amplitudes=[0.0, 2.0, 6.0]", "--set", "study.settle_ms=300.0",
                    "--set", "study.measure_ms=600.0"])
    assert code == 0
    ent = pd.read_csv(out / "entrainment.csv")
    width = pd.read_csv(out / "tongue_width.csv")
    assert len(ent) == 2 * 5 * 3
    w2 = width[width.model == "nmm2"].sort_values("amplitude_unit")["n_locked"].to_numpy()
    assert w2[0] == 0 and w2[1] < w2[2]
    assert (out / "arnold_tongue.png").stat().st_size > 0


@needs_protocol
def test_cli_rejects_bad_study_before_running(tmp_path, capsys):
    out = tmp_path / "bad"
    code = run_cli(["run", str(ROOT / "protocols" / "study_pyramidal_resonance.toml"), "--out", str(out),
                    "--set", "study.method=\"fast\""])
    assert code == 2
    err = capsys.readouterr().err
    assert "study.method" in err and "'fast' is not allowed" in err
    assert not out.exists()
