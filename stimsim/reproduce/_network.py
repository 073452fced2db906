"""Part e: the spiking QIF network beside NMM2 and NMM1 (docs/paper-reproduction.md, part e).

NMM2 is the exact mean field of an infinite network of quadratic integrate-and-fire neurons with
Lorentzian excitabilities (Montbrió, Pazó & Roxin, Phys. Rev. X 5, 021028, 2015; docs/models.md
M1, M2), here with the second-order synapse of Clusella et al. (Biol. Cybern. 117, 5-19, 2023);
NMM1 is a heuristic (M4). So a finite network (``model="network"``, N = 10 000 neurons) must
behave as NMM2, and differ from NMM1 where NMM2 does (M7.1, M7.2), for the paper's two populations:

- ``interneurons`` at I = 30, inside NMM2's oscillation range (part a): the network oscillates at
  the frequency of NMM2's limit cycle at I = 30 (from the cycle branch of
  :func:`stimsim.continuation.bifurcation_diagram`, by shooting; an NMM2 simulation beside it),
  while NMM1 relaxes to its fixed point (models.md M4, M7.1);
- ``pyramidal``, undriven: the network's stationary (asynchronous) rate is the fixed point r*
  (:func:`stimsim.find_fixed_points`);
- ``pyramidal`` under a weak sinusoidal current at NMM2's resonance peak (linear response,
  models.md M8, refined by :func:`stimsim.analysis.resonance_summary`): the amplitude of the
  network's rate at the drive frequency (lock-in, :func:`stimsim.analysis.lockin`) is NMM2's, and
  far from NMM1's (M7.2).

Every case is run under NMM2 and NMM1 (RK4) and under the network for several seeds (the seed
sets the neurons' initial phases, so the seeds give the finite-size spread), all with dt = 0.01 ms
and the network's default V_peak = 100 (as tests/test_network.py). Each series is analysed after a
transient, on the rate sampled every 0.1 ms; the network's rate counts spikes in a centred
0.5 ms window w (it attenuates a rhythm at f by sin(pi f w) / (pi f w): 0.1 % at 47 Hz, 0.7 % at
129 Hz; models.md M1).

Files: ``timeseries.csv``, ``summary.csv``, ``network_seeds.csv``, ``timeseries.png`` (and
``claims.csv``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._common import Claim, PartResult, write_figure, write_table

PAPER = "Clusella et al. 2023 (Biol. Cybern. 117, 5-19)"
MPR = "Montbrió et al. 2015 (Phys. Rev. X 5, 021028)"

#: neurons per population of the network
NEURONS = 10_000
#: network seeds (full resolution, quick)
SEEDS = (1, 2, 3, 4, 5)
QUICK_SEEDS = (1, 2)
#: integration step, ms: the step of the network tests (tests/test_network.py); the network keeps
#: its default V_peak = 100 (refractory half-time tau_m / V_peak = 0.075 ms for interneurons,
#: 7.5 steps)
DT_MS = 0.01
#: samples every RECORD_EVERY steps (0.1 ms); the network counts its rate in a centred window
RECORD_EVERY = 10
RATE_WINDOW_MS = 0.5
#: run length and transient left out of the analysis, ms (full resolution, quick)
DURATION_MS, TRANSIENT_MS = 2000.0, 300.0
QUICK_DURATION_MS, QUICK_TRANSIENT_MS = 1000.0, 200.0
#: constant input of the interneurons: inside NMM2's oscillation range (Hopf points at I = 5.32
#: and 76.70, part a)
I_OSC = 30.0
#: zero-to-peak amplitude of the drive of the pyramidal population, QIF units (weak: NMM2 answers
#: linearly to better than 1 %, claim e4)
DRIVE_AMPLITUDE = 0.2
#: frequency grid of NMM2's linear response on which the resonance peak is found, Hz
PEAK_GRID_HZ = (0.5, 150.0, 0.5)
#: dominant frequency: peak of the Hann periodogram (zero-padded; stimsim.analysis.dominant_frequency)
#: above FMIN_HZ, refined by a parabola through the log power; NaN when it lies within one frequency
#: resolution (1 / window) of FMIN_HZ (no resolved peak, e.g. a monotone relaxation)
FMIN_HZ = 5.0
#: harmonics fitted by the lock-in (a limit cycle's rate is far from a pure tone)
N_HARMONICS = 3
#: tolerances of the claims (relative)
FREQ_RTOL, RATE_RTOL, AMP_RTOL = 0.03, 0.03, 0.10
#: the network's response must exceed NMM1's by more than this factor (models.md M1, tests/test_network.py)
NMM1_FACTOR = 3.0
#: NMM1 "relaxes": peak-to-peak and distance from r* below this fraction of r*
RELAX_RTOL = 1e-6
#: the network "oscillates" with at least this fraction of NMM2's amplitude at the rhythm
OSC_FRACTION = 0.5
#: the figure shows the last this many ms of every case
FIGURE_WINDOW_MS = 150.0
#: timeseries.csv keeps every THIN-th sample (0.2 ms)
THIN = 2

MODELS = ("network", "nmm2", "nmm1")
#: (preset, case, description)
CASES = (
    ("interneurons", "oscillation", f"constant input I = {I_OSC:g}, from synapses at rest"),
    ("pyramidal", "stationary", "no drive, from synapses at rest"),
    ("pyramidal", "driven", f"sinusoidal current of {DRIVE_AMPLITUDE:g} QIF units at NMM2's resonance peak, "
                            "from the fixed point"),
)

_MODEL = "network (spiking QIF network, N neurons, models.md M1), nmm2 (exact mean field, M2) or nmm1 (heuristic, M4)"
_CASE = ("oscillation (interneurons at I = 30), stationary (pyramidal, no drive) or driven (pyramidal, weak "
         "sinusoidal current at NMM2's resonance peak)")
SERIES_COLUMNS = {
    "preset": "stimsim preset (interneurons or pyramidal)",
    "case": _CASE,
    "model": _MODEL,
    "seed": "network seed of the series shown (the first one); NaN for the mean fields",
    "time_ms": "time, ms (every 0.2 ms)",
    "rate_hz": "firing rate, Hz; network: spikes per neuron in a centred 0.5 ms window",
}
METRIC_COLUMNS = {
    "mean_rate_hz": "mean rate over the analysed window, Hz",
    "peak_to_peak_hz": "largest minus smallest rate over the analysed window, Hz",
    "dominant_frequency_hz": "largest peak of the Hann periodogram above 5 Hz (zero-padded, parabolic refinement), "
                             "Hz; NaN for a constant rate or without a resolved peak (within 1 / window of 5 Hz); "
                             "for the undriven network: a peak of its finite-size fluctuations",
    "rhythm_amplitude_hz": "zero-to-peak amplitude of the rate at its dominant frequency, Hz (lock-in with 3 "
                           "harmonics; oscillation case only, NaN elsewhere)",
    "response_amplitude_hz": "zero-to-peak amplitude of the rate at the drive frequency, Hz (lock-in, 3 harmonics; "
                             "driven case only)",
    "response_phase_rad": "phase of the rate at the drive frequency minus the drive's, rad in (-pi, pi] (both "
                          "relative to cos; driven case only)",
}
SUMMARY_COLUMNS = {
    "preset": SERIES_COLUMNS["preset"],
    "case": _CASE,
    "model": _MODEL,
    "neurons": "neurons of the network (NaN for the mean fields)",
    "n_runs": "runs summarised: network seeds, 1 for a mean field",
    "window_start_ms": "start of the analysed window, ms", "window_stop_ms": "end of the analysed window, ms",
    "drive_frequency_hz": "frequency of the drive, Hz (NaN without drive)",
    **{c: d + ("; network: mean over seeds" if c != "response_phase_rad" else "; network: circular mean over seeds")
       for c, d in METRIC_COLUMNS.items()},
    **{f"{c}_sd": f"standard deviation over network seeds of {c} (finite-size spread; circular SD for the phase), "
                  f"same unit; NaN for the mean fields" for c in METRIC_COLUMNS},
    "fixed_point_rate_hz": "rate r* at the fixed point of the mean field (stimsim.find_fixed_points), Hz",
    "cycle_frequency_hz": "frequency of NMM2's limit cycle at I = 30 (continuation, cycle branch interpolated), Hz; "
                          "NaN for other cases",
    "linear_response_amplitude_hz": "drive amplitude x small-signal gain |H(f)| of this mean field at the drive "
                                    "frequency (models.md M8), Hz; NaN for the network and undriven cases",
}
SEED_COLUMNS = {
    "preset": SERIES_COLUMNS["preset"], "case": _CASE, "seed": "network seed",
    "neurons": "neurons of the network", **METRIC_COLUMNS,
}


# --- measurements ----------------------------------------------------------------------------------------
def _wrap(phase):
    return float(np.pi - np.mod(np.pi - phase, 2.0 * np.pi))


def _metrics(y, dt_ms, t0_ms, case, drive_hz):
    """The METRIC_COLUMNS of one rate series (Hz) sampled every dt_ms from t0_ms."""
    from stimsim.analysis import dominant_frequency, lockin

    row = dict(mean_rate_hz=float(np.mean(y)), peak_to_peak_hz=float(np.ptp(y)), dominant_frequency_hz=math.nan,
               rhythm_amplitude_hz=math.nan, response_amplitude_hz=math.nan, response_phase_rad=math.nan)
    if np.ptp(y) > 0:
        f = float(dominant_frequency(y, dt_ms, fmin_hz=FMIN_HZ))
        row["dominant_frequency_hz"] = f if f > FMIN_HZ + 1000.0 / (y.size * dt_ms) else math.nan
    f = row["dominant_frequency_hz"]
    if case == "oscillation" and np.isfinite(f):
        row["rhythm_amplitude_hz"] = float(lockin(y, dt_ms, f, t0_ms=t0_ms, n_harmonics=N_HARMONICS)[0])
    if drive_hz is not None:
        amp, phase = lockin(y, dt_ms, drive_hz, t0_ms=t0_ms, n_harmonics=N_HARMONICS)
        row.update(response_amplitude_hz=float(amp), response_phase_rad=_wrap(phase))
    return row


def _summarise(rows):
    """Mean and SD over network seeds of the per-seed metrics (circular for the phase)."""
    table = pd.DataFrame(rows)
    out = {}
    for c in METRIC_COLUMNS:
        vals = table[c].to_numpy(dtype=float)
        finite = vals[np.isfinite(vals)]
        if c == "response_phase_rad":
            if finite.size:
                z = np.mean(np.exp(1j * finite))
                out[c] = float(np.angle(z))
                out[c + "_sd"] = float(math.sqrt(-2.0 * math.log(max(abs(z), 1e-300)))) if finite.size > 1 else math.nan
            else:
                out[c], out[c + "_sd"] = math.nan, math.nan
            continue
        out[c] = float(finite.mean()) if finite.size else math.nan
        out[c + "_sd"] = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return out


def resonance_peak_hz(circuit):
    """NMM2's resonance peak (Hz) and both models' small-signal gains there (Hz per QIF unit)."""
    import stimsim
    from stimsim.analysis import resonance_summary

    lo, hi, step = PEAK_GRID_HZ
    freqs = np.arange(lo, hi + step / 2, step)
    table = stimsim.frequency_response(circuit, model="nmm2", freqs_hz=freqs, method="linear")
    peak = float(resonance_summary(table)["peak_freq_hz"].iloc[0])
    at = stimsim.frequency_response(circuit, model=("nmm2", "nmm1"), freqs_hz=[peak], method="linear")
    gains = dict(zip(at["model"], at["gain_hz_per_unit"].astype(float)))
    return peak, gains


def cycle_frequency_hz(circuit, I):
    """Frequency (Hz) of NMM2's limit cycle at constant input I: the cycle branch (continuation in I
    from the Hopf points, shooting; docs/continuation.md) interpolated at I by the cubic through its
    four orbits nearest to I (the orbits are ~2.5 apart in I; linear interpolation of the period
    would be off by 0.06 % at I = 30)."""
    from stimsim.continuation import bifurcation_diagram

    d = bifurcation_diagram(circuit, "nmm2", "I", (-20.0, 100.0), cycles=True)
    cy = d.limit_cycles()
    cy = cy[cy["cycle_branch"] == cy["cycle_branch"].iloc[0]] if len(cy) else cy
    if len(cy) < 4 or not cy["parameter_value"].min() <= I <= cy["parameter_value"].max():
        return math.nan
    p, period = cy["parameter_value"].to_numpy(), cy["period_ms"].to_numpy()
    near = np.argsort(np.abs(p - I))[:4]
    return 1000.0 / float(np.polyval(np.polyfit(p[near] - I, period[near], 3), 0.0))


# --- the part -------------------------------------------------------------------------------------------
def run(out_dir, progress, quick=False):
    """Compute, check and write part e into ``out_dir``.

    Parameters
    ----------
    out_dir : pathlib.Path
    progress : stimsim.reproduce._common.Progress
    quick : bool
        Fewer network seeds (2 instead of 5) and shorter runs (1000 ms instead of 2000 ms); the
        networks keep N = 10 000 neurons (the claims are about that network).

    Returns
    -------
    PartResult
    """
    import stimsim
    from stimsim.models._network import DEFAULT_V_PEAK
    from stimsim.plots import timeseries_figure

    seeds = QUICK_SEEDS if quick else SEEDS
    duration, transient = (QUICK_DURATION_MS, QUICK_TRANSIENT_MS) if quick else (DURATION_MS, TRANSIENT_MS)
    circuits = {"interneurons": stimsim.preset("interneurons").replace(I=I_OSC), "pyramidal": stimsim.preset("pyramidal")}
    r_star = {}
    for name, c in circuits.items():
        rates = stimsim.find_fixed_points(c)
        if len(rates) != 1:
            raise RuntimeError(f"{name}: expected one fixed point, found {len(rates)}")
        r_star[name] = 1000.0 * float(rates[0, 0])

    progress.log(f"  references: NMM2 limit cycle at I = {I_OSC:g} (continuation), NMM2 resonance peak (linear response)")
    f_cycle = cycle_frequency_hz(circuits["interneurons"], I_OSC)
    f_drive, gains = resonance_peak_hz(circuits["pyramidal"])

    dt_rec = DT_MS * RECORD_EVERY
    kw = dict(duration_ms=duration, dt_ms=DT_MS, record_every=RECORD_EVERY)
    runs = [(case, model, seed) for case in CASES for model, seed in
            [("network", s) for s in seeds] + [("nmm2", None), ("nmm1", None)]]
    progress.log(f"  {len(CASES)} cases: {len(seeds)} networks of {NEURONS:,} neurons each, NMM2 and NMM1, "
                 f"{duration:g} ms at dt = {DT_MS:g} ms")
    series, seed_rows, per_model, walls = [], [], {}, {}
    for (preset, case, _), model, seed in progress.steps(runs, desc="network, nmm2, nmm1"):
        drive = stimsim.SinusoidInput(DRIVE_AMPLITUDE, f_drive) if case == "driven" else None
        initial = "fixed_point" if case == "driven" else None
        extra = dict(neurons=NEURONS, seed=seed, rate_window_ms=RATE_WINDOW_MS, progress=False) if seed is not None else {}
        res = stimsim.simulate(circuits[preset], model, input=drive, initial=initial, **kw, **extra)
        walls[f"{preset} {case} {model}" + (f" seed {seed}" if seed is not None else "")] = res.wall_time_s
        t, r = res.time_ms, res.rate_hz[:, 0]
        late = t >= transient
        m = _metrics(r[late], dt_rec, float(t[late][0]), case, f_drive if drive else None)
        per_model.setdefault((preset, case, model), []).append(m)
        if seed is not None:
            seed_rows.append(dict(preset=preset, case=case, seed=seed, neurons=NEURONS, **m))
        if seed is None or seed == seeds[0]:
            keep = slice(None, None, THIN)
            series.append(pd.DataFrame({"preset": preset, "case": case, "model": model,
                                        "seed": math.nan if seed is None else float(seed), "time_ms": t[keep],
                                        "rate_hz": r[keep]}))
    window = dict(window_start_ms=transient, window_stop_ms=duration)
    rows = []
    for preset, case, _ in CASES:
        for model in MODELS:
            ms = per_model[(preset, case, model)]
            stats = _summarise(ms) if model == "network" else {**ms[0], **{f"{c}_sd": math.nan for c in METRIC_COLUMNS}}
            linear = DRIVE_AMPLITUDE * gains[model] if case == "driven" and model != "network" else math.nan
            rows.append(dict(preset=preset, case=case, model=model,
                             neurons=NEURONS if model == "network" else math.nan, n_runs=len(ms), **window,
                             drive_frequency_hz=f_drive if case == "driven" else math.nan,
                             **{c: stats[c] for c in METRIC_COLUMNS}, **{f"{c}_sd": stats[f"{c}_sd"] for c in METRIC_COLUMNS},
                             fixed_point_rate_hz=r_star[preset],
                             cycle_frequency_hz=f_cycle if case == "oscillation" else math.nan,
                             linear_response_amplitude_hz=linear))
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    per_seed = pd.DataFrame(seed_rows, columns=list(SEED_COLUMNS))
    series = pd.concat(series, ignore_index=True)

    claims = _claims(summary, per_seed, seeds)
    files = {}
    write_table(out_dir, "timeseries.csv", series, SERIES_COLUMNS, files)
    write_table(out_dir, "summary.csv", summary, SUMMARY_COLUMNS, files)
    write_table(out_dir, "network_seeds.csv", per_seed, SEED_COLUMNS, files)
    shown = series[series["time_ms"] >= duration - FIGURE_WINDOW_MS]
    labels = {"oscillation": "interneurons", "stationary": "pyramidal", "driven": "pyr. driven"}   # y labels
    panels = shown.assign(population=shown["case"].map(labels))
    write_figure(out_dir, "timeseries.png",
                 timeseries_figure(panels, f"network (N = {NEURONS:,}, seed {seeds[0]}), NMM2, NMM1: interneurons at "
                                           f"I = {I_OSC:g}; pyramidal undriven; pyramidal, {DRIVE_AMPLITUDE:g} at "
                                           f"{f_drive:.1f} Hz"),
                 f"rate against time over the last {FIGURE_WINDOW_MS:g} ms, network (first seed), NMM2 and NMM1; one "
                 "panel per case: interneurons at I = 30, pyramidal undriven, pyramidal driven at its resonance", files)
    parameters = dict(
        neurons=NEURONS, seeds=list(seeds), dt_ms=DT_MS, v_peak=DEFAULT_V_PEAK, excitability="quantiles",
        rate_window_ms=RATE_WINDOW_MS, record_every=RECORD_EVERY, duration_ms=duration, transient_ms=transient,
        cases=[dict(preset=p, case=c, what=w) for p, c, w in CASES], I_oscillation=I_OSC,
        drive=dict(unit="current (QIF units)", amplitude=DRIVE_AMPLITUDE, frequency_hz=f_drive,
                   frequency_from="NMM2 linear response peak on " + "-".join(f"{x:g}" for x in PEAK_GRID_HZ[:2])
                                  + f" Hz in {PEAK_GRID_HZ[2]:g} Hz steps (resonance_summary)"),
        cycle_frequency_hz=f_cycle, fixed_point_rate_hz=r_star, lockin_harmonics=N_HARMONICS, fmin_hz=FMIN_HZ,
        tolerances=dict(frequency=FREQ_RTOL, rate=RATE_RTOL, amplitude=AMP_RTOL, nmm1_factor=NMM1_FACTOR),
        kernel_wall_time_s=walls, quick=bool(quick))
    return PartResult(files=files, claims=claims, parameters=parameters)


def _row(summary, case, model):
    return summary[(summary["case"] == case) & (summary["model"] == model)].iloc[0]


def _claims(summary, per_seed, seeds):
    """Claims e1-e5. Each verdict rests on the network's mean over seeds (its expected behaviour at N
    neurons); the spread over seeds (one network's finite-size deviation) is reported beside it."""
    K = len(seeds)
    net_src = f"{MPR}; {PAPER}; models.md M1"
    n, n2, n1 = (_row(summary, "oscillation", m) for m in MODELS)
    osc = per_seed[per_seed["case"] == "oscillation"]
    f_cycle = float(n2["cycle_frequency_hz"])
    dev = n.dominant_frequency_hz / f_cycle - 1.0
    worst = np.max(np.abs(osc["dominant_frequency_hz"].to_numpy() / f_cycle - 1.0))
    claims = [Claim(
        "e1", f"interneurons at I = {I_OSC:g}: the spiking network oscillates at the frequency of NMM2's limit cycle "
              f"(within {FREQ_RTOL:.0%})", net_src + ", M7.1",
        f"network (N = {NEURONS:,}, mean of {K} seeds) {n.dominant_frequency_hz:.2f} Hz, {dev:+.2%} from NMM2's limit "
        f"cycle at I = {I_OSC:g} (continuation) {f_cycle:.2f} Hz (SD {n.dominant_frequency_hz_sd:.1g} Hz over seeds, "
        f"largest seed deviation {worst:.2%}); NMM2 simulated {n2.dominant_frequency_hz:.2f} Hz",
        float(n.dominant_frequency_hz), bool(abs(dev) <= FREQ_RTOL), "Hz")]
    r_star = float(n1["fixed_point_rate_hz"])
    relax = n1.peak_to_peak_hz <= RELAX_RTOL * r_star and abs(n1.mean_rate_hz - r_star) <= RELAX_RTOL * r_star
    ratio = n.rhythm_amplitude_hz / n2.rhythm_amplitude_hz
    claims.append(Claim(
        "e2", f"interneurons at I = {I_OSC:g}: NMM1 relaxes to its fixed point while the network and NMM2 oscillate",
        f"{PAPER}; models.md M4, M7.1",
        f"NMM1 peak-to-peak {n1.peak_to_peak_hz:.1e} Hz at {n1.mean_rate_hz:.2f} Hz (fixed point r* = {r_star:.2f} Hz); "
        f"amplitude of the rhythm (fundamental): network {n.rhythm_amplitude_hz:.1f} Hz (SD "
        f"{n.rhythm_amplitude_hz_sd:.1g} Hz over seeds), {ratio:.3f} of NMM2's {n2.rhythm_amplitude_hz:.1f} Hz",
        float(n1.peak_to_peak_hz), bool(relax and ratio >= OSC_FRACTION), "Hz"))
    s, s2 = _row(summary, "stationary", "network"), _row(summary, "stationary", "nmm2")
    st = per_seed[per_seed["case"] == "stationary"]
    r_star = float(s["fixed_point_rate_hz"])
    dev = s.mean_rate_hz / r_star - 1.0
    seeds_dev = st["mean_rate_hz"].to_numpy() / r_star - 1.0
    claims.append(Claim(
        "e3", f"pyramidal, undriven: the network's stationary rate is the fixed point r* of the mean field "
              f"(within {RATE_RTOL:.0%})", net_src + ", M3",
        f"network {s.mean_rate_hz:.2f} Hz, {dev:+.2%} from r* = {r_star:.2f} Hz (seeds {seeds_dev.min():+.2%} to "
        f"{seeds_dev.max():+.2%}); NMM2 {s2.mean_rate_hz:.2f} Hz; all from synapses at rest",
        float(s.mean_rate_hz), bool(abs(dev) <= RATE_RTOL), "Hz"))
    d, d2, d1 = (_row(summary, "driven", m) for m in MODELS)
    dr = per_seed[per_seed["case"] == "driven"]
    ratio = d.response_amplitude_hz / d2.response_amplitude_hz
    seeds_ratio = dr["response_amplitude_hz"].to_numpy() / d2.response_amplitude_hz
    lin = d2.response_amplitude_hz / d2.linear_response_amplitude_hz - 1.0
    claims.append(Claim(
        "e4", f"pyramidal under a weak drive at NMM2's resonance: the network's response amplitude is NMM2's "
              f"(within {AMP_RTOL:.0%})", net_src + ", M7.2",
        f"drive {DRIVE_AMPLITUDE:g} QIF units at {d.drive_frequency_hz:.2f} Hz: network {d.response_amplitude_hz:.2f} Hz "
        f"(SD {d.response_amplitude_hz_sd:.1g} Hz over seeds), {ratio:.3f} of NMM2's {d2.response_amplitude_hz:.2f} Hz "
        f"(seeds {seeds_ratio.min():.3f}-{seeds_ratio.max():.3f}); NMM2 is {lin:+.2%} from its linear response (a weak "
        f"drive); phase: network {d.response_phase_rad:.2f} rad, NMM2 {d2.response_phase_rad:.2f} rad",
        float(ratio), bool(abs(ratio - 1.0) <= AMP_RTOL), ""))
    factor = d.response_amplitude_hz / d1.response_amplitude_hz
    claims.append(Claim(
        "e5", f"... and NMM1's is not: the network's response amplitude is more than {NMM1_FACTOR:g} times NMM1's",
        f"{PAPER}; models.md M7.2",
        f"NMM1 {d1.response_amplitude_hz:.2f} Hz, phase {d1.response_phase_rad:.2f} rad: the network's amplitude is "
        f"{factor:.1f} times NMM1's (seeds {np.min(dr['response_amplitude_hz']) / d1.response_amplitude_hz:.1f}-"
        f"{np.max(dr['response_amplitude_hz']) / d1.response_amplitude_hz:.1f})",
        float(factor), bool(factor > NMM1_FACTOR), ""))
    return claims
