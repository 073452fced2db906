"""Continuation against closed forms, eigenvalue scans, solve_ivp and simulations.

Independent references:
* the cusp of the MPR model (Montbrió, Pazó & Roxin, Phys. Rev. X 5, 021028, 2015):
  eta_bar = -sqrt(3) Delta, J = 8 pi 3^(1/4) sqrt(Delta) / (3 sqrt 2);
* folds from the scalar fixed-point equation r = Phi(eta_bar + I + tau_m J r) with
  dPhi/dx = 1 / (tau_m J) (models.md M3), solved with brentq;
* Hopf points from a scan of the leading eigenvalue of stimsim.linearize and brentq;
* the first Lyapunov coefficient of planar systems from the closed formula of Guckenheimer &
  Holmes (1983, eq. 3.4.11), l1 = 2 a / omega in Kuznetsov's normalisation;
* periods from scipy.integrate.solve_ivp (DOP853, rtol 1e-11) of the model's numpy right-hand side.
"""
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

import stimsim
from stimsim.continuation import (StepControl, bifurcation_diagram, parameter, two_parameter_diagram)
from stimsim.continuation._special import first_lyapunov
from stimsim.continuation._system import VectorField
from stimsim.errors import InputError

I_RANGE = (-20.0, 100.0)


@pytest.fixture(scope="module")
def interneuron_diagram():
    return bifurcation_diagram(stimsim.preset("interneurons"), "nmm2", "I", I_RANGE)


# --- closed forms ------------------------------------------------------------------------------
def test_cusp_of_the_mpr_model_matches_the_closed_form():
    for model in ("nmm2", "nmm1"):
        for delta in (1.0, 0.5):
            c = stimsim.preset("pyramidal", J=15.0).replace(delta=delta)
            d = two_parameter_diagram(c, model, ("eta_bar", "J"), ((-10.0, 0.0), (2.0, 30.0)), kinds=("LP",))
            cusps = d.special_points().query("kind == 'CP'")
            assert len(cusps) == 1, (model, delta, d.special_points())
            eta_c = -math.sqrt(3.0) * delta
            J_c = 8 * math.pi * 3 ** 0.25 * math.sqrt(delta) / (3 * math.sqrt(2))
            assert cusps.eta_bar.iloc[0] == pytest.approx(eta_c, abs=1e-6)
            assert cusps.J.iloc[0] == pytest.approx(J_c, abs=1e-6)
    assert J_c == pytest.approx(8 * math.pi * 3 ** 0.25 * math.sqrt(0.5) / (3 * math.sqrt(2)))
    assert 8 * math.pi * 3 ** 0.25 / (3 * math.sqrt(2)) == pytest.approx(7.796, abs=5e-4)


def _phi(x, delta, tau_m):
    return math.sqrt(x + math.sqrt(x * x + delta * delta)) / (math.sqrt(2) * math.pi * tau_m)


def _dphi(x, delta, tau_m):
    s = math.sqrt(x * x + delta * delta)
    return (1 + x / s) / (2 * math.sqrt(x + s) * math.sqrt(2) * math.pi * tau_m)


def _closed_form_folds(J, delta, tau_m, I=0.0):
    """eta_bar at the folds: dPhi/dx(x) = 1/(tau_m J) has two roots x (dPhi/dx rises then falls)."""
    target = 1.0 / (tau_m * J)
    xs = np.linspace(-50, 50, 20001)
    g = np.array([_dphi(x, delta, tau_m) for x in xs]) - target
    roots = [brentq(lambda x: _dphi(x, delta, tau_m) - target, xs[i], xs[i + 1], xtol=1e-14)
             for i in np.flatnonzero(g[:-1] * g[1:] < 0)]
    return sorted(x - I - tau_m * J * _phi(x, delta, tau_m) for x in roots)


@pytest.mark.parametrize("model", ["nmm2", "nmm1"])
def test_folds_match_the_closed_form(model):
    J = 15.0
    c = stimsim.preset("pyramidal", J=J)
    d = bifurcation_diagram(c, model, "eta_bar", (-12.0, 2.0), cycles=False)
    found = sorted(f.p[0] for f in d.fold_points())
    expected = _closed_form_folds(J, 1.0, 20.0)
    assert len(expected) == 2 and len(found) == 2
    np.testing.assert_allclose(found, expected, rtol=1e-8)
    table = d.special_points()
    assert set(table.kind) == {"LP"} and table.located.all()


