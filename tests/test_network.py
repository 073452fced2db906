"""The spiking QIF network (models.md M1) against closed forms and against NMM2 (Montbrió et al. 2015).

Every expected value is independent of the network code: fixed points (stimsim.fixed_points), the
NMM2 and NMM1 simulations, the period of a QIF neuron, the alpha kernel of the synapse, and the
firing rate of a noise-driven QIF neuron (Lindner, Longtin & Bulsara, Neural Comput. 15, 1761, 2003).
"""
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

import stimsim
from stimsim.analysis import dominant_frequency, lockin
from stimsim.errors import InputError
from stimsim.models import NetworkModel

NET = stimsim.models.get("network")


def net(circuit, **kw):
    kw.setdefault("progress", False)
    return stimsim.simulate(circuit, model="network", **kw)


# --- the finite-V_peak convention and the integration against closed forms ------------------------------
@pytest.mark.parametrize("v_peak", [100.0, 5.0])
def test_identical_neurons_fire_at_the_period_of_the_finite_v_peak_convention(v_peak):
    """tau dV/dt = V^2 + c, c > 0, from V_reset = -V_peak to V_peak takes (2 tau/sqrt c) atan(V_peak/sqrt c),
    plus the refractory 2 tau/V_peak (models.md M1); V_peak -> infinity gives pi tau/sqrt c. With
    uniformly random phases the expected rate is exactly 1/period."""
    tau, c = 10.0, 4.0
    circ = stimsim.Circuit.single(J=0.0, tau_m=tau, tau_s=5.0, delta=1e-6, eta_bar=c)
    res = net(circ, neurons=4000, seed=3, v_peak=v_peak, duration_ms=2000.0, dt_ms=0.005, record_every=400000)
    period = 2 * tau / math.sqrt(c) * math.atan(v_peak / math.sqrt(c)) + 2 * tau / v_peak
    rate_hz = res.rate_hz[1, 0]          # the window centred at the end: the last 1000 ms
    assert rate_hz == pytest.approx(1000.0 / period, rel=2e-3)
    # the documented error of the convention against V_peak -> infinity: 2 c^1.5 / (3 pi V_peak^3)
    infinite = 1000.0 * math.sqrt(c) / (math.pi * tau)
    predicted = 2 * c ** 1.5 / (3 * math.pi * v_peak ** 3)
    assert abs(infinite / rate_hz - 1 - predicted) < 2e-3


def test_synapse_is_the_alpha_kernel_of_the_spike_train():
    """One neuron (N = 1): s(t) = sum_k (t - t_k)/tau_s^2 exp(-(t - t_k)/tau_s) over its spikes (models.md M2)."""
    tau_s = 2.0
    circ = stimsim.Circuit.single(J=0.0, tau_m=10.0, tau_s=tau_s, delta=1e-6, eta_bar=9.0)
    res = net(circ, neurons=1, seed=0, raster_neurons=1, duration_ms=100.0, dt_ms=0.002, record_every=50)
    spikes = res.spikes["time_ms"].to_numpy()
    assert spikes.size >= 9
    t = res.time_ms[:, None]
    lag = np.clip(t - spikes[None, :], 0.0, None)
    s = np.sum(np.where(t > spikes[None, :], lag / tau_s ** 2 * np.exp(-lag / tau_s), 0.0), axis=1)
    got = res.variable("s", units="model")[:, 0]
    assert np.max(np.abs(got - s)) < 2e-3 * np.max(s)


def lindner_rate_khz(eta, sigma, tau):
    """Rate of tau dV/dt = V^2 + eta + sigma sqrt(tau) xi: with t' = t/tau, dV/dt' = V^2 + eta + sqrt(2D) xi,
    D = sigma^2/2, and <T'> = sqrt(pi) int_0^inf x^-1/2 exp(-eta x - D^2 x^3/12) dx (Lindner et al. 2003)."""
    D = sigma ** 2 / 2
    T = math.sqrt(math.pi) * integrate.quad(lambda x: x ** -0.5 * math.exp(-eta * x - D ** 2 * x ** 3 / 12),
                                            0, np.inf, limit=200)[0]
    return 1.0 / (tau * T)


