"""stimsim: response of exact (NMM2) and heuristic (NMM1) QIF neural mass models to weak fields.

Equations: ``docs/models.md``. Units: time ms, rates and frequencies Hz at the interface (kHz
inside the equations), fields V/m, polarization lengths mm.

>>> import stimsim
>>> c = stimsim.preset("pyramidal")
>>> round(float(stimsim.fixed_points(c).rate_hz.iloc[0]), 2)
46.18
"""
from . import dynamics, models
from .circuit import Circuit, Population
from .drive import SampledInput, SinusoidInput
from .dynamics import find_fixed_points, fixed_points, linearize
from .errors import InputError, SimulationDiverged
from .presets import PRESETS, preset
from .result import BatchResult, SimulationResult
from ._simulate import simulate, simulate_batch, warmup
from .analysis import entrainment, frequency_response  # noqa: E402  (after simulate: no cycle)

__version__ = "0.1.0"

__all__ = ["Circuit", "Population", "SampledInput", "SinusoidInput", "InputError", "SimulationDiverged",
           "dynamics", "models", "find_fixed_points", "fixed_points", "linearize", "PRESETS", "preset",
           "BatchResult", "SimulationResult", "simulate", "simulate_batch", "warmup",
           "frequency_response", "entrainment", "__version__"]
