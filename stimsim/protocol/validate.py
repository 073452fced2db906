"""``stimsim validate PROTOCOL [--neurons N] [--seeds K]``: the spiking network beside NMM2 and NMM1.

NMM2 is exact for an infinite network of QIF neurons (Montbrió, Pazó & Roxin, Phys. Rev. X 5,
021028, 2015; models.md M1, M2); NMM1 is a heuristic (M4). This command runs a protocol's time
series (its drive, or none) under the spiking network (``seeds`` networks of ``neurons`` neurons
per population, seeds ``run.seed``, ``run.seed + 1``, ...), NMM2 and NMM1, and writes the
comparison into one folder, all or nothing (``stimsim.io.staged_directory``):

* ``timeseries.csv``: rate of every model; for the network the mean over seeds and the band
  mean -/+ 1.96 SD over seeds (the spread of one network of N neurons: its finite-size noise);
* ``summary.csv``: per model and population the time-averaged rate, dominant frequency,
  amplitude and phase of the rate at the drive frequency (periodic drives), its 1:1
  phase-locking value with the drive, and the correlation and RMS error of r(t) against the
  network (the mean over seeds); network figures are means over seeds with their SD
  (``*_sd``), and the network's own correlation and RMS error are those of each seed against
  the mean of the other seeds (the floor set by finite-size noise);
* ``network_seeds.csv``: the same figures for every network seed;
* ``raster.csv``: spike times of the raster subset of the first seed;
* ``validation.png``, ``metadata.json``.

Conventions: the analysed window starts at ``run.transient_ms``; rates are analysed every
:func:`stimsim.protocol.run_table.analysis_stride` steps (<= 0.5 ms). The network's rate at a sample
counts the spikes in a window of that length centred on it (models.md M1); the mean-field rates
are instantaneous. A window w attenuates a rhythm at f by sin(pi f w)/(pi f w) (< 1 % below
130 Hz for w = 0.5 ms).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import models as _models
from ..errors import InputError, SimulationDiverged, check_positive_int
from ..units import MS_PER_S
from . import kinds

DEFAULT_SEEDS = 3
#: the rate and raster panels of the figure show at most the last this many ms
FIGURE_WINDOW_MS = 500.0
#: band of the network rate: mean -/+ this many SD over seeds
BAND_SD = 1.96
#: line colour of the ground truth (grey, drawn on top) and, in registration order, of the others
REFERENCE_COLOR = "0.2"
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")

COLUMNS = {
    "time_ms": "ms",
    "model": "network (spiking QIF network, models.md M1), nmm2 (exact mean field, M2), nmm1 (heuristic, M4)",
    "population": "population name",
    "rate_hz": "Hz; network: mean over seeds of the spikes per neuron in a window centred on the sample",
    "rate_lo_hz": "Hz, network rate mean - 1.96 SD over seeds (NaN for the mean fields)",
    "rate_hi_hz": "Hz, network rate mean + 1.96 SD over seeds (NaN for the mean fields)",
    "seed": "network seed (NaN for the mean-field models)",
    "n_runs": "runs averaged (seeds for the network, 1 for the mean fields)",
    "mean_rate_hz": "Hz, mean over the analysed window",
    "dominant_frequency_hz": "Hz, largest spectral peak above 0.5 Hz (Hann periodogram)",
    "drive_frequency_hz": "Hz, frequency of the stimulation rhythm analysed",
    "response_amplitude_hz": "Hz, zero-to-peak rate amplitude at the drive frequency (least-squares lock-in)",
    "response_phase_rad": "rad in (-pi, pi], rate phase minus the drive rhythm's phase (both relative to cos)",
    "plv_drive": "1:1 phase-locking value of the rate (Hilbert phase, band-passed at the drive frequency) "
                 "with the drive, 0..1",
    "corr_vs_network": "Pearson correlation of r(t) with the network's (mean over seeds; for network rows: "
                       "each seed against the mean of the others)",
    "rms_error_vs_network_hz": "Hz, RMS of r(t) minus the network's (as for corr_vs_network)",
    "window_start_ms": "ms", "window_stop_ms": "ms",
    "neuron": "neuron index in its population, sorted by excitability eta",
    "eta": "excitability eta_j of the neuron, QIF units",
}
METRICS = ("mean_rate_hz", "dominant_frequency_hz", "response_amplitude_hz", "response_phase_rad", "plv_drive",
           "corr_vs_network", "rms_error_vs_network_hz")


# --- command line ------------------------------------------------------------------------------------
def add_subcommand(sub):
    """Add ``validate`` to the ``stimsim`` argparse subparsers."""
    p = sub.add_parser(
        "validate", help="run a protocol under the spiking QIF network, NMM2 and NMM1 and compare them",
        description="Run the time series of a protocol (protocols/README.md) under the spiking network "
                    "(models.md M1; --seeds networks of --neurons neurons per population), NMM2 and NMM1, and "
                    "write timeseries.csv, summary.csv, network_seeds.csv, raster.csv, validation.png and "
                    "metadata.json into results/<name>/validate-<run id>/ (a [study] of the protocol is not run).")
    p.add_argument("protocol", help="protocol .toml file, or metadata.json of an earlier run")
    p.add_argument("--neurons", help="neurons per population (default: run.neurons of the protocol, else 10000)")
    p.add_argument("--seeds", default=str(DEFAULT_SEEDS),
                   help=f"networks run with seeds run.seed, run.seed + 1, ... (default {DEFAULT_SEEDS})")
    p.add_argument("--seed", help="first network seed (default: run.seed of the protocol, else drawn and recorded)")
    p.add_argument("--out", help="output folder (default results/<name>/validate-<run id>); must not exist or be empty")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a protocol value before validation (TOML value syntax)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args):
    from ..io import check_output_dir, new_run_id

    seeds = _seeds_arg(args.seeds)
    protocol = validation_protocol(args.protocol, sets=args.set, neurons=args.neurons, seed=args.seed)
    out = Path(args.out) if args.out else Path("results") / protocol.name / f"validate-{new_run_id()}"
    check_output_dir(out)
    report = run_validation(protocol, seeds=seeds, out_dir=out, command="stimsim " + " ".join(sys.argv[1:]),
                            progress=not args.quiet)
    if not args.quiet:
        cols = ["model", "population", "mean_rate_hz", "dominant_frequency_hz", "response_amplitude_hz",
                "corr_vs_network", "rms_error_vs_network_hz"]
        with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 4):
            print(report["summary"][cols].to_string(index=False))
    print(f"wrote {report['out_dir']}/ ({', '.join(report['files'])})")
    return 0


def _seeds_arg(value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError(f"--seeds must be an integer >= 1, got {value!r}") from None
    return check_positive_int("--seeds", number)


# --- protocol ---------------------------------------------------------------------------------------
def validation_models(circuit):
    """(reference, others): the ground-truth model the others are compared with, and the registered
    models without ``ground_truth`` that describe ``circuit`` (registration order).

    Raises
    ------
    InputError
        When no registered model is a ground truth, or none of the others describes the circuit.
    """
    truth = [m for m in _models.available() if _models.get(m).ground_truth]
    if not truth:
        raise InputError("no registered model is a ground truth (models.get(name).ground_truth); nothing to "
                         "validate against")
    others = [m for m in _models.available() if not _models.get(m).ground_truth
              and _models.get(m).supports(circuit) is None]
    if not others:
        raise InputError(f"no model besides the ground truth describes preset {circuit.name!r}")
    return truth[0], others


def _split_models(models):
    """(reference, others) of a validation protocol's ``run.models`` (the ground truth first)."""
    truth = [m for m in models if _models.get(m).ground_truth]
    return (truth[0] if truth else None), [m for m in models if not _models.get(m).ground_truth]


