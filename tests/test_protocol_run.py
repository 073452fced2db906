"""`stimsim run` end to end on every shipped protocol, and the physics the protocol layer adds.

References are independent of the code under test: the DC shift against the core fixed-point
solver with the input added by hand (models.md M6), tACS lock-in amplitudes and phases against
the small-signal transfer function H(w) = c (i w I - A)^-1 b written out here with numpy
(models.md M8), the TI envelope response against the square law (Grossman et al. 2017; docs/models.md M6).
"""
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stimsim
from stimsim.cli import main
from stimsim.dynamics import find_fixed_points
from model_views import initial_state, jacobian_nmm1, jacobian_nmm2, nmm2_state
from stimsim.protocol import load_dict, load_protocol, run_protocol
from stimsim.transfer import dphi_qif

PROTOCOLS = Path(__file__).resolve().parents[1] / "protocols"
# protocols run by stimsim run (sweep protocols run with stimsim sweep: tests/test_sweep.py)
SHIPPED = sorted(p for p in PROTOCOLS.glob("*.toml") if "\n[sweep]" not in p.read_text())
TS_COLUMNS = ["time_ms", "model", "population", "rate_hz", "v", "s_hz", "z_hz"]
SUMMARY_COLUMNS = ["model", "population", "mean_rate_hz", "min_rate_hz", "max_rate_hz", "dominant_frequency_hz",
                   "drive_frequency_hz", "psd_at_drive_hz2_per_hz", "response_amplitude_hz", "response_phase_rad",
                   "window_start_ms", "window_stop_ms"]


def run_cli(argv):
    t0 = time.perf_counter()
    code = main(argv)
    return code, time.perf_counter() - t0


@pytest.fixture(scope="module")
def shipped_runs(tmp_path_factory):
    """Run every shipped protocol once: {stem: (out folder, wall seconds)}."""
    root = tmp_path_factory.mktemp("shipped")
    stimsim.warmup()                                   # compile or load the kernels outside the timing
    runs = {}
    for path in SHIPPED:
        out = root / path.stem
        code, wall = run_cli(["run", str(path), "--out", str(out), "--quiet"])
        assert code == 0, path.name
        runs[path.stem] = (out, wall)
    return runs


def test_all_issue_protocols_are_shipped():
    stems = {p.stem for p in SHIPPED}
    assert {"tdcs-pyramidal", "tacs-10hz-pyramidal", "tacs-resonance-pyramidal", "trns-pyramidal",
            "ti-pyramidal", "tacs-interneurons"} <= stems


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_protocol_end_to_end(path, shipped_runs, tmp_path):
    out, wall = shipped_runs[path.stem]
    assert wall < 60.0, f"{path.name} took {wall:.1f} s"
    protocol = load_protocol(path)
    meta = json.loads((out / "metadata.json").read_text())
    files = {p.name for p in out.iterdir()}
    assert files == {"metadata.json"} | set(meta["files"])
    if protocol.has_timeseries:
        assert {"timeseries.csv", "summary.csv", "timeseries.png"} <= files
        check_timeseries_outputs(protocol, out, meta)
    if protocol.study is not None:
        assert any(f.endswith(".csv") for f in set(meta["files"]) - {"timeseries.csv", "summary.csv"})
    assert meta["protocol"]["name"] == protocol.name
    assert {"stimsim", "numpy", "scipy", "numba"} <= set(meta["environment"])
    assert meta["wall_time_s"]["total"] > 0
    assert "warnings" in meta["safety"]

    # re-running from the metadata gives the same numbers, in every table
    again = tmp_path / "again"
    code, _ = run_cli(["run", str(out / "metadata.json"), "--out", str(again), "--quiet"])
    assert code == 0
    assert {p.name for p in again.iterdir()} == files
    for name in sorted(f for f in files if f.endswith(".csv")):
        pd.testing.assert_frame_equal(pd.read_csv(again / name), pd.read_csv(out / name), check_exact=True)