def test_noise_driven_rate_matches_the_first_passage_time_of_a_qif_neuron():
    tau, eta, sigma = 10.0, -1.0, 1.0
    circ = stimsim.Circuit.single(J=0.0, tau_m=tau, tau_s=5.0, delta=1e-3, eta_bar=eta)
    res = net(circ, neurons=20000, seed=5, noise=sigma, duration_ms=300.0, dt_ms=0.005, record_every=2000)
    rate = res.rate_hz[5:, 0].mean()                # after 50 ms
    assert rate == pytest.approx(1000.0 * lindner_rate_khz(eta, sigma, tau), rel=0.04)
    quiet = net(circ, neurons=20000, seed=5, duration_ms=300.0, dt_ms=0.005, record_every=2000)
    assert quiet.rate_hz[5:, 0].mean() < 0.2 * rate


# --- against NMM2 (the exact mean field) --------------------------------------------------------------------
def test_asynchronous_state_rate_and_voltage_match_the_fixed_point():
    c = stimsim.preset("pyramidal")
    fp = stimsim.fixed_points(c)
    row = fp[fp.model == "nmm2"].iloc[0]
    res = net(c, neurons=20000, seed=1, duration_ms=200.0, dt_ms=0.01, record_every=100, initial="fixed_point")
    late = res.time_ms >= 50.0
    assert res.rate_hz[late, 0].mean() == pytest.approx(row.rate_hz, rel=0.03)
    # v averages a Cauchy-tailed distribution truncated at +-V_peak (models.md M1): noisy, 10 %
    assert res.v[late, 0].mean() == pytest.approx(row.v, rel=0.10)


def test_mean_voltage_is_the_lorentzian_truncated_at_v_peak():
    """v averages the neurons with |V| <= V_peak that are not refractory (models.md M1): for the Lorentzian
    density of half-width pi tau_m r centred at -Delta/(2 pi tau_m r) (M2, M3) that is its mean over
    [-V_peak, V_peak]; at V_peak = 10 it differs from the centre by 20 %."""
    c = stimsim.preset("pyramidal")
    tau, delta, vp = 20.0, 1.0, 10.0
    res = net(c, neurons=20000, seed=1, v_peak=vp, duration_ms=300.0, dt_ms=0.01, record_every=100,
              initial="fixed_point")
    late = res.time_ms >= 50.0
    r = res.rate_hz[late, 0].mean() / 1000.0
    x, y = math.pi * tau * r, -delta / (2 * math.pi * tau * r)
    rho = lambda v: x / math.pi / ((v - y) ** 2 + x ** 2)
    truncated = integrate.quad(lambda v: v * rho(v), -vp, vp)[0] / integrate.quad(rho, -vp, vp)[0]
    assert abs(truncated / y - 1) > 0.15
    assert res.v[late, 0].mean() == pytest.approx(truncated, rel=0.05)


def test_interneurons_oscillate_at_the_nmm2_limit_cycle_frequency_and_nmm1_does_not():
    c = stimsim.preset("interneurons")               # I = 30: NMM2's fixed point is an unstable focus
    kw = dict(duration_ms=600.0, dt_ms=0.01, record_every=10)
    r2 = stimsim.simulate(c, "nmm2", **kw)
    r1 = stimsim.simulate(c, "nmm1", **kw)
    rn = net(c, neurons=10000, seed=2, **kw)
    late = r2.time_ms >= 200.0
    f2 = dominant_frequency(r2.rate_hz[late, 0], 0.1, fmin_hz=5.0)
    fn = dominant_frequency(rn.rate_hz[late, 0], 0.1, fmin_hz=5.0)
    assert 100.0 < f2 < 160.0
    assert fn == pytest.approx(f2, rel=0.03)
    assert np.ptp(rn.rate_hz[late, 0]) > 0.5 * np.ptp(r2.rate_hz[late, 0])
    y1 = r1.rate_hz[late, 0]
    assert np.ptp(y1) < 1e-6 * np.mean(y1)           # NMM1 sits on its stable fixed point