def validation_protocol(path, sets=(), neurons=None, seed=None):
    """The protocol of ``path`` (with ``--set`` overrides) run as network, NMM2 and NMM1, without its [study].

    ``neurons`` and ``seed`` (strings or numbers, TOML syntax) replace ``run.neurons`` and
    ``run.seed``; they are validated by the protocol schema (``ProtocolError`` naming
    ``run.neurons`` ...), as is the circuit (the network needs QIF populations).
    """
    import copy

    from .schema import ProtocolError, load_dict, load_protocol

    sets = list(sets or [])
    kinds.check_kind(path, "validate", sets)
    original = load_protocol(path, sets=sets)
    data = copy.deepcopy(original.resolved)
    data.pop("study", None)
    run = data["run"]
    reference, others = validation_models(original.circuit)
    run["models"] = [reference, *others]
    for key, value in (("neurons", neurons), ("seed", seed)):
        if value is None:
            continue
        if isinstance(value, str):
            import tomllib

            try:
                value = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                raise ProtocolError(f"{path}: run.{key}: must be an integer, got {value!r}") from None
        run[key] = value
    return load_dict(data, source=path)


# --- analysis --------------------------------------------------------------------------------------------
def _plv(y, dt_ms, t0_ms, freq_hz, phase_rad):
    """1:1 phase-locking value of y's Hilbert phase (band-passed at freq_hz) with cos(2 pi f t + phase)."""
    from ..analysis._entrainment import EDGE_FRACTION, output_phase

    if np.ptp(y) <= 0:
        return float("nan")
    phi = output_phase(y, dt_ms, freq_hz)
    n = y.size
    e = int(EDGE_FRACTION * n)
    t = t0_ms + np.arange(n) * dt_ms
    drive = 2.0 * np.pi * freq_hz * t / MS_PER_S + phase_rad
    sl = slice(e, n - e)
    return float(abs(np.mean(np.exp(1j * (phi[sl] - drive[sl])))))


