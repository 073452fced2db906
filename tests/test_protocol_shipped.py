"""Every numeric or scientific claim in the comments and descriptions of the shipped protocols
(protocols/*.toml), checked by running the protocol (load_protocol + run_protocol) or, where the claim
is about the circuit, against the fixed points, linearisation and closed forms (docs/models.md M3-M8).
"""
import math
from pathlib import Path

import numpy as np
import pytest

import stimsim
from stimsim.dynamics import find_fixed_points, linearize
from stimsim.protocol import load_protocol, run_protocol
from stimsim.protocol.safety import MAX_CORTICAL_FIELD_V_PER_M, MEASURED_CORTICAL_FIELD_V_PER_M

PROTOCOLS = Path(__file__).resolve().parents[1] / "protocols"
SHIPPED = sorted(p.stem for p in PROTOCOLS.glob("*.toml"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{stem: (protocol, RunReport)} for every shipped protocol, each run once."""
    root = tmp_path_factory.mktemp("shipped")
    out = {}
    with open("/dev/null", "w") as quiet:
        for stem in SHIPPED:
            p = load_protocol(PROTOCOLS / f"{stem}.toml")
            if p.sweep is not None:                      # sweeps run with stimsim sweep (tested below)
                continue
            out[stem] = (p, run_protocol(p, out_dir=root / stem, stream=quiet))
    return out


def row(report, model, population=None):
    s = report.summary
    s = s[s["model"] == model]
    if population is not None:
        s = s[s["population"] == population]
    return s.iloc[0]


def codes(report):
    return [n["code"] for n in report.notes]


def test_every_shipped_protocol_is_covered():
    assert set(SHIPPED) == {"tdcs-pyramidal", "tacs-10hz-pyramidal", "tacs-resonance-pyramidal", "trns-pyramidal",
                            "ti-pyramidal", "tacs-interneurons", "study_pyramidal_resonance",
                            "study_pyramidal_physiological", "study_interneuron_arnold_tongue",
                            "bifurcation-interneurons", "sweep-pyramidal-resonance-map"}


# --- sweep-pyramidal-resonance-map --------------------------------------------------------------------------------------
def test_sweep_pyramidal_resonance_map(tmp_path):
    from stimsim.analysis._linear import state_space
    from stimsim.sweep import run_sweep

    full = load_protocol(PROTOCOLS / "sweep-pyramidal-resonance-map.toml").sweep[1]
    assert [len(v) for v in full.values.values()] == [13, 7, 20] and full.n_points == 1820
    # the shipped protocol on a few of its points (same settings, coarser grid)
    p = load_protocol(PROTOCOLS / "sweep-pyramidal-resonance-map.toml",
                      sets=["sweep.parameters.J=[2.0, 8.0]", "sweep.parameters.eta_bar=[1.0]",
                            "sweep.parameters.frequency_hz=[10.0, 45.0, 100.0]"])
    task, design, _ = p.sweep
    assert (task.settle_ms, task.measure_ms, task.amplitude, task.drive.unit) == (300.0, 300.0, 1.0, "field")
    # 1 V/m is inside the 0.2-2 V/m of cortical fields; lambda 0.12 mm and 10 mV per QIF unit give
    # 0.012 QIF units per V/m (docs/models.md M6)
    assert 0.2 <= task.amplitude <= MAX_CORTICAL_FIELD_V_PER_M
    np.testing.assert_allclose(task.drive.gains(p.circuit), [0.12 / 10.0])
    t = run_sweep(task, design, tmp_path / "s", progress=False).table
    assert (t.status == "ok").all()
    for _, row in t.iterrows():
        c = p.circuit.replace(J=row.J, eta_bar=row.eta_bar)
        # each point starts at the stable fixed point and is the small-signal response there
        assert row.fixed_point_rate_hz == pytest.approx(find_fixed_points(c)[0][0] * 1000, rel=1e-9)
        H = state_space(c, row.model, [0.012], "P").transfer([row.frequency_hz])[0]
        assert row.gain == pytest.approx(abs(H), rel=5e-3)


# --- bifurcation-interneurons -------------------------------------------------------------------------------------------
def test_bifurcation_interneurons(runs):
    p, rep = runs["bifurcation-interneurons"]
    sp = rep.study_tables["special_points"]
    # NMM2: two supercritical Hopf points, joined by one branch of stable limit cycles; NMM1: none
    hopf = sp[(sp.model == "nmm2") & (sp.kind == "H")]
    assert len(hopf) == 2 and (hopf.criticality == "supercritical").all()
    assert sp[sp.model == "nmm1"].empty
    cyc = rep.study_tables["limit_cycles"]
    assert set(cyc.model) == {"nmm2"} and cyc.cycle_branch.nunique() == 1 and cyc.stable.all()
    assert cyc.parameter_value.min() >= hopf.parameter_value.min() - 1e-9
    assert cyc.parameter_value.max() <= hopf.parameter_value.max() + 1e-9
    # the Hopf curve in (I, tau_s/tau_m) closes at a largest tau_s/tau_m inside the range, and
    # above it the fixed point is stable over the whole I range (slow synapses end the rhythm)
    curves = rep.study_tables["bifurcation_curves"]
    top = curves[curves.hopf]["tau_s/tau_m"].max()
    assert top < 2.0
    slow = p.circuit.replace(tau_s=1.02 * top * p.circuit.vector("tau_m")[0])
    for I in np.linspace(-20, 100, 13):
        c = slow.replace(I=I)
        assert linearize(c, "nmm2", find_fixed_points(c)[0]).stable
    assert rep.timeseries is None and rep.metadata["study_runs"] == 0


# --- tdcs-pyramidal ----------------------------------------------------------------------------------------------------
def test_tdcs(runs):
    p, rep = runs["tdcs-pyramidal"]
    wave = p.waveforms[0]
    assert p.resolved["stimulation"]["waveforms"][0]["amplitude"] == MEASURED_CORTICAL_FIELD_V_PER_M == 0.8
    assert p.device == {"current_ma": 2.0, "session_min": 20.0}
    # lambda E / scale = 0.12 mm x 0.8 V/m / 10 mV = 0.0096 QIF units
    assert rep.timeseries["stim_input"].max() == pytest.approx(0.0096, rel=1e-12)
    # both models share the shifted fixed point; on the plateau they sit on it
    c = p.circuit
    r_shift = find_fixed_points(c.replace(I=0.0096))[0][0] * 1000
    ts = rep.timeseries
    plateau = ts[(ts["time_ms"] > 2000) & (ts["time_ms"] < 3000)]
    for m in ("nmm2", "nmm1"):
        np.testing.assert_allclose(plateau[plateau["model"] == m]["rate_hz"], r_shift, rtol=1e-7)
    # the ramps are slow compared with the (r, v) relaxation pi tau_m^2 r* / Delta (~60 ms): < 1e-3 Hz apart
    r0 = find_fixed_points(c)[0][0]
    assert math.pi * 20.0 ** 2 * r0 / 1.0 == pytest.approx(58.0, abs=0.5)
    a = ts[ts["model"] == "nmm2"]["rate_hz"].to_numpy()
    b = ts[ts["model"] == "nmm1"]["rate_hz"].to_numpy()
    assert np.max(np.abs(a - b)) < 1e-3
    assert (wave.ramp_up_ms, wave.ramp_down_ms) == (500.0, 500.0)
    # within the tDCS evidence base (2 mA, 20 min, 2.4 C) and the realistic field range: no note
    assert rep.notes == []


# --- tacs-10hz-pyramidal -------------------------------------------------------------------------------------------------
def test_tacs_10hz(runs):
    p, rep = runs["tacs-10hz-pyramidal"]
    peak = np.max(np.abs(p.drive_grid()[1]))
    assert peak == pytest.approx(1.0, rel=1e-6)                                  # 2 V/m p-p = 1 V/m zero-to-peak
    assert 0.2 <= peak <= MAX_CORTICAL_FIELD_V_PER_M
    r2, r1 = row(rep, "nmm2"), row(rep, "nmm1")
    assert abs(r1.response_amplitude_hz / r2.response_amplitude_hz - 1) < 0.05          # within 5 %
    # transient > 20 x the slowest relaxation time (< 50 ms) of either model
    r = find_fixed_points(p.circuit)[0]
    for m in ("nmm2", "nmm1"):
        slow = linearize(p.circuit, m, r).slowest_decay_ms
        assert slow < 50.0 and p.transient_ms > 20 * slow
    assert rep.notes == []


# --- tacs-resonance-pyramidal --------------------------------------------------------------------------------------------
def test_tacs_resonance(runs):
    p, rep = runs["tacs-resonance-pyramidal"]
    r_hz = find_fixed_points(p.circuit)[0][0] * 1000
    assert round(r_hz) == 46                                    # the population fires at 46 Hz
    assert p.drive_frequency_hz == 47.0
    assert row(rep, "nmm2").response_amplitude_hz > 5 * row(rep, "nmm1").response_amplitude_hz
    assert np.max(np.abs(p.drive_grid()[1])) == pytest.approx(1.0, rel=1e-6)          # 2 V/m p-p
    assert codes(rep) == ["nmm1_gain_differs_from_nmm2"]


# --- trns-pyramidal -------------------------------------------------------------------------------------------------------
def test_trns(runs):
    p, rep = runs["trns-pyramidal"]
    t, field = p.drive_grid()
    assert np.sqrt(np.mean(field[t > 100.0] ** 2)) == pytest.approx(0.5, rel=0.01)     # 0.5 V/m RMS after the ramp
    assert p.dt_ms * p.record_every == 0.25                                               # Nyquist 2 kHz
    w = p.resolved["stimulation"]["waveforms"][0]
    assert (w["low_hz"], w["high_hz"], w["seed"]) == (0.1, 640.0, 20240611)
    assert "field_above_realistic_cortical_range" not in codes(rep)


# --- ti-pyramidal ---------------------------------------------------------------------------------------------------------
def test_ti(runs):
    p, rep = runs["ti-pyramidal"]
    peak = np.max(np.abs(p.drive_grid()[1]))
    assert 1.99 < peak <= MAX_CORTICAL_FIELD_V_PER_M                                       # summed carriers peak at 2 V/m
    carrier_hz = p.resolved["stimulation"]["waveforms"][0]["carrier_hz"]
    assert (1000.0 / carrier_hz) / p.dt_ms == pytest.approx(100.0)                     # steps per carrier cycle
    # the 10 Hz response of NMM2 is below 1 % of its response to a 1 V/m, 10 Hz tACS field
    _, tacs = runs["tacs-10hz-pyramidal"]
    assert row(rep, "nmm2").response_amplitude_hz < 0.01 * row(tacs, "nmm2").response_amplitude_hz
    assert p.drive_frequency_hz == 10.0
    assert "field_above_realistic_cortical_range" not in codes(rep)


# --- tacs-interneurons -----------------------------------------------------------------------------------------------------
def test_tacs_interneurons(runs):
    p, rep = runs["tacs-interneurons"]
    c = p.circuit
    # undriven: NMM2 oscillates at ~129 Hz; NMM1 eigenvalues have real part -1/tau_s
    res = stimsim.simulate(c, model="nmm2", duration_ms=1000.0, dt_ms=0.02, record_every=5)
    assert stimsim.analysis.dominant_frequency(res.rate_hz[2000:, 0], 0.1) == pytest.approx(129.0, abs=1.0)
    r = find_fixed_points(c)[0]
    assert linearize(c, "nmm2", r).stability == "unstable focus"
    np.testing.assert_allclose(linearize(c, "nmm1", r).eigenvalues.real, -1.0 / 2.0, rtol=1e-9)
    # driven: NMM2 locked at the 120 Hz drive
    assert row(rep, "nmm2").dominant_frequency_hz == pytest.approx(120.0, abs=0.1)
    # realism: 5 QIF units = input of ~417 V/m on a pyramidal population, ~500 x the 0.8 V/m measured
    note = rep.notes[0]
    assert codes(rep) == ["current_drive_above_realistic_cortical_field"] and "417 V/m" in note["message"]
    assert 450 < (5.0 / 0.012) / MEASURED_CORTICAL_FIELD_V_PER_M < 550
    assert rep.metadata["realism"]["field_within_realistic_range"] is False


# --- study_pyramidal_resonance ----------------------------------------------------------------------------------------------
def test_study_pyramidal_resonance(runs):
    p, rep = runs["study_pyramidal_resonance"]
    s = rep.study_tables["resonance"]
    lin = s[(s["method"] == "linear")]
    n2 = lin[lin["model"] == "nmm2"].set_index(["J", "eta_bar"])
    res = n2[n2["resonance"].astype(bool)]
    # every set but J = 2, eta_bar = 0 (r* = 15 Hz) has a peak, within 1 Hz of r*, in 20-70 Hz
    assert set(n2.index) - set(res.index) == {(2.0, 0.0)}
    assert n2.loc[(2.0, 0.0), "fixed_point_rate_hz"] == pytest.approx(15.0, abs=0.1)
    assert np.all(np.abs(res["peak_freq_hz"] - res["fixed_point_rate_hz"]) < 1.0)
    assert res["peak_freq_hz"].between(20.0, 70.0).all()
    # peak frequency and height grow with J and with eta_bar
    for level, other in (("J", "eta_bar"), ("eta_bar", "J")):
        for _, g in res.reset_index().groupby(other):
            g = g.sort_values(level)
            assert np.all(np.diff(g["peak_freq_hz"]) > 0) and np.all(np.diff(g["peak_gain_hz_per_v_per_m"]) > 0)
    # NMM1 is low-pass
    assert not lin[lin["model"] == "nmm1"]["resonance"].astype(bool).any()
    # 1 V/m is in the linear regime: lock-in gain within 1 % of the linear gain
    fr = rep.study_tables["frequency_response"]
    lk = fr[(fr["method"] == "lockin") & (fr["amplitude_v_per_m"] == 1.0)].set_index(["model", "J", "eta_bar", "freq_hz"])
    ln = fr[fr["method"] == "linear"].set_index(["model", "J", "eta_bar", "freq_hz"])
    ratio = lk["gain_hz_per_v_per_m"] / ln.loc[lk.index, "gain_hz_per_v_per_m"]
    assert np.all(np.abs(ratio - 1) < 0.01)
    # 0.012 QIF units per V/m; 100 V/m is flagged as unrealistic
    assert p.input_gains[0] == pytest.approx(0.012)
    assert "field_above_realistic_cortical_range" in codes(rep)


# --- study_pyramidal_physiological -------------------------------------------------------------------------------------------
def test_study_pyramidal_physiological(runs):
    p, rep = runs["study_pyramidal_physiological"]
    c = p.circuit
    assert (c.populations[0].tau_m, c.populations[0].tau_s, c.J[0, 0], c.populations[0].delta) == (20.0, 10.0, 1.0, 0.1)
    assert c.populations[0].eta_bar == pytest.approx(0.188, abs=5e-4)
    assert find_fixed_points(c)[0][0] * 1000 == pytest.approx(10.0, rel=1e-9)
    s = rep.study_tables["resonance"]
    for method in ("linear", "lockin"):
        n2 = s[(s["model"] == "nmm2") & (s["method"] == method)].set_index(["eta_bar", "delta"])
        rates = n2["fixed_point_rate_hz"]
        assert 8.0 <= rates.min() and rates.max() <= 31.0                          # fires at 8-31 Hz
        d1 = n2.xs(0.1, level="delta")
        assert d1["resonance"].astype(bool).all()
        assert np.all(np.abs(d1["peak_freq_hz"] - d1["fixed_point_rate_hz"]) < 1.5)
        assert d1["peak_freq_hz"].between(5.0, 40.0).all()
        assert not bool(n2.loc[(0.1, 0.4), "resonance"])
        assert n2.loc[(0.1, 0.4), "fixed_point_rate_hz"] == pytest.approx(10.1, abs=0.05)
        assert not s[(s["model"] == "nmm1") & (s["method"] == method)]["resonance"].astype(bool).any()
    assert 2 * math.pi ** 2 * 20.0 ** 2 * 0.010 ** 2 == pytest.approx(0.79, abs=0.005)
    assert np.max(p.study.amplitudes) == 0.5 and "field_above_realistic_cortical_range" not in codes(rep)


# --- study_interneuron_arnold_tongue ------------------------------------------------------------------------------------------
def test_study_arnold_tongue(runs):
    p, rep = runs["study_interneuron_arnold_tongue"]
    ent = rep.study_tables["entrainment"]
    n2 = ent[ent["model"] == "nmm2"]
    assert n2["natural_freq_hz"].iloc[0] == pytest.approx(129.0, abs=0.5)
    w = rep.study_tables["tongue_width"]
    w2 = w[w["model"] == "nmm2"].sort_values("amplitude_unit")
    assert w2["width_hz"].iloc[0] == 0.0                                            # nothing locks undriven
    assert np.all(np.diff(w2["width_hz"]) >= 0) and w2["width_hz"].iloc[-1] > w2["width_hz"].iloc[1]
    locked = n2[n2["locked_1to1"].astype(bool)]
    assert locked["freq_hz"].min() < 129.0 < locked["freq_hz"].max()                 # centred on f0
    assert not ent[ent["model"] == "nmm1"]["locked"].astype(bool).any()             # NMM1: forced response only
    assert not ent[ent["model"] == "nmm1"]["self_oscillating"].astype(bool).any()
    assert "667 V/m" in rep.notes[0]["message"]
