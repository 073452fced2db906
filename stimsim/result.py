"""Trajectories returned by :func:`stimsim.simulate` and :func:`stimsim.simulate_batch`.

States are kept in the equations' units, one slot per recorded variable of the model
(``result.model.recorded_variables``: for NMM2 and NMM1 r kHz, v, s kHz, z kHz); tables convert
each variable to its column unit (rates in Hz).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


def _frame(states, time_ms, names, model):
    """Tidy table from states (n_rec, n_recorded, P): one column per recorded variable."""
    n_rec, _, P = states.shape
    data = {"time_ms": np.tile(time_ms, P), "model": model.name,
            "population": np.repeat(np.array(names, dtype=object), n_rec)}
    for a, var in enumerate(model.recorded_variables):
        data[var.column] = var.to_column * states[:, a, :].T.reshape(-1)
    return pd.DataFrame(data)


class _Variables:
    """Access to recorded variables by name, in table units or the equations' units."""

    def variable(self, name, units="column"):
        """A recorded variable (by symbol 'r' or column 'rate_hz'), shape (n_records, P[, B]).

        ``units='column'``: table units (Hz for rates); ``'model'``: the equations' units (kHz).
        """
        a = self.model.recorded_index(name)
        if units not in ("column", "model"):
            raise ValueError(f"units must be 'column' or 'model', got {units!r}")
        scale = self.model.recorded_variables[a].to_column if units == "column" else 1.0
        return scale * self.states[:, a]

    @property
    def model(self):
        return self.spec.model

    @property
    def time_ms(self):
        return self.spec.time_ms

    @property
    def rate_hz(self):
        """Firing rates in Hz, (n_records, P) (batch: (n_records, P, B))."""
        return self.variable("r")

    @property
    def v(self):
        """Mean voltage read-out (QIF units; mV input x for sigmoid populations)."""
        return self.variable("v")


@dataclass
class SimulationResult(_Variables):
    """One trajectory. ``states`` is (n_records, n_recorded, P) in the equations' units.

    ``spikes`` (spiking network only): tidy table of the raster subset's spikes (``population``,
    ``neuron``, ``eta``, ``time_ms``); ``settings``: the model options the run used (network:
    neurons, seed, V_peak, ...), for metadata.
    """

    circuit: object
    spec: object
    states: np.ndarray
    wall_time_s: float = 0.0
    spikes: object = None
    settings: dict = field(default_factory=dict)

    def population(self, name):
        """(n_records,) rate in Hz of one population."""
        return self.rate_hz[:, self.circuit.index(name)]

    def to_frame(self):
        """Tidy table: time_ms, model, population and one column per recorded variable."""
        return _frame(self.states, self.time_ms, self.circuit.names, self.model)


@dataclass
class BatchResult(_Variables):
    """Many trajectories. ``states`` is (n_records, n_recorded, P, B)."""

    circuits: list
    spec: object
    states: np.ndarray
    wall_time_s: float = 0.0
    diverged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    def __len__(self):
        return self.states.shape[-1]

    def __getitem__(self, b):
        return SimulationResult(self.circuits[b], self.spec, self.states[..., b], self.wall_time_s)

    def to_frame(self):
        """Tidy table with a ``set`` column (index into the circuits given)."""
        frames = []
        for b in range(len(self)):
            f = _frame(self.states[..., b], self.time_ms, self.circuits[b].names, self.model)
            f.insert(0, "set", b)
            frames.append(f)
        return pd.concat(frames, ignore_index=True)