def series_metrics(protocol, y, dt_ms, t0_ms):
    """Mean rate, dominant frequency, lock-in amplitude/phase and PLV at the drive of one rate series (Hz)."""
    from ..analysis import dominant_frequency, lockin
    from .runner import _dominant, _wrap

    f = protocol.drive_frequency_hz
    row = dict(mean_rate_hz=float(np.mean(y)), dominant_frequency_hz=_dominant(y, dt_ms, dominant_frequency),
               drive_frequency_hz=np.nan if f is None else f, response_amplitude_hz=np.nan,
               response_phase_rad=np.nan, plv_drive=np.nan)
    if f is not None:
        amp, phase = lockin(y, dt_ms, f, t0_ms=t0_ms)
        row.update(response_amplitude_hz=float(amp), response_phase_rad=_wrap(phase - protocol.drive_phase_rad),
                   plv_drive=_plv(y, dt_ms, t0_ms, f, protocol.drive_phase_rad))
    return row


def _compare(y, ref):
    """(Pearson correlation, RMS difference) of two series; correlation NaN for a constant series."""
    d = float(np.sqrt(np.mean((y - ref) ** 2)))
    if np.std(y) == 0 or np.std(ref) == 0:
        return float("nan"), d
    return float(np.corrcoef(y, ref)[0, 1]), d


def compare(protocol, mean_field, networks):
    """Summary and per-seed tables from the runs (rates recorded every analysis stride).

    Parameters
    ----------
    protocol : Protocol
    mean_field : dict {model name: SimulationResult}
    networks : list of (seed, SimulationResult)

    Returns
    -------
    summary, per_seed : pandas.DataFrame
    """
    from .runner import analysed_slice

    reference, _ = _split_models(protocol.models)
    res0 = networks[0][1]
    sl = analysed_slice(protocol, res0.time_ms)
    t = res0.time_ms[sl]
    dt_rec = res0.spec.dt_ms * res0.spec.record_every
    rows, seed_rows = [], []
    for k, pop in enumerate(protocol.circuit.names):
        Y = np.stack([r.rate_hz[sl, k] for _, r in networks])          # (K, n_t)
        ref = Y.mean(axis=0)
        window = dict(window_start_ms=float(t[0]), window_stop_ms=float(t[-1]))
        per = []
        for i, (seed, _) in enumerate(networks):
            m = series_metrics(protocol, Y[i], dt_rec, float(t[0]))
            if len(networks) > 1:
                others = np.delete(Y, i, axis=0).mean(axis=0)
                m["corr_vs_network"], m["rms_error_vs_network_hz"] = _compare(Y[i], others)
            else:
                m["corr_vs_network"], m["rms_error_vs_network_hz"] = np.nan, np.nan
            per.append(m)
            seed_rows.append(dict(model=reference, seed=seed, population=pop, **m, **window))
        table = pd.DataFrame(per)
        row = dict(model=reference, population=pop, n_runs=len(networks))
        for name in METRICS:
            vals = table[name].to_numpy(dtype=float)
            if name == "response_phase_rad":            # circular mean of the phases
                row[name] = float(np.angle(np.nanmean(np.exp(1j * vals))))
                row[name + "_sd"] = float(np.sqrt(-2.0 * np.log(max(abs(np.nanmean(np.exp(1j * vals))), 1e-300))))\
                    if len(vals) > 1 else np.nan
            else:
                row[name] = float(np.nanmean(vals)) if np.any(np.isfinite(vals)) else np.nan
                row[name + "_sd"] = float(np.nanstd(vals, ddof=1)) if np.sum(np.isfinite(vals)) > 1 else np.nan
        row["drive_frequency_hz"] = table["drive_frequency_hz"].iloc[0]
        rows.append(dict(row, **window))
        for name, res in mean_field.items():
            y = res.rate_hz[sl, k]
            m = series_metrics(protocol, y, dt_rec, float(t[0]))
            m["corr_vs_network"], m["rms_error_vs_network_hz"] = _compare(y, ref)
            rows.append(dict(model=name, population=pop, n_runs=1, **m, **{f"{x}_sd": np.nan for x in METRICS},
                             **window))
    summary = pd.DataFrame(rows)
    order = ["model", "population", "n_runs", "drive_frequency_hz"]
    cols = order + [c for x in METRICS for c in (x, x + "_sd")] + ["window_start_ms", "window_stop_ms"]
    per_seed = pd.DataFrame(seed_rows)
    return summary[cols], per_seed[["model", "seed", "population", "drive_frequency_hz", *METRICS,
                                    "window_start_ms", "window_stop_ms"]]


