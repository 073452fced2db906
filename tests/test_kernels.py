"""Kernel accuracy against scipy (DOP853, rtol 1e-11), convergence order, limits and invariances."""
import math

import numpy as np
import pytest

import stimsim
from model_views import initial_state
from reference import reference_trajectory

DT = 0.01


def rel_err(a, b):
    """Largest error relative to the reference's scale, per variable and population."""
    scale = np.max(np.abs(b), axis=0)
    return float(np.max(np.max(np.abs(a - b), axis=0) / np.where(scale > 0, scale, 1.0)))


def kernel_state(res, model):
    """The integrated variables from a result: (r, v, s, z) for NMM2, (s, z) for NMM1."""
    return res.states if model == "nmm2" else res.states[:, 2:, :]


@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
@pytest.mark.parametrize("name,duration", [("interneurons", 60.0), ("pyramidal", 100.0), ("ping", 80.0)])
def test_rk4_matches_solve_ivp(model, name, duration):
    c = stimsim.preset(name)
    res = stimsim.simulate(c, model, duration_ms=duration, dt_ms=DT, record_every=50)
    y0 = initial_state(c, model, None)
    ref = reference_trajectory(c, model, y0, res.time_ms)
    assert rel_err(kernel_state(res, model), ref) < 1e-7


@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
def test_sinusoidal_input_matches_solve_ivp(model):
    """The in-kernel cosine recurrence (re-anchored per chunk) is the exact drive at every stage."""
    c = stimsim.preset("pyramidal")
    amp, f_hz, ph = 0.7, 37.0, 0.4
    drive = stimsim.SinusoidInput(amp, f_hz, ph)
    res = stimsim.simulate(c, model, duration_ms=120.0, dt_ms=DT, input=drive, record_every=40)
    ref = reference_trajectory(c, model, initial_state(c, model, None), res.time_ms,
                               drive=lambda t: amp * math.cos(2 * math.pi * f_hz * t / 1000 + ph))
    assert rel_err(kernel_state(res, model), ref) < 1e-7


@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
def test_sampled_input_on_stage_grid_matches_solve_ivp(model):
    c = stimsim.preset("ping")
    g = lambda t: np.array([0.5 * math.sin(2 * math.pi * t / 23.0), -0.3 * math.cos(2 * math.pi * t / 9.0)])
    t_half = np.arange(0, 2 * 6000 + 1) * (DT / 2)
    values = np.stack([g(t) for t in t_half])
    res = stimsim.simulate(c, model, duration_ms=60.0, dt_ms=DT, input=values, input_dt_ms=DT / 2, record_every=50)
    ref = reference_trajectory(c, model, initial_state(c, model, None), res.time_ms, drive=g)
    assert rel_err(kernel_state(res, model), ref) < 1e-7


@pytest.mark.parametrize("model,method,order", [("nmm2", "rk4", 4), ("nmm1", "rk4", 4), ("nmm2", "heun", 2)])
def test_convergence_order(model, method, order):
    c = stimsim.preset("interneurons")
    T = 40.0
    errs = []
    for dt in (0.08, 0.04, 0.02):
        res = stimsim.simulate(c, model, duration_ms=T, dt_ms=dt, integrator=method, record_every=int(round(10 / dt)))
        ref = reference_trajectory(c, model, initial_state(c, model, None), res.time_ms)
        errs.append(np.max(np.abs(kernel_state(res, model) - ref)))
    observed = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(observed - order) < 0.3), observed


def test_nmm2_converges_to_nmm1_as_synapses_slow_down():
    """models.md M4: NMM1 is the tau_s/tau_m -> infinity limit of NMM2."""
    errors = []
    for ratio in (1.0, 4.0, 16.0, 64.0):
        c = stimsim.Circuit.single(J=-10.0, tau_m=10.0, tau_s=10.0 * ratio, delta=1.0, eta_bar=2.0, I=3.0)
        T = 6.0 * c.populations[0].tau_s
        dt = 0.01
        rec = int(round(T / 200 / dt))
        n = int(round(T / dt / rec)) * rec
        r2 = stimsim.simulate(c, "nmm2", duration_ms=n * dt, dt_ms=dt, record_every=rec).rate_hz
        r1 = stimsim.simulate(c, "nmm1", duration_ms=n * dt, dt_ms=dt, record_every=rec).rate_hz
        errors.append(np.max(np.abs(r2 - r1)) / np.max(np.abs(r1)))
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.2 * errors[0]


