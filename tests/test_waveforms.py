"""Each waveform against its definition (stimsim.protocol.waveforms; protocols/README.md).

Reference values come from the definitions (closed forms), from plain numpy Fourier sums written
here, and from scipy (Welch PSD, Hilbert envelope) -- never from the code under test.
"""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import signal as sps
from scipy import stats

from stimsim.protocol import waveforms as wf

DT = 0.01      # ms, sample spacing of the test grids (100 kHz)


def grid(duration_ms, dt_ms=DT):
    return np.arange(int(round(duration_ms / dt_ms)) + 1) * dt_ms


def projection(x, t_ms, f_hz):
    """Complex amplitude Z of x ~ Re(Z exp(i 2 pi f t)) over the samples given (whole cycles)."""
    return 2.0 * np.mean(x * np.exp(-2j * np.pi * f_hz * t_ms / 1000.0))


def whole_cycles(t_ms, f_hz, n_cycles):
    """The first n_cycles of the grid as a boolean mask (exclusive end: no repeated sample)."""
    return t_ms < n_cycles * 1000.0 / f_hz - 1e-9


# --- windows and DC ramps ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["linear", "raised_cosine"])
def test_dc_ramp_values_at_ramp_start_and_end(shape):
    w = wf.DC(amplitude=1.5, start_ms=100.0, stop_ms=900.0, ramp_up_ms=200.0, ramp_down_ms=100.0, ramp_shape=shape)
    t = np.array([0.0, 99.99, 100.0, 200.0, 300.0, 500.0, 800.0, 850.0, 900.0, 950.0])
    e = w(t)
    assert e[0] == 0.0 and e[1] == 0.0                 # before onset
    assert e[2] == 0.0                                 # ramp start
    assert e[3] == pytest.approx(0.75)                 # half way up: both shapes give 1/2
    assert e[4] == pytest.approx(1.5) and e[5] == pytest.approx(1.5)   # ramp end, plateau
    assert e[6] == pytest.approx(1.5)                  # ramp-down start
    assert e[7] == pytest.approx(0.75)                 # half way down
    assert e[8] == 0.0 and e[9] == 0.0                 # offset and after


def test_ramp_shapes_differ_as_defined():
    t = np.array([25.0])                               # quarter of a 100 ms ramp
    lin = wf.DC(amplitude=1.0, ramp_up_ms=100.0)(t)[0]
    cos = wf.DC(amplitude=1.0, ramp_up_ms=100.0, ramp_shape="raised_cosine")(t)[0]
    assert lin == pytest.approx(0.25)
    assert cos == pytest.approx((1 - math.cos(math.pi / 4)) / 2)
    # raised cosine has zero slope at the ramp start; linear has slope 1/ramp
    h = 1e-4
    assert wf.DC(amplitude=1.0, ramp_up_ms=100.0, ramp_shape="raised_cosine")(np.array([h]))[0] < 1e-8


def test_dc_sign_is_kept():
    assert wf.DC(amplitude=-2.0)(np.array([5.0]))[0] == -2.0


def test_window_errors():
    with pytest.raises(ValueError, match="stop_ms"):
        wf.DC(amplitude=1.0, start_ms=100.0, stop_ms=50.0)
    with pytest.raises(ValueError, match="does not fit"):
        wf.DC(amplitude=1.0, start_ms=0.0, stop_ms=100.0, ramp_up_ms=80.0, ramp_down_ms=30.0)
    with pytest.raises(ValueError, match="ramp_shape"):
        wf.DC(amplitude=1.0, ramp_shape="cosine")


# --- sinusoids and conventions ------------------------------------------------------------------------
@pytest.mark.parametrize("convention, given, peak", [
    ("zero_to_peak", 0.8, 0.8), ("peak_to_peak", 1.6, 0.8), ("rms", 0.8 / math.sqrt(2), 0.8)])
