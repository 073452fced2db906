"""Figures of the analysis layer (seaborn): tables in, figures out.

Each function returns a :class:`matplotlib.figure.Figure` made without pyplot under a temporary
seaborn style (:func:`stimsim.plots.themed`): no backend is selected and no rcParam changes.

- :func:`resonance_curves`: gain and phase against frequency, one column per model (NMM2 vs NMM1),
  one line per parameter set (linear theory as lines, lock-in as markers).
- :func:`resonance_peaks`: resonance peak frequency and height against each swept parameter.
- :func:`arnold_tongue`: PLV (1:1) heat map over drive frequency x amplitude, 1:1-locked cells dotted.
- :func:`plv_vs_amplitude`: PLV against amplitude at fixed drive frequencies, with the surrogate level.

Rows flagged ``diverged`` (runs that became non-finite) are not drawn as data; each figure draws
what is valid and says how many runs diverged (a panel whose runs all diverged says 'all runs
diverged').
"""
from __future__ import annotations

import numpy as np

import seaborn as sns

from ..plots import subplots, themed


_UNIT_WORDS = {"hz": "Hz", "v": "V", "m": "m", "unit": "unit", "qif": "QIF units", "mv": "mV"}


def unit_label(column, prefix):
    """'gain_hz_per_v_per_m' -> 'Hz per V/m'; 'amplitude_unit' -> 'model units'."""
    rest = column[len(prefix):]
    rest = rest.replace("v_per_m", "V/m").replace("unit", "model unit")
    return " ".join(_UNIT_WORDS.get(w, w) for w in rest.split("_"))


def _diverged(table):
    """(n,) bool: rows flagged ``diverged`` (all False for tables without the column)."""
    if "diverged" not in table:
        return np.zeros(len(table), dtype=bool)
    return table["diverged"].to_numpy(dtype=bool)


def _note_diverged(ax, n_bad, n_all, what="runs", y=0.5):
    """Write on ``ax`` that runs diverged: 'all runs diverged' or 'k of n runs diverged (not shown)'."""
    if not n_bad:
        return
    text = f"all {what} diverged" if n_bad == n_all else f"{n_bad} of {n_all} {what} diverged (not shown)"
    ax.text(0.5, y, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="crimson",
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="crimson"))


def _col(table, prefix):
    cols = [c for c in table.columns if c.startswith(prefix)]
    return cols[0] if cols else None


