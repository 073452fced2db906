"""The whole-brain engine of lane-kernel models: regions with delayed coupling in blocks of lanes.

Every model with ``lane_kernel = True`` and ``supports_delays = True`` runs in a brain network
through these two functions (the base class's :meth:`~stimsim.models.Model.check_regions` and
:meth:`~stimsim.models.Model.simulate_regions`); the model provides only its compiled
delayed-coupling entry point (:meth:`~stimsim.models.Model.run_delayed_kernel`), the variable it
sends (``long_range_variable``) and, for cubic history, the slope of that variable
(``history_slope``). The kernels (``stimsim.kernels.delayed``) integrate every region's local
circuit with fixed-step RK4 or Heun, reading the delayed long-range input from a ring buffer of
past values interpolated at the Runge-Kutta stage times (the module docstring there states the
error). Lanes are parameter sets differing in G, conduction speed and stimulus scale.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numba
import numpy as np
from tqdm.auto import tqdm

from ..errors import InputError, SimulationDiverged
from ..kernels import delayed as _k
from ..kernels.common import CHECK_EVERY, METHODS, pad_lanes
from ._regions import RegionRun

#: largest ring buffer of past activations a run may allocate, bytes
MAX_HISTORY_BYTES = 2 * 2**30
#: a run of more population-steps (steps x regions x populations x sets) shows a progress bar
#: by default (benchmarks/bench_brain.py: ~220 ns per population-step for one set, so ~2 s)
PROGRESS_ELEMENT_STEPS = 1e7
#: wall time of one kernel call, s (the first call, of PROGRESS_FIRST_STEPS steps, measures the
#: speed): the progress bar advances and interrupts are seen between calls
PROGRESS_CALL_S = 0.5
#: the first call is short: a dense connectome of 1500 regions costs ~90 ms per step (2 sets), so
#: a longer first call would hold off an interrupt for seconds
PROGRESS_FIRST_STEPS = 16
HISTORIES = ("cubic", "linear")


@dataclass(frozen=True)
class LanePlan:
    """The packed delay tables of a lane-kernel brain run (checked and sized before it starts)."""

    lane_width: int
    row_ptr: np.ndarray
    src: np.ndarray
    off: np.ndarray
    w: np.ndarray
    nbuf: int
    reuse: bool


def _sparse_rows(W):
    """CSR of the nonzero W[i, j]: row pointers (R + 1,), sources (nnz,), values (nnz,), rows."""
    rows, cols = np.nonzero(W)
    row_ptr = np.zeros(W.shape[0] + 1, dtype=np.int64)
    np.add.at(row_ptr, rows + 1, 1)
    return np.cumsum(row_ptr), cols.astype(np.int64), W[rows, cols], rows


def lane_width(B, lanes):
    """Sets per block: at most ``lanes``, and few enough that every thread gets a block (B = 32 on
    2 threads: 2 blocks of 16, 1.7 x faster than one block of 32 for 68 PING regions)."""
    if B == 1:
        return 1
    return max(1, min(lanes, -(-B // numba.get_num_threads())))


def _history(model, history):
    """'cubic' or 'linear' from the request and the model's ``history_slope``."""
    if history is None:
        return "cubic" if model.history_slope else "linear"
    if history not in HISTORIES:
        raise InputError(f"history must be one of {', '.join(map(repr, HISTORIES))} or None (the model's best), "
                         f"got {history!r}")
    if history == "cubic" and not model.history_slope:
        raise model.lacks("history_slope", "read its delayed history by cubic Hermite interpolation "
                                           "(history='cubic'; use 'linear' or None)")
    return history


