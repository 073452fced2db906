"""Entrainment of self-oscillating circuits by a sinusoidal drive: Arnold tongues (Pikovsky, Rosenblum & Kurths, Synchronization, CUP 2001; Lachaux et al., Hum. Brain Mapp. 8, 194-208, 1999).

Procedure
---------
1. Warm-up: each circuit runs undriven for ``settle_ms`` from the default initial state, onto its
   attractor (limit cycle for an oscillating circuit). Its final integrated state
   (``model.state_from_recorded`` of the last record, taken at exactly ``settle_ms``) is the common
   start of step 2, so every run of step 2 continues the warm-up trajectory.
2. One batch (:func:`stimsim.simulate_batch`): every circuit x drive frequency x amplitude, plus one
   undriven *reference* per circuit, for ``settle_ms`` (locking transient, discarded) +
   ``measure_ms`` (analysed).
3. Per run, on the measured output (rate in Hz, or mean voltage):

   - ``dominant_freq_hz``: largest peak of the zero-padded Hann periodogram (:func:`dominant_frequency`);
     ``natural_freq_hz`` is the same for the undriven reference;
   - output phase ``phi_x(t)``: Hilbert phase of the output band-passed (zero-phase Butterworth,
     order 2) to [0.6, 1.4] x its dominant frequency; 10 % of the window at each end is dropped
     (filter edges); ``mean_freq_hz`` is the least-squares slope of the unwrapped phase over the
     rest (one phase slip in the window changes it by about 1 / window);
   - frequency ratio ``p:q`` = the fraction with q <= ``max_denominator`` (and p <= max_denominator)
     closest to ``mean_freq_hz / freq_hz``;
   - ``plv``: the n:m phase-locking value ``|< exp(i (q phi_x - p phi_E)) >|`` with the drive phase
     ``phi_E = 2 pi f t`` known exactly; ``plv_1to1`` the same for p = q = 1.

Diverged runs
-------------
A run that becomes non-finite (kernel flag, or a non-finite recorded value) is *diverged*: its row
has ``diverged = True``, NaN figures and False flags, which are not results; it is left out of
:func:`tongue_width` and counted in one :class:`DivergenceWarning`. A diverged warm-up or undriven
reference marks every row of its circuit diverged (they all start from, or are judged against, it).

Surrogate baseline
------------------
``plv_surrogate`` is the larger of (a) the 95th percentile of the PLV when the drive phase of each
segment of ``segment_cycles`` drive cycles is re-drawn at random (chance level of a window of that
many independent segments; shuffling whole-cycle segments of a sinusoid would change nothing) and (b) ``plv_undriven``, the PLV of the undriven
reference output against the same drive phase: the phase consistency that appears without any
interaction, merely because the free rhythm has nearly the drive's frequency. In a deterministic
model (b) is the relevant null: at zero amplitude the driven run *is* the reference, so its PLV
is exactly at surrogate level.

The random phases of each (model, circuit, frequency, amplitude) task come from a
:class:`numpy.random.SeedSequence` of the criterion's ``seed`` and a SHA-256 digest of the task's
content (the model name, every population parameter, J, the frequency and the amplitude), so a
task's ``plv_surrogate`` does not depend on which other tasks share the call.

Locking criterion (p:q, reported in ``locked``; ``locked_1to1`` for 1:1)
-------------------------------------------------------------------------
A run is locked p:q when all of:

1. the output oscillates (peak-to-peak over the window > ``min_oscillation`` x its mean absolute value);
2. no phase slip: ``|mean_freq_hz - (p/q) freq_hz| <= freq_tol_hz`` (default 0.1 / analysed
   window: the relative phase drifts by less than a tenth of a cycle over the window, which
   rejects the slow slips of quasi-periodic states just outside the tongue);
3. ``plv >= plv_threshold`` (default 0.9);
4. ``plv > plv_surrogate``.

Only a self-sustained rhythm can be entrained (Pikovsky et al. 2001, ch. 3): when the undriven reference
does not oscillate (a damped focus, e.g. NMM1 interneurons, M7.1) the response to the drive is a
forced response, ``self_oscillating`` is False and ``locked``/``locked_1to1`` are False whatever
the PLV.

Drive frequencies within ~1 / window of the natural frequency cannot be distinguished from a free
rhythm of the same frequency (criterion 4 fails there at small amplitude): the resolution of a
tongue map is set by ``measure_ms``.
"""
from __future__ import annotations

