"""Public API, tidy tables, presets, bad input and divergence reports."""
import numpy as np
import pytest

import stimsim


def test_preset_overrides_and_single_population_shorthand():
    c = stimsim.preset("pyramidal", J=10, eta_bar=1)
    assert c.J[0, 0] == 10.0 and c.populations[0].eta_bar == 1.0
    d = stimsim.Circuit.single(J=10, tau_m=20.0, tau_s=10.0, eta_bar=1.0)
    assert np.array_equal(c.effective_coupling, d.effective_coupling)
    ping = stimsim.preset("ping", eta_bar={"E": 3.0}, J={("I", "E"): 20.0})
    assert ping.populations[0].eta_bar == 3.0 and ping.populations[1].eta_bar == 2.0
    assert ping.J[ping.index("I"), ping.index("E")] == 20.0


def test_to_frame_is_tidy_with_units():
    c = stimsim.preset("ping")
    res = stimsim.simulate(c, "nmm2", duration_ms=10.0, dt_ms=0.01, record_every=100)
    f = res.to_frame()
    assert list(f.columns) == ["time_ms", "model", "population", "rate_hz", "v", "s_hz", "z_hz"]
    assert len(f) == 11 * 2
    assert set(f.population) == {"E", "I"}
    e = f[f.population == "E"]
    np.testing.assert_allclose(e.rate_hz.to_numpy(), 1000.0 * res.states[:, 0, 0])
    np.testing.assert_allclose(e.time_ms.to_numpy(), np.arange(11) * 1.0)


def test_batch_frame_has_set_column():
    cs = [stimsim.preset("pyramidal", J=j) for j in (2.0, 4.0, 6.0)]
    res = stimsim.simulate_batch(cs, "nmm1", duration_ms=5.0, dt_ms=0.01, record_every=100)
    f = res.to_frame()
    assert sorted(f["set"].unique()) == [0, 1, 2] and len(f) == 3 * 6


def test_nmm1_voltage_readout_is_v_star():
    c = stimsim.preset("pyramidal")
    res = stimsim.simulate(c, "nmm1", duration_ms=20.0, dt_ms=0.01, record_every=100)
    p = c.populations[0]
    np.testing.assert_allclose(res.v[:, 0], -p.delta / (2 * np.pi * p.tau_m * res.states[:, 0, 0]), rtol=1e-14)


@pytest.mark.parametrize("call,match", [
    (lambda: stimsim.preset("pyramidl"), "did you mean 'pyramidal'"),
    (lambda: stimsim.preset("pyramidal", eta=1.0), "eta_bar"),
    (lambda: stimsim.preset("pyramidal", tau_m=-1.0), "tau_m must be > 0"),
    (lambda: stimsim.preset("pyramidal", delta=0.0), "delta must be > 0"),
    (lambda: stimsim.preset("pyramidal", eta_bar=float("nan")), "eta_bar must be finite"),
    (lambda: stimsim.preset("ping", J=3.0), "ambiguous"),
    (lambda: stimsim.preset("ping", eta_bar={"X": 1.0}), "unknown population 'X'"),
    (lambda: stimsim.simulate(stimsim.preset("pyramidal"), dt_ms=0.0), "dt_ms must be > 0"),
    (lambda: stimsim.simulate(stimsim.preset("pyramidal"), dt_ms=2.0), "too coarse"),
    (lambda: stimsim.simulate(stimsim.preset("pyramidal"), duration_ms=-5), "duration_ms must be > 0"),
    (lambda: stimsim.simulate(stimsim.preset("pyramidal"), model="nmm3"), "unknown model"),
    (lambda: stimsim.simulate(stimsim.preset("pyramidal"), integrator="euler"), "unknown integrator"),
    (lambda: stimsim.simulate(stimsim.preset("jansen-rit"), model="nmm2", dt_ms=0.1), "only for QIF"),
    (lambda: stimsim.simulate(stimsim.preset("ping"), duration_ms=1.0, input=np.zeros((201, 3))), "3 columns"),
    (lambda: stimsim.simulate(stimsim.preset("ping"), duration_ms=1.0, input=np.zeros((50, 2))), "needs 1 ms"),
    (lambda: stimsim.simulate(stimsim.preset("ping"), duration_ms=1.0, input=np.full((201, 2), np.nan)), "finite"),
    (lambda: stimsim.simulate(stimsim.preset("ping"), duration_ms=1.0, input=np.zeros((201, 2)), input_dt_ms=0.0033), "whole multiple"),
    (lambda: stimsim.simulate(stimsim.preset("ping"), record_every=0), "record_every"),
    (lambda: stimsim.simulate(stimsim.preset("ping"), input=stimsim.SinusoidInput(1.0, 60000.0)), "Nyquist"),
    (lambda: stimsim.simulate_batch([stimsim.preset("ping"), stimsim.preset("pyramidal")]), "structure"),
    (lambda: stimsim.simulate_batch([stimsim.preset("pyramidal")] * 2000, duration_ms=10_000.0), "raise record_every"),
    (lambda: stimsim.simulate_batch(stimsim.preset("pyramidal")),
     r"simulate_batch takes a sequence of circuits, got one Circuit \('pyramidal'\); pass \[circuit\]"),
    (lambda: stimsim.simulate_batch(3), "circuits must be a non-empty sequence of stimsim Circuit objects, got int"),
])
def test_bad_input_is_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_divergence_reports_time_and_population():
    c = stimsim.preset("pyramidal")
    kick = np.zeros((2001, 1))
    kick[1000:] = 1e200  # an absurd input from t = 5 ms on
    with pytest.raises(stimsim.SimulationDiverged, match=r"between t = .* ms in population\(s\) \['P'\]"):
        stimsim.simulate(c, "nmm2", duration_ms=10.0, dt_ms=0.01, input=kick, input_dt_ms=0.005)


def test_divergence_in_batch_can_be_kept_as_nan():
    c = stimsim.preset("pyramidal")
    inputs = [None, stimsim.SampledInput(np.full((2001, 1), 1e200), 0.005)]
    res = stimsim.simulate_batch([c, c], "nmm2", duration_ms=10.0, dt_ms=0.01, inputs=inputs,
                                 on_divergence="nan", record_every=100)
    assert list(res.diverged) == [1]
    assert np.all(np.isfinite(res.states[..., 0]))


def test_fixed_points_table_columns():
    t = stimsim.fixed_points(stimsim.preset("interneurons"))
    assert {"fixed_point", "model", "population", "rate_hz", "stability", "eigenvalues",
            "leading_freq_hz"} <= set(t.columns)
    assert t[t.model == "nmm2"].stability.iloc[0] == "unstable focus"
    assert t[t.model == "nmm1"].stability.iloc[0] == "stable focus"
