"""Stimulation waveforms E(t): definitions, amplitude conventions and vectorised evaluation.

Every waveform is a frozen dataclass whose fields are exactly the keys of one
``[[stimulation.waveforms]]`` table of a protocol file (``protocols/README.md``). Values are in
the protocol's drive unit: V/m when ``stimulation.unit = "field"`` (coupled to each population as
lambda * E / scale, models.md M6) or model input units when ``unit = "current"``.
Times are in ms, frequencies in Hz, phases in rad, all relative to ``cos`` (stimsim convention, docs/models.md M6:
``E(t) = E0 cos(2 pi f t + phi0)``).

Amplitudes of oscillating waveforms come with an explicit ``convention`` (models.md M6 and
Antal et al., Clin. Neurophysiol. 128, 1774-1809, 2017: tACS is usually quoted peak-to-peak, tDCS baseline-to-peak), one of

- ``"zero_to_peak"``: the largest excursion from zero (baseline-to-peak),
- ``"peak_to_peak"``: maximum minus minimum,
- ``"rms"``: root mean square over a long time (over one period for periodic waveforms).

Each class converts the given amplitude to its zero-to-peak value with its own closed-form
ratios (``_PEAK_TO_PEAK``, ``_RMS``: the peak-to-peak and RMS values of the unit-peak waveform),
so the convention is never guessed.

Every waveform is multiplied by a :class:`Window` (onset ``start_ms``, offset ``stop_ms``, linear
or raised-cosine ramps), and a protocol's waveforms are summed. All evaluation is vectorised numpy
on a whole time grid; nothing is called per time step.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ..errors import check_finite, check_nonnegative, check_positive, unknown_name_error
from ..units import hz_to_rad_per_ms, khz_to_hz

CONVENTIONS = ("zero_to_peak", "peak_to_peak", "rms")
RAMP_SHAPES = ("linear", "raised_cosine")
CSV_OUTSIDE = ("error", "zero", "hold")


# --- windows ------------------------------------------------------------------------------------
def ramp(u, shape):
    """Ramp from 0 (u <= 0) to 1 (u >= 1).

    ``linear``: u; ``raised_cosine``: (1 - cos(pi u)) / 2 (a Hann half-window; zero slope at both
    ends, which avoids the step in dE/dt of a linear ramp).
    """
    u = np.clip(u, 0.0, 1.0)
    if shape == "linear":
        return u
    if shape == "raised_cosine":
        return 0.5 * (1.0 - np.cos(np.pi * u))
    raise unknown_name_error("ramp_shape", shape, RAMP_SHAPES)


def window(t_ms, start_ms, stop_ms, ramp_up_ms, ramp_down_ms, shape):
    """Onset/offset window in [0, 1] on times ``t_ms``.

    0 before ``start_ms``; ramps up to 1 at ``start_ms + ramp_up_ms``; 1 until
    ``stop_ms - ramp_down_ms``; ramps down to 0 at ``stop_ms``; 0 from ``stop_ms`` on
    (half-open interval [start, stop) when a ramp is 0).
    """
    t = np.asarray(t_ms, dtype=float)
    w = np.where((t >= start_ms) & (t < stop_ms), 1.0, 0.0)
    if ramp_up_ms > 0.0:
        w = w * ramp((t - start_ms) / ramp_up_ms, shape)
    if ramp_down_ms > 0.0 and math.isfinite(stop_ms):
        w = w * ramp((stop_ms - t) / ramp_down_ms, shape)
    return w


def zero_to_peak(amplitude, convention, peak_to_peak_per_peak, rms_per_peak, kind):
    """Zero-to-peak amplitude from an amplitude given in ``convention``.

    ``peak_to_peak_per_peak`` and ``rms_per_peak`` are the peak-to-peak and RMS values of the
    waveform with unit zero-to-peak amplitude (None when the convention does not apply).
    """
    if convention not in CONVENTIONS:
        raise unknown_name_error("amplitude convention", convention, CONVENTIONS)
    ratio = {"zero_to_peak": 1.0, "peak_to_peak": peak_to_peak_per_peak, "rms": rms_per_peak}[convention]
    if ratio is None:
        raise ValueError(f"convention {convention!r} does not apply to a {kind} waveform")
    return amplitude / ratio


# --- base class ---------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Waveform:
    """Common onset/offset window of every waveform (times in ms).

    Parameters
    ----------
    start_ms : float
        Onset, ms (>= 0). Default 0.
    stop_ms : float or None
        Offset, ms (> start_ms); None = the end of the run.
    ramp_up_ms, ramp_down_ms : float
        Ramp durations inside [start_ms, stop_ms], ms (>= 0). Default 0 (abrupt).
    ramp_shape : {'linear', 'raised_cosine'}
    """

    kind = "base"
    start_ms: float = 0.0
    stop_ms: float | None = None
    ramp_up_ms: float = 0.0
    ramp_down_ms: float = 0.0
    ramp_shape: str = "linear"

    def __post_init__(self):
        self._set("start_ms", check_nonnegative("start_ms", self.start_ms, "ms"))
        if self.stop_ms is not None:
            self._set("stop_ms", check_positive("stop_ms", self.stop_ms, "ms"))
            if self.stop_ms <= self.start_ms:
                raise ValueError(f"stop_ms={self.stop_ms} must be after start_ms={self.start_ms}")
        self._set("ramp_up_ms", check_nonnegative("ramp_up_ms", self.ramp_up_ms, "ms"))
        self._set("ramp_down_ms", check_nonnegative("ramp_down_ms", self.ramp_down_ms, "ms"))
        if self.ramp_shape not in RAMP_SHAPES:
            raise unknown_name_error("ramp_shape", self.ramp_shape, RAMP_SHAPES)
        if self.stop_ms is not None and self.ramp_up_ms + self.ramp_down_ms > self.stop_ms - self.start_ms:
            raise ValueError(
                f"ramp_up_ms + ramp_down_ms = {self.ramp_up_ms + self.ramp_down_ms} ms does not fit "
                f"between start_ms={self.start_ms} and stop_ms={self.stop_ms}")

    def _set(self, name, value):
        object.__setattr__(self, name, value)

    # -- evaluation --------------------------------------------------------------------------
    def window(self, t_ms):
        stop = math.inf if self.stop_ms is None else self.stop_ms
        return window(t_ms, self.start_ms, stop, self.ramp_up_ms, self.ramp_down_ms, self.ramp_shape)

    def shape(self, t_ms):
        """The waveform without its window, drive units."""
        raise NotImplementedError

    def __call__(self, t_ms):
        """E(t) = window(t) * shape(t) on an array of times (ms), drive units."""
        t = np.asarray(t_ms, dtype=float)
        return self.window(t) * self.shape(t)

    def sample(self, t_ms):
        """Values on a regular grid ``t_ms`` (noise needs the whole grid at once)."""
        return self(t_ms)

    # -- facts used by validation and analysis -----------------------------------------------
    @property
    def highest_frequency_hz(self):
        """Highest frequency (Hz) the waveform is defined to contain; checked against Nyquist."""
        return 0.0

    @property
    def drive_frequency_hz(self):
        """Frequency (Hz) of the intended stimulus rhythm, or None (DC, noise, CSV)."""
        return None

    @property
    def drive_phase_rad(self):
        """Phase (rad, relative to cos(2 pi f t)) of that rhythm's fundamental at t = 0."""
        return 0.0

    def check_grid(self, duration_ms, nyquist_hz, sample_dt_ms):
        """Errors that depend on the run: frequencies above Nyquist, windows beyond the run."""
        if self.start_ms >= duration_ms:
            raise ValueError(f"start_ms={self.start_ms} is not before the end of the run ({duration_ms} ms)")
        if self.highest_frequency_hz >= nyquist_hz:
            raise ValueError(
                f"frequency {self.highest_frequency_hz:g} Hz is not below the Nyquist frequency "
                f"{nyquist_hz:g} Hz of the time grid (dt)")

    def resolved(self):
        """The waveform as a protocol table (every field, defaults filled in)."""
        out = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        return out


