"""The presets' scientific claims (docs/models.md M3-M7, stimsim/presets.py, stimsim/coupling.py).

References are independent of the code under test where possible: closed forms of the frozen-input
(r, v) focus (M3) written out here, scipy's solve_ivp on the NMM2 equations written out here (M2,
M5), and the single-neuron limit of the QIF resting potential (M6).
"""
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

import stimsim
from stimsim.analysis import resonance_summary, state_space
from stimsim.circuit import Circuit
from stimsim.coupling import (DEFAULT_LAMBDA_MM, FieldCoupling, default_lambdas_mm, inhibitory_populations,
                              mean_voltage_sensitivity, operating_point_scale)
from stimsim.dynamics import find_fixed_points, linearize


# --- independent references ------------------------------------------------------------------------------------
def phi(x, delta, tau_m):
    """QIF transfer function (models.md M3), kHz."""
    return math.sqrt(x + math.sqrt(x * x + delta * delta)) / (math.sqrt(2.0) * math.pi * tau_m)


def nmm2_rhs(circuit, I_ext=None):
    """NMM2 right-hand side (models.md M2, M5) written out with numpy; state [r, v, s, z] x P."""
    P = circuit.n_populations
    tm, ts = circuit.vector("tau_m"), circuit.vector("tau_s")
    d, eta, I = circuit.vector("delta"), circuit.vector("eta_bar"), circuit.vector("I")
    J = np.asarray(circuit.J)
    extra = np.zeros(P) if I_ext is None else np.asarray(I_ext, dtype=float)

    def f(t, y):
        r, v, s, z = y.reshape(4, P)
        x = eta + I + extra + tm * (J @ s)
        return np.concatenate([(d / (math.pi * tm) + 2 * r * v) / tm,
                               (v * v + x - (math.pi * tm * r) ** 2) / tm,
                               z / ts, (r - 2 * z - s) / ts])
    return f


def fundamental_hz(y, dt_ms):
    """Frequency from the mean spacing of upward mean crossings (robust to a pulse-shaped cycle)."""
    z = y - y.mean()
    up = np.nonzero((z[:-1] < 0) & (z[1:] >= 0))[0]
    return 1000.0 / (np.mean(np.diff(up)) * dt_ms)


def frozen_population(circuit, k, rates_khz):
    """Population k alone, with the synaptic input from every other population frozen at its fixed-point value."""
    K = circuit.effective_coupling
    other = sum(K[k, l] * rates_khz[l] for l in range(circuit.n_populations) if l != k)
    p = circuit.populations[k]
    return Circuit((p.replace(I=p.I + other),), J=[[circuit.J[k, k]]])


def hz(ev):
    return abs(ev.imag) * 1000.0 / (2 * math.pi)


def leading(circuit, model="nmm2"):
    """(fixed points kHz, their linearisations) of every fixed point."""
    roots = find_fixed_points(circuit)
    return roots, [linearize(circuit, model, r) for r in roots]


# --- B1: PING needs the E-I loop ---------------------------------------------------------------------------------
def test_ping_parameters_ampa_faster_than_gaba():
    c = stimsim.preset("ping")
    E, I = c.populations
    assert (E.tau_s, I.tau_s, E.tau_m, I.tau_m) == (2.0, 5.0, 10.0, 5.0)
    assert E.tau_s < I.tau_s
    np.testing.assert_array_equal(c.J, [[5.0, -25.0], [100.0, -15.0]])
    assert (E.eta_bar, I.eta_bar, E.delta, I.delta) == (12.5, 2.0, 1.0, 1.0)


def test_ping_nmm2_unstable_focus_in_gamma_nmm1_relaxes():
    c = stimsim.preset("ping")
    roots, lins = leading(c)
    assert len(roots) == 1
    np.testing.assert_allclose(roots[0] * 1000, [7.92, 67.48], atol=0.01)
    lin = lins[0]
    assert lin.stability == "unstable focus"
    assert 0.0 < lin.leading.real < 0.01
    assert hz(lin.leading) == pytest.approx(37.25, abs=0.05)
    lin1 = linearize(c, "nmm1", roots[0])
    assert lin1.stable and lin1.stability == "stable focus"


