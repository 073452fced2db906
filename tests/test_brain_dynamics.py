"""Networks of regions with delayed coupling (stimsim.brain) against independent references.

- G = 0: every region is the standalone circuit (stimsim.simulate, same dt and integrator).
- Delays: a two-region loop against a method-of-steps solution of the delay equations (scipy
  DOP853 on each interval between propagated breakpoints, the history from the dense output of the
  earlier intervals; right-hand sides of tests/reference.py, written from docs/models.md).
- The response of region 2 to a pulse in region 1 starts one delay later.
- A field that is the same in every region with G = 0 reproduces stimsim.simulate with that input.
- A batch of G values (and of speeds) equals separate runs; bad input is refused with a message.
"""
import types

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import reference as ref
import stimsim
from stimsim.brain import BrainNetwork, RegionalStimulus, simulate_network
from stimsim.coupling import FieldCoupling
from stimsim.errors import InputError


def method_of_steps(circuit, model, W, D, G, sender, wk, y0, T, t_eval):
    """Solution of the delay equations x_{i,k} += wk G sum_j W[i, j] s_{j,sender}(t - D[i, j]).

    y0 (nv, R, P) in the kernel's variable order; the history before t = 0 is y0. The interval
    [0, T] is cut at every breakpoint a sum of delays can propagate the t = 0 kink to and at every
    multiple of the shortest delay; on each interval the delayed values lie in earlier intervals
    (dense output of DOP853, rtol 1e-10). Returns (n_t, nv, R, P).
    """
    nv, R, P = y0.shape
    var_s = 2 if model == "nmm2" else 0
    rhs = ref.nmm2_rhs if model == "nmm2" else ref.nmm1_rhs
    pieces = []
    s0 = y0[var_s, :, sender].copy()

    def s_hist(j, tau):
        if tau <= 0.0:
            return s0[j]
        for a, b, sol in reversed(pieces):
            if a <= tau <= b + 1e-9:           # stage times may pass the interval end by rounding
                return sol(tau).reshape(R, P, nv)[j, sender, var_s]
        raise AssertionError(f"history at t = {tau} ms not yet computed")

    def f(t, y):
        y = y.reshape(R, P * nv)
        out = np.empty_like(y)
        for i in range(R):
            lr = G * sum(W[i, j] * s_hist(j, t - D[i, j]) for j in range(R) if W[i, j] != 0.0)
            out[i] = rhs(circuit, drive=lambda t, lr=lr: wk * lr)(t, y[i])
        return out.ravel()

    active = sorted(set(D[W != 0].tolist()))
    bps, frontier = {0.0, T}, {0.0}
    while frontier:
        new = {b + d for b in frontier for d in active if b + d < T}
        frontier = new - bps
        bps |= new
    bps = np.array(sorted(bps | set(np.arange(0.0, T, min(active)).tolist())))
    y = np.transpose(y0, (1, 2, 0)).ravel()
    for a, b in zip(bps[:-1], bps[1:]):
        if b - a > 1e-12:
            sol = solve_ivp(f, (a, b), y, method="DOP853", rtol=1e-10, atol=1e-13, dense_output=True)
            assert sol.success, sol.message
            pieces.append((a, b, sol.sol))
            y = sol.y[:, -1]
    out = [next(sol(t) for a, b, sol in pieces if a <= t <= b).reshape(R, P, nv) for t in t_eval]
    return np.transpose(np.array(out), (0, 3, 1, 2))


def small_network(local, R=3, G=0.0, seed=0, **kw):
    rng = np.random.default_rng(seed)
    W = rng.uniform(0.0, 1.0, (R, R)) * (rng.uniform(size=(R, R)) < 0.7)
    np.fill_diagonal(W, 0.0)
    Lm = rng.uniform(10.0, 150.0, (R, R))
    Lm = 0.5 * (Lm + Lm.T)
    return BrainNetwork(local, W, Lm, speed_mm_per_ms=5.0, G=G, **kw)


