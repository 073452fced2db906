"""Regional observables of a whole-brain run, and regional response maps.

Inputs are plain arrays (time along the last axis, as in :mod:`stimsim.analysis`): a rate
(Hz) per region sampled every ``dt_ms``. Outputs are tidy tables, one row per region.

- :func:`regional_response`: mean rate, band power (Welch), and the amplitude and phase of the
  response at the drive frequency (least-squares lock-in over whole cycles,
  :func:`stimsim.analysis.lockin`) per region;
- :func:`regional_entrainment`: per region, phase locking of the rate to a sinusoidal drive,
  judged against the same region's unstimulated run (:mod:`stimsim.analysis` entrainment method);
- :func:`response_map_figure`: region centres coloured by a value, in three orthogonal views.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError


def _check_series(rates_hz, dt_ms, labels):
    y = np.asarray(rates_hz, dtype=float)
    if y.ndim != 2 or y.shape[1] < 3:
        raise InputError(f"rates_hz must be (regions, samples) with >= 3 samples, got shape {y.shape}")
    if labels is not None and len(labels) != y.shape[0]:
        raise InputError(f"{len(labels)} region labels for {y.shape[0]} regions")
    if not np.all(np.isfinite(y)):
        raise InputError("rates_hz contains NaN or inf (a diverged run has no regional response)")
    if not dt_ms > 0:
        raise InputError(f"dt_ms must be > 0, got {dt_ms!r}")
    return y


def segment_samples(n, dt_ms, resolution_hz=1.0):
    """Welch segment length (samples) for a frequency resolution of ``resolution_hz`` (at most n)."""
    return int(min(n, int(np.ceil(1000.0 / (resolution_hz * dt_ms)))))


def regional_response(rates_hz, dt_ms, t0_ms=0.0, drive_hz=None, band_hz=None, labels=None):
    """Per-region summary of rates sampled every ``dt_ms`` from ``t0_ms``.

    Parameters
    ----------
    rates_hz : array (R, n)
        Rate of each region's output population, Hz.
    dt_ms, t0_ms : float
        Sample spacing and time of the first sample, ms (the lock-in phase is relative to
        cos(2 pi f t)).
    drive_hz : float, optional
        Drive frequency: adds ``response_hz`` (zero-to-peak amplitude at it) and ``phase_rad``.
    band_hz : (float, float), optional
        Adds ``band_power_hz2`` (Welch power of the rate in the band, Hz^2; 1 s segments, i.e.
        1 Hz resolution, or the whole series when shorter).
    labels : list of str, optional

    Returns
    -------
    pandas.DataFrame
        region, mean_rate_hz [, response_hz, phase_rad] [, band_power_hz2].

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(2000) * 0.5
    >>> y = np.stack([10 + 2 * np.cos(2 * np.pi * 10 * t / 1000), 5 + 0 * t])
    >>> regional_response(y, 0.5, drive_hz=10.0)[["mean_rate_hz", "response_hz"]].round(6)
       mean_rate_hz  response_hz
    0          10.0          2.0
    1           5.0          0.0
    """
    from ..analysis import band_power, lockin

    y = _check_series(rates_hz, dt_ms, labels)
    R = y.shape[0]
    out = pd.DataFrame({"region": list(labels) if labels is not None else list(range(R)),
                        "mean_rate_hz": y.mean(axis=1)})
    if drive_hz is not None:
        amp, ph = lockin(y, dt_ms, float(drive_hz), t0_ms=t0_ms, n_harmonics=3)
        out["response_hz"] = np.asarray(amp, dtype=float)
        out["phase_rad"] = np.asarray(ph, dtype=float)
    if band_hz is not None:
        out["band_power_hz2"] = np.asarray(band_power(y, dt_ms, tuple(band_hz), nperseg=segment_samples(y.shape[1], dt_ms)),
                                           dtype=float)
    return out


def response_gain(response_hz, field_v_per_m):
    """Response per V/m of field amplitude, per region: response_hz / |field_v_per_m| (Hz per V/m);
    NaN where a region has no field (its gain is undefined).

    Examples
    --------
    >>> response_gain([0.2, 0.1, 0.0], [0.5, -0.25, 0.0]).tolist()
    [0.4, 0.4, nan]
    """
    E = np.abs(np.asarray(field_v_per_m, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(E > 0, np.asarray(response_hz, dtype=float) / E, np.nan)


#: the columns of :func:`regional_entrainment`
ENTRAINMENT_COLUMNS = ("natural_freq_hz", "self_oscillating", "mean_freq_hz", "ratio", "plv", "plv_1to1",
                       "plv_surrogate", "locked", "locked_1to1")


def regional_entrainment(rates_hz, baseline_hz, dt_ms, drive_hz, t0_ms=0.0, criterion=None, key=""):
    """Per region: is the stimulated rate locked to the drive (Arnold-tongue criterion)?

    Each region is judged as :func:`stimsim.entrainment` judges a single circuit (its module
    docstring; Pikovsky, Rosenblum & Kurths, *Synchronization*, CUP 2001; Lachaux et al., Hum.
    Brain Mapp. 8, 194-208, 1999): the Hilbert phase of the rate band-passed around its dominant
    frequency, the p:q ratio closest to mean frequency / drive frequency, the n:m phase-locking
    value (PLV) against the drive phase 2 pi f t, and the null of the region's *unstimulated*
    run (``baseline_hz``, the same network with the stimulus scaled by 0) and of a
    segment-randomised surrogate. A region that does not oscillate without stimulation cannot be
    entrained (its forced response is in ``response_hz`` of :func:`regional_response`):
    ``locked`` is False there.

    Parameters
    ----------
    rates_hz, baseline_hz : array (R, n)
        Rates of each region's output population with and without the stimulus, Hz, sampled
        every ``dt_ms`` from ``t0_ms`` (the same window).
    dt_ms, t0_ms : float
        Sample spacing and time of the first sample, ms.
    drive_hz : float
        Drive frequency, Hz.
    criterion : stimsim.analysis.LockingCriterion, optional
        Thresholds; its ``seed`` and ``key`` seed each region's surrogate draws.
    key : str
        Text identifying the run (e.g. a sweep task key), so that the surrogate draws of a region
        do not depend on which other runs are analysed.

    Returns
    -------
    pandas.DataFrame
        One row per region: natural_freq_hz (NaN: the unstimulated region does not oscillate),
        self_oscillating, mean_freq_hz, ratio ('p:q'), plv, plv_1to1, plv_surrogate, locked,
        locked_1to1.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(8000) * 0.5                                  # ms
    >>> free = 10 + np.cos(2 * np.pi * 9.0 * t / 1000)            # a 9 Hz rhythm, unstimulated
    >>> pulled = 10 + np.cos(2 * np.pi * 10.0 * t / 1000 + 0.3)   # locked to the 10 Hz drive
    >>> out = regional_entrainment([pulled, free], [free, free], 0.5, 10.0)
    >>> out[["ratio", "locked_1to1"]].values.tolist()       # the free 9 Hz rhythm slips: not locked
    [['1:1', True], ['1:1', False]]
    """
    import hashlib

    from ..analysis import LockingCriterion
    from ..analysis._entrainment import analyse_run, output_phase
    from ..analysis._spectra import dominant_frequency

    y = _check_series(rates_hz, dt_ms, None)
    y0 = _check_series(baseline_hz, dt_ms, None)
    if y0.shape != y.shape:
        raise InputError(f"baseline_hz has shape {y0.shape}; it must match rates_hz {y.shape}")
    if not (np.isfinite(drive_hz) and drive_hz > 0):
        raise InputError(f"drive_hz must be a frequency > 0 Hz, got {drive_hz!r}")
    crit = criterion or LockingCriterion()
    rows = []
    for i in range(y.shape[0]):
        ref = y0[i]
        osc = bool(np.ptp(ref) > crit.min_oscillation * max(np.mean(np.abs(ref)), 1e-300))
        f_nat = float(dominant_frequency(ref, dt_ms, fmin_hz=1.0)) if osc else np.nan
        ref_phase = output_phase(ref, dt_ms, f_nat) if osc else None
        digest = hashlib.sha256(f"{key}|{i}".encode()).digest()
        words = np.frombuffer(digest, dtype="<u4")
        rng = np.random.default_rng(np.random.SeedSequence([int(crit.seed), *(int(w) for w in words)]))
        res = analyse_run(y[i], dt_ms, t0_ms, float(drive_hz), ref_phase, crit.max_denominator, crit.freq_tol_hz,
                          crit.plv_threshold, crit.min_oscillation, crit.segment_cycles, crit.n_surrogates, rng)
        row = {"natural_freq_hz": f_nat, "self_oscillating": osc}
        row.update({k: res[k] for k in ENTRAINMENT_COLUMNS if k in res and k not in row})
        if not osc:                                   # a forced response, not entrainment
            row["locked"] = row["locked_1to1"] = False
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=list(ENTRAINMENT_COLUMNS))


def response_map_figure(values, centres_mm, title="", label="", cmap="viridis"):
    """Region centres coloured by ``values`` in three views (axial, sagittal, coronal).

    Parameters
    ----------
    values : array (R,)
    centres_mm : array (R, 3)
        x (left-right), y (posterior-anterior), z (inferior-superior), mm.
    title, label : str
        Figure title and colour-bar label (with units).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..plots import subplots, theme

    v = np.asarray(values, dtype=float)
    c = np.asarray(centres_mm, dtype=float)
    if c.ndim != 2 or c.shape != (v.size, 3):
        raise InputError(f"centres_mm must be ({v.size}, 3) for {v.size} values, got {c.shape}")
    with theme("white"):
        fig, axes = subplots(1, 3, figsize=(12, 4))
        views = (("axial (from above)", 0, 1, "x (mm)", "y (mm)"), ("sagittal (from the left)", 1, 2, "y (mm)", "z (mm)"),
                 ("coronal (from behind)", 0, 2, "x (mm)", "z (mm)"))
        finite = np.isfinite(v)
        lo, hi = (np.nanmin(v[finite]), np.nanmax(v[finite])) if finite.any() else (0.0, 1.0)
        sc = None
        for ax, (name, i, j, xl, yl) in zip(axes[0], views):
            order = np.argsort(c[:, 3 - i - j])                      # draw the far side first
            sc = ax.scatter(c[order, i], c[order, j], c=v[order], cmap=cmap, vmin=lo, vmax=hi, s=60,
                            edgecolors="0.3", linewidths=0.4)
            ax.set_title(name)
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            ax.set_aspect("equal")
        fig.colorbar(sc, ax=axes[0].tolist(), label=label, shrink=0.8)
        if title:
            fig.suptitle(title)
    return fig
