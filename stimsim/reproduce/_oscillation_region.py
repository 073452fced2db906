"""Part b: where interneuron oscillations exist in the (I, tau_s/tau_m) plane (docs/paper-reproduction.md, part b).

Claim of Clusella et al. (Biol. Cybern. 117, 5-19, 2023; docs/models.md M7.1): NMM2 interneurons
oscillate only for fast enough synapses; the oscillation region closes as the synapse gets slow,
and NMM1 has no oscillation region at all.

Method: :func:`stimsim.continuation.two_parameter_diagram` of the ``interneurons`` preset in
(I, tau_s/tau_m) under both models: the Hopf curve through the Hopf points of part a, followed
both ways (tau_s changes at fixed tau_m = 7.5 ms). Independent check: on a grid of tau_s/tau_m
values, the I-interval where the fixed point is unstable, from the eigenvalues of
:func:`stimsim.linearize` on a fine I grid (no continuation), against where the Hopf curve crosses
that tau_s/tau_m.

Files: ``hopf_curve.csv``, ``codim2_points.csv``, ``stability_scan.csv``, ``oscillation_region.png``
(and ``claims.csv``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import Claim, PartResult, write_figure, write_table

PAPER = "Clusella et al. 2023 (Biol. Cybern. 117, 5-19)"
I_RANGE = (-20.0, 100.0)
RATIO_RANGE = (0.05, 2.0)
#: the eigenvalue scan: tau_s/tau_m values and I grid points
SCAN_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.9, 1.2)
SCAN_POINTS, QUICK_SCAN_POINTS = 601, 121

CURVE_COLUMNS = {
    "model": "nmm2 (exact) or nmm1 (heuristic)",
    "curve": "curve id", "kind": "H (Hopf curve) or LP (fold curve)", "point": "point along the curve",
    "I": "constant input, QIF units", "tau_s/tau_m": "synaptic over membrane time constant",
    "hopf": "True on Hopf points (False on neutral saddles)",
    "frequency_hz": "Hopf frequency, Hz", "first_lyapunov": "first Lyapunov coefficient l1",
    "fold_coefficient": "fold normal-form coefficient", "residual": "max norm of the defining system, 1/ms",
    "rate_hz_I": "firing rate at the point, Hz",
}
CODIM2_COLUMNS = {
    "model": CURVE_COLUMNS["model"], "curve": "curve id", "kind": "CP (cusp), BT (Bogdanov-Takens), GH (generalized Hopf)",
    "name": "name", "I": "constant input, QIF units", "tau_s/tau_m": "synaptic over membrane time constant",
    "residual": "max norm of the defining system, 1/ms", "located": "True when the point converged",
}
SCAN_COLUMNS = {
    "tau_s/tau_m": "synaptic over membrane time constant",
    "unstable_from_I": "smallest I of the scan where NMM2's fixed point is unstable (NaN: none)",
    "unstable_to_I": "largest such I",
    "curve_from_I": "smallest I where the Hopf curve crosses this tau_s/tau_m (NaN: none)",
    "curve_to_I": "largest such I (the end of the I range where the region runs past it)",
    "grid_step_I": "spacing of the I grid of the scan",
    "nmm1_unstable_points": "points of the scan where NMM1's fixed point is unstable",
}


def _crossings(curve, ratio):
    """I values where the Hopf points of a curve table cross tau_s/tau_m = ratio (linear between points)."""
    out = []
    for _, c in curve[curve.hopf].groupby("curve"):
        c = c.sort_values("point")
        y, x = c["tau_s/tau_m"].to_numpy(), c["I"].to_numpy()
        idx = np.flatnonzero((y[:-1] - ratio) * (y[1:] - ratio) <= 0)
        for i in idx:
            if y[i + 1] != y[i]:
                out.append(x[i] + (ratio - y[i]) * (x[i + 1] - x[i]) / (y[i + 1] - y[i]))
    return sorted(set(np.round(out, 9)))


def _scan(circuit, ratio, grid):
    import stimsim

    tm = circuit.vector("tau_m")[0]
    c = circuit.replace(tau_s=ratio * tm)
    unstable2, unstable1 = [], 0
    for I in grid:
        ci = c.replace(I=float(I))
        r = stimsim.find_fixed_points(ci)[0]
        if not stimsim.linearize(ci, "nmm2", r).stable:
            unstable2.append(I)
        unstable1 += not stimsim.linearize(ci, "nmm1", r).stable
    return unstable2, unstable1


def run(out_dir, progress, quick=False):
    """Compute, check and write part b into ``out_dir`` (``quick``: a coarser eigenvalue scan)."""
    import stimsim
    from stimsim.continuation import curves_figure, two_parameter_diagram

    circuit = stimsim.preset("interneurons")
    progress.log("  Hopf curves in (I, tau_s/tau_m) under nmm2 and nmm1")
    diagrams = [two_parameter_diagram(circuit, m, ("I", "tau_s/tau_m"), (I_RANGE, RATIO_RANGE), progress=bool(progress))
                for m in ("nmm2", "nmm1")]
    curves = pd.concat([d.to_frame() for d in diagrams], ignore_index=True)
    curves = curves.reindex(columns=list(CURVE_COLUMNS))
    points = pd.concat([d.special_points() for d in diagrams], ignore_index=True)
    nmm2_curves = curves[curves.model == "nmm2"]

    grid = np.linspace(*I_RANGE, QUICK_SCAN_POINTS if quick else SCAN_POINTS)
    rows = []
    for ratio in progress.steps(SCAN_RATIOS, desc="eigenvalue scan"):
        unstable, n1 = _scan(circuit, ratio, grid)
        cross = _crossings(nmm2_curves, ratio)
        if len(cross) == 1 and unstable and max(unstable) >= grid[-1]:
            cross.append(float(grid[-1]))            # the region runs past the end of the I range
        rows.append({"tau_s/tau_m": ratio,
                     "unstable_from_I": min(unstable) if unstable else np.nan,
                     "unstable_to_I": max(unstable) if unstable else np.nan,
                     "curve_from_I": cross[0] if cross else np.nan,
                     "curve_to_I": cross[-1] if cross else np.nan,
                     "grid_step_I": float(grid[1] - grid[0]), "nmm1_unstable_points": int(n1)})
    scan = pd.DataFrame(rows, columns=list(SCAN_COLUMNS))

    claims = _claims(nmm2_curves, curves[curves.model == "nmm1"], scan, circuit)
    files = {}
    write_table(out_dir, "hopf_curve.csv", curves, CURVE_COLUMNS, files)
    write_table(out_dir, "codim2_points.csv", points.reindex(columns=list(CODIM2_COLUMNS)), CODIM2_COLUMNS, files)
    write_table(out_dir, "stability_scan.csv", scan, SCAN_COLUMNS, files)
    fig = curves_figure(curves, points, ("I", "tau_s/tau_m"),
                        title="interneurons: NMM2 oscillates inside the Hopf curve", models=["nmm2", "nmm1"])
    ax = fig.axes[0]
    for _, row in scan.iterrows():
        if np.isfinite(row.unstable_from_I):
            ax.plot([row.unstable_from_I, row.unstable_to_I], [row["tau_s/tau_m"]] * 2, color="0.5", lw=3,
                    alpha=0.5, solid_capstyle="butt")
    ax.axhline(circuit.vector("tau_s")[0] / circuit.vector("tau_m")[0], color="0.3", lw=0.8, ls=":")
    write_figure(out_dir, "oscillation_region.png", fig,
                 "Hopf curves in (I, tau_s/tau_m), NMM2 and NMM1 side by side; grey bars: I intervals where an "
                 "eigenvalue scan finds NMM2's fixed point unstable; dotted: the preset's tau_s/tau_m", files)
    parameters = dict(preset="interneurons", parameters=["I", "tau_s/tau_m"], ranges=[list(I_RANGE), list(RATIO_RANGE)],
                      tau_m_ms=float(circuit.vector("tau_m")[0]), scan_ratios=list(SCAN_RATIOS),
                      scan_points=int(grid.size), quick=bool(quick))
    return PartResult(files=files, claims=claims, parameters=parameters)


def _claims(c2, c1, scan, circuit):
    hopf = c2[c2.hopf]
    top = float(hopf["tau_s/tau_m"].max()) if len(hopf) else np.nan
    at_top = hopf.loc[hopf["tau_s/tau_m"].idxmax()] if len(hopf) else None
    own = float(circuit.vector("tau_s")[0] / circuit.vector("tau_m")[0])
    above = scan[scan["tau_s/tau_m"] > top]
    closes = len(hopf) > 0 and top < max(RATIO_RANGE) and above.unstable_from_I.isna().all() and own < top
    claims = [Claim(
        "b1", "NMM2 interneurons oscillate only for fast enough synapses: the oscillation region closes as tau_s/tau_m grows",
        PAPER, (f"the Hopf curve reaches tau_s/tau_m = {top:.4f} at most (I = {at_top['I']:.2f}, "
                f"{at_top['frequency_hz']:.1f} Hz; tau_s = {top * circuit.vector('tau_m')[0]:.2f} ms); the preset has "
                f"{own:.3f}; no unstable fixed point in the scan above it") if at_top is not None else "no Hopf curve",
        top, bool(closes))]
    inside = scan.dropna(subset=["unstable_from_I"])
    worst = 0.0
    ok = len(inside) > 0
    for _, row in scan.iterrows():
        a, b = np.isfinite(row.unstable_from_I), np.isfinite(row.curve_from_I)
        if a != b:
            ok = False
            worst = np.inf
            continue
        if a:
            d = max(abs(row.unstable_from_I - row.curve_from_I), abs(row.unstable_to_I - row.curve_to_I))
            worst = max(worst, d)
            ok &= d <= row.grid_step_I
    claims.append(Claim(
        "b2", "the Hopf curve bounds the region where NMM2's fixed point is unstable (independent eigenvalue scan)",
        "Kuznetsov 2004 (Hopf bifurcation: a complex pair crosses the imaginary axis)",
        f"at {len(scan)} values of tau_s/tau_m, the scan's unstable I-interval ends within {worst:.3g} QIF units of the "
        f"curve's crossings (I grid step {scan.grid_step_I.iloc[0]:.3g})", worst, bool(ok), "QIF units"))
    n1 = int(scan.nmm1_unstable_points.sum())
    claims.append(Claim(
        "b3", "NMM1 has no oscillation region: no Hopf curve and a stable fixed point everywhere",
        PAPER, f"{int(c1.hopf.sum()) if len(c1) else 0} NMM1 Hopf points; {n1} unstable NMM1 fixed points in the scan",
        float(n1), len(c1) == 0 and n1 == 0, "points"))
    return claims