def _reference_values(table, params):
    """The middle value of each swept parameter (used to fix the others in one-parameter views)."""
    ref = {}
    for p in params:
        vals = np.sort(table[p].dropna().unique())
        ref[p] = vals[(len(vals) - 1) // 2] if len(vals) else None
    return ref


def _fix_others(table, params, keep):
    ref = _reference_values(table, params)
    sub = table
    for p in params:
        if p not in keep:
            sub = sub[np.isclose(sub[p], ref[p])]
    return sub, {p: ref[p] for p in params if p not in keep}


def _set_label(frame, params):
    if not params:
        return np.full(len(frame), "")
    return frame[params].apply(lambda r: ", ".join(f"{p}={r[p]:g}" for p in params), axis=1).to_numpy()


@themed("whitegrid")
def resonance_curves(table, params=()):
    """Gain and phase vs frequency, NMM1 vs NMM2 side by side, one line per parameter set.

    With several swept parameters, one line per value of the first (e.g. J) with the others at
    their middle value (stated in the title).
    """
    params = list(params)
    sub, fixed = _fix_others(table, params, params[:1])
    gain = _col(table, "gain_")
    models = list(dict.fromkeys(sub["model"]))
    fig, axes = subplots(2, len(models), figsize=(5.2 * len(models), 6.5), sharex=True)
    sub = sub.assign(parameter_set=_set_label(sub, params[:1]))
    palette = dict(zip(dict.fromkeys(sub["parameter_set"]), sns.color_palette("viridis", sub["parameter_set"].nunique())))
    amp_col = _col(table, "amplitude_")
    for j, model in enumerate(models):
        m = sub[sub["model"] == model]
        for label, s in m.groupby("parameter_set", sort=False):
            lin = s[s["method"] == "linear"]
            if len(lin):
                axes[0, j].plot(lin["freq_hz"], lin[gain], color=palette[label], lw=1.5, label=label or "linear")
                axes[1, j].plot(lin["freq_hz"], lin["phase_deg"], color=palette[label], lw=1.5)
            lock = s[(s["method"] == "lockin").to_numpy() & ~_diverged(s)]
            for k, (amp, la) in enumerate(lock.groupby(amp_col, sort=True)):
                mk = "os^Dv"[k % 5]
                axes[0, j].plot(la["freq_hz"], la[gain], mk, ms=3.5, mfc="none", color=palette[label],
                                label=f"lock-in {amp:g}" if label == next(iter(palette)) else None)
                axes[1, j].plot(la["freq_hz"], la["phase_deg"], mk, ms=3.5, mfc="none", color=palette[label])
        lock_all = m[m["method"] == "lockin"]
        _note_diverged(axes[0, j], int(np.count_nonzero(_diverged(lock_all))), len(lock_all), "lock-in runs", y=0.9)
        axes[0, j].set_title(model.upper())
        axes[0, j].set_ylabel(f"gain ({unit_label(gain, 'gain_')})")
        axes[1, j].set_ylabel("phase (deg)")
        axes[1, j].set_xlabel("drive frequency (Hz)")
    axes[0, -1].legend(fontsize=8, loc="best")
    if fixed:
        fig.suptitle(", ".join(f"{k} = {v:g}" for k, v in fixed.items()), fontsize=10)
    fig.tight_layout()
    return fig


@themed("whitegrid")
def resonance_peaks(summary, params=()):
    """Resonance peak frequency and height vs each swept parameter (others at their middle value).

    The peak-frequency panel also shows the output population's rate r* at the fixed point (dotted).

    Curves without a peak inside the grid (maximum at a grid edge, e.g. NMM1 at the lowest
    frequency) and curves with diverged runs are left out, and said so.
    """
    params = list(params) or [None]
    peak_gain = _col(summary, "peak_gain_")
    fig, axes = subplots(2, len(params), figsize=(4.8 * len(params), 6.2))
    for j, p in enumerate(params):
        if p is None:
            sub, fixed = summary, {}
            x = "model"
        else:
            sub, fixed = _fix_others(summary, [q for q in params if q], [p])
            x = p
        bad = sub["n_diverged"].to_numpy() > 0 if "n_diverged" in sub else np.zeros(len(sub), dtype=bool)
        res = sub[sub["resonance"].to_numpy(dtype=bool) & ~bad]
        diverged = sorted(set(sub.loc[bad, "model"]))
        none = sorted(set(sub.loc[~bad, "model"]) - set(res["model"]))
        for i, y in enumerate(("peak_freq_hz", peak_gain)):
            ax = axes[i, j]
            if len(res):
                sns.lineplot(data=res, x=x, y=y, hue="model", style="method", markers=True, ax=ax,
                             errorbar=None, estimator=None, sort=True)
            if i == 0 and x != "model" and "fixed_point_rate_hz" in sub and len(sub):
                # the population's own rate r*: NMM2's (r, v) focus rings near it (models.md M7.2)
                rates = sub.drop_duplicates(x).sort_values(x)
                ax.plot(rates[x], rates["fixed_point_rate_hz"], color="0.4", ls=":", lw=1.2,
                        label="rate r* at fixed point")
                ax.legend(fontsize=7)
            ax.set_ylabel("peak frequency (Hz)" if i == 0 else f"peak gain ({unit_label(peak_gain, 'peak_gain_')})")
            notes = (["no peak inside the grid: " + ", ".join(m.upper() for m in none)] if none else []) + (
                ["runs diverged (curves not shown): " + ", ".join(m.upper() for m in diverged)] if diverged else [])
            if notes:
                ax.text(0.02, 0.95, "\n".join(notes), transform=ax.transAxes, fontsize=8, va="top")
        if fixed:
            axes[0, j].set_title(", ".join(f"{k} = {v:g}" for k, v in fixed.items()), fontsize=10)
    fig.tight_layout()
    return fig


@themed("white")
def arnold_tongue(table, params=()):
    """PLV (1:1) over drive frequency x amplitude, one panel per model (x parameter set); dots = 1:1 locked.

    Diverged runs are left blank and crossed; a panel whose runs all diverged says so.
    """
    params = list(params)
    amp = _col(table, "amplitude_")
    tab = table.assign(parameter_set=_set_label(table, params))
    panels = list(tab.groupby(["model", "parameter_set"], sort=False))[:8]
    fig, axes = subplots(1, len(panels), figsize=(5.4 * len(panels), 4.4))
    for ax, ((model, label), s) in zip(axes[0], panels):
        bad = _diverged(s)
        valid, crossed = s[~bad], s[bad]
        freqs, amps = np.sort(s["freq_hz"].unique()), np.sort(s[amp].unique())
        plv = np.full((amps.size, freqs.size), np.nan)
        cells = valid.groupby([amp, "freq_hz"])["plv_1to1"].mean()       # mean over repeated cells, as pivot_table
        if len(cells):
            a_idx, f_idx = (np.searchsorted(v, cells.index.get_level_values(i)) for i, v in enumerate((amps, freqs)))
            plv[a_idx, f_idx] = cells.to_numpy()
        mesh = ax.pcolormesh(_edges(freqs), _edges(amps), np.ma.masked_invalid(plv), vmin=0, vmax=1, cmap="magma",
                             shading="flat")
        locked = valid[valid["locked_1to1"].astype(bool)]
        if len(locked):
            ax.plot(locked["freq_hz"], locked[amp], ".", color="cyan", ms=4, label="1:1 locked")
        if len(crossed):
            ax.plot(crossed["freq_hz"], crossed[amp], "x", color="crimson", ms=5, label=f"diverged ({len(crossed)} of {len(s)})")
        f0 = valid["natural_freq_hz"].dropna()
        if len(f0):
            ax.axvline(f0.iloc[0], color="w", ls="--", lw=1, label=f"natural {f0.iloc[0]:.1f} Hz")
        if len(crossed) == len(s):
            _note_diverged(ax, len(crossed), len(s))
        ax.set_xlabel("drive frequency (Hz)")
        ax.set_ylabel(f"amplitude ({unit_label(amp, 'amplitude_')})")
        forced = "" if not len(valid) or valid["self_oscillating"].any() else " (no free rhythm: forced response)"
        ax.set_title(f"{model.upper()} {label}{forced}".strip(), fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper right")
        fig.colorbar(mesh, ax=ax, label="PLV 1:1")
    fig.tight_layout()
    return fig


def _edges(x):
    x = np.asarray(x, dtype=float)
    if x.size == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    mid = 0.5 * (x[1:] + x[:-1])
    return np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])


