"""Lock-in and spectra against synthetic signals with known amplitude, phase and frequency."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import signal as sps

from stimsim.analysis._lockin import lockin, lockin_full, lockin_many, whole_cycle_window
from stimsim.analysis._spectra import band_power, dominant_frequency, welch_psd


def tone(t_ms, amp, freq_hz, phase, const=0.0):
    return amp * np.cos(2 * np.pi * freq_hz * t_ms / 1000.0 + phase) + const


def test_lockin_exact_non_integer_samples_per_cycle():
    # 37.3 Hz at dt 0.0137 ms: 1956.9... samples per cycle, the window is not whole samples
    dt, t0, n, f = 0.0137, 3.1, 10007, 37.3
    assert (1000 / f / dt) % 1 > 0.1
    t = t0 + np.arange(n) * dt
    amp, ph = lockin(tone(t, 2.5, f, 0.7, const=4.0), dt, f, t0_ms=t0)
    assert abs(amp - 2.5) < 1e-9
    assert abs(ph - 0.7) < 1e-9


@settings(max_examples=60, deadline=None)
@given(amp=st.floats(1e-3, 1e3), phase=st.floats(-3.1, 3.1), freq=st.floats(0.7, 180.0),
       dt=st.floats(0.01, 0.5), cycles=st.floats(1.2, 9.7), t0=st.floats(-50, 500),
       const=st.floats(-100, 100))
def test_lockin_exact_property(amp, phase, freq, dt, cycles, t0, const):
    if freq >= 0.45 * 1000 / dt:
        return
    n = int(cycles * 1000 / freq / dt) + 1
    if n < 8:
        return
    t = t0 + np.arange(n) * dt
    A, ph = lockin(tone(t, amp, freq, phase, const), dt, freq, t0_ms=t0)
    assert abs(A - amp) < 1e-9 * max(1.0, amp, abs(const))
    assert abs(np.angle(np.exp(1j * (ph - phase)))) < 1e-9 * max(1.0, abs(const) / amp)


def test_lockin_harmonics_and_mean():
    dt, f = 0.05, 23.0
    t = np.arange(40001) * dt
    y = tone(t, 1.5, f, -0.4, 2.0) + tone(t, 0.3, 2 * f, 1.1) + tone(t, 0.05, 3 * f, -2.0)
    r = lockin_full(y, dt, f, n_harmonics=3)
    np.testing.assert_allclose(r.harmonic_amplitude, [1.5, 0.3, 0.05], atol=1e-10)
    np.testing.assert_allclose(r.harmonic_phase_rad, [-0.4, 1.1, -2.0], atol=1e-9)
    assert abs(r.mean - 2.0) < 1e-10
    # whole cycles: floor(2000 ms * 23 Hz / 1000) = 46 cycles
    assert int(r.n_cycles) == 46


def test_lockin_many_matches_single_and_rejects_other_frequencies():
    dt, n = 0.02, 30001
    t = np.arange(n) * dt
    freqs = np.array([5.0, 12.5, 12.5, 90.0])
    amps = np.array([1.0, 0.2, 3.0, 0.7])
    phases = np.array([0.1, -1.0, 2.0, 3.0])
    sig = np.stack([tone(t, a, f, p) for a, f, p in zip(amps, freqs, phases)])   # (B, n_t): time last
    r = lockin_many(sig, dt, freqs)
    np.testing.assert_allclose(r.amplitude, amps, rtol=1e-10)
    np.testing.assert_allclose(r.phase_rad, phases, atol=1e-9)
    for b in range(4):
        assert lockin(sig[b], dt, freqs[b]) == pytest.approx((r.amplitude[b], r.phase_rad[b]), abs=1e-12)


def test_lockin_whole_cycles_match_discrete_fourier_projection():
    # window of whole cycles of whole samples: least squares == the plain Fourier sum
    dt, f = 0.1, 25.0                   # 400 samples per cycle
    rng = np.random.default_rng(3)
    y = rng.normal(size=4001)
    start, n_cyc = whole_cycle_window(y.size, dt, f)
    assert (start, n_cyc) == (1, 10)
    t = np.arange(start, y.size) * dt
    z = 2.0 / t.size * np.sum(y[start:] * np.exp(-2j * np.pi * f * t / 1000))
    A, ph = lockin(y, dt, f)
    assert A == pytest.approx(abs(z), rel=1e-9)
    assert ph == pytest.approx(np.angle(z), abs=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    (dict(dt_ms=0.0, freq_hz=10.0), "dt_ms"),
    (dict(dt_ms=0.1, freq_hz=-1.0), "freq_hz"),
    (dict(dt_ms=0.1, freq_hz=6000.0), "Nyquist"),
    (dict(dt_ms=0.1, freq_hz=1.0), "shorter than one cycle"),
])
def test_lockin_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lockin(np.zeros(100), **kwargs)


def test_dominant_frequency_and_band_power():
    dt = 0.1
    t = np.arange(30000) * dt
    rng = np.random.default_rng(0)
    y = tone(t, 2.0, 42.3, 0.3) + 0.1 * rng.normal(size=t.size)
    assert dominant_frequency(y, dt) == pytest.approx(42.3, abs=0.02)
    assert dominant_frequency(y, dt, method="welch", nperseg=8192) == pytest.approx(42.3, abs=0.2)
    # power of a tone of amplitude A is A^2 / 2 = 2; the white noise adds 0.01 * (30 / 5000)
    assert band_power(y, dt, (30, 60), nperseg=4096) == pytest.approx(2.0, rel=0.01)
    assert np.isnan(dominant_frequency(np.full(1000, 3.0), dt))


def test_welch_matches_scipy_and_parseval():
    dt = 0.25
    rng = np.random.default_rng(1)
    y = rng.normal(size=8192)
    f, p = welch_psd(y, dt, nperseg=512)
    f2, p2 = sps.welch(y, fs=4000.0, nperseg=512)
    np.testing.assert_allclose(f, f2)
    np.testing.assert_allclose(p, p2)
    # integral of the density = variance (white noise, unit variance)
    assert np.trapezoid(p, f) == pytest.approx(np.var(y), rel=0.05)


def test_spectra_bad_input():
    with pytest.raises(ValueError, match="band_hz"):
        band_power(np.zeros(1000), 0.1, (50, 10))
    with pytest.raises(ValueError, match="dt_ms"):
        welch_psd(np.zeros(1000), -1)
    with pytest.raises(ValueError, match="method"):
        dominant_frequency(np.zeros(1000), 0.1, method="fft")


def test_lockin_and_spectra_share_the_time_axis_convention():
    """One convention: time along the last axis, several signals stacked on the leading axes."""
    dt = 0.1
    t = np.arange(20000) * dt
    freqs = np.array([11.0, 37.0, 64.0])
    sig = np.stack([tone(t, 1.0 + i, f, 0.2 * i) for i, f in enumerate(freqs)])   # (3, n_t)
    np.testing.assert_allclose(dominant_frequency(sig, dt), freqs, atol=0.02)
    amp, ph = lockin(sig, dt, 37.0, n_harmonics=1)
    assert amp.shape == (3,) and amp[1] == pytest.approx(2.0, rel=1e-9)
    np.testing.assert_allclose(lockin_many(sig, dt, freqs).amplitude, [1.0, 2.0, 3.0], rtol=1e-9)
    f, p = welch_psd(sig, dt, nperseg=4096)
    assert p.shape[:-1] == (3,) and f.size == p.shape[-1]
