"""The validated circuit protocol: :class:`Protocol`, built by :func:`stimsim.protocol.schema.load_dict`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import models as _models
from ..coupling import FieldCoupling
from ..units import field_to_input
from . import waveforms as wf


@dataclass(frozen=True)
class Protocol:
    """A validated stimulation protocol (built only by :func:`load_protocol` / :func:`load_dict`).

    Contract (used by the runner and by ``stimsim.analysis._studies``):

    Attributes
    ----------
    name : str
        Protocol name (folder-safe); results go to ``results/<name>/<run-id>/``.
    source : pathlib.Path or None
        File the protocol came from (None when built from a dict).
    description : str
    preset : str
        Preset name (``stimsim.PRESETS``).
    overrides : dict
        Preset overrides as in the file (population parameter -> number or {population: number};
        ``J`` -> number, matrix or {post: {pre: number}}).
    circuit : stimsim.Circuit
        The preset with the overrides applied.
    models : tuple of str
        Registered model names run side by side: ``"nmm2"``, ``"nmm1"``, ``"network"`` (the spiking
        QIF network, models.md M1).
    duration_ms, dt_ms, transient_ms : float
        Simulated time, integration step and the initial part discarded from the analysis (and
        from the time-series output unless ``output.include_transient``), ms.
    record_every : int
        Keep every n-th step.
    integrator : {'rk4', 'heun'}
    initial : {'fixed_point', 'synapses_at_rest'}
        Start on the lowest-rate fixed point (s = r*), or with synapses at rest and (r, v) on the
        uncoupled frozen-input fixed point (``stimsim.simulate`` default).
    coupling : stimsim.coupling.FieldCoupling
        Polarization lengths (mm) and voltage scales (mV per model unit) per population (M6).
        Used when ``drive_unit == "field"``; the default coupling otherwise.
    drive_unit : {'field', 'current'}
        Unit of every waveform amplitude: V/m ("field", coupled by lambda E / scale) or model
        input units ("current", added to the input I(t) as is, as in the paper's figures).
    input_populations : tuple of str
        Populations that receive the drive (all by default; the others get 0).
    input_gains : ndarray (P,)
        Model input units per drive unit, per population (``coupling.gains`` x mask for "field",
        the 0/1 mask for "current").
    waveforms : tuple of stimsim.protocol.waveforms.Waveform
        Summed to give the drive (empty: no stimulation).
    waveform_dt_ms : float
        Spacing of the precomputed drive samples (a whole multiple of dt/2; default dt/2, which
        makes the drive exact at every RK4 stage), ms.
    device : dict
        Optional device settings used only for safety notes: ``current_ma``, ``session_min``.
    drive_frequency_hz : float or None
        Frequency of the lock-in and PSD columns of the summary (explicit, or the first
        periodic waveform's rhythm: sine/oscillating DC frequency, AM modulation, TI difference,
        pulse rate); ``drive_phase_rad`` is that rhythm's phase relative to cos(2 pi f t).
    welch_segment_ms : float
        Welch segment length for the summary PSD, ms.
    variables, files : tuple of str
        Time-series columns and output files to write (metadata.json is always written).
    include_transient : bool
    study : stimsim.protocol.study.StudySpec or None
        The validated ``[study]`` table (:func:`stimsim.protocol.study.validate_study`), already
        checked against the circuit and the run; run by ``stimsim.analysis._studies.run_study``.
    resolved : dict
        The fully resolved protocol (every default filled in, noise seeds drawn, CSV paths
        absolute with their SHA-256); loading it again gives the same protocol and numbers.
    neurons : int
        Neurons per population of the spiking network (``run.neurons``; used when ``models``
        includes ``"network"``).
    seed : int or None
        Seed of the spiking network (``run.seed``; drawn and recorded in ``resolved`` when absent),
        None without the network.
    sweep : (TaskSpec, Design, chunk_size) or None
        The validated ``[sweep]`` table (:func:`stimsim.protocol.sweep_table.validate_sweep`); run by
        ``stimsim sweep``.
    """

    name: str
    source: Path | None
    description: str
    preset: str
    overrides: dict
    circuit: object
    models: tuple
    duration_ms: float
    dt_ms: float
    transient_ms: float
    record_every: int
    integrator: str
    initial: str
    coupling: FieldCoupling
    drive_unit: str
    input_populations: tuple
    waveforms: tuple
    waveform_dt_ms: float
    device: dict
    drive_frequency_hz: float | None
    drive_phase_rad: float
    welch_segment_ms: float
    variables: tuple
    files: tuple
    include_transient: bool
    study: object
    resolved: dict = field(repr=False)
    neurons: int = 10_000
    seed: int | None = None
    sweep: object = None

    def model_options(self, model, progress=None):
        """Options of ``stimsim.simulate`` for ``model`` (the network's neurons, seed, progress; none
        for the mean-field models)."""
        m = _models.get(model)
        opts = {"neurons": self.neurons, "seed": self.seed, "progress": progress}
        return {k: v for k, v in opts.items() if k in m.options}

    @property
    def input_gains(self):
        """(P,) model input units per drive unit (models.md M6 for fields)."""
        mask = np.array([1.0 if n in self.input_populations else 0.0 for n in self.circuit.names])
        if self.drive_unit == "field":
            # lambda * (1 V/m) / scale: the input per V/m (models.md M6)
            return field_to_input(1.0, self.coupling.lambdas_mm(self.circuit) * mask,
                                  self.coupling.scales_mv(self.circuit))
        return mask

    @property
    def has_timeseries(self):
        """A time-series run happens when there is stimulation, or when there is no study."""
        return bool(self.waveforms) or (self.study is None and self.sweep is None)

    @property
    def drive_label(self):
        return "field_v_per_m" if self.drive_unit == "field" else "drive_model_units"

    def drive_grid(self):
        """(t_ms, drive) sampled every ``waveform_dt_ms`` over the whole run (drive units)."""
        n_steps = int(round(self.duration_ms / self.dt_ms))
        stride = int(round(self.waveform_dt_ms / (0.5 * self.dt_ms)))
        n = -(-2 * n_steps // stride) + 1              # samples the kernel needs (covers the run)
        t = np.arange(n) * self.waveform_dt_ms
        return t, wf.total(self.waveforms, t)

    def seeds(self):
        """{key path: seed} of every noise waveform."""
        out = {f"stimulation.waveforms[{i}].seed": w.seed for i, w in enumerate(self.waveforms)
               if isinstance(w, wf.Noise)}
        if self.seed is not None:
            out["run.seed"] = self.seed               # the spiking network's
        return out
