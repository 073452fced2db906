"""Numba kernels (no files, no pandas): NMM2 (exact, models.md M2), NMM1 (heuristic, M4) and the
spiking QIF network (M1).

Each model object in ``stimsim.models`` names its kernel module and entry points; this package
keeps no list of models of its own.
"""
from . import network, nmm1, nmm2
from .common import METHODS

__all__ = ["METHODS", "network", "nmm1", "nmm2"]