# --- concrete waveforms --------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class DC(Waveform):
    """Constant level (tDCS, models.md M6); ramps come from the window.

    Parameters
    ----------
    amplitude : float
        Signed level (baseline-to-peak), drive units. E > 0 points into the cortex and
        depolarizes pyramidal somata (models.md M6 sign convention).
    """

    kind = "dc"
    amplitude: float

    def __post_init__(self):
        super().__post_init__()
        self._set("amplitude", check_finite("amplitude", self.amplitude))

    def shape(self, t_ms):
        return np.full(np.shape(t_ms), self.amplitude)


@dataclass(frozen=True, kw_only=True)
class Sine(Waveform):
    """``A cos(2 pi f t + phase)`` (tACS; Antal et al. 2017).

    Parameters
    ----------
    amplitude : float
        >= 0, in ``convention`` (peak-to-peak = 2 A, RMS = A / sqrt 2).
    convention : {'zero_to_peak', 'peak_to_peak', 'rms'}
    frequency_hz : float
        > 0 Hz.
    phase_rad : float
        Phase at t = 0, rad.
    """

    kind = "sine"
    _PEAK_TO_PEAK = 2.0
    _RMS = 1.0 / math.sqrt(2.0)
    amplitude: float
    convention: str
    frequency_hz: float
    phase_rad: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        self._set("amplitude", check_nonnegative("amplitude", self.amplitude))
        self._set("frequency_hz", check_positive("frequency_hz", self.frequency_hz, "Hz"))
        self._set("phase_rad", check_finite("phase_rad", self.phase_rad))
        self._set("_peak", zero_to_peak(self.amplitude, self.convention, self._PEAK_TO_PEAK, self._RMS, self.kind))

    @property
    def peak(self):
        """Zero-to-peak amplitude, drive units."""
        return self._peak

    def shape(self, t_ms):
        return self._peak * np.cos(hz_to_rad_per_ms(self.frequency_hz) * t_ms + self.phase_rad)

    @property
    def highest_frequency_hz(self):
        return self.frequency_hz

    @property
    def drive_frequency_hz(self):
        return self.frequency_hz

    @property
    def drive_phase_rad(self):
        return self.phase_rad