# --- G = 0: regions are independent copies of the circuit --------------------------------------
@pytest.mark.parametrize("model,name,integrator,dt", [
    ("nmm2", "pyramidal", "rk4", 0.01), ("nmm2", "ping", "heun", 0.01), ("nmm2", "ping", "rk4", 0.01),
    ("nmm1", "ping", "rk4", 0.01), ("nmm1", "jansen-rit", "heun", 0.1)])
def test_zero_coupling_every_region_is_the_standalone_circuit(model, name, integrator, dt):
    c = stimsim.preset(name)
    net = small_network(c, R=3, G=0.0, receivers=list(range(c.n_populations)))
    res = simulate_network(net, model, duration_ms=60.0, dt_ms=dt, integrator=integrator, record_every=7)
    one = stimsim.simulate(c, model, duration_ms=60.0, dt_ms=dt, integrator=integrator, record_every=7)
    assert res.states.shape == (one.states.shape[0], 4, 3, c.n_populations, 1)
    for r in range(3):
        np.testing.assert_allclose(res.states[:, :, r, :, 0], one.states, rtol=0, atol=1e-12)
    assert np.ptp(one.states[:, 0]) > 1e-3            # the runs do move


# --- delays against the method of steps ----------------------------------------------------------
def _loop(model):
    c = stimsim.preset("pyramidal")
    m = stimsim.models.get(model)
    W = np.array([[0.0, 1.0], [0.6, 0.0]])
    Lm = np.array([[0.0, 16.517], [23.9, 0.0]])          # 3.3034 and 4.78 ms at 5 mm/ms: off the dt/2 grid
    net = BrainNetwork(c, W, Lm, speed_mm_per_ms=5.0, G=3.0)
    r_star = stimsim.models.get("nmm2").initial_state(c)[0, 0]
    y0 = np.stack([m.state_at_rates(c, [r_star], synapses=[0.0])[:, 0],
                   m.state_at_rates(c, [0.5 * r_star], synapses=[0.01])[:, 0]], axis=1)[:, :, None]
    return c, net, y0


@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
def test_two_region_loop_matches_method_of_steps(model):
    c, net, y0 = _loop(model)
    T, dt, every = 40.0, 0.01, 50
    t_eval = np.arange(0.0, T + 1e-9, every * dt)
    wk = c.populations[0].tau_m                           # the local coupling factor (models.md M5)
    reference = method_of_steps(c, model, net.weights, net.delays_ms, net.G, 0, wk, y0, T, t_eval)
    res = simulate_network(net, model, duration_ms=T, dt_ms=dt, record_every=every, initial=y0)
    m = stimsim.models.get(model)
    got = np.take(res.states[..., 0], [m.recorded_index(v) for v in m.state_names], axis=1)
    assert np.abs(got - reference).max() < 1e-6
    # the comparison can fail: the loop with delays 0.1 ms longer is more than 10x the tolerance away
    shifted = method_of_steps(c, model, net.weights, net.delays_ms + 0.1, net.G, 0, wk, y0, T, t_eval)
    assert np.abs(shifted - reference).max() > 1e-5
    # and the coupling matters: region 1 without its input differs by far more
    alone = method_of_steps(c, model, net.weights, net.delays_ms, 0.0, 0, wk, y0, T, t_eval)
    assert np.abs(alone - reference).max() > 1e-3


def test_zero_delays_are_the_instantaneous_circuit():
    """Lengths 0 (d = 0 < dt: the in-step values are extrapolated by the Hermite cubic, O(dt^4)) against the one big
    circuit whose J holds G W in the sender -> receiver entries (instantaneous coupling, scipy)."""
    c = stimsim.preset("ping")
    W = np.array([[0.0, 1.0], [0.5, 0.0]])
    net = BrainNetwork(c, W, np.zeros((2, 2)), G=0.4, sender="E", receivers=["E", "I"])
    J = np.kron(np.eye(2), c.J)
    J[np.ix_([0, 1, 2, 3], [0, 0, 2, 2])] += 0.4 * np.kron(W, np.ones((2, 2)))
    big = stimsim.Circuit(tuple(p.replace(name=f"{p.name}{i}") for i in range(2) for p in c.populations), J=J)
    t_eval = np.arange(0.0, 30.0 + 1e-9, 0.5)
    y0 = stimsim.models.get("nmm2").initial_state(big)
    reference = ref.reference_trajectory(big, "nmm2", y0, t_eval)              # (n_t, 4, R P)
    err = [np.abs(simulate_network(net, "nmm2", duration_ms=30.0, dt_ms=dt, record_every=int(round(0.5 / dt)))
                  .states[..., 0].reshape(len(t_eval), 4, 4) - reference).max() for dt in (0.01, 0.005)]
    assert err[1] < 1e-6 and 12.0 < err[0] / err[1] < 20.0                    # fourth order
    assert np.abs(reference[:, 0, 0] - reference[:, 0, 2]).max() > 1e-4       # the regions differ (100 x tol)


