"""Part c: resonance of a pyramidal population under NMM2 and NMM1 (docs/paper-reproduction.md, part c).

Claim of Clusella et al. (Biol. Cybern. 117, 5-19, 2023; docs/models.md M7.2): driven by a weak
periodic input, a pyramidal population (J > 0) resonates in NMM2 (exact mean field, models.md M2)
with a peak whose frequency and amplitude increase with the self-coupling J and with the
excitatory input eta_bar; in NMM1 (static transfer function, M4) the excitatory response is
largest at zero frequency.

Method: the small-signal gain |H(f)| of the firing rate per unit of input current (QIF units),
H(f) = c (i 2 pi f I - A)^-1 b + d at the shared fixed point (models.md M8;
:func:`stimsim.frequency_response` with ``method='linear'``), for every (J, eta_bar) of the
``pyramidal`` preset's ranges (tau_m = 20 ms, tau_s = 10 ms, Delta = 1); peaks by
:func:`stimsim.analysis.resonance_summary` (parabola through the three grid points around the
maximum, in log gain). The firing rate r* at the fixed point is written beside each peak (the
frozen-input (r, v) focus of NMM2 rotates at 2 pi r*, models.md M3). Cross-check: a simulated
lock-in (:func:`stimsim.frequency_response`, ``method='both'``) at a small amplitude, at r*/2, r*,
3 r*/2 and the NMM2 peak, for the J sweep at eta_bar = 1 and the eta_bar sweep at J = 8.

Files: ``resonance_curves.csv``, ``resonance_peaks.csv``, ``lockin_check.csv``,
``resonance_curves.png``, ``resonance_peaks.png`` (and ``claims.csv``, written by the driver).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import Claim, PartResult, write_figure, write_table

#: self-coupling J (QIF units x tau_m per kHz) and excitatory input eta_bar (QIF units): the
#: pyramidal ranges J in [0, 12], eta_bar in [-1, 5] studied by Clusella et al. (2023)
J_VALUES = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0)
ETA_VALUES = (-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
#: frequency grid, Hz: start, stop (inclusive), step
FREQS_HZ = (0.5, 150.0, 0.5)
#: the sweeps drawn as curves: J at eta_bar = REF_ETA, eta_bar at J = REF_J (the preset's values)
REF_J, REF_ETA = 8.0, 1.0
#: lock-in drive amplitude, QIF units (zero-to-peak): small, so the response is linear
LOCKIN_AMPLITUDE = 1e-3
#: lock-in integration step, ms (RK4; tau_s = 10 ms, tau_m = 20 ms)
LOCKIN_DT_MS = 0.05
#: largest relative gain difference allowed between lock-in and linear theory
LOCKIN_RTOL = 0.01

#: reduced resolution for tests
QUICK = dict(J=(2.0, 8.0, 12.0), eta=(0.0, 1.0, 3.0), freqs=(1.0, 120.0, 1.0))

PAPER = "Clusella et al. 2023 (Biol. Cybern. 117, 5-19)"

CURVE_COLUMNS = {
    "model": "nmm2 (exact mean field, models.md M2) or nmm1 (static transfer function, M4)",
    "method": "linear (small-signal theory, models.md M8) or lockin (simulated, amplitude in amplitude_unit)",
    "J": "self-coupling J, QIF units x tau_m per kHz (models.md M5)",
    "eta_bar": "centre of the excitability distribution, QIF units",
    "freq_hz": "drive frequency, Hz",
    "amplitude_unit": "lock-in drive amplitude, QIF units zero-to-peak (NaN for linear rows)",
    "gain_hz_per_unit": "rate amplitude at the drive frequency per unit of input current, Hz per QIF unit",
    "phase_deg": "phase of the rate relative to the drive cos(2 pi f t), degrees",
    "fixed_point_rate_hz": "firing rate r* at the fixed point, Hz (the same in both models)",
    "stability": "fixed point under this model (stimsim.dynamics.classify)",
}
PEAK_COLUMNS = {
    "model": CURVE_COLUMNS["model"],
    "J": CURVE_COLUMNS["J"],
    "eta_bar": CURVE_COLUMNS["eta_bar"],
    "resonance": "True if the gain has a maximum strictly inside the frequency grid",
    "grid_edge": "'low' if the maximum is at the lowest grid frequency, 'high' at the highest, else 'none'",
    "peak_freq_hz": "frequency of the largest gain, Hz (parabolic refinement in log gain; the grid edge without a peak)",
    "peak_gain_hz_per_unit": "largest gain, Hz per QIF unit (at the grid edge without a peak)",
    "fixed_point_rate_hz": CURVE_COLUMNS["fixed_point_rate_hz"],
    "peak_minus_rate_hz": "peak_freq_hz - fixed_point_rate_hz, Hz (NaN without a peak)",
    "static_gain_hz_per_unit": "gain at zero frequency dr*/dI, Hz per QIF unit (H(0), models.md M8)",
    "max_gain_over_static": "largest gain on the grid / static gain (<= 1: maximum at zero frequency)",
    "bandwidth_hz": "full width at peak gain / sqrt 2, Hz (NaN when not inside the grid)",
    "q_factor": "peak_freq_hz / bandwidth_hz",
    "stability": CURVE_COLUMNS["stability"],
    "leading_eigenvalue_freq_hz": "|Im lambda| / 2 pi of the least damped eigenvalue, Hz (0 for a real one)",
    "summary": "text summary of the curve (stimsim.analysis.resonance_summary)",
}
LOCKIN_COLUMNS = {
    "model": CURVE_COLUMNS["model"],
    "J": CURVE_COLUMNS["J"],
    "eta_bar": CURVE_COLUMNS["eta_bar"],
    "freq_hz": CURVE_COLUMNS["freq_hz"],
    "amplitude_unit": "lock-in drive amplitude, QIF units zero-to-peak",
    "gain_linear_hz_per_unit": "linear theory gain, Hz per QIF unit",
    "gain_lockin_hz_per_unit": "simulated lock-in gain (RK4, dt in metadata), Hz per QIF unit",
    "relative_difference": "|lock-in - linear| / linear gain",
    "phase_difference_deg": "lock-in phase - linear phase, degrees",
    "fixed_point_rate_hz": CURVE_COLUMNS["fixed_point_rate_hz"],
}


def _grid(spec):
    start, stop, step = spec
    return np.round(np.arange(start, stop + step / 2, step), 10)


def _monotone(summary, along, per, column):
    """For each value of ``per``, is ``column`` strictly increasing along ``along`` over the NMM2 sets with a peak?

    Returns (number of ``per`` values with >= 2 peaks, number of those where it increases).
    """
    res = summary[(summary["model"] == "nmm2") & summary["resonance"]]
    n = ok = 0
    for _, sub in res.groupby(per):
        sub = sub.sort_values(along)
        if len(sub) < 2:
            continue
        n += 1
        ok += bool(np.all(np.diff(sub[column].to_numpy()) > 0))
    return n, ok


def _sweep(summary, model, fixed, value, along, column):
    sub = summary[(summary["model"] == model) & np.isclose(summary[fixed], value)].sort_values(along)
    return sub[along].to_numpy(), sub[column].to_numpy()


def run(out_dir, progress, quick=False):
    """Compute, check and write part c into ``out_dir``.

    Parameters
    ----------
    out_dir : pathlib.Path
        The part's folder (exists, empty).
    progress : stimsim.reproduce._common.Progress
    quick : bool
        Reduced resolution: 3 J x 3 eta_bar, 1 Hz grid to 120 Hz, lock-in for one set.

    Returns
    -------
    PartResult
    """
    import stimsim
    from stimsim.analysis import Drive, LockinGrid, Readout, frequency_response, resonance_summary, state_space
    from stimsim.dynamics import find_fixed_points, linearize
    from stimsim.units import rad_per_ms_to_hz

    Js = QUICK["J"] if quick else J_VALUES
    etas = QUICK["eta"] if quick else ETA_VALUES
    freq_spec = QUICK["freqs"] if quick else FREQS_HZ
    freqs = _grid(freq_spec)
    ref_j = REF_J if REF_J in Js else Js[len(Js) // 2]
    ref_eta = REF_ETA if REF_ETA in etas else etas[len(etas) // 2]
    drive = Drive(unit="current")
    readout = Readout(population="P", output="rate")
    sets = [(J, e) for J in Js for e in etas]
    circuits = [stimsim.preset("pyramidal", J=J, eta_bar=e) for J, e in sets]
    labels = [dict(J=J, eta_bar=e) for J, e in sets]

    # 1. linear response of every set, both models
    progress.log(f"  linear response: {len(sets)} (J, eta_bar) sets x {freqs.size} frequencies x 2 models")
    table = frequency_response(circuits, model=("nmm2", "nmm1"), freqs_hz=freqs, method="linear", drive=drive,
                               readout=readout, labels=labels, progress=bool(progress))
    summary = resonance_summary(table, gain_column="gain_hz_per_unit")
    extra = []
    for (J, e), c in zip(sets, circuits):
        roots = find_fixed_points(c)
        for model in ("nmm2", "nmm1"):
            ss = state_space(c, model, [1.0], "P", "rate", roots=roots)
            lin = linearize(c, model, ss.rates_khz)
            extra.append(dict(model=model, J=J, eta_bar=e, static_gain_hz_per_unit=float(abs(ss.transfer([0.0])[0])),
                              stability=ss.stability,
                              leading_eigenvalue_freq_hz=float(abs(rad_per_ms_to_hz(lin.leading.imag)))))
    peaks = summary.merge(pd.DataFrame(extra), on=["model", "J", "eta_bar"], how="left")
    max_gain = table.groupby(["model", "J", "eta_bar"])["gain_hz_per_unit"].max().rename("max_gain").reset_index()
    peaks = peaks.merge(max_gain, on=["model", "J", "eta_bar"], how="left")
    peaks["max_gain_over_static"] = peaks["max_gain"] / peaks["static_gain_hz_per_unit"]
    peaks["peak_minus_rate_hz"] = np.where(peaks["resonance"], peaks["peak_freq_hz"] - peaks["fixed_point_rate_hz"],
                                           np.nan)
    peaks = peaks[list(PEAK_COLUMNS)]

    # 2. lock-in cross-check of the linear theory: the two sweeps, at r*/2, r*, 3 r*/2 and the NMM2 peak
    check_sets = [(ref_j, e) for e in etas] + [(J, ref_eta) for J in Js if J != ref_j]
    if quick:
        check_sets = [(ref_j, ref_eta)]
    progress.log(f"  lock-in cross-check: {len(check_sets)} sets x 3-4 frequencies x 2 models")
    rows = []
    for J, e in progress.steps(check_sets, desc="lock-in check"):
        c = stimsim.preset("pyramidal", J=J, eta_bar=e)
        p2 = peaks[(peaks["model"] == "nmm2") & (peaks["J"] == J) & (peaks["eta_bar"] == e)].iloc[0]
        r = p2["fixed_point_rate_hz"]
        fs = [0.5 * r, r, 1.5 * r] + ([p2["peak_freq_hz"]] if p2["resonance"] else [])
        t = frequency_response(c, model=("nmm2", "nmm1"), freqs_hz=np.round(fs, 6), method="both",
                               amplitude=LOCKIN_AMPLITUDE, drive=drive, readout=readout,
                               lockin=LockinGrid(dt_ms=LOCKIN_DT_MS), labels=[dict(J=J, eta_bar=e)])
        lin = t[t["method"] == "linear"].set_index(["model", "freq_hz"])
        lock = t[t["method"] == "lockin"].set_index(["model", "freq_hz"])
        for key in lin.index:
            gl, gk = lin.loc[key, "gain_hz_per_unit"], lock.loc[key, "gain_hz_per_unit"]
            dphi = (lock.loc[key, "phase_deg"] - lin.loc[key, "phase_deg"] + 180.0) % 360.0 - 180.0
            rows.append(dict(model=key[0], J=J, eta_bar=e, freq_hz=key[1], amplitude_unit=LOCKIN_AMPLITUDE,
                             gain_linear_hz_per_unit=gl, gain_lockin_hz_per_unit=gk,
                             relative_difference=abs(gk - gl) / gl, phase_difference_deg=dphi,
                             fixed_point_rate_hz=r))
        curves_lock = t[t["method"] == "lockin"]
        table = pd.concat([table, curves_lock], ignore_index=True)
    lockin = pd.DataFrame(rows, columns=list(LOCKIN_COLUMNS))

    # 3. claims
    claims = _claims(peaks, lockin, Js, etas, ref_j, ref_eta)

    # 4. files
    files = {}
    curves = table[list(CURVE_COLUMNS)].sort_values(["model", "method", "J", "eta_bar", "freq_hz"], kind="stable")
    write_table(out_dir, "resonance_curves.csv", curves, CURVE_COLUMNS, files)
    write_table(out_dir, "resonance_peaks.csv", peaks, PEAK_COLUMNS, files)
    write_table(out_dir, "lockin_check.csv", lockin, LOCKIN_COLUMNS, files)
    write_figure(out_dir, "resonance_curves.png", _curves_figure(curves, peaks, ref_j, ref_eta),
                 f"rate gain vs drive frequency, NMM2 | NMM1; top: J sweep at eta_bar = {ref_eta:g}, bottom: "
                 f"eta_bar sweep at J = {ref_j:g}; dots: peaks, open circles: lock-in", files)
    write_figure(out_dir, "resonance_peaks.png", _peaks_figure(peaks),
                 "NMM2 peak frequency (with r* dotted) and peak gain against J and against eta_bar", files)
    parameters = dict(
        preset="pyramidal (tau_m = 20 ms, tau_s = 10 ms, Delta = 1)", J=list(Js), eta_bar=list(etas),
        freqs_hz=dict(zip(("start", "stop", "step"), freq_spec)), drive="current into P, QIF units (Drive(unit='current'))",
        readout="rate of P, Hz", models=["nmm2", "nmm1"], method="linear (models.md M8)",
        lockin=dict(sets=[list(s) for s in check_sets], amplitude_unit=LOCKIN_AMPLITUDE, dt_ms=LOCKIN_DT_MS,
                    integrator="rk4", frequencies="r*/2, r*, 3 r*/2 and the NMM2 peak"),
        reference_sweeps=dict(J_at_eta_bar=ref_eta, eta_bar_at_J=ref_j), quick=bool(quick))
    return PartResult(files=files, claims=claims, parameters=parameters)


def _claims(peaks, lockin, Js, etas, ref_j, ref_eta):
    n2 = peaks[peaks["model"] == "nmm2"]
    n1 = peaks[peaks["model"] == "nmm1"]
    res = n2[n2["resonance"]]
    claims = []
    no_peak = n2[~n2["resonance"]]
    claims.append(Claim(
        "c1", "NMM2 shows a resonance: the rate gain of a pyramidal population has a peak at a non-zero frequency",
        PAPER, f"{len(res)} of {len(n2)} (J, eta_bar) sets have a peak inside the grid"
               + (f"; the others fire at r* <= {no_peak['fixed_point_rate_hz'].max():.1f} Hz" if len(no_peak) else ""),
        len(res), len(res) > 0, "sets"))
    for cid, along, per, column, what in (("c2", "J", "eta_bar", "peak_freq_hz", "frequency"),
                                          ("c3", "J", "eta_bar", "peak_gain_hz_per_unit", "amplitude"),
                                          ("c4", "eta_bar", "J", "peak_freq_hz", "frequency"),
                                          ("c5", "eta_bar", "J", "peak_gain_hz_per_unit", "amplitude")):
        n, ok = _monotone(peaks, along, per, column)
        fixed = ref_eta if along == "J" else ref_j
        x, y = _sweep(peaks[peaks["resonance"]], "nmm2", per, fixed, along, column)
        unit = "Hz" if column == "peak_freq_hz" else "Hz per QIF unit"
        span = (f"; at {per} = {fixed:g}: {y[0]:.1f} {unit} ({along} = {x[0]:g}) to {y[-1]:.1f} {unit} "
                f"({along} = {x[-1]:g})") if len(y) else ""
        claims.append(Claim(
            cid, f"NMM2's peak {what} increases with {'the self-coupling J' if along == 'J' else 'the excitatory input eta_bar'}",
            PAPER, f"strictly increasing along {along} for {ok} of {n} values of {per} (sets with a peak){span}",
            ok / n if n else np.nan, n > 0 and ok == n, "fraction"))
    low = int(((n1["grid_edge"] == "low") & (n1["max_gain_over_static"] <= 1 + 1e-9)).sum())
    claims.append(Claim(
        "c6", "In NMM1 the excitatory response has its maximum at zero frequency",
        PAPER, f"{low} of {len(n1)} sets: NMM1's gain is largest at the lowest grid frequency and never exceeds "
               f"its zero-frequency gain dr*/dI (largest ratio {n1['max_gain_over_static'].max():.6f})",
        low, low == len(n1), "sets"))
    dev = float(np.nanmax(np.abs(res["peak_minus_rate_hz"]))) if len(res) else np.nan
    claims.append(Claim(
        "c7", "NMM2's resonance sits near the population's own firing rate r* (the frozen-input (r, v) focus rotates at 2 pi r*)",
        "Montbrió et al. 2015 (fixed point of the (r, v) equations); docs/models.md M3",
        f"largest |peak frequency - r*| over the sets with a peak: {dev:.2f} Hz (peaks {res['peak_freq_hz'].min():.1f}-"
        f"{res['peak_freq_hz'].max():.1f} Hz)" if len(res) else "no set with a peak",
        dev, bool(len(res)) and dev < 2.0, "Hz"))
    worst = float(lockin["relative_difference"].max()) if len(lockin) else np.nan
    claims.append(Claim(
        "c8", "Cross-check: a simulated lock-in at small amplitude gives the gain of the linear theory",
        "Åström & Murray 2008, ch. 9 (frequency response of the linearised system); docs/models.md M8",
        f"{len(lockin)} lock-in runs at {LOCKIN_AMPLITUDE:g} QIF units (both models): largest relative gain "
        f"difference {worst:.1e}, largest phase difference {lockin['phase_difference_deg'].abs().max():.1e} deg",
        worst, bool(len(lockin)) and worst < LOCKIN_RTOL, ""))
    return claims


def _palette(n):
    import seaborn as sns

    return sns.color_palette("viridis", n)


def _curves_figure(curves, peaks, ref_j, ref_eta):
    from ..plots import subplots, themed

    @themed("whitegrid")
    def draw():
        fig, axes = subplots(2, 2, figsize=(11, 7.5), sharex=True)
        for i, (fixed, value, along) in enumerate((("eta_bar", ref_eta, "J"), ("J", ref_j, "eta_bar"))):
            values = sorted(curves.loc[np.isclose(curves[fixed], value), along].unique())
            colors = dict(zip(values, _palette(len(values))))
            for j, model in enumerate(("nmm2", "nmm1")):
                ax = axes[i, j]
                sub = curves[(curves["model"] == model) & np.isclose(curves[fixed], value)]
                for v in values:
                    lin = sub[(sub["method"] == "linear") & np.isclose(sub[along], v)]
                    ax.plot(lin["freq_hz"], lin["gain_hz_per_unit"], color=colors[v], lw=1.4, label=f"{along} = {v:g}")
                    lock = sub[(sub["method"] == "lockin") & np.isclose(sub[along], v)]
                    ax.plot(lock["freq_hz"], lock["gain_hz_per_unit"], "o", mfc="none", ms=4, color=colors[v])
                    pk = peaks[(peaks["model"] == model) & np.isclose(peaks[fixed], value) & np.isclose(peaks[along], v)]
                    pk = pk[pk["resonance"]]
                    ax.plot(pk["peak_freq_hz"], pk["peak_gain_hz_per_unit"], "o", color=colors[v], ms=5)
                ax.set_title(f"{model.upper()}, {fixed} = {value:g}", fontsize=10)
                ax.set_ylabel("rate gain (Hz per QIF unit)")
                if i == 1:
                    ax.set_xlabel("drive frequency (Hz)")
            axes[i, 1].legend(fontsize=7, loc="upper right")
        fig.tight_layout()
        return fig

    return draw()


def _peaks_figure(peaks):
    from ..plots import subplots, themed

    @themed("whitegrid")
    def draw():
        fig, axes = subplots(2, 2, figsize=(11, 7.5))
        res = peaks[(peaks["model"] == "nmm2") & peaks["resonance"]]
        n1 = peaks[peaks["model"] == "nmm1"]
        for j, (along, per) in enumerate((("J", "eta_bar"), ("eta_bar", "J"))):
            values = sorted(peaks[per].unique())
            colors = dict(zip(values, _palette(len(values))))
            for v in values:
                sub = res[np.isclose(res[per], v)].sort_values(along)
                if not len(sub):
                    continue
                axes[0, j].plot(sub[along], sub["peak_freq_hz"], "o-", color=colors[v], ms=4, label=f"{per} = {v:g}")
                axes[0, j].plot(sub[along], sub["fixed_point_rate_hz"], ":", color=colors[v], lw=1.2)
                axes[1, j].plot(sub[along], sub["peak_gain_hz_per_unit"], "o-", color=colors[v], ms=4)
            axes[0, j].set_ylabel("NMM2 peak frequency (Hz)\n(dotted: firing rate r*)")
            axes[1, j].set_ylabel("NMM2 peak gain (Hz per QIF unit)")
            axes[1, j].set_xlabel(along)
            axes[0, j].legend(fontsize=7, ncol=2)
        low = int((n1["grid_edge"] == "low").sum())
        fig.suptitle(f"NMM2 resonance peaks; NMM1: no peak, maximum at the lowest frequency in {low} of {len(n1)} sets",
                     fontsize=10)
        fig.tight_layout()
        return fig

    return draw()
