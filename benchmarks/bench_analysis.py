"""Analysis speed (issue 4 benchmark): linear response, lock-in resonance study, Arnold tongue.

Run: ``python benchmarks/bench_analysis.py [--repeats 3]``
Prints figures measured in this one run; asserts nothing.

1. 300-frequency linear response (M8) of the pyramidal preset, NMM2: fixed point + Jacobian +
   batched solve, best of ``repeats``.
2. Lock-in resonance study: 100 frequencies (1-150 Hz) x 3 amplitudes x 2 models (NMM2, NMM1),
   pyramidal preset, dt 0.05 ms, automatic settle (8 / |Re lambda|) + 3 cycles of 1 Hz.
3. Arnold tongue: 40 frequencies (109-149 Hz) x 20 amplitudes (0-9.5 QIF units), interneuron preset
   NMM2, dt 0.05 ms, settle 500 ms + 1000 ms measured.

Throughput = simulated seconds (all parameter sets) / wall seconds; "kernel" counts only the time
inside the compiled integrator, "total" the whole call (fixed points, lock-in/PLV analysis, tables).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import stimsim
from stimsim.analysis import entrainment, frequency_response, state_space


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import numba

    print(f"threads: numba {numba.get_num_threads()}, cpus {os.cpu_count()}")
    t0 = time.perf_counter()
    stimsim.warmup()
    print(f"warm-up (compile or load cache): {time.perf_counter() - t0:.1f} s")

    c = stimsim.preset("pyramidal")
    freqs = np.linspace(1.0, 150.0, 300)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        H = state_space(c, "nmm2", 1.0, "P").transfer(freqs)
        times.append(time.perf_counter() - t0)
    print(f"1. linear response, 300 frequencies (NMM2, fixed point + Jacobian + solve): "
          f"{1e3 * min(times):.1f} ms (best of {args.repeats})")
    t0 = time.perf_counter()
    H = state_space(c, "nmm2", 1.0, "P").transfer(np.linspace(1.0, 150.0, 100_000))
    print(f"   (100000 frequencies: {1e3 * (time.perf_counter() - t0):.1f} ms)")

    t0 = time.perf_counter()
    tab, info = frequency_response(c, model=("nmm2", "nmm1"), freqs_hz=np.linspace(1.0, 150.0, 100), method="lockin",
                                   amplitude=[0.01, 0.1, 0.5], lockin=dict(dt_ms=0.05), return_info=True)
    wall = time.perf_counter() - t0
    sim = info["lockin_simulated_s"]
    st = info["settings"]["nmm2"]
    print(f"2. lock-in resonance study, 100 freqs x 3 amplitudes x 2 models = 600 runs of "
          f"{st.duration_ms / 1000:.2f} s (NMM2) / {info['settings']['nmm1'].duration_ms / 1000:.2f} s (NMM1) simulated, dt 0.05 ms:")
    print(f"   total {wall:.2f} s wall, kernel {info['lockin_wall_s']:.2f} s; {sim:.0f} simulated s -> "
          f"{sim / wall:.0f} simulated s per wall s (total), {sim / info['lockin_wall_s']:.0f} (kernel)")

    ic = stimsim.preset("interneurons")
    t0 = time.perf_counter()
    tab, info = entrainment(ic, model="nmm2", freqs_hz=np.linspace(109.0, 149.0, 40),
                            amplitudes=np.linspace(0.0, 9.5, 20),
                            grid=dict(dt_ms=0.05, settle_ms=500.0, measure_ms=1000.0), return_info=True)
    wall = time.perf_counter() - t0
    sim = info["simulated_s"]
    print(f"3. Arnold tongue 40 freqs x 20 amplitudes (NMM2 interneurons, 500 + 1000 ms, dt 0.05 ms):")
    print(f"   total {wall:.2f} s wall (kernel {info['wall_s']:.2f} s, PLV/spectral analysis {info['analysis_s']:.2f} s); "
          f"{sim:.0f} simulated s -> {sim / wall:.0f} simulated s per wall s (total), {sim / info['wall_s']:.0f} (kernel)")
    print(f"   1:1-locked cells: {int(tab['locked_1to1'].sum())} of {len(tab)}")


if __name__ == "__main__":
    main()
