"""Kernel layout: the general (any-P) path against independent numpy right-hand sides, against the
one-population path, and a dense 30-population circuit against scipy.

Equations (models.md M2-M5): NMM2 is the Montbrio-Pazo-Roxin mean field (Phys. Rev. X 5, 021028,
2015) with a second-order synapse; NMM1 replaces (r, v) by r = T(x), T = Phi (QIF) or the
Jansen & Rit (1995) sigmoid. x_k = eta_k + u_k + sum_l K[k, l] s_l in both.
"""
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import stimsim
from stimsim import transfer
from stimsim.kernels import nmm1, nmm2

DT = 0.01


# --- independent numpy right-hand sides (lanes last: arrays (nb, P, L)) ----------------------------
def numpy_input(K, s, eta, u):
    """x = eta + u + sum_l K[k, l] s_l per lane, and the scale of its terms (for tolerances)."""
    x = eta + u + np.einsum("bklj,blj->bkj", K, s)
    scale = np.abs(eta) + np.abs(u) + np.einsum("bklj,blj->bkj", np.abs(K), np.abs(s))
    return x, scale


def numpy_nmm2(y, par, K, u):
    """dy/dt and a per-element scale of its terms: (r, v, s, z) with par = (tau_m, tau_s, Delta, eta)."""
    r, v, s, z = (y[:, a] for a in range(4))
    tm, ts, delta, eta = (par[:, a] for a in range(4))
    x, xs = numpy_input(K, s, eta, u)
    d = np.stack([(delta / (math.pi * tm) + 2 * r * v) / tm,
                  (v ** 2 + x - (math.pi * tm * r) ** 2) / tm,
                  z / ts,
                  (r - 2 * z - s) / ts], axis=1)
    scale = np.stack([(delta / (math.pi * tm) + 2 * np.abs(r * v)) / tm,
                      (v ** 2 + xs + (math.pi * tm * r) ** 2) / tm,
                      np.abs(z) / ts,
                      (np.abs(r) + 2 * np.abs(z) + np.abs(s)) / ts], axis=1)
    return d, scale


def rate(kind, x, p0, p1, p2):
    """T(x) elementwise, from stimsim.transfer (Phi, models.md M3, or the Jansen-Rit sigmoid, M4)."""
    if kind == transfer.QIF:
        return np.vectorize(transfer.phi_qif)(x, p0, p1)
    return np.vectorize(transfer.sigmoid)(x, p0, p1, p2)


def numpy_nmm1(y, par, kinds, K, u):
    """d(s, z)/dt and its scale with par = (tau_s, eta, p0, p1, p2)."""
    s, z = y[:, 0], y[:, 1]
    ts, eta, p0, p1, p2 = (par[:, a] for a in range(5))
    x, _ = numpy_input(K, s, eta, u)
    r = np.stack([rate(kinds[k], x[:, k], p0[:, k], p1[:, k], p2[:, k]) for k in range(len(kinds))], axis=1)
    d = np.stack([z / ts, (r - 2 * z - s) / ts], axis=1)
    scale = np.stack([np.abs(z) / ts, (np.abs(r) + 2 * np.abs(z) + np.abs(s)) / ts], axis=1)
    return d, scale


def random_nmm2_point(rng, nb, P, L):
    y = np.stack([rng.uniform(0.001, 0.1, (nb, P, L)), rng.uniform(-3, 3, (nb, P, L)),
                  rng.uniform(0, 0.1, (nb, P, L)), rng.uniform(-0.05, 0.05, (nb, P, L))], axis=1)
    par = np.stack([rng.uniform(5, 20, (nb, P, L)), rng.uniform(1, 10, (nb, P, L)),
                    rng.uniform(0.5, 2, (nb, P, L)), rng.uniform(-5, 5, (nb, P, L))], axis=1)
    return y, par


@pytest.mark.parametrize("P", [1, 2, 5])
@pytest.mark.parametrize("L", [1, 3, 8])
def test_nmm2_derivative_matches_numpy(P, L):
    rng = np.random.default_rng(10 * P + L)
    nb = 2
    y, par = random_nmm2_point(rng, nb, P, L)
    K = rng.normal(0, 20, (nb, P, P, L))
    u = rng.normal(0, 3, (nb, P, L))
    got = nmm2.derivative(y, par, K, u)
    want, scale = numpy_nmm2(y, par, K, u)
    assert got.shape == y.shape
    assert np.all(np.abs(got - want) <= 1e-13 * scale)


@pytest.mark.parametrize("P", [1, 2, 5])
@pytest.mark.parametrize("L", [1, 3, 8])
def test_nmm1_derivative_matches_numpy(P, L):
    rng = np.random.default_rng(100 + 10 * P + L)
    nb = 2
    kinds = np.array([transfer.QIF if k % 2 == 0 else transfer.SIGMOID for k in range(P)], dtype=np.int64)
    y = np.stack([rng.uniform(0, 0.1, (nb, P, L)), rng.uniform(-0.05, 0.05, (nb, P, L))], axis=1)
    par = np.empty((nb, 5, P, L))
    par[:, 0] = rng.uniform(1, 10, (nb, P, L))
    for k in range(P):
        if kinds[k] == transfer.QIF:   # eta, Delta, tau_m
            par[:, 1:4, k] = np.stack([rng.uniform(-5, 5, (nb, L)), rng.uniform(0.5, 2, (nb, L)),
                                       rng.uniform(5, 20, (nb, L))], axis=1)
            par[:, 4, k] = 0.0
        else:                          # eta (mV), rmax (kHz), slope (1/mV), threshold (mV)
            par[:, 1:5, k] = np.stack([rng.uniform(-2, 8, (nb, L)), rng.uniform(0.004, 0.006, (nb, L)),
                                       rng.uniform(0.4, 0.7, (nb, L)), rng.uniform(4, 8, (nb, L))], axis=1)
    K = rng.normal(0, 20, (nb, P, P, L))
    u = rng.normal(0, 3, (nb, P, L))
    got = nmm1.derivative(y, par, kinds, K, u)
    want, scale = numpy_nmm1(y, par, kinds, K, u)
    assert got.shape == y.shape
    assert np.all(np.abs(got - want) <= 1e-13 * scale)


