"""Run a validated protocol: drive waveform -> kernels -> trajectories -> tables -> files.

Data flow (one way): :class:`~stimsim.protocol.validated.Protocol` -> :func:`drive_input` (the
summed waveforms sampled once with numpy, times the per-population input gains of models.md M6)
-> :func:`simulate_models` (``stimsim.simulate``, one run per model) -> :func:`timeseries_table`
and :func:`summary_table` (``stimsim.analysis`` lock-in, Welch PSD, dominant frequency) ->
:func:`write_run` (``stimsim.io`` staged folder: an interrupted run leaves nothing behind).
"""
from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import models as _models
from ..drive import SampledInput
from ..errors import InputError, SimulationDiverged
from .._simulate import simulate
from .circuit_table import circuit_key
from .figures import timeseries_figure
from .reader import ProtocolError
# the analysed series' stride follows from the [run] table (the memory estimate uses it too)
from .run_table import ANALYSIS_MAX_STEP_MS, analysis_stride  # noqa: F401  (ANALYSIS_MAX_STEP_MS: documented name)
from .safety import peak_abs, safety_notes

#: units of every column the protocol layer writes
COLUMN_UNITS = {
    "time_ms": "ms",
    "model": "registered model name (stimsim.models): nmm2 exact mean field (models.md M2), nmm1 heuristic (M4), "
             "network spiking QIF network (M1)",
    "population": "population name",
    "rate_hz": "Hz (population firing rate)",
    "v": "QIF units (mean membrane voltage; mV input x for sigmoid populations)",
    "s_hz": "Hz (synaptic activation s)",
    "z_hz": "Hz (tau_s ds/dt)",
    "field_v_per_m": "V/m (applied field E(t), summed waveforms)",
    "drive_model_units": "model input units (drive given directly, unit = 'current')",
    "stim_input": "model input units (input term the population receives: lambda E / scale, M6, or the current)",
    "mean_rate_hz": "Hz, mean over the analysed window",
    "min_rate_hz": "Hz", "max_rate_hz": "Hz",
    "dominant_frequency_hz": "Hz, largest spectral peak above 0.5 Hz (Hann periodogram)",
    "drive_frequency_hz": "Hz, frequency of the stimulation rhythm analysed",
    "psd_at_drive_hz2_per_hz": "Hz^2/Hz, Welch PSD of the rate at the drive frequency (Welch 1967)",
    "response_amplitude_hz": "Hz, zero-to-peak rate amplitude at the drive frequency (least-squares lock-in, docs/analysis.md)",
    "response_phase_rad": "rad in (-pi, pi], rate phase minus the drive rhythm's phase (both relative to cos)",
    "window_start_ms": "ms", "window_stop_ms": "ms",
}


@dataclass
class RunReport:
    """What :func:`run_protocol` produced."""

    out_dir: Path | None
    timeseries: pd.DataFrame | None
    summary: pd.DataFrame | None
    notes: list
    metadata: dict
    study_tables: dict = field(default_factory=dict)


# --- drive -----------------------------------------------------------------------------------------
def drive_input(protocol):
    """(t_ms, drive, SampledInput or None): the summed waveform on its grid and the kernel input.

    Population k receives ``input_gains[k] * drive(t)`` (model input units; models.md M6).
    """
    t, drive = protocol.drive_grid()
    if not protocol.waveforms:
        return t, drive, None
    values = drive[:, None] * protocol.input_gains[None, :]
    return t, drive, SampledInput(values, protocol.waveform_dt_ms)


# --- simulation --------------------------------------------------------------------------------------
#: a summary frequency at or above this fraction of the analysis Nyquist frequency is refused
NYQUIST_FRACTION = 0.8
#: largest analysis series a run may record per model, bytes
MAX_ANALYSIS_BYTES = 2 * 2**30


