"""Resonance summary of frequency-response curves (models.md M7.2, M8; Clusella et al., Biol. Cybern. 117, 5-19, 2023).

Per curve (gain against frequency on the grid given):

- ``peak_freq_hz``, ``peak_gain``: the maximum, refined by a parabola through the three grid
  points around it (in log gain, so a Lorentzian-like peak is fitted well);
- ``low_freq_hz``, ``low_freq_gain``: the lowest frequency of the grid and the gain there;
- ``peak_ratio``: peak gain / low-frequency gain;
- ``bandwidth_hz``: half-power (gain / sqrt 2) full width, by linear interpolation between grid
  points; NaN when the curve does not fall below half power on both sides inside the grid;
- ``q_factor``: peak_freq_hz / bandwidth_hz (for one weakly damped pair, Q ~ omega0 / (2 gamma));
- ``resonance``: False ("no resonance") when the maximum is at the lowest frequency of the grid
  (the low-pass response of NMM1, M7.2), or the curve is NaN (unstable fixed point).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

HALF_POWER = 1.0 / np.sqrt(2.0)


def resonance_summary_curve(freqs_hz, gain):
    """Resonance figures of one curve; see the module docstring.

    Parameters
    ----------
    freqs_hz : array_like (n,)
        Increasing frequencies, Hz.
    gain : array_like (n,)
        Gain at those frequencies (any units).

    Returns
    -------
    dict
    """
    f = np.asarray(freqs_hz, dtype=float)
    g = np.asarray(gain, dtype=float)
    if f.ndim != 1 or f.shape != g.shape or f.size < 2:
        raise ValueError(f"freqs_hz and gain must be 1-D arrays of one length >= 2, got {f.shape} and {g.shape}")
    order = np.argsort(f)
    f, g = f[order], g[order]
    out = dict(peak_freq_hz=np.nan, peak_gain=np.nan, low_freq_hz=f[0], low_freq_gain=g[0],
               peak_ratio=np.nan, bandwidth_hz=np.nan, q_factor=np.nan, resonance=False)
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
        out.update(peak_freq_hz=f[0], peak_gain=g[0], peak_ratio=1.0)
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
        ``peak_ratio``, ``bandwidth_hz``, ``q_factor``, ``resonance`` and ``summary`` (text).
    """
    if gain_column is None:
        gains = [c for c in table.columns if c.startswith("gain_")]
        if len(gains) != 1:
            raise ValueError(f"give gain_column; the table has gain columns {gains}")
        gain_column = gains[0]
    per_freq = {"freq_hz", "phase_deg", "stable", "stability"} | {
        c for c in table.columns if c.split("_")[0] in ("gain", "response", "mean", "harmonic2", "harmonic3", "baseline")}
    if by is None:
        by = [c for c in table.columns if c not in per_freq]
    unit = gain_column[len("gain_"):]
    rows = []
    for key, sub in table.groupby(by, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        s = resonance_summary_curve(sub["freq_hz"].to_numpy(), sub[gain_column].to_numpy())
        row = dict(zip(by, key))
        row.update(peak_freq_hz=s["peak_freq_hz"], **{f"peak_gain_{unit}": s["peak_gain"]},
                   low_freq_hz=s["low_freq_hz"], **{f"low_freq_gain_{unit}": s["low_freq_gain"]},
                   peak_ratio=s["peak_ratio"], bandwidth_hz=s["bandwidth_hz"], q_factor=s["q_factor"],
                   resonance=s["resonance"])
        if "stable" in sub and not bool(sub["stable"].iloc[0]):
            row["summary"] = "unstable fixed point"
        elif s["resonance"]:
            row["summary"] = f"resonance at {s['peak_freq_hz']:.1f} Hz"
        else:
            row["summary"] = "no resonance"
        rows.append(row)
    return pd.DataFrame(rows)
