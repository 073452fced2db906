"""Kernel speed and the cost of circuits: everything the kernels and fixed points cost, in one run.

1. a single NMM2 run and a 1000-set batch against a minimal hand-written RK4 loop (and scipy);
2. ns per step against the number of populations P (1, 2, 3, 10, 30, 100) for NMM2 and NMM1,
   single run and batch, the PING and Jansen-Rit presets, and compile seconds per entry point from
   an empty cache (``bench_kernel_paths.py``);
3. fixed-point search time against P (``bench_fixed_points.py``).

Run: ``python benchmarks/bench_kernels.py [--model-seconds 10] [--sets 1000] [--quick]``
Prints figures and ratios measured in this one run; asserts nothing.
"""
from __future__ import annotations

import argparse
import math
import os
import time

import numba
import numpy as np

import stimsim


@numba.njit(cache=True)
def minimal_rk4(r, v, s, z, tm, ts, delta, eta, J, I, dt, n_steps, rec_every, out):
    """The reference: models.md M2 for one population, scalars in registers, nothing else."""
    a = delta / (math.pi * tm)
    p2 = (math.pi * tm) ** 2
    K = tm * J
    for n in range(n_steps):
        x = eta + I + K * s
        dr1 = (a + 2 * r * v) / tm; dv1 = (v * v + x - p2 * r * r) / tm; ds1 = z / ts; dz1 = (r - 2 * z - s) / ts
        r2 = r + 0.5 * dt * dr1; v2 = v + 0.5 * dt * dv1; s2 = s + 0.5 * dt * ds1; z2 = z + 0.5 * dt * dz1
        x = eta + I + K * s2
        dr2 = (a + 2 * r2 * v2) / tm; dv2 = (v2 * v2 + x - p2 * r2 * r2) / tm; ds2 = z2 / ts; dz2 = (r2 - 2 * z2 - s2) / ts
        r3 = r + 0.5 * dt * dr2; v3 = v + 0.5 * dt * dv2; s3 = s + 0.5 * dt * ds2; z3 = z + 0.5 * dt * dz2
        x = eta + I + K * s3
        dr3 = (a + 2 * r3 * v3) / tm; dv3 = (v3 * v3 + x - p2 * r3 * r3) / tm; ds3 = z3 / ts; dz3 = (r3 - 2 * z3 - s3) / ts
        r4 = r + dt * dr3; v4 = v + dt * dv3; s4 = s + dt * ds3; z4 = z + dt * dz3
        x = eta + I + K * s4
        dr4 = (a + 2 * r4 * v4) / tm; dv4 = (v4 * v4 + x - p2 * r4 * r4) / tm; ds4 = z4 / ts; dz4 = (r4 - 2 * z4 - s4) / ts
        r += dt / 6 * (dr1 + 2 * dr2 + 2 * dr3 + dr4); v += dt / 6 * (dv1 + 2 * dv2 + 2 * dv3 + dv4)
        s += dt / 6 * (ds1 + 2 * ds2 + 2 * ds3 + ds4); z += dt / 6 * (dz1 + 2 * dz2 + 2 * dz3 + dz4)
        if (n + 1) % rec_every == 0:
            i = (n + 1) // rec_every
            out[i, 0] = r; out[i, 1] = v; out[i, 2] = s; out[i, 3] = z
    return r


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model-seconds", type=float, default=10.0)
    ap.add_argument("--sets", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-scipy", action="store_true")
    ap.add_argument("--quick", action="store_true", help="shorter runs in parts 2 and 3")
    ap.add_argument("--skip-paths", action="store_true", help="skip part 2 (P scan, compile times)")
    ap.add_argument("--skip-fixed-points", action="store_true", help="skip part 3")
    args = ap.parse_args()

    dt = 0.01
    duration = args.model_seconds * 1000.0
    n_steps = int(round(duration / dt))
    rec = 100
    c = stimsim.preset("pyramidal")
    p = c.populations[0]
    print(f"machine: {os.cpu_count()} cores, numba {numba.__version__}, threads {numba.get_num_threads()}")
    print(f"single-population NMM2 (pyramidal preset), RK4, dt = {dt} ms, {args.model_seconds:g} s of model time "
          f"= {n_steps:,} steps, record every {rec}")

    t0 = time.perf_counter()
    stimsim.warmup(models=("nmm2",))
    out = np.empty((n_steps // rec + 1, 4))
    minimal_rk4(0.01, -1.0, 0.0, 0.0, p.tau_m, p.tau_s, p.delta, p.eta_bar, c.J[0, 0], p.I, dt, 10, rec, out)
    print(f"first-call compile or cache load (stimsim kernels + reference): {time.perf_counter() - t0:.2f} s")

    y0 = stimsim.models.get("nmm2").initial_state(c)
    out[0] = y0[:, 0]
    t_min = best_of(lambda: minimal_rk4(y0[0, 0], y0[1, 0], y0[2, 0], y0[3, 0], p.tau_m, p.tau_s, p.delta,
                                        p.eta_bar, c.J[0, 0], p.I, dt, n_steps, rec, out), args.repeats)
    t_one = best_of(lambda: stimsim.simulate(c, "nmm2", duration_ms=duration, dt_ms=dt, record_every=rec), args.repeats)
    res = stimsim.simulate(c, "nmm2", duration_ms=duration, dt_ms=dt, record_every=rec)
    agree = np.max(np.abs(res.states[:, :, 0] - out))
    print(f"  minimal numba loop : {t_min * 1e9 / n_steps:7.1f} ns/step")
    print(f"  stimsim.simulate   : {t_one * 1e9 / n_steps:7.1f} ns/step   ratio to minimal {t_one / t_min:.2f}x "
          f"(target <= 1.5x; max |difference| of states {agree:.1e})")

    B = args.sets
    rng = np.random.default_rng(0)
    circuits = [c.replace(J=float(J), eta_bar=float(e)) for J, e in zip(rng.uniform(0, 12, B), rng.uniform(-1, 5, B))]
    bd = duration
    t_batch = best_of(lambda: stimsim.simulate_batch(circuits, "nmm2", duration_ms=bd, dt_ms=dt, record_every=1000),
                      1)
    set_steps = B * n_steps
    thr = set_steps / t_batch
    thr_min = n_steps / t_min
    print(f"batched NMM2, {B} parameter sets (J, eta_bar random), same settings, record every 1000, "
          f"{numba.get_num_threads()} threads:")
    print(f"  {thr:.3g} set-steps/s ({t_batch:.2f} s wall); ratio to the minimal loop's {thr_min:.3g} steps/s: "
          f"{thr / thr_min:.2f}x (target >= 1e8 set-steps/s)")

    if not args.skip_scipy:
        from scipy.integrate import solve_ivp

        a = p.delta / (math.pi * p.tau_m)
        K = p.tau_m * c.J[0, 0]

        def f(t, y):
            r, v, s, z = y
            x = p.eta_bar + p.I + K * s
            return [(a + 2 * r * v) / p.tau_m, (v * v + x - (math.pi * p.tau_m * r) ** 2) / p.tau_m,
                    z / p.tau_s, (r - 2 * z - s) / p.tau_s]

        t_eval = np.arange(n_steps // rec + 1) * (rec * dt)
        for method, rtol in (("RK45", 1e-6), ("RK45", 1e-9), ("DOP853", 1e-11)):
            t0 = time.perf_counter()
            sol = solve_ivp(f, (0, duration), y0[:, 0], method=method, rtol=rtol, atol=1e-12, t_eval=t_eval)
            t_sp = time.perf_counter() - t0
            err = np.max(np.abs(sol.y.T - res.states[:, :, 0]))
            print(f"scipy solve_ivp {method:6s} rtol {rtol:.0e}: {t_sp:6.2f} s = {t_sp / t_one:6.1f}x stimsim.simulate "
                  f"({sol.nfev} RHS calls; max |difference| to stimsim {err:.1e})")

    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    argv = sys.argv
    try:
        if not args.skip_paths:
            import bench_kernel_paths

            print("\n== populations, presets and compile times (bench_kernel_paths.py) ==", flush=True)
            sys.argv = ["bench_kernel_paths.py"] + (["--quick"] if args.quick else [])
            bench_kernel_paths.main()
        if not args.skip_fixed_points:
            import bench_fixed_points

            print("\n== fixed-point search against P (bench_fixed_points.py) ==", flush=True)
            sys.argv = ["bench_fixed_points.py"] + (["--seeds", "1"] if args.quick else [])
            bench_fixed_points.main()
    finally:
        sys.argv = argv


if __name__ == "__main__":
    main()
