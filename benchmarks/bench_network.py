"""Speed of the spiking QIF network kernel (models.md M1; stimsim/kernels/network.py).

1. neuron updates per second (and ns per neuron-step) for N = 1e4 and 1e5 neurons, on the calling
   thread and with threads over neuron blocks (numba's thread count);
2. the wall time of 1 s simulated for N = 1e5 at dt = 0.001 ms (1e11 neuron updates; target < 60 s
   on a 2-core machine, 0.6 ns per neuron-step), with the automatic choice of threads;
3. Brian2 on the same network (N QIF neurons, refractory 2 tau_m / V_peak, reset -V_peak, the alpha
   synapse driven by the population's spikes through N synapses onto one synapse group) when it is
   importable, or with ``--brian2-python PYTHON`` an interpreter that has it (run in a subprocess);
   otherwise it prints that Brian2 is not installed.

Run: ``python benchmarks/bench_network.py [--quick] [--brian2-python PATH]``
Prints figures measured in this one run; asserts nothing. The pyramidal preset (fires at 46 Hz).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numba

import stimsim

BRIAN2_SCRIPT = r"""
import json, sys, time
import numpy as np
import brian2 as b2
N, dt_ms, dur_ms = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
b2.prefs.codegen.target = sys.argv[4] if len(sys.argv) > 4 else "cython"
b2.defaultclock.dt = dt_ms * b2.ms
tau, tau_s, J, eta_bar, delta, vp = 20 * b2.ms, 10 * b2.ms, 8.0, 1.0, 1.0, 100.0
j = np.arange(1, N + 1)
G = b2.NeuronGroup(N, '''dv/dt = (v**2 + eta + tau*J*s_syn)/tau : 1 (unless refractory)
                         eta : 1
                         s_syn : Hz (linked)''',
                   threshold="v >= vp", reset="v = -vp", refractory=2 * tau / vp, method="euler")
G.eta = eta_bar + delta * np.tan(0.5 * np.pi * (2 * j - N - 1) / (N + 1))
G.v = np.random.default_rng(0).uniform(-2, 2, N)
S = b2.NeuronGroup(1, '''ds/dt = z/tau_s : Hz
                         dz/dt = (-2*z - s)/tau_s : Hz''', method="exact")
G.s_syn = b2.linked_var(S, "s", index=np.zeros(N, dtype=int))
C = b2.Synapses(G, S, on_pre="z_post += 1/(N*tau_s)")
C.connect(i=np.arange(N), j=0)
M = b2.SpikeMonitor(G, record=False)     # counts only
net = b2.Network(G, S, C, M)
net.run(1 * b2.ms)                       # code generation and compilation
n0 = int(M.num_spikes)
t0 = time.perf_counter()
net.run(dur_ms * b2.ms)
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "version": b2.__version__, "target": b2.prefs.codegen.target,
                  "rate_hz": (int(M.num_spikes) - n0) / N / (dur_ms / 1000.0)}))
"""


def updates_per_s(circuit, n, dt_ms, duration_ms, parallel):
    res = stimsim.simulate(circuit, model="network", neurons=n, seed=0, duration_ms=duration_ms, dt_ms=dt_ms,
                           record_every=int(round(1.0 / dt_ms)), initial="fixed_point", parallel=parallel,
                           progress=False)
    return res.settings["neuron_updates_per_s"], res.wall_time_s


def brian2_time(n, dt_ms, duration_ms, python):
    """Wall seconds of Brian2 on the network (in-process when importable, else in ``python``), or None."""
    if python is None:
        try:
            import brian2  # noqa: F401
        except ImportError:
            return None, "not installed (pip install brian2, or give --brian2-python)"
        python = sys.executable
    proc = subprocess.run([python, "-c", BRIAN2_SCRIPT, str(n), str(dt_ms), str(duration_ms)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return None, "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["wall_s"], f"Brian2 {out['version']} ({out['target']}, mean rate {out['rate_hz']:.1f} Hz)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 ms instead of 1 s in part 2")
    ap.add_argument("--brian2-python", help="a Python interpreter with brian2 installed (subprocess)")
    args = ap.parse_args()
    c = stimsim.preset("pyramidal")
    print(f"numba threads: {numba.get_num_threads()} ({numba.config.THREADING_LAYER} layer)")
    # compile (or load from cache) both entry points
    for par in (False, True):
        stimsim.simulate(c, model="network", neurons=50_000 if par else 64, seed=0, duration_ms=1.0, dt_ms=0.01,
                         parallel=par, progress=False)
    print("\n1. neuron updates per second (pyramidal preset, dt = 0.001 ms)")
    for n in (10_000, 100_000):
        # N = 1e4 is one block (always on the calling thread); N = 1e5 is 4 blocks
        for par in ((False,) if n < 50_000 else (False, True, None)):
            steps = 20_000 if n == 10_000 else 5_000
            ups, wall = updates_per_s(c, n, 0.001, steps * 0.001, par)
            how = {False: "serial ", True: "threads", None: "auto   "}[par]
            print(f"   N = {n:>7,}  {how}: {ups:.3e} updates/s = "
                  f"{1e9 / ups:.3f} ns per neuron-step ({wall:.2f} s for {steps:,} steps)")
    duration = 100.0 if args.quick else 1000.0
    print(f"\n2. {duration:g} ms simulated, N = 100,000, dt = 0.001 ms (automatic threads)")
    t0 = time.perf_counter()
    res = stimsim.simulate(c, model="network", neurons=100_000, seed=0, duration_ms=duration, dt_ms=0.001,
                           record_every=1000, initial="fixed_point", progress=False)
    total = time.perf_counter() - t0
    print(f"   wall {total:.1f} s (kernel {res.wall_time_s:.1f} s, {1e9 / res.settings['neuron_updates_per_s']:.3f} "
          f"ns per neuron-step; {100 * res.settings['threaded_fraction']:.0f} % of the steps threaded); mean rate "
          f"{res.rate_hz[len(res.rate_hz) // 2:, 0].mean():.2f} Hz")
    if args.quick:
        print(f"   (1 s would take about {total * 1000.0 / duration:.0f} s)")
    print("\n3. Brian2 on the same network")
    n_b, dur_b = 10_000, 100.0
    wall_b, what = brian2_time(n_b, 0.001, dur_b, args.brian2_python)
    if wall_b is None:
        print(f"   Brian2: {what}")
    else:
        res = stimsim.simulate(c, model="network", neurons=n_b, seed=0, duration_ms=dur_b, dt_ms=0.001,
                               record_every=1000, initial="fixed_point", progress=False)
        wall_s = res.wall_time_s
        print(f"   N = {n_b:,}, {dur_b:g} ms at dt = 0.001 ms: {what}: {wall_b:.2f} s; stimsim "
              f"(mean rate {res.rate_hz[1:, 0].mean():.1f} Hz): {wall_s:.2f} s; stimsim {wall_b / wall_s:.1f} x faster")


if __name__ == "__main__":
    main()
