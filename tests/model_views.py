"""The package's model objects seen in the tests' reference layout.

``tests/reference.py`` orders a flattened state population-major, (r, v, s, z) per population; the
models' Jacobians are variable-major (``state.ravel()`` of an (n_state, P) array). These helpers
convert, so the package's analytic Jacobians can be checked against the independent reference.
"""
import numpy as np

import stimsim

NMM2 = stimsim.models.get("nmm2")
NMM1 = stimsim.models.get("nmm1")


def to_pop_major(A, n_state, P):
    """Reorder a variable-major (n_state P)^2 matrix to the population-major order."""
    perm = np.arange(n_state * P).reshape(n_state, P).T.ravel()
    return A[np.ix_(perm, perm)]


def nmm2_state(circuit, rates_khz):
    """NMM2 fixed-point state, population-major (r, v, s, z) per population."""
    return NMM2.state_at_rates(circuit, rates_khz).T.ravel()


def jacobian_nmm2(circuit, state_pop_major):
    P = circuit.n_populations
    y = np.asarray(state_pop_major).reshape(P, 4).T
    return to_pop_major(NMM2.jacobian(circuit, y), 4, P)


def jacobian_nmm1(circuit, s_khz):
    """NMM1 Jacobian at synaptic state s (z = 0), population-major (s, z) per population."""
    P = circuit.n_populations
    y = np.stack([np.asarray(s_khz, dtype=float), np.zeros(P)])
    return to_pop_major(NMM1.jacobian(circuit, y), 2, P)


def initial_state(circuit, model, initial=None):
    return stimsim._simulate.initial_state(circuit, model, initial)
