"""Equilibrium (fixed-point) rates of a circuit, shared by NMM2 and NMM1 (docs/models.md, M3-M5).

At a fixed point of either model s = r, z = 0 (and, for NMM2, v = v*(r)), so the rates r (kHz)
solve the P equations

    r_k = T_k(x_k),    x_k = eta_bar_k + I_k + sum_l K[k, l] r_l,

with T_k the QIF transfer function Phi (M3) or the Jansen-Rit sigmoid (M4), and
K = ``Circuit.effective_coupling`` (tau_m J for QIF targets, J in mV/kHz for sigmoid targets).
This module is the entry point (argument checks, method choice, the public functions); the search
itself is split by job:

:mod:`~stimsim.dynamics._equations`
    the equations in log-rates u = log r and the one acceptance test of a root: Newton's method
    must bring its relative residual max_k |T_k(x_k) - r_k| / r_k to at most ``RESIDUAL_RTOL``
    (1e-12); roots whose rates all agree to ``DISTINCT_RTOL`` are one root.
:mod:`~stimsim.dynamics._coupling_path`
    pseudo-arclength continuation in the coupling scale lambda (K -> lambda K) from the uncoupled
    circuit, collecting every crossing of lambda = 1, and the branches through other roots.
:mod:`~stimsim.dynamics._exhaustive`
    method ``"exhaustive"`` (``"auto"`` for P <= ``EXHAUSTIVE_MAX_POPULATIONS``): a bracketing
    scan (P = 1) or Newton from a grid of about max(800, 3^P) starts, joined with the path.
:mod:`~stimsim.dynamics._homotopy`
    method ``"homotopy"`` (any P; ``"auto"`` above): the path plus seeded random starts; NOT
    guaranteed to be exhaustive for large P (up to 3^P fixed points).
:mod:`~stimsim.dynamics._linalg`
    the small dense linear solves all of them share.

Inputs that leave double precision (an overflowing eta_bar + I or tau_m J, a transfer function that
is infinite or zero at the uncoupled input, couplings so large that no root has finite nonzero
rates) raise ``ValueError`` with a one-line message; no floating-point warning escapes.

References
----------
E. Montbrió, D. Pazó and A. Roxin, *Phys. Rev. X* 5, 021028 (2015) (the transfer function Phi).
B. H. Jansen and V. G. Rit, *Biol. Cybern.* 73, 357-366 (1995) (the sigmoid).
The numerical references are in the modules above.
"""
from __future__ import annotations

import numpy as np

from ..circuit import Circuit
from ..errors import check_finite, check_positive_int, unknown_name_error
from ..transfer import rates_many
# CouplingPath is what coupling_path() returns; importable from here as before the split
from ._coupling_path import HOMOTOPY_LAMBDA_MAX, HOMOTOPY_MAX_STEPS, CouplingPath, follow
from ._equations import Equations
from ._exhaustive import (EXHAUSTIVE_HARD_LIMIT, EXHAUSTIVE_MAX_POPULATIONS, EXHAUSTIVE_RANDOM_STARTS,
                          exhaustive_1d, exhaustive_nd)
from ._homotopy import HOMOTOPY_RANDOM_STARTS, homotopy

METHODS = ("auto", "exhaustive", "homotopy")


def _check_circuit(circuit):
    if not isinstance(circuit, Circuit):
        raise ValueError("circuit must be a stimsim Circuit (e.g. stimsim.preset('ping')), "
                         f"got {type(circuit).__name__}")


