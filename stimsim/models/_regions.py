"""What every model's whole-brain engine takes and returns (plain data, no engine code).

A whole-brain run (``stimsim.brain.simulate_network``) checks the network, the time grid, the sets
and the stimulus, then hands the model a :class:`RegionLanes` (one value per set) and receives a
:class:`RegionRun`; the model decides how its regions are integrated
(:meth:`stimsim.models.Model.check_regions`, :meth:`~stimsim.models.Model.simulate_regions`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RegionLanes:
    """Per-set values of a whole-brain run, each (B,): global coupling G, conduction speed (mm/ms =
    m/s) and stimulus scale; ``batched``: the caller asked for a batch (any given as an array)."""

    G: np.ndarray
    speed_mm_per_ms: np.ndarray
    field_scale: np.ndarray
    batched: bool = False

    @property
    def n_sets(self):
        return int(self.G.size)


@dataclass
class RegionRun:
    """What a model's whole-brain engine returns.

    ``states`` (n_records, n_recorded, R, P, B) in the equations' units; ``diverged`` the sets that
    became non-finite (``on_divergence='nan'``); ``wall_time_s`` the time spent in the kernels;
    ``spikes`` a tidy table of raster spikes (models that simulate neurons) or None; ``settings``
    what the engine chose (for metadata).
    """

    states: np.ndarray
    diverged: np.ndarray
    wall_time_s: float = 0.0
    spikes: object = None
    settings: dict = field(default_factory=dict)
