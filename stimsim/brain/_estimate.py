"""Memory and size estimate of a whole-brain run, before anything is allocated.

A whole-brain protocol is checked against this estimate at load time (``_protocol_read``): the
connectome matrices, the delay tables of lane-kernel models, the recordings and their analysis,
the EEG traces, the tables and the drive, from the run's sizes alone. The constants were measured
(peak resident memory above the process after importing and compiling) and err on the high side.
"""
from __future__ import annotations

import numpy as np

from .. import models as _models
from .._simulate import LANES
from ..models._delayed import lane_width
from ._connectome import generated_connectome_bytes
from ._observables import segment_samples

# --- memory estimate of a whole-brain run (estimate_brain_memory); measured peak VmRSS above the
# process after importing and compiling, generated connectome, pyramidal-physiological, cubic history
#: R x R float64 matrices held while a run goes: the connectome's weights and tract lengths, the
#: normalised weights, and the network's own copies of both
CONNECTOME_MATRICES = 5
#: bytes per connection (nonzero weight) of a lane-kernel model's delay tables (sparse rows, delays,
#: ring-buffer offsets, interpolation weights and their temporaries), and per connection and block
#: of lanes (each block keeps its own offsets and weights): measured 320 + 72 per block at
#: R = 1000 (1 and 2 blocks) and R = 2000
DELAY_BYTES_PER_CONNECTION = 330.0
DELAY_BYTES_PER_CONNECTION_BLOCK = 80.0
#: bytes per row of eeg.csv while the EEG traces are built, joined, written and plotted (measured 165:
#: 10 regions, 4000 ms recorded every 0.05 ms, 19 electrodes, 3.0 M rows, peak 647 MB)
EEG_BYTES_PER_ROW = 180.0
#: bytes per row of regional.csv (about 20 columns) and eeg_spectra.csv (7), built and joined
TABLE_BYTES_PER_ROW = 200.0
#: bytes of the figures and everything else that does not grow with the run (measured ~50 MB)
FIXED_BYTES = 100e6


def _blocks(n_sets):
    """Blocks of lanes of a lane-kernel brain run of ``n_sets`` sets (as the engine packs them:
    ``stimsim.models._delayed.lane_width``)."""
    return -(-int(n_sets) // lane_width(int(n_sets), LANES))


def estimate_brain_memory(n_regions, n_connections, carrier, n_sets, n_electrodes, windows=(), n_channels=1,
                          generated=False):
    """Estimated peak memory (bytes) of a whole-brain protocol run, and the rows of its tables.

    Parts (float64 throughout; the constants are module attributes, measured as peak ``VmRSS``
    above the process after importing and compiling):

    * ``connectome``: :data:`CONNECTOME_MATRICES` R x R matrices (weights and tract lengths, the
      normalised weights, the network's copies); a generated connectome needs
      :func:`stimsim.brain._connectome.generated_connectome_bytes` while it is built, and the total
      is at least that.
    * ``delay_tables``: the delay tables of one lane-kernel model's run (models run one after
      another): (:data:`DELAY_BYTES_PER_CONNECTION` + :data:`DELAY_BYTES_PER_CONNECTION_BLOCK` x
      blocks of lanes) per connection (nonzero weight). A model that runs itself (the spiking
      network) checks its own memory (``check_regions``).
    * ``recordings``: every model's recorded states (records x variables x R x populations x
      sets), kept until the tables are built, one more copy of the largest (the kernel's layout
      while it is reordered) and the rates and synaptic activations that are analysed (2 more
      arrays of records x R x populations x sets).
    * ``eeg``: the rows of ``eeg.csv`` (models x sets x electrodes x analysed records) x
      :data:`EEG_BYTES_PER_ROW`.
    * ``tables``: the rows of ``regional.csv`` (models x sets x windows x R) and ``eeg_spectra.csv``
      (models x sets x electrodes x Welch frequencies of each window) x :data:`TABLE_BYTES_PER_ROW`.
    * ``drive``: the montage current of every channel on the waveform grid, with its copies
      (samples x (4 channels + 2) x 8 bytes).
    * ``fixed``: :data:`FIXED_BYTES` (figures, fields, lead field).

    Parameters
    ----------
    n_regions, n_connections : int
        R and the number of nonzero weights.
    carrier : stimsim.protocol.validated.Protocol
        The validated run (models, duration_ms, dt_ms, record_every, transient_ms, waveform_dt_ms,
        the local circuit's populations).
    n_sets : int
        Lanes of each model's batch (2 per value of G: with and without the montage).
    n_electrodes : int
    windows : sequence of (name, start_ms, stop_ms)
    n_channels : int
    generated : bool
        The connectome is generated (its construction peak counts).

    Returns
    -------
    dict
        ``{"memory_bytes": {part: bytes, ..., "total": bytes}, "rows": {file: rows}}``.
    """
    R, P, B, E = float(n_regions), carrier.circuit.n_populations, int(n_sets), int(n_electrodes)
    conns = float(n_connections)
    n_steps = round(carrier.duration_ms / carrier.dt_ms)
    n_rec = n_steps // carrier.record_every + 1
    rec_dt = carrier.dt_ms * carrier.record_every
    n_analysed = n_rec - min(n_rec, max(0, int(np.ceil((carrier.transient_ms - 1e-9) / rec_dt))))
    models = [_models.get(m) for m in carrier.models]
    blocks = _blocks(B)
    width = -(-B // blocks)
    per_set = n_rec * R * P * 8.0
    per_model = [per_set * m.n_recorded * B for m in models]
    recordings = sum(per_model) + max(per_model) * (blocks * width) / B + 2 * per_set * B
    delay = (DELAY_BYTES_PER_CONNECTION + DELAY_BYTES_PER_CONNECTION_BLOCK * blocks) * conns
    delay_tables = delay if any(m.lane_kernel for m in models) else 0.0
    eeg_rows = len(models) * B * E * n_analysed
    regional_rows = len(models) * B * len(windows) * int(n_regions)
    spectra_rows = 0
    for _, lo, hi in windows:
        n_w = int(np.floor((hi + 1e-9) / rec_dt)) - int(np.ceil((lo - 1e-9) / rec_dt)) + 1
        spectra_rows += len(models) * B * E * (segment_samples(n_w, rec_dt) // 2 + 1)
    n_drive = round(carrier.duration_ms / carrier.waveform_dt_ms) + 1
    parts = {"connectome": CONNECTOME_MATRICES * 8.0 * R * R, "delay_tables": delay_tables,
             "recordings": recordings, "eeg": eeg_rows * EEG_BYTES_PER_ROW,
             "tables": (regional_rows + spectra_rows) * TABLE_BYTES_PER_ROW,
             "drive": n_drive * (4 * n_channels + 2) * 8.0, "fixed": FIXED_BYTES}
    total = sum(parts.values())
    if generated:
        total = max(total, generated_connectome_bytes(n_regions))
    parts["total"] = total
    return {"memory_bytes": {k: float(v) for k, v in parts.items()},
            "rows": {"regional.csv": int(regional_rows), "eeg.csv": int(eeg_rows),
                     "eeg_spectra.csv": int(spectra_rows)}}
