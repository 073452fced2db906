"""Checks of a whole circuit protocol before it runs: the initial states and the peak memory.

Called by :func:`stimsim.protocol.schema.load_dict` once every table is read (a problem is one
:class:`~stimsim.protocol.reader.ProtocolError` line naming the key to change).
"""
from __future__ import annotations

import os

from .. import models as _models
from .._simulate import checked_initial_state
from .circuit_table import circuit_key
from .reader import ProtocolError
from .run_table import analysis_stride


def check_initial_states(protocol, label):
    """The state each model starts from exists and is finite (``run.initial``), before anything runs."""
    initial = "fixed_point" if protocol.initial == "fixed_point" else None
    for model in protocol.models:
        try:
            checked_initial_state(_models.get(model), protocol.circuit, initial)
        except ValueError as exc:
            why = ("run.initial = \"fixed_point\" starts the run there" if initial else
                   "run.initial = \"synapses_at_rest\" starts at the uncoupled rates")
            raise ProtocolError(f"{label}: {circuit_key(protocol.overrides, str(exc))}: {exc} ({why})") from None


#: peak memory a run may use, bytes; None: ``MEMORY_FRACTION`` of the machine's physical memory
MAX_MEMORY_BYTES = None
MEMORY_FRACTION = 0.5
#: bytes per time-series table row taken by the figure (seaborn and matplotlib copies of the
#: points drawn); calibrated, see :func:`estimate_memory`
FIGURE_BYTES_PER_ROW = 120.0


def memory_limit_bytes():
    """The memory a run may use: ``MAX_MEMORY_BYTES``, or ``MEMORY_FRACTION`` x physical memory."""
    if MAX_MEMORY_BYTES is not None:
        return float(MAX_MEMORY_BYTES)
    try:
        return MEMORY_FRACTION * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):       # not POSIX: a fixed cap
        return 8.0 * 2**30


def estimate_memory(protocol):
    """Estimated peak memory (bytes) of a protocol's time-series run beyond the loaded libraries.

    Parts (float64 throughout):

    * ``drive``: the drive grid, the summed waveform and its temporaries, and the (samples, P)
      kernel input, at ``waveform_dt_ms`` over the run: samples x (P + 5) x 8.
    * ``states``: the recorded states of every model (recorded every
      ``stimsim.protocol.run_table.analysis_stride`` steps and kept until the tables are built, plus
      one copy while the kernel output is reordered), counted twice: the summary's spectral and
      lock-in analysis of the same series needs about as much again.
    * ``table``: the tidy time-series table, rows = CSV records x populations x models, one
      8-byte cell per column (time, model, population, variables, drive, input); the larger of
      2 copies (while the per-model frames are built, filtered and joined) and 1.5 copies plus the
      figure (``FIGURE_BYTES_PER_ROW`` per row, when the figure is written). The CSV is streamed in
      chunks (``stimsim.io.write_csv``) and adds little.

    Calibration (peak ``VmRSS`` sampled every 10 ms minus that of the process after importing and
    compiling, 274 MB): PING (2 populations, both models), dt 0.01 ms, record_every 1, 4000 ms:
    0.4 M records per model, 1.6 M table rows (9 columns): measured 513 MB (drive 30, simulation
    50, table 219 at its build peak and 160 after, summary 80, figure 184), estimated 537 MB. A
    pyramidal run (1 population, both models, 20000 ms, dt 0.01 ms, record_every 2: 1 M records per
    model, 2 M rows): measured 753 MB, estimated 801 MB. Before the CSV was streamed, the
    text and its UTF-8 copy (about 270 bytes per row) came on top; the PING run peaked at 1043 MB
    (``ru_maxrss``).

    Parameters
    ----------
    protocol : Protocol

    Returns
    -------
    dict
        ``drive``, ``states``, ``table`` and ``total``, bytes.
    """
    P = protocol.circuit.n_populations
    n_steps = int(round(protocol.duration_ms / protocol.dt_ms))
    drive = 0.0
    if protocol.waveforms:
        stride = int(round(protocol.waveform_dt_ms / (0.5 * protocol.dt_ms)))
        n_drive = -(-2 * n_steps // stride) + 1
        drive = n_drive * 8.0 * (P + 5)
    a_stride = analysis_stride(protocol.dt_ms, protocol.record_every)
    n_csv = n_steps // protocol.record_every + 1
    if not protocol.include_transient:
        n_csv -= min(n_csv - 1, int(protocol.transient_ms / (protocol.dt_ms * protocol.record_every)))
    per_model = [(n_steps // a_stride + 1) * _models.get(m).n_recorded * P * 8.0 for m in protocol.models]
    states = 2.0 * (sum(per_model) + max(per_model))
    rows = n_csv * P * len(protocol.models)
    n_cols = 3 + len(protocol.variables) + 2
    one = rows * n_cols * 8.0
    figure = rows * FIGURE_BYTES_PER_ROW if "figure" in protocol.files else 0.0
    table = max(2.0 * one, 1.5 * one + figure)
    return {"drive": drive, "states": states, "table": table, "total": drive + states + table}


def check_memory(protocol, label="protocol"):
    """Refuse, before anything runs, a run whose estimated peak memory exceeds :func:`memory_limit_bytes`."""
    est = estimate_memory(protocol)
    limit = memory_limit_bytes()
    if est["total"] <= limit:
        return
    gib = 2.0**30
    which = (f"{MEMORY_FRACTION:.0%} of this machine's {limit / MEMORY_FRACTION / gib:.0f} GiB"
             if MAX_MEMORY_BYTES is None else "stimsim.protocol.checks.MAX_MEMORY_BYTES")
    raise ProtocolError(
        f"{label}: run.record_every: the run would need about {est['total'] / gib:.1f} GiB of memory at its peak "
        f"(recorded states and their analysis {est['states'] / gib:.1f} GiB, time-series table and figure "
        f"{est['table'] / gib:.1f} GiB, drive "
        f"{est['drive'] / gib:.1f} GiB), more than {limit / gib:.1f} GiB ({which}); raise run.record_every "
        f"(now {protocol.record_every}) or shorten run.duration_ms (now {protocol.duration_ms:g} ms)")
