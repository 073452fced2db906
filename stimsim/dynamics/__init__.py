"""Dynamics in one place: fixed points, linearisation, stability labels.

One stability convention (:mod:`~stimsim.dynamics._stability`, tolerance ``STABILITY_TOL``) is used
by every table and analysis. Continuation of branches will build on the same pieces.

Fixed-point rates come from :mod:`~stimsim.dynamics._equilibria` (the entry point), which splits
the search by job: the equations and root acceptance (``_equations``), continuation in the
coupling scale (``_coupling_path``), the two methods (``_exhaustive``, ``_homotopy``) and their
small linear solves (``_linalg``).
"""
from ._equilibria import coupling_path, equilibrium_residual, find_equilibrium_rates
from ._fixed_points import find_fixed_points, fixed_points
from ._linearize import Linearization, linearize, sorted_eigenvalues
from ._stability import STABILITY_TOL, classify, is_stable, n_unstable

__all__ = ["coupling_path", "equilibrium_residual", "find_equilibrium_rates", "find_fixed_points", "fixed_points", "Linearization", "linearize",
           "sorted_eigenvalues", "STABILITY_TOL", "classify", "is_stable", "n_unstable"]
