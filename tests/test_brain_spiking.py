"""The spiking QIF network (model 'network') in a brain network of regions with delays (stimsim.brain).

References, each independent of stimsim/models/_network_regions.py:

- G = 0: every region is the standalone network run (stimsim.simulate(local, model="network"),
  seed + i for region i, seed + b R + i for set b), bit for bit, with noise and a stimulus too.
- G > 0 in the asynchronous state: time-averaged rates per region against the NMM2 brain network
  (the exact mean field of the QIF network, Montbrió et al. 2015; kernels/delayed.py).
- A pulse into region 0 reaches region 1 one delay later; the response of region 1 (pulsed minus
  unpulsed run with the same seeds) is NMM2's response of the same network.
- Bad input (short delays, memory, options) is refused before any kernel runs.
"""
import numpy as np
import pytest

import stimsim
from stimsim.brain import BrainNetwork, RegionalStimulus, simulate_network
from stimsim.coupling import FieldCoupling
from stimsim.errors import InputError
from stimsim.models import NetworkModel


def small_network(local, R=3, G=0.0, seed=0, **kw):
    rng = np.random.default_rng(seed)
    W = rng.uniform(0.0, 1.0, (R, R)) * (rng.uniform(size=(R, R)) < 0.7)
    np.fill_diagonal(W, 0.0)
    Lm = rng.uniform(10.0, 150.0, (R, R))
    return BrainNetwork(local, W, 0.5 * (Lm + Lm.T), speed_mm_per_ms=5.0, G=G, **kw)


# --- 1. G = 0: each region is the standalone network ---------------------------------------------
def test_zero_coupling_every_region_is_the_standalone_network_run():
    c = stimsim.preset("pyramidal")
    net = small_network(c, R=3)
    kw = dict(duration_ms=30.0, dt_ms=0.01, record_every=50)
    res = simulate_network(net, "network", network_options=dict(neurons=2000, seed=5), **kw)
    assert res.states.shape == (61, 4, 3, 1, 1) and res.rate_hz.shape == (61, 3, 1)
    assert res.settings["region_seeds"] == [[5, 6, 7]]
    for i in range(3):
        one = stimsim.simulate(c, model="network", neurons=2000, seed=5 + i, progress=False, **kw)
        np.testing.assert_array_equal(res.states[:, :, i, :, 0], one.states)
    assert np.ptp(res.rate_hz[:, 0, 0]) > 1.0                                  # the runs move (Hz)
    assert not np.array_equal(res.rate_hz[:, 0], res.rate_hz[:, 1])           # regions have their own seeds


def test_zero_coupling_with_noise_stimulus_and_a_batch_is_the_standalone_run(monkeypatch):
    """Two populations, noise, a uniform 40 Hz field and two sets: set b, region i is the standalone
    run with seed + b R + i and the field's input (the same numbers, and the same raster), also when
    the run is cut into 22 chunks of 137 steps (noise keys, rate windows and records across chunks)."""
    import stimsim.models._network_regions as spiking

    monkeypatch.setattr(spiking, "MAX_CHUNK_STEPS", 137)
    c = stimsim.preset("ping")
    R, dt, T = 3, 0.01, 30.0
    net = small_network(c, R=R, sender="E", receivers=["E", "I"])
    t = np.arange(int(round(T / dt)) + 1) * dt
    E = 1.5 * np.sin(2 * np.pi * 0.04 * t)                                    # V/m
    coupling = FieldCoupling()
    stim = RegionalStimulus.from_fields(net, np.ones((1, R)), E, dt, coupling)
    spec = stimsim._simulate.check_run([c], "network", T, dt, 20, "rk4")
    opts = stimsim.models.get("network").check_options(c, spec, dict(neurons=1500, seed=7, noise=0.3,
                                                                     raster_neurons=5))
    res = simulate_network(net, "network", duration_ms=T, dt_ms=dt, stimulus=stim, record_every=20, G=[0.0, 0.0],
                           network_options=opts)                               # a NetworkOptions is accepted
    assert res.states.shape == (151, 4, R, 2, 2) and res.settings["chunk_steps"] == [137, 137]
    drive = stimsim.SampledInput(E[:, None] * coupling.gains(c)[None, :], dt)
    for b in range(2):
        for i in range(R):
            one = stimsim.simulate(c, model="network", duration_ms=T, dt_ms=dt, record_every=20, input=drive,
                                   neurons=1500, seed=7 + b * R + i, noise=0.3, raster_neurons=5, progress=False)
            np.testing.assert_array_equal(res.states[:, :, i, :, b], one.states)
            mine = res.spikes[(res.spikes.set == b) & (res.spikes.region == f"r{i}")]
            assert len(mine) == len(one.spikes) > 20
            np.testing.assert_array_equal(mine.neuron.to_numpy(), one.spikes.neuron.to_numpy())
            np.testing.assert_allclose(mine.time_ms.to_numpy(), one.spikes.time_ms.to_numpy(), rtol=0, atol=1e-9)
    quiet = stimsim.simulate(c, model="network", duration_ms=T, dt_ms=dt, record_every=20, neurons=1500, seed=7,
                             noise=0.3, progress=False)
    assert np.abs(quiet.rate_hz - res.rate_hz[:, 0, :, 0]).max() > 1.0         # the field does act