@dataclass(frozen=True, kw_only=True)
class OscillatingDC(Sine):
    """Slow oscillating DC: ``offset + A cos(2 pi f t + phase)`` (so-tDCS, Marshall et al. 2006,
    0.75 Hz; models.md M6). With offset = A (zero-to-peak) the field oscillates between 0 and 2A
    without changing sign, as in so-tDCS.

    Parameters
    ----------
    offset : float
        Signed DC level, drive units.
    amplitude, convention, frequency_hz, phase_rad
        The oscillating part, as for :class:`Sine` (e.g. 0.75 Hz).
    """

    kind = "oscillating_dc"
    offset: float

    def __post_init__(self):
        super().__post_init__()
        self._set("offset", check_finite("offset", self.offset))

    def shape(self, t_ms):
        return self.offset + super().shape(t_ms)


@dataclass(frozen=True, kw_only=True)
class AMSine(Waveform):
    """Amplitude-modulated sinusoid (AM-tACS; Negahbani et al., NeuroImage 173, 3-12, 2018)::

        E(t) = A (1 + m cos(2 pi f_m t + phase_m)) / (1 + m) * cos(2 pi f_c t + phase_c)

    so that A is the envelope maximum (zero-to-peak). With f_c > f_m the long-time mean of E^2 is
    A^2 (1 + m^2/2) / (2 (1 + m)^2), which gives the RMS ratio; peak-to-peak is 2 A. The spectrum
    has lines at f_c and f_c +- f_m only, none at f_m.

    Parameters
    ----------
    amplitude, convention : float, str
        Envelope maximum (>= 0) in ``convention``.
    carrier_hz : float
        Carrier frequency f_c, Hz (> modulation_hz).
    modulation_hz : float
        Envelope frequency f_m, Hz (> 0).
    modulation_depth : float
        m in [0, 1].
    carrier_phase_rad, modulation_phase_rad : float
    """

    kind = "am"
    amplitude: float
    convention: str
    carrier_hz: float
    modulation_hz: float
    modulation_depth: float = 1.0
    carrier_phase_rad: float = 0.0
    modulation_phase_rad: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        self._set("amplitude", check_nonnegative("amplitude", self.amplitude))
        self._set("carrier_hz", check_positive("carrier_hz", self.carrier_hz, "Hz"))
        self._set("modulation_hz", check_positive("modulation_hz", self.modulation_hz, "Hz"))
        if self.carrier_hz <= self.modulation_hz:
            raise ValueError(f"carrier_hz={self.carrier_hz} must be above modulation_hz={self.modulation_hz}")
        m = check_finite("modulation_depth", self.modulation_depth)
        if not 0.0 <= m <= 1.0:
            raise ValueError(f"modulation_depth must be in [0, 1], got {self.modulation_depth!r}")
        self._set("modulation_depth", m)
        self._set("carrier_phase_rad", check_finite("carrier_phase_rad", self.carrier_phase_rad))
        self._set("modulation_phase_rad", check_finite("modulation_phase_rad", self.modulation_phase_rad))
        rms = math.sqrt((1.0 + m * m / 2.0) / 2.0) / (1.0 + m)
        self._set("_peak", zero_to_peak(self.amplitude, self.convention, 2.0, rms, self.kind))

    def envelope(self, t_ms):
        """A (1 + m cos(2 pi f_m t + phase_m)) / (1 + m), drive units."""
        m = self.modulation_depth
        return self._peak * (1.0 + m * np.cos(hz_to_rad_per_ms(self.modulation_hz) * t_ms
                                              + self.modulation_phase_rad)) / (1.0 + m)

    def shape(self, t_ms):
        return self.envelope(t_ms) * np.cos(hz_to_rad_per_ms(self.carrier_hz) * t_ms + self.carrier_phase_rad)

    @property
    def highest_frequency_hz(self):
        return self.carrier_hz + self.modulation_hz

    @property
    def drive_frequency_hz(self):
        return self.modulation_hz

    @property
    def drive_phase_rad(self):
        return self.modulation_phase_rad


