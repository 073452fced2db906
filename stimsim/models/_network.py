"""The spiking QIF network: the ground truth NMM2 describes (models.md M1).

Montbrió, Pazó & Roxin, "Macroscopic description for networks of spiking neurons", Phys. Rev. X 5,
021028 (2015). N quadratic integrate-and-fire neurons per population, all-to-all coupled through the
second-order (alpha) synapse of Clusella et al. (Biol. Cybern. 117, 2023) driven by each
population's spikes. Neuron j of population k (time in ms, V in QIF units)::

    tau_m dV_j/dt = V_j^2 + eta_j + I_k(t) + sum_l K[k, l] s_l(t)   (+ optional noise)
    V_j >= V_peak: refractory 2 tau_m / V_peak, the spike emitted half-way, V_j <- V_reset = -V_peak

with K[k, l] = tau_m,k J[k, l] (M5) and eta_j the Lorentzian excitabilities (centre eta_bar_k,
half-width Delta_k): deterministic quantiles eta_j = eta_bar + Delta tan(pi/2 (2j - N - 1)/(N + 1))
by default, seeded random draws as an option. The time integration (kernel
``stimsim.kernels.network``) and what is recorded are described there and in models.md M1.

The network has no right-hand side or Jacobian: fixed points, linearisation and linear response
belong to the mean-field models; the methods that need them raise an InputError saying so.
"""
from __future__ import annotations

import math
import secrets
import time
import warnings

import numpy as np
import pandas as pd

from ..errors import InputError, SimulationDiverged, check_finite, check_positive
from ..units import MS_PER_S, hz_to_rad_per_ms
from ._base import Model, Variable
from ._network_neurons import (DEFAULT_NEURONS, DEFAULT_V_PEAK, DEFAULT_RATE_WINDOW_MS, DEFAULT_RASTER,
                               MIN_STEPS_PER_HALF_REFRACTORY, PARALLEL_MIN_NEURONS, BLOCKS_PER_POPULATION,
                               PROBE_EVERY, BYTES_PER_NEURON, BUILD_BYTES_PER_NEURON, MAX_RASTER_SPIKES,
                               UPDATES_PER_CALL, PROGRESS_AFTER_S, SECONDS_PER_UPDATE, EXCITABILITIES,
                               NetworkOptions, _int_option, excitabilities, frozen_input, memory_limit_bytes,
                               saturation, saturation_message, stationary_neurons)
from ._network_regions import check_regions as _check_regions
from ._network_regions import simulate_regions as _simulate_regions

_R = Variable("r", "kHz", "rate_hz", "Hz", MS_PER_S,
              "population rate: spikes per neuron in a window centred on t, per ms (models.md M1)")
_V = Variable("v", "QIF units", "v", "QIF units", 1.0,
              "mean membrane voltage of the neurons not refractory with |V| <= V_peak")
_S = Variable("s", "kHz", "s_hz", "Hz", MS_PER_S, "synaptic activation (alpha-filtered spike train)")
_Z = Variable("z", "kHz", "z_hz", "Hz", MS_PER_S, "tau_s ds/dt")


def _no_equations(what):
    return InputError(
        f"model 'network' is the spiking QIF network (models.md M1), simulated neuron by neuron: it has no "
        f"{what}. Fixed points, linearisation and the linear frequency response exist for the mean-field "
        "models ('nmm2', 'nmm1'); simulate the network with stimsim.simulate(circuit, model='network', "
        "neurons=N) or compare it with them (stimsim validate PROTOCOL.toml)")