def _planar_l1(f2, f3, g2, g3, omega):
    """l1 = 2 a / omega with a from Guckenheimer & Holmes (1983) eq. 3.4.11 for
    x' = -omega y + f(x, y), y' = omega x + g(x, y); f2, g2 = (c_xx, c_xy, c_yy) of the quadratic
    parts (f = c_xx x^2 + c_xy x y + c_yy y^2 + ...), f3, g3 = (c_xxx, c_xxy, c_xyy, c_yyy)."""
    fxx, fxy, fyy = 2 * f2[0], f2[1], 2 * f2[2]
    gxx, gxy, gyy = 2 * g2[0], g2[1], 2 * g2[2]
    fxxx, fxyy = 6 * f3[0], 2 * f3[2]
    gxxy, gyyy = 2 * g3[1], 6 * g3[3]
    a = (fxxx + fxyy + gxxy + gyyy) / 16 + (fxy * (fxx + fyy) - gxy * (gxx + gyy) - fxx * gxx + fyy * gyy) / (16 * omega)
    return 2 * a / omega


def test_first_lyapunov_coefficient_matches_the_planar_formula():
    rng = np.random.default_rng(3)
    for _ in range(5):
        f2, g2 = rng.normal(size=3), rng.normal(size=3)
        f3, g3 = rng.normal(size=4), rng.normal(size=4)
        omega = rng.uniform(0.5, 3.0)

        def cubic(c2, c3, x, y):
            return (c2[0] * x * x + c2[1] * x * y + c2[2] * y * y
                    + c3[0] * x ** 3 + c3[1] * x * x * y + c3[2] * x * y * y + c3[3] * y ** 3)

        def F(z, p):
            x, y = z - 0.3                       # equilibrium moved off the origin
            return np.array([p[0] * x - omega * y + cubic(f2, f3, x, y), omega * x + p[0] * y + cubic(g2, g3, x, y)])

        field = VectorField(F, 2)
        l1 = first_lyapunov(field, np.full(2, 0.3), np.array([0.0]), omega)
        assert l1 == pytest.approx(_planar_l1(f2, f3, g2, g3, omega), rel=1e-6, abs=1e-9)


# --- Hopf points ---------------------------------------------------------------------------------
def _leading_real(c, I):
    cc = c.replace(I=I)
    r = stimsim.find_fixed_points(cc)
    assert len(r) == 1
    return stimsim.linearize(cc, "nmm2", r[0]).leading.real


def test_hopf_points_agree_with_a_fine_eigenvalue_scan(interneuron_diagram):
    c = stimsim.preset("interneurons")
    grid = np.linspace(*I_RANGE, 1201)
    lead = np.array([_leading_real(c, I) for I in grid])
    crossings = np.flatnonzero(lead[:-1] * lead[1:] < 0)
    scanned = [brentq(lambda I: _leading_real(c, I), grid[i], grid[i + 1], xtol=1e-13) for i in crossings]
    found = [h.p[0] for h in interneuron_diagram.hopf_points()]
    assert len(scanned) == 2
    np.testing.assert_allclose(found, scanned, rtol=1e-8)
    # the frequency is the imaginary part of the critical pair there
    for h, I in zip(interneuron_diagram.hopf_points(), scanned):
        cc = c.replace(I=I)
        lam = stimsim.linearize(cc, "nmm2", stimsim.find_fixed_points(cc)[0]).leading
        assert h.omega == pytest.approx(abs(lam.imag), rel=1e-7)


def test_nmm1_has_no_hopf_point_for_interneurons():
    c = stimsim.preset("interneurons")
    d = bifurcation_diagram(c, "nmm1", "I", I_RANGE)
    assert len(d.special_points()) == 0 and len(d.cycles) == 0
    eq = d.equilibria()
    assert eq.stable.all()
    # independent: NMM1's eigenvalues at every fixed point of a scan have negative real parts
    for I in np.linspace(*I_RANGE, 61):
        cc = c.replace(I=I)
        assert stimsim.linearize(cc, "nmm1", stimsim.find_fixed_points(cc)[0]).leading.real < 0