@dataclass(frozen=True, kw_only=True)
class TemporalInterference(Waveform):
    """Temporal interference (Grossman et al., Cell 169, 1029-1041, 2017): two carriers

        E(t) = A cos(2 pi f1 t + phase_1) + A cos(2 pi (f1 + df) t + phase_2)
             = 2 A cos(pi df t + (phase_2 - phase_1)/2) cos(2 pi (f1 + df/2) t + (phase_1 + phase_2)/2)

    whose envelope |2 A cos(pi df t + ...)| beats at the difference frequency df. The amplitude
    and its convention refer to each carrier ("per channel"): peak-to-peak 2 A, RMS A / sqrt 2.
    The envelope's fundamental is cos(2 pi df t + phase_2 - phase_1), which sets the drive phase.

    Parameters
    ----------
    amplitude, convention : float, str
        Amplitude of each carrier (>= 0) in ``convention``.
    carrier_hz : float
        f1, Hz (> 0).
    difference_hz : float
        df = f2 - f1, Hz (> 0, < f1).
    phase_1_rad, phase_2_rad : float
    """

    kind = "ti"
    _PEAK_TO_PEAK = 2.0
    _RMS = 1.0 / math.sqrt(2.0)
    amplitude: float
    convention: str
    carrier_hz: float
    difference_hz: float
    phase_1_rad: float = 0.0
    phase_2_rad: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        self._set("amplitude", check_nonnegative("amplitude", self.amplitude))
        self._set("carrier_hz", check_positive("carrier_hz", self.carrier_hz, "Hz"))
        self._set("difference_hz", check_positive("difference_hz", self.difference_hz, "Hz"))
        if self.difference_hz >= self.carrier_hz:
            raise ValueError(f"difference_hz={self.difference_hz} must be below carrier_hz={self.carrier_hz}")
        self._set("phase_1_rad", check_finite("phase_1_rad", self.phase_1_rad))
        self._set("phase_2_rad", check_finite("phase_2_rad", self.phase_2_rad))
        self._set("_peak", zero_to_peak(self.amplitude, self.convention, self._PEAK_TO_PEAK, self._RMS, self.kind))

    def envelope(self, t_ms):
        """|2 A cos(pi df t + (phase_2 - phase_1)/2)|, drive units."""
        half = 0.5 * hz_to_rad_per_ms(self.difference_hz) * np.asarray(t_ms, dtype=float)
        return np.abs(2.0 * self._peak * np.cos(half + 0.5 * (self.phase_2_rad - self.phase_1_rad)))

    def shape(self, t_ms):
        f2 = self.carrier_hz + self.difference_hz
        return self._peak * (np.cos(hz_to_rad_per_ms(self.carrier_hz) * t_ms + self.phase_1_rad)
                             + np.cos(hz_to_rad_per_ms(f2) * t_ms + self.phase_2_rad))

    @property
    def highest_frequency_hz(self):
        return self.carrier_hz + self.difference_hz

    @property
    def drive_frequency_hz(self):
        return self.difference_hz

    @property
    def drive_phase_rad(self):
        return self.phase_2_rad - self.phase_1_rad


