"""Every engine asks the model: a model written here, as a pointwise right-hand side, runs everywhere.

The model is a first-order rate population per population k (Wilson & Cowan, Biophys. J. 12, 1-24,
1972), with the circuit's transfer function T_k (QIF Phi, models.md M3, or the Jansen-Rit sigmoid,
M4)::

    tau_s,k dr_k/dt = -r_k + T_k(x_k),       x_k = eta_bar_k + I_k(t) + sum_l K[k, l] r_l

(K = w J, models.md M5). Its fixed points are those of the other models, r = T(x(r)). It is
the worked example of docs/architecture.md (its code block is executed here), registered by a
fixture and removed afterwards; stimsim generates its lane kernels and its
delayed brain kernel (stimsim.kernels.pointwise). Each engine is checked against an independent
scipy solution (DOP853, rtol 1e-10, atol 1e-12) of the same equations written in numpy below
(transfer functions from tests/reference.py, not stimsim's):

- stimsim.simulate (one circuit, sinusoidal drive, RK4);
- stimsim.simulate_batch (three circuits differing in eta_bar, two lanes per block: the threaded
  entry point and lane padding), equal to the single runs;
- stimsim.brain.simulate_network of two regions with delays and a sinusoidal stimulus on one
  region, against a method-of-steps solution of the delay equations (linear history: second
  order, so the error falls ~4x when dt halves);
- a two-point lock-in sweep (stimsim.sweep.run_sweep) against the lock-in of scipy trajectories.
"""
import math
from pathlib import Path

import numpy as np
import pytest
import reference as ref
from scipy.integrate import solve_ivp

import stimsim
from stimsim.brain import BrainNetwork, RegionalStimulus, simulate_network

RTOL, ATOL = 1e-10, 1e-12


# --- the model, as an author would write it: the worked example of docs/architecture.md ----------
def _doc_example():
    """The one python block of docs/architecture.md's "Adding a model", executed as it stands."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Adding a model"):]
    code = section[section.index("```python\n") + len("```python\n"):]
    namespace = {}
    exec(compile(code[:code.index("```")], str(DOC), "exec"), namespace)
    return namespace


DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
WilsonCowan = _doc_example()["WilsonCowan"]


@pytest.fixture(scope="module")
def wc():
    m = stimsim.models.register(WilsonCowan())
    yield m
    stimsim.models.unregister(m.name)


def ei_circuit(eta_e=3.0):
    """E (QIF) and I (Jansen-Rit sigmoid) populations: both transfer kinds and signed coupling."""
    pops = (stimsim.Population("E", tau_m=10.0, tau_s=4.0, delta=1.0, eta_bar=eta_e),
            stimsim.Population("I", tau_s=8.0, eta_bar=2.0, transfer="sigmoid", rmax_hz=60.0))
    return stimsim.Circuit(pops, J=[[1.0, -2.0], [80.0, -20.0]], name="wc-ei")


# --- independent reference (numpy, scipy) -------------------------------------------------------
def T_ref(circuit, x):
    """T_k(x_k) from tests/reference.py's formulas (models.md M3, M4)."""
    return np.array([ref.phi(xk, p.delta, p.tau_m) if p.is_qif else
                     ref.sig(xk, p.rmax_hz / 1000.0, p.slope_per_mv, p.threshold_mv)
                     for xk, p in zip(x, circuit.populations)])


def wc_equations(circuit, coupling=True):
    """g(r, u) = dr/dt of Wilson & Cowan (1972) at rates r (P,) kHz with extra input u (P,)."""
    w = np.array([p.tau_m if p.is_qif else 1.0 for p in circuit.populations])
    K = w[:, None] * np.array(circuit.J) if coupling else np.zeros((circuit.n_populations,) * 2)
    c0 = np.array([p.eta_bar + p.I for p in circuit.populations])
    ts = np.array([p.tau_s for p in circuit.populations])
    return lambda r, u: (T_ref(circuit, c0 + u + K @ r) - r) / ts


def wc_reference(circuit, drive=lambda t: 0.0, coupling=True):
    """f(t, r) for scipy; ``drive(t)`` (P,) the time-varying input."""
    g = wc_equations(circuit, coupling)
    return lambda t, r: g(r, drive(t))


