"""Part d: convergence of NMM2 to NMM1 as tau_s / tau_m grows (docs/paper-reproduction.md, part d).

Claims of Clusella et al. (Biol. Cybern. 117, 5-19, 2023; docs/models.md M4, M7.3): NMM1 is the
limit of NMM2 for infinitely slow synapses (tau_s / tau_m -> infinity); the limit needs tau_s long
compared with the relaxation time pi tau_m^2 r* / Delta of the frozen-input (r, v) focus (M3), and
it fails at the fast synaptic time constants of the paper's populations. It concerns inputs slow
on the synaptic time scale: an input enters NMM1's transfer function directly but passes through
NMM2's (r, v) dynamics (models.md M4).

Method, for the ``pyramidal`` and ``interneurons`` presets with tau_s swept from 0.1 to 100 tau_m
(tau_m and everything else fixed; the fixed point does not depend on tau_s, M4):

- eigenvalues of both Jacobians at the shared fixed point (:func:`stimsim.linearize`). NMM1 has
  two (the synapse); NMM2 four: the pair closest to NMM1's (the *synaptic* pair, matched by least
  relative distance) and the *ringing* pair, the (r, v) focus near -gamma +- 2 pi i r* with
  gamma = Delta / (pi tau_m^2 r*) (M3). Reported: the largest relative distance
  |lambda_NMM2 - lambda_NMM1| / |lambda_NMM1| over the synaptic pair, the decay times
  1 / |Re lambda| of both pairs, and their ratio ``separation`` = ringing decay / synaptic decay
  (the (r, v) dynamics is fast compared with the synapse when it is small);
- the small-signal rate response to an input current (models.md M8), H_NMM2 against H_NMM1, as
  the relative distance |H2 - H1| / |H1| at a *slow* input f = 1 / (2 pi tau_s) (slow on the
  synaptic time scale, so it slows down as tau_s grows), and at two *fast* inputs at fixed
  frequencies: the firing rate r* (the NMM2 ringing) and 300 Hz;
- the limit *holds* at a tau_s where NMM2 is stable, the synaptic pair is within 5 % of NMM1's
  eigenvalues, and the ringing decays at least 10 times faster than the synaptic mode
  (``separation`` <= 0.1).

Files: ``convergence.csv``, ``eigenvalues.csv``, ``convergence.png`` (and ``claims.csv``).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from ._common import Claim, PartResult, write_figure, write_table

#: presets compared (their own tau_s is added to the grid)
PRESETS = ("pyramidal", "interneurons")
#: tau_s / tau_m grid: log-spaced from 10**LOG_RANGE[0] to 10**LOG_RANGE[1], N_RATIOS points
LOG_RANGE = (-1.0, 2.0)
N_RATIOS = 61
QUICK_N_RATIOS = 13
#: fixed fast input frequency, Hz
FAST_HZ = 300.0
#: the limit holds where the synaptic eigenvalues are within EIG_TOL (relative) of NMM1's ...
EIG_TOL = 0.05
#: ... and the ringing decays SEPARATION times faster than the synaptic mode, or more
SEPARATION = 0.1
#: the asymptotic rate of convergence is fitted on tau_s / tau_m >= FIT_FROM
FIT_FROM = 10.0

PAPER = "Clusella et al. 2023 (Biol. Cybern. 117, 5-19)"

CONVERGENCE_COLUMNS = {
    "preset": "stimsim preset (tau_m, Delta, J, eta_bar, I as in stimsim presets; only tau_s varies)",
    "tau_m_ms": "membrane time constant tau_m, ms",
    "tau_s_ms": "synaptic time constant tau_s, ms",
    "tau_s_over_tau_m": "tau_s / tau_m",
    "preset_tau_s": "True on the row of the preset's own tau_s",
    "rate_hz": "firing rate r* at the shared fixed point, Hz",
    "relaxation_ms": "relaxation time pi tau_m^2 r* / Delta of the frozen-input (r, v) focus, ms (models.md M3)",
    "tau_s_over_relaxation": "tau_s / relaxation_ms",
    "nmm2_stability": "fixed point under NMM2 (stimsim.dynamics.classify)",
    "nmm1_stability": "fixed point under NMM1",
    "slow_eigenvalue_distance": "max over the synaptic pair of |lambda_NMM2 - lambda_NMM1| / |lambda_NMM1|",
    "ringing_re_per_ms": "real part of NMM2's ringing eigenvalue pair, 1/ms",
    "ringing_freq_hz": "|Im| / 2 pi of NMM2's ringing pair, Hz",
    "ringing_decay_ms": "1 / |Re| of the ringing pair, ms (NaN if it grows)",
    "synaptic_decay_ms": "1 / |Re| of NMM2's least damped synaptic eigenvalue, ms (NaN if it grows)",
    "nmm1_decay_ms": "1 / |Re| of NMM1's least damped eigenvalue, ms",
    "separation": "ringing_decay_ms / synaptic_decay_ms (inf if NMM2 is unstable)",
    "leading_mode": "NMM2's least damped mode: 'ringing' ((r, v) focus) or 'synaptic'",
    "slow_input_hz": "slow input frequency 1 / (2 pi tau_s), Hz",
    "distance_slow_input": "|H_NMM2 - H_NMM1| / |H_NMM1| at slow_input_hz (NaN if NMM2 is unstable)",
    "distance_at_rate": "|H_NMM2 - H_NMM1| / |H_NMM1| at f = r* (NaN if NMM2 is unstable)",
    "distance_fast_input": f"|H_NMM2 - H_NMM1| / |H_NMM1| at {FAST_HZ:g} Hz (NaN if NMM2 is unstable)",
    "gain_ratio_at_rate": "|H_NMM2| / |H_NMM1| at f = r*",
    "gain_ratio_fast_input": f"|H_NMM1| / |H_NMM2| at {FAST_HZ:g} Hz",
    "limit_holds": (f"NMM2 stable, slow_eigenvalue_distance <= {EIG_TOL:g} and separation <= {SEPARATION:g}"),
}
EIGEN_COLUMNS = {
    "preset": CONVERGENCE_COLUMNS["preset"],
    "tau_s_ms": CONVERGENCE_COLUMNS["tau_s_ms"],
    "tau_s_over_tau_m": CONVERGENCE_COLUMNS["tau_s_over_tau_m"],
    "model": "nmm2 (exact mean field, models.md M2) or nmm1 (static transfer function, M4)",
    "mode": "'synaptic' (NMM1's pair and the NMM2 pair matched to it) or 'ringing' (NMM2's (r, v) focus)",
    "re_per_ms": "real part of the eigenvalue, 1/ms",
    "im_per_ms": "imaginary part, rad/ms",
    "freq_hz": "|Im| / 2 pi, Hz",
}


def ratios(quick=False):
    """The tau_s / tau_m grid (log-spaced)."""
    return np.logspace(*LOG_RANGE, QUICK_N_RATIOS if quick else N_RATIOS)


def split_eigenvalues(ev2, ev1):
    """Split NMM2's eigenvalues into the pair matched to NMM1's and the rest.

    Parameters
    ----------
    ev2 : array of complex (4,)
        NMM2 eigenvalues of one population.
    ev1 : array of complex (2,)
        NMM1 eigenvalues.

    Returns
    -------
    synaptic : ndarray (2,)
        NMM2 eigenvalues matched to ``ev1`` (same order), by least summed relative distance.
    ringing : ndarray (2,)
        The other two.
    distance : float
        max_k |synaptic_k - ev1_k| / |ev1_k|.
    """
    best = None
    for i, j in itertools.permutations(range(len(ev2)), 2):
        d = np.abs(ev2[[i, j]] - ev1) / np.abs(ev1)
        if best is None or d.sum() < best[0]:
            best = (d.sum(), (i, j), float(d.max()))
    _, idx, dist = best
    rest = [k for k in range(len(ev2)) if k not in idx]
    return ev2[list(idx)], ev2[rest], dist


def _decay_ms(ev):
    re = float(np.max(np.real(ev)))
    return -1.0 / re if re < 0 else math.nan


def _row(preset, c, is_preset):
    from stimsim.analysis import state_space
    from stimsim.dynamics import find_fixed_points, is_stable, linearize, classify
    from stimsim.units import rad_per_ms_to_hz

    pop = c.populations[0]
    roots = find_fixed_points(c)
    if len(roots) != 1:
        raise RuntimeError(f"{preset} at tau_s = {pop.tau_s} ms: expected one fixed point, found {len(roots)}")
    r = roots[0]
    lin2, lin1 = linearize(c, "nmm2", r), linearize(c, "nmm1", r)
    syn, ring, dist = split_eigenvalues(lin2.eigenvalues, lin1.eigenvalues)
    ring_lead = ring[np.argmax(ring.real)]
    rate_hz = 1000.0 * float(r[0])
    relax = math.pi * pop.tau_m ** 2 * float(r[0]) / pop.delta
    ring_decay, syn_decay = _decay_ms(ring), _decay_ms(syn)
    stable2 = is_stable(lin2.eigenvalues)
    f_slow = 1000.0 / (2.0 * math.pi * pop.tau_s)
    H = {}
    for model in ("nmm2", "nmm1"):
        ss = state_space(c, model, [1.0], pop.name, "rate", roots=roots)
        H[model] = ss.transfer([f_slow, rate_hz, FAST_HZ])
    h2 = H["nmm2"] if stable2 else np.full(3, np.nan + 0j)
    dist_h = np.abs(h2 - H["nmm1"]) / np.abs(H["nmm1"])
    separation = ring_decay / syn_decay if stable2 else math.inf
    row = dict(
        preset=preset, tau_m_ms=pop.tau_m, tau_s_ms=pop.tau_s, tau_s_over_tau_m=pop.tau_s / pop.tau_m,
        preset_tau_s=is_preset, rate_hz=rate_hz, relaxation_ms=relax, tau_s_over_relaxation=pop.tau_s / relax,
        nmm2_stability=classify(lin2.eigenvalues), nmm1_stability=classify(lin1.eigenvalues),
        slow_eigenvalue_distance=dist, ringing_re_per_ms=float(ring_lead.real),
        ringing_freq_hz=float(abs(rad_per_ms_to_hz(ring_lead.imag))), ringing_decay_ms=ring_decay,
        synaptic_decay_ms=syn_decay, nmm1_decay_ms=_decay_ms(lin1.eigenvalues), separation=separation,
        leading_mode="ringing" if ring.real.max() > syn.real.max() else "synaptic",
        slow_input_hz=f_slow, distance_slow_input=dist_h[0], distance_at_rate=dist_h[1],
        distance_fast_input=dist_h[2], gain_ratio_at_rate=float(np.abs(h2[1]) / np.abs(H["nmm1"][1])),
        gain_ratio_fast_input=float(np.abs(H["nmm1"][2]) / np.abs(h2[2])),
        limit_holds=bool(stable2 and dist <= EIG_TOL and separation <= SEPARATION))
    eig = []
    for model, mode, values in (("nmm1", "synaptic", lin1.eigenvalues), ("nmm2", "synaptic", syn), ("nmm2", "ringing", ring)):
        for z in values:
            eig.append(dict(preset=preset, tau_s_ms=pop.tau_s, tau_s_over_tau_m=pop.tau_s / pop.tau_m, model=model,
                            mode=mode, re_per_ms=float(z.real), im_per_ms=float(z.imag),
                            freq_hz=float(abs(rad_per_ms_to_hz(z.imag)))))
    return row, eig


def crossover(sub, holds=None):
    """Smallest tau_s (ms) from which ``holds`` (default: the limit holds) is true at every larger tau_s of the grid.

    Parameters
    ----------
    sub : DataFrame
        Rows of one preset of ``convergence.csv``.
    holds : array of bool, optional
        Per row of ``sub``; default ``sub['limit_holds']``.

    Returns
    -------
    float
        tau_s in ms, NaN if it does not hold at the largest tau_s.
    """
    order = np.argsort(sub["tau_s_ms"].to_numpy())
    holds = (sub["limit_holds"] if holds is None else pd.Series(holds, index=sub.index)).to_numpy(dtype=bool)[order]
    sub = sub.iloc[order]
    if not holds[-1]:
        return math.nan
    k = len(holds) - 1
    while k > 0 and holds[k - 1]:
        k -= 1
    return float(sub["tau_s_ms"].iloc[k])


def loglog_slope(x, y):
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def run(out_dir, progress, quick=False):
    """Compute, check and write part d into ``out_dir``.

    Parameters
    ----------
    out_dir : pathlib.Path
        The part's folder (exists, empty).
    progress : stimsim.reproduce._common.Progress
    quick : bool
        Reduced resolution: 13 values of tau_s / tau_m instead of 61.

    Returns
    -------
    PartResult
    """
    import stimsim

    grid = ratios(quick)
    rows, eigs = [], []
    tasks = []
    for name in PRESETS:
        base = stimsim.preset(name)
        tau_m, own = base.populations[0].tau_m, base.populations[0].tau_s
        values = sorted(set(np.round(grid * tau_m, 12)) | {own})
        tasks += [(name, base, ts, ts == own) for ts in values]
    progress.log(f"  eigenvalues and linear responses: {len(PRESETS)} presets x {len(tasks) // len(PRESETS)} values of tau_s")
    for name, base, ts, own in progress.steps(tasks, desc="tau_s sweep"):
        row, eig = _row(name, base.replace(tau_s=float(ts)), bool(own))
        rows.append(row)
        eigs += eig
    table = pd.DataFrame(rows, columns=list(CONVERGENCE_COLUMNS))
    eigen = pd.DataFrame(eigs, columns=list(EIGEN_COLUMNS))
    claims = _claims(table)
    files = {}
    write_table(out_dir, "convergence.csv", table, CONVERGENCE_COLUMNS, files)
    write_table(out_dir, "eigenvalues.csv", eigen, EIGEN_COLUMNS, files)
    write_figure(out_dir, "convergence.png", _figure(table),
                 "against tau_s / tau_m, both presets: slow-eigenvalue distance; decay times of NMM2's ringing and "
                 "synaptic modes and of NMM1; their ratio; response distance at slow and fast inputs; dashed: "
                 "tau_s = relaxation time, shaded: where the limit holds", files)
    parameters = dict(presets=list(PRESETS), tau_s_over_tau_m=dict(logspace=list(LOG_RANGE), n=int(grid.size)),
                      plus="each preset's own tau_s", drive="current into the population, QIF units",
                      readout="rate, Hz", slow_input="f = 1 / (2 pi tau_s)", fast_inputs=["f = r*", f"{FAST_HZ:g} Hz"],
                      limit_holds=CONVERGENCE_COLUMNS["limit_holds"], fit_from_tau_s_over_tau_m=FIT_FROM,
                      quick=bool(quick))
    return PartResult(files=files, claims=claims, parameters=parameters)


def _claims(table):
    claims = []
    texts, ok1, ok2 = [], True, True
    texts2 = []
    cross, fails, fast = [], [], []
    ok3 = ok4 = ok5 = True
    for name, sub in table.groupby("preset", sort=False):
        sub = sub.sort_values("tau_s_ms")
        tail = sub[sub["tau_s_over_tau_m"] >= FIT_FROM * (1 - 1e-9)]
        last = sub.iloc[-1]
        own = sub[sub["preset_tau_s"]].iloc[0]
        s1 = loglog_slope(tail["tau_s_over_tau_m"], tail["slow_eigenvalue_distance"])
        ok1 &= last["slow_eigenvalue_distance"] < 1e-3 and -1.1 <= s1 <= -0.9
        ts_eig = crossover(sub, sub["slow_eigenvalue_distance"].to_numpy() <= EIG_TOL)
        texts.append(f"{name}: {own['slow_eigenvalue_distance']:.1e} at its own tau_s = {own['tau_s_ms']:g} ms, "
                     f"within {EIG_TOL:.0%} from tau_s = {ts_eig:.3g} ms, "
                     f"{last['slow_eigenvalue_distance']:.1e} at tau_s/tau_m = {last['tau_s_over_tau_m']:g}, "
                     f"slope {s1:.2f} for tau_s/tau_m >= {FIT_FROM:g}")
        s2 = loglog_slope(tail["tau_s_over_tau_m"], tail["distance_slow_input"])
        ok2 &= last["distance_slow_input"] < 1e-3 and -1.1 <= s2 <= -0.9
        texts2.append(f"{name}: {last['distance_slow_input']:.1e} at tau_s/tau_m = {last['tau_s_over_tau_m']:g}, "
                      f"slope {s2:.2f}")
        ts_c = crossover(sub)
        ratio_c = ts_c / own["relaxation_ms"]
        ok3 &= bool(np.isfinite(ratio_c) and ratio_c > 1.0)
        cross.append(f"{name}: from tau_s = {ts_c:.0f} ms = {ratio_c:.1f} x the relaxation time "
                     f"{own['relaxation_ms']:.1f} ms")
        ok4 &= not bool(own["limit_holds"])
        fails.append(f"{name} (tau_s = {own['tau_s_ms']:g} ms, relaxation {own['relaxation_ms']:.1f} ms): NMM2 "
                     f"{own['nmm2_stability']} (least damped mode: {own['leading_mode']}, "
                     f"{own['ringing_freq_hz']:.0f} Hz ringing), NMM1 {own['nmm1_stability']}"
                     + ("" if own["nmm2_stability"].startswith("unstable") else f", separation {own['separation']:.2f}"))
        stable = sub[sub["nmm2_stability"].str.startswith("stable")]
        m_rate, m_fast = stable["distance_at_rate"].min(), stable["distance_fast_input"].min()
        ok5 &= bool(len(stable)) and m_rate > 0.5 and m_fast > 0.5
        fast.append(f"{name}: at least {m_rate:.2f} at f = r* ({own['rate_hz']:.0f} Hz) and {m_fast:.2f} at "
                    f"{FAST_HZ:g} Hz, where NMM1's gain is {stable['gain_ratio_fast_input'].min():.1f}-"
                    f"{stable['gain_ratio_fast_input'].max():.1f} times NMM2's")
    value = float(table.groupby("preset")["slow_eigenvalue_distance"].last().max())
    claims.append(Claim(
        "d1", "NMM1 is the limit of NMM2 for infinitely slow synapses: the slow (synaptic) eigenvalues converge",
        PAPER, "relative distance of NMM2's synaptic eigenvalues from NMM1's: " + "; ".join(texts), value, ok1, ""))
    claims.append(Claim(
        "d2", "Responses to inputs slow on the synaptic time scale converge (f = 1 / (2 pi tau_s))",
        PAPER, "|H_NMM2 - H_NMM1| / |H_NMM1|: " + "; ".join(texts2),
        float(table.groupby("preset")["distance_slow_input"].last().max()), ok2, ""))
    claims.append(Claim(
        "d3", "NMM1 approximates NMM2 only when tau_s is long compared with the relaxation time pi tau_m^2 r* / Delta",
        f"{PAPER}; docs/models.md M3, M7.3",
        f"the limit holds (synaptic eigenvalues within {EIG_TOL:.0%}, ringing decaying >= {1 / SEPARATION:g}x faster, "
        "NMM2 stable) " + "; ".join(cross),
        float(np.nanmin([crossover(s) / s["relaxation_ms"].iloc[0] for _, s in table.groupby("preset")])),
        ok3, "x relaxation time"))
    claims.append(Claim(
        "d4", "The limit fails at the fast synapses of the paper's populations",
        PAPER, "; ".join(fails), float((~table[table["preset_tau_s"]]["limit_holds"]).sum()), ok4, "presets"))
    claims.append(Claim(
        "d5", "Fast inputs are not captured by NMM1 at any tau_s: the input enters NMM1's transfer function directly",
        f"{PAPER}; docs/models.md M4", "|H_NMM2 - H_NMM1| / |H_NMM1| over every tau_s with NMM2 stable: " + "; ".join(fast),
        float(table["distance_fast_input"].min()), ok5, ""))
    return claims


def _figure(table):
    from ..plots import subplots, themed
    import seaborn as sns

    @themed("whitegrid")
    def draw():
        fig, axes = subplots(2, 2, figsize=(11, 7.8), sharex=True)
        colors = dict(zip(PRESETS, sns.color_palette("deep", len(PRESETS))))
        for name, sub in table.groupby("preset", sort=False):
            sub = sub.sort_values("tau_s_over_tau_m")
            col = colors.get(name, "0.3")
            x = sub["tau_s_over_tau_m"]
            relax = sub["relaxation_ms"].iloc[0] / sub["tau_m_ms"].iloc[0]
            ax = axes[0, 0]
            ax.loglog(x, sub["slow_eigenvalue_distance"], color=col, label=name)
            ax = axes[0, 1]
            ax.loglog(x, sub["ringing_decay_ms"], color=col, label=f"{name}: NMM2 ringing")
            ax.loglog(x, sub["synaptic_decay_ms"], color=col, ls="--", label=f"{name}: NMM2 synaptic")
            ax.loglog(x, sub["nmm1_decay_ms"], color=col, ls=":", label=f"{name}: NMM1")
            ax = axes[1, 0]
            ax.loglog(x, sub["separation"].replace(np.inf, np.nan), color=col, label=name)
            ax = axes[1, 1]
            ax.loglog(x, sub["distance_slow_input"], color=col, label=f"{name}: slow, f = 1/(2 pi tau_s)")
            ax.loglog(x, sub["distance_at_rate"], color=col, ls="--", label=f"{name}: f = r*")
            ax.loglog(x, sub["distance_fast_input"], color=col, ls=":", label=f"{name}: {FAST_HZ:g} Hz")
            holds = sub[sub["limit_holds"]]
            for a in axes.ravel():
                a.axvline(relax, color=col, ls="--", lw=0.8)
                if len(holds):
                    a.axvspan(holds["tau_s_over_tau_m"].min(), x.max(), color=col, alpha=0.06)
            unstable = sub[sub["nmm2_stability"].str.startswith("unstable")]
            if len(unstable):
                axes[1, 0].axvspan(x.min(), unstable["tau_s_over_tau_m"].max(), color=col, alpha=0.15,
                                   label=f"{name}: NMM2 oscillates")
        axes[0, 0].axhline(EIG_TOL, color="0.5", lw=0.8)
        axes[1, 0].axhline(SEPARATION, color="0.5", lw=0.8)
        axes[0, 0].set_ylabel("synaptic eigenvalues:\n|NMM2 - NMM1| / |NMM1|")
        axes[0, 1].set_ylabel("decay time 1/|Re lambda| (ms)")
        axes[1, 0].set_ylabel("separation: ringing decay /\nsynaptic decay (NMM2)")
        axes[1, 1].set_ylabel("response |H2 - H1| / |H1|")
        for a in axes[1]:
            a.set_xlabel("tau_s / tau_m")
        fig.suptitle("NMM2 vs NMM1 against tau_s / tau_m; dashed: tau_s = relaxation time pi tau_m^2 r* / Delta "
                     "of the (r, v) focus; shaded: where the limit holds", fontsize=9)
        for a in axes.ravel():
            a.legend(fontsize=6.5)
        fig.tight_layout()
        return fig

    return draw()