# --- 2. G > 0 against the mean field ----------------------------------------------------------------
def test_delayed_coupling_rates_match_nmm2_per_region():
    """4 pyramidal regions, delays 5-14 ms, N = 20 000: the asynchronous state's rate per region is
    NMM2's within 2 % (finite size; measured 0.3-0.4 % low; test_network.py holds one circuit to 3 %),
    at G = 3 and at G = 0, and G = 3 moves the regions' rates by 14-48 %, far beyond that tolerance."""
    c = stimsim.preset("pyramidal")
    W = np.array([[0, 1, 0.5, 0], [0.4, 0, 0, 0], [0, 1, 0, 1], [0.3, 0, 0.2, 0]])
    Lm = np.array([[0, 30, 50, 70], [30, 0, 40, 60], [50, 40, 0, 25], [70, 60, 25, 0]])
    net = BrainNetwork(c, W, Lm, speed_mm_per_ms=5.0, G=3.0)
    kw = dict(duration_ms=300.0, dt_ms=0.01, record_every=100, initial="fixed_point")
    late = np.arange(301) * 1.0 >= 100.0
    spiking = simulate_network(net, "network", G=[3.0, 0.0], network_options=dict(neurons=20000, seed=1), **kw)
    assert spiking.settings["chunk_steps"] == [500, 2048]                    # 5 ms shortest delay; no coupling
    got = spiking.rate_hz[late].mean(axis=0)[:, 0]                             # (R, sets)
    for b, G in enumerate((3.0, 0.0)):
        ref = simulate_network(net, "nmm2", G=G, **kw).rate_hz[late].mean(axis=0)[:, 0]
        np.testing.assert_allclose(got[:, b], ref, rtol=0.02)
    assert np.all(np.abs(got[:, 0] / got[:, 1] - 1) > 0.08)                    # coupling matters (> 4 x tol)
    assert np.ptp(got[:, 0]) > 0.2 * got[:, 0].mean()                          # and differs per region


