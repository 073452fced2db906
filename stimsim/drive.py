"""External inputs I_k(t) handed to the kernels, in model input units (models.md M2, M4).

Two kinds, which may be summed (at most one of each):

- :class:`SampledInput`: values sampled every ``dt_ms`` from t = 0, linearly interpolated
  between samples onto the integrator's stage grid (exact when ``dt_ms`` is half the step).
- :class:`SinusoidInput`: ``amplitude_k cos(2 pi f t + phase)``, evaluated inside the kernel
  (no memory per time step; used by frequency-response sweeps).

The protocol layer turns fields in V/m into these (``stimsim.units.field_to_input``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import check_finite, check_positive


@dataclass(frozen=True)
class SampledInput:
    """Input sampled on a regular grid.

    Parameters
    ----------
    values : array_like, shape (n_samples,) or (n_samples, P)
        Input of each population (model units) at t = i * dt_ms. A 1-D array is one population.
    dt_ms : float
        Sample spacing, ms; must be a whole multiple of half the integration step.
    """

    values: np.ndarray
    dt_ms: float

    def __post_init__(self):
        v = np.asarray(self.values, dtype=float)
        if v.ndim == 1:
            v = v[:, None]
        if v.ndim != 2 or v.shape[0] < 2:
            raise ValueError(f"input values must have shape (n_samples >= 2, n_populations), got {np.shape(self.values)}")
        if not np.all(np.isfinite(v)):
            bad = int(np.argmax(~np.isfinite(v).all(axis=1)))
            raise ValueError(f"input values must be finite; sample {bad} is {v[bad].tolist()}")
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "dt_ms", check_positive("input dt_ms", self.dt_ms, "ms"))

    @property
    def duration_ms(self):
        return (self.values.shape[0] - 1) * self.dt_ms


@dataclass(frozen=True)
class SinusoidInput:
    """``amplitude[k] * cos(2 pi freq_hz t / 1000 + phase_rad)`` for population k (t in ms).

    Parameters
    ----------
    amplitude : float or array_like (P,)
        Zero-to-peak amplitude per population, model input units.
    freq_hz : float
        Frequency, Hz (>= 0).
    phase_rad : float
        Phase at t = 0, rad.
    """

    amplitude: np.ndarray
    freq_hz: float
    phase_rad: float = 0.0

    def __post_init__(self):
        a = np.atleast_1d(np.asarray(self.amplitude, dtype=float))
        if a.ndim != 1 or not np.all(np.isfinite(a)):
            raise ValueError(f"sinusoid amplitude must be a finite scalar or 1-D array, got {self.amplitude!r}")
        object.__setattr__(self, "amplitude", a)
        f = check_finite("sinusoid freq_hz", self.freq_hz)
        if f < 0:
            raise ValueError(f"sinusoid freq_hz must be >= 0 Hz, got {self.freq_hz!r}")
        object.__setattr__(self, "freq_hz", f)
        object.__setattr__(self, "phase_rad", check_finite("sinusoid phase_rad", self.phase_rad))


def split_input(inp):
    """(SampledInput or None, SinusoidInput or None) from whatever ``simulate`` was given."""
    if inp is None:
        return None, None
    if isinstance(inp, (SampledInput, SinusoidInput)):
        parts = [inp]
    elif isinstance(inp, (list, tuple)) and inp and all(isinstance(p, (SampledInput, SinusoidInput)) for p in inp):
        parts = list(inp)
    else:
        raise ValueError(
            "input must be None, a SampledInput, a SinusoidInput or a list of them "
            f"(at most one of each), got {type(inp).__name__}")
    sampled = [p for p in parts if isinstance(p, SampledInput)]
    sines = [p for p in parts if isinstance(p, SinusoidInput)]
    if len(sampled) > 1 or len(sines) > 1:
        raise ValueError("input may hold at most one SampledInput and one SinusoidInput; sum sampled inputs first")
    return (sampled[0] if sampled else None), (sines[0] if sines else None)