# --- the general path against the one-population path -------------------------------------------
def embedded(single):
    """The one-population circuit as population 0 of two, with no input from population 1."""
    p = single.populations[0]
    other = stimsim.Population("other", tau_m=8.0, tau_s=3.0, delta=1.5, eta_bar=2.0, I=1.0,
                               transfer=p.transfer)
    J = np.array([[single.J[0, 0], 0.0], [7.0, -3.0]])
    return stimsim.Circuit((p, other), J=J, name="embedded")


SINGLES = {
    "qif": stimsim.Circuit.single(J=8.0, tau_m=20.0, tau_s=10.0, delta=1.0, eta_bar=1.0, I=0.5),
    "sigmoid": stimsim.Circuit.single(J=-40.0, tau_s=10.0, eta_bar=4.0, I=3.0, transfer="sigmoid"),
}


@pytest.mark.parametrize("model,kind", [("nmm2", "qif"), ("nmm1", "qif"), ("nmm1", "sigmoid")])
def test_general_path_equals_one_population_path(model, kind):
    one = SINGLES[kind]
    two = embedded(one)
    kw = dict(model=model, duration_ms=60.0, dt_ms=DT, record_every=25)
    a = stimsim.simulate(one, **kw).states[..., 0]
    b = stimsim.simulate(two, **kw).states[..., 0]
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
def test_general_path_equals_one_population_path_in_a_batch(model):
    """The same with many lanes (several parameter sets per block) and a sinusoidal drive."""
    one = SINGLES["qif"]
    rng = np.random.default_rng(3)
    etas = rng.uniform(0, 3, 40)
    freqs = rng.uniform(5, 60, 40)
    ones = [one.replace(eta_bar=float(e)) for e in etas]
    twos = [embedded(c) for c in ones]
    kw = dict(model=model, duration_ms=40.0, dt_ms=DT, record_every=40)
    a = stimsim.simulate_batch(ones, inputs=[stimsim.SinusoidInput(0.8, f) for f in freqs], **kw).states
    b = stimsim.simulate_batch(twos, inputs=[stimsim.SinusoidInput([0.8, 0.0], f) for f in freqs], **kw).states
    np.testing.assert_allclose(b[:, :, 0], a[:, :, 0], rtol=1e-12, atol=1e-15)


# --- a dense 30-population circuit against scipy --------------------------------------------------
def dense_circuit(P=30, seed=5):
    rng = np.random.default_rng(seed)
    pops = tuple(stimsim.Population(f"p{k}", tau_m=float(rng.uniform(8, 20)), tau_s=float(rng.uniform(2, 10)),
                                    delta=1.0, eta_bar=float(rng.uniform(-1, 3)), I=float(rng.uniform(0, 1)))
                 for k in range(P))
    return stimsim.Circuit(pops, J=rng.normal(0.0, 4.0 / math.sqrt(P), (P, P)), name="dense")


def scipy_trajectory(c, model, y0, t_eval):
    """DOP853 (rtol 1e-11, atol 1e-13) of the numpy right-hand side; y0 (nv, P); returns (n_t, nv, P)."""
    P = c.n_populations
    K = c.effective_coupling[None, :, :, None]
    u = c.vector("I")[None, :, None]
    nv = y0.shape[0]
    if model == "nmm2":
        par = np.stack([c.vector(n) for n in ("tau_m", "tau_s", "delta", "eta_bar")])[None, :, :, None]
        f = lambda t, y: numpy_nmm2(y.reshape(1, nv, P, 1), par, K, u)[0].ravel()
    else:
        kinds, p0, p1, p2 = c.transfer_parameters()
        par = np.stack([c.vector("tau_s"), c.vector("eta_bar"), p0, p1, p2])[None, :, :, None]
        f = lambda t, y: numpy_nmm1(y.reshape(1, nv, P, 1), par, kinds, K, u)[0].ravel()
    sol = solve_ivp(f, (t_eval[0], t_eval[-1]), y0.ravel(), method="DOP853", rtol=1e-11, atol=1e-13,
                    t_eval=t_eval)
    assert sol.success, sol.message
    return sol.y.reshape(nv, P, -1).transpose(2, 0, 1)


@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
def test_dense_circuit_matches_solve_ivp(model):
    c = dense_circuit()
    res = stimsim.simulate(c, model=model, duration_ms=50.0, dt_ms=DT, record_every=100)
    got = res.states if model == "nmm2" else res.states[:, 2:]
    ref = scipy_trajectory(c, model, got[0], res.time_ms)
    scale = np.max(np.abs(ref), axis=0)
    err = np.max(np.abs(got - ref), axis=0) / np.where(scale > 0, scale, 1.0)
    assert np.max(err) < 1e-7, np.max(err)