def _check_path_controls(lambda_max, max_steps):
    lam = check_finite("lambda_max", lambda_max)
    if lam <= 1.0:
        raise ValueError(f"lambda_max must be > 1 (fixed points are read off at lambda = 1), got {lambda_max!r}")
    return lam, check_positive_int("max_steps", max_steps)


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def find_equilibrium_rates(circuit, method="auto", *, n_starts=None, seed=0,
                           lambda_max=HOMOTOPY_LAMBDA_MAX, max_steps=HOMOTOPY_MAX_STEPS):
    """Fixed-point rates of a circuit (shared by NMM2 and NMM1), in kHz.

    Solves r_k = T_k(x_k), x_k = eta_bar_k + I_k + sum_l K[k, l] r_l (docs/models.md, M5) for r > 0.
    See the module docstring (and the modules it lists) for the algorithms.

    Parameters
    ----------
    circuit : stimsim.Circuit
    method : {'auto', 'exhaustive', 'homotopy'}
        'exhaustive': bracketing scan (P = 1) or Newton from a grid of about max(800, 3^P) starts
        (P >= 2), joined with the lambda-path; refused above EXHAUSTIVE_HARD_LIMIT populations.
        'homotopy': pseudo-arclength continuation in the coupling scale lambda from the uncoupled
        circuit, collecting every crossing of lambda = 1, plus seeded random starts and the
        branches through the roots they find; scales to P of a few hundred, but for large P it is
        not guaranteed to find every fixed point. 'auto': 'exhaustive' for
        P <= EXHAUSTIVE_MAX_POPULATIONS (4), else 'homotopy'.
    n_starts : int, optional
        Random starts: EXHAUSTIVE_RANDOM_STARTS (400) for 'exhaustive' and HOMOTOPY_RANDOM_STARTS
        (32, each used twice) for 'homotopy' by default; deterministic for a given ``seed``.
    seed : int
        Seed of the random starts.
    lambda_max : float
        Each branch is followed until lambda exceeds this while increasing (> 1).
    max_steps : int
        Most arclength steps on the path from lambda = 0, and again in total on the other branches.

    Returns
    -------
    numpy.ndarray, shape (n, P)
        Distinct fixed-point rates in kHz (n >= 1), sorted by total rate; each satisfies
        max_k |T_k(x_k) - r_k| / r_k <= RESIDUAL_RTOL (1e-12) after Newton polishing.

    Raises
    ------
    ValueError
        Bad arguments, or no fixed point found: the one-line message names what failed (an input or
        coupling that overflows, a transfer function that under- or overflows, ...).

    Examples
    --------
    >>> import stimsim
    >>> from stimsim.dynamics._equilibria import find_equilibrium_rates
    >>> r = find_equilibrium_rates(stimsim.preset("pyramidal", J=15, eta_bar=-4))
    >>> r.shape, [round(float(x), 2) for x in 1000 * r[:, 0]]  # Hz
    ((3, 1), [4.92, 15.74, 58.85])
    """
    if not isinstance(method, str) or method not in METHODS:
        raise unknown_name_error("fixed-point method", method, METHODS)
    _check_circuit(circuit)
    lambda_max, max_steps = _check_path_controls(lambda_max, max_steps)
    seed = _check_count("seed", seed)
    P = circuit.n_populations
    if method == "auto":
        method = "exhaustive" if P <= EXHAUSTIVE_MAX_POPULATIONS else "homotopy"
    if method == "exhaustive" and P > EXHAUSTIVE_HARD_LIMIT:
        raise ValueError(
            f"method 'exhaustive' needs about 3^P Newton starts and is refused for P = {P} > "
            f"{EXHAUSTIVE_HARD_LIMIT} populations; use method='homotopy'")
    default = EXHAUSTIVE_RANDOM_STARTS if method == "exhaustive" else HOMOTOPY_RANDOM_STARTS
    n = default if n_starts is None else _check_count("n_starts", n_starts)
    with np.errstate(all="ignore"):
        eq = Equations(circuit)
        try:
            if method == "exhaustive":
                if P == 1:
                    return exhaustive_1d(eq, lambda_max, max_steps)
                return exhaustive_nd(eq, n, seed, lambda_max, max_steps)
            return homotopy(eq, n, seed, lambda_max, max_steps)
        except (np.linalg.LinAlgError, ArithmeticError) as exc:  # a last guard: never leak these
            raise eq.failure(f"the search failed numerically ({type(exc).__name__})") from None


def coupling_path(circuit, lambda_max=HOMOTOPY_LAMBDA_MAX, max_steps=HOMOTOPY_MAX_STEPS):
    """The branch of solutions of r = T(c + lambda K r) through the uncoupled circuit (lambda = 0).

    The path that method 'homotopy' follows first (rates in kHz), for inspection: its folds and its
    crossings of lambda = 1 (unpolished fixed points).

    Parameters
    ----------
    circuit : stimsim.Circuit
    lambda_max : float
        Stop once lambda exceeds this while increasing (> 1).
    max_steps : int
        Most accepted arclength steps.

    Returns
    -------
    CouplingPath

    Raises
    ------
    ValueError
        Bad arguments, or inputs that overflow (as :func:`find_equilibrium_rates`).
    """
    _check_circuit(circuit)
    lambda_max, max_steps = _check_path_controls(lambda_max, max_steps)
    with np.errstate(all="ignore"):
        return follow(Equations(circuit), lambda_max=lambda_max, max_steps=max_steps)


def equilibrium_residual(circuit, rates_khz):
    """Relative residual max_k |T_k(x_k) - r_k| / r_k of candidate fixed-point rates (kHz).

    Parameters
    ----------
    circuit : stimsim.Circuit
    rates_khz : array_like, shape (P,) or (n, P)

    Returns
    -------
    float or numpy.ndarray (n,)
        inf where a rate is not positive or T is not finite.
    """
    _check_circuit(circuit)
    R = np.asarray(rates_khz, dtype=float)
    one = R.ndim == 1
    R = np.atleast_2d(R)
    if R.ndim != 2 or R.shape[1] != circuit.n_populations:
        raise ValueError(f"rates_khz must have shape ({circuit.n_populations},) or (n, {circuit.n_populations}), "
                         f"got {np.shape(rates_khz)}")
    with np.errstate(all="ignore"):
        c = circuit.vector("eta_bar") + circuit.vector("I")
        x = c + R @ circuit.effective_coupling.T
        T = rates_many(*circuit.transfer_parameters(), np.ascontiguousarray(x))
        rel = np.max(np.abs(T - R) / R, axis=1)
        rel = np.where(np.isfinite(rel) & np.all(R > 0, axis=1), rel, np.inf)
    return float(rel[0]) if one else rel