def test_sine_amplitude_and_phase_by_fourier_projection(convention, given, peak):
    f, phase = 13.0, 0.7
    w = wf.Sine(amplitude=given, convention=convention, frequency_hz=f, phase_rad=phase)
    t = grid(1000.0)
    t = t[whole_cycles(t, f, 13)]
    x = w(t)
    z = projection(x, t, f)
    assert abs(z) == pytest.approx(peak, rel=1e-9)
    assert np.angle(z) == pytest.approx(phase, abs=1e-9)
    # the convention's own definition on the samples
    assert np.max(x) - np.min(x) == pytest.approx(2 * peak, rel=1e-6)
    assert math.sqrt(np.mean(x ** 2)) == pytest.approx(peak / math.sqrt(2), rel=1e-9)


def test_convention_is_required_and_checked():
    with pytest.raises(TypeError):
        wf.Sine(amplitude=1.0, frequency_hz=10.0)         # no convention: never guessed
    with pytest.raises(ValueError, match="did you mean 'peak_to_peak'"):
        wf.Sine(amplitude=1.0, convention="peak-to-peak", frequency_hz=10.0)
    with pytest.raises(ValueError, match="rms"):
        wf.Noise(amplitude=1.0, convention="zero_to_peak", low_hz=1.0, high_hz=10.0)


def test_oscillating_dc_mean_and_extremes():
    w = wf.OscillatingDC(offset=0.5, amplitude=1.0, convention="peak_to_peak", frequency_hz=0.75)
    t = grid(4000.0, 0.1)
    t = t[whole_cycles(t, 0.75, 3)]
    x = w(t)
    assert np.mean(x) == pytest.approx(0.5, abs=1e-9)
    assert np.min(x) == pytest.approx(0.0, abs=1e-6) and np.max(x) == pytest.approx(1.0, abs=1e-6)
    assert abs(projection(x, t, 0.75)) == pytest.approx(0.5, rel=1e-9)


# --- AM and temporal interference ----------------------------------------------------------------------
def envelope_frequency(x, t_ms):
    """Dominant frequency (Hz) of the Hilbert envelope of x (scipy), from its FFT."""
    env = np.abs(sps.hilbert(x))
    env = env - env.mean()
    spec = np.abs(np.fft.rfft(env * np.hanning(env.size)))
    freqs = np.fft.rfftfreq(env.size, d=(t_ms[1] - t_ms[0]) / 1000.0)
    return freqs[np.argmax(spec)], env


def test_am_envelope_frequency_and_no_line_at_the_modulation():
    w = wf.AMSine(amplitude=2.0, convention="zero_to_peak", carrier_hz=500.0, modulation_hz=8.0,
                  modulation_depth=0.6)
    t = grid(1000.0)[:-1]                                  # 1 s: whole cycles of 500 Hz and 8 Hz
    x = w(t)
    f_env, _ = envelope_frequency(x, t)
    assert f_env == pytest.approx(8.0, abs=1.0)            # FFT bin 1 Hz
    # envelope maximum = A; no spectral line at f_m, lines at f_c and f_c +- f_m (Negahbani et al. 2018)
    assert np.max(np.abs(x)) == pytest.approx(2.0, rel=1e-3)
    assert abs(projection(x, t, 8.0)) < 1e-9
    assert abs(projection(x, t, 500.0)) == pytest.approx(2.0 / 1.6, rel=1e-9)
    assert abs(projection(x, t, 508.0)) == pytest.approx(2.0 * 0.6 / 2 / 1.6, rel=1e-9)
    # RMS convention: long-time RMS over whole cycles of both frequencies
    w_rms = wf.AMSine(amplitude=0.5, convention="rms", carrier_hz=500.0, modulation_hz=8.0, modulation_depth=0.6)
    assert math.sqrt(np.mean(w_rms(t) ** 2)) == pytest.approx(0.5, rel=1e-9)