def solve(f, r0, t_eval):
    sol = solve_ivp(f, (0.0, t_eval[-1]), r0, method="DOP853", rtol=RTOL, atol=ATOL, t_eval=t_eval)
    assert sol.success, sol.message
    return sol.y.T


def sine(amp, f_hz):
    amp = np.asarray(amp, dtype=float)
    om = 2.0 * math.pi * f_hz / 1000.0
    return lambda t: amp * math.cos(om * t)


# --- the kernel and the numpy equations agree ----------------------------------------------------
def test_generated_kernel_derivative_is_the_numpy_rhs(wc):
    c = ei_circuit()
    y = np.array([[0.05, 0.02]])
    u = np.array([0.3, -1.0])
    np.testing.assert_allclose(wc.kernel_derivative(c, y, u), wc.rhs(c, y, u), rtol=1e-13, atol=0)
    np.testing.assert_allclose(wc.rhs(c, y, u)[0], wc_reference(c, lambda t: u)(0.0, y[0]), rtol=1e-12)
    assert wc.lane_kernel and wc.supports_delays and wc.history_slope is None and wc.long_range_variable == "r"


# --- one circuit ---------------------------------------------------------------------------------
def test_simulate_matches_scipy(wc):
    c = ei_circuit()
    amp, f_hz, T, dt, every = [1.0, 2.0], 20.0, 100.0, 0.02, 50
    res = stimsim.simulate(c, model="test-wilson-cowan", duration_ms=T, dt_ms=dt, record_every=every,
                           input=stimsim.SinusoidInput(amp, f_hz))
    r0 = wc.initial_state(c)[0]
    reference = solve(wc_reference(c, sine(amp, f_hz)), r0, res.time_ms)
    err = np.abs(res.states[:, 0] - reference).max()
    assert err < 1e-9                                       # measured 1.8e-11 (rates ~0.06 kHz)
    # the comparison can fail: without the coupling, or with the drive's sign flipped, far away
    uncoupled = solve(wc_reference(c, sine(amp, f_hz), coupling=False), r0, res.time_ms)
    flipped = solve(wc_reference(c, sine(-np.asarray(amp), f_hz)), r0, res.time_ms)
    assert np.abs(uncoupled - reference).max() > 1e-3 and np.abs(flipped - reference).max() > 1e-3
    assert list(res.to_frame().columns) == ["time_ms", "model", "population", "rate_hz"]
    # Heun (second order): the error falls ~4x when dt halves
    heun = [np.abs(stimsim.simulate(c, model="test-wilson-cowan", duration_ms=T, dt_ms=h, integrator="heun",
                                    record_every=int(round(1.0 / h)), input=stimsim.SinusoidInput(amp, f_hz))
                   .states[:, 0] - reference).max() for h in (0.04, 0.02)]
    assert heun[1] < 1e-5 and 3.5 < heun[0] / heun[1] < 4.5


# --- lanes ---------------------------------------------------------------------------------------
def test_simulate_batch_equals_single_runs_and_scipy(wc):
    circuits = [ei_circuit(eta) for eta in (2.0, 3.0, 4.0)]
    drive = stimsim.SinusoidInput([1.0, 2.0], 20.0)
    T, dt, every = 60.0, 0.02, 50
    # two lanes per block: two blocks (the threaded entry point), the second padded
    br = stimsim.simulate_batch(circuits, model="test-wilson-cowan", duration_ms=T, dt_ms=dt, record_every=every,
                                input=drive, lanes=2)
    for b, c in enumerate(circuits):
        one = stimsim.simulate(c, model="test-wilson-cowan", duration_ms=T, dt_ms=dt, record_every=every, input=drive)
        np.testing.assert_allclose(br.states[..., b], one.states, rtol=0, atol=1e-14)
        reference = solve(wc_reference(c, sine([1.0, 2.0], 20.0)), wc.initial_state(c)[0], one.time_ms)
        assert np.abs(br.states[:, 0, :, b] - reference).max() < 1e-9
    assert np.abs(br.states[-1, 0, 0, 0] - br.states[-1, 0, 0, 2]) > 1e-3       # eta_bar matters