def test_pyramidal_resonant_response_matches_nmm2_not_nmm1():
    c = stimsim.preset("pyramidal")                  # NMM2 gain peaks at 47 Hz (models.md M3)
    kw = dict(duration_ms=900.0, dt_ms=0.01, record_every=10, initial="fixed_point",
              input=stimsim.SinusoidInput(0.2, 47.0))
    amp = {}
    for model, extra in (("nmm2", {}), ("nmm1", {}), ("network", dict(neurons=20000, seed=4, progress=False))):
        res = stimsim.simulate(c, model, **kw, **extra)
        late = res.time_ms >= 300.0
        amp[model] = lockin(res.rate_hz[late, 0], 0.1, 47.0, t0_ms=300.0)[0]
    assert amp["network"] == pytest.approx(amp["nmm2"], rel=0.10)
    assert amp["network"] > 3.0 * amp["nmm1"]


def test_error_against_nmm2_shrinks_as_one_over_sqrt_n():
    c = stimsim.preset("pyramidal")
    kw = dict(duration_ms=700.0, dt_ms=0.01, record_every=100, initial="fixed_point",
              input=stimsim.SinusoidInput(0.2, 47.0))
    ref = stimsim.simulate(c, "nmm2", **kw)
    late = ref.time_ms >= 200.0
    ns = np.array([2500, 10000, 40000])
    rms = []
    for n in ns:
        res = net(c, neurons=int(n), seed=7, **kw)          # rate windows of w = 1 ms
        rms.append(np.sqrt(np.mean((res.rate_hz[late, 0] - ref.rate_hz[late, 0]) ** 2)))
    assert rms[0] > rms[1] > rms[2]
    slope = np.polyfit(np.log(ns), np.log(rms), 1)[0]
    assert -0.65 < slope < -0.35
    # counting noise of N neurons each firing in the window w with probability r w (w << 1/r):
    # variance N r w (1 - r w) spikes, i.e. an RMS rate error sqrt(r (1 - r w) / (N w))
    r, w = stimsim.fixed_points(c).rate_hz.iloc[0] / 1000.0, 1.0
    np.testing.assert_allclose(np.array(rms) / 1000.0, np.sqrt(r * (1 - r * w) / (ns * w)), rtol=0.15)


# --- determinism, threads, batches ------------------------------------------------------------------------
def test_seeded_runs_repeat_and_threads_do_not_change_the_numbers():
    c = stimsim.preset("pyramidal")                  # coupled: any difference would grow
    kw = dict(neurons=50000, noise=0.5, duration_ms=20.0, dt_ms=0.01, record_every=50)
    a = net(c, seed=11, parallel=False, **kw)
    b = net(c, seed=11, parallel=True, **kw)
    d = net(c, seed=12, parallel=False, **kw)
    assert a.settings["blocks_per_population"] == 4 and b.settings["threaded_fraction"] == 1.0
    for name in ("r", "s", "z"):
        np.testing.assert_array_equal(a.variable(name), b.variable(name))
    np.testing.assert_allclose(a.v, b.v, rtol=1e-12)
    assert not np.array_equal(a.rate_hz, d.rate_hz)
    assert a.settings["seed"] == 11 and a.settings["neurons"] == 50000


def test_batch_runs_set_b_with_seed_plus_b():
    c = stimsim.preset("pyramidal")
    kw = dict(duration_ms=20.0, dt_ms=0.01, record_every=100)
    batch = stimsim.simulate_batch([c, c], model="network", neurons=500, seed=20, progress=False, **kw)
    one = net(c, neurons=500, seed=21, **kw)
    assert batch.states.shape == (21, 4, 1, 2)
    np.testing.assert_array_equal(batch.states[..., 1], one.states)


def test_two_population_circuit_runs_and_records_every_population():
    c = stimsim.preset("ping")
    res = net(c, neurons=2000, seed=3, duration_ms=30.0, dt_ms=0.01, record_every=100, raster_neurons=10)
    assert res.rate_hz.shape == (31, 2)
    assert set(res.spikes.population) <= {"E", "I"} and res.spikes.neuron.max() < 2000
    assert list(res.to_frame().columns) == ["time_ms", "model", "population", "rate_hz", "v", "s_hz", "z_hz"]


