"""Power spectra of model outputs (Welch, IEEE Trans. Audio Electroacoust. 15, 70-73, 1967): Welch PSD, dominant frequency, band power.

All functions take a signal sampled every ``dt_ms`` (ms) and return frequencies in Hz; PSDs are
in signal units squared per Hz (``scaling='density'``).
"""
from __future__ import annotations

import numpy as np
from scipy import signal as sps

from ..errors import check_nonnegative, check_positive
from ..units import MS_PER_S


def sampling_rate_hz(dt_ms):
    """Sampling rate 1000 / dt_ms, Hz, of a signal sampled every dt_ms."""
    return MS_PER_S / check_positive("dt_ms", dt_ms, "ms")


def _as_signal(signal, min_len=8):
    y = np.asarray(signal, dtype=float)
    if y.ndim < 1 or y.shape[-1] < min_len:
        raise ValueError(f"signal must have at least {min_len} samples along its last axis, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("signal must be finite (it contains NaN or inf)")
    return y


def welch_psd(signal, dt_ms, nperseg=None, noverlap=None, window="hann", detrend="constant", axis=-1):
    """Welch power spectral density (``scipy.signal.welch``, density scaling).

    Parameters
    ----------
    signal : array_like
        Samples every dt_ms along ``axis``.
    dt_ms : float
        Sample spacing, ms.
    nperseg : int, optional
        Segment length (samples); default min(n, 256) as in scipy. Resolution is 1000/(nperseg dt_ms) Hz.
    noverlap, window, detrend : see ``scipy.signal.welch``.

    Returns
    -------
    freqs_hz : ndarray
    psd : ndarray
        Signal units squared per Hz.
    """
    fs = sampling_rate_hz(dt_ms)
    y = np.moveaxis(_as_signal(np.moveaxis(np.asarray(signal, dtype=float), axis, -1)), -1, axis)
    n = y.shape[axis]
    if nperseg is not None and (int(nperseg) != nperseg or not 8 <= nperseg):
        raise ValueError(f"nperseg must be an integer >= 8, got {nperseg!r}")
    nperseg = min(n, 256 if nperseg is None else int(nperseg))
    return sps.welch(y, fs=fs, window=window, nperseg=nperseg, noverlap=noverlap,
                     detrend=detrend, scaling="density", axis=axis)


def _peak_refine(freqs, power, i):
    """Parabolic interpolation of the log power around bin i (sub-bin peak frequency)."""
    if 0 < i < len(power) - 1 and np.all(power[i - 1:i + 2] > 0):
        a, b, c = np.log(power[i - 1:i + 2])
        denom = a - 2 * b + c
        if denom < 0:
            shift = 0.5 * (a - c) / denom
            return freqs[i] + shift * (freqs[1] - freqs[0])
    return freqs[i]


def dominant_frequency(signal, dt_ms, fmin_hz=0.5, fmax_hz=None, method="periodogram", nperseg=None, pad_factor=4):
    """Frequency (Hz) of the largest spectral peak in [fmin_hz, fmax_hz].

    Parameters
    ----------
    signal : array_like, shape (n_t,) or (..., n_t)
        Samples every dt_ms along the last axis.
    dt_ms : float
        Sample spacing, ms.
    fmin_hz : float
        Lowest frequency considered (excludes the DC/very slow drift), Hz.
    fmax_hz : float, optional
        Highest frequency considered, Hz (default Nyquist).
    method : {'periodogram', 'welch'}
        'periodogram': Hann-windowed, zero-padded to ``pad_factor`` x the length (fine resolution,
        for precise frequencies of steady oscillations); 'welch': ``welch_psd`` (robust to noise).
    nperseg : int, optional
        For 'welch'.
    pad_factor : int
        Zero padding of the periodogram (>= 1).

    Returns
    -------
    float or ndarray
        Peak frequency, Hz, refined by parabolic interpolation of the log power; NaN where the
        signal has no power in the band (e.g. a constant signal).
    """
    fs = sampling_rate_hz(dt_ms)
    fmin_hz = check_nonnegative("fmin_hz", fmin_hz, "Hz")
    fmax_hz = fs / 2 if fmax_hz is None else check_positive("fmax_hz", fmax_hz, "Hz")
    if fmax_hz <= fmin_hz:
        raise ValueError(f"fmax_hz={fmax_hz} must be > fmin_hz={fmin_hz}")
    y = _as_signal(signal)
    if method == "periodogram":
        n = y.shape[-1]
        nfft = int(2 ** np.ceil(np.log2(n * max(1, int(pad_factor)))))
        freqs, power = sps.periodogram(y, fs=fs, window="hann", nfft=nfft, detrend="constant", axis=-1)
    elif method == "welch":
        freqs, power = welch_psd(y, dt_ms, nperseg=nperseg)
    else:
        raise ValueError(f"method must be 'periodogram' or 'welch', got {method!r}")
    band = (freqs >= fmin_hz) & (freqs <= fmax_hz)
    if not np.any(band):
        raise ValueError(f"no frequency bin in [{fmin_hz}, {fmax_hz}] Hz; use a longer signal")
    fb = freqs[band]
    pb = power[..., band]
    flat = pb.reshape(-1, pb.shape[-1])
    out = np.empty(flat.shape[0])
    scale = np.max(np.abs(y.reshape(-1, y.shape[-1]) - y.reshape(-1, y.shape[-1]).mean(-1, keepdims=True)), axis=-1)
    for j, row in enumerate(flat):
        if not np.any(row > 0) or scale[j] <= 1e-12 * max(1.0, np.max(np.abs(y.reshape(-1, y.shape[-1])[j]))):
            out[j] = np.nan
            continue
        out[j] = _peak_refine(fb, row, int(np.argmax(row)))
    out = out.reshape(pb.shape[:-1])
    return float(out) if out.ndim == 0 else out


def band_power(signal, dt_ms, band_hz, nperseg=None):
    """Power of a signal in a frequency band, signal units squared (integral of the Welch PSD).

    Parameters
    ----------
    signal : array_like
        Samples every dt_ms along the last axis.
    dt_ms : float
        Sample spacing, ms.
    band_hz : (float, float)
        Lower and upper edge, Hz.
    nperseg : int, optional
        Welch segment length.

    Returns
    -------
    float or ndarray
    """
    try:
        lo, hi = (float(b) for b in band_hz)
    except (TypeError, ValueError):
        raise ValueError(f"band_hz must be a pair (low, high) in Hz, got {band_hz!r}") from None
    if not (0 <= lo < hi):
        raise ValueError(f"band_hz must satisfy 0 <= low < high, got {band_hz!r}")
    freqs, psd = welch_psd(signal, dt_ms, nperseg=nperseg)
    sel = (freqs >= lo) & (freqs <= hi)
    if np.count_nonzero(sel) < 2:
        raise ValueError(f"band_hz={band_hz} contains fewer than 2 frequency bins (resolution {freqs[1] - freqs[0]:g} Hz); widen it or use a larger nperseg")
    out = np.trapezoid(psd[..., sel], freqs[sel], axis=-1)
    return float(out) if np.ndim(out) == 0 else out
