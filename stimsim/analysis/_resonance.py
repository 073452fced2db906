"""Resonance summary of frequency-response curves (models.md M7.2, M8; Clusella et al., Biol. Cybern. 117, 5-19, 2023).

Per curve (gain against frequency on the grid given):

- ``peak_freq_hz``, ``peak_gain``: the maximum, refined by a parabola through the three grid
  points around it (in log gain, so a Lorentzian-like peak is fitted well);
- ``low_freq_hz``, ``low_freq_gain``: the lowest frequency of the grid and the gain there;
- ``peak_ratio``: peak gain / low-frequency gain;
- ``bandwidth_hz``: half-power (gain / sqrt 2) full width, by linear interpolation between grid
  points; NaN when the curve does not fall below half power on both sides inside the grid;
- ``q_factor``: peak_freq_hz / bandwidth_hz (for one weakly damped pair, Q ~ omega0 / (2 gamma));
- ``grid_edge``: 'low' or 'high' when the maximum is at the lowest or highest frequency of the
  grid ("rising to the grid edge": the grid holds no peak, and whether one lies beyond the edge is
  unknown; e.g. the low-pass response of NMM1, M7.2, rises to the low edge), else 'none';
- ``n_diverged``: points of the curve whose simulated run diverged (lock-in rows flagged
  ``diverged``); such a curve reports that instead of a peak (peak figures NaN);
- ``resonance``: True only for a maximum strictly inside the grid of a finite, non-diverged curve;
  False at either grid edge, for a NaN curve (unstable fixed point) and for a diverged one.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

HALF_POWER = 1.0 / np.sqrt(2.0)


def resonance_summary_curve(freqs_hz, gain, diverged=None):
    """Resonance figures of one curve; see the module docstring.

    Parameters
    ----------
    freqs_hz : array_like (n,)
        Frequencies, Hz (sorted here).
    gain : array_like (n,)
        Gain at those frequencies (any units).
    diverged : array_like of bool (n,), optional
        Points whose simulated run diverged; any of them makes the curve report ``n_diverged``
        instead of a peak.

    Returns
    -------
    dict
        ``peak_freq_hz`` (Hz), ``peak_gain``, ``low_freq_hz`` (Hz), ``low_freq_gain`` (gain units),
        ``peak_ratio``, ``bandwidth_hz`` (Hz), ``q_factor``, ``resonance`` (bool), ``grid_edge``
        ('low', 'high' or 'none') and ``n_diverged`` (int).
    """
    f = np.asarray(freqs_hz, dtype=float)
    g = np.asarray(gain, dtype=float)
    if f.ndim != 1 or f.shape != g.shape or f.size < 2:
        raise ValueError(f"freqs_hz and gain must be 1-D arrays of one length >= 2, got {f.shape} and {g.shape}")
    bad = np.zeros(f.shape, dtype=bool) if diverged is None else np.asarray(diverged, dtype=bool)
    if bad.shape != f.shape:
        raise ValueError(f"diverged must have the shape of freqs_hz {f.shape}, got {bad.shape}")
    order = np.argsort(f)
    f, g, bad = f[order], g[order], bad[order]
    out = dict(peak_freq_hz=np.nan, peak_gain=np.nan, low_freq_hz=f[0], low_freq_gain=g[0],
               peak_ratio=np.nan, bandwidth_hz=np.nan, q_factor=np.nan, resonance=False, grid_edge="none",
               n_diverged=int(np.count_nonzero(bad)))
    if out["n_diverged"]:
        out["low_freq_gain"] = np.nan                 # diverged: no figures of the curve, not even partial ones
        return out
    if not np.all(np.isfinite(g)):
        return out
    i = int(np.argmax(g))
    fp, gp = f[i], g[i]
    if 0 < i < f.size - 1 and np.all(g[i - 1:i + 2] > 0):
        # parabola through (f, log g) at i-1, i, i+1 (unequal spacing allowed)
        x, y = f[i - 1:i + 2], np.log(g[i - 1:i + 2])
        a, b, c = np.polyfit(x, y, 2)
        if a < 0:
            xv = -b / (2 * a)
            if x[0] <= xv <= x[2]:
                fp, gp = xv, float(np.exp(np.polyval([a, b, c], xv)))
    out.update(peak_freq_hz=fp, peak_gain=gp, peak_ratio=gp / g[0] if g[0] > 0 else np.inf)
    if i == 0:
        out.update(peak_freq_hz=f[0], peak_gain=g[0], peak_ratio=1.0, grid_edge="low")
        return out
    if i == f.size - 1:
        out.update(peak_freq_hz=f[-1], peak_gain=g[-1], grid_edge="high")
        return out
    out["resonance"] = True
    level = HALF_POWER * gp
    below_lo = np.flatnonzero(g[:i + 1] < level)
    below_hi = np.flatnonzero(g[i:] < level)
    if below_lo.size and below_hi.size:
        j = below_lo[-1]                              # g[j] < level <= g[j + 1]
        lo = np.interp(level, [g[j], g[j + 1]], [f[j], f[j + 1]])
        k = i + below_hi[0]                           # g[k - 1] >= level > g[k]
        hi = np.interp(level, [g[k], g[k - 1]], [f[k], f[k - 1]])
        out.update(bandwidth_hz=hi - lo, q_factor=fp / (hi - lo))
    return out


def resonance_summary(table, gain_column=None, by=None):
    """One row of resonance figures per curve of a :func:`frequency_response` table.

    Parameters
    ----------
    table : DataFrame
        Output of ``frequency_response`` (columns ``freq_hz`` and a ``gain_*`` column).
    gain_column : str, optional
        Default: the single column starting with ``gain_``.
    by : list of str, optional
        Columns identifying a curve; default every column except the per-frequency ones.

    Returns
    -------
    DataFrame
        ``by`` columns plus ``peak_freq_hz``, ``peak_gain_*``, ``low_freq_hz``, ``low_freq_gain_*``,
        ``peak_ratio``, ``bandwidth_hz``, ``q_factor``, ``resonance``, ``grid_edge``,
        ``fixed_point_rate_hz`` (the output population's rate r* at the fixed point, Hz: an NMM2
        resonance near r* is the population's own firing rhythm, models.md M7.2),
        ``n_diverged`` and ``summary`` (text): "resonance at <f> Hz", "rising to the grid edge
        (...)" (maximum at the lowest or highest grid frequency), "unstable fixed point",
        "diverged at <k> of <n> frequencies: no peak reported" (rows flagged ``diverged``), or
        "gain not finite" (e.g. zero drive amplitude).
    """
    if gain_column is None:
        gains = [c for c in table.columns if c.startswith("gain_")]
        if len(gains) != 1:
            raise ValueError(f"give gain_column; the table has gain columns {gains}")
        gain_column = gains[0]
    per_freq = {"freq_hz", "phase_deg", "stable", "stability", "diverged", "fixed_point_rate_hz"} | {
        c for c in table.columns if c.split("_")[0] in ("gain", "response", "mean", "harmonic2", "harmonic3", "baseline")}
    if by is None:
        by = [c for c in table.columns if c not in per_freq]
    unit = gain_column[len("gain_"):]
    rows = []
    for key, sub in table.groupby(by, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        diverged = sub["diverged"].to_numpy(dtype=bool) if "diverged" in sub else None
        s = resonance_summary_curve(sub["freq_hz"].to_numpy(), sub[gain_column].to_numpy(), diverged)
        row = dict(zip(by, key))
        row.update(peak_freq_hz=s["peak_freq_hz"], **{f"peak_gain_{unit}": s["peak_gain"]},
                   low_freq_hz=s["low_freq_hz"], **{f"low_freq_gain_{unit}": s["low_freq_gain"]},
                   peak_ratio=s["peak_ratio"], bandwidth_hz=s["bandwidth_hz"], q_factor=s["q_factor"],
                   resonance=s["resonance"], grid_edge=s["grid_edge"], n_diverged=s["n_diverged"])
        rate = float(sub["fixed_point_rate_hz"].iloc[0]) if "fixed_point_rate_hz" in sub else float("nan")
        row["fixed_point_rate_hz"] = rate
        if s["n_diverged"]:
            row["summary"] = f"diverged at {s['n_diverged']} of {len(sub)} frequencies: no peak reported"
        elif "stable" in sub and not bool(sub["stable"].iloc[0]):
            row["summary"] = "unstable fixed point"
        elif s["resonance"]:
            row["summary"] = f"resonance at {s['peak_freq_hz']:.1f} Hz (population rate r* = {rate:.1f} Hz)"
        elif s["grid_edge"] != "none":
            which = "lowest" if s["grid_edge"] == "low" else "highest"
            row["summary"] = f"rising to the grid edge (maximum at the {which} frequency, {s['peak_freq_hz']:g} Hz)"
        else:
            row["summary"] = "gain not finite"
        rows.append(row)
    return pd.DataFrame(rows)
