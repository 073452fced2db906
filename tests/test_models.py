"""Every registered model: numpy right-hand side against the independent reference and the kernel,
analytic Jacobians against central differences, and the declarations the other layers rely on."""
import numpy as np
import pytest

import stimsim
from stimsim.dynamics import find_fixed_points
from reference import nmm1_rhs, nmm2_rhs

MODELS = [stimsim.models.get(n) for n in stimsim.models.available()]
#: the models with a right-hand side (not the spiking network: tests/test_network.py)
EQUATION_MODELS = [m for m in MODELS if m.has_equations]
REFERENCE = {"nmm2": nmm2_rhs, "nmm1": nmm1_rhs}


def random_circuit(P, seed, sigmoid=False):
    rng = np.random.default_rng(seed)
    pops = []
    for k in range(P):
        if sigmoid and k % 2:
            pops.append(stimsim.Population(f"p{k}", tau_s=rng.uniform(5, 20), transfer="sigmoid", eta_bar=rng.uniform(0, 10)))
        else:
            pops.append(stimsim.Population(f"p{k}", tau_m=rng.uniform(5, 20), tau_s=rng.uniform(2, 20),
                                           delta=rng.uniform(0.3, 2), eta_bar=rng.uniform(-3, 5), I=rng.uniform(-1, 1)))
    return stimsim.Circuit(tuple(pops), J=rng.normal(0, 3, (P, P)))


CIRCUITS = [stimsim.preset("pyramidal"), stimsim.preset("interneurons"), stimsim.preset("ping"),
            stimsim.preset("jansen-rit"), random_circuit(5, 1), random_circuit(6, 2, sigmoid=True)]


def cases():
    for m in EQUATION_MODELS:
        for i, c in enumerate(CIRCUITS):
            if m.supports(c) is None:
                yield pytest.param(m, c, id=f"{m.name}-{c.name}-{i}")


def random_state(model, circuit, rng):
    """A state near the fixed point, perturbed (rates stay positive)."""
    r = find_fixed_points(circuit)[0]
    y = model.state_at_rates(circuit, r)
    y = y * (1 + 0.3 * rng.uniform(-1, 1, y.shape)) + 0.01 * rng.uniform(-1, 1, y.shape)
    if "r" in model.state_names:
        y[model.state_names.index("r")] = np.abs(y[model.state_names.index("r")]) + 1e-3
    return y


def central(f, x, h=1e-6):
    """Central differences of f (returning an array) with respect to the flat vector x."""
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h * max(1.0, abs(x.flat[i]))
        cols.append((np.ravel(f(x + e)) - np.ravel(f(x - e))) / (2 * e.flat[i]))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("model,circuit", list(cases()))
def test_rhs_matches_independent_reference(model, circuit):
    rng = np.random.default_rng(3)
    y = random_state(model, circuit, rng)
    u = rng.normal(0, 0.5, circuit.n_populations)
    ref = REFERENCE[model.name](circuit, drive=lambda t: u)(0.0, y.T.ravel())   # population-major
    got = model.rhs(circuit, y, u)
    np.testing.assert_allclose(got.T.ravel(), ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("model,circuit", list(cases()))
def test_rhs_equals_the_kernel_derivative(model, circuit):
    """The numpy right-hand side and the compiled kernel's stage code are the same equations."""
    rng = np.random.default_rng(5)
    for _ in range(3):
        y = random_state(model, circuit, rng)
        u = rng.normal(0, 0.5, circuit.n_populations)
        want = model.rhs(circuit, y, u)
        got = model.kernel_derivative(circuit, y, u)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14 * np.max(np.abs(want)))


@pytest.mark.parametrize("model,circuit", list(cases()))
def test_jacobians_match_central_differences(model, circuit):
    rng = np.random.default_rng(4)
    y = random_state(model, circuit, rng)
    u = rng.normal(0, 0.5, circuit.n_populations)
    shape = y.shape
    num = central(lambda f: model.rhs(circuit, f.reshape(shape), u), y.ravel())
    np.testing.assert_allclose(model.jacobian(circuit, y, u), num, rtol=1e-6, atol=1e-9)
    num_u = central(lambda v: model.rhs(circuit, y, v), u)
    np.testing.assert_allclose(model.input_jacobian(circuit, y, u), num_u, rtol=1e-6, atol=1e-9)
    for name in model.recorded_names:
        a = model.recorded_index(name)
        C, D = model.observe_jacobian(circuit, y, name, u)
        num_c = central(lambda f: model.observe(circuit, f.reshape(shape), u)[a], y.ravel())
        num_d = central(lambda v: model.observe(circuit, y, v)[a], u)
        np.testing.assert_allclose(C, num_c, rtol=1e-6, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(D, num_d, rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("model,circuit", list(cases()))
def test_fixed_point_state_is_an_equilibrium_and_recording_holds_the_state(model, circuit):
    for r in find_fixed_points(circuit):
        y = model.state_at_rates(circuit, r)
        scale = np.max(np.abs(r))
        assert np.max(np.abs(model.rhs(circuit, y))) < 1e-10 * max(1.0, scale)
        rec = model.observe(circuit, y)
        np.testing.assert_allclose(rec[model.recorded_index("r")], r, rtol=1e-12)
        np.testing.assert_array_equal(model.state_from_recorded(rec), y)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_declarations(model):
    assert model.n_state == len(model.state_variables) >= 1
    assert len(set(model.recorded_names)) == model.n_recorded
    for v in model.recorded_variables:
        assert v.column and v.column_unit and v.to_column > 0
    assert model.drive_enters
    assert stimsim.models.get(model.name) is model
    assert stimsim.models.get(model) is model


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'nmm3'.*allowed: network, nmm1, nmm2"):
        stimsim.models.get("nmm3")
    with pytest.raises(ValueError, match="cannot describe circuit 'jansen-rit'"):
        stimsim.simulate(stimsim.preset("jansen-rit"), "nmm2", duration_ms=1.0)
