"""Numba kernels (no files, no pandas): NMM2 (exact, models.md M2) and NMM1 (heuristic, M4)."""
from . import nmm1, nmm2
from .common import METHODS

__all__ = ["MODELS", "METHODS", "nmm1", "nmm2"]

MODELS = {"nmm2": nmm2, "nmm1": nmm1}