def test_entrainment_analysis_runs_on_network_output():
    """The Arnold-tongue analysis takes the network like any model: its undriven rhythm is NMM2's."""
    t = stimsim.entrainment(stimsim.preset("interneurons"), model=("nmm2", "network"), freqs_hz=[125.0],
                            amplitudes=[0.0, 2.0], grid=dict(settle_ms=300.0, measure_ms=600.0, dt_ms=0.025))
    ref = t[(t.model == "nmm2") & (t.amplitude_unit == 0)].iloc[0]
    row = t[(t.model == "network") & (t.amplitude_unit == 0)].iloc[0]
    assert row.self_oscillating and not row.diverged
    assert row.natural_freq_hz == pytest.approx(ref.natural_freq_hz, rel=0.03)


# --- what the network is not, and bad input -----------------------------------------------------------------
def test_methods_without_equations_say_so():
    c = stimsim.preset("pyramidal")
    assert NET.ground_truth and not NET.has_equations and not NET.exact
    with pytest.raises(InputError, match="spiking QIF network.*no Jacobian"):
        stimsim.fixed_points(c, models="network")
    with pytest.raises(InputError, match="no Jacobian.*linear frequency response"):
        stimsim.frequency_response(c, model="network", freqs_hz=[10.0])
    with pytest.raises(InputError, match="no right-hand side"):
        NET.rhs(c, np.ones((4, 1)))
    assert set(stimsim.fixed_points(c).model) == {"nmm2", "nmm1"}


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail if a network kernel is reached: every error below must come before compile or run."""
    def refuse(self, parallel):
        raise AssertionError("the kernel was reached")
    monkeypatch.setattr(NetworkModel, "kernel_entry", refuse)


@pytest.mark.parametrize("kw,match", [
    (dict(neurons=0), "neurons must be an integer >= 1, got 0"),
    (dict(neurons=-5), "neurons must be an integer >= 1"),
    (dict(neurons=2.5), "neurons must be an integer >= 1, got 2.5"),
    (dict(neurons=1e4), r"got 10000.0 \(write 10000\)"),
    (dict(neurons="100"), "neurons must be an integer"),
    (dict(neurons=True), "neurons must be an integer"),
    (dict(neurons=10**12), r"neurons=1,000,000,000,000 per population .* GiB .* use neurons <="),
    (dict(v_peak=0.0), "v_peak must be > 0"),
    (dict(v_peak=-100.0), "v_peak must be > 0"),
    (dict(v_peak=1e4), r"dt_ms=0.01 is too coarse for v_peak=10000.*dt_ms <= 0.001"),
    (dict(noise=-1.0), "noise must be >= 0"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(excitability="uniform"), "unknown excitability 'uniform'.*allowed: quantiles, random"),
    (dict(rate_window_ms=0.015), "rate_window_ms=0.015 must be a whole number"),
    (dict(neuron=10), "unknown option 'neuron' of model 'network' \\(did you mean 'neurons'\\?\\)"),
    (dict(initial=np.array([[0.0], [-1.0], [0.0], [0.0]])), "rates r must be > 0 kHz for the network"),
])
def test_bad_input_is_a_clear_error_before_compile(no_kernel, kw, match):
    c = stimsim.preset("pyramidal")
    with pytest.raises(InputError, match=match):
        stimsim.simulate(c, model="network", duration_ms=10.0, dt_ms=0.01, **kw)


def test_sigmoid_circuits_and_options_of_other_models_are_refused(no_kernel):
    with pytest.raises(InputError, match="cannot describe circuit 'jansen-rit'.*QIF neurons"):
        stimsim.simulate(stimsim.preset("jansen-rit"), model="network", duration_ms=10.0)
    with pytest.raises(InputError, match="model 'nmm2' takes no options, got neurons; neurons is an option of "
                                         "model\\(s\\) 'network'"):
        stimsim.simulate(stimsim.preset("pyramidal"), model="nmm2", duration_ms=10.0, neurons=100)


# --- protocols and stimsim validate ------------------------------------------------------------------------
def protocol_dict(**run):
    base = {"name": "net-test", "circuit": {"preset": "pyramidal"},
            "run": {"duration_ms": 60.0, "dt_ms": 0.01, "transient_ms": 20.0, "record_every": 50, **run},
            "stimulation": {"unit": "current", "waveforms": [
                {"kind": "sine", "amplitude": 0.2, "convention": "zero_to_peak", "frequency_hz": 47.0}]}}
    return base


def test_protocol_runs_the_network_beside_the_mean_fields(tmp_path):
    from stimsim.protocol.runner import run_protocol
    from stimsim.protocol.schema import load_dict

    p = load_dict(protocol_dict(models=["network", "nmm2", "nmm1"], neurons=2000, seed=9))
    assert p.models == ("network", "nmm2", "nmm1") and p.neurons == 2000 and p.seed == 9
    report = run_protocol(p, out_dir=tmp_path / "run")
    assert set(report.summary.model) == {"network", "nmm2", "nmm1"}
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["model_settings"]["network"]["neurons"] == 2000
    assert meta["seeds"]["run.seed"] == 9 and meta["protocol"]["run"]["neurons"] == 2000
    assert load_dict(protocol_dict()).models == ("nmm2", "nmm1")     # the network is asked for by name


@pytest.mark.parametrize("run,match", [
    (dict(neurons=1000), r"run.neurons: applies only to the spiking network; add \"network\" to run.models"),
    (dict(models=["network"], neurons=1.5), "run.neurons: must be an integer >= 1, got 1.5"),
    (dict(models=["network"], neurons=0), "run.neurons: must be an integer >= 1, got 0"),
    (dict(models=["network"], dt_ms=0.2, duration_ms=60.0), "dt_ms=0.2 is too coarse for v_peak=100"),
])
def test_protocol_network_keys_are_checked(run, match):
    from stimsim.protocol.schema import ProtocolError, load_dict

    with pytest.raises(ProtocolError, match=match):
        load_dict(protocol_dict(**run))


def test_validate_writes_the_comparison_all_or_nothing(tmp_path, capsys):
    from stimsim.cli import main

    path = tmp_path / "p.toml"
    path.write_text('name = "v"\n[circuit]\npreset = "pyramidal"\n[run]\nduration_ms = 200.0\ndt_ms = 0.01\n'
                    'transient_ms = 100.0\nrecord_every = 50\n[stimulation]\nunit = "current"\n'
                    '[[stimulation.waveforms]]\nkind = "sine"\namplitude = 0.2\nconvention = "zero_to_peak"\n'
                    'frequency_hz = 47.0\n')
    bad = tmp_path / "bad"
    assert main(["validate", str(path), "--neurons", "2.5", "--out", str(bad), "--quiet"]) == 2
    assert "run.neurons: must be an integer >= 1, got 2.5" in capsys.readouterr().err
    assert not bad.exists()
    out = tmp_path / "val"
    assert main(["validate", str(path), "--neurons", "3000", "--seeds", "2", "--seed", "5", "--out", str(out),
                 "--quiet"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["metadata.json", "network_seeds.csv", "raster.csv", "summary.csv", "timeseries.csv",
                     "validation.png"]
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.model) == ["network", "nmm2", "nmm1"]
    nmm2, nmm1 = summary.iloc[1], summary.iloc[2]
    assert nmm2.corr_vs_network > nmm1.corr_vs_network
    assert nmm2.rms_error_vs_network_hz < nmm1.rms_error_vs_network_hz
    assert summary.iloc[0].response_amplitude_hz_sd > 0
    seeds = pd.read_csv(out / "network_seeds.csv")
    assert list(seeds.seed) == [5, 6]
    ts = pd.read_csv(out / "timeseries.csv")
    band = ts[ts.model == "network"]
    assert np.all(band.rate_lo_hz <= band.rate_hz) and np.all(band.rate_hz <= band.rate_hi_hz)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["network"]["neurons_per_population"] == 3000 and meta["network"]["seeds"] == [5, 6]


# --- saturation: the spiking counterpart of a diverged mean field (issue 18) ------------------------
SATURATED = "saturated at t = .* mean voltage is undefined and the rate is over 0.5 x the ceiling"


@pytest.mark.parametrize("circuit,kw", [
    (stimsim.preset("interneurons", I=1e12), {}),                          # NMM2 raises on the same circuit
    (stimsim.preset("interneurons"), dict(noise=1e8)),
    (stimsim.preset("interneurons"), dict(input=np.full((501, 1), 1e12))),  # a huge drive
])
def test_a_saturated_network_raises_as_a_diverged_mean_field(circuit, kw):
    """Every neuron refractory or beyond V_peak (no mean voltage) at a rate near the refractory
    ceiling V_peak / (2 tau_m): SimulationDiverged, as NMM2 on the same circuit, never a silent NaN."""
    with pytest.raises(stimsim.SimulationDiverged, match=SATURATED):
        stimsim.simulate(circuit, model="network", neurons=100, seed=1, duration_ms=5.0, dt_ms=0.01, progress=False,
                         **kw)
    if not kw:
        with pytest.raises(stimsim.SimulationDiverged):
            stimsim.simulate(circuit, model="nmm2", duration_ms=5.0, dt_ms=0.01)


def test_a_saturated_set_of_a_batch_is_flagged_and_the_others_kept():
    good, bad = stimsim.preset("interneurons"), stimsim.preset("interneurons", I=1e12)
    br = stimsim.simulate_batch([good, bad], model="network", neurons=100, seed=1, duration_ms=5.0, dt_ms=0.01,
                                on_divergence="nan", progress=False)
    assert list(br.diverged) == [1] and np.all(np.isnan(br.states[..., 1]))
    assert np.all(np.isfinite(br.states[:, [0, 2, 3], :, 0]))


def test_a_single_neuron_between_spikes_is_not_saturation():
    """One neuron has no mean voltage while it is refractory (v NaN at some records) at an ordinary
    rate: not flagged."""
    res = stimsim.simulate(stimsim.preset("interneurons"), model="network", neurons=1, seed=1, duration_ms=50.0,
                           dt_ms=0.01, progress=False)
    v = res.states[:, 1, 0]
    assert np.any(np.isnan(v)) and np.any(np.isfinite(v))
    assert np.nanmax(res.rate_hz) < 0.5 * 100.0 / (2 * 7.5) * 1000.0           # half the ceiling, Hz


def test_a_saturated_region_of_a_spiking_brain_raises_or_is_flagged():
    from stimsim.brain import BrainNetwork, simulate_network

    net = BrainNetwork(stimsim.preset("interneurons", I=1e12), [[0, 1], [1, 0]], [[0, 40], [40, 0]])
    opts = dict(neurons=100, seed=1)
    with pytest.raises(stimsim.SimulationDiverged, match=r"spiking brain network \(set 0\), region 'r0', " + SATURATED):
        simulate_network(net, "network", duration_ms=5.0, dt_ms=0.01, network_options=opts)
    res = simulate_network(net, "network", duration_ms=5.0, dt_ms=0.01, network_options=opts, G=[0.0, 0.1],
                           on_divergence="nan")
    assert list(res.diverged) == [0, 1] and np.all(np.isnan(res.states))


def test_ping_finite_size_offset_from_nmm2_is_as_documented_and_shrinks_with_n():
    """docs/models.md M1: for `ping` the network's E rate is 8-9 % above NMM2's and its rhythm 2.6 %
    slower at N = 10 000; about twice as far at N = 2 500."""
    c = stimsim.preset("ping")
    T, dt = 2000.0, 0.01
    ref = stimsim.simulate(c, "nmm2", duration_ms=T, dt_ms=dt, record_every=10)
    late = ref.time_ms >= 500.0
    r_ref, f_ref = ref.rate_hz[late, 0].mean(), dominant_frequency(ref.rate_hz[late, 0], 0.1)
    offsets = {}
    for n in (2500, 10_000):
        net = stimsim.simulate(c, "network", duration_ms=T, dt_ms=dt, record_every=10, neurons=n, seed=1,
                               progress=False)
        offsets[n] = (net.rate_hz[late, 0].mean() / r_ref - 1.0,
                      dominant_frequency(net.rate_hz[late, 0], 0.1) / f_ref - 1.0)
    rate, freq = offsets[10_000]
    assert 0.07 < rate < 0.10 and -0.035 < freq < -0.018                     # measured +8.6 %, -2.6 %
    assert offsets[2500][0] > 1.5 * rate and offsets[2500][1] < 1.5 * freq   # measured +18 %, -5.5 %
