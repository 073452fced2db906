"""Protocol layer: stimulation waveforms in physical units, protocol files, ``stimsim run``.

Protocol file (TOML, schema in ``protocols/README.md``) -> :func:`load_protocol` (validated
:class:`Protocol`) -> :func:`run_protocol` (drive waveform, kernels, tables, files).
"""
from .runner import RunReport, run_protocol
from .schema import Protocol, ProtocolError, load_dict, load_protocol
from .waveforms import KINDS as WAVEFORM_KINDS

__all__ = ["Protocol", "ProtocolError", "RunReport", "WAVEFORM_KINDS", "load_dict", "load_protocol",
           "run_protocol"]