# --- a brain network with delays -----------------------------------------------------------------
W2 = np.array([[0.0, 1.0], [0.6, 0.0]])
L2 = np.array([[0.0, 16.517], [23.9, 0.0]])          # 3.3034 and 4.78 ms at 5 mm/ms: off the dt/2 grid
STIM_AMP, STIM_HZ = 1.5, 25.0
PATTERN = np.array([[[1.0, 0.5], [0.0, 0.0]]])        # (1 pattern, R, P): region 0 only
Y0_BRAIN = np.array([[[0.03, 0.01], [0.06, 0.02]]])   # (n_state, R, P), kHz


def brain_network(G=2.0):
    return BrainNetwork(ei_circuit(), W2, L2, speed_mm_per_ms=5.0, G=G, sender="E", receivers=["E", "I"])


def method_of_steps(net, T, t_eval, delays=None):
    """The delay equations of the network, r_{i,k}: x_{i,k} += w_k G sum_j W[i, j] r_{j,sender}(t - d_ij)
    with the history r(t < 0) = r(0), by scipy on each interval between propagated breakpoints
    (as tests/test_brain_dynamics.py). Returns (n_t, R, P)."""
    c = net.local
    R, P = net.n_regions, c.n_populations
    D = net.delays_ms if delays is None else delays
    wk = net.receiver_factors()
    om = 2.0 * math.pi * STIM_HZ / 1000.0
    g = wc_equations(c)
    s0 = Y0_BRAIN[0, :, net.sender].copy()
    pieces = []

    def hist(j, tau):
        if tau <= 0.0:
            return s0[j]
        for a, b, sol in reversed(pieces):
            if a <= tau <= b + 1e-9:
                return sol(tau).reshape(R, P)[j, net.sender]
        raise AssertionError(f"history at t = {tau} ms not yet computed")

    def f(t, y):
        r = y.reshape(R, P)
        out = np.empty_like(r)
        for i in range(R):
            lr = net.G * sum(W2[i, j] * hist(j, t - D[i, j]) for j in range(R) if W2[i, j] != 0.0)
            # drive of region i plus the long-range term w_k G sum_j W[i, j] r_j(t - d_ij), entering x
            out[i] = g(r[i], PATTERN[0, i] * STIM_AMP * math.cos(om * t) + wk * lr)
        return out.ravel()

    active = sorted(set(D[W2 != 0].tolist()))
    bps, frontier = {0.0, T}, {0.0}
    while frontier:
        new = {b + d for b in frontier for d in active if b + d < T}
        frontier = new - bps
        bps |= new
    bps = np.array(sorted(bps | set(np.arange(0.0, T, min(active)).tolist())))
    y = Y0_BRAIN[0].ravel().copy()
    for a, b in zip(bps[:-1], bps[1:]):
        if b - a > 1e-12:
            sol = solve_ivp(f, (a, b), y, method="DOP853", rtol=RTOL, atol=ATOL, dense_output=True)
            assert sol.success, sol.message
            pieces.append((a, b, sol.sol))
            y = sol.y[:, -1]
    return np.array([next(sol(t) for a, b, sol in pieces if a <= t <= b).reshape(R, P) for t in t_eval])


def brain_run(net, T, dt, every, **kw):
    th = np.arange(int(round(2 * T / dt)) + 2) * (0.5 * dt)     # the waveform on the stage grid (stride 1)
    stim = RegionalStimulus(PATTERN, np.cos(2.0 * math.pi * STIM_HZ / 1000.0 * th) * STIM_AMP, 0.5 * dt)
    res = simulate_network(net, "test-wilson-cowan", duration_ms=T, dt_ms=dt, record_every=every, stimulus=stim,
                           initial=Y0_BRAIN, **kw)
    return res.states[:, 0, :, :, 0]                                 # (n_rec, R, P)


def test_brain_network_with_delays_matches_method_of_steps(wc):
    net = brain_network()
    T = 40.0
    t_eval = np.arange(0.0, T + 1e-9, 0.5)
    reference = method_of_steps(net, T, t_eval)
    errs = [np.abs(brain_run(net, T, dt, int(round(0.5 / dt))) - reference).max() for dt in (0.02, 0.01)]
    # linear history: second order (measured 3.8e-9 and 9.5e-10, ratio 4.0)
    assert errs[1] < 1e-8 and 3.0 < errs[0] / errs[1] < 5.0
    # the comparison can fail: delays 0.1 ms longer move the solution by more than 1000 x the tolerance
    shifted = method_of_steps(net, T, t_eval, delays=net.delays_ms + 0.1)
    assert np.abs(shifted - reference).max() > 1e-5
    alone = method_of_steps(brain_network(G=0.0), T, t_eval)
    assert np.abs(alone - reference).max() > 1e-3