import functools
import hashlib
import math
import time

import numpy as np
import pandas as pd
from scipy import signal as sps

from ..circuit import canonical
from ..drive import SinusoidInput
from ..errors import check_positive_int
from .._simulate import simulate_batch
from ..units import MS_PER_S
from ._settings import Drive, EntrainmentGrid, LockingCriterion, Readout, as_setting, warn_diverged
from ._response import CHUNK_BYTES, _as_cases, _check_models, check_amplitudes, check_freqs, diverged_sets
from ._spectra import dominant_frequency

#: fraction of the measured window dropped at each end after zero-phase filtering
EDGE_FRACTION = 0.1


def circuit_key(circuit):
    """Text of a circuit's parameters (:meth:`stimsim.Circuit.content_key`)."""
    return circuit.content_key()


def task_seed(seed, model_name, circuit, freq_hz, amplitude):
    """SeedSequence of one entrainment task, keyed by its content, not its position in the batch.

    Parameters
    ----------
    seed : int
        ``LockingCriterion.seed``.
    model_name : str
    circuit : Circuit
    freq_hz : float
        Drive frequency, Hz.
    amplitude : float
        Drive amplitude, drive units.

    Returns
    -------
    numpy.random.SeedSequence
        Entropy ``[seed, 8 32-bit words of sha256(model, circuit_key, freq, amplitude)]``.
    """
    text = repr((str(model_name), circuit_key(circuit), canonical(float(freq_hz)), canonical(float(amplitude))))
    words = np.frombuffer(hashlib.sha256(text.encode()).digest(), dtype="<u4")
    return np.random.SeedSequence([int(seed), *(int(w) for w in words)])


def warm_start(circuits, model, grid):
    """Undriven warm-up of each circuit for ``grid.settle_ms``; the start of the entrainment runs.

    Parameters
    ----------
    circuits : list of Circuit (one structure)
    model : Model
    grid : EntrainmentGrid
        ``settle_ms`` (whole steps of ``dt_ms``), ``dt_ms``, ``integrator``.

    Returns
    -------
    states : list of (n_state, P) arrays or None
        The integrated state at t = settle_ms (equations' units), None for a diverged warm-up.
    diverged : (B,) bool array
    batch : BatchResult
        Records at t = 0 and t = settle_ms only.
    """
    n_steps = max(1, int(round(grid.settle_ms / grid.dt_ms)))
    warm = simulate_batch(circuits, model=model, duration_ms=grid.settle_ms, dt_ms=grid.dt_ms,
                          record_every=n_steps, integrator=grid.integrator, initial=None, on_divergence="nan")
    bad = diverged_sets(warm)
    states = [None if bad[b] else model.state_from_recorded(warm.states[-1, :, :, b]) for b in range(len(circuits))]
    return states, bad, warm


def empty_result():
    """The figures of a run with nothing to analyse: NaN numbers, False flags."""
    return dict(dominant_freq_hz=np.nan, mean_freq_hz=np.nan, ratio_p=np.nan, ratio_q=np.nan,
                ratio="", plv=np.nan, plv_1to1=np.nan, plv_surrogate=np.nan, plv_undriven=np.nan,
                oscillating=False, locked=False, locked_1to1=False)


def ratio_fraction(x, max_denominator=4):
    """(p, q) with p, q <= max_denominator and p/q closest to x (x > 0)."""
    best, err = (1, 1), math.inf
    for q in range(1, max_denominator + 1):
        p = max(1, min(max_denominator, int(round(x * q))))
        e = abs(x - p / q)
        if e < err - 1e-12:
            best, err = (p, q), e
    g = math.gcd(*best)
    return best[0] // g, best[1] // g