def check_timeseries_outputs(protocol, out, meta):
    ts = pd.read_csv(out / "timeseries.csv")
    drive_col = "field_v_per_m" if protocol.drive_unit == "field" else "drive_model_units"
    assert list(ts.columns) == TS_COLUMNS + [drive_col, "stim_input"]
    assert set(ts["model"]) == set(protocol.models) and set(ts["population"]) == set(protocol.circuit.names)
    assert np.all(np.isfinite(ts.select_dtypes("number").to_numpy())) and (ts["rate_hz"] >= 0).all()
    one = ts[(ts["model"] == protocol.models[0]) & (ts["population"] == protocol.circuit.names[0])]
    step = protocol.dt_ms * protocol.record_every
    np.testing.assert_allclose(np.diff(one["time_ms"]), step, rtol=1e-9)       # time in ms
    first = 0.0 if protocol.include_transient else protocol.transient_ms
    assert one["time_ms"].iloc[0] == pytest.approx(first, abs=step)
    assert one["time_ms"].iloc[-1] == pytest.approx(protocol.duration_ms)
    # the input each population receives: lambda * E / scale from the file's own numbers (M6), or the current
    for pop in protocol.circuit.names:
        sub = ts[ts["population"] == pop]
        if protocol.drive_unit == "field":
            c = protocol.resolved["stimulation"]["coupling"]
            gain = c["lambda_mm"][pop] / c["scale_mv_per_unit"][pop]
        else:
            gain = 1.0 if pop in protocol.resolved["stimulation"]["coupling"]["populations"] else 0.0
        np.testing.assert_allclose(sub["stim_input"], gain * sub[drive_col], rtol=1e-12, atol=0)
    units = meta["files"]["timeseries.csv"]
    assert units["time_ms"] == "ms" and units["rate_hz"].startswith("Hz")
    assert units[drive_col].startswith("V/m" if protocol.drive_unit == "field" else "model")
    assert set(meta["wall_time_s"]["kernel"]) == set(protocol.models)

    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert len(summary) == len(protocol.models) * protocol.circuit.n_populations
    assert np.all(np.isfinite(summary["mean_rate_hz"]))
    if protocol.drive_frequency_hz is not None:
        assert np.all(np.isfinite(summary[["response_amplitude_hz", "response_phase_rad", "psd_at_drive_hz2_per_hz"]]))


# --- physics of the shipped protocols ------------------------------------------------------------------
def transfer_nmm2(circuit, gain, f_hz):
    """Rate response (Hz per drive unit) of one QIF population, NMM2 (M2, M8): input in the v equation."""
    pop = circuit.populations[0]
    r = find_fixed_points(circuit)[0]
    A = jacobian_nmm2(circuit, nmm2_state(circuit, r))
    b = np.array([0.0, gain / pop.tau_m, 0.0, 0.0])          # tau_m dv/dt = ... + I(t)
    w = 2 * np.pi * np.asarray(f_hz) / 1000.0                 # rad/ms
    return np.array([1000.0 * np.linalg.solve(1j * wi * np.eye(4) - A, b)[0] for wi in np.atleast_1d(w)])


def transfer_nmm1(circuit, gain, f_hz):
    """Rate response of NMM1 (M4, M8): r = Phi(x + u), so delta r = Phi' (tau_m J delta s + u)."""
    pop = circuit.populations[0]
    r = find_fixed_points(circuit)[0]
    x = pop.eta_bar + pop.I + pop.tau_m * circuit.J[0, 0] * r[0]
    slope = dphi_qif(x, pop.delta, pop.tau_m)
    A = jacobian_nmm1(circuit, r)
    b = np.array([0.0, slope * gain / pop.tau_s])             # tau_s dz/dt = r - 2z - s
    w = 2 * np.pi * np.asarray(f_hz) / 1000.0
    hs = np.array([np.linalg.solve(1j * wi * np.eye(2) - A, b)[0] for wi in np.atleast_1d(w)])
    return 1000.0 * (slope * pop.tau_m * circuit.J[0, 0] * hs + slope * gain)