def test_delay_interpolation_is_fourth_order():
    """Delays off the dt/2 grid: the cubic Hermite history (slopes from z) keeps RK4's order."""
    c, net, y0 = _loop("nmm2")
    T = 20.0
    t_eval = np.arange(0.0, T + 1e-9, 0.5)
    reference = method_of_steps(c, "nmm2", net.weights, net.delays_ms, net.G, 0, c.populations[0].tau_m,
                                y0, T, t_eval)
    errs = [np.abs(simulate_network(net, "nmm2", duration_ms=T, dt_ms=dt, record_every=int(round(0.5 / dt)),
                                    initial=y0).states[..., 0] - reference).max() for dt in (0.05, 0.025)]
    # 10.7 here (16 asymptotically; second order would give 4): an error of 1e-11 at dt = 0.025 ms
    assert 9.0 < errs[0] / errs[1] < 20.0 and errs[1] < 2e-11
    # history="linear": second order, and far less accurate
    lin = [np.abs(simulate_network(net, "nmm2", duration_ms=T, dt_ms=dt, record_every=int(round(0.5 / dt)),
                                   initial=y0, history="linear").states[..., 0] - reference).max() for dt in (0.05, 0.025)]
    assert 3.0 < lin[0] / lin[1] < 5.0 and lin[1] > 100 * errs[1]