def output_phase(y, dt_ms, f_out_hz):
    """Hilbert phase (rad, unwrapped) of y band-passed around f_out_hz; NaN if f_out_hz is NaN."""
    if not np.isfinite(f_out_hz):
        return np.full(y.shape, np.nan)
    fs = MS_PER_S / dt_ms
    lo, hi = 0.6 * f_out_hz, min(1.4 * f_out_hz, 0.45 * fs)
    sos = _bandpass(round(lo / fs, 5), round(hi / fs, 5))
    yf = sps.sosfiltfilt(sos, y - y.mean())
    return np.unwrap(np.angle(sps.hilbert(yf)))


@functools.lru_cache(maxsize=4096)
def _bandpass(lo, hi):
    """Order-2 Butterworth band-pass, edges as fractions of the sampling rate (cached: the design
    costs more than the filtering; edges rounded to 1e-5 fs, far below the band's width)."""
    return sps.butter(2, [lo, hi], btype="bandpass", fs=1.0, output="sos")


def plv_and_surrogate(phi_x, phi_e, p, q, seg_len, n_surrogates, rng):
    """n:m PLV of phases phi_x, phi_e and the 95th percentile of its segment-randomised surrogate.

    Surrogate: the window is cut into segments of ``seg_len`` samples and the drive phase of each
    segment is offset by an independent uniform random phase (a drive whose phase is re-drawn every
    segment), i.e. ``|mean_s m_s exp(i theta_s)|`` with m_s the segment mean vectors. It is the
    PLV expected by chance from a window of that many independent segments.
    """
    z = np.exp(1j * (q * phi_x - p * phi_e))
    plv = float(abs(z.mean()))
    n_seg = z.size // seg_len
    if n_seg < 2:
        return plv, 1.0
    m = z[:n_seg * seg_len].reshape(n_seg, seg_len).mean(axis=1)
    theta = rng.uniform(0.0, 2.0 * np.pi, size=(n_surrogates, n_seg))
    sur = np.abs((m[None, :] * np.exp(1j * theta)).mean(axis=1))
    return plv, float(np.quantile(sur, 0.95))


def analyse_run(y, dt_ms, t0_ms, freq_hz, reference_phase, max_denominator, freq_tol_hz, plv_threshold,
                min_oscillation, segment_cycles, n_surrogates, rng, f_dom=None):
    """Entrainment figures of one driven output y (samples every dt_ms from t0_ms); see module doc.

    ``reference_phase`` is the output phase (:func:`output_phase`) of the undriven reference on the
    same grid, None when the reference does not oscillate, or 'self' when y is the reference.
    ``f_dom`` is y's dominant frequency if already known (Hz).
    """
    n = y.size
    out = empty_result()
    if not np.all(np.isfinite(y)):
        return out
    ptp = np.ptp(y)
    osc = ptp > min_oscillation * max(np.mean(np.abs(y)), 1e-300)
    out["oscillating"] = bool(osc)
    if not osc:
        return out
    if f_dom is None:
        f_dom = dominant_frequency(y, dt_ms, fmin_hz=min(1.0, 0.5 * freq_hz))
    out["dominant_freq_hz"] = f_dom
    phi = output_phase(y, dt_ms, f_dom)
    e = int(EDGE_FRACTION * n)
    sl = slice(e, n - e)
    t = t0_ms + np.arange(n) * dt_ms
    phi_e = 2.0 * np.pi * freq_hz * t / MS_PER_S
    T = (n - 2 * e - 1) * dt_ms
    # least-squares slope of the unwrapped phase (rad/ms) -> mean frequency
    f_mean = np.polyfit(t[sl] - t[sl][0], phi[sl], 1)[0] / (2 * np.pi) * MS_PER_S
    out["mean_freq_hz"] = f_mean
    p, q = ratio_fraction(f_mean / freq_hz, max_denominator)
    out.update(ratio_p=p, ratio_q=q, ratio=f"{p}:{q}")
    seg_len = max(2, int(round(segment_cycles * MS_PER_S / freq_hz / dt_ms)))
    plv, sur = plv_and_surrogate(phi[sl], phi_e[sl], p, q, seg_len, n_surrogates, rng)
    if (p, q) == (1, 1):
        plv11, sur11 = plv, sur
    else:
        plv11, sur11 = plv_and_surrogate(phi[sl], phi_e[sl], 1, 1, seg_len, n_surrogates, rng)
    und = und11 = 0.0
    if isinstance(reference_phase, str):
        und, und11 = plv, plv11                          # the undriven run is its own null
    elif reference_phase is not None and np.all(np.isfinite(reference_phase)):
        phr = reference_phase[sl]
        und = float(abs(np.exp(1j * (q * phr - p * phi_e[sl])).mean()))
        und11 = float(abs(np.exp(1j * (phr - phi_e[sl])).mean()))
    tol = 0.1 * MS_PER_S / T if freq_tol_hz is None else freq_tol_hz
    sur_pq, sur_11 = max(sur, und), max(sur11, und11)
    out.update(plv=plv, plv_1to1=plv11, plv_surrogate=sur_pq, plv_undriven=und)
    out["locked"] = bool(abs(f_mean - p / q * freq_hz) <= tol and plv >= plv_threshold and plv > sur_pq)
    out["locked_1to1"] = bool(abs(f_mean - freq_hz) <= tol and plv11 >= plv_threshold and plv11 > sur_11)
    return out


