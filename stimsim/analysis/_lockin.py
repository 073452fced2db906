"""Lock-in amplitude and phase at a known drive frequency (models.md M8; method: docs/analysis.md, lock-in).

Method (documented choice)
--------------------------
The window is the **largest whole number of drive cycles** that fits in the signal, taken at its
end (the latest, most settled part): ``N = floor(T_signal f)`` cycles, duration ``N / f``. On the
samples of that window we fit, by linear least squares, a constant plus the first ``n_harmonics``
harmonics of the drive::

    y(t) ~ c + sum_{k=1..K} [a_k cos(2 pi k f t) + b_k sin(2 pi k f t)],   t = t0 + i dt

and report, per harmonic, ``A_k = hypot(a_k, b_k)`` and ``phi_k = atan2(-b_k, a_k)`` so that
``A cos(2 pi f t + phi)`` returns ``(A, phi)`` (phase relative to ``cos(2 pi f t)``), plus the
constant ``c`` (the mean over whole cycles).

Why least squares rather than the plain (or Hann-windowed) Fourier sum: when a cycle is
not a whole number of samples the discrete sum over "N cycles" never covers exactly whole cycles,
so a pure tone leaks into the constant and quadrature terms and the sum is only approximately the
amplitude (error O(dt f)). The least-squares projection onto span{1, cos, sin, ...} is exact (to
rounding) for any signal in that span, whatever the window, and it reduces to the ordinary
discrete Fourier projection when the window holds whole cycles of whole samples (the columns are
then orthogonal). Harmonics below the Nyquist frequency are fitted so that a nonlinear response's
harmonics do not leak into the fundamental; their amplitudes are returned too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import check_finite, check_positive
from ..units import MS_PER_S

#: relative slack when counting whole cycles, so that a signal of exactly N cycles gives N
_CYCLE_SLACK = 1e-9


@dataclass(frozen=True)
class LockinResult:
    """Lock-in of one or many signals.

    Attributes
    ----------
    amplitude : ndarray
        Zero-to-peak amplitude at the drive frequency, signal units.
    phase_rad : ndarray
        Phase relative to ``cos(2 pi f t)``, rad in (-pi, pi].
    mean : ndarray
        Constant term of the fit (mean over the whole cycles of the window), signal units.
    harmonic_amplitude : ndarray, (..., n_harmonics)
        Amplitude at k f, k = 1..n_harmonics (column 0 equals ``amplitude``); NaN above Nyquist.
    harmonic_phase_rad : ndarray, (..., n_harmonics)
    n_cycles : ndarray of int
        Whole drive cycles in the window.
    window_ms : ndarray
        Window duration n_cycles / f, ms.
    """

    amplitude: np.ndarray
    phase_rad: np.ndarray
    mean: np.ndarray
    harmonic_amplitude: np.ndarray
    harmonic_phase_rad: np.ndarray
    n_cycles: np.ndarray
    window_ms: np.ndarray


def whole_cycle_window(n_samples, dt_ms, freq_hz):
    """First sample index and number of whole cycles of the largest whole-cycle window at the end.

    Parameters
    ----------
    n_samples : int
        Samples in the signal (duration (n_samples - 1) dt_ms).
    dt_ms : float
        Sample spacing, ms.
    freq_hz : float
        Drive frequency, Hz (> 0).

    Returns
    -------
    start : int
        Index of the first sample with t_end - t < n_cycles / f (half-open window, so that a
        window of exactly N cycles does not count its first and last phase twice).
    n_cycles : int
    """
    duration_ms = (n_samples - 1) * dt_ms
    period_ms = MS_PER_S / freq_hz
    n_cycles = int(math.floor(duration_ms / period_ms * (1.0 + _CYCLE_SLACK)))
    if n_cycles < 1:
        raise ValueError(
            f"signal of {duration_ms:g} ms ({n_samples} samples every dt_ms={dt_ms}) is shorter "
            f"than one cycle of freq_hz={freq_hz} ({period_ms:g} ms); give a longer signal")
    window_ms = n_cycles * period_ms
    # samples i with (n-1-i) dt < window  <=>  i > n-1 - window/dt
    start = int(math.floor(n_samples - 1 - window_ms / dt_ms * (1.0 - _CYCLE_SLACK))) + 1
    return max(start, 0), n_cycles


def _design(t_ms, freq_hz, n_harm):
    """Columns [1, cos(k w t), sin(k w t)] for k = 1..n_harm; t in ms, f in Hz."""
    # phase in cycles reduced mod 1 before multiplying by 2 pi keeps cos/sin accurate for large t
    cycles = np.outer(t_ms * (freq_hz / MS_PER_S), np.arange(1, n_harm + 1))
    ang = 2.0 * np.pi * np.mod(cycles, 1.0)
    return np.concatenate([np.ones((t_ms.size, 1)), np.cos(ang), np.sin(ang)], axis=1)


def _usable_harmonics(dt_ms, freq_hz, n_harmonics):
    nyquist_hz = MS_PER_S / (2.0 * dt_ms)
    if freq_hz >= nyquist_hz:
        raise ValueError(f"freq_hz={freq_hz} must be below the Nyquist frequency {nyquist_hz:g} Hz of dt_ms={dt_ms}")
    # keep harmonics safely below Nyquist (0.9 fN) so the fit stays well conditioned
    return max(1, min(n_harmonics, int(math.floor(0.9 * nyquist_hz / freq_hz))))


def _fit(Y, dt_ms, freq_hz, t0_ms, n_harmonics):
    """Least-squares lock-in of the columns of Y (n_t, m) at one frequency."""
    n = Y.shape[0]
    start, n_cycles = whole_cycle_window(n, dt_ms, freq_hz)
    K = _usable_harmonics(dt_ms, freq_hz, n_harmonics)
    t = t0_ms + np.arange(start, n) * dt_ms
    X = _design(t, freq_hz, K)
    if X.shape[0] < X.shape[1]:
        raise ValueError(f"window of {n - start} samples is too short to fit {X.shape[1]} terms; use a smaller dt_ms or a longer signal")
    # least squares by the normal equations: over >= 1 whole cycle the columns are nearly orthogonal
    # (X^T X ~ diag(n, n/2, ..., n/2), condition number ~ 2), so this is as accurate as QR and one
    # small (2K+1)^2 solve serves every signal column at this frequency
    coef = np.linalg.solve(X.T @ X, X.T @ Y[start:])
    a, b = coef[1:1 + K], coef[1 + K:]
    amp = np.full((n_harmonics, Y.shape[1]), np.nan)
    ph = np.full((n_harmonics, Y.shape[1]), np.nan)
    amp[:K] = np.hypot(a, b)
    ph[:K] = np.arctan2(-b, a)
    return coef[0], amp, ph, n_cycles


def _as_signal(signal):
    """(n_t, ...) float view of a signal sampled along its last axis (the fit's column layout)."""
    y = np.asarray(signal, dtype=float)
    if y.ndim < 1 or y.shape[-1] < 3:
        raise ValueError(f"signal must have at least 3 samples along its last axis (time), got shape {y.shape}")
    y = np.moveaxis(y, -1, 0)
    if not np.all(np.isfinite(y)):
        raise ValueError("signal must be finite (it contains NaN or inf)")
    return y


def lockin_full(signal, dt_ms, freq_hz, t0_ms=0.0, n_harmonics=1):
    """Lock-in of one or many signals sharing one drive frequency.

    Parameters
    ----------
    signal : array_like, shape (n_t,) or (..., n_t)
        Samples at t = t0_ms + i dt_ms (time along the last axis, as in ``scipy.signal`` and
        :func:`stimsim.analysis.welch_psd`).
    dt_ms : float
        Sample spacing, ms.
    freq_hz : float
        Drive frequency, Hz; > 0 and below Nyquist 1000 / (2 dt_ms).
    t0_ms : float
        Time of the first sample, ms (the phase reference is cos(2 pi f t)).
    n_harmonics : int
        Harmonics of the drive to fit and report (>= 1).

    Returns
    -------
    LockinResult
        Arrays of shape ``signal.shape[:-1]`` (harmonics on a trailing axis).
    """
    dt_ms = check_positive("dt_ms", dt_ms, "ms")
    freq_hz = check_positive("freq_hz", freq_hz, "Hz")
    t0_ms = check_finite("t0_ms", t0_ms)
    if int(n_harmonics) != n_harmonics or n_harmonics < 1:
        raise ValueError(f"n_harmonics must be an integer >= 1, got {n_harmonics!r}")
    n_harmonics = int(n_harmonics)
    y = _as_signal(signal)
    shape = y.shape[1:]
    mean, amp, ph, n_cycles = _fit(y.reshape(y.shape[0], -1), dt_ms, freq_hz, t0_ms, n_harmonics)
    harm_amp = np.moveaxis(amp, 0, -1).reshape(shape + (n_harmonics,))
    harm_ph = np.moveaxis(ph, 0, -1).reshape(shape + (n_harmonics,))
    return LockinResult(
        amplitude=harm_amp[..., 0], phase_rad=harm_ph[..., 0], mean=mean.reshape(shape),
        harmonic_amplitude=harm_amp, harmonic_phase_rad=harm_ph,
        n_cycles=np.full(shape, n_cycles), window_ms=np.full(shape, n_cycles * MS_PER_S / freq_hz))


def lockin(signal, dt_ms, freq_hz, t0_ms=0.0, n_harmonics=1):
    """Amplitude and phase of a signal at the drive frequency.

    ``A cos(2 pi f t + phi) + c`` sampled at ``t = t0_ms + i dt_ms`` returns ``(A, phi)`` exactly
    (to rounding), also when a cycle is not a whole number of samples (see the module docstring).

    Parameters
    ----------
    signal : array_like, shape (n_t,) or (..., n_t)
        Time along the last axis.
    dt_ms : float
        Sample spacing, ms.
    freq_hz : float
        Drive frequency, Hz.
    t0_ms : float
        Time of sample 0, ms.
    n_harmonics : int
        Harmonics fitted alongside the fundamental (1 = pure tone + constant); use more when the
        signal has harmonics and the window is not whole samples per cycle.

    Returns
    -------
    amplitude : float or ndarray
        Zero-to-peak amplitude, signal units.
    phase_rad : float or ndarray
        Phase relative to cos(2 pi f t), rad in (-pi, pi].
    """
    res = lockin_full(signal, dt_ms, freq_hz, t0_ms, n_harmonics)
    if res.amplitude.ndim == 0:
        return float(res.amplitude), float(res.phase_rad)
    return res.amplitude, res.phase_rad


def lockin_many(signals, dt_ms, freqs_hz, t0_ms=0.0, n_harmonics=1):
    """Vectorised lock-in: signal b (row b) at its own frequency ``freqs_hz[b]``.

    Columns that share a frequency are fitted together in one least-squares solve, so a batch of
    frequencies x amplitudes x parameter sets costs one solve per distinct frequency.

    Parameters
    ----------
    signals : array_like, shape (B, n_t)
        Samples at t = t0_ms + i dt_ms (time along the last axis).
    dt_ms : float
        Sample spacing, ms.
    freqs_hz : array_like, shape (B,)
        Drive frequency of each column, Hz.
    t0_ms : float
        Time of sample 0, ms.
    n_harmonics : int

    Returns
    -------
    LockinResult
        Arrays of shape (B,) (harmonics on a trailing axis).
    """
    dt_ms = check_positive("dt_ms", dt_ms, "ms")
    t0_ms = check_finite("t0_ms", t0_ms)
    y = _as_signal(signals)
    if y.ndim != 2:
        raise ValueError(f"signals must have shape (B, n_t), got {np.shape(signals)}")
    f = np.asarray(freqs_hz, dtype=float).reshape(-1)
    if f.shape != (y.shape[1],):
        raise ValueError(f"freqs_hz must have one entry per signal (row) ({y.shape[1]}), got {f.shape}")
    if not np.all(np.isfinite(f) & (f > 0)):
        raise ValueError(f"freqs_hz must be finite and > 0 Hz, got {f[~(np.isfinite(f) & (f > 0))][:3].tolist()}")
    if int(n_harmonics) != n_harmonics or n_harmonics < 1:
        raise ValueError(f"n_harmonics must be an integer >= 1, got {n_harmonics!r}")
    n_harmonics = int(n_harmonics)
    B = y.shape[1]
    mean = np.empty(B)
    amp = np.empty((B, n_harmonics))
    ph = np.empty((B, n_harmonics))
    ncyc = np.empty(B, dtype=int)
    for freq in np.unique(f):
        cols = np.flatnonzero(f == freq)
        m, a, p, nc = _fit(y[:, cols], dt_ms, float(freq), t0_ms, n_harmonics)
        mean[cols], amp[cols], ph[cols], ncyc[cols] = m, a.T, p.T, nc
    return LockinResult(amplitude=amp[:, 0], phase_rad=ph[:, 0], mean=mean,
                        harmonic_amplitude=amp, harmonic_phase_rad=ph, n_cycles=ncyc,
                        window_ms=ncyc * MS_PER_S / f)