@pytest.mark.parametrize("stem", ["tacs-10hz-pyramidal", "tacs-resonance-pyramidal"])
def test_tacs_lockin_matches_small_signal_transfer_function(stem, shipped_runs):
    out, _ = shipped_runs[stem]
    p = load_protocol(PROTOCOLS / f"{stem}.toml")
    summary = pd.read_csv(out / "summary.csv").set_index("model")
    w = p.waveforms[0]
    gain = 0.12 / 10.0                                        # lambda / scale from the file (M6)
    e0 = w.amplitude / 2.0                                    # peak-to-peak -> zero-to-peak
    for model, H in (("nmm2", transfer_nmm2), ("nmm1", transfer_nmm1)):
        h = H(p.circuit, gain, w.frequency_hz)[0]
        assert summary.loc[model, "response_amplitude_hz"] == pytest.approx(e0 * abs(h), rel=0.01)
        assert summary.loc[model, "response_phase_rad"] == pytest.approx(np.angle(h), abs=0.02)


def test_resonance_protocol_sits_on_the_nmm2_peak(shipped_runs):
    p = load_protocol(PROTOCOLS / "tacs-resonance-pyramidal.toml")
    f = np.arange(1.0, 120.0, 0.05)
    g2 = np.abs(transfer_nmm2(p.circuit, 1.0, f))
    g1 = np.abs(transfer_nmm1(p.circuit, 1.0, f))
    assert abs(f[np.argmax(g2)] - p.waveforms[0].frequency_hz) < 1.0
    assert np.argmax(g1) == 0                                 # NMM1: largest at the lowest frequency (M7.2)
    summary = pd.read_csv(shipped_runs["tacs-resonance-pyramidal"][0] / "summary.csv").set_index("model")
    assert summary.loc["nmm2", "response_amplitude_hz"] > 3 * summary.loc["nmm1", "response_amplitude_hz"]
    assert summary.loc["nmm2", "dominant_frequency_hz"] == pytest.approx(47.0, abs=0.5)


def test_tdcs_plateau_is_the_shifted_fixed_point(shipped_runs):
    ts = pd.read_csv(shipped_runs["tdcs-pyramidal"][0] / "timeseries.csv")
    p = load_protocol(PROTOCOLS / "tdcs-pyramidal.toml")
    base = find_fixed_points(p.circuit)[0, 0] * 1000.0
    shifted = find_fixed_points(p.circuit.replace(I=0.12 * 0.8 / 10.0))[0, 0] * 1000.0
    for model in ("nmm2", "nmm1"):
        sub = ts[ts["model"] == model].set_index("time_ms")
        assert sub.loc[400.0, "rate_hz"] == pytest.approx(base, rel=1e-9)
        assert sub.loc[2900.0, "rate_hz"] == pytest.approx(shifted, rel=1e-9)
        assert sub.loc[2900.0, "field_v_per_m"] == 0.8 and sub.loc[500.0, "field_v_per_m"] == 0.0
        assert sub.loc[750.0, "field_v_per_m"] == pytest.approx(0.4)          # raised-cosine mid-ramp
    assert shifted > base                                                     # anodal depolarizes


def test_interneurons_entrained_by_tacs(shipped_runs, tmp_path):
    summary = pd.read_csv(shipped_runs["tacs-interneurons"][0] / "summary.csv").set_index("model")
    assert summary.loc["nmm2", "dominant_frequency_hz"] == pytest.approx(120.0, abs=0.5)
    # without the drive the NMM2 rhythm runs at its own frequency, and NMM1 does not oscillate (M7.1)
    out = tmp_path / "free"
    code, _ = run_cli(["run", str(PROTOCOLS / "tacs-interneurons.toml"), "--out", str(out), "--quiet",
                       "--set", "stimulation.waveforms.0.amplitude=0.0"])
    assert code == 0
    free = pd.read_csv(out / "summary.csv").set_index("model")
    assert abs(free.loc["nmm2", "dominant_frequency_hz"] - 120.0) > 5.0
    assert free.loc["nmm2", "max_rate_hz"] - free.loc["nmm2", "min_rate_hz"] > 100.0
    assert free.loc["nmm1", "max_rate_hz"] - free.loc["nmm1", "min_rate_hz"] < 1e-6