def entrainment(circuit, model="nmm2", freqs_hz=None, amplitudes=None, drive=None, readout=None, grid=None,
                criterion=None, labels=None, progress=False, return_info=False):
    """Arnold-tongue map: locking of a circuit's output to a drive over frequency x amplitude.

    Parameters
    ----------
    circuit : Circuit or sequence of Circuit
        Self-oscillating circuit(s) (e.g. ``preset('interneurons')`` under NMM2).
    model : model or sequence of models (names or objects)
    freqs_hz : array_like
        Drive frequencies, Hz (> 0).
    amplitudes : array_like
        Zero-to-peak drive amplitudes, drive units (>= 0; include 0 for the undriven row).
    drive, readout : Drive, Readout or dict, optional
        As in :func:`stimsim.frequency_response`.
    grid : EntrainmentGrid or dict, optional
        Step, warm-up/settle and analysed window (ms), recording stride, integrator.
    criterion : LockingCriterion or dict, optional
        p:q ratios considered, PLV threshold, frequency tolerance and the surrogate (module docstring).
    labels : list of dict, optional
        Columns identifying each circuit.
    progress : bool
        tqdm progress bars.
    return_info : bool
        Also return timings (wall seconds, simulated seconds) and run counts.

    Returns
    -------
    pandas.DataFrame
        One row per model x circuit x frequency x amplitude: ``model``, ``population``, label
        columns, ``freq_hz``, ``amplitude_<unit>``, ``natural_freq_hz``, ``dominant_freq_hz``,
        ``mean_freq_hz``, ``detuning_hz`` (freq_hz - natural_freq_hz), ``ratio`` ("p:q" with
        output/drive frequency ~ p/q), ``ratio_p``, ``ratio_q``, ``plv``, ``plv_1to1``,
        ``plv_surrogate``, ``plv_undriven``, ``oscillating`` (this run), ``self_oscillating`` (the
        undriven reference), ``locked``, ``locked_1to1``, ``diverged`` (the run, its warm-up or its
        reference became non-finite: the row's figures are not results; see the module docstring).
        With ``return_info``, also a dict of timings and ``runs`` / ``diverged_runs`` (row counts).

    Warns
    -----
    DivergenceWarning
        When runs diverged (their rows have ``diverged = True``).

    References
    ----------
    .. [1] A. Pikovsky, M. Rosenblum, J. Kurths, *Synchronization: A Universal Concept in Nonlinear
       Sciences*, Cambridge University Press (2001) (phase locking, Arnold tongues).
    .. [2] J.-P. Lachaux, E. Rodriguez, J. Martinerie, F. J. Varela, "Measuring phase synchrony in
       brain signals", Hum. Brain Mapp. 8, 194-208 (1999) (phase-locking value).

    Examples
    --------
    >>> import stimsim
    >>> t = stimsim.entrainment(stimsim.preset("interneurons"), freqs_hz=[129.0], amplitudes=[0.0, 2.0],
    ...                         grid=dict(settle_ms=300.0, measure_ms=600.0))
    >>> t[["amplitude_unit", "locked_1to1"]].to_string(index=False).split()
    ['amplitude_unit', 'locked_1to1', '0.0', 'False', '2.0', 'True']
    """
    from tqdm.auto import tqdm

    cases = _as_cases(circuit, labels)
    first = cases[0][1]
    models = _check_models(model, first)
    drive = as_setting(drive, Drive, "drive")
    readout = as_setting(readout, Readout, "readout")
    grid = as_setting(grid, EntrainmentGrid, "grid")
    criterion = as_setting(criterion, LockingCriterion, "criterion")
    output = readout.output
    dt_ms, settle_ms, measure_ms = grid.dt_ms, grid.settle_ms, grid.measure_ms
    record_every, integrator = grid.record_every, grid.integrator
    max_denominator, freq_tol_hz = criterion.max_denominator, criterion.freq_tol_hz
    plv_threshold, min_oscillation = criterion.plv_threshold, criterion.min_oscillation
    segment_cycles, n_surrogates, seed = criterion.segment_cycles, criterion.n_surrogates, criterion.seed
    freqs = check_freqs(np.linspace(5.0, 150.0, 30) if freqs_hz is None else freqs_hz)
    amps = check_amplitudes([0.0, 1.0] if amplitudes is None else amplitudes, "amplitudes")
    nyq = MS_PER_S / (2 * dt_ms)
    if np.max(freqs) >= nyq:
        raise ValueError(f"freqs_hz up to {np.max(freqs):g} Hz must stay below the Nyquist frequency {nyq:g} Hz of dt_ms={dt_ms}")
    if measure_ms * np.min(freqs) / MS_PER_S < 4 * segment_cycles:
        raise ValueError(f"measure_ms={measure_ms} holds fewer than {4 * segment_cycles:g} cycles of the lowest "
                         f"drive frequency {np.min(freqs):g} Hz; lengthen it (or lower segment_cycles)")
    fmax = float(np.max(freqs)) * max_denominator          # fastest output a p:q ratio can report, Hz
    if record_every is None:
        rec = max(1, int(MS_PER_S / (fmax * 6) // dt_ms))   # >= 24 samples per drive period
    else:
        rec = check_positive_int("record_every", record_every)
        if rec * dt_ms * fmax > MS_PER_S / 4:
            raise ValueError(f"record_every={rec} records every {rec * dt_ms:g} ms, fewer than 4 samples per period "
                             f"of {fmax:g} Hz (max_denominator x the highest drive frequency); lower record_every "
                             "(or leave it to the default)")
    rec_dt = rec * dt_ms
    pop = readout.population_of(first)
    k_out = first.index(pop)
    gains = [drive.gains(c) for _, c in cases]
    amp_col = f"amplitude_{drive.suffix}"
    suffix = readout.suffix(first)
    scale = MS_PER_S if output == "rate" else 1.0
    rows, info = [], {"wall_s": 0.0, "simulated_s": 0.0, "analysis_s": 0.0, "runs": 0, "diverged_runs": 0}
    circuits = [c for _, c in cases]
    for m in models:
        # 1. warm-up onto the attractor; a diverged warm-up marks all of its circuit's rows diverged
        y0, warm_bad, warm = warm_start(circuits, m, grid)
        info["wall_s"] += warm.wall_time_s
        info["simulated_s"] += len(circuits) * settle_ms / MS_PER_S
        live = [i for i in range(len(cases)) if not warm_bad[i]]
        # 2. one batch: references first, then circuit x frequency x amplitude (amplitude 0 reuses the reference)
        var = m.recorded_index("r" if output == "rate" else "v")
        driven = [(i, fi, ai) for i in live for fi in range(len(freqs))
                  for ai in range(len(amps)) if amps[ai] > 0]
        runs = [(i, None, None) for i in live] + driven
        duration = math.ceil((settle_ms + measure_ms) / rec_dt - 1e-9) * rec_dt
        first_rec = int(round(math.ceil(settle_ms / rec_dt - 1e-9)))
        n_rec = int(round(duration / dt_ms)) // rec + 1
        size = max(16, int(CHUNK_BYTES // (n_rec * m.n_recorded * first.n_populations * 8)) // 16 * 16)
        signals, run_bad = {}, {}
        chunks = [runs[i:i + size] for i in range(0, len(runs), size)]
        for chunk in tqdm(chunks, desc=f"entrainment {m.name}", disable=not progress or len(chunks) < 2, leave=False):
            inputs = [None if fi is None else SinusoidInput(amps[ai] * gains[i], float(freqs[fi]))
                      for i, fi, ai in chunk]
            br = simulate_batch([circuits[i] for i, _, _ in chunk], model=m, duration_ms=duration, dt_ms=dt_ms,
                                inputs=inputs, record_every=rec, integrator=integrator,
                                initial=[y0[i] for i, _, _ in chunk], on_divergence="nan")
            info["wall_s"] += br.wall_time_s
            info["simulated_s"] += len(chunk) * duration / MS_PER_S
            bad = diverged_sets(br)
            for b, key in enumerate(chunk):
                signals[key] = br.states[first_rec:, var, k_out, b] * scale
                run_bad[key] = bool(bad[b])
        # 3. analysis
        t_an = time.perf_counter()
        t0 = first_rec * rec_dt
        bar = tqdm(total=len(cases) * len(freqs) * len(amps), desc=f"PLV analysis {m.name}", disable=not progress, leave=False)
        for i, (lab, c) in enumerate(cases):
            ref_bad = bool(warm_bad[i]) or run_bad[(i, None, None)]
            ref = None if ref_bad else signals[(i, None, None)]
            osc_ref = (not ref_bad) and np.ptp(ref) > min_oscillation * max(np.mean(np.abs(ref)), 1e-300)
            f_nat = dominant_frequency(ref, rec_dt, fmin_hz=1.0) if osc_ref else np.nan
            osc_ref = bool(osc_ref)
            ref_phase = output_phase(ref, rec_dt, f_nat) if osc_ref else None
            # dominant frequencies of this circuit's driven runs, in blocks of one batched periodogram
            keys = [] if ref_bad else [(i, fi, ai) for fi in range(len(freqs)) for ai in range(len(amps)) if amps[ai] > 0]
            f_dom = {}
            for j in range(0, len(keys), 64):
                block = [k for k in keys[j:j + 64] if not run_bad[k]]
                if block:
                    Y = np.stack([signals[k] for k in block])
                    fmin = min(1.0, 0.5 * float(np.min(freqs)))
                    f_dom.update(zip(block, np.atleast_1d(dominant_frequency(Y, rec_dt, fmin_hz=fmin)).tolist()))
            for fi, f in enumerate(freqs):
                for ai, a in enumerate(amps):
                    k = (i, fi, ai)
                    # surrogate draws seeded by the task's content: independent of what else is in the batch
                    rng = np.random.default_rng(task_seed(seed, m.name, c, f, a))
                    if ref_bad or (a > 0 and run_bad[k]):
                        res, diverged = empty_result(), True
                    elif a > 0:
                        res, diverged = analyse_run(signals[k], rec_dt, t0, f, ref_phase, max_denominator, freq_tol_hz,
                                                    plv_threshold, min_oscillation, segment_cycles, n_surrogates, rng,
                                                    f_dom=f_dom.get(k)), False
                    else:
                        res, diverged = analyse_run(ref, rec_dt, t0, f, "self", max_denominator, freq_tol_hz,
                                                    plv_threshold, min_oscillation, segment_cycles, n_surrogates, rng,
                                                    f_dom=f_nat if osc_ref else None), False
                    row = {"model": m.name, "population": pop, "output": output}
                    row.update(lab)
                    row.update({"freq_hz": f, amp_col: a, "natural_freq_hz": f_nat, "detuning_hz": f - f_nat})
                    row.update(res)
                    row["self_oscillating"] = osc_ref
                    if not osc_ref:                       # forced response, not entrainment
                        row["locked"] = row["locked_1to1"] = False
                    row["diverged"] = diverged
                    info["runs"] += 1
                    info["diverged_runs"] += int(diverged)
                    rows.append(row)
                    bar.update()
        bar.close()
        info["analysis_s"] += time.perf_counter() - t_an
    _refuse_near_nyquist(rows, rec_dt)
    table = pd.DataFrame(rows)
    table.attrs["output_unit"] = suffix
    warn_diverged(info["diverged_runs"], info["runs"], "entrainment")
    return (table, info) if return_info else table


#: a reported frequency at or above this fraction of the Nyquist frequency of the analysed series is refused
NYQUIST_FRACTION = 0.8


def _refuse_near_nyquist(rows, rec_dt_ms):
    """ValueError if a valid row reports a frequency within 20 % of the record's Nyquist frequency.

    Such a frequency may be an alias of a faster rhythm (the series is sampled every ``rec_dt_ms``).
    """
    nyq = MS_PER_S / (2.0 * rec_dt_ms)
    for row in rows:
        if row["diverged"]:
            continue
        for name in ("natural_freq_hz", "dominant_freq_hz", "mean_freq_hz"):
            if row[name] >= NYQUIST_FRACTION * nyq:
                raise ValueError(f"{row['model']}: {name} = {row[name]:g} Hz is within {100 * (1 - NYQUIST_FRACTION):.0f}% "
                                 f"of the Nyquist frequency {nyq:g} Hz of the analysed series (every {rec_dt_ms:g} ms) "
                                 "and may be aliased; lower record_every (or leave it to the default)")


def tongue_width(table, amplitude_column=None, locked_column="locked_1to1", by=None):
    """1:1 locking range per amplitude: lowest and highest locked frequency and their difference.

    Only valid runs count: rows flagged ``diverged`` are left out (a diverged run is neither
    locked nor unlocked) and counted in ``n_diverged``.

    Parameters
    ----------
    table : DataFrame from :func:`entrainment`.
    amplitude_column : str, optional
        Default: the column starting with ``amplitude_``.
    locked_column : str
        'locked_1to1' (default) or 'locked'.
    by : list of str, optional
        Extra grouping columns (default ``model`` plus label columns).

    Returns
    -------
    DataFrame
        One row per group x amplitude: ``n_runs`` (valid runs), ``n_diverged``, ``n_locked``,
        ``locked_min_hz``, ``locked_max_hz``, ``width_hz`` (Hz; 0 when no valid run locks, NaN when
        there is no valid run) and ``status``: 'ok', '<k> of <n> runs diverged' (the range is that of
        the valid runs) or 'all runs diverged'.
    """
    if amplitude_column is None:
        amplitude_column = next(c for c in table.columns if c.startswith("amplitude_"))
    if by is None:
        known = {"population", "output", "freq_hz", amplitude_column, "natural_freq_hz", "detuning_hz",
                 "dominant_freq_hz", "mean_freq_hz", "ratio_p", "ratio_q", "ratio", "plv", "plv_1to1",
                 "plv_surrogate", "plv_undriven", "oscillating", "self_oscillating", "locked", "locked_1to1",
                 "diverged"}
        by = [c for c in table.columns if c not in known]
    rows = []
    for key, sub in table.groupby(by + [amplitude_column], sort=True):
        bad = sub["diverged"].to_numpy(dtype=bool) if "diverged" in sub else np.zeros(len(sub), dtype=bool)
        valid = sub[~bad]
        f = valid.loc[valid[locked_column].astype(bool), "freq_hz"]
        n_bad = int(np.count_nonzero(bad))
        row = dict(zip(by + [amplitude_column], key if isinstance(key, tuple) else (key,)))
        row.update(n_runs=len(valid), n_diverged=n_bad, n_locked=int(f.size),
                   locked_min_hz=f.min() if f.size else np.nan, locked_max_hz=f.max() if f.size else np.nan,
                   width_hz=float(f.max() - f.min()) if f.size else (0.0 if len(valid) else np.nan),
                   status="ok" if not n_bad else ("all runs diverged" if not len(valid)
                                                  else f"{n_bad} of {len(sub)} runs diverged"))
        rows.append(row)
    return pd.DataFrame(rows)
