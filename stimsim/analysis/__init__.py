"""Analysis layer: lock-in, spectra, linear and simulated frequency response, resonance, entrainment.

Private modules (``_lockin``, ``_spectra``, ...) behind this flat namespace; the analysis layer only
computes (tables in and out), it reads no files and validates no protocol.

Equations: models.md M7, M8; methods and their sources: ``docs/analysis.md``. Public
entry points: :func:`frequency_response` and :func:`entrainment` (tidy pandas tables),
:func:`resonance_summary`, :func:`tongue_width`, and the building blocks :func:`lockin`,
:func:`welch_psd`, :func:`dominant_frequency`, :func:`band_power`, :func:`state_space`.
Runs that become non-finite are flagged ``diverged`` in the tables, left out of the summaries and
counted in one :class:`DivergenceWarning`.
"""
from ._settings import DivergenceWarning, Drive, EntrainmentGrid, LockingCriterion, LockinGrid, Readout
from ._entrainment import entrainment, tongue_width
from ._linear import StateSpace, state_space, transfer_function
from ._lockin import LockinResult, lockin, lockin_full, lockin_many
from ._resonance import resonance_summary, resonance_summary_curve
from ._response import frequency_response
from ._spectra import band_power, dominant_frequency, welch_psd
from ._studies import run_study

__all__ = ["DivergenceWarning", "Drive", "EntrainmentGrid", "LockingCriterion", "LockinGrid", "Readout", "entrainment", "tongue_width", "StateSpace", "state_space", "transfer_function",
           "LockinResult", "lockin", "lockin_full", "lockin_many", "resonance_summary",
           "resonance_summary_curve", "frequency_response", "band_power", "dominant_frequency",
           "welch_psd", "run_study"]
