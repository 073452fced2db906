"""Linear frequency response (M8) against closed forms, scipy and simulated lock-in; resonance (M7.2)."""

import numpy as np
import pytest
from scipy import signal as sps

import stimsim
from stimsim.analysis import Drive, LockinGrid, Readout, frequency_response, resonance_summary, resonance_summary_curve, state_space
from stimsim.coupling import FieldCoupling
from stimsim.dynamics import find_fixed_points
from stimsim.transfer import dphi_qif


def static_gain_hz(circuit):
    """dr*/dI (Hz per unit) of a one-population QIF circuit: r = Phi(eta + tau_m J r + I) (M3, M5)."""
    pop = circuit.populations[0]
    r = find_fixed_points(circuit)[0][0]
    x = pop.eta_bar + pop.I + pop.tau_m * circuit.J[0, 0] * r
    d = dphi_qif(x, pop.delta, pop.tau_m)
    return 1000.0 * d / (1.0 - d * pop.tau_m * circuit.J[0, 0])


@pytest.mark.parametrize("J, eta_bar", [(0.0, 1.0), (8.0, 1.0), (12.0, 3.0), (4.0, -0.5)])
def test_zero_frequency_gain_is_the_static_slope_in_both_models(J, eta_bar):
    c = stimsim.preset("pyramidal", J=J, eta_bar=eta_bar)
    expected = static_gain_hz(c)
    for model in ("nmm2", "nmm1"):
        H0 = state_space(c, model, 1.0, "P").transfer([0.0])[0]
        assert H0.real == pytest.approx(expected, rel=1e-9)
        assert abs(H0.imag) < 1e-12


@pytest.mark.filterwarnings("ignore::scipy.signal.BadCoefficients")
@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
def test_transfer_function_matches_scipy_state_space(model):
    c = stimsim.preset("ping")
    ss = state_space(c, model, FieldCoupling().gains(c), "E")
    f = np.linspace(0.0, 200.0, 57)
    w = 2 * np.pi * f / 1000.0
    _, H_ref = sps.freqresp(sps.StateSpace(ss.A, ss.b[:, None], ss.c[None, :], [[ss.d]]), w)
    np.testing.assert_allclose(ss.transfer(f), H_ref, rtol=1e-10, atol=1e-12)


def test_field_gain_is_current_gain_times_lambda_over_scale():
    c = stimsim.preset("pyramidal")
    f = [5.0, 47.0]
    cur = frequency_response(c, model="nmm2", freqs_hz=f, drive=Drive(unit="current"))
    fld = frequency_response(c, model="nmm2", freqs_hz=f,
                             drive=Drive(unit="field", coupling=FieldCoupling(lambda_mm=0.3, scale_mv_per_unit=10.0)))
    np.testing.assert_allclose(fld["gain_hz_per_v_per_m"], 0.03 * cur["gain_hz_per_unit"], rtol=1e-12)
    np.testing.assert_allclose(fld["phase_deg"], cur["phase_deg"], atol=1e-12)


def test_vectorised_transfer_equals_one_solve_per_frequency():
    """The batched evaluation over thousands of frequencies equals c (i w I - A)^-1 b + d per frequency (M8).

    (Its speed is measured in benchmarks/bench_analysis.py, not here.)
    """
    c = stimsim.preset("pyramidal")
    ss = state_space(c, "nmm2", 1.0, "P")
    f = np.linspace(1, 150, 3000)
    H = ss.transfer(f)
    n = ss.A.shape[0]
    for i in (0, 1234, 2999):
        w = 2 * np.pi * f[i] / 1000.0
        ref = ss.c @ np.linalg.solve(1j * w * np.eye(n) - ss.A, ss.b) + ss.d
        assert H[i] == pytest.approx(ref, rel=1e-12)


def test_lockin_of_simulated_nmm2_matches_linear_theory_1_to_150_hz():
    """Issue 4: linear H(f) == lock-in of the simulated NMM2 at small amplitude, 1 % gain, 2 deg."""
    c = stimsim.preset("pyramidal")
    freqs = [1.0, 4.0, 12.0, 30.0, 44.0, 47.0, 52.0, 80.0, 150.0]
    tab = frequency_response(c, model=("nmm2", "nmm1"), freqs_hz=freqs, method="both", amplitude=1e-3, lockin=LockinGrid(dt_ms=0.05))
    for model in ("nmm2", "nmm1"):
        lin = tab[(tab.model == model) & (tab.method == "linear")].set_index("freq_hz")
        sim = tab[(tab.model == model) & (tab.method == "lockin")].set_index("freq_hz")
        rel = (sim["gain_hz_per_unit"] / lin["gain_hz_per_unit"] - 1).abs()
        dphi = ((sim["phase_deg"] - lin["phase_deg"] + 180) % 360 - 180).abs()
        assert rel.max() < 0.01, (model, rel.to_dict())
        assert dphi.max() < 2.0, (model, dphi.to_dict())
    # the comparison is not vacuous: the NMM2 curve has a resonance the NMM1 one has not
    nmm2 = tab[(tab.model == "nmm2") & (tab.method == "linear")].set_index("freq_hz")["gain_hz_per_unit"]
    assert nmm2[47.0] > 3 * nmm2[1.0]


