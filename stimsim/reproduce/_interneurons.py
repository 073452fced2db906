"""Part a: the interneuron bifurcation diagram in I under NMM2 and NMM1 (docs/paper-reproduction.md, part a).

Claim of Clusella et al. (Biol. Cybern. 117, 5-19, 2023; docs/models.md M7.1): an inhibitory
interneuron population (J < 0) with second-order synapses has self-sustained collective
oscillations in NMM2 for fast enough synapses, bounded by Hopf bifurcations of the fixed point;
NMM1 never oscillates: with J < 0 its two eigenvalues are (-1 +- i sqrt(|Phi'(x*) tau_m J|)) / tau_s,
real part -1/tau_s for every input (its Jacobian, models.md M4).

Method: :func:`stimsim.continuation.bifurcation_diagram` of the ``interneurons`` preset in the
constant input I over [-20, 100] under both models (equilibria, Hopf points with the first
Lyapunov coefficient, the limit-cycle branch by shooting); time series of both models inside and
outside NMM2's oscillation region from the same initial state (synapses at rest), whose oscillation
frequency and amplitude are compared with the cycle branch.

Files: ``equilibria.csv``, ``special_points.csv``, ``limit_cycles.csv``, ``diagram.png``,
``timeseries.csv``, ``timeseries.png`` (and ``claims.csv``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._common import Claim, PartResult, write_figure, write_table

PAPER = "Clusella et al. 2023 (Biol. Cybern. 117, 5-19)"
I_RANGE = (-20.0, 100.0)
#: constant inputs of the time series: below, inside and above NMM2's oscillation region
SERIES_I = (0.0, 30.0, 90.0)
SERIES_MS, SERIES_DT_MS, SETTLE_MS = 1000.0, 0.01, 500.0

EQUILIBRIA_COLUMNS = {
    "model": "nmm2 (exact) or nmm1 (heuristic)",
    "parameter": "continuation parameter (I: constant input, QIF units)",
    "parameter_value": "I, QIF units",
    "branch": "equilibrium branch id",
    "point": "point along the branch",
    "stability": "linear stability label (stimsim.dynamics.classify)",
    "stable": "True when every eigenvalue has Re < 0",
    "n_unstable": "eigenvalues with Re > 0",
    "leading_real_per_ms": "largest real part of the eigenvalues, 1/ms",
    "leading_frequency_hz": "|Im| / 2 pi of the leading eigenvalue, Hz",
    "population": "population",
    "rate_hz": "firing rate at the equilibrium, Hz",
    "v": "mean voltage, QIF units",
    "s_hz": "synaptic activation, Hz",
    "z_hz": "tau_s ds/dt, Hz",
}
SPECIAL_COLUMNS = {
    "model": EQUILIBRIA_COLUMNS["model"], "parameter": EQUILIBRIA_COLUMNS["parameter"],
    "parameter_value": "I at the point, QIF units", "kind": "H (Hopf), LP (fold), BP (branch point)",
    "name": "name of the bifurcation", "branch": "equilibrium branch id",
    "frequency_hz": "Hopf frequency omega / 2 pi, Hz", "first_lyapunov": "first Lyapunov coefficient l1 (Kuznetsov 2004)",
    "fold_coefficient": "fold normal-form coefficient", "criticality": "supercritical (l1 < 0) or subcritical",
    "residual": "max norm of the defining system at the point, 1/ms", "located": "True when Newton converged",
    "population": "population", "rate_hz": "firing rate, Hz", "v": "mean voltage, QIF units",
    "s_hz": "synaptic activation, Hz", "z_hz": "tau_s ds/dt, Hz",
}
CYCLE_COLUMNS = {
    "model": EQUILIBRIA_COLUMNS["model"], "parameter": EQUILIBRIA_COLUMNS["parameter"],
    "parameter_value": "I, QIF units", "cycle_branch": "limit-cycle branch id",
    "hopf_parameter_value": "I of the Hopf point the branch starts from", "point": "orbit along the branch",
    "period_ms": "period, ms", "frequency_hz": "1 / period, Hz", "stable": "True when every nontrivial Floquet multiplier has |mu| < 1",
    "max_multiplier": "largest nontrivial |Floquet multiplier|", "label": "LPC / PD / NS at the bracketing orbit",
    "population": "population",
    **{f"{c}_{e}": f"{e}imum over the orbit of {what}" for c, what in
       (("rate_hz", "the rate, Hz"), ("v", "the mean voltage, QIF units"), ("s_hz", "s, Hz"), ("z_hz", "z, Hz"))
       for e in ("min", "max")},
}
SERIES_COLUMNS = {
    "model": EQUILIBRIA_COLUMNS["model"], "I": "constant input, QIF units", "time_ms": "time, ms",
    "rate_hz": "firing rate, Hz",
}


def _oscillation(t_ms, r_hz):
    """(frequency Hz from upward mean crossings, half peak-to-peak Hz) of a recorded rate."""
    x = r_hz - r_hz.mean()
    amp = 0.5 * float(r_hz.max() - r_hz.min())
    i = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    if i.size < 3 or amp < 1e-6:
        return math.nan, amp
    tc = t_ms[i] - x[i] * (t_ms[i + 1] - t_ms[i]) / (x[i + 1] - x[i])
    return 1000.0 / float(np.mean(np.diff(tc))), amp


def run(out_dir, progress, quick=False):
    """Compute, check and write part a into ``out_dir``.

    Parameters
    ----------
    out_dir : pathlib.Path
    progress : stimsim.reproduce._common.Progress
    quick : bool
        Fewer orbits on the cycle branch and shorter time series.

    Returns
    -------
    PartResult
    """
    import stimsim
    from stimsim.continuation import bifurcation_diagram, diagram_figure
    from stimsim.plots import timeseries_figure

    circuit = stimsim.preset("interneurons")
    progress.log("  continuation in I under nmm2 and nmm1")
    diagrams = {m: bifurcation_diagram(circuit, m, "I", I_RANGE, max_cycle_points=60 if quick else 200,
                                       progress=bool(progress)) for m in ("nmm2", "nmm1")}
    eq = pd.concat([d.equilibria() for d in diagrams.values()], ignore_index=True)
    sp = pd.concat([d.special_points() for d in diagrams.values()], ignore_index=True)
    cy = pd.concat([d.limit_cycles() for d in diagrams.values()], ignore_index=True)

    duration = 400.0 if quick else SERIES_MS
    rows, measured = [], {}
    for m in progress.steps(("nmm2", "nmm1"), desc="time series"):
        for I in SERIES_I:
            res = stimsim.simulate(circuit.replace(I=I), m, duration_ms=duration, dt_ms=SERIES_DT_MS, record_every=10)
            t, r = res.time_ms, res.rate_hz[:, 0]
            rows.append(pd.DataFrame({"model": m, "I": I, "time_ms": t, "rate_hz": r}))
            window = 200.0 if quick else SETTLE_MS / 2
            late = t >= duration - window
            early = (t >= duration - 2 * window) & ~late
            measured[(m, I)] = _oscillation(t[late], r[late]) + (_oscillation(t[early], r[early])[1],)
    series = pd.concat(rows, ignore_index=True)

    claims = _claims(diagrams, measured, circuit)
    files = {}
    write_table(out_dir, "equilibria.csv", eq, EQUILIBRIA_COLUMNS, files)
    write_table(out_dir, "special_points.csv", sp, SPECIAL_COLUMNS, files)
    write_table(out_dir, "limit_cycles.csv", cy, CYCLE_COLUMNS, files)
    write_table(out_dir, "timeseries.csv", series, SERIES_COLUMNS, files)
    write_figure(out_dir, "diagram.png", diagram_figure(eq, sp, cy, title="interneurons: rate against I"),
                 "rate against I, NMM2 and NMM1 side by side: equilibria (stable solid, unstable dashed), Hopf "
                 "points (circles), limit-cycle minimum and maximum", files)
    panels = series.assign(population="I = " + series.I.map("{:g}".format))      # one panel per input
    write_figure(out_dir, "timeseries.png",
                 timeseries_figure(panels, "interneurons from synapses at rest"),
                 "rate against time under NMM2 and NMM1, one panel per constant input I", files)
    parameters = dict(preset="interneurons", parameter="I", range=list(I_RANGE), time_series_I=list(SERIES_I),
                      duration_ms=duration, dt_ms=SERIES_DT_MS, initial="synapses at rest (s = z = 0)",
                      measured_window_ms=200.0 if quick else SETTLE_MS, quick=bool(quick))
    return PartResult(files=files, claims=claims, parameters=parameters)


def _claims(diagrams, measured, circuit):
    d2, d1 = diagrams["nmm2"], diagrams["nmm1"]
    hopf = d2.hopf_points()
    crit = [h.coefficient < 0 for h in hopf]
    claims = [Claim(
        "a1", "NMM2 interneurons oscillate in a range of I bounded by Hopf bifurcations of the fixed point",
        PAPER, f"{len(hopf)} Hopf points at I = " + ", ".join(f"{h.p[0]:.4f}" for h in hopf)
        + " (frequencies " + ", ".join(f"{h.omega / (2 * math.pi) * 1000:.1f}" for h in hopf) + " Hz), "
        + ("all supercritical (l1 < 0)" if all(crit) else "not all supercritical"),
        float(len(hopf)), len(hopf) == 2 and all(crit), "Hopf points")]
    cb = d2.cycles[0] if d2.cycles else None
    ok = cb is not None and bool(np.all(cb.stable)) and cb.end_reason.startswith("ended at the Hopf point")
    span = f"I from {cb.p.min():.2f} to {cb.p.max():.2f}" if cb is not None else "no branch"
    claims.append(Claim(
        "a2", "the limit cycles born at one Hopf point end at the other, stable in between (the ING rhythm)",
        PAPER, f"one branch of {0 if cb is None else len(cb.p)} orbits, {span}, "
        f"periods {cb.period_ms.min():.2f}-{cb.period_ms.max():.2f} ms" if cb is not None else "no cycle branch",
        float(0 if cb is None else len(cb.p)), ok, "orbits"))
    ts = circuit.vector("tau_s")[0]
    worst = max(abs(e.real * ts + 1.0) for br in d1.branches for ev in br.eigenvalues for e in ev)
    claims.append(Claim(
        "a3", "NMM1 never oscillates: no Hopf point, every eigenvalue has real part -1/tau_s (J < 0)",
        PAPER + "; models.md M4", f"{len(d1.hopf_points())} Hopf points; max |Re(lambda) tau_s + 1| = {worst:.1e} "
        f"over {sum(len(b.p) for b in d1.branches)} equilibria", worst,
        len(d1.hopf_points()) == 0 and worst < 1e-9))
    lo, hi = (hopf[0].p[0], hopf[-1].p[0]) if len(hopf) == 2 else (math.nan, math.nan)
    texts, ok = [], True
    def relaxes(late, early):                     # decays from one window to the next, or is flat
        return late < 1e-6 or late < 0.5 * early

    for I in SERIES_I:
        f2, a2, e2 = measured[("nmm2", I)]
        f1, a1, e1 = measured[("nmm1", I)]
        inside = lo < I < hi
        if inside and cb is not None:
            f_branch = 1000.0 / float(np.interp(I, np.sort(cb.p), cb.period_ms[np.argsort(cb.p)]))
            ok &= bool(abs(f2 - f_branch) <= 0.01 * f_branch and abs(a2 - e2) <= 0.02 * a2) and relaxes(a1, e1)
            texts.append(f"I = {I:g}: NMM2 sustained {f2:.1f} Hz (cycle branch {f_branch:.1f} Hz), amplitude "
                         f"{a2:.1f} Hz (window before: {e2:.1f} Hz); NMM1 amplitude {a1:.1e} Hz")
        else:
            ok &= relaxes(a2, e2) and relaxes(a1, e1)
            texts.append(f"I = {I:g}: amplitude NMM2 {a2:.1e} Hz (window before: {e2:.1e} Hz), NMM1 {a1:.1e} Hz")
    claims.append(Claim(
        "a4", "in time, NMM2 oscillates inside the Hopf interval at the frequency of the cycle branch and relaxes "
              "outside it; NMM1 relaxes everywhere", PAPER, "; ".join(texts),
        float(measured[("nmm2", SERIES_I[1])][0]), ok, "Hz"))
    return claims