@dataclass(frozen=True, kw_only=True)
class PulseTrain(Waveform):
    """Rectangular pulses repeating at ``frequency_hz`` (pulsed tDCS/tACS).

    Monophasic: +A for ``width_ms`` from each onset ``delay_ms + n / f``, 0 otherwise (duty cycle
    d = width * f). Biphasic: +A for ``width_ms`` then -A for ``width_ms`` (duty 2 d). Unit-peak
    ratios: peak-to-peak 1 (monophasic, 0 to A) or 2 (biphasic); RMS sqrt(d) or sqrt(2 d). The
    drive rhythm is the repetition rate; the phase of its fundamental is that of the pulse centre
    for monophasic pulses, -2 pi f (delay + width/2) (the biphasic fundamental is reported with
    the same reference).

    Parameters
    ----------
    amplitude, convention : float, str
        Pulse height (>= 0) in ``convention``.
    frequency_hz : float
        Repetition rate, Hz (> 0).
    width_ms : float
        Duration of one phase, ms (> 0; width < period, or 2 width <= period if biphasic).
    delay_ms : float
        Onset of the first pulse after t = 0, ms (>= 0).
    biphasic : bool
    """

    kind = "pulses"
    amplitude: float
    convention: str
    frequency_hz: float
    width_ms: float
    delay_ms: float = 0.0
    biphasic: bool = False

    def __post_init__(self):
        super().__post_init__()
        self._set("amplitude", check_nonnegative("amplitude", self.amplitude))
        self._set("frequency_hz", check_positive("frequency_hz", self.frequency_hz, "Hz"))
        self._set("width_ms", check_positive("width_ms", self.width_ms, "ms"))
        self._set("delay_ms", check_nonnegative("delay_ms", self.delay_ms, "ms"))
        if not isinstance(self.biphasic, bool):
            raise ValueError(f"biphasic must be true or false, got {self.biphasic!r}")
        phases = 2 if self.biphasic else 1
        if phases * self.width_ms > self.period_ms or (not self.biphasic and self.width_ms >= self.period_ms):
            raise ValueError(
                f"width_ms={self.width_ms} is too long for the period 1/frequency_hz = {self.period_ms:g} ms"
                + (" (biphasic: 2 x width_ms <= period)" if self.biphasic else ""))
        duty = phases * self.duty_cycle
        self._set("_peak", zero_to_peak(self.amplitude, self.convention, float(phases), math.sqrt(duty), self.kind))

    @property
    def period_ms(self):
        """Repetition period, ms."""
        return _period_ms(self.frequency_hz)

    @property
    def duty_cycle(self):
        """Fraction of each period spent in the (first) phase: width_ms / period_ms."""
        return self.width_ms / self.period_ms

    def shape(self, t_ms):
        t = np.asarray(t_ms, dtype=float)
        phase_ms = np.mod(t - self.delay_ms, self.period_ms)
        started = t >= self.delay_ms
        out = np.where(started & (phase_ms < self.width_ms), self._peak, 0.0)
        if self.biphasic:
            out = out - np.where(started & (phase_ms >= self.width_ms) & (phase_ms < 2 * self.width_ms), self._peak, 0.0)
        return out

    @property
    def highest_frequency_hz(self):
        return self.frequency_hz

    @property
    def drive_frequency_hz(self):
        return self.frequency_hz

    @property
    def drive_phase_rad(self):
        return float(-hz_to_rad_per_ms(self.frequency_hz) * (self.delay_ms + 0.5 * self.width_ms))

    def check_grid(self, duration_ms, nyquist_hz, sample_dt_ms):
        super().check_grid(duration_ms, nyquist_hz, sample_dt_ms)
        if self.width_ms < sample_dt_ms:
            raise ValueError(
                f"width_ms={self.width_ms} is shorter than the waveform sample spacing {sample_dt_ms:g} ms; "
                "reduce dt_ms or waveform_dt_ms")