def test_larger_amplitude_shows_second_order_effects():
    """Mean shift and second harmonic grow as amplitude^2 (the v^2 rectifier of M2), the fundamental linearly."""
    c = stimsim.preset("pyramidal")
    tab = frequency_response(c, model="nmm2", freqs_hz=[20.0], method="lockin", amplitude=[0.02, 0.04], lockin=LockinGrid(dt_ms=0.05))
    a, b = tab.iloc[0], tab.iloc[1]
    assert b["response_hz"] / a["response_hz"] == pytest.approx(2.0, rel=0.01)
    assert b["harmonic2_hz"] / a["harmonic2_hz"] == pytest.approx(4.0, rel=0.05)
    assert b["mean_shift_hz"] / a["mean_shift_hz"] == pytest.approx(4.0, rel=0.05)


def test_nmm2_resonance_grows_with_J_and_eta_bar_nmm1_low_pass():
    """M7.2: NMM2 peak frequency and height grow with J and eta_bar; NMM1 maximal at the lowest frequency."""
    freqs = np.arange(0.5, 150.0, 0.25)
    Js = [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    etas = [0.0, 1.0, 2.0, 3.0]
    byJ = resonance_summary(frequency_response([stimsim.preset("pyramidal", J=J, eta_bar=1.0) for J in Js],
                                               freqs_hz=freqs, labels=[{"J": J} for J in Js]))
    byE = resonance_summary(frequency_response([stimsim.preset("pyramidal", J=8.0, eta_bar=e) for e in etas],
                                               freqs_hz=freqs, labels=[{"eta_bar": e} for e in etas]))
    for summary, key in ((byJ, "J"), (byE, "eta_bar")):
        s2 = summary[summary.model == "nmm2"].sort_values(key)
        assert s2["resonance"].all()
        assert np.all(np.diff(s2["peak_freq_hz"]) > 0)
        assert np.all(np.diff(s2["peak_gain_hz_per_unit"]) > 0)
        assert (s2["peak_ratio"] > 1.2).all()
    # the NMM2 peak sits near the imaginary part of the leading eigenvalue (weakly damped focus)
    ev = stimsim.fixed_points(stimsim.preset("pyramidal", J=8, eta_bar=1))
    f_ev = ev[ev.model == "nmm2"]["leading_freq_hz"].iloc[0]
    assert byJ[(byJ.model == "nmm2") & (byJ.J == 8)]["peak_freq_hz"].iloc[0] == pytest.approx(f_ev, rel=0.05)
    Jgrid = [0.5, 1, 2, 4, 6, 8, 10, 12]
    n1 = frequency_response([stimsim.preset("pyramidal", J=J) for J in Jgrid], model="nmm1", freqs_hz=freqs,
                            labels=[{"J": J} for J in Jgrid])
    for J, sub in n1.groupby("J"):
        g = sub.sort_values("freq_hz")["gain_hz_per_unit"].to_numpy()
        assert np.argmax(g) == 0, J
    assert not resonance_summary(n1)["resonance"].any()


def test_resonance_summary_of_a_damped_oscillator_closed_form():
    """|chi| = 1 / |w0^2 - w^2 + 2 i gamma w|: peak at sqrt(w0^2 - 2 gamma^2), height 1 / (2 gamma sqrt(w0^2 - gamma^2))."""
    f0, gamma = 40.0, 2 * np.pi * 3.0                     # Hz, rad/s
    w0 = 2 * np.pi * f0
    f = np.linspace(1.0, 100.0, 991)
    w = 2 * np.pi * f
    g = 1.0 / np.abs(w0 ** 2 - w ** 2 + 2j * gamma * w)
    s = resonance_summary_curve(f, g)
    assert s["resonance"]
    assert s["peak_freq_hz"] == pytest.approx(np.sqrt(w0 ** 2 - 2 * gamma ** 2) / (2 * np.pi), abs=1e-3)
    assert s["peak_gain"] == pytest.approx(1.0 / (2 * gamma * np.sqrt(w0 ** 2 - gamma ** 2)), rel=1e-4)
    # half-power points: |chi|^2 = peak^2 / 2 -> (w0^2 - w^2)^2 + 4 gamma^2 w^2 = 2 / peak^2
    # quadratic in u = w^2: u^2 + (4 gamma^2 - 2 w0^2) u + w0^4 - 2 / peak^2 = 0
    pk = 1.0 / (2 * gamma * np.sqrt(w0 ** 2 - gamma ** 2))
    u = np.roots([1.0, 4 * gamma ** 2 - 2 * w0 ** 2, w0 ** 4 - 2 / pk ** 2])
    lo, hi = np.sort(np.sqrt(u.real)) / (2 * np.pi)
    assert s["bandwidth_hz"] == pytest.approx(hi - lo, rel=1e-3)
    assert s["q_factor"] == pytest.approx(s["peak_freq_hz"] / (hi - lo), rel=1e-3)
    # low-pass curve: no resonance
    lp = resonance_summary_curve(f, 1.0 / np.sqrt(1 + (f / 10) ** 2))
    assert not lp["resonance"] and lp["peak_freq_hz"] == 1.0


def test_unstable_fixed_point_gives_nan_and_label():
    c = stimsim.preset("interneurons")                   # NMM2 fixed point is an unstable focus (M7.1)
    tab = frequency_response(c, model="nmm2", freqs_hz=[10.0, 100.0])
    assert not tab["stable"].any() and tab["gain_hz_per_unit"].isna().all()
    assert resonance_summary(tab)["summary"].iloc[0] == "unstable fixed point"


@pytest.mark.parametrize("kwargs, match", [
    (dict(freqs_hz=[-1.0, 5.0]), "freqs_hz"),
    (dict(method="fft"), "method"),
    (dict(readout=dict(output="current")), "output"),
    (dict(amplitude=-1.0, method="lockin"), "amplitude"),
    (dict(freqs_hz=[5.0, 20000.0], method="lockin"), "Nyquist"),
    (dict(drive=dict(unit="mA")), "drive unit"),
    (dict(readout=Readout(population="X")), "population"),
    (dict(lockin=dict(dt_ms=-1.0)), "dt_ms"),
    (dict(drive="field"), "Drive"),
    (dict(model="nmm3"), "model"),
])
def test_frequency_response_bad_input(kwargs, match):
    args = dict(freqs_hz=[5.0])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        frequency_response(stimsim.preset("pyramidal"), **args)


def test_nmm2_refused_for_sigmoid_circuit():
    with pytest.raises(ValueError, match="nmm2"):
        frequency_response(stimsim.preset("jansen-rit"), model="nmm2", freqs_hz=[10.0])
    # below the SNIC (p ~ 114 /s) the Jansen-Rit fixed point is stable; the output is the pyramidal input (mV)
    jr = stimsim.preset("jansen-rit", p=90.0)
    tab = frequency_response(jr, model="nmm1", freqs_hz=[0.0001, 10.0], readout=Readout("P", "v"),
                             drive=Drive(populations="P"))
    assert tab["stable"].all() and np.isfinite(tab["gain_mv_per_unit"]).all()
    # direct feed-through: at high frequency the synapses do not follow and dx_P = u (gain 1 mV per mV)
    hi = frequency_response(jr, model="nmm1", freqs_hz=[1e6], readout=Readout("P", "v"), drive=Drive(populations="P"))
    assert hi["gain_mv_per_unit"].iloc[0] == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
def test_mean_voltage_output_and_field_drive_match_lockin(model):
    """Output v (NMM1: v* = -Delta/(2 pi tau_m r), M3) under a field drive: linear theory == simulation."""
    c = stimsim.preset("pyramidal", J=10.0)
    tab = frequency_response(c, model=model, freqs_hz=[3.0, 40.0, 56.0, 120.0], method="both", amplitude=0.2,
                             drive=Drive(unit="field"), readout=Readout(output="v"), lockin=LockinGrid(dt_ms=0.05))
    lin = tab[tab.method == "linear"].set_index("freq_hz")
    sim = tab[tab.method == "lockin"].set_index("freq_hz")
    np.testing.assert_allclose(sim["gain_qif_per_v_per_m"], lin["gain_qif_per_v_per_m"], rtol=0.01)
    np.testing.assert_allclose(sim["phase_deg"], lin["phase_deg"], atol=2.0)
    assert (sim["baseline_qif"] < 0).all()                # v* < 0 at the fixed point (M3)


@pytest.mark.parametrize("J,eta_bar", [(2.0, 1.0), (8.0, 1.0), (12.0, 1.0), (8.0, 3.0), (8.0, 0.0)])
def test_nmm2_resonance_is_reported_beside_the_population_rate(J, eta_bar):
    """models.md M7.2: NMM2's (r, v) focus rotates at ~r*, so its resonance peak sits at the firing
    rate; the table and the summary carry r* (checked against the fixed-point table) and the peak
    lies within 3 % of it for the pyramidal preset over J in [2, 12], eta_bar in [0, 3]."""
    c = stimsim.preset("pyramidal", J=J, eta_bar=eta_bar)
    tab = frequency_response(c, model="nmm2", freqs_hz=np.arange(1.0, 200.0, 0.25))
    r_star = float(stimsim.fixed_points(c).rate_hz.iloc[0])
    np.testing.assert_allclose(tab["fixed_point_rate_hz"], r_star, rtol=1e-12)
    s = resonance_summary(tab).iloc[0]
    assert s["fixed_point_rate_hz"] == pytest.approx(r_star, rel=1e-12)
    assert abs(s["peak_freq_hz"] / r_star - 1.0) < 0.03
    assert f"r* = {r_star:.1f} Hz" in s["summary"]
