"""stimsim: response of exact (NMM2) and heuristic (NMM1) QIF neural mass models to weak fields.

Equations: ``docs/models.md``. Units: time ms, rates and frequencies Hz at the interface (kHz
inside the equations), fields V/m, polarization lengths mm.
"""
from .circuit import Circuit, Population
from .drive import SampledInput, SinusoidInput
from .errors import SimulationDiverged
from .fixed_points import fixed_points
from .presets import PRESETS, preset
from .result import BatchResult, SimulationResult
from .simulate import simulate, simulate_batch, warmup
from .analysis import entrainment, frequency_response  # noqa: E402  (after simulate: no cycle)

__version__ = "0.1.0"

__all__ = ["Circuit", "Population", "SampledInput", "SinusoidInput", "SimulationDiverged",
           "fixed_points", "PRESETS", "preset", "BatchResult", "SimulationResult", "simulate",
           "simulate_batch", "warmup", "frequency_response", "entrainment", "__version__"]