def plan_lanes(model, network, spec, lanes, history, lanes_per_block):
    """Delay tables, interpolation weights and the memory check of a lane-kernel brain run."""
    history = _history(model, history)
    B = lanes.n_sets
    L = lane_width(B, lanes_per_block)
    speeds = lanes.speed_mm_per_ms
    row_ptr, src, wvals, rows = _sparse_rows(network.weights)
    shared_speed = bool(np.all(speeds == speeds[0]))
    d = network.lengths_mm[rows, src][:, None] / (speeds[:1] if shared_speed else speeds)[None, :]   # (nnz, Ld)
    off, theta = _k.delay_table(d, spec.dt_ms)
    nbuf = _k.buffer_slots(int(off.max()) if off.size else 1)
    hist = 2 * nbuf * network.n_regions * (-(-B // L) * L) * 8               # the sent variable and its slope
    if hist > MAX_HISTORY_BYTES:
        raise InputError(f"the delay history needs {hist / 2**30:.1f} GiB ({nbuf} steps x {network.n_regions} "
                         f"regions x {B} sets; limit {MAX_HISTORY_BYTES / 2**30:.0f} GiB): the longest delay spans "
                         "too many steps; raise dt_ms or the speed, or run fewer sets at once")
    if history == "cubic":
        variable, parameter = model.history_slope
        tau = getattr(network.local.populations[network.sender], parameter)
        w = _k.hermite_weights(wvals[None, :, None], theta, spec.dt_ms, tau)          # (4, 3, nnz, Ld)
    else:
        w = _k.linear_weights(wvals[None, :, None], theta)                          # (2, 3, nnz, Ld)

    def per_lane(arr):          # (..., Ld) -> (nb, ..., Ld) with Ld = 1 or L
        if shared_speed:
            return np.ascontiguousarray(np.broadcast_to(arr, (-(-B // L),) + arr.shape))
        return pad_lanes(arr, B, L)

    return LanePlan(L, row_ptr, src, per_lane(off), per_lane(w), nbuf, bool(np.all(d >= spec.dt_ms)))


def run_lanes(model, network, spec, y0, stimulus, stride, lanes, plan, progress, on_divergence):
    """Pack into the lane layout, call the model's delayed kernel in calls of about PROGRESS_CALL_S
    (continuing one another exactly) and report non-finite sets."""
    Gs, scales = lanes.G, lanes.field_scale
    B, L = lanes.n_sets, plan.lane_width
    R, P = network.n_regions, network.local.n_populations
    local = network.local
    RP = R * P
    if progress is None:
        progress = spec.n_steps * RP * B > PROGRESS_ELEMENT_STEPS
    y = np.repeat(y0.reshape(model.n_state, RP)[..., None], B, axis=-1)        # (NV, RP, B)
    state = pad_lanes(y, B, L)                           # the kernel leaves the state of its last step here
    par1 = model.kernel_parameters([local])[..., 0]                            # (npar, P)
    par = pad_lanes(np.repeat(np.tile(par1, (1, R))[..., None], B, axis=-1), B, L)
    K = np.ascontiguousarray(local.effective_coupling)
    recv_w = network.receiver_factors()
    const = np.tile(local.vector("I"), R)
    if stimulus is None:
        coef = pad_lanes(np.zeros((1, RP, B)), B, L)
        waves = np.zeros((2, 1))
    else:
        pat = stimulus.patterns.reshape(stimulus.n_patterns, RP)
        coef = pad_lanes(pat[..., None] * scales[None, None, :], B, L)       # scale x pattern per lane
        waves = stimulus.waveforms
    Gp = pad_lanes(Gs, B, L)
    nb = state.shape[0]
    nrec = model.n_recorded
    out = np.empty((spec.n_records, nb, nrec, RP, L))
    status = np.full((nb, L), -1, dtype=np.int64)
    H = np.empty((nb, plan.nbuf, R, 2, L))               # ring buffer (sent value, slope), carried between calls
    n_steps = spec.n_steps
    # calls of about PROGRESS_CALL_S that continue one another exactly, with or without a bar: Python
    # regains control between them, so Ctrl-C and SIGTERM act within a second in long runs
    per_call = PROGRESS_FIRST_STEPS
    wall = 0.0
    with tqdm(total=n_steps, desc=f"{model.name} brain network ({R} regions, {B} set{'s' * (B > 1)})", unit="step",
              unit_scale=True, disable=not progress, leave=False) as bar:
        n_begin = 0
        while n_begin < n_steps:
            n_end = min(n_steps, n_begin + per_call)
            args = (K, recv_w, np.int64(network.sender), const, coef, waves, np.int64(stride), stimulus is not None,
                    Gp, plan.row_ptr, plan.src, plan.off, plan.w, H, np.int64(n_begin), np.int64(n_end), plan.reuse,
                    float(spec.dt_ms), np.int64(n_steps), np.int64(spec.record_every), np.int64(CHECK_EVERY),
                    np.int64(METHODS[spec.integrator]), out, status)
            t0 = time.perf_counter()
            model.run_delayed_kernel(local, R, state, par, args)
            took = time.perf_counter() - t0
            wall += took
            bar.update(n_end - n_begin)
            # the next call lasts about PROGRESS_CALL_S (calls may start at any step: the kernel refills
            # its drive from there, and its numbers do not depend on where calls begin)
            per_call = max(1, int(PROGRESS_CALL_S * (n_end - n_begin) / max(took, 1e-9)))
            n_begin = n_end
    states = np.moveaxis(out, 1, -2).reshape(spec.n_records, nrec, RP, nb * L)[..., :B]
    status = status.reshape(-1)[:B]
    bad = np.flatnonzero(status >= 0)
    if bad.size and on_divergence == "raise":
        b = int(bad[0])
        t_hi = status[b] * spec.dt_ms
        which = (f" (set {b} of {B}: G = {Gs[b]:g}, speed = {lanes.speed_mm_per_ms[b]:g} mm/ms)" if B > 1 else "")
        raise SimulationDiverged(
            f"{model.name} brain network{which} became non-finite between t = "
            f"{max(0.0, t_hi - CHECK_EVERY * spec.dt_ms):g} and {t_hi:g} ms; reduce dt_ms (now {spec.dt_ms}) or G, "
            "or check the parameters")
    return RegionRun(states.reshape(spec.n_records, nrec, R, P, B), bad, wall)
