"""Fixed points and Jacobians against the reference right-hand sides and closed forms."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stimsim
from stimsim.dynamics import find_fixed_points
from model_views import jacobian_nmm1, jacobian_nmm2, nmm2_state
from reference import nmm1_rhs, nmm2_rhs, phi

CASES = [
    ("interneurons", {}),
    ("pyramidal", {}),
    ("pyramidal", {"J": 15.0, "eta_bar": -4.0}),  # bistable: node, saddle, focus
    ("ing-ei", {}),
    ("ping", {}),
    ("ing-ei", {"eta_bar": 0.5}),
]


@pytest.mark.parametrize("name,overrides", CASES)
def test_fixed_points_zero_both_right_hand_sides(name, overrides):
    c = stimsim.preset(name, **overrides)
    roots = find_fixed_points(c)
    f2, f1 = nmm2_rhs(c), nmm1_rhs(c)
    for r in roots:
        y2 = nmm2_state(c, r)
        y1 = np.stack([r, np.zeros_like(r)], axis=1).ravel()
        assert np.max(np.abs(f2(0.0, y2))) < 1e-10
        assert np.max(np.abs(f1(0.0, y1))) < 1e-10
        x = c.vector("eta_bar") + c.vector("I") + c.effective_coupling @ r
        for k, p in enumerate(c.populations):
            assert r[k] == pytest.approx(phi(x[k], p.delta, p.tau_m), rel=1e-12)


def test_bistable_pyramidal_has_three_fixed_points_shared_by_both_models():
    table = stimsim.fixed_points(stimsim.preset("pyramidal", J=15.0, eta_bar=-4.0))
    assert table.fixed_point.nunique() == 3
    for i, sub in table.groupby("fixed_point"):
        assert sub.rate_hz.nunique() == 1  # same rate under both models
    labels = table[table.model == "nmm2"].sort_values("rate_hz").stability.tolist()
    assert labels == ["stable node", "saddle", "stable focus"]
    assert table[table.model == "nmm1"].sort_values("rate_hz").stability.tolist() == ["stable node", "saddle", "stable node"]


def test_jansen_rit_fixed_point_zero_rhs():
    c = stimsim.preset("jansen-rit")
    f1 = nmm1_rhs(c)
    for r in find_fixed_points(c):
        y1 = np.stack([r, np.zeros_like(r)], axis=1).ravel()
        assert np.max(np.abs(f1(0.0, y1))) < 1e-12


def numeric_jacobian(f, y, h=1e-6):
    n = y.size
    A = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = h * max(1.0, abs(y[i]))
        A[:, i] = (np.asarray(f(0.0, y + e)) - np.asarray(f(0.0, y - e))) / (2 * e[i])
    return A


@pytest.mark.parametrize("name,overrides", CASES)
def test_analytic_jacobians_match_central_differences(name, overrides):
    c = stimsim.preset(name, **overrides)
    for r in find_fixed_points(c):
        y2 = nmm2_state(c, r)
        np.testing.assert_allclose(jacobian_nmm2(c, y2), numeric_jacobian(nmm2_rhs(c), y2), rtol=1e-6, atol=1e-8)
        y1 = np.stack([r, np.zeros_like(r)], axis=1).ravel()
        np.testing.assert_allclose(jacobian_nmm1(c, r), numeric_jacobian(nmm1_rhs(c), y1), rtol=1e-6, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(J=st.floats(-60.0, -0.1), eta=st.floats(-5.0, 10.0), I=st.floats(-10.0, 50.0), tau_s=st.floats(0.5, 30.0))
def test_nmm1_inhibitory_eigenvalues_have_real_part_minus_one_over_tau_s(J, eta, I, tau_s):
    """models.md M7.1: with J < 0, NMM1's eigenvalues are (-1 +- i sqrt(-Phi' tau_m J)) / tau_s."""
    c = stimsim.Circuit.single(J=J, tau_m=10.0, tau_s=tau_s, delta=1.0, eta_bar=eta, I=I)
    table = stimsim.fixed_points(c)
    ev = np.array(table[table.model == "nmm1"].eigenvalues.iloc[0])
    np.testing.assert_allclose(ev.real, -1.0 / tau_s, rtol=1e-9)


def test_frozen_focus_eigenvalues_closed_form():
    """models.md M4: frozen-input (r, v) eigenvalues are -Delta/(pi tau_m^2 r*) +- 2 pi i r*."""
    c = stimsim.Circuit.single(J=0.0, tau_m=12.0, tau_s=5.0, delta=0.7, eta_bar=3.0)
    r = find_fixed_points(c)[0]
    A = jacobian_nmm2(c, nmm2_state(c, r))[:2, :2]
    ev = np.sort_complex(np.linalg.eigvals(A))
    expect = np.sort_complex(np.array([complex(-0.7 / (math.pi * 144.0 * r[0]), s * 2 * math.pi * r[0]) for s in (-1, 1)]))
    np.testing.assert_allclose(ev, expect, rtol=1e-12)


def test_jansen_rit_bifurcations_match_the_literature():
    """Jansen-Rit fixed-point continuation in p (Grimbert &
    Faugeras 2006): saddle-node (SNIC) at p ~ 114 s^-1, supercritical Hopf at p ~ 315 s^-1, f0 ~ 11.1 Hz."""
    from scipy.optimize import brentq

    def leading(p):
        t = stimsim.fixed_points(stimsim.preset("jansen-rit", p=p))
        return t.leading_re_per_ms.iloc[-1], t.leading_freq_hz.iloc[-1]  # the high-activity branch

    p_hopf = brentq(lambda p: leading(p)[0], 250.0, 350.0, xtol=1e-3)
    assert 314.0 < p_hopf < 317.0
    assert 11.0 < leading(p_hopf)[1] < 11.3

    def n_fixed_points(p):
        return stimsim.fixed_points(stimsim.preset("jansen-rit", p=p)).fixed_point.nunique()

    lo, hi = 100.0, 130.0
    assert n_fixed_points(lo) == 3 and n_fixed_points(hi) == 1
    while hi - lo > 0.05:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if n_fixed_points(mid) == 3 else (lo, mid)
    assert 113.0 < lo < 115.0


def test_ing_ei_hopf_near_eta_bar_one_at_gamma_frequency():
    """The 'ing-ei' E-I set (an ING rhythm, models.md M5): NMM2 Hopf near eta_bar ~ 1 with gamma near 55 Hz."""
    from scipy.optimize import brentq

    def leading(eta_bar):
        t = stimsim.fixed_points(stimsim.preset("ing-ei", eta_bar=eta_bar))
        t = t[t.model == "nmm2"]
        return t.leading_re_per_ms.iloc[-1], t.leading_freq_hz.iloc[-1]

    eta_hopf = brentq(lambda e: leading(e)[0], 1.0, 2.0, xtol=1e-4)
    assert 0.8 < eta_hopf < 1.3
    assert 50.0 < leading(eta_hopf)[1] < 60.0