# --- 3. the delay ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("speed", [5.0, 4.0, 2000.0])
def test_pulse_in_region_0_reaches_region_1_one_delay_later(speed):
    """A 1 ms pulse of 10 units into region 0 (0 -> 1 only, 20 mm): 4 ms, 5 ms and one step (0.01 ms,
    chunks of one step). Pulsed and unpulsed runs share the seeds, so region 1 is bit-identical
    until region 0's s has changed and the delay has passed; its response then is NMM2's."""
    c = stimsim.preset("pyramidal")
    net = BrainNetwork(c, [[0.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [20.0, 0.0]], G=2.0, speed_mm_per_ms=speed)
    d = 20.0 / speed
    dt, t0, T = 0.01, 5.0, 20.0
    t = np.arange(int(round(T / dt)) + 1) * dt
    stim = RegionalStimulus(np.array([[[10.0], [0.0]]]), ((t > t0) & (t <= t0 + 1.0)).astype(float), dt)
    kw = dict(duration_ms=T, dt_ms=dt, initial="fixed_point", record_every=1)
    opts = dict(neurons=5000, seed=3, rate_window_ms=dt)                       # rate in the step before t: causal
    pulsed = simulate_network(net, "network", stimulus=stim, network_options=opts, **kw)
    base = simulate_network(net, "network", network_options=opts, **kw)
    assert pulsed.settings["chunk_steps"] == [min(int(round(d / dt)), 2000)]
    delta = np.abs(pulsed.states[:, :, :, 0, 0] - base.states[:, :, :, 0, 0])   # (n_t, variable, region)

    def onset(var, region):
        return pulsed.time_ms[np.argmax(delta[:, var, region] > 0.0)]

    assert np.all(delta[pulsed.time_ms <= t0] == 0.0)                          # nothing before the pulse
    assert t0 < onset(0, 0) <= t0 + 0.5                                         # region 0 answers (spikes)
    # region 1's input, seen in its v, moves one delay after region 0's s: the drive of step n is read at
    # t_n + dt/2 - d, between the grid values of s at n - k and n - k + 1 (d = k dt), so v at t_{a + k} is
    # the first to feel s(t_a): the lag is d to the step (a step more or less fails)
    assert abs(onset(1, 1) - onset(2, 0) - d) <= 0.5 * dt
    assert onset(0, 1) >= onset(1, 1)
    # the response of region 1's s is NMM2's for this delay, and not NMM2's for a delay 1 ms longer
    ds = pulsed.states[:, 2, 1, 0, 0] - base.states[:, 2, 1, 0, 0]

    def nmm2_response(v):
        a = simulate_network(net, "nmm2", stimulus=stim, speed_mm_per_ms=v, **kw)
        b = simulate_network(net, "nmm2", speed_mm_per_ms=v, **kw)
        return a.states[:, 2, 1, 0, 0] - b.states[:, 2, 1, 0, 0]

    ref = nmm2_response(speed)
    peak = np.abs(ref).max()
    assert peak > 1e-6
    assert np.sqrt(np.mean((ds - ref) ** 2)) < 0.03 * peak                    # measured 0.7-1.0 %
    assert np.sqrt(np.mean((ds - nmm2_response(20.0 / (d + 1.0))) ** 2)) > 0.06 * peak   # measured 8-10 %


# --- 4. bad input ---------------------------------------------------------------------------------------
@pytest.fixture
def no_kernel(monkeypatch):
    """Fail if a network kernel is reached: every error below must come before compile or run."""
    def refuse(self, parallel):
        raise AssertionError("the kernel was reached")
    monkeypatch.setattr(NetworkModel, "kernel_entry", refuse)


PYR = stimsim.preset("pyramidal")
NET2 = BrainNetwork(PYR, [[0.0, 1.0], [1.0, 0.0]], [[0.0, 40.0], [40.0, 0.0]], G=1.0)


@pytest.mark.parametrize("net,kwargs,match", [
    (NET2.replace(weights=[[0.5, 1.0], [1.0, 0.0]]), {},
     r"needs every delay with a nonzero weight to be >= dt_ms = 0.01 ms .*weights\[0, 0\] = 0.5 has the delay "
     r"lengths_mm\[0, 0\] / speed = 0 mm / 5 mm/ms = 0 ms. Use longer tracts .*model 'nmm2'"),
    (NET2.replace(lengths_mm=[[0.0, 0.025], [40.0, 0.0]]), {},
     r"weights\[0, 1\] = 1 has .* = 0.005 ms. Use dt_ms <= 0.005"),
    (NET2.replace(lengths_mm=[[0.0, 0.04], [40.0, 0.0]]), dict(G=[0.0, 1.0]),
     r"0.008 ms \(set 1 of 2: G = 1, speed = 5"),
    (NET2, dict(network_options=dict(neuron=100)),
     r"unknown option 'neuron' of model 'network' \(did you mean 'neurons'"),
    (NET2, dict(network_options=dict(neurons=0)), r"neurons must be an integer >= 1, got 0"),
    (NET2, dict(network_options=dict(v_peak=1e4)), r"dt_ms=0.01 is too coarse for v_peak=10000"),
    (NET2, dict(network_options="neurons=100"), r"network_options must be None, a dict .* got str"),
    (NET2, dict(model="nmm2", network_options=dict(neurons=100)), r"network_options are options of the model; model 'nmm2' takes none \(models with options: network\)"),
    (NET2, dict(progress="yes"), r"progress must be true, false or None"),
    (NET2, dict(initial=np.array([[0.0], [-1.0], [0.0], [0.0]])), r"rates r must be > 0 kHz for the network"),
    (BrainNetwork(stimsim.preset("jansen-rit"), [[0, 1], [1, 0]], [[0, 40], [40, 0]]), dict(dt_ms=0.1),
     r"cannot describe circuit 'jansen-rit'"),
])
def test_bad_spiking_brain_run_is_refused_before_any_kernel(no_kernel, net, kwargs, match):
    args = {**dict(model="network", duration_ms=5.0, dt_ms=0.01), **kwargs}
    with pytest.raises(InputError, match=match):
        simulate_network(net, **args)


def test_neurons_of_all_regions_must_fit_in_memory(no_kernel, monkeypatch):
    """One region's neurons fit (simulate accepts them), the brain's do not: the message counts regions."""
    import stimsim.models._network_neurons as netmod

    net = BrainNetwork(PYR, np.ones((3, 3)) - np.eye(3), np.full((3, 3), 40.0), G=1.0)
    per_region = 1000 * (netmod.BYTES_PER_NEURON + netmod.BUILD_BYTES_PER_NEURON)
    monkeypatch.setattr(netmod, "MAX_NETWORK_BYTES", 1.25 * per_region)   # brain: 1000 x (3 x 24 + 96) bytes
    stimsim.models.get("network").check_options(PYR, stimsim._simulate.check_run([PYR], "network", 5.0, 0.01, 1, "rk4"),
                                 dict(neurons=1000))                          # one region fits
    with pytest.raises(InputError, match=r"neurons=1,000 per population x 1 population\(s\) x 3 regions needs .* "
                                         r"use neurons <= 892"):
        simulate_network(net, "network", duration_ms=5.0, dt_ms=0.01, network_options=dict(neurons=1000))


@pytest.mark.parametrize("window_ms", [None, 0.01, 0.37])
def test_uncoupled_sets_and_whole_step_delays_are_accepted(monkeypatch, window_ms):
    """G = 0 ignores the delays (even zero-length self-connections) and equals the standalone run for
    rate windows of 1 ms (default), one step and 37 steps (records every 10 steps, chunks of 64); a
    delay of exactly one step runs in chunks of one step."""
    import stimsim.models._network_regions as spiking

    monkeypatch.setattr(spiking, "MAX_CHUNK_STEPS", 64)
    zero = NET2.replace(weights=[[0.5, 1.0], [1.0, 0.0]], G=0.0)
    kw = dict(duration_ms=2.0, dt_ms=0.01, record_every=10)
    opts = dict(neurons=300, seed=2) if window_ms is None else dict(neurons=300, seed=2, rate_window_ms=window_ms)
    res = simulate_network(zero, "network", network_options=opts, **kw)
    one = stimsim.simulate(PYR, model="network", progress=False, **{**opts, "seed": 3}, **kw)
    np.testing.assert_array_equal(res.states[:, :, 1, :, 0], one.states)
    step = NET2.replace(lengths_mm=[[0.0, 0.05], [0.05, 0.0]])                # 0.01 ms = dt at 5 mm/ms
    res = simulate_network(step, "network", network_options=dict(neurons=300, seed=2), **kw)
    assert res.settings["chunk_steps"] == [1] and res.settings["shortest_delay_ms"] == [pytest.approx(0.01)]
    assert np.all(np.isfinite(res.states[:, [0, 2, 3]]))