def test_ti_envelope_response_is_second_order(shipped_runs, tmp_path):
    """No line at the envelope frequency in the field, so the 10 Hz response is quadratic (Grossman et al. 2017)."""
    out = tmp_path / "double"
    code, _ = run_cli(["run", str(PROTOCOLS / "ti-pyramidal.toml"), "--out", str(out), "--quiet",
                       "--set", "stimulation.waveforms.0.amplitude=2.0"])
    assert code == 0
    single = pd.read_csv(shipped_runs["ti-pyramidal"][0] / "summary.csv").set_index("model")
    double = pd.read_csv(out / "summary.csv").set_index("model")
    for model in ("nmm2", "nmm1"):
        ratio = double.loc[model, "response_amplitude_hz"] / single.loc[model, "response_amplitude_hz"]
        assert ratio == pytest.approx(4.0, rel=0.02)
    ts = pd.read_csv(shipped_runs["ti-pyramidal"][0] / "timeseries.csv")
    assert ts["field_v_per_m"].max() == pytest.approx(2.0, rel=1e-3)        # carriers add up to 2 A


def test_trns_field_rms(shipped_runs):
    ts = pd.read_csv(shipped_runs["trns-pyramidal"][0] / "timeseries.csv")
    e = ts[(ts["model"] == "nmm2")]["field_v_per_m"].to_numpy()
    assert math.sqrt(np.mean(e ** 2)) == pytest.approx(0.5, rel=0.03)        # after the ramp, on the record grid
    meta = json.loads((shipped_runs["trns-pyramidal"][0] / "metadata.json").read_text())
    assert meta["seeds"] == {"stimulation.waveforms[0].seed": 20240611}


# --- coupling: a DC field is an added constant input (models.md M6) -----------------------------------------
@pytest.mark.parametrize("field_v_per_m", [5.0, -5.0])
def test_dc_field_shifts_nmm2_fixed_point_like_constant_input(field_v_per_m):
    lam, scale = 0.2, 8.0
    d = {"name": "dc", "circuit": {"preset": "pyramidal"},
         "run": {"models": ["nmm2"], "duration_ms": 1500.0, "dt_ms": 0.05, "record_every": 100},
         "stimulation": {"coupling": {"lambda_mm": lam, "scale_mv_per_unit": scale},
                         "waveforms": [{"kind": "dc", "amplitude": field_v_per_m}]}}
    p = load_dict(d)
    from stimsim.protocol.runner import drive_input, simulate_models

    res = simulate_models(p, drive_input(p)[2])["nmm2"]
    shift = lam * field_v_per_m / scale                    # QIF units
    moved = p.circuit.replace(I=p.circuit.populations[0].I + shift)
    fp = stimsim.fixed_points(moved).query("model == 'nmm2'").iloc[0]
    assert res.rate_hz[-1, 0] == pytest.approx(fp["rate_hz"], rel=1e-9)
    assert res.v[-1, 0] == pytest.approx(fp["v"], rel=1e-9)
    direct = stimsim.simulate(moved, model="nmm2", duration_ms=1500.0, dt_ms=0.05, record_every=100,
                              initial=initial_state(p.circuit, "nmm2", "fixed_point"))
    np.testing.assert_allclose(res.states[-1], direct.states[-1], rtol=1e-12)
    base = stimsim.fixed_points(p.circuit).query("model == 'nmm2'").iloc[0]["rate_hz"]
    assert np.sign(res.rate_hz[-1, 0] - base) == np.sign(field_v_per_m)   # E > 0 depolarizes (M6)


# --- safety notes and atomic writing -------------------------------------------------------------------------
SMALL = {"name": "small", "circuit": {"preset": "pyramidal"},
         "run": {"duration_ms": 100.0, "dt_ms": 0.05, "record_every": 20},
         "stimulation": {"waveforms": [{"kind": "sine", "amplitude": 3.0, "convention": "zero_to_peak",
                                        "frequency_hz": 20.0}]}}