def test_ti_envelope_at_difference_frequency():
    w = wf.TemporalInterference(amplitude=1.0, convention="zero_to_peak", carrier_hz=2000.0, difference_hz=10.0)
    t = grid(1000.0, 0.005)[:-1]
    x = w(t)
    f_env, env = envelope_frequency(x, t)
    assert f_env == pytest.approx(10.0, abs=1.0)
    assert np.max(x) == pytest.approx(2.0, rel=1e-4)       # both carriers in phase: 2 A
    mid = slice(t.size // 4, 3 * t.size // 4)              # Hilbert edge effects aside
    np.testing.assert_allclose(np.abs(sps.hilbert(x))[mid], w.envelope(t)[mid], atol=1e-3)
    assert abs(projection(x, t, 10.0)) < 1e-9              # no line at the envelope frequency
    # the per-carrier convention: each carrier has peak-to-peak 2 -> A = 1
    w_pp = wf.TemporalInterference(amplitude=2.0, convention="peak_to_peak", carrier_hz=2000.0, difference_hz=10.0)
    assert abs(projection(w_pp(t), t, 2000.0)) == pytest.approx(1.0, rel=1e-9)


# --- pulses -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("f, width", [(10.0, 20.0), (40.0, 5.0), (130.0, 1.0)])
def test_pulse_duty_cycle(f, width):
    w = wf.PulseTrain(amplitude=1.0, convention="zero_to_peak", frequency_hz=f, width_ms=width, delay_ms=3.0)
    t = grid(2000.0)
    x = w(t)
    period_ms = 1000.0 / f
    on = t[(t >= 3.0)]
    sel = (t >= 3.0) & (t < 3.0 + period_ms * math.floor((2000.0 - 3.0) / period_ms))
    duty = np.mean(x[sel] > 0.5)
    assert duty == pytest.approx(width * f / 1000.0, abs=2 * DT / period_ms)
    assert np.all(x[t < 3.0] == 0.0) and set(np.unique(x)) <= {0.0, 1.0}
    assert on.size > 0


def test_biphasic_pulses_and_rms_convention():
    w = wf.PulseTrain(amplitude=0.5, convention="rms", frequency_hz=50.0, width_ms=2.0, biphasic=True)
    t = grid(1000.0)[:-1]
    x = w(t)
    assert math.sqrt(np.mean(x ** 2)) == pytest.approx(0.5, rel=1e-3)   # definition of RMS
    assert np.mean(x > 0) == pytest.approx(0.1, abs=1e-3) and np.mean(x < 0) == pytest.approx(0.1, abs=1e-3)
    assert np.sum(x) == pytest.approx(0.0, abs=1e-9)                     # charge balanced
    with pytest.raises(ValueError, match="too long"):
        wf.PulseTrain(amplitude=1.0, convention="zero_to_peak", frequency_hz=50.0, width_ms=15.0, biphasic=True)


# --- noise --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("low, high", [(0.1, 640.0), (101.0, 640.0)])
def test_trns_rms_and_band(low, high):
    w = wf.Noise(amplitude=0.5, convention="rms", low_hz=low, high_hz=high, seed=7)
    t = grid(20000.0, 0.1)                                   # 20 s at 10 kHz
    x = w(t)
    assert math.sqrt(np.mean(x ** 2)) == pytest.approx(0.5, rel=1e-12)
    fs = 1000.0 / 0.1
    freqs, psd = sps.welch(x, fs=fs, nperseg=8192)
    inside = (freqs >= low) & (freqs <= high)
    assert np.sum(psd[inside]) / np.sum(psd) > 0.95
    # Gaussian amplitude distribution (many independent Fourier components)
    assert abs(stats.skew(x)) < 0.05 and abs(stats.kurtosis(x)) < 0.1


def test_noise_seed_reproducible_and_distinct():
    t = grid(1000.0, 0.1)
    a = wf.Noise(amplitude=1.0, convention="rms", low_hz=1.0, high_hz=500.0, seed=1)(t)
    b = wf.Noise(amplitude=1.0, convention="rms", low_hz=1.0, high_hz=500.0, seed=1)(t)
    c = wf.Noise(amplitude=1.0, convention="rms", low_hz=1.0, high_hz=500.0, seed=2)(t)
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_noise_grid_checks():
    w = wf.Noise(amplitude=1.0, convention="rms", low_hz=100.2, high_hz=100.8, seed=0)
    with pytest.raises(ValueError, match="contains no frequency"):
        w.check_grid(1000.0, 5000.0, 0.1)                     # 1 Hz resolution
    with pytest.raises(ValueError, match="Nyquist"):
        wf.Noise(amplitude=1.0, convention="rms", low_hz=1.0, high_hz=6000.0).check_grid(1000.0, 5000.0, 0.1)


# --- CSV waveform ---------------------------------------------------------------------------------------------
def test_csv_round_trip(tmp_path):
    t = grid(200.0, 0.05)
    original = wf.Sine(amplitude=0.9, convention="zero_to_peak", frequency_hz=37.0, phase_rad=0.3)(t)
    path = tmp_path / "field.csv"
    pd.DataFrame({"time_ms": t, "field_v_per_m": original}).to_csv(path, index=False, float_format="%.17g")
    w = wf.CSVWaveform(path=str(path))
    assert np.array_equal(w(t), original)
    # between samples: linear interpolation
    mid = 0.5 * (t[:-1] + t[1:])
    np.testing.assert_allclose(w(mid), 0.5 * (original[:-1] + original[1:]), rtol=0, atol=1e-13)
    assert w.resolved()["sha256"] == w.sha256 and len(w.sha256) == 64


def test_csv_outside_rules(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("time_ms,field_v_per_m\n10,1\n20,3\n")
    with pytest.raises(ValueError, match="covers 10..20 ms"):
        wf.CSVWaveform(path=str(path)).check_grid(100.0, 1e4, 0.01)
    t = np.array([0.0, 15.0, 50.0])
    assert wf.CSVWaveform(path=str(path), outside="zero")(t).tolist() == [0.0, 2.0, 0.0]
    assert wf.CSVWaveform(path=str(path), outside="hold")(t).tolist() == [1.0, 2.0, 3.0]
    assert wf.CSVWaveform(path=str(path), scale=-2.0, outside="hold")(t).tolist() == [-2.0, -4.0, -6.0]


@pytest.mark.parametrize("text, message", [
    ("time_ms,field_v_per_m\n0,1\n1,abc\n", "line 3, column 'field_v_per_m': 'abc' is not a finite number"),
    ("time_ms,field_v_per_m\n0,1\n1,nan\n", "line 3"),
    ("t,field_v_per_m\n0,1\n1,2\n", "no column 'time_ms'"),
    ("time_ms,field_v_per_m\n0,1\n0,2\n", "increase strictly"),
    ("time_ms,field_v_per_m\n0,1\n", "at least 2 data rows"),
    ("", "not a readable CSV"),
    ('time_ms,field_v_per_m\n0,1\n1,"2\n', "not a readable CSV"),
])
def test_csv_bad_files(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        wf.CSVWaveform(path=str(path))


def test_csv_missing_and_binary_files(tmp_path):
    with pytest.raises(ValueError, match="cannot read waveform CSV"):
        wf.CSVWaveform(path=str(tmp_path / "nope.csv"))
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(ValueError):
        wf.CSVWaveform(path=str(path))


# --- sums ------------------------------------------------------------------------------------------------------
def test_total_is_the_sum_of_the_windowed_waveforms():
    t = grid(500.0, 0.1)
    parts = [wf.DC(amplitude=0.3, start_ms=100.0),
             wf.Sine(amplitude=1.0, convention="peak_to_peak", frequency_hz=10.0, stop_ms=300.0),
             wf.Noise(amplitude=0.2, convention="rms", low_hz=5.0, high_hz=100.0, seed=3)]
    expected = (np.where(t >= 100.0, 0.3, 0.0)
                + np.where(t < 300.0, 0.5 * np.cos(2 * np.pi * 10.0 * t / 1000.0), 0.0)
                + parts[2](t))
    np.testing.assert_allclose(wf.total(parts, t), expected, rtol=0, atol=1e-14)
