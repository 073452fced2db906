"""Equilibrium search (stimsim.dynamics._equilibria): exhaustive vs homotopy, large circuits, extremes.

Residuals are checked against the independent transfer functions of ``tests/reference.py``, stability
against an NMM1 Jacobian written here from docs/models.md (M4), and stability against simulation.
"""
import math
import time
import warnings

import numpy as np
import pytest

import stimsim
from reference import phi, sig
from stimsim.dynamics._equations import RESIDUAL_RTOL
from stimsim.dynamics._equilibria import coupling_path, equilibrium_residual, find_equilibrium_rates
from stimsim.dynamics._exhaustive import EXHAUSTIVE_HARD_LIMIT, EXHAUSTIVE_MAX_POPULATIONS

# any floating-point warning from the search (or from the simulations checking it) is a failure
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


# --- independent references -----------------------------------------------------------------------
def reference_inputs(c, r):
    """x_k = eta_k + I_k + w_k sum_l J[k, l] r_l, w_k = tau_m (QIF) or 1 (sigmoid), docs/models.md M5."""
    w = np.array([p.tau_m if p.is_qif else 1.0 for p in c.populations])
    return np.array([p.eta_bar + p.I for p in c.populations]) + w * (np.asarray(c.J) @ r)


def reference_rates(c, x):
    return np.array([phi(x[k], p.delta, p.tau_m) if p.is_qif else
                     sig(x[k], p.rmax_hz / 1000.0, p.slope_per_mv, p.threshold_mv)
                     for k, p in enumerate(c.populations)])


def reference_residual(c, r):
    return float(np.max(np.abs(reference_rates(c, reference_inputs(c, r)) - r) / r))


def nmm1_jacobian(c, r):
    """NMM1 (M4) Jacobian at the fixed point s = r, z = 0, variable-major (s_1..s_P, z_1..z_P), 1/ms.

    tau_s ds/dt = z, tau_s dz/dt = T(x) - 2 z - s: d(dz_k)/ds_l = (T'_k w_k J[k, l] - delta_kl)/tau_s_k
    with Phi' = Phi / (2 sqrt(x^2 + Delta^2)) and S' = r0 S (1 - S / 2 e0).
    """
    P = c.n_populations
    x = reference_inputs(c, r)
    T = reference_rates(c, x)
    dT = np.array([T[k] / (2.0 * math.hypot(x[k], p.delta)) if p.is_qif else
                   p.slope_per_mv * T[k] * (1.0 - T[k] / (p.rmax_hz / 1000.0))
                   for k, p in enumerate(c.populations)])
    w = np.array([p.tau_m if p.is_qif else 1.0 for p in c.populations])
    D = np.diag([1.0 / p.tau_s for p in c.populations])
    A = np.zeros((2 * P, 2 * P))
    A[:P, P:] = D
    A[P:, :P] = D @ (dT[:, None] * w[:, None] * np.asarray(c.J) - np.eye(P))
    A[P:, P:] = -2.0 * D
    return A


def leading_real_part(c, r):
    return float(np.max(np.linalg.eigvals(nmm1_jacobian(c, r)).real))


def check_roots(c, roots):
    """Shape, order, distinctness and residuals (library and independent reference)."""
    assert roots.ndim == 2 and roots.shape[1] == c.n_populations and roots.shape[0] >= 1
    assert np.all(np.isfinite(roots)) and np.all(roots > 0)
    totals = roots.sum(axis=1)
    assert np.all(np.diff(totals) >= 0)
    for i in range(len(roots)):
        for j in range(i):
            assert np.max(np.abs(roots[i] / roots[j] - 1.0)) > 1e-7
    assert np.all(equilibrium_residual(c, roots) <= RESIDUAL_RTOL)
    for r in roots:
        assert reference_residual(c, r) < 1e-10


def settle_nmm1(c, s0, duration_ms):
    """Final NMM1 rates (kHz) and their relative change over the last recorded interval."""
    res = stimsim.simulate(c, model="nmm1", duration_ms=duration_ms, dt_ms=0.05,
                           record_every=int(round(duration_ms / 0.05 / 10)),
                           initial=None if s0 is None else np.stack([s0, np.zeros_like(s0)]))
    rates = res.rate_hz / 1000.0
    return rates[-1], float(np.max(np.abs(rates[-1] / rates[-2] - 1.0)))


