"""Analysis layer: lock-in, spectra, linear and simulated frequency response, resonance, entrainment.

Equations: models.md M7, M8; methods: stimulation-notes §3; see ``docs/analysis.md``. Public
entry points: :func:`frequency_response` and :func:`entrainment` (tidy pandas tables),
:func:`resonance_summary`, :func:`tongue_width`, and the building blocks :func:`lockin`,
:func:`welch_psd`, :func:`dominant_frequency`, :func:`band_power`, :func:`state_space`.
"""
from .entrainment import entrainment, tongue_width
from .linear import StateSpace, state_space, transfer_function
from .lockin import LockinResult, lockin, lockin_full, lockin_many
from .resonance import resonance_summary, resonance_summary_curve
from .response import frequency_response
from .spectra import band_power, dominant_frequency, welch_psd

__all__ = ["entrainment", "tongue_width", "StateSpace", "state_space", "transfer_function",
           "LockinResult", "lockin", "lockin_full", "lockin_many", "resonance_summary",
           "resonance_summary_curve", "frequency_response", "band_power", "dominant_frequency",
           "welch_psd"]