def timeseries(protocol, mean_field, networks, t_grid, drive):
    """Tidy rate table every ``run.record_every`` steps: the network's mean and band, NMM2, NMM1, the drive."""
    from .runner import analysed_slice, thinned

    reference, _ = _split_models(protocol.models)
    frames = []
    gains = protocol.input_gains
    net = [thinned(protocol, r) for _, r in networks]
    time_ms = net[0].time_ms
    keep = np.arange(time_ms.size) >= (0 if protocol.include_transient else analysed_slice(protocol, time_ms).start)
    d = np.interp(time_ms, t_grid, drive)
    Y = np.stack([r.rate_hz for r in net])                   # (K, n_t, P)
    mean = Y.mean(axis=0)
    sd = Y.std(axis=0, ddof=1) if len(net) > 1 else np.full_like(mean, np.nan)
    curves = [(reference, mean, mean - BAND_SD * sd, mean + BAND_SD * sd)]
    for name, res in mean_field.items():
        r = thinned(protocol, res).rate_hz
        curves.append((name, r, np.full_like(r, np.nan), np.full_like(r, np.nan)))
    for name, r, lo, hi in curves:
        for k, pop in enumerate(protocol.circuit.names):
            frames.append(pd.DataFrame({
                "time_ms": time_ms[keep], "model": name, "population": pop, "rate_hz": r[keep, k],
                "rate_lo_hz": lo[keep, k], "rate_hi_hz": hi[keep, k], protocol.drive_label: d[keep],
                "stim_input": gains[k] * d[keep]}))
    return pd.concat(frames, ignore_index=True)