def _period_ms(freq_hz):
    """Period (ms) of a frequency in Hz: 2 pi / omega(rad/ms)."""
    return float(2.0 * np.pi / hz_to_rad_per_ms(freq_hz))


@dataclass(frozen=True, kw_only=True)
class Noise(Waveform):
    """Band-limited Gaussian noise (tRNS; Terney et al., J. Neurosci. 28, 14147-14155, 2008: 0.1-640 Hz, 101-640 Hz).

    Synthesised on the whole sample grid at once: independent complex Gaussian Fourier
    coefficients inside [low_hz, high_hz] (exactly zero outside), inverse real FFT, then scaled so
    that the RMS over the grid equals the requested value. A linear transform of Gaussian numbers,
    so the samples are Gaussian with a flat spectrum inside the band. The record is periodic over
    the run, and a band narrower than the run's frequency resolution 1/duration is an error.

    Parameters
    ----------
    amplitude : float
        RMS value (>= 0) before the window; ``convention`` must be "rms" (a Gaussian has no peak).
    convention : {'rms'}
    low_hz, high_hz : float
        Band edges, Hz, 0 < low_hz < high_hz < Nyquist.
    seed : int or None
        numpy ``default_rng`` seed (>= 0). None draws a fresh seed when the protocol is loaded;
        the drawn seed is stored in the resolved protocol so the run can be repeated exactly.
    """

    kind = "noise"
    amplitude: float
    convention: str
    low_hz: float
    high_hz: float
    seed: int | None = None

    def __post_init__(self):
        super().__post_init__()
        self._set("amplitude", check_nonnegative("amplitude", self.amplitude))
        if self.convention != "rms":
            raise ValueError(f"convention must be 'rms' for noise (a Gaussian has no peak), got {self.convention!r}")
        self._set("low_hz", check_positive("low_hz", self.low_hz, "Hz"))
        self._set("high_hz", check_positive("high_hz", self.high_hz, "Hz"))
        if self.high_hz <= self.low_hz:
            raise ValueError(f"high_hz={self.high_hz} must be above low_hz={self.low_hz}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0):
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    def shape(self, t_ms):
        raise ValueError("noise is defined on a whole regular grid; use sample(t_ms)")

    def __call__(self, t_ms):
        return self.sample(t_ms)

    def sample(self, t_ms):
        t = np.asarray(t_ms, dtype=float)
        if t.ndim != 1 or t.size < 2:
            raise ValueError("noise needs a 1-D regular time grid with at least 2 samples")
        dt_ms = t[1] - t[0]
        return self.window(t) * band_limited_noise(t.size, dt_ms, self.low_hz, self.high_hz,
                                                   self.amplitude, self.seed)

    @property
    def highest_frequency_hz(self):
        return self.high_hz

    def check_grid(self, duration_ms, nyquist_hz, sample_dt_ms):
        super().check_grid(duration_ms, nyquist_hz, sample_dt_ms)
        resolution_hz = khz_to_hz(1.0 / duration_ms)
        n_bins = math.floor(self.high_hz / resolution_hz) - math.ceil(self.low_hz / resolution_hz) + 1
        if n_bins < 1:
            raise ValueError(
                f"band [{self.low_hz}, {self.high_hz}] Hz contains no frequency of a {duration_ms:g} ms run "
                f"(resolution {resolution_hz:g} Hz); widen the band or lengthen the run")


def band_limited_noise(n, dt_ms, low_hz, high_hz, rms, seed):
    """n samples of Gaussian noise with a flat spectrum in [low_hz, high_hz] and RMS ``rms``.

    Parameters
    ----------
    n : int
        Number of samples.
    dt_ms : float
        Sample spacing, ms.
    low_hz, high_hz : float
        Band, Hz.
    rms : float
        RMS of the returned samples (exact, over the n samples).
    seed : int or None
    """
    rng = np.random.default_rng(seed)
    freqs_hz = khz_to_hz(np.fft.rfftfreq(n, d=dt_ms))      # rfftfreq in cycles per ms = kHz
    inside = (freqs_hz >= low_hz) & (freqs_hz <= high_hz)
    coef = np.zeros(freqs_hz.size, dtype=complex)
    k = int(inside.sum())
    coef[inside] = rng.standard_normal(k) + 1j * rng.standard_normal(k)
    if n % 2 == 0 and inside[-1]:
        coef[-1] = coef[-1].real                           # the Nyquist bin of a real signal is real
    x = np.fft.irfft(coef, n)
    power = np.mean(x * x)
    if power == 0.0:
        return np.zeros(n)
    return x * (rms / math.sqrt(power))


@dataclass(frozen=True, kw_only=True)
class CSVWaveform(Waveform):
    """A waveform read from a CSV file with a header (e.g. a recorded or designed field).

    Values are linearly interpolated onto the sample grid (content faster than the grid's
    Nyquist frequency is not filtered: give the file at least the run's resolution).

    Parameters
    ----------
    path : str
        CSV file; a relative path is relative to the protocol file's folder.
    time_column : str
        Column of times, ms (strictly increasing). Default "time_ms".
    value_column : str
        Column of values, drive units. Default "field_v_per_m".
    scale : float
        Factor applied to the values (dimensionless). Default 1.
    outside : {'error', 'zero', 'hold'}
        What happens where the window asks for times the file does not cover: an error at load
        time (default), zero, or the first/last value held.
    sha256 : str or None
        Expected SHA-256 of the file (filled in the resolved protocol; a changed file is an error).
    """

    kind = "csv"
    path: str
    time_column: str = "time_ms"
    value_column: str = "field_v_per_m"
    scale: float = 1.0
    outside: str = "error"
    sha256: str | None = None
    _times: np.ndarray = field(default=None, repr=False, compare=False)
    _values: np.ndarray = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        super().__post_init__()
        self._set("scale", check_finite("scale", self.scale))
        if self.outside not in CSV_OUTSIDE:
            raise unknown_name_error("outside", self.outside, CSV_OUTSIDE)
        if self._times is None:
            times, values, digest = read_waveform_csv(self.path, self.time_column, self.value_column)
            if self.sha256 is not None and self.sha256 != digest:
                raise ValueError(f"{self.path} has changed since the protocol was resolved (sha256 {digest} != {self.sha256})")
            self._set("_times", times)
            self._set("_values", values)
            self._set("sha256", digest)

    def shape(self, t_ms):
        t = np.asarray(t_ms, dtype=float)
        out = self.scale * np.interp(t, self._times, self._values)
        if self.outside == "zero":
            out = np.where((t < self._times[0]) | (t > self._times[-1]), 0.0, out)
        return out        # 'hold' is np.interp's own behaviour; 'error' is checked in check_grid

    def check_grid(self, duration_ms, nyquist_hz, sample_dt_ms):
        super().check_grid(duration_ms, nyquist_hz, sample_dt_ms)
        if self.outside == "error":
            stop = duration_ms if self.stop_ms is None else min(self.stop_ms, duration_ms)
            if self._times[0] > self.start_ms or self._times[-1] < stop:
                raise ValueError(
                    f"{self.path} covers {self._times[0]:g}..{self._times[-1]:g} ms but the waveform is on "
                    f"{self.start_ms:g}..{stop:g} ms; extend the file or set outside = 'zero' or 'hold'")

    def resolved(self):
        out = super().resolved()
        out.pop("_times", None)
        out.pop("_values", None)
        out["path"] = str(Path(self.path).resolve())
        return out


def read_waveform_csv(path, time_column="time_ms", value_column="field_v_per_m"):
    """(times_ms, values, sha256) from a CSV file with a header; ValueError naming file, row, column."""
    import pandas as pd

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read waveform CSV {path}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(raw).hexdigest()
    try:
        import io

        table = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"waveform CSV {path} is not a readable CSV table: {str(exc).splitlines()[0]}") from None
    cols = [str(c).strip() for c in table.columns]
    table.columns = cols
    for col in (time_column, value_column):
        if col not in cols:
            raise ValueError(f"waveform CSV {path} has no column {col!r}; columns: {', '.join(cols) or 'none'}")
    if len(table) < 2:
        raise ValueError(f"waveform CSV {path} needs at least 2 data rows, has {len(table)}")
    arrays = []
    for col in (time_column, value_column):
        numbers = pd.to_numeric(table[col].str.strip(), errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(numbers))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"waveform CSV {path} line {i + 2}, column {col!r}: {table[col].iloc[i]!r} is not a finite number")
        arrays.append(numbers)
    times, values = arrays
    steps = np.diff(times)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise ValueError(f"waveform CSV {path} line {i + 3}: {time_column} must increase strictly "
                         f"({times[i + 1]:g} after {times[i]:g})")
    return times, values, digest