def check_stable_roots_attract(c, roots, max_checks=3, rng_seed=0):
    """Stable roots attract NMM1 from nearby, and the state NMM1 reaches from rest is a root.

    Checked by simulation for up to ``max_checks`` roots (lowest, highest and a middle one by total
    rate) among those whose slowest mode decays within 500 ms (|Re lambda| > 2e-3 / ms), over 16
    decay times. Returns the indices of all stable roots (every Re lambda < 0).
    """
    lead = np.array([leading_real_part(c, r) for r in roots])
    stable = np.flatnonzero(lead < 0)
    clear = np.flatnonzero(lead < -2e-3)
    assert clear.size >= 1
    picks = sorted({clear[0], clear[-1], clear[len(clear) // 2]})[:max_checks]
    rng = np.random.default_rng(rng_seed)
    for i in picks:
        r = roots[i]
        duration = 50.0 * math.ceil(16.0 / abs(lead[i]) / 50.0)
        s0 = r * (1.0 + 1e-3 * rng.uniform(-1.0, 1.0, r.size))
        final, _ = settle_nmm1(c, s0, duration)
        np.testing.assert_allclose(final, r, rtol=1e-6)
    final, drift = settle_nmm1(c, None, 4000.0)
    assert drift < 1e-9  # settled on a fixed point ...
    assert min(np.max(np.abs(final / r - 1.0)) for r in roots) < 1e-6  # ... that the search found
    return stable


# --- small circuits: exhaustive and homotopy agree ----------------------------------------------------
SMALL = [
    ("interneurons", {}, 1),
    ("pyramidal", {}, 1),
    ("pyramidal", {"J": 15.0, "eta_bar": -4.0}, 3),  # bistable: node, saddle, focus
    ("pyramidal", {"J": 20.0, "eta_bar": -8.0}, 3),
    ("ing-ei", {}, 1),
    ("ing-ei", {"eta_bar": 0.5}, 1),
    ("ing-ei", {"eta_bar": -3.0, "coupling": 30.0}, 3),
    ("ing-ei", {"eta_bar": -6.0, "J": {("E", "E"): 50.0, ("I", "E"): 10.0}}, 3),
] + [("jansen-rit", {"p": p}, n) for p, n in [(0.0, 3), (50.0, 3), (90.0, 3), (100.0, 3), (105.0, 3),
                                               (110.0, 3), (113.5, 3), (113.7, 1), (120.0, 1),
                                               (220.0, 1), (320.0, 1)]]


@pytest.mark.parametrize("name,overrides,n_expected", SMALL)
def test_exhaustive_and_homotopy_agree_on_presets(name, overrides, n_expected):
    c = stimsim.preset(name, **overrides)
    exhaustive = find_equilibrium_rates(c, method="exhaustive")
    homotopy = find_equilibrium_rates(c, method="homotopy")
    assert len(exhaustive) == len(homotopy) == n_expected
    np.testing.assert_allclose(homotopy, exhaustive, rtol=1e-10)
    check_roots(c, homotopy)
    np.testing.assert_array_equal(find_equilibrium_rates(c), exhaustive)  # auto = exhaustive here


def random_small_circuit(P, seed):
    """Strongly coupled alternating E/I QIF circuits, often multistable."""
    rng = np.random.default_rng(seed)
    pops = tuple(stimsim.Population(name=f"p{k}", tau_m=rng.uniform(10, 20) if k % 2 == 0 else 7.5,
                                    tau_s=5.0 if k % 2 == 0 else 2.5, delta=1.0,
                                    eta_bar=rng.uniform(-10, 0)) for k in range(P))
    sign = np.where(np.arange(P) % 2 == 0, 1.0, -1.0)
    J = rng.uniform(0, 40, (P, P)) * sign[None, :] * (rng.random((P, P)) < 0.7)
    return stimsim.Circuit(pops, J=J)


# (P, seed): all multistable; the first six once defeated a path-plus-multistart search without
# branch following
RANDOM_SMALL = [(3, 51), (4, 7), (4, 25), (4, 26), (4, 32), (4, 38), (2, 3), (3, 1), (4, 9)]


@pytest.mark.parametrize("P,seed", RANDOM_SMALL)
def test_exhaustive_and_homotopy_agree_on_random_multistable_circuits(P, seed):
    c = random_small_circuit(P, seed)
    exhaustive = find_equilibrium_rates(c, method="exhaustive")
    homotopy = find_equilibrium_rates(c, method="homotopy")
    assert len(exhaustive) >= 2
    assert homotopy.shape == exhaustive.shape
    np.testing.assert_allclose(homotopy, exhaustive, rtol=1e-10)
    check_roots(c, homotopy)


def test_lambda_path_follows_both_folds_of_the_bistable_pyramidal_population():
    c = stimsim.preset("pyramidal", J=15.0, eta_bar=-4.0)
    path = coupling_path(c)
    assert path.lam[0] == 0.0 and path.termination == "lambda_max"
    np.testing.assert_allclose(path.rates_khz[0], [phi(-4.0, 1.0, 20.0)], rtol=1e-14)  # uncoupled
    assert len(path.folds) == 2
    # lambda rises to the first fold (> 1: the low state exists at lambda = 1), falls to the second
    # (< 1), then rises past lambda_max: three crossings of lambda = 1 in order low, saddle, high
    lam_folds = path.lam[path.folds]
    assert lam_folds[0] > 1.0 > lam_folds[1]
    np.testing.assert_allclose(path.crossings, find_equilibrium_rates(c, method="exhaustive"), rtol=1e-9)


def test_lambda_path_resolves_two_crossings_next_to_the_jansen_rit_saddle_node():
    """At p = 113.5 (saddle-node at 113.59) two fixed points are within a few percent of each other."""
    c = stimsim.preset("jansen-rit", p=113.5)
    path = coupling_path(c)
    assert len(path.folds) == 2 and len(path.crossings) == 3
    roots = find_equilibrium_rates(c, method="homotopy")
    np.testing.assert_allclose(np.sort(path.crossings.sum(axis=1)), roots.sum(axis=1), rtol=1e-9)
    assert 1e-3 < np.max(np.abs(roots[1] / roots[0] - 1.0)) < 0.2


def test_homotopy_finds_the_jansen_rit_isola_off_the_lambda_path():
    """At p = 100 the path from lambda = 0 crosses lambda = 1 once, without folds (low state); the
    saddle and the high state lie on a separate branch that multistarts and branch following find."""
    c = stimsim.preset("jansen-rit", p=100.0)
    path = coupling_path(c)
    assert len(path.crossings) == 1 and len(path.folds) == 0
    roots = find_equilibrium_rates(c, method="homotopy")
    assert len(roots) == 3
    np.testing.assert_allclose(roots[0], path.crossings[0], rtol=1e-9)  # the low state


def test_jansen_rit_saddle_node_located_by_homotopy():
    """Three fixed points below the saddle-node at p = 113.59 s^-1, one above."""
    def n_roots(p):
        return len(find_equilibrium_rates(stimsim.preset("jansen-rit", p=p), method="homotopy"))

    lo, hi = 100.0, 130.0
    assert n_roots(lo) == 3 and n_roots(hi) == 1
    while hi - lo > 1e-3:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if n_roots(mid) == 3 else (lo, mid)
    assert 113.58 < lo < 113.60


def test_auto_switches_to_homotopy_above_the_threshold():
    P = EXHAUSTIVE_MAX_POPULATIONS + 1
    pops = tuple(stimsim.Population(name=f"p{k}", tau_m=10.0 + k, tau_s=5.0, eta_bar=-1.0 + 0.5 * k)
                 for k in range(P))
    c = stimsim.Circuit(pops, J=np.full((P, P), 0.5) - np.eye(P))
    auto = find_equilibrium_rates(c)
    np.testing.assert_array_equal(auto, find_equilibrium_rates(c, method="homotopy"))
    np.testing.assert_allclose(auto, find_equilibrium_rates(c, method="exhaustive"), rtol=1e-10)
    check_roots(c, auto)


# --- large circuits -----------------------------------------------------------------------------------
def ei_pairs(n_pairs=50, seed=1):
    """n_pairs bistable E-I pairs (E: tau_m 10-20 ms, self-excitation; I: tau_m 7.5 ms) with sparse
    random E -> E coupling between pairs (seeded)."""
    rng = np.random.default_rng(seed)
    P = 2 * n_pairs
    pops, J = [], np.zeros((P, P))
    for i in range(n_pairs):
        tau_m = rng.uniform(10.0, 20.0)
        pops.append(stimsim.Population(name=f"E{i}", tau_m=tau_m, tau_s=5.0, delta=1.0,
                                       eta_bar=-4.5 + rng.uniform(-0.3, 0.3)))
        pops.append(stimsim.Population(name=f"I{i}", tau_m=7.5, tau_s=2.5, delta=1.0, eta_bar=-1.0))
        e, k = 2 * i, 2 * i + 1
        J[e, e], J[e, k], J[k, e], J[k, k] = 300.0 / tau_m, -6.0, 8.0, -4.0
    mask = (rng.random((n_pairs, n_pairs)) < 0.06) & ~np.eye(n_pairs, dtype=bool)
    J[0::2, 0::2] += np.where(mask, 0.6 * rng.uniform(0.5, 1.5, (n_pairs, n_pairs)), 0.0)
    return stimsim.Circuit(tuple(pops), J=J, name="ei-pairs")


def test_hundred_population_circuit():
    c = ei_pairs()
    assert c.n_populations == 100
    t0 = time.perf_counter()
    roots = find_equilibrium_rates(c)
    assert time.perf_counter() - t0 < 15.0
    check_roots(c, roots)
    assert len(roots) >= 10  # many: each pair is bistable
    stable = check_stable_roots_attract(c, roots)
    assert 2 <= len(stable) < len(roots)  # stable states and saddles between them
    # the path from lambda = 0 starts at the uncoupled rates and its first crossing is the all-low state
    path = coupling_path(c, max_steps=200)
    np.testing.assert_allclose(path.rates_khz[0], reference_rates(c, reference_inputs(c, np.zeros(100))), rtol=1e-13)
    assert len(path.crossings) >= 1
    np.testing.assert_allclose(roots[0], path.crossings[0], rtol=1e-8)
    assert np.all(roots[0][0::2] < 0.01)  # every E below 10 Hz
    # every E population is high (> 40 Hz; a lone pair's saddle is at 28 Hz) in some stable root found
    assert np.all(np.max(roots[stable][:, 0::2], axis=0) > 0.04)


def jansen_rit_columns(n=10, seed=3):
    """n Jansen-Rit columns (p uniform in 80-100 s^-1) with sparse random P -> P coupling (mV/kHz)."""
    rng = np.random.default_rng(seed)
    P = 3 * n
    pops, J = [], np.zeros((P, P))
    for i in range(n):
        col = stimsim.preset("jansen-rit", p=rng.uniform(80.0, 100.0))
        pops += [p.replace(name=f"{p.name}{i}") for p in col.populations]
        J[3 * i:3 * i + 3, 3 * i:3 * i + 3] = col.J
    mask = (rng.random((n, n)) < 0.3) & ~np.eye(n, dtype=bool)
    J[0::3, 0::3] += np.where(mask, 100.0 * rng.uniform(0.5, 1.5, (n, n)), 0.0)
    return stimsim.Circuit(tuple(pops), J=J, name="jr-columns")


def test_jansen_rit_columns_sigmoid_circuit():
    c = jansen_rit_columns()
    roots = find_equilibrium_rates(c)
    check_roots(c, roots)
    assert np.all(roots < 5e-3)  # sigmoid rates below 2 e0 = 5 Hz
    assert len(roots) >= 3
    stable = check_stable_roots_attract(c, roots)
    assert len(stable) >= 1
    np.testing.assert_array_equal(roots, find_equilibrium_rates(c))  # deterministic (seeded)


# --- extreme inputs ---------------------------------------------------------------------------------
def uniform_circuit(P, J=0.1, eta_bar=0.5, J01=None):
    pops = tuple(stimsim.Population(name=f"p{k}", tau_m=10.0, tau_s=5.0, eta_bar=eta_bar) for k in range(P))
    Jm = np.full((P, P), float(J))
    if J01 is not None:
        Jm[0, 1] = J01
    return stimsim.Circuit(pops, J=Jm)


EXTREME = {  # circuit, a literal part of the message
    "self-coupling +1e300": (lambda: stimsim.Circuit.single(J=1e300), "the coupling J['pop', 'pop']"),
    "self-coupling -1e300": (lambda: stimsim.Circuit.single(J=-1e300), "the coupling J['pop', 'pop']"),
    "self-coupling +1e300, eta -4": (lambda: stimsim.Circuit.single(J=1e300, eta_bar=-4.0), "the coupling J['pop', 'pop']"),
    "tau_m J overflows": (lambda: stimsim.Circuit.single(J=1e308, tau_m=20.0), "overflows once scaled by tau_m"),
    "eta_bar 1e308": (lambda: stimsim.Circuit.single(eta_bar=1e308), "transfer function of population 'pop' overflows"),
    "eta_bar -1e308": (lambda: stimsim.Circuit.single(eta_bar=-1e308), "underflows to a zero rate"),
    "eta_bar + I overflows": (lambda: stimsim.Circuit.single(eta_bar=1e308, I=1e308), "eta_bar + I of population 'pop'"),
    "PING J_II -1e300": (lambda: stimsim.preset("ing-ei", J={("I", "I"): -1e300}), "the coupling J['I', 'I']"),
    "PING J_EE +1e300": (lambda: stimsim.preset("ing-ei", J={("E", "E"): 1e300}), "the coupling J['E', 'E']"),
    "PING eta_bar 1e308": (lambda: stimsim.preset("ing-ei", eta_bar=1e308), "overflows at its input"),
    "Jansen-Rit J_PI -1e300": (lambda: stimsim.preset("jansen-rit", J={("P", "I"): -1e300}), "the coupling J['P', 'I']"),
    "8 populations, J +1e300": (lambda: uniform_circuit(8, J=1e300), "the coupling J["),
    "8 populations, J -1e300": (lambda: uniform_circuit(8, J=-1e300), "the coupling J["),
    "8 populations, one J -1e300": (lambda: uniform_circuit(8, J01=-1e300), "the coupling J['p0', 'p1']"),
    "8 populations, eta_bar 1e308": (lambda: uniform_circuit(8, eta_bar=1e308), "overflows at its input"),
}


@pytest.mark.parametrize("method", ["auto", "exhaustive", "homotopy"])
@pytest.mark.parametrize("case", list(EXTREME))
def test_extreme_inputs_raise_one_clear_value_error(case, method):
    make, pattern = EXTREME[case]
    c = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="^no fixed point found") as info:
            find_equilibrium_rates(c, method=method)
    message = str(info.value)
    assert "\n" not in message
    assert pattern in message, message


@pytest.mark.parametrize("method", ["exhaustive", "homotopy"])
@pytest.mark.parametrize("J", [-1e6, -1e50, -1e150])
def test_strong_inhibition_returns_the_asymptotic_root(J, method):
    """r = Phi(eta + tau_m J r) with tau_m J r -> -inf: r ~ Delta / (2 pi tau_m sqrt(|tau_m J| r))."""
    c = stimsim.Circuit.single(J=J, tau_m=10.0, delta=1.0, eta_bar=-1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        roots = find_equilibrium_rates(c, method=method)
    assert roots.shape == (1, 1)
    r = roots[0, 0]
    asymptote = (1.0 / (2.0 * math.pi * 10.0 * math.sqrt(10.0 * abs(J)))) ** (2.0 / 3.0)
    assert r == pytest.approx(asymptote, rel=1e-3 if J == -1e6 else 1e-9)
    assert equilibrium_residual(c, roots[0]) <= RESIDUAL_RTOL


def test_saturating_sigmoid_drive_returns_the_saturated_root():
    """An astronomically large Jansen-Rit drive p saturates P at 2 e0 = 5 Hz."""
    c = stimsim.preset("jansen-rit", p=1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        roots = find_equilibrium_rates(c, method="homotopy")
    assert roots.shape == (1, 3)
    assert roots[0, 0] == pytest.approx(5e-3, rel=1e-15)
    np.testing.assert_allclose(roots, find_equilibrium_rates(c, method="exhaustive"), rtol=1e-12)
    check_roots(c, roots)


# --- arguments --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,pattern", [
    ({"method": "newton"}, "unknown fixed-point method 'newton'"),
    ({"n_starts": -1}, "n_starts must be a non-negative integer"),
    ({"n_starts": 2.5}, "n_starts must be a non-negative integer"),
    ({"seed": "a"}, "seed must be a non-negative integer"),
    ({"lambda_max": 0.5}, "lambda_max must be > 1"),
    ({"lambda_max": float("nan")}, "lambda_max must be finite"),
    ({"max_steps": 0}, "max_steps must be a positive integer"),
])
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        find_equilibrium_rates(stimsim.preset("ping"), **kwargs)


def test_bad_circuit_and_oversized_exhaustive_search():
    with pytest.raises(ValueError, match="circuit must be a stimsim Circuit"):
        find_equilibrium_rates("ping")
    big = uniform_circuit(EXHAUSTIVE_HARD_LIMIT + 1)
    with pytest.raises(ValueError, match="use method='homotopy'"):
        find_equilibrium_rates(big, method="exhaustive")
    check_roots(big, find_equilibrium_rates(big))


def test_no_random_starts_still_finds_the_path_roots():
    c = stimsim.preset("pyramidal", J=15.0, eta_bar=-4.0)
    np.testing.assert_allclose(find_equilibrium_rates(c, method="homotopy", n_starts=0),
                               find_equilibrium_rates(c, method="exhaustive"), rtol=1e-10)