class NetworkModel(Model):
    """The spiking QIF network of Montbrió, Pazó & Roxin (2015) (QIF populations only).

    ``stimsim.simulate(circuit, model="network", neurons=N, seed=..., ...)`` runs it; options
    (all keyword arguments of ``simulate``):

    neurons : int
        Neurons per population (default 10 000).
    seed : int, optional
        Seeds the initial phases of the neurons, random excitabilities and noise (default: drawn
        and recorded in ``result.settings``). Repeated seeds give the finite-size spread.
    excitability : {'quantiles', 'random'}
        Deterministic Lorentzian quantiles (default) or seeded random draws.
    v_peak : float
        V_peak (QIF units, > 0); V_reset = -V_peak (default 100).
    noise : float
        sigma >= 0 of independent white noise per neuron, tau_m dV = ... dt + sigma sqrt(tau_m) dW
        (QIF units; default 0).
    raster_neurons : int
        Neurons per population whose spike times are kept (evenly spaced in excitability; default 100).
    rate_window_ms : float, optional
        Width w of the centred window the rate is counted in, a whole number of steps (default: the
        longer of 1 ms and the recording interval record_every x dt). The window attenuates a
        rhythm at f by sin(pi f w)/(pi f w) and averages the finite-size noise.
    parallel : bool, optional
        Threads over neuron blocks (populations of N >= 50 000 are split in 4 blocks; smaller ones
        run on the calling thread whatever ``parallel`` says). Default None:
        when numba has more than one thread, the run times short probes threaded and on one
        thread and keeps the faster, probing the other again after 8 calls (an interval that doubles,
        up to 512, while it stays slower); the numbers are the same either way.
    progress : bool, optional
        tqdm progress bar (default: when the run is expected to take more than 5 s).

    The initial state is given at the population level (r, v, s, z) like NMM2's (``initial=None``,
    'fixed_point' or an array): the neurons start on the stationary state of the frozen input x
    with Phi(x) = r (uniformly random phases of their cycles), with s, z as given; v follows
    from r (M3). ``result.spikes`` holds the raster subset's spikes.

    References
    ----------
    .. [1] E. Montbrió, D. Pazó, A. Roxin, Phys. Rev. X 5, 021028 (2015).
    .. [2] P. Clusella, E. Köksal-Ersöz, J. Garcia-Ojalvo, G. Ruffini, Biol. Cybern. 117 (2023).

    Examples
    --------
    >>> import stimsim
    >>> res = stimsim.simulate(stimsim.preset("pyramidal"), model="network", neurons=2000, seed=1,
    ...                        duration_ms=20.0, dt_ms=0.01, record_every=100)
    >>> res.rate_hz.shape, sorted(res.spikes.columns)
    ((21, 1), ['eta', 'neuron', 'population', 'time_ms'])
    """

    name = "network"
    title = "spiking QIF network (Montbrió, Pazó & Roxin 2015)"
    state_variables = (_R, _V, _S, _Z)
    recorded_variables = (_R, _V, _S, _Z)
    exact = False
    ground_truth = True
    has_equations = False
    lane_kernel = False
    supports_delays = True
    long_range_variable = "s"
    drive_enters = "each neuron's voltage: tau_m dV_j/dt = V_j^2 + eta_j + I(t) + tau_m J s"
    options = ("neurons", "seed", "excitability", "v_peak", "noise", "raster_neurons", "rate_window_ms",
               "parallel", "progress")

    # --- whole-brain networks: every region a spiking network (stimsim.models._network_regions) ---------
    def check_regions(self, network, spec, lanes, options=None, history=None, lanes_per_block=32):
        """Options, delays (each with a nonzero weight >= dt) and memory of a whole-brain run; the
        delayed history is always read linearly (``history`` is not used)."""
        return _check_regions(self, network, spec, lanes, options)

    def simulate_regions(self, network, spec, y0, stimulus, stride, lanes, plan, progress=None,
                         on_divergence="raise"):
        """Every region a spiking network, the long-range input fed as drive in chunks shorter than
        the shortest delay (``stimsim.models._network_regions``)."""
        return _simulate_regions(self, network, spec, y0, stimulus, stride, lanes, plan, progress, on_divergence)

    def supports(self, circuit):
        bad = [p.name for p in circuit.populations if not p.is_qif]
        if bad:
            return (f"the spiking network is made of QIF neurons; {bad} use transfer='sigmoid' "
                    "(run them with model 'nmm1')")
        return None

    # --- population-level description of the initial state -----------------------------------------
    def state_at_rates(self, circuit, rates_khz, synapses=None):
        r = np.asarray(rates_khz, dtype=float)
        tm, d = circuit.vector("tau_m"), circuit.vector("delta")
        v = -d / (2.0 * math.pi * tm * r)
        s = r.copy() if synapses is None else np.asarray(synapses, dtype=float)
        return np.stack([r, v, s, np.zeros_like(r)])

    def validate_state(self, circuit, y, what="initial"):
        if np.any(y[0] <= 0):
            raise ValueError(f"{what} rates r must be > 0 kHz for the network (its neurons start on the "
                             f"stationary state of the input that fires at r), got {y[0].tolist()}")

    # --- what a spiking network does not have ----------------------------------------------------
    def rhs(self, circuit, y, u=None):
        raise _no_equations("right-hand side")

    def jacobian(self, circuit, y, u=None):
        raise _no_equations("Jacobian")

    def input_jacobian(self, circuit, y, u=None):
        raise _no_equations("input Jacobian")

    def observe(self, circuit, y, u=None):
        raise _no_equations("read-out of a population-level state")

    def observe_jacobian(self, circuit, y, name, u=None):
        raise _no_equations("read-out Jacobian")

    def kernel_parameters(self, circuits):
        raise _no_equations("lane-kernel parameters (it runs its own kernel)")

    def kernel_entry(self, parallel):
        from ..kernels import network as _kernel

        return _kernel.advance if parallel else _kernel.advance_serial

    def run_kernel(self, parallel, circuit, y0, par, K, *rest):
        raise _no_equations("lane kernel (it runs its own kernel)")

    def kernel_derivative(self, circuit, y, u=None):
        raise _no_equations("derivative")

    def warmup_options(self, parallel):
        # the threaded entry point runs only for populations split into blocks
        return {"neurons": PARALLEL_MIN_NEURONS if parallel else 64, "seed": 0, "parallel": bool(parallel),
                "progress": False}

    # --- options ---------------------------------------------------------------------------------
    def check_options(self, circuit, spec, options):
        """Validate the network options (class docstring) against the circuit and the time grid.

        Raises
        ------
        stimsim.errors.InputError
            Naming the option, the value and what is allowed, before anything is compiled or run.
        """
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            from ..errors import closest

            raise InputError(f"unknown option {unknown[0]!r} of model 'network'{closest(unknown[0], self.options)}; "
                             f"allowed: {', '.join(self.options)}")
        P = circuit.n_populations
        dt = spec.dt_ms
        n = options.get("neurons", DEFAULT_NEURONS)
        n = _int_option("neurons", n, 1)
        per_neuron = P * BYTES_PER_NEURON + BUILD_BYTES_PER_NEURON
        need = float(n) * per_neuron
        limit = memory_limit_bytes()
        if n > 2**31 - 1 or need > limit:
            most = int(min(2**31 - 1, limit // per_neuron))
            raise InputError(
                f"neurons={n:,} per population x {P} population(s) needs {need / 2**30:.1f} GiB for the "
                f"neurons ({BYTES_PER_NEURON} bytes each, {BUILD_BYTES_PER_NEURON} more while one population is "
                f"built), more than the {limit / 2**30:.1f} GiB allowed; use neurons <= {most:,}")
        seed = options.get("seed")
        if seed is None:
            seed = secrets.randbits(63)
        seed = _int_option("seed", seed, 0)
        if seed >= 2**63:
            raise InputError(f"seed must be an integer in [0, 2^63), got {seed}")
        kind = options.get("excitability", "quantiles")
        if kind not in EXCITABILITIES:
            from ..errors import unknown_name_error

            raise unknown_name_error("excitability", kind, EXCITABILITIES)
        vp = check_positive("v_peak", options.get("v_peak", DEFAULT_V_PEAK), "(QIF units; V_reset = -v_peak)")
        tm = circuit.vector("tau_m")
        k = int(np.argmin(tm))
        most_dt = tm[k] / (vp * MIN_STEPS_PER_HALF_REFRACTORY)
        if dt > most_dt * (1 + 1e-12):
            raise InputError(
                f"dt_ms={dt:g} is too coarse for v_peak={vp:g}: the network holds a neuron tau_m / v_peak = "
                f"{tm[k] / vp:g} ms before and after each spike (population {circuit.names[k]!r}), which must "
                f"span at least {MIN_STEPS_PER_HALF_REFRACTORY:g} steps; use dt_ms <= {most_dt:g} or a "
                "smaller v_peak")
        noise = check_finite("noise", options.get("noise", 0.0))
        if noise < 0:
            raise InputError(f"noise must be >= 0 (QIF units), got {noise:g}")
        n_rast = min(_int_option("raster_neurons", options.get("raster_neurons", DEFAULT_RASTER), 0), n)
        w_ms = options.get("rate_window_ms")
        if w_ms is None:
            W = max(spec.record_every, int(round(DEFAULT_RATE_WINDOW_MS / dt)))
        else:
            w_ms = check_positive("rate_window_ms", w_ms, "ms")
            W = int(round(w_ms / dt))
            if W < 1 or abs(W * dt - w_ms) > 1e-9 * w_ms:
                raise InputError(f"rate_window_ms={w_ms:g} must be a whole number (>= 1) of steps dt_ms={dt:g}")
            if W > spec.n_steps:
                raise InputError(f"rate_window_ms={w_ms:g} is longer than the run ({spec.duration_ms:g} ms)")
        parallel = options.get("parallel")
        if parallel is not None and not isinstance(parallel, (bool, np.bool_)):
            raise InputError(f"parallel must be true, false or None (automatic), got {parallel!r}")
        progress = options.get("progress")
        if progress is not None and not isinstance(progress, (bool, np.bool_)):
            raise InputError(f"progress must be true, false or None (automatic), got {progress!r}")
        return NetworkOptions(neurons=n, seed=seed, excitability=kind, v_peak=float(vp), noise=float(noise),
                              raster_neurons=n_rast, rate_window_steps=W,
                              parallel=None if parallel is None else bool(parallel),
                              progress=None if progress is None else bool(progress))

    # --- running ---------------------------------------------------------------------------------
    def build_neurons(self, circuit, y0, opts, dt):
        """(V, R, E): the neurons of every population on the stationary state of the frozen
        input that fires at the initial rate r (class docstring), seeded by ``opts.seed``."""
        P = circuit.n_populations
        N = opts.neurons
        rng = np.random.default_rng(np.random.SeedSequence([opts.seed, 0]))
        V = np.empty(N * P)
        R = np.empty(N * P)
        E = np.empty(N * P)
        for k, pop in enumerate(circuit.populations):
            sl = slice(k * N, (k + 1) * N)
            eta = excitabilities(N, pop.eta_bar, pop.delta, opts.excitability, rng)
            x = frozen_input(float(y0[0, k]), pop.tau_m, pop.delta)
            c = eta - pop.eta_bar + x
            V[sl], R[sl] = stationary_neurons(c, pop.tau_m, opts.v_peak, dt, rng.random(N))
            E[sl] = eta
        return V, R, E

    def simulate_circuit(self, circuit, spec, sampled, sine, y0, options):
        """Run the network on one circuit; ``options`` from :meth:`check_options`. Returns a SimulationResult."""
        from tqdm.auto import tqdm

        from ..kernels.common import CHUNK
        from ..result import SimulationResult

        opts = options
        P, N, dt = circuit.n_populations, opts.neurons, spec.dt_ms
        import numba

        V, R, E = self.build_neurons(circuit, y0, opts, dt)
        per = BLOCKS_PER_POPULATION if N >= PARALLEL_MIN_NEURONS else 1
        bounds = [np.linspace(k * N, (k + 1) * N, per + 1).round().astype(np.int64) for k in range(P)]
        blk_pop = np.array([k for k in range(P) for _ in range(per)], dtype=np.int64)
        blk_start = np.concatenate([b[:-1] for b in bounds])
        blk_stop = np.concatenate([b[1:] for b in bounds])
        keep = blk_stop > blk_start
        blk_pop, blk_start, blk_stop = blk_pop[keep], blk_start[keep], blk_stop[keep]
        tm, ts = circuit.vector("tau_m"), circuit.vector("tau_s")
        n_neurons = np.full(P, float(N))
        inv_tau = 1.0 / tm
        t_half = tm / opts.v_peak
        K = np.ascontiguousarray(circuit.effective_coupling, dtype=float)
        const = np.ascontiguousarray(circuit.vector("I"), dtype=float)
        if sampled is not None:
            stride = int(round(sampled.dt_ms / (0.5 * dt)))
            series = np.ascontiguousarray(sampled.values[:, None, :, None])
        else:
            stride, series = 1, np.zeros((2, 1, P, 1))
        if sine is not None:
            amp = np.ascontiguousarray(np.broadcast_to(sine.amplitude, (P,)), dtype=float)
            omega = np.array([hz_to_rad_per_ms(sine.freq_hz)])
            phase = np.array([sine.phase_rad])
        else:
            amp, omega, phase = np.zeros(P), np.zeros(1), np.zeros(1)
        key = np.uint64(np.random.SeedSequence([opts.seed, 1]).generate_state(1, np.uint64)[0])
        W = opts.rate_window_steps
        syn = np.ascontiguousarray(y0[2:4], dtype=float).copy()
        ring = np.zeros((W, P), dtype=np.int64)
        rsum = np.zeros(P, dtype=np.int64)
        out = np.full((spec.n_records, 4, P), np.nan)
        # raster subset: evenly spaced in excitability (the neurons are sorted by eta)
        idx, rpop, rrow = [], [], []
        for k in range(P):
            js = np.unique(np.round(np.linspace(0, N - 1, opts.raster_neurons)).astype(np.int64)) \
                if opts.raster_neurons else np.zeros(0, dtype=np.int64)
            idx.append(k * N + js)
            rpop.append(np.full(js.size, k, dtype=np.int64))
            rrow.append(js)
        rast_idx = np.concatenate(idx).astype(np.int64)
        rast_pop = np.concatenate(rpop).astype(np.int64)
        rast_row = np.concatenate(rrow)
        per_neuron = spec.duration_ms / (2.0 * np.min(t_half)) + 1.0
        cap = int(min(MAX_RASTER_SPIKES, max(1.0, rast_idx.size * per_neuron)))
        rast_t = np.zeros((2, cap))
        rast_n = np.zeros(2, dtype=np.int64)
        work_i = np.zeros(blk_pop.size, dtype=np.int64)
        work_e = np.zeros(blk_pop.size)
        work_f = np.zeros(blk_pop.size)
        # threads: as asked, or (None) the faster of threaded and serial calls, measured as the run goes
        if per == 1 or numba.get_num_threads() == 1:
            modes = [False]                    # one block per population: nothing to share out
        elif opts.parallel is not None:
            modes = [bool(opts.parallel)]
        else:
            modes = [True, False]
        cost = {}                              # seconds per neuron update of the last call in each mode
        threaded_steps = 0
        n_steps = spec.n_steps
        per_call = max(CHUNK, int(UPDATES_PER_CALL // (N * P)) // CHUNK * CHUNK)
        show = opts.progress
        if show is None:
            show = n_steps * N * P * SECONDS_PER_UPDATE > PROGRESS_AFTER_S
        bar = tqdm(total=n_steps, desc=f"network {circuit.name} N={N:,}", unit="step", disable=not show,
                   leave=False, unit_scale=True)
        wall = 0.0
        r_init = np.ascontiguousarray(y0[0], dtype=float)
        # probes (CHUNK steps) of a mode not in use: first of each, then of the slower one after
        # `interval` calls, the interval doubling while the probe stays slower (a core another
        # process spins on can make threaded steps many times slower than serial ones)
        interval, next_probe, call, n_begin = PROBE_EVERY, 0, 0, 0
        try:
            while n_begin < n_steps:
                untried = [m for m in modes if m not in cost]
                probe = bool(untried) or (len(modes) > 1 and call >= next_probe)
                if untried:
                    mode = untried[0]
                elif probe:
                    mode = max(modes, key=lambda m: cost[m])        # look again at the slower one
                else:
                    mode = min(modes, key=lambda m: cost[m])
                n_end = min(n_steps, n_begin + (CHUNK if probe and len(modes) > 1 else per_call))
                entry = self.kernel_entry(mode)
                t0 = time.perf_counter()
                entry(V, R, E, blk_pop, blk_start, blk_stop, n_neurons, inv_tau, t_half, opts.v_peak, 1.0 / ts, K,
                      const, series, sampled is not None, stride, amp, omega, phase, sampled is not None,
                      sine is not None, opts.noise, key, dt, n_begin, n_end, n_steps, spec.record_every, W, syn,
                      ring, rsum, r_init, out, rast_idx, rast_pop, rast_t, rast_n, work_i, work_e, work_f)
                took = time.perf_counter() - t0
                wall += took
                cost[mode] = took / ((n_end - n_begin) * N * P)
                threaded_steps += (n_end - n_begin) * mode
                bar.update(n_end - n_begin)
                if probe and not untried:
                    slower = mode != min(modes, key=lambda m: cost[m])
                    interval = min(2 * interval, 64 * PROBE_EVERY) if slower else PROBE_EVERY
                    next_probe = call + interval
                call += 1
                n_begin = n_end
        finally:
            bar.close()
        rec = ~np.all(np.isfinite(out[:, [0, 2, 3]]), axis=(1, 2))
        if np.any(rec):
            m = int(np.argmax(rec))
            raise SimulationDiverged(
                f"network trajectory became non-finite at t = {spec.time_ms[m]:g} ms; reduce dt_ms (now {dt}) "
                "or check the parameters")
        sat = saturation(out[:, 0], out[:, 1], circuit.vector("tau_m"), opts.v_peak)
        if sat is not None:
            m, ks, ceiling = sat
            names = [circuit.names[k] for k in ks]
            raise SimulationDiverged(saturation_message("network", spec.time_ms[m], names, out[m, 0, ks], ceiling[ks],
                                                        opts.v_peak, dt))
        n_sp = int(rast_n[0])
        row = rast_t[1, :n_sp].astype(np.int64)
        k_of = rast_pop[row]
        spikes = pd.DataFrame({
            "population": np.array(circuit.names, dtype=object)[k_of],
            "neuron": rast_row[row],
            "eta": E[rast_idx[row]],
            "time_ms": rast_t[0, :n_sp],
        })
        settings = opts.describe(dt)
        settings.update(rate_window="centred box of rate_window_ms (clipped at the ends of the run)",
                        v_average="neurons not refractory with |V| <= v_peak",
                        raster_spikes=n_sp, raster_truncated=bool(rast_n[1]),
                        blocks_per_population=per, threaded_fraction=threaded_steps / max(n_steps, 1),
                        neuron_updates_per_s=(n_steps * N * P / wall) if wall > 0 else None)
        if rast_n[1]:
            warnings.warn(f"the raster kept its first {cap:,} spikes only (MAX_RASTER_SPIKES); lower raster_neurons",
                          RuntimeWarning, stacklevel=3)
        return SimulationResult(circuit=circuit, spec=spec, states=out, wall_time_s=wall, spikes=spikes,
                                settings=settings)

    def simulate_circuits(self, circuits, spec, inputs, y0s, options, on_divergence="raise"):
        """Run every circuit in turn; set b uses seed ``options.seed + b``. Returns a BatchResult."""
        import dataclasses

        from ..result import BatchResult

        states, bad, wall = [], [], 0.0
        for b, (c, (sampled, sine), y0) in enumerate(zip(circuits, inputs, y0s)):
            opts = dataclasses.replace(options, seed=(options.seed + b) % 2**63)
            try:
                if not np.all(np.isfinite(y0)):
                    raise SimulationDiverged("the initial state is not finite")
                res = self.simulate_circuit(c, spec, sampled, sine, y0, opts)
                states.append(res.states)
                wall += res.wall_time_s
            except SimulationDiverged:
                if on_divergence == "raise":
                    raise
                states.append(np.full((spec.n_records, 4, c.n_populations), np.nan))
                bad.append(b)
        return BatchResult(circuits=list(circuits), spec=spec, states=np.stack(states, axis=-1),
                           wall_time_s=wall, diverged=np.array(bad, dtype=int))