# --- figure ----------------------------------------------------------------------------------------------
def validation_figure(protocol, table, raster, neurons, n_seeds):
    """Drive (if any), the rate of each population (network band and mean, NMM2, NMM1), the raster.

    The rate and raster panels show the last ``FIGURE_WINDOW_MS`` of ``table``.
    """
    from ..plots import subplots, theme

    reference, others = _split_models(protocol.models)
    colors = {reference: REFERENCE_COLOR, **{m: COLORS[i % len(COLORS)] for i, m in enumerate(others)}}
    with theme("whitegrid"):
        pops = list(protocol.circuit.names)
        has_drive = bool(protocol.waveforms)
        n_rows = len(pops) + 1 + has_drive
        fig, axes = subplots(n_rows, 1, figsize=(9, 2.3 * n_rows), sharex=True)
        axes = axes[:, 0]
        t_end = float(table["time_ms"].max())
        t_start = max(float(table["time_ms"].min()), t_end - FIGURE_WINDOW_MS)
        shown = table[table["time_ms"] >= t_start]
        i = 0
        if has_drive:
            first = shown[(shown["model"] == reference) & (shown["population"] == pops[0])]
            axes[0].plot(first["time_ms"], first[protocol.drive_label], color="0.25", linewidth=0.8)
            axes[0].set_ylabel("field (V/m)" if protocol.drive_unit == "field" else "drive (model units)")
            i = 1
        for pop in pops:
            ax = axes[i]
            i += 1
            for name in [*reversed(others), reference]:        # the ground truth on top
                sub = shown[(shown["model"] == name) & (shown["population"] == pop)]
                if name == reference and np.any(np.isfinite(sub["rate_lo_hz"])):
                    ax.fill_between(sub["time_ms"], sub["rate_lo_hz"], sub["rate_hi_hz"], color=colors[name],
                                    alpha=0.25, linewidth=0, label=f"{name} ±{BAND_SD:g} SD ({n_seeds} seeds)")
                ax.plot(sub["time_ms"], sub["rate_hz"], color=colors[name], linewidth=0.9,
                        label=f"{name} (N = {neurons:,}, mean)" if name == reference else name)
            ax.set_ylabel(f"rate {pop} (Hz)")
            ax.legend(loc="upper right", fontsize="x-small", ncol=2)
        ax = axes[i]
        sp = raster[raster["time_ms"] >= t_start]
        for j, pop in enumerate(pops):
            s = sp[sp["population"] == pop]
            ax.scatter(s["time_ms"], s["neuron"] + j * neurons * 1.05, s=1.5, marker="|", linewidths=0.6,
                       color=f"C{j}", label=pop)
        ax.set_ylabel("neuron (by eta)")
        ax.set_title("raster of the first seed (evenly spaced in excitability)", fontsize="small")
        axes[-1].set_xlabel("time (ms)")
        axes[0].set_title(f"{protocol.name}: {protocol.circuit.name}, "
                          + " vs ".join([reference] + [m.upper() for m in others]))
        fig.tight_layout()
    return fig


