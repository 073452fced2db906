"""Whole-brain protocol files: ``[network]`` and ``[montage]``; validation, run, files.

Schema (units in key names where they apply)::

    name = "tacs-alpha-occipital"
    description = "..."
    [network]
    connectome = "generated"            # "generated" | a TVB connectivity zip | "tvb-data:connectivity_76"
    regions = 40                        # generated only: number of regions
    seed = 1                            # generated only
    normalise = "max"                   # max | row_sum | none
    local = "pyramidal"                 # preset of the local circuit, or {preset = "...", overrides = {...}}
    G = 0.5                             # global coupling (the units of J); a list runs every value as lanes
    speed_mm_per_ms = 5.0               # conduction speed (mm/ms = m/s)
    sender = "P"                        # population whose synaptic activation is sent (default: the first)
    receivers = ["P"]                   # populations receiving long-range input (default: the sender)
    [montage]
    electrodes = { O1 = 1.0, Cz = -1.0 }  # current of each electrode per unit of the waveforms (mA per mA; sum 0)
    fields = "sphere"                   # concentric-sphere head model, or a CSV region -> V/m per mA
    lambda_mm = 0.12                    # polarization length, mm, in [0, 10]: a number or {population = mm}
                                        # (default per cell type)
    [[montage.waveforms]]               # the montage current in mA: the waveform kinds of [stimulation]
    kind = "sine"
    amplitude = 1.0                     # mA
    frequency_hz = 10.0
    convention = "zero_to_peak"
    # or several channels, each its electrodes and waveforms (temporal interference: two pairs at
    # f and f + df; fields = "sphere" only):
    # [[montage.channels]]   electrodes = {...}   [[montage.channels.waveforms]] ...
    [run]                               # models, duration_ms, dt_ms, transient_ms, record_every, integrator
    [analysis]
    band_hz = [8, 12]                   # band of the band-power columns: finite, 0 <= low < high <= Nyquist of
                                        # the recording (default: drive frequency +- 2 Hz)
    drive_frequency_hz = 10.0           # frequency of the response columns, below the recording's Nyquist
                                        # frequency 1000 / (2 dt_ms record_every) Hz (default: see below)
    eeg_electrodes = ["Fz", "Cz", "Pz", "O1", "O2"]   # simulated EEG: a list of >= 2 distinct 10-20/10-05
                                        # names (average reference; default: the 10-20 set)
    after_stimulation = true            # also analyse the time after the montage current ends (if it does)

The analysed frequency (``analysis.drive_frequency_hz``) defaults to the montage waveform's rhythm
(the first periodic waveform: sine frequency, AM modulation, TI difference, pulse rate). With
several channels: their common rhythm; when the channels' carriers take two frequencies f1 != f2
(temporal interference, e.g. 1000 and 1010 Hz), the envelope frequency |f1 - f2| (10 Hz), not the
first carrier; with more than two it must be given. The run prints it and why, and
``metadata.json`` records both (``analysis.drive_frequency_hz``, ``analysis.drive_frequency_source``).

Before any model runs, the peak memory of the run is estimated
(:func:`stimsim.brain._estimate.estimate_brain_memory`: connectome matrices, delay tables,
recordings, EEG traces, tables, drive) and refused above the memory limit of single runs
(:func:`stimsim.protocol.checks.memory_limit_bytes`); the estimate and the row counts of the tables
are in ``metadata.json`` (``estimate``). The largest regional field must stay at most
``stimsim.brain._fields.MAX_FIELD_V_PER_M`` (1000 V/m, a weak-field model); ``metadata.json`` is
strict JSON (non-finite numbers as null).

The run simulates the network twice in one batch, with the montage and without it (the
stimulus scaled by 1 and by 0), and analyses the window *during* stimulation (from the end of
run.transient_ms, or the current's onset, to the current's end) and, when the current ends
before the run does, the window *after* it. It writes per model, G, condition, window and region
the field, mean rates, the response and phase at the drive frequency (and, for the stimulated
rows, the gain: response per V/m of the region's peak field), the band power and the
entrainment columns (``regional.csv``), the regional map (``response_map.png``), the simulated
EEG: spectra per window (``eeg_spectra.csv``, ``eeg_spectra.png``) and traces (``eeg.csv``,
``eeg.png``), and ``metadata.json``.

The implementation is split by job: reading and validation (:mod:`._protocol_read`), the run and
its files (:mod:`._protocol_run`), the EEG figures (:mod:`._protocol_figures`). The kind of a
protocol file (circuit or whole-brain, with or without ``[sweep]``) is recognised by
:mod:`stimsim.protocol.kinds`.
"""
from ._protocol_read import EEG_10_20, BrainProtocol, analysis_windows, load_brain_protocol
from ._protocol_run import run_brain_protocol

__all__ = ["EEG_10_20", "BrainProtocol", "analysis_windows", "load_brain_protocol", "run_brain_protocol"]