def _oscillation(res, t_from):
    t, r = res.time_ms, res.rate_hz[:, 0]
    keep = t >= t_from
    t, r = t[keep], r[keep]
    x = r - r.mean()
    i = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    tc = t[i] - x[i] * (t[i + 1] - t[i]) / (x[i + 1] - x[i])
    return 1000.0 / np.mean(np.diff(tc)), (r.max() - r.min()) / 2


def _simulated_cycle(c, I, settle_ms=10000.0):
    """(frequency Hz, rate amplitude Hz, amplitude 2 s earlier): the fixed point nudged, run for
    ``settle_ms`` (recording sparsely), then 4 s recorded finely."""
    m = stimsim.models.get("nmm2")
    cc = c.replace(I=I)
    y0 = m.state_at_rates(cc, stimsim.find_fixed_points(cc)[0] * 1.01)
    if settle_ms > 0:
        settled = stimsim.simulate(cc, "nmm2", duration_ms=settle_ms, dt_ms=0.01, initial=y0, record_every=10000)
        y0 = m.state_from_recorded(settled.states[-1])
    res = stimsim.simulate(cc, "nmm2", duration_ms=4000.0, dt_ms=0.01, initial=y0, record_every=5)
    f, amp = _oscillation(res, 2000.0)
    earlier = _oscillation(res, 0.0)[1]
    return f, amp, earlier


def test_small_limit_cycle_past_each_supercritical_hopf(interneuron_diagram):
    c = stimsim.preset("interneurons")
    d = interneuron_diagram
    hopfs = d.hopf_points()
    assert [stimsim.continuation.criticality(h.coefficient) for h in hopfs] == ["supercritical"] * 2
    cb = d.cycles[0]
    k = d.model.recorded_index("r")
    for h in hopfs:
        # the orbit of the branch nearest to this Hopf point at least 0.05 away (closer, the
        # simulation converges to the cycle too slowly), and a simulation at its parameter
        dist = np.abs(cb.p - h.p[0])
        i = int(np.argmin(np.where(dist >= 0.05, dist, np.inf)))
        mu = np.sort(np.abs(cb.multipliers[i]))[-2]            # slowest approach to the cycle
        settle = round(10 * cb.period_ms[i] / (1 - mu) / 100.0) * 100.0
        f, amp, earlier = _simulated_cycle(c, cb.p[i], settle_ms=settle)
        assert amp == pytest.approx(earlier, rel=0.02)              # settled on the cycle
        assert f == pytest.approx(h.omega / (2 * math.pi) * 1000.0, rel=0.02)
        assert f == pytest.approx(1000.0 / cb.period_ms[i], rel=5e-3)
        branch_amp = (cb.maximum[i, k, 0] - cb.minimum[i, k, 0]) / 2 * 1000.0
        assert amp == pytest.approx(branch_amp, rel=0.03)
        assert amp < 0.5 * (cb.maximum[:, k, 0] - cb.minimum[:, k, 0]).max() / 2 * 1000.0   # small
    # supercritical (l1 < 0): the amplitude grows like sqrt(I - I_H) just past the first Hopf point
    amps = [_simulated_cycle(c, hopfs[0].p[0] + delta)[1] for delta in (0.05, 0.2)]
    assert amps[1] / amps[0] == pytest.approx(2.0, rel=0.15)


# --- periodic orbits ----------------------------------------------------------------------------
def _period_solve_ivp(circuit, model, x0, T_guess):
    """Period from solve_ivp: mean time between upward crossings of r = mean over ~20 periods."""
    shape = (model.n_state, circuit.n_populations)

    def f(t, y):
        return model.rhs(circuit, y.reshape(shape)).ravel()

    y0 = np.asarray(x0) * (1 + 1e-4)
    sol = solve_ivp(f, (0, 25 * T_guess), y0, method="DOP853", rtol=1e-11, atol=1e-13, dense_output=True)
    t = np.linspace(5 * T_guess, 25 * T_guess, 40001)
    r = sol.sol(t)[0]
    level = 0.5 * (r.max() + r.min())
    x = r - level
    i = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    tc = [brentq(lambda s: sol.sol(s)[0] - level, t[k], t[k + 1], xtol=1e-12) for k in i]
    return float(np.mean(np.diff(tc)))