# --- the run ------------------------------------------------------------------------------------------------
def run_validation(protocol, seeds=DEFAULT_SEEDS, out_dir=None, command=None, progress=True, stream=None):
    """Run ``protocol`` (built by :func:`validation_protocol`) under the three models and write the comparison.

    The output folder is claimed before anything is computed and filled all or nothing.

    Parameters
    ----------
    protocol : Protocol
        With ``models`` network, nmm2 and nmm1 and ``neurons``, ``seed``.
    seeds : int
        Networks run with seeds ``protocol.seed + i``, i < seeds.
    out_dir : path, optional
        Default ``results/<name>/validate-<run id>``.
    command : str, optional
        Recorded in the metadata.
    progress : bool
        tqdm progress bars (runs; steps of each network run).
    stream : file, optional
        Where warnings go (default stderr).

    Returns
    -------
    dict
        ``out_dir``, ``summary``, ``per_seed``, ``timeseries``, ``raster``, ``metadata``, ``files``.
    """
    from tqdm.auto import tqdm

    from .._simulate import simulate
    from ..io import environment_info, new_run_id, save_figure, staged_directory, write_csv, write_json
    from ..plots import close
    from .runner import analysis_stride, drive_input
    from .safety import peak_abs, safety_notes
    from .schema import ProtocolError

    seeds = check_positive_int("seeds", seeds)
    reference, others = _split_models(protocol.models)
    if reference is None or not others or protocol.seed is None:
        expected = list(validation_models(protocol.circuit))
        expected = [expected[0], *expected[1]]
        raise InputError(f"the protocol must run {expected} with a network seed (build it with "
                         f"validation_protocol), got run.models = {list(protocol.models)}")
    stream = stream or sys.stderr
    run_id = new_run_id()
    out_dir = Path(out_dir) if out_dir is not None else Path("results") / protocol.name / f"validate-{run_id}"
    staging = staged_directory(out_dir)
    t_start = time.perf_counter()
    with staging as stage:
        t_grid, drive, inp = drive_input(protocol)
        peak = peak_abs(drive)
        notes = safety_notes(protocol, peak)
        for note in notes:
            print(f"stimsim: warning: {note['message']} ({note['source']})", file=stream)
        stride = analysis_stride(protocol.dt_ms, protocol.record_every)
        initial = "fixed_point" if protocol.initial == "fixed_point" else None
        common = dict(duration_ms=protocol.duration_ms, dt_ms=protocol.dt_ms, input=inp, record_every=stride,
                      integrator=protocol.integrator, initial=initial)
        runs = [(reference, protocol.seed + i) for i in range(seeds)] + [(m, None) for m in others]
        mean_field, networks, walls = {}, [], {}
        bar = tqdm(runs, desc="validate", unit="run", disable=not progress, leave=False)
        try:
            for name, seed in bar:
                bar.set_postfix_str(name if seed is None else f"{name} seed {seed}")
                try:
                    if seed is None:
                        res = simulate(protocol.circuit, model=name, **common)
                        mean_field[name] = res
                        walls[name] = res.wall_time_s
                    else:
                        # windows that tile the analysed series: r(t) unsmoothed beyond the analysis step
                        res = simulate(protocol.circuit, model=name, neurons=protocol.neurons,
                                       seed=seed % 2**63, progress=None if progress else False,
                                       rate_window_ms=stride * protocol.dt_ms, **common)
                        networks.append((seed % 2**63, res))
                        walls[f"{name} seed {seed % 2**63}"] = res.wall_time_s
                except SimulationDiverged as exc:
                    raise ProtocolError(f"{protocol.source or protocol.name}: {name} diverged: {exc}") from None
        finally:
            bar.close()
        summary, per_seed = compare(protocol, mean_field, networks)
        table = timeseries(protocol, mean_field, networks, t_grid, drive)
        raster = networks[0][1].spikes
        fig = validation_figure(protocol, table, raster, protocol.neurons, seeds)
        files = {}
        write_csv(table, stage / "timeseries.csv")
        files["timeseries.csv"] = {c: COLUMNS.get(c, _drive_unit(protocol, c)) for c in table.columns}
        write_csv(summary, stage / "summary.csv")
        files["summary.csv"] = {c: COLUMNS.get(c, COLUMNS.get(c[:-3], "") + " (SD over network seeds)")
                                for c in summary.columns}
        write_csv(per_seed, stage / "network_seeds.csv")
        files["network_seeds.csv"] = {c: COLUMNS[c] for c in per_seed.columns}
        write_csv(raster, stage / "raster.csv")
        files["raster.csv"] = {c: COLUMNS[c] for c in raster.columns}
        save_figure(fig, stage / "validation.png")
        close(fig)
        files["validation.png"] = ("drive; rate of each population: network mean and band (mean -/+ 1.96 SD over "
                                   "seeds), NMM2, NMM1; raster of the first seed")
        metadata = {
            "run_id": run_id,
            "command": command,
            "protocol_file": str(protocol.source) if protocol.source else None,
            "protocol": protocol.resolved,
            "network": {"neurons_per_population": protocol.neurons,
                        "seeds": [s for s, _ in networks],
                        "settings": networks[0][1].settings,
                        "band": f"mean -/+ {BAND_SD:g} SD over seeds"},
            "seeds": protocol.seeds(),
            "drive": {"unit": protocol.drive_unit, "peak_abs": peak, "frequency_hz": protocol.drive_frequency_hz,
                      "phase_rad": protocol.drive_phase_rad if protocol.drive_frequency_hz else None},
            "analysis": {"window_start_ms": float(summary["window_start_ms"].iloc[0]),
                         "analysis_step_ms": stride * protocol.dt_ms,
                         "network_rate_window_ms": networks[0][1].settings["rate_window_ms"],
                         "reference": "network: mean over seeds"},
            "circuit": protocol.circuit.describe().to_dict(orient="records"),
            **notes.metadata(),
            "wall_time_s": {"total": time.perf_counter() - t_start, "kernel": walls},
            "environment": environment_info(),
            "files": files,
        }
        write_json(metadata, stage / "metadata.json")
        files["metadata.json"] = "this file"
    return dict(out_dir=staging.final_dir, summary=summary, per_seed=per_seed, timeseries=table, raster=raster,
                metadata=metadata, files=list(files))


def _drive_unit(protocol, column):
    if column == protocol.drive_label:
        return "V/m (applied field E(t))" if protocol.drive_unit == "field" else "model input units (drive)"
    if column == "stim_input":
        return "model input units (input term each population receives)"
    return ""