def test_response_lag_equals_the_delay():
    """A 1 ms pulse of 10 input units into region 0 only; region 1 (0 -> 1 only, 20 mm) feels it one delay after region
    0's sent activation s moves, at 4 and 5 mm/ms (one batch with per-set speeds and scales: the
    unstimulated sets are the baselines)."""
    c = stimsim.preset("pyramidal")
    net = BrainNetwork(c, [[0.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [20.0, 0.0]], G=2.0)
    dt, t0 = 0.01, 5.0
    t = np.arange(int(round(30.0 / dt)) + 1) * dt
    wave = ((t > t0) & (t <= t0 + 1.0)).astype(float)
    stim = RegionalStimulus(np.array([[[10.0], [0.0]]]), wave, dt)   # 10 QIF units
    res = simulate_network(net, "nmm2", duration_ms=30.0, dt_ms=dt, stimulus=stim, initial="fixed_point",
                           speed_mm_per_ms=[4.0, 4.0, 5.0, 5.0], field_scale=[0.0, 1.0, 0.0, 1.0])
    y = res.states[:, :, :, 0, :]                          # (n_t, variable, region, set)
    for base, pulsed, speed in ((0, 1, 4.0), (2, 3, 5.0)):
        delta = np.abs(y[..., pulsed] - y[..., base])       # (n_t, variable, region)

        def onset(var, region):
            return res.time_ms[np.argmax(delta[:, var, region] > 0.0)]

        assert np.all(delta[res.time_ms <= t0] == 0.0)       # nothing before the pulse
        assert t0 < onset(0, 0) <= t0 + 0.1                  # region 0's rate answers at once
        # region 1's input, seen in its v, moves one delay (20 mm / speed) after region 0's s
        assert abs(onset(1, 1) - onset(2, 0) - 20.0 / speed) <= dt + 1e-9
        # and its rate follows within 0.1 ms (before that the change is below the rate's rounding)
        assert 0.0 < onset(0, 1) - onset(1, 1) <= 0.1
        assert delta[:, 0, 1].max() > 1e-4                   # a real response, not rounding


# --- stimulation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
def test_uniform_field_with_zero_coupling_is_the_single_circuit_run(model):
    c = stimsim.preset("ping")
    net = small_network(c, R=4, G=0.0)
    dt = 0.01
    t = np.arange(int(round(50.0 / dt)) + 1) * dt
    E = 1.5 * np.sin(2 * np.pi * 0.04 * t)               # V/m, 40 Hz tACS
    coupling = FieldCoupling()
    stim = RegionalStimulus.from_fields(net, np.ones((1, 4)), E, dt, coupling)   # 1 V/m per unit
    res = simulate_network(net, model, duration_ms=50.0, dt_ms=dt, stimulus=stim, record_every=5)
    gains = coupling.gains(c)
    one = stimsim.simulate(c, model, duration_ms=50.0, dt_ms=dt, record_every=5,
                           input=stimsim.SampledInput(E[:, None] * gains[None, :], dt))
    quiet = stimsim.simulate(c, model, duration_ms=50.0, dt_ms=dt, record_every=5)
    for r in range(4):
        np.testing.assert_array_equal(res.states[:, :, r, :, 0], one.states)
    assert np.abs(one.states - quiet.states).max() > 1e-4  # the field does act


def test_field_scale_lanes_and_g_sweep_equal_separate_runs():
    c = stimsim.preset("ping")
    net = small_network(c, R=4, G=0.2, seed=3)
    dt = 0.01
    wave = np.cos(2 * np.pi * 0.01 * np.arange(int(round(30.0 / dt)) + 1) * dt)
    pat = np.random.default_rng(1).uniform(0.0, 0.5, (1, 4, 2))
    stim = RegionalStimulus(pat, wave, dt)
    Gs = np.array([0.0, 0.1, 0.3, 0.5, 0.7])
    scales = np.array([1.0, 0.5, 2.0, 0.0, 1.0])
    batch = simulate_network(net, "nmm2", duration_ms=30.0, dt_ms=dt, stimulus=stim, G=Gs, field_scale=scales,
                             record_every=10, lanes=2)
    assert batch.rate_hz.shape == (301, 4, 2, 5)
    for b, (g, s) in enumerate(zip(Gs, scales)):
        one = simulate_network(net.replace(G=g), "nmm2", duration_ms=30.0, dt_ms=dt,
                               stimulus=RegionalStimulus(pat * s, wave, dt), record_every=10)
        np.testing.assert_allclose(batch.states[..., b], one.states[..., 0], rtol=0, atol=1e-12)
    assert np.abs(batch.states[..., 4] - batch.states[..., 0]).max() > 1e-3   # G matters


def test_speed_batch_equals_separate_runs_nmm1():
    c = stimsim.preset("ping")
    net = small_network(c, R=3, G=0.5, seed=2)
    speeds = [1.0, 3.0, 10.0]
    batch = simulate_network(net, "nmm1", duration_ms=30.0, dt_ms=0.01, speed_mm_per_ms=speeds, record_every=10)
    for b, v in enumerate(speeds):
        one = simulate_network(net.replace(speed_mm_per_ms=v), "nmm1", duration_ms=30.0, dt_ms=0.01, record_every=10)
        np.testing.assert_allclose(batch.states[..., b], one.states[..., 0], rtol=0, atol=1e-12)


def test_tidy_frame_and_connectome_objects():
    conn = types.SimpleNamespace(weights=[[0, 1], [1, 0]], tract_lengths_mm=[[0, 40], [40, 0]],
                                 region_labels=["lh-V1", "rh-V1"])
    net = BrainNetwork.from_connectome(conn, stimsim.preset("ping"), G=0.1, speed_mm_per_ms=4.0, sender="E",
                                       receivers=["E", "I"])
    assert net.delays_ms[0, 1] == 10.0 and net.receiver_indices == (0, 1)
    np.testing.assert_array_equal(net.receiver_factors(), [10.0, 5.0])       # tau_m of E and I, ms
    res = simulate_network(net, duration_ms=2.0, dt_ms=0.02, G=[0.0, 0.1], record_every=10)
    f = res.to_frame()
    assert list(f.columns) == ["set", "G", "speed_mm_per_ms", "field_scale", "time_ms", "model", "region",
                               "population", "rate_hz", "v", "s_hz", "z_hz"]
    assert len(f) == 2 * 11 * 2 * 2
    row = f[(f.set == 1) & (f.region == "rh-V1") & (f.population == "I")].iloc[-1]
    assert row.rate_hz == 1000.0 * res.states[-1, 0, 1, 1, 1]


# --- bad input ------------------------------------------------------------------------------------
PING = stimsim.preset("ping")
OK = dict(local=PING, weights=[[0, 1], [1, 0]], lengths_mm=[[0, 40], [40, 0]])


@pytest.mark.parametrize("change,match", [
    (dict(weights=[[0, -1], [1, 0]]), r"weights must be >= 0.*weights\[0, 1\] is -1"),
    (dict(weights=[[0, np.nan], [1, 0]]), r"weights must be finite"),
    (dict(weights=[[0, 1, 0], [1, 0, 0]]), r"weights must have shape \(R, R\)"),
    (dict(lengths_mm=[[0, 1, 2], [1, 0, 2], [1, 1, 0]]), r"lengths_mm must have shape \(2, 2\)"),
    (dict(lengths_mm=[[0, -5], [5, 0]]), r"lengths_mm must be >= 0 mm"),
    (dict(speed_mm_per_ms=0.0), r"speed_mm_per_ms must be > 0 mm/ms"),
    (dict(G=np.inf), r"G must be finite"),
    (dict(sender="X"), r"sender: unknown population 'X'"),
    (dict(receivers=[5]), r"receivers index 5 is outside"),
    (dict(region_labels=["a", "a"]), r"region_labels must be 2 unique labels"),
    (dict(local="ping"), r"local must be a stimsim Circuit"),
])
def test_bad_network_is_refused(change, match):
    with pytest.raises(InputError, match=match):
        BrainNetwork(**{**OK, **change})


@pytest.mark.parametrize("kwargs,match", [
    (dict(dt_ms=0.5), r"dt_ms=0.5 is too coarse"),
    (dict(model="nmm3"), r"unknown model 'nmm3' \(did you mean 'nmm2'\?\)"),
    (dict(G=[0.1, np.nan]), r"G must be finite"),
    (dict(G=[0.1, 0.2], speed_mm_per_ms=[1.0, 2.0, 3.0]), r"one common length"),
    (dict(speed_mm_per_ms=[-1.0]), r"speed_mm_per_ms must be > 0"),
    (dict(initial=np.zeros((4, 3, 2))), r"initial for nmm2 must be None, 'fixed_point', or an array"),
    (dict(stimulus=RegionalStimulus(np.zeros((1, 3, 2)), np.zeros(10), 0.01)),
     r"stimulus patterns have shape \(1, 3, 2\); the network needs \(n_patterns, 2 regions, 2 populations\)"),
    (dict(stimulus=RegionalStimulus(np.zeros((1, 2, 2)), np.zeros(10), 0.01)), r"stimulus covers 0.09 ms"),
    (dict(stimulus=RegionalStimulus(np.zeros((1, 2, 2)), np.zeros(1000), 0.003)), r"whole multiple of half"),
    (dict(duration_ms=1e6, dt_ms=0.001), r"raise record_every"),
])
def test_bad_run_is_refused(kwargs, match):
    args = {**dict(duration_ms=5.0, dt_ms=0.01), **kwargs}
    with pytest.raises(InputError, match=match):
        simulate_network(BrainNetwork(**OK), **args)


def test_bad_stimulus_and_model_support():
    with pytest.raises(InputError, match=r"waveforms must have shape \(n_samples >= 2, n_patterns = 2\)"):
        RegionalStimulus(np.zeros((2, 2, 2)), np.zeros(10), 0.01)
    with pytest.raises(InputError, match=r"patterns must be finite"):
        RegionalStimulus(np.full((1, 2, 2), np.nan), np.zeros(10), 0.01)
    jr = BrainNetwork(stimsim.preset("jansen-rit"), [[0, 1], [1, 0]], [[0, 40], [40, 0]])
    with pytest.raises(InputError, match=r"cannot describe circuit 'jansen-rit'"):
        simulate_network(jr, "nmm2", duration_ms=5.0, dt_ms=0.1)


@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
def test_a_run_split_into_calls_under_a_progress_bar_is_the_one_call_run(model, capsys, monkeypatch):
    # the kernel carries state, ring buffer and delayed sums between calls: bit for bit the same
    import stimsim.models._delayed as engine

    c = stimsim.preset("ping")
    net = small_network(c, R=3, G=0.4, seed=5)
    dt = 0.01
    wave = np.cos(2 * np.pi * 0.04 * np.arange(int(round(2 * 37.3 / dt)) + 1) * dt / 2)
    stim = RegionalStimulus(np.random.default_rng(2).uniform(0.0, 0.5, (1, 3, 2)), wave, dt / 2)
    kw = dict(duration_ms=37.3, dt_ms=dt, stimulus=stim, record_every=7, G=[0.0, 0.4], field_scale=[1.0, 2.0])
    with monkeypatch.context() as mp:
        mp.setattr(engine, "PROGRESS_FIRST_STEPS", 10**9)                  # the whole run in one call
        one = simulate_network(net, model, progress=False, **kw)
    split = simulate_network(net, model, progress=True, **kw)
    np.testing.assert_array_equal(split.states, one.states)
    assert "brain network (3 regions, 2 sets)" in capsys.readouterr().err


def test_a_long_run_is_split_into_calls_without_a_progress_bar_too(monkeypatch):
    """Python regains control between kernel calls (about 0.5 s each) whether or not a bar is shown,
    so Ctrl-C and SIGTERM stop a long brain run within a second."""
    import stimsim.models._delayed as engine

    m = stimsim.models.get("nmm2")
    calls = []
    kernel = m.run_delayed_kernel
    monkeypatch.setattr(m, "run_delayed_kernel", lambda local, R, state, par, args: (
        calls.append((int(args[14]), int(args[15]))), kernel(local, R, state, par, args)))
    simulate_network(small_network(stimsim.preset("ping"), R=3, G=0.4), "nmm2", duration_ms=20.0, dt_ms=0.01,
                     progress=False, record_every=100)
    assert len(calls) >= 2 and calls[0] == (0, engine.PROGRESS_FIRST_STEPS) and calls[-1][1] == 2000
    assert all(a[1] == b[0] for a, b in zip(calls, calls[1:]))                # consecutive ranges


def test_a_model_without_the_delay_capability_is_refused_by_name():
    """The engine asks the model: a model that does not declare supports_delays is refused with its
    name and the capability, before anything runs."""
    class NoDelays(stimsim.models.NMM2Model):
        name = "nmm2-without-delays"
        supports_delays = False

    with pytest.raises(InputError, match=r"model 'nmm2-without-delays' cannot run as the local circuit of a "
                                         r"whole-brain network with delays: it lacks the capability 'supports_delays'; "
                                         r"models that have it: nmm2, nmm1, network"):
        simulate_network(BrainNetwork(**OK), model=NoDelays(), duration_ms=5.0, dt_ms=0.01)


@pytest.mark.parametrize("name", ["nmm2", "nmm1"])
def test_the_declared_sent_variable_and_slope_are_the_kernels(name):
    """The delayed kernel sends the state row VAR_S and stores the next row as its slope (z, with
    ds/dt = z / tau_s): the model's declarations name those rows."""
    import importlib

    m = stimsim.models.get(name)
    kernel = importlib.import_module(f"stimsim.kernels.{name}")
    assert m.state_names.index(m.long_range_variable) == kernel.VAR_S
    assert m.history_slope == ("z", "tau_s") and m.state_names.index("z") == kernel.VAR_S + 1