def test_cycle_branch_period_matches_solve_ivp_along_the_branch(interneuron_diagram):
    d = interneuron_diagram
    assert len(d.cycles) == 1                      # one branch joins the two Hopf points
    cb = d.cycles[0]
    assert cb.end_reason.startswith("ended at the Hopf point")
    m = stimsim.models.get("nmm2")
    picks = np.linspace(2, len(cb.p) - 3, 4).astype(int)
    for i in picks:
        cc = d.field.circuit_at([cb.p[i]])
        T = _period_solve_ivp(cc, m, cb.x0[i], cb.period_ms[i])
        assert cb.period_ms[i] == pytest.approx(T, rel=5e-3)
        assert cb.stable[i]
    # at the Hopf point the period is 2 pi / omega (limit of the branch)
    assert cb.period_ms[0] == pytest.approx(2 * math.pi / cb.hopf.omega, rel=1e-3)


def test_cycle_table_has_the_model_variables(interneuron_diagram):
    t = interneuron_diagram.limit_cycles()
    assert {"rate_hz_min", "rate_hz_max", "period_ms", "frequency_hz", "stable", "max_multiplier"} <= set(t.columns)
    assert (t.rate_hz_max >= t.rate_hz_min).all()
    np.testing.assert_allclose(t.frequency_hz, 1000.0 / t.period_ms)


# --- two parameters ----------------------------------------------------------------------------
def test_two_parameter_hopf_curve_points_satisfy_the_hopf_conditions():
    c = stimsim.preset("interneurons")
    d = two_parameter_diagram(c, "nmm2", ("I", "tau_s/tau_m"), ((-20.0, 100.0), (0.05, 2.0)), kinds=("H",))
    t = d.to_frame()
    hopf = t[t.hopf]
    assert len(hopf) > 50
    m = stimsim.models.get("nmm2")
    for _, row in hopf.iterrows():
        cc = c.replace(I=row["I"], tau_s=row["tau_s/tau_m"] * 7.5)
        cv = d.curves[int(row.curve)]
        x = cv.x[int(row.point)].reshape(4, 1)
        # F = 0 and a pair of eigenvalues on the imaginary axis at +-omega, independently evaluated
        assert np.max(np.abs(m.rhs(cc, x))) < 1e-8
        ev = np.linalg.eigvals(m.jacobian(cc, x))
        k = np.argmin(np.abs(ev - 1j * row.frequency_hz * 2 * math.pi / 1000.0))
        assert abs(ev[k].real) < 1e-8 * max(1.0, abs(ev[k]))
        assert ev[k].imag == pytest.approx(row.frequency_hz * 2 * math.pi / 1000.0, rel=1e-8)
    # the oscillation region closes for slow synapses: the Hopf curve has a largest tau_s/tau_m
    top = hopf["tau_s/tau_m"].max()
    assert 0.3 < top < 2.0
    above = c.replace(tau_s=1.05 * top * 7.5)
    for I in np.linspace(-20, 100, 25):
        cc = above.replace(I=I)
        assert stimsim.linearize(cc, "nmm2", stimsim.find_fixed_points(cc)[0]).stable


# --- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(parameter="nope"), "continuation parameter"),
    (dict(parameter="I[X]"), "population"),
    (dict(parameter="tau_s", p_range=(-1.0, 5.0)), "must be > 0"),
    (dict(p_range=(3.0, 3.0)), "two different ends"),
    (dict(p_range=(0.0, float("nan"))), "finite"),
    (dict(p_range="abc"), "two numbers"),
    (dict(model="nope"), "model"),
])
def test_bad_input_is_a_clear_error(kwargs, match):
    args = dict(circuit=stimsim.preset("interneurons"), model="nmm2", parameter="I", p_range=I_RANGE)
    args.update(kwargs)
    with pytest.raises((InputError, ValueError), match=match):
        bifurcation_diagram(**args)