@pytest.fixture(scope="module")
def ping_cycle():
    c = stimsim.preset("ping")
    res = stimsim.simulate(c, model="nmm2", duration_ms=2000.0, dt_ms=0.01, record_every=10)
    return c, res.rate_hz[-10000:]                      # last 1000 ms, every 0.1 ms


def test_ping_limit_cycle_at_33_hz(ping_cycle):
    c, rates = ping_cycle
    f = fundamental_hz(rates[:, 0], 0.1)
    assert f == pytest.approx(33.0, abs=0.2)                      # docs: limit cycle at 33 Hz (low gamma)
    assert np.ptp(rates[:, 0]) > 10.0 and np.ptp(rates[:, 1]) > 100.0
    assert rates[:, 0].mean() == pytest.approx(9.4, abs=0.2) and rates[:, 1].mean() == pytest.approx(74.6, abs=0.5)
    # independent reference: the equations written out here, solve_ivp from the same start
    f_ref = nmm2_rhs(c)
    r0 = np.array([phi(p.eta_bar, p.delta, p.tau_m) for p in c.populations])
    v0 = -c.vector("delta") / (2 * math.pi * c.vector("tau_m") * r0)
    sol = solve_ivp(f_ref, (0.0, 2000.0), np.concatenate([r0, v0, np.zeros(4)]), method="LSODA",
                    rtol=1e-9, atol=1e-12, t_eval=np.arange(1000.0, 2000.0, 0.1))
    assert fundamental_hz(sol.y[0], 0.1) == pytest.approx(f, abs=0.05)
    assert np.ptp(sol.y[0] * 1000) == pytest.approx(np.ptp(rates[:, 0]), rel=1e-3)


def test_nmm1_has_no_ping_rhythm():
    res = stimsim.simulate(stimsim.preset("ping"), model="nmm1", duration_ms=1500.0, dt_ms=0.01, record_every=10)
    assert np.ptp(res.rate_hz[-5000:, 0]) < 1e-6


@pytest.mark.parametrize("cut", [("I", "E"), ("E", "I")], ids=["E->I cut", "I->E cut"])
def test_ping_rhythm_stops_when_the_loop_is_cut(cut):
    c = stimsim.preset("ping").replace(J={cut: 0.0})
    roots, lins = leading(c)
    assert all(lin.stable for lin in lins)
    res = stimsim.simulate(c, model="nmm2", duration_ms=1500.0, dt_ms=0.01, record_every=10)
    assert np.ptp(res.rate_hz[-5000:], axis=0).max() < 1e-3


def test_ping_neither_population_oscillates_with_the_other_frozen():
    c = stimsim.preset("ping")
    r = find_fixed_points(c)[0]
    labels = []
    for k in range(2):
        lin = linearize(frozen_population(c, k, r), "nmm2", [r[k]])
        assert lin.stable
        labels.append(lin.stability)
    assert labels == ["stable node", "stable focus"]            # E alone; I alone rings at ~53 Hz but decays


def test_ping_does_not_need_e_to_e_and_hopf_near_eta_e_11_8():
    no_ee = stimsim.preset("ping", J={("E", "E"): 0.0})
    assert leading(no_ee)[1][0].stability == "unstable focus"
    res = stimsim.simulate(no_ee, model="nmm2", duration_ms=1500.0, dt_ms=0.01, record_every=10)
    assert np.ptp(res.rate_hz[-5000:, 0]) > 1.0                     # the rhythm survives J_EE = 0
    below = leading(stimsim.preset("ping", eta_bar={"E": 11.6}))[1][0].leading
    above = leading(stimsim.preset("ping", eta_bar={"E": 12.0}))[1][0].leading
    assert below.real < 0 < above.real
    assert hz(below) == pytest.approx(37.5, abs=0.3) and hz(above) == pytest.approx(37.5, abs=0.3)


# --- B1: the former "ping" set is ING in an E-I circuit -------------------------------------------------------------
def test_ing_ei_is_the_former_parameter_set():
    c = stimsim.preset("ing-ei")
    E, I = c.populations
    assert (E.tau_m, E.tau_s, I.tau_m, I.tau_s) == (15.0, 10.0, 7.5, 2.5)
    assert E.tau_s > I.tau_s                                      # E synapse slower than I synapse
    np.testing.assert_array_equal(c.J, 15.0 * np.array([[1.0, -1.0], [1.0, -2.0]]))
    with pytest.raises(ValueError, match="coupling"):
        stimsim.preset("ping", coupling=15.0)                     # the new ping has no such argument


