"""stimsim: response of exact (NMM2) and heuristic (NMM1) QIF neural mass models to weak fields.

Equations: ``docs/models.md``. Units: time ms, rates and frequencies Hz at the interface (kHz
inside the equations), fields V/m, polarization lengths mm.

>>> import stimsim
>>> c = stimsim.preset("pyramidal")
>>> round(float(stimsim.fixed_points(c).rate_hz.iloc[0]), 2)
46.18

The names below, and every subpackage (``stimsim.brain``, ``stimsim.sweep``, ...), are imported on
first use (PEP 562): ``import stimsim`` loads neither numba nor pandas, so the command line answers
``--help`` and Ctrl-C at once and imports the numerical layers inside its own error handling.
"""
import importlib
import importlib.util

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "Circuit": ".circuit", "Population": ".circuit",
    "SampledInput": ".drive", "SinusoidInput": ".drive",
    "find_fixed_points": ".dynamics", "fixed_points": ".dynamics", "linearize": ".dynamics",
    "InputError": ".errors", "SimulationDiverged": ".errors",
    "PRESETS": ".presets", "preset": ".presets",
    "BatchResult": ".result", "SimulationResult": ".result",
    "simulate": "._simulate", "simulate_batch": "._simulate", "warmup": "._simulate",
    "entrainment": ".analysis", "frequency_response": ".analysis",
}

__all__ = ["Circuit", "Population", "SampledInput", "SinusoidInput", "InputError", "SimulationDiverged",
           "dynamics", "models", "find_fixed_points", "fixed_points", "linearize", "PRESETS", "preset",
           "BatchResult", "SimulationResult", "simulate", "simulate_batch", "warmup",
           "frequency_response", "entrainment", "__version__"]


def __getattr__(name):
    """Import a public name or a subpackage on first access (PEP 562)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
