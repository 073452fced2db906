"""Small settings objects shared by :func:`frequency_response` and :func:`entrainment`.

Each groups the keywords of one concern and checks them when it is made, so a bad value is
reported before anything is compiled or run:

- :class:`Drive`: how the sinusoidal test drive reaches the circuit (unit, field coupling, which
  populations receive it).
- :class:`Readout`: which population and which variable is the output.
- :class:`LockinGrid`: time grid of simulated lock-in runs (frequency response).
- :class:`EntrainmentGrid`: time grid of entrainment runs.
- :class:`LockingCriterion`: when a driven rhythm counts as locked (entrainment).

and :class:`DivergenceWarning`, the warning category of simulated runs that became non-finite.

Examples
--------
>>> from stimsim.analysis import Drive, Readout
>>> Drive(unit="field", populations="P").populations
('P',)
>>> Readout(output="voltage")
Traceback (most recent call last):
...
stimsim.errors.InputError: unknown output 'voltage'; allowed: rate, v
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..coupling import FieldCoupling
from ..errors import check_positive, check_positive_int, unknown_name_error

DRIVE_UNITS = ("field", "current")
#: suffix of drive amplitudes in column names
DRIVE_SUFFIX = {"field": "v_per_m", "current": "unit"}
OUTPUTS = ("rate", "v")
INTEGRATORS = ("rk4", "heun")


@dataclass(frozen=True)
class Drive:
    """How a sinusoidal drive reaches the circuit.

    Parameters
    ----------
    unit : {'current', 'field'}
        'current': the drive is in model input units (QIF units, mV for sigmoid populations) added
        to I(t); 'field': V/m, converted to input by ``coupling`` (models.md M6).
    coupling : FieldCoupling, optional
        For ``unit='field'`` (default ``FieldCoupling()``).
    populations : str or sequence of str, optional
        Populations receiving the drive (default all).
    """

    unit: str = "current"
    coupling: FieldCoupling | None = None
    populations: tuple | None = None

    def __post_init__(self):
        if self.unit not in DRIVE_UNITS:
            raise unknown_name_error("drive unit", self.unit, DRIVE_UNITS)
        if self.coupling is not None and not isinstance(self.coupling, FieldCoupling):
            raise ValueError(f"coupling must be a stimsim FieldCoupling, got {type(self.coupling).__name__}")
        pops = self.populations
        if pops is not None:
            pops = (pops,) if isinstance(pops, str) else tuple(pops)
            if not pops or not all(isinstance(p, str) for p in pops):
                raise ValueError(f"populations must be population names, got {self.populations!r}")
            object.__setattr__(self, "populations", pops)

    @property
    def suffix(self):
        """Unit suffix of amplitude columns: 'v_per_m' (field) or 'unit' (model input units)."""
        return DRIVE_SUFFIX[self.unit]

    def gains(self, circuit):
        """Model input units per drive unit received by each population, (P,).

        'field': ``coupling.gains(circuit)`` (M6); 'current': 1. Populations not in ``populations``
        get 0.
        """
        P = circuit.n_populations
        gains = (self.coupling or FieldCoupling()).gains(circuit) if self.unit == "field" else np.ones(P)
        if self.populations is not None:
            mask = np.zeros(P)
            for name in self.populations:
                mask[circuit.index(name)] = 1.0
            gains = gains * mask
        if not np.any(gains != 0):
            raise ValueError(f"the drive reaches no population (populations={self.populations}, "
                             f"gains {np.asarray(gains).tolist()})")
        return np.asarray(gains, dtype=float)


@dataclass(frozen=True)
class Readout:
    """The output: a population's firing rate (Hz) or its mean-voltage read-out.

    Parameters
    ----------
    population : str, optional
        Output population (default the circuit's first).
    output : {'rate', 'v'}
    """

    population: str | None = None
    output: str = "rate"

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise unknown_name_error("output", self.output, OUTPUTS)
        if self.population is not None and (not isinstance(self.population, str) or not self.population):
            raise ValueError(f"population must be a population name, got {self.population!r}")

    def population_of(self, circuit):
        """The output population's name in ``circuit`` (checked)."""
        name = circuit.names[0] if self.population is None else self.population
        circuit.index(name)
        return name

    def suffix(self, circuit):
        """Unit suffix: 'hz' (rate), 'qif' (QIF mean voltage) or 'mv' (a sigmoid population's input)."""
        if self.output == "rate":
            return "hz"
        return "qif" if circuit.populations[circuit.index(self.population_of(circuit))].is_qif else "mv"


def _check_integrator(integrator):
    if integrator not in INTEGRATORS:
        raise unknown_name_error("integrator", integrator, INTEGRATORS)


def _check_record_every(record_every):
    return None if record_every is None else check_positive_int("record_every", record_every)


@dataclass(frozen=True)
class LockinGrid:
    """Time grid of simulated lock-in runs (all ms).

    Parameters
    ----------
    dt_ms : float
        Integration step.
    settle_ms : float, optional
        Discarded transient; default ``SETTLE_DECAYS / |Re lambda|`` of the least damped mode.
    min_settle_ms : float
        Lower bound of the automatic settle time.
    measure_cycles : float
        Cycles of the lowest frequency in the analysed window (at least ``min_measure_ms``).
    min_measure_ms : float
    record_every : int, optional
        Recording stride; default >= 24 samples per period of the highest frequency.
    integrator : {'rk4', 'heun'}
    """

    dt_ms: float = 0.05
    settle_ms: float | None = None
    min_settle_ms: float = 0.0
    measure_cycles: float = 3.0
    min_measure_ms: float = 200.0
    record_every: int | None = None
    integrator: str = "rk4"

    def __post_init__(self):
        object.__setattr__(self, "dt_ms", check_positive("dt_ms", self.dt_ms, "ms"))
        if self.settle_ms is not None and not (isinstance(self.settle_ms, (int, float)) and self.settle_ms >= 0
                                               and math.isfinite(self.settle_ms)):
            raise ValueError(f"settle_ms must be a finite number >= 0 ms, got {self.settle_ms!r}")
        if not (isinstance(self.min_settle_ms, (int, float)) and 0 <= self.min_settle_ms < math.inf):
            raise ValueError(f"min_settle_ms must be a finite number >= 0 ms, got {self.min_settle_ms!r}")
        check_positive("measure_cycles", self.measure_cycles)
        check_positive("min_measure_ms", self.min_measure_ms, "ms")
        object.__setattr__(self, "record_every", _check_record_every(self.record_every))
        _check_integrator(self.integrator)


@dataclass(frozen=True)
class EntrainmentGrid:
    """Time grid of entrainment runs (all ms).

    Parameters
    ----------
    dt_ms : float
        Integration step.
    settle_ms : float
        Warm-up onto the attractor, and the discarded locking transient of each driven run.
    measure_ms : float
        Analysed window.
    record_every : int, optional
        Default: >= 24 samples per period of the fastest of the drive and the natural rhythm.
    integrator : {'rk4', 'heun'}
    """

    dt_ms: float = 0.05
    settle_ms: float = 500.0
    measure_ms: float = 1000.0
    record_every: int | None = None
    integrator: str = "rk4"

    def __post_init__(self):
        for name in ("dt_ms", "settle_ms", "measure_ms"):
            object.__setattr__(self, name, check_positive(name, getattr(self, name), "ms"))
        object.__setattr__(self, "record_every", _check_record_every(self.record_every))
        _check_integrator(self.integrator)


@dataclass(frozen=True)
class LockingCriterion:
    """When a driven rhythm counts as locked (see ``docs/analysis.md``).

    Parameters
    ----------
    max_denominator : int
        Largest p and q of the p:q ratios considered.
    freq_tol_hz : float, optional
        Largest |mean frequency - p/q f_drive|; default 0.1 / analysed window.
    plv_threshold : float
        Smallest phase-locking value, in (0, 1].
    min_oscillation : float
        Peak-to-peak below this fraction of the mean |output|: not oscillating.
    segment_cycles : float
        Drive cycles per segment of the phase-randomised surrogate.
    n_surrogates : int
        Surrogate draws for the 95th-percentile chance level.
    seed : int
        Seed of the surrogate random numbers, combined with each task's content (model, circuit
        parameters, frequency, amplitude) so that a task's surrogate does not depend on the batch.
    """

    max_denominator: int = 4
    freq_tol_hz: float | None = None
    plv_threshold: float = 0.9
    min_oscillation: float = 0.01
    segment_cycles: float = 5.0
    n_surrogates: int = 200
    seed: int = 0

    def __post_init__(self):
        check_positive_int("max_denominator", self.max_denominator)
        if self.freq_tol_hz is not None:
            check_positive("freq_tol_hz", self.freq_tol_hz, "Hz")
        if not (isinstance(self.plv_threshold, (int, float)) and 0 < self.plv_threshold <= 1):
            raise ValueError(f"plv_threshold must be in (0, 1], got {self.plv_threshold!r}")
        check_positive("min_oscillation", self.min_oscillation)
        check_positive("segment_cycles", self.segment_cycles)
        check_positive_int("n_surrogates", self.n_surrogates)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")


class DivergenceWarning(UserWarning):
    """Simulated runs of an analysis became non-finite (diverged).

    Their rows are kept, flagged ``diverged = True`` (their numbers are not results), and left out
    of every summary (:func:`stimsim.analysis.resonance_summary`, :func:`stimsim.analysis.tongue_width`).
    """


def warn_diverged(n_diverged, n_runs, what, stacklevel=3):
    """Issue one :class:`DivergenceWarning` saying how many of ``n_runs`` runs diverged (if any).

    Parameters
    ----------
    n_diverged, n_runs : int
        Diverged runs and all runs (table rows) of the computation.
    what : str
        The computation, e.g. ``'lock-in'`` or ``'entrainment'``.
    stacklevel : int
        Passed to :func:`warnings.warn` (default: the caller of the public function).
    """
    if n_diverged:
        warnings.warn(f"{n_diverged} of {n_runs} {what} runs diverged (became non-finite); their rows are "
                      "flagged diverged=True and left out of the summaries; reduce dt_ms or the amplitude",
                      DivergenceWarning, stacklevel=stacklevel)


def as_setting(value, cls, name):
    """``value`` if it is a ``cls``, a ``cls`` built from a dict, or the default for None."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        try:
            return cls(**value)
        except TypeError as exc:
            raise ValueError(f"{name}: {exc}") from None
    raise ValueError(f"{name} must be a {cls.__name__} (or a dict of its fields), got {type(value).__name__}")