def test_ing_ei_rhythm_is_the_i_population_alone():
    c = stimsim.preset("ing-ei")
    roots, lins = leading(c)
    assert len(roots) == 1 and lins[0].stability == "unstable focus"
    assert hz(lins[0].leading) == pytest.approx(55.2, abs=0.1)
    res = stimsim.simulate(c, model="nmm2", duration_ms=1500.0, dt_ms=0.01, record_every=10)
    assert fundamental_hz(res.rate_hz[-5000:, 1], 0.1) == pytest.approx(55.6, abs=0.3)
    # E frozen at the fixed point: I alone is an unstable focus at ~55 Hz (ING)
    lin_I = linearize(frozen_population(c, 1, roots[0]), "nmm2", [roots[0][1]])
    assert lin_I.stability == "unstable focus" and hz(lin_I.leading) == pytest.approx(54.9, abs=0.1)


def test_ing_ei_needs_i_to_i_and_the_drive_from_e_but_not_i_to_e():
    def oscillates(circuit):
        res = stimsim.simulate(circuit, model="nmm2", duration_ms=1500.0, dt_ms=0.01, record_every=10)
        return np.ptp(res.rate_hz[-5000:, 1]) > 1.0, res
    c = stimsim.preset("ing-ei")
    assert not oscillates(c.replace(J={("I", "I"): 0.0}))[0]      # J_II = 0 removes the rhythm
    cut_EI, res = oscillates(c.replace(J={("E", "I"): 0.0}))      # I -> E cut: I, still driven by E, oscillates
    assert cut_EI and fundamental_hz(res.rate_hz[-5000:, 1], 0.1) == pytest.approx(70.0, abs=1.0)
    cut_IE, res = oscillates(c.replace(J={("I", "E"): 0.0}))      # E -> I cut: I loses its drive and stops
    assert not cut_IE and res.rate_hz[-1, 1] == pytest.approx(16.0, abs=0.1)


# --- B2: the NMM2 resonance sits at the firing rate -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["pyramidal", "pyramidal-physiological", "ping", "ing-ei", "interneurons"])
def test_rv_block_eigenvalues_closed_form(name):
    """The (r_k, v_k) block of the NMM2 Jacobian (frozen input) has eigenvalues -Delta/(pi tau_m^2 r*) +- 2 pi i r*."""
    c = stimsim.preset(name)
    r = find_fixed_points(c)[0]
    lin = linearize(c, "nmm2", r)
    P = c.n_populations
    for k, p in enumerate(c.populations):
        idx = [k, P + k]                                          # variable-major: r_k, v_k
        ev = np.sort_complex(np.linalg.eigvals(lin.A[np.ix_(idx, idx)]))
        gamma, w0 = p.delta / (math.pi * p.tau_m ** 2 * r[k]), 2 * math.pi * r[k]
        np.testing.assert_allclose(ev, np.sort_complex(np.array([-gamma - 1j * w0, -gamma + 1j * w0])), rtol=1e-12)


def test_pyramidal_47_hz_resonance_is_its_46_hz_firing_rate():
    c = stimsim.preset("pyramidal")
    r_hz = find_fixed_points(c)[0][0] * 1000
    assert r_hz == pytest.approx(46.18, abs=0.01)
    lin = linearize(c, "nmm2", find_fixed_points(c)[0])
    assert hz(lin.leading) == pytest.approx(47.1, abs=0.05)
    s = resonance_summary(stimsim.frequency_response(c, model="nmm2", freqs_hz=np.arange(20, 80, 0.25))).iloc[0]
    assert s.peak_freq_hz == pytest.approx(47.0, abs=0.05)
    assert abs(s.peak_freq_hz - r_hz) < 1.0
    # relaxation time pi tau_m^2 r* / Delta of the (r, v) focus (M7.3): ~58 ms
    assert math.pi * 20.0 ** 2 * r_hz / 1000 / 1.0 == pytest.approx(58.0, abs=0.1)