def test_parameter_names():
    ping = stimsim.preset("ping")
    p = parameter("J[E,I]", ping)
    assert p.apply(ping, -3.0).J[ping.index("E"), ping.index("I")] == -3.0
    r = parameter("tau_s/tau_m[I]", ping)
    c2 = r.apply(ping, 0.5)
    assert c2.vector("tau_s")[ping.index("I")] == pytest.approx(0.5 * ping.vector("tau_m")[ping.index("I")])
    with pytest.raises(InputError, match="ambiguous"):
        parameter("J", ping)
    f = parameter("field", stimsim.preset("pyramidal"))
    c3 = f.apply(stimsim.preset("pyramidal"), 2.0)
    assert c3.vector("I")[0] == pytest.approx(2.0 * 0.12 / 10.0)      # lambda E / scale (M6)
    with pytest.raises(InputError, match="reaches no population"):
        parameter("field", stimsim.preset("interneurons"))
    with pytest.raises(ValueError, match="ds_min <= ds <= ds_max"):
        StepControl(ds=1.0)


# --- codimension two on normal forms (Kuznetsov 2004, Sec. 8.3-8.4) -------------------------------
def _curve_pair(field, kind, x, p, v, kappa=None):
    from stimsim.continuation._curves import continue_curve

    return [continue_curve(field, kind, x, p, v, kappa=kappa, bounds=((-1, -2), (1, 2)), scales=(1, 1), direction=d)
            for d in (1, -1)]


def test_bogdanov_takens_point_of_the_normal_form():
    """x' = y, y' = b1 + b2 x + x^2 - x y: Hopf curve b1 = 0 (b2 < 0), fold curve b2^2 = 4 b1, BT at 0."""
    from stimsim.continuation._special import hopf_guess

    def F(z, p):
        return np.array([z[1], p[0] + p[1] * z[0] + z[0] ** 2 - z[0] * z[1]])

    field = VectorField(F, 2)
    a, _, om, _ = hopf_guess(field, np.zeros(2), np.array([0.0, -1.0]))
    hopf = _curve_pair(field, "H", np.zeros(2), [0.0, -1.0], a, kappa=om ** 2)
    bt = [s for cv in hopf for s in cv.special if s.kind == "BT"]
    assert len(bt) == 1 and bt[0].located
    np.testing.assert_allclose(bt[0].p, [0.0, 0.0], atol=1e-8)
    for cv in hopf:                                   # Hopf points on b2 < 0, neutral saddles on b2 > 0
        np.testing.assert_allclose(cv.p[:, 0], 0.0, atol=1e-10)
        assert np.all((cv.kappa > 0) == (cv.p[:, 1] < 0))
    A = field.jac(np.array([0.5, 0.0]), np.array([0.25, -1.0]))
    ev, vec = np.linalg.eig(A)
    fold = _curve_pair(field, "LP", np.array([0.5, 0.0]), [0.25, -1.0], vec[:, np.argmin(np.abs(ev))].real)
    for cv in fold:
        np.testing.assert_allclose(cv.p[:, 1] ** 2, 4 * cv.p[:, 0], atol=1e-9)
    bt = [s for cv in fold for s in cv.special if s.kind == "BT"]
    assert len(bt) == 1
    np.testing.assert_allclose(bt[0].p, [0.0, 0.0], atol=1e-8)


def test_generalized_hopf_point_of_the_normal_form():
    """Bautin normal form r' = b1 r + b2 r^3 - r^5: Hopf curve b1 = 0, l1 changes sign at b2 = 0."""
    from stimsim.continuation._special import hopf_guess

    def F(z, p):
        x, y = z
        r2 = x * x + y * y
        return np.array([p[0] * x - y + p[1] * x * r2 - x * r2 * r2, x + p[0] * y + p[1] * y * r2 - y * r2 * r2])

    field = VectorField(F, 2)
    a, _, om, _ = hopf_guess(field, np.zeros(2), np.array([0.0, -1.0]))
    curves = _curve_pair(field, "H", np.zeros(2), [0.0, -1.0], a, kappa=om ** 2)
    gh = [s for cv in curves for s in cv.special if s.kind == "GH"]
    assert len(gh) == 1 and gh[0].located
    np.testing.assert_allclose(gh[0].p, [0.0, 0.0], atol=1e-6)
    for cv in curves:                                 # l1 = 2 b2 (planar formula, omega = 1)
        np.testing.assert_allclose(cv.coefficient, 2 * cv.p[:, 1], atol=1e-6)
