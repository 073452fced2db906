"""Trajectories returned by :func:`stimsim.simulate` and :func:`stimsim.simulate_batch`.

States are kept in the equations' units, (r kHz, v, s kHz, z kHz) per population; tables report
rates in Hz. For NMM1, r = T(x) and v is the frozen-input mean voltage v*(r) (QIF units, M3) or the
input x (mV) of a sigmoid population.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .units import khz_to_hz

STATE_COLUMNS = ("rate_hz", "v", "s_hz", "z_hz")


def _frame(states, time_ms, names, model):
    """Tidy table from states (n_rec, 4, P)."""
    n_rec, _, P = states.shape
    return pd.DataFrame({
        "time_ms": np.tile(time_ms, P),
        "model": model,
        "population": np.repeat(np.array(names, dtype=object), n_rec),
        "rate_hz": khz_to_hz(states[:, 0, :].T.reshape(-1)),
        "v": states[:, 1, :].T.reshape(-1),
        "s_hz": khz_to_hz(states[:, 2, :].T.reshape(-1)),
        "z_hz": khz_to_hz(states[:, 3, :].T.reshape(-1)),
    })


@dataclass
class SimulationResult:
    """One trajectory. ``states`` is (n_records, 4, P): r (kHz), v, s (kHz), z (kHz)."""

    circuit: object
    spec: object
    states: np.ndarray
    wall_time_s: float = 0.0

    @property
    def model(self):
        return self.spec.model

    @property
    def time_ms(self):
        return self.spec.time_ms

    @property
    def rate_hz(self):
        """(n_records, P) firing rates in Hz."""
        return khz_to_hz(self.states[:, 0, :])

    @property
    def v(self):
        return self.states[:, 1, :]

    def population(self, name):
        """(n_records,) rate in Hz of one population."""
        return self.rate_hz[:, self.circuit.index(name)]

    def to_frame(self):
        """Tidy table: time_ms, model, population, rate_hz, v, s_hz, z_hz (one row per time x population)."""
        return _frame(self.states, self.time_ms, self.circuit.names, self.model)


@dataclass
class BatchResult:
    """Many trajectories. ``states`` is (n_records, 4, P, B)."""

    circuits: list
    spec: object
    states: np.ndarray
    wall_time_s: float = 0.0
    diverged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    def __len__(self):
        return self.states.shape[-1]

    def __getitem__(self, b):
        return SimulationResult(self.circuits[b], self.spec, self.states[..., b], self.wall_time_s)

    @property
    def time_ms(self):
        return self.spec.time_ms

    @property
    def rate_hz(self):
        """(n_records, P, B) firing rates in Hz."""
        return khz_to_hz(self.states[:, 0])

    def to_frame(self):
        """Tidy table with a ``set`` column (index into the circuits given)."""
        frames = []
        for b in range(len(self)):
            f = _frame(self.states[..., b], self.time_ms, self.circuits[b].names, self.spec.model)
            f.insert(0, "set", b)
            frames.append(f)
        return pd.concat(frames, ignore_index=True)