#: kind name in protocol files -> class
KINDS = {cls.kind: cls for cls in (DC, Sine, OscillatingDC, AMSine, TemporalInterference, PulseTrain, Noise, CSVWaveform)}


def waveform_keys(kind):
    """The keys a waveform table of ``kind`` accepts (besides ``kind``)."""
    return [f.name for f in fields(KINDS[kind]) if not f.name.startswith("_")]


def required_keys(kind):
    from dataclasses import MISSING

    return [f.name for f in fields(KINDS[kind]) if not f.name.startswith("_")
            and f.default is MISSING and f.default_factory is MISSING]


def field_types(kind):
    """{key: python type} of a waveform table, for the protocol loader's type checks."""
    hints = {}
    for f in fields(KINDS[kind]):
        if f.name.startswith("_"):
            continue
        ann = str(f.type)
        if ann.startswith("float"):
            hints[f.name] = float
        elif ann.startswith("int"):
            hints[f.name] = int
        elif ann.startswith("bool"):
            hints[f.name] = bool
        else:
            hints[f.name] = str
    return hints


def total(waveforms, t_ms):
    """Sum of the waveforms on a regular grid ``t_ms`` (drive units)."""
    t = np.asarray(t_ms, dtype=float)
    out = np.zeros(t.shape)
    for w in waveforms:
        out += w.sample(t)
    return out
