"""Pieces of the spiking QIF network shared by its single-circuit and whole-brain engines.

Constants and options of :class:`stimsim.models.NetworkModel` (models.md M1; Montbrió, Pazó &
Roxin, Phys. Rev. X 5, 021028, 2015), the Lorentzian excitabilities and the stationary state of
uncoupled QIF neurons the runs start from.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InputError

#: default neurons per population
DEFAULT_NEURONS = 10_000
#: default V_peak (V_reset = -V_peak), as in Montbrió et al. (2015)
DEFAULT_V_PEAK = 100.0
#: default shortest window the rate is counted in, ms (longer when records are further apart)
DEFAULT_RATE_WINDOW_MS = 1.0
#: default neurons per population whose spikes are kept for rasters
DEFAULT_RASTER = 100
#: the refractory half-time tau_m / V_peak must span at least this many steps
MIN_STEPS_PER_HALF_REFRACTORY = 2.0
#: a population of at least this many neurons is split into BLOCKS_PER_POPULATION blocks, which may
#: run on threads (the split does not depend on the threads: the numbers do not either)
PARALLEL_MIN_NEURONS = 50_000
BLOCKS_PER_POPULATION = 4
#: with parallel=None the run times short probes threaded and on one thread and keeps the faster,
#: probing the other again after this many calls, an interval that doubles (up to 64 x) while it stays
#: slower (threads pay only while no other process wants the cores)
PROBE_EVERY = 8
#: bytes per neuron: V, R, eta (float64)
BYTES_PER_NEURON = 24
#: bytes per neuron of one population while the initial state is built (numpy temporaries)
BUILD_BYTES_PER_NEURON = 96
#: memory the neurons may take, bytes; None: ``MEMORY_FRACTION`` of the machine's physical memory
MAX_NETWORK_BYTES = None
MEMORY_FRACTION = 0.5
#: spikes of the raster subset kept at most (16 bytes each)
MAX_RASTER_SPIKES = 5_000_000
#: neuron updates per kernel call (progress is reported between calls)
UPDATES_PER_CALL = 2e8
#: a progress bar is shown (progress=None) when the run is expected to take longer than this, s
PROGRESS_AFTER_S = 5.0
#: expected cost of a neuron update, s (for the progress decision only; benchmarks/bench_network.py)
SECONDS_PER_UPDATE = 0.6e-9

EXCITABILITIES = ("quantiles", "random")


def memory_limit_bytes():
    """Memory the neurons of one run may take: ``MAX_NETWORK_BYTES`` or a fraction of physical memory."""
    if MAX_NETWORK_BYTES is not None:
        return float(MAX_NETWORK_BYTES)
    try:
        return MEMORY_FRACTION * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):       # not POSIX: a fixed cap
        return 8.0 * 2**30


@dataclass(frozen=True)
class NetworkOptions:
    """Validated options of a network run (see :meth:`NetworkModel.check_options`)."""

    neurons: int
    seed: int
    excitability: str
    v_peak: float
    noise: float
    raster_neurons: int
    rate_window_steps: int
    parallel: bool | None
    progress: bool | None

    def describe(self, dt_ms):
        d = asdict(self)
        d["v_reset"] = -self.v_peak
        d["rate_window_ms"] = self.rate_window_steps * dt_ms
        return d


def _int_option(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        hint = f" (write {int(value)})" if isinstance(value, float) and value.is_integer() else ""
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}{hint}")
    if value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def excitabilities(n, eta_bar, delta, kind="quantiles", rng=None):
    """Excitabilities eta_j of one population, sorted (QIF units).

    ``quantiles``: eta_j = eta_bar + Delta tan(pi/2 (2j - N - 1)/(N + 1)), j = 1..N, the
    deterministic Lorentzian quantiles used by Montbrió et al. (2015); ``random``: N independent
    Lorentzian (Cauchy) draws from ``rng``, sorted.
    """
    if kind == "quantiles":
        j = np.arange(1, n + 1)
        return eta_bar + delta * np.tan(0.5 * np.pi * (2.0 * j - n - 1.0) / (n + 1.0))
    return np.sort(eta_bar + delta * rng.standard_cauchy(n))


def frozen_input(rate_khz, tau_m, delta):
    """The total input x with Phi(x) = r (models.md M3 inverted): x = (a^2 - Delta^2)/(2a), a = 2 (pi tau_m r)^2."""
    a = 2.0 * (math.pi * tau_m * rate_khz) ** 2
    return (a * a - delta * delta) / (2.0 * a)


def stationary_neurons(c, tau_m, v_peak, dt, phase):
    """(V, R) of uncoupled neurons with constant drive c, each at phase ``phase`` (in [0, 1)) of its cycle.

    The stationary state of tau_m dV/dt = V^2 + c with the finite-V_peak convention (models.md M1):
    a neuron with c > 0 runs from V_reset = -V_peak to V_peak in T_free = (2 tau_m / sqrt c)
    atan(V_peak / sqrt c), then is refractory for 2 tau_m / V_peak; phase t / T of that cycle gives
    V = sqrt(c) tan(atan(-V_peak / sqrt c) + t sqrt(c) / tau_m) or, in the refractory part, the
    remaining refractory time R = T - t. A neuron with c <= 0 rests at -sqrt(-c).
    """
    V = np.empty_like(c)
    R = np.full_like(c, -dt)
    pos = c > 0
    rest = ~pos
    V[rest] = -np.sqrt(-c[rest])
    sc = np.sqrt(c[pos])
    t_free = 2.0 * tau_m / sc * np.arctan(v_peak / sc)
    t_half = tau_m / v_peak
    period = t_free + 2.0 * t_half
    t = phase[pos] * period
    free = t < t_free
    v = np.full(sc.shape, -v_peak)
    v[free] = sc[free] * np.tan(np.arctan(-v_peak / sc[free]) + t[free] * sc[free] / tau_m)
    v = np.minimum(v, v_peak * (1.0 - 1e-12))
    r = np.where(free, -dt, period - t)
    V[pos] = v
    R[pos] = r
    return V, R


#: a population whose mean voltage is undefined (every neuron refractory or beyond V_peak) while
#: it fires at more than this fraction of the refractory ceiling V_peak / (2 tau_m) is saturated
SATURATION_FRACTION = 0.5


def saturation(rates_khz, v, tau_m, v_peak):
    """The first record (and its populations) at which the network is saturated, or None.

    With a finite V_peak every spike costs a refractory time 2 tau_m / V_peak (models.md M1), so a
    population cannot fire faster than V_peak / (2 tau_m). When its rate exceeds
    SATURATION_FRACTION of that ceiling and no neuron is left below V_peak to define the mean
    voltage, the network no longer approximates the QIF population the mean fields describe (its
    neurons spend most of their time refractory): the input is beyond what the network resolves at
    this V_peak and step, the spiking counterpart of a mean-field run that diverges.

    Parameters
    ----------
    rates_khz, v : arrays (n_records, P)
        Recorded rates (kHz) and mean voltages.
    tau_m : array (P,)
        Membrane time constants, ms.
    v_peak : float

    Returns
    -------
    None or (record index, population indices, ceiling kHz (P,))
    """
    ceiling = v_peak / (2.0 * np.asarray(tau_m, dtype=float))
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(v) & (rates_khz > SATURATION_FRACTION * ceiling[None, :])
    if not np.any(bad):
        return None
    m = int(np.argmax(np.any(bad, axis=1)))
    return m, np.flatnonzero(bad[m]), ceiling


def saturation_message(where, t_ms, names, rates_khz, ceiling_khz, v_peak, dt_ms):
    """The SimulationDiverged text of a saturated network (:func:`saturation`)."""
    pops = ", ".join(f"{n} at {1000.0 * r:.4g} Hz (ceiling {1000.0 * c:.4g} Hz)"
                     for n, r, c in zip(names, rates_khz, ceiling_khz))
    return (f"{where} saturated at t = {t_ms:g} ms: every neuron of population(s) {pops} was refractory or "
            f"beyond V_peak, so the mean voltage is undefined and the rate is over "
            f"{SATURATION_FRACTION:g} x the ceiling V_peak / (2 tau_m) a finite V_peak = {v_peak:g} allows "
            f"(models.md M1); the input is too large for the spiking network: lower the input or noise, or raise "
            f"v_peak (with dt_ms = {dt_ms:g} <= 0.5 tau_m / v_peak)")