def test_cubic_history_is_refused_for_a_model_without_a_slope(wc):
    """A pointwise model stores no slope of its sent variable: history='cubic' is refused by name
    before anything is compiled; the default (None) reads the history linearly, like 'linear'."""
    with pytest.raises(stimsim.InputError, match=r"model 'test-wilson-cowan' cannot read its delayed history by "
                                                 r"cubic Hermite interpolation \(history='cubic'; use 'linear' or "
                                                 r"None\): it lacks the capability 'history_slope'; models that "
                                                 r"have it: nmm2, nmm1"):
        brain_run(brain_network(), 5.0, 0.01, 10, history="cubic")
    np.testing.assert_array_equal(brain_run(brain_network(), 5.0, 0.01, 10),
                                  brain_run(brain_network(), 5.0, 0.01, 10, history="linear"))


def test_brain_run_split_into_calls_is_the_one_call_run(wc, monkeypatch):
    import stimsim.models._delayed as engine

    net = brain_network()
    with monkeypatch.context() as mp:
        mp.setattr(engine, "PROGRESS_FIRST_STEPS", 10**9)                  # the whole run in one call
        one = brain_run(net, 60.0, 0.01, 10, progress=False)
    calls = []
    kernel = wc.run_delayed_kernel

    def counted(local, n_regions, state, par, args):
        calls.append((int(args[14]), int(args[15])))                 # (n_begin, n_end)
        kernel(local, n_regions, state, par, args)

    monkeypatch.setattr(wc, "run_delayed_kernel", counted)
    split = brain_run(net, 60.0, 0.01, 10, progress=True)           # calls of PROGRESS_FIRST_STEPS, then more
    assert len(calls) >= 2 and calls[0][0] == 0 and calls[-1][1] == 6000
    np.testing.assert_array_equal(one, split)


# --- a sweep -------------------------------------------------------------------------------------
def test_lockin_sweep_matches_scipy(wc, tmp_path):
    from stimsim.analysis import Drive
    from stimsim.analysis._lockin import lockin_full
    from stimsim.continuation import parameter
    from stimsim.dynamics import find_fixed_points
    from stimsim.sweep import Design, TaskSpec, run_sweep

    base = stimsim.preset("pyramidal")
    f_hz, amp, dt, settle, measure = 10.0, 0.5, 0.05, 200.0, 200.0
    task = TaskSpec(kind="lockin", models=("test-wilson-cowan",), circuit=base, names=("eta_bar",),
                    parameters=(parameter("eta_bar", base),), drive=Drive(unit="current"), frequency_hz=f_hz,
                    amplitude=amp, output_population="P", dt_ms=dt, settle_ms=settle, measure_ms=measure)
    etas = [1.0, 2.0]
    table = run_sweep(task, Design("list", {"eta_bar": etas}), tmp_path / "sweep", progress=False).table
    assert list(table.status) == ["ok", "ok"], table.reason.tolist()
    t = np.arange(0.0, settle + measure + 1e-9, dt)
    first = int(round(settle / dt))
    for eta, row in zip(etas, table.sort_values("point_id").itertuples()):
        c = base.replace(eta_bar=eta)
        r_star = find_fixed_points(c)[0]               # the (unique, stable) fixed point the sweep starts from
        traj = solve(wc_reference(c, sine([amp], f_hz)), r_star, t)[:, 0] * 1000.0     # Hz
        li = lockin_full(traj[first:], dt, f_hz, t0_ms=first * dt, n_harmonics=3)
        assert row.response == pytest.approx(float(li.amplitude), rel=1e-6)
        assert row.mean == pytest.approx(float(li.mean), rel=1e-9)
        assert row.phase_rad == pytest.approx(float(li.phase_rad), abs=1e-6)
        assert row.fixed_point_rate_hz == pytest.approx(r_star[0] * 1000.0, rel=1e-12)
    assert abs(table.response.iloc[0] - table.response.iloc[1]) > 1e-3 * table.response.iloc[0]