def frozen_input_circuit(rate_hz, delta):
    """A J = 0 population (tau_m = 20 ms) firing at rate_hz (eta_bar from the inverse of Phi)."""
    return stimsim.preset("pyramidal-physiological", rate_hz=rate_hz, J=0.0, delta=delta)


def test_frozen_input_transfer_function_closed_form():
    """J = 0: H(s) = (2 r*/tau_m^2) / ((s + gamma)^2 + w0^2) from v-input to rate (models.md M3)."""
    c = frozen_input_circuit(10.0, 0.1)
    r = 0.010
    ss = state_space(c, "nmm2", 1.0, "P")
    f = np.linspace(0.5, 100.0, 200)
    s = 2j * math.pi * f / 1000.0
    gamma, w0 = 0.1 / (math.pi * 400.0 * r), 2 * math.pi * r
    H_ref = 1000.0 * (2 * r / 400.0) / ((s + gamma) ** 2 + w0 ** 2)
    np.testing.assert_allclose(ss.transfer(f), H_ref, rtol=1e-9)


@pytest.mark.parametrize("rate_hz", [5.0, 10.0, 20.0])
def test_frozen_input_peak_exists_iff_delta_below_2_pi2_tau2_r2(rate_hz):
    """Peak at sqrt(w0^2 - gamma^2) iff w0 > gamma, i.e. Delta < 2 pi^2 tau_m^2 r*^2, i.e. x* > 0 (M3)."""
    dc = 2 * math.pi ** 2 * 400.0 * (rate_hz / 1000) ** 2
    freqs = np.arange(0.05, 3 * rate_hz, 0.05)
    for frac, expect in ((0.9, True), (1.1, False)):
        c = frozen_input_circuit(rate_hz, frac * dc)
        x = c.total_input(find_fixed_points(c)[0])[0]
        assert (x > 0) == expect
        s = resonance_summary(stimsim.frequency_response(c, model="nmm2", freqs_hz=freqs)).iloc[0]
        assert bool(s.resonance) == expect
        if expect:
            r = rate_hz / 1000
            gamma, w0 = frac * dc / (math.pi * 400.0 * r), 2 * math.pi * r
            assert s.peak_freq_hz == pytest.approx(1000 * math.sqrt(w0 ** 2 - gamma ** 2) / (2 * math.pi), abs=0.02)
    assert 2 * math.pi ** 2 * 400.0 * 0.01 ** 2 == pytest.approx(0.79, abs=0.005)      # Delta_c at 10 Hz, tau_m 20 ms


@pytest.mark.parametrize("rate_hz", [5.0, 10.0, 30.0])
def test_pyramidal_physiological_fires_at_rate_hz(rate_hz):
    c = stimsim.preset("pyramidal-physiological", rate_hz=rate_hz)
    p = c.populations[0]
    roots = find_fixed_points(c)
    assert len(roots) == 1
    # independent: r = Phi(eta_bar + tau_m J r) by Brent
    r_ref = brentq(lambda r: r - phi(p.eta_bar + p.tau_m * c.J[0, 0] * r, p.delta, p.tau_m), 1e-6, 1.0, xtol=1e-15)
    assert r_ref * 1000 == pytest.approx(rate_hz, rel=1e-9)
    assert roots[0][0] == pytest.approx(r_ref, rel=1e-9)


def test_pyramidal_physiological_resonance_in_5_40_hz():
    c = stimsim.preset("pyramidal-physiological")
    assert c.populations[0].eta_bar == pytest.approx(0.188, abs=5e-4)
    assert (c.populations[0].tau_m, c.populations[0].tau_s, c.populations[0].delta, c.J[0, 0]) == (20.0, 10.0, 0.1, 1.0)
    t = stimsim.frequency_response(c, freqs_hz=np.arange(1.0, 60.0, 0.1))
    s = resonance_summary(t).set_index("model")
    assert s.loc["nmm2", "resonance"] and 5.0 <= s.loc["nmm2", "peak_freq_hz"] <= 40.0
    assert s.loc["nmm2", "peak_freq_hz"] == pytest.approx(9.3, abs=0.05)
    assert not s.loc["nmm1", "resonance"]
    assert linearize(c, "nmm2", find_fixed_points(c)[0]).stability == "stable focus"