def thinned(protocol, res):
    """``res`` (recorded every analysis stride) thinned to the protocol's ``record_every``."""
    import dataclasses

    stride = res.spec.record_every
    if stride == protocol.record_every:
        return res
    if protocol.record_every % stride:
        raise ValueError(f"a series recorded every {stride} steps cannot be thinned to record_every = "
                         f"{protocol.record_every}")
    spec = dataclasses.replace(res.spec, record_every=protocol.record_every)
    return type(res)(circuit=res.circuit, spec=spec, states=res.states[::protocol.record_every // stride],
                     wall_time_s=res.wall_time_s)


def simulate_models(protocol, inp, log=None):
    """{model: SimulationResult} for every model of the protocol (ProtocolError on divergence).

    Each run records every :func:`analysis_stride` steps (at most ``ANALYSIS_MAX_STEP_MS`` apart)
    for :func:`summary_table`; :func:`timeseries_table` thins it to ``record_every`` (the same
    samples a run recording every ``record_every`` steps gives).
    """
    results = {}
    initial = "fixed_point" if protocol.initial == "fixed_point" else None
    stride = analysis_stride(protocol.dt_ms, protocol.record_every)
    n_rec = int(round(protocol.duration_ms / protocol.dt_ms)) // stride + 1
    for model in protocol.models:
        nbytes = n_rec * _models.get(model).n_recorded * protocol.circuit.n_populations * 8
        if nbytes > MAX_ANALYSIS_BYTES:
            raise ProtocolError(
                f"{protocol.source or protocol.name}: run.duration_ms: the summary analyses the rates every "
                f"{stride * protocol.dt_ms:g} ms, {n_rec:,} samples ({nbytes / 2**30:.1f} GiB, limit "
                f"{MAX_ANALYSIS_BYTES / 2**30:.0f} GiB) for {model}; shorten the run")
        if log:
            log(f"running {model}: {protocol.duration_ms:g} ms, dt {protocol.dt_ms:g} ms ...")
        try:
            results[model] = simulate(protocol.circuit, model=model, duration_ms=protocol.duration_ms,
                                      dt_ms=protocol.dt_ms, input=inp, record_every=stride,
                                      integrator=protocol.integrator, initial=initial,
                                      **protocol.model_options(model, progress=None if log else False))
        except SimulationDiverged as exc:
            raise ProtocolError(f"{protocol.source or protocol.name}: {model} diverged: {exc}") from None
        except InputError as exc:                # no initial state: load_dict checks it; a protocol built otherwise
            raise ProtocolError(f"{protocol.source or protocol.name}: "
                                f"{circuit_key(protocol.overrides, str(exc))}: {exc}") from None
    return results


def analysed_slice(protocol, time_ms):
    """Index slice of the records at or after the transient."""
    i0 = int(np.searchsorted(time_ms, protocol.transient_ms - 1e-9 * max(1.0, protocol.transient_ms)))
    return slice(i0, None)


# --- tables -------------------------------------------------------------------------------------------
def timeseries_table(protocol, results, t_grid, drive):
    """Tidy table: time_ms, model, population, <variables>, field_v_per_m | drive_model_units, stim_input.

    Every ``record_every`` steps (``results`` recorded more densely are thinned, :func:`thinned`).
    """
    frames = []
    gains = protocol.input_gains
    for model, res in results.items():
        res = thinned(protocol, res)
        frame = res.to_frame()
        time_ms = res.time_ms
        # the drive the kernel saw at the recorded times (it interpolates the samples linearly)
        d = np.interp(time_ms, t_grid, drive)
        P = protocol.circuit.n_populations
        frame[protocol.drive_label] = np.tile(d, P)
        frame["stim_input"] = np.concatenate([gains[k] * d for k in range(P)])
        if not protocol.include_transient:
            keep = np.tile(np.arange(time_ms.size) >= analysed_slice(protocol, time_ms).start, P)
            frame = frame[keep]
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    # a model that does not record a requested variable leaves it out (no column of NaN)
    variables = [v for v in protocol.variables if v in table.columns]
    return table[["time_ms", "model", "population", *variables, protocol.drive_label, "stim_input"]]


def summary_table(protocol, results):
    """Per model and population: mean rate, dominant frequency, PSD, amplitude and phase at the drive.

    Computed on the series as recorded in ``results`` (by :func:`simulate_models`: every
    :func:`analysis_stride` steps, at most ``ANALYSIS_MAX_STEP_MS`` apart), whatever ``record_every``
    the CSV is thinned to. A dominant or drive frequency at or above ``NYQUIST_FRACTION`` of that
    series' Nyquist frequency could be aliased: it is refused (ProtocolError), not reported.
    """
    from ..analysis import dominant_frequency, lockin, welch_psd

    rows = []
    f = protocol.drive_frequency_hz
    for model, res in results.items():
        sl = analysed_slice(protocol, res.time_ms)
        t = res.time_ms[sl]
        dt_rec = res.spec.dt_ms * res.spec.record_every
        limit_hz = NYQUIST_FRACTION * 1000.0 / (2.0 * dt_rec)
        for k, pop in enumerate(protocol.circuit.names):
            y = res.rate_hz[sl, k]
            row = dict(model=model, population=pop, mean_rate_hz=float(np.mean(y)),
                       min_rate_hz=float(np.min(y)), max_rate_hz=float(np.max(y)),
                       dominant_frequency_hz=_dominant(y, dt_rec, dominant_frequency),
                       drive_frequency_hz=np.nan if f is None else f,
                       psd_at_drive_hz2_per_hz=np.nan, response_amplitude_hz=np.nan,
                       response_phase_rad=np.nan, window_start_ms=float(t[0]), window_stop_ms=float(t[-1]))
            if f is not None:
                nperseg = min(y.size, max(8, int(round(protocol.welch_segment_ms / dt_rec))))
                freqs, psd = welch_psd(y, dt_rec, nperseg=nperseg)
                amp, phase = lockin(y, dt_rec, f, t0_ms=float(t[0]))
                row.update(psd_at_drive_hz2_per_hz=float(np.interp(f, freqs, psd)),
                           response_amplitude_hz=float(amp),
                           response_phase_rad=float(_wrap(phase - protocol.drive_phase_rad)))
            for name in ("dominant_frequency_hz", "drive_frequency_hz"):
                if row[name] >= limit_hz:
                    raise ProtocolError(
                        f"{protocol.source or protocol.name}: {model} {pop}: {name} = {row[name]:g} Hz is within "
                        f"{100 * (1 - NYQUIST_FRACTION):.0f}% of the Nyquist frequency {1000.0 / (2.0 * dt_rec):g} Hz "
                        f"of the analysed series (every {dt_rec:g} ms) and may be aliased; lower run.dt_ms")
            rows.append(row)
    return pd.DataFrame(rows)


def _dominant(y, dt_ms, dominant_frequency):
    try:
        return float(dominant_frequency(y, dt_ms, fmin_hz=0.5))
    except ValueError:                      # window too short for a 0.5 Hz bin: no answer, not a failure
        return float("nan")


def _wrap(phase_rad):
    """Phase wrapped to (-pi, pi]."""
    return float(np.pi - np.mod(np.pi - phase_rad, 2.0 * np.pi))


# --- the whole run ---------------------------------------------------------------------------------------
def default_out_dir(protocol, run_id):
    return Path("results") / protocol.name / run_id


def run_protocol(protocol, out_dir=None, command=None, progress=False, stream=None, prepare=None):
    """Run a protocol and write its results atomically.

    The output folder is claimed (``stimsim.io.staged_directory``) before anything is computed:
    a folder that cannot be written, or that another stimsim run is writing, is refused at once
    with :class:`~stimsim.errors.InputError`; a failed or interrupted run leaves nothing behind.

    Parameters
    ----------
    protocol : Protocol
    out_dir : path, optional
        Result folder (must not exist or be empty); default ``results/<name>/<run-id>/``.
    command : str, optional
        Command line recorded in the metadata.
    progress : bool
        Print progress lines and safety warnings to ``stream`` (default stderr).
    stream : file, optional
        Where progress lines and warnings go (default stderr).
    prepare : callable, optional
        Called without arguments once the output folder is claimed, before the run (e.g. to
        compile the kernels with a progress note).

    Returns
    -------
    RunReport
        ``out_dir`` is where the files are: ``out_dir`` as given, unless another program filled it
        during the run (then a sibling ``<out_dir>-2``, ..., with a warning on ``stream``).
    """
    from ..io import new_run_id, staged_directory

    stream = stream or sys.stderr
    run_id = new_run_id()
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(protocol, run_id)
    staging = staged_directory(out_dir)
    with staging:                      # claimed before anything runs; removed on any failure
        if prepare is not None:
            prepare()
        report = _run_and_write(protocol, staging, run_id, command, progress, stream)
    if staging.redirected:
        print(f"stimsim: warning: output folder {staging.requested} was filled by another program while "
              f"this run was going; this run's results are in {staging.final_dir}", file=stream)
    report.out_dir = staging.final_dir
    return report


def _run_and_write(protocol, staging, run_id, command, progress, stream):
    """The body of :func:`run_protocol`: compute, then write into the claimed ``staging`` folder."""
    from ..io import environment_info, save_figure, write_csv, write_json
    from ..plots import close

    log = (lambda msg: print(msg, file=stream)) if progress else None
    t_start = time.perf_counter()
    out_dir = staging.final_dir

    t_grid, drive, inp = drive_input(protocol)
    peak = peak_abs(drive)
    notes = safety_notes(protocol, peak)
    for note in notes:
        print(f"stimsim: warning: {note['message']} ({note['source']})", file=stream)

    timeseries = summary = None
    results, walls = {}, {}
    if protocol.has_timeseries:
        results = simulate_models(protocol, inp, log)
        walls = {m: r.wall_time_s for m, r in results.items()}
        timeseries = timeseries_table(protocol, results, t_grid, drive)
        summary = summary_table(protocol, results)

    study_tables, study_figures = {}, {}
    n_diverged = n_study_runs = 0
    if protocol.study is not None:
        from ..analysis import _studies as studies
        from ..analysis._settings import DivergenceWarning

        if log:
            log("running study ...")
        try:
            with warnings.catch_warnings():
                # counted from the tables and reported below as one line (and in metadata.json)
                warnings.simplefilter("ignore", DivergenceWarning)
                study_tables, study_figures = studies.run_study(protocol, progress=progress)
        except SimulationDiverged as exc:
            raise ProtocolError(f"{protocol.source or protocol.name}: study diverged: {exc}") from None
        n_diverged, n_study_runs = studies.diverged_runs(study_tables)
        if n_diverged:
            print(f"stimsim: warning: {n_diverged} of {n_study_runs} study runs diverged (became non-finite); "
                  "their rows are flagged diverged = True and left out of the summaries; reduce dt_ms or the "
                  "amplitudes", file=stream)

    files = {}
    with staging as stage:             # the folder claimed by run_protocol
        if timeseries is not None and "timeseries" in protocol.files:
            write_csv(timeseries, stage / "timeseries.csv")
            files["timeseries.csv"] = {c: COLUMN_UNITS[c] for c in timeseries.columns}
        if summary is not None and "summary" in protocol.files:
            write_csv(summary, stage / "summary.csv")
            files["summary.csv"] = {c: COLUMN_UNITS[c] for c in summary.columns}
        if timeseries is not None and "figure" in protocol.files:
            fig = timeseries_figure(protocol, timeseries)
            save_figure(fig, stage / "timeseries.png")
            close(fig)
            files["timeseries.png"] = "drive and rate of each population and model"
        for stem, table in study_tables.items():
            write_csv(table, stage / f"{stem}.csv")
            files[f"{stem}.csv"] = list(table.columns)
        for stem, fig in study_figures.items():
            save_figure(fig, stage / f"{stem}.png")
            close(fig)
            files[f"{stem}.png"] = "study figure"
        metadata = {
            "run_id": run_id,
            "command": command,
            "protocol_file": str(protocol.source) if protocol.source else None,
            "protocol": protocol.resolved,
            "seeds": protocol.seeds(),
            "drive": {
                "unit": protocol.drive_unit,
                "unit_meaning": "V/m" if protocol.drive_unit == "field" else "model input units",
                "peak_abs": peak,
                "frequency_hz": protocol.drive_frequency_hz,
                "phase_rad": protocol.drive_phase_rad if protocol.drive_frequency_hz else None,
                "waveform_dt_ms": protocol.waveform_dt_ms,
                "interpolation": "linear between samples onto the RK4 stage grid",
                "input_per_drive_unit": dict(zip(protocol.circuit.names, protocol.input_gains.tolist())),
            },
            "coupling": (protocol.coupling.describe(protocol.circuit) if protocol.drive_unit == "field"
                         else {"unit": "current", "populations": list(protocol.input_populations)}),
            "circuit": protocol.circuit.describe().to_dict(orient="records"),
            **notes.metadata(),          # "safety" (device limits) and "realism" (field size, NMM1 vs NMM2)
            "diverged_runs": n_diverged,
            "study_runs": n_study_runs,
            "wall_time_s": {"total": time.perf_counter() - t_start, "kernel": walls},
            # options of models that take them (the spiking network: neurons, seed, V_peak, rate window)
            "model_settings": {m: r.settings for m, r in results.items() if getattr(r, "settings", None)},
            "environment": environment_info(),
            "files": files,
        }
        write_json(metadata, stage / "metadata.json")
    return RunReport(out_dir, timeseries, summary, notes, metadata, study_tables)