@themed("whitegrid")
def plv_vs_amplitude(table, freqs_hz=(), params=()):
    """PLV (1:1) against amplitude at fixed drive frequencies (default: the three nearest the
    natural frequency), with the surrogate level dashed."""
    amp = _col(table, "amplitude_")
    params = list(params)
    tab = table.assign(parameter_set=_set_label(table, params))
    all_f = np.sort(tab["freq_hz"].unique())
    if len(freqs_hz):
        chosen = [all_f[np.argmin(np.abs(all_f - f))] for f in freqs_hz]
    else:
        f0 = tab["natural_freq_hz"].dropna()
        centre = f0.iloc[0] if len(f0) else np.median(all_f)
        chosen = list(all_f[np.argsort(np.abs(all_f - centre))[:3]])
    chosen = sorted(set(chosen))
    panels = list(tab.groupby(["model", "parameter_set"], sort=False))[:8]
    fig, axes = subplots(1, len(panels), figsize=(5 * len(panels), 3.8))
    colors = sns.color_palette("viridis", len(chosen))
    for ax, ((model, label), s) in zip(axes[0], panels):
        bad = _diverged(s)
        valid = s[~bad]
        for c, f in zip(colors, chosen):
            r = valid[np.isclose(valid["freq_hz"], f)].sort_values(amp)
            if len(r):
                ax.plot(r[amp], r["plv_1to1"], "o-", color=c, ms=3, label=f"{f:.1f} Hz")
                ax.plot(r[amp], r["plv_surrogate"], ":", color=c, lw=1)
        shown = np.isclose(s["freq_hz"].to_numpy()[:, None], np.asarray(chosen, dtype=float)[None, :]).any(axis=1)
        _note_diverged(ax, int(np.count_nonzero(bad & shown)), int(np.count_nonzero(shown)))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"amplitude ({unit_label(amp, 'amplitude_')})")
        ax.set_ylabel("PLV 1:1 (dotted: surrogate)")
        ax.set_title(f"{model.upper()} {label}".strip())
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