def test_pyramidal_physiological_peak_needs_small_delta_with_coupling():
    """With J = 1 the peak is present at Delta = 0.2 and absent at 0.4, below the J = 0 bound 0.79 (M3)."""
    freqs = np.arange(1.0, 40.0, 0.1)
    res = {}
    for delta in (0.1, 0.2, 0.4):
        c = stimsim.preset("pyramidal-physiological", delta=delta)
        res[delta] = bool(resonance_summary(stimsim.frequency_response(c, model="nmm2", freqs_hz=freqs)).iloc[0].resonance)
    assert res == {0.1: True, 0.2: True, 0.4: False}


# --- B6: NMM1 is NMM2's limit only for slow inputs --------------------------------------------------------------------
@pytest.mark.parametrize("tau_s", [2.0, 10.0, 50.0, 200.0])
def test_step_rate_mismatch_is_one_minus_phi_prime_tau_j(tau_s):
    """A step input: NMM1 jumps by Phi' dI at once, NMM2 does not; relative to the final change the
    largest mismatch is 1 - Phi'(x*) tau_m J (0.563 for the pyramidal preset) for every tau_s."""
    c = stimsim.preset("pyramidal", tau_s=tau_s)
    r0 = find_fixed_points(c)[0][0]
    x0 = c.total_input([r0])[0]
    dphi = phi(x0, 1.0, 20.0) / (2 * math.sqrt(x0 ** 2 + 1.0))
    expected = 1 - dphi * 20.0 * 8.0
    assert expected == pytest.approx(0.563, abs=0.001)
    step, dt = 1e-3, 0.01
    T = 10 * tau_s + 300.0
    n = int(round(T / dt))
    inp = np.full((2 * n + 1, 1), step)
    rates = {m: stimsim.simulate(c, model=m, duration_ms=T, dt_ms=dt, input=inp, input_dt_ms=dt / 2,
                                 initial="fixed_point").rate_hz[:, 0] for m in ("nmm2", "nmm1")}
    final = find_fixed_points(c.replace(I=step))[0][0] - r0
    mismatch = np.max(np.abs(rates["nmm1"] - rates["nmm2"])) / 1000 / final
    assert mismatch == pytest.approx(expected, rel=5e-3)


def test_nmm1_gain_is_41_times_nmm2_at_300_hz():
    t = stimsim.frequency_response(stimsim.preset("pyramidal"), freqs_hz=[300.0])
    g = t.set_index("model")["gain_hz_per_unit"]
    assert g["nmm1"] / g["nmm2"] == pytest.approx(41.0, abs=0.05)


# --- B3: field coupling defaults and the operating-point scale ------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("pyramidal", [0.12]), ("pyramidal-physiological", [0.12]), ("interneurons", [0.0]),
    ("ping", [0.12, 0.0]), ("ing-ei", [0.12, 0.0]), ("jansen-rit", [0.12, 0.12, 0.0])])
def test_default_lambda_only_for_populations_that_are_not_inhibitory(name, expected):
    c = stimsim.preset(name)
    np.testing.assert_array_equal(default_lambdas_mm(c), expected)
    np.testing.assert_array_equal(FieldCoupling().lambdas_mm(c), expected)
    np.testing.assert_array_equal(inhibitory_populations(c), np.array(expected) == 0.0)


def test_inhibitory_is_the_sign_of_the_outgoing_column():
    c = stimsim.preset("ping")
    assert inhibitory_populations(c.replace(J=np.zeros((2, 2)))).tolist() == [False, False]   # no projections
    assert inhibitory_populations(c.replace(J={("I", "I"): 1.0})).tolist() == [False, False]  # mixed signs
    assert inhibitory_populations(c.replace(J=[[-1.0, -25.0], [-100.0, -15.0]])).tolist() == [True, True]
    assert FieldCoupling(lambda_mm={"I": 0.05}).lambdas_mm(c).tolist() == [DEFAULT_LAMBDA_MM, 0.05]