@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
def test_time_scale_invariance(model):
    """At fixed tau_s/tau_m, tau -> tau/2 gives r'(t) = 2 r(2t): every frequency doubles (M4)."""
    base = stimsim.preset("interneurons")
    fast = base.replace(tau_m=3.75, tau_s=1.0)
    slow_res = stimsim.simulate(base, model, duration_ms=80.0, dt_ms=0.01, record_every=20)
    fast_res = stimsim.simulate(fast, model, duration_ms=40.0, dt_ms=0.005, record_every=20)
    np.testing.assert_allclose(fast_res.rate_hz, 2.0 * slow_res.rate_hz, rtol=1e-9, atol=1e-9)
    fp_slow = stimsim.fixed_points(base)
    fp_fast = stimsim.fixed_points(fast)
    f_slow = fp_slow[fp_slow.model == model].leading_freq_hz.iloc[0]
    f_fast = fp_fast[fp_fast.model == model].leading_freq_hz.iloc[0]
    assert f_fast == pytest.approx(2.0 * f_slow, rel=1e-9)


@pytest.mark.parametrize("model,name", [("nmm2", "pyramidal"), ("nmm1", "pyramidal"), ("nmm2", "ping"),
                                        ("nmm1", "jansen-rit")])
def test_batch_equals_single(model, name):
    base = stimsim.preset(name)
    rng = np.random.default_rng(1)
    circuits, inputs = [], []
    for b in range(37):  # not a multiple of the lane count: exercises padding
        if name == "pyramidal":
            c = base.replace(J=float(rng.uniform(0, 12)), eta_bar=float(rng.uniform(-1, 5)))
        elif name == "ping":
            c = base.replace(eta_bar=float(rng.uniform(0, 3)))
        else:
            c = base.replace(I={"P": float(rng.uniform(5, 9))})
        circuits.append(c)
        inputs.append(stimsim.SinusoidInput(rng.uniform(0, 1, c.n_populations), float(rng.uniform(1, 80)),
                                            float(rng.uniform(0, 6))))
    batch = stimsim.simulate_batch(circuits, model, duration_ms=50.0, dt_ms=0.02, inputs=inputs, record_every=25)
    for b in (0, 5, 17, 36):
        one = stimsim.simulate(circuits[b], model, duration_ms=50.0, dt_ms=0.02, input=inputs[b], record_every=25)
        np.testing.assert_allclose(batch.states[..., b], one.states, rtol=1e-12, atol=1e-15)


def test_jansen_rit_alpha_rhythm():
    """Jansen & Rit (1995): p = 220 s^-1 gives an alpha rhythm (8-12 Hz) in the pyramidal potential."""
    c = stimsim.preset("jansen-rit", p=220.0)
    dt = 0.1
    res = stimsim.simulate(c, "nmm1", duration_ms=6000.0, dt_ms=dt, record_every=10)
    keep = res.time_ms >= 2000.0
    v = res.v[keep, c.index("P")]
    assert np.ptp(v) > 1.0  # a sustained oscillation, mV
    spec = np.abs(np.fft.rfft(v - v.mean()))
    freqs = np.fft.rfftfreq(v.size, d=dt * 10 / 1000.0)
    f_peak = freqs[np.argmax(spec)]
    assert 8.0 <= f_peak <= 12.0, f_peak


def test_interneurons_oscillate_in_nmm2_not_in_nmm1():
    """models.md M7.1: ING rhythm in NMM2; NMM1 relaxes to the fixed point."""
    c = stimsim.preset("interneurons")
    last = slice(-1000, None)  # the last 100 ms of 300 ms
    r2 = stimsim.simulate(c, "nmm2", duration_ms=300.0, dt_ms=0.01, record_every=10).rate_hz[last, 0]
    r1 = stimsim.simulate(c, "nmm1", duration_ms=300.0, dt_ms=0.01, record_every=10).rate_hz[last, 0]
    r_star = stimsim.fixed_points(c).rate_hz.iloc[0]
    assert np.ptp(r2) > 0.5 * r_star
    assert np.ptp(r1) < 1e-6 * r_star
    assert r1[-1] == pytest.approx(r_star, rel=1e-9)