def test_safety_warnings_recorded(tmp_path, capsys):
    d = json.loads(json.dumps(SMALL))
    d["stimulation"]["device"] = {"current_ma": 5.0, "session_min": 45.0}
    report = run_protocol(load_dict(d), out_dir=tmp_path / "out")
    codes = [n["code"] for n in report.notes]
    assert codes == ["field_above_realistic_cortical_range", "current_above_4_ma", "session_above_40_min",
                     "charge_above_7_2_c"]
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert [n["code"] for n in meta["safety"]["warnings"]] == codes[1:] and meta["safety"]["within_evidence_base"] is False
    assert [n["code"] for n in meta["realism"]["warnings"]] == codes[:1]
    assert "13.5 C" in meta["safety"]["warnings"][2]["message"]                # 5 mA x 45 min x 60 s
    assert capsys.readouterr().err.count("stimsim: warning:") == 4
    d["stimulation"]["waveforms"][0]["amplitude"] = 1.0
    d["stimulation"]["device"] = {"current_ma": 2.0, "session_min": 20.0}
    assert run_protocol(load_dict(d), out_dir=tmp_path / "ok").notes == []


@pytest.mark.parametrize("target", ["write_json", "save_figure"])
def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch, target):
    import stimsim.io

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stimsim.io, target, boom)
    with pytest.raises(KeyboardInterrupt):
        run_protocol(load_dict(SMALL), out_dir=tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


# --- multi-population circuits ---------------------------------------------------------------------------------
@pytest.mark.parametrize("preset, dt, models", [("ping", 0.02, ["nmm2", "nmm1"]), ("jansen-rit", 0.1, ["nmm1"])])
def test_field_on_one_population_of_a_circuit(tmp_path, preset, dt, models):
    target = "E" if preset == "ping" else "P"
    d = {"name": preset, "circuit": {"preset": preset},
         "run": {"models": models, "duration_ms": 300.0, "dt_ms": dt, "record_every": 10, "transient_ms": 100.0},
         "stimulation": {"coupling": {"populations": [target], "lambda_mm": 0.3},
                         "waveforms": [{"kind": "sine", "amplitude": 1.0, "convention": "zero_to_peak",
                                        "frequency_hz": 40.0}]}}
    p = load_dict(d)
    report = run_protocol(p, out_dir=tmp_path / "out")
    ts = report.timeseries
    scale = 10.0 if preset == "ping" else 1.0       # stimsim.coupling defaults: QIF 10 mV/unit, sigmoid 1 mV/unit
    for pop in p.circuit.names:
        sub = ts[ts["population"] == pop]
        expected = 0.3 / scale * sub["field_v_per_m"] if pop == target else 0.0 * sub["field_v_per_m"]
        np.testing.assert_allclose(sub["stim_input"], expected, rtol=1e-12, atol=0)
    assert set(report.summary["model"]) == set(models) and len(report.summary) == len(models) * p.circuit.n_populations
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["drive"]["input_per_drive_unit"][target] == pytest.approx(0.3 / scale)


def test_output_options(tmp_path):
    d = json.loads(json.dumps(SMALL))
    d["run"]["transient_ms"] = 40.0
    d["output"] = {"variables": ["rate_hz"], "files": ["summary"], "include_transient": False}
    report = run_protocol(load_dict(d), out_dir=tmp_path / "a")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["metadata.json", "summary.csv"]
    assert list(report.timeseries.columns) == ["time_ms", "model", "population", "rate_hz", "field_v_per_m", "stim_input"]
    assert report.timeseries["time_ms"].min() == pytest.approx(40.0)
    d["output"] = {"files": [], "include_transient": True}
    report = run_protocol(load_dict(d), out_dir=tmp_path / "b")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["metadata.json"]
    assert report.timeseries["time_ms"].min() == 0.0