def test_qif_rest_shift_single_neuron_limit():
    """tau dV/dt = V^2 + eta + I (eta < 0) rests at V = -sqrt(-eta - I): dV/dI = 1/(2 sqrt(-eta)); the
    population's dv*/dx tends to it as Delta -> 0 (x* = eta < 0, J = 0)."""
    for eta in (-0.25, -1.0, -4.0):
        c = Circuit.single(J=0.0, tau_m=20.0, tau_s=10.0, delta=1e-6, eta_bar=eta)
        sens = mean_voltage_sensitivity(c, find_fixed_points(c)[0])[0]
        h = 1e-6
        v_rest = lambda I: -math.sqrt(-eta - I)
        assert sens == pytest.approx((v_rest(h) - v_rest(-h)) / (2 * h), rel=1e-6)
        assert sens == pytest.approx(1 / (2 * math.sqrt(-eta)), rel=1e-6)


@pytest.mark.parametrize("name", ["pyramidal", "pyramidal-physiological", "ping"])
def test_mean_voltage_sensitivity_from_the_linearization(name):
    """dv*/dx = |v*| / (2 sqrt(x*^2 + Delta^2)) equals the static v-gain of the (r, v) block with the synapse frozen."""
    c = stimsim.preset(name)
    r = find_fixed_points(c)[0]
    A = linearize(c, "nmm2", r).A
    P = c.n_populations
    sens = mean_voltage_sensitivity(c, r)
    for k, p in enumerate(c.populations):
        idx = [k, P + k]
        gain = -np.linalg.solve(A[np.ix_(idx, idx)], np.array([0.0, 1.0 / p.tau_m]))
        assert sens[k] == pytest.approx(gain[1], rel=1e-10)


def test_calibrated_coupling_moves_the_mean_voltage_by_lambda_e():
    """Simulation: with FieldCoupling.calibrated a weak DC field moves v of a J = 0 population by
    lambda E mV (10 mV per QIF voltage unit), to first order."""
    c = frozen_input_circuit(10.0, 0.1)
    coupling = FieldCoupling.calibrated(c)
    E, dt, T = 0.005, 0.02, 2000.0
    u = coupling.gains(c) * E
    n = int(round(T / dt))
    res = stimsim.simulate(c, model="nmm2", duration_ms=T, dt_ms=dt, input=np.tile(u, (2 * n + 1, 1)),
                           input_dt_ms=dt / 2, initial="fixed_point")
    v0 = -0.1 / (2 * math.pi * 20.0 * 0.010)
    dv_mv = (res.v[-1, 0] - v0) * 10.0
    assert dv_mv == pytest.approx(DEFAULT_LAMBDA_MM * E, rel=2e-3)


def test_operating_point_scale_spans_two_orders_of_magnitude():
    """docs/models.md M6: mV per QIF input unit that makes lambda E move the mean voltage by lambda E mV."""
    pyr = operating_point_scale(stimsim.preset("pyramidal"))[0]
    phys = operating_point_scale(stimsim.preset("pyramidal-physiological"))[0]
    rest = operating_point_scale(Circuit.single(J=0.0, tau_m=20.0, tau_s=10.0, delta=1e-6, eta_bar=-1.0))[0]
    assert pyr == pytest.approx(0.102, abs=0.001)
    assert phys == pytest.approx(1.00, abs=0.01)
    assert rest == pytest.approx(5.0, rel=1e-5)
    assert operating_point_scale(stimsim.preset("jansen-rit")).tolist() == [1.0, 1.0, 1.0]
    # the default 10 mV per unit is the resting single neuron's value at eta = -1/4
    quarter = operating_point_scale(Circuit.single(J=0.0, tau_m=20.0, tau_s=10.0, delta=1e-6, eta_bar=-0.25))[0]
    assert quarter == pytest.approx(10.0, rel=1e-5)
    # input per V/m at lambda = 0.12 mm (docs/models.md M6 table)
    assert FieldCoupling.calibrated(stimsim.preset("pyramidal")).gains(stimsim.preset("pyramidal"))[0] == \
        pytest.approx(1.2, abs=0.05)
    phys = stimsim.preset("pyramidal-physiological")
    assert FieldCoupling.calibrated(phys).gains(phys)[0] == pytest.approx(0.12, abs=0.002)
    assert DEFAULT_LAMBDA_MM / 5.0 == pytest.approx(0.024) and FieldCoupling().gains(phys)[0] == pytest.approx(0.012)
