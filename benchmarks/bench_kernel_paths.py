"""Kernel paths: step cost against the number of populations P, presets, and compile time.

Run: ``python benchmarks/bench_kernel_paths.py [--quick] [--skip-compile] [--sets 256]``

Prints, for NMM2 and NMM1 with RK4 at dt = 0.01 ms:

* ns per step of a single run (one lane) and ns per set-step of a batch of ``--sets`` parameter
  sets, for dense random circuits of P = 1, 2, 3, 10, 30, 100 QIF populations;
* ns per step of the PING (NMM2 and NMM1) and Jansen-Rit (NMM1) presets, single run and batch;
* seconds each kernel entry point (``integrate_serial`` / ``integrate`` of both models) takes to
  compile from an empty numba cache, each in a fresh subprocess with ``NUMBA_CACHE_DIR`` pointing
  to a new temporary directory, and the README's first run (both serial entry points in one process).

Timings are the kernel's own wall time (``result.wall_time_s``: packing and unpacking excluded),
best of ``--repeats``; batches run on all numba threads, so other load on the machine shows in
them first. To time another version of the package (e.g. a checkout of an older commit), put it
first on ``PYTHONPATH``; the compile subprocesses inherit it. Asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

DT = 0.01
PS = (1, 2, 3, 10, 30, 100)


def random_circuit(P, seed=0):
    """P QIF populations with dense random coupling J ~ N(0, (4/sqrt(P))^2) (bounded dynamics)."""
    import stimsim

    rng = np.random.default_rng(seed)
    pops = tuple(stimsim.Population(f"p{k}", tau_m=float(rng.uniform(8, 20)), tau_s=float(rng.uniform(2, 10)),
                                    delta=1.0, eta_bar=float(rng.uniform(-1, 3))) for k in range(P))
    J = rng.normal(0.0, 4.0 / np.sqrt(P), (P, P))
    return stimsim.Circuit(pops, J=J, name=f"random-{P}")


def kernel_seconds(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        best = min(best, fn().wall_time_s)
    return best


def per_step(run, target_s, repeats, n_cal=200):
    """ns per step of run(n_steps), with n_steps chosen so that one run takes about target_s."""
    run(n_cal)  # compile (or load) this signature first
    t = kernel_seconds(lambda: run(n_cal), 1)
    n = int(max(n_cal, min(2_000_000, target_s / max(t / n_cal, 1e-10))))
    n = max(CHUNK_ROUND, n // CHUNK_ROUND * CHUNK_ROUND)
    return kernel_seconds(lambda: run(n), repeats) * 1e9 / n


CHUNK_ROUND = 100


def single_ns(circuit, model, target_s, repeats):
    import stimsim

    return per_step(lambda n: stimsim.simulate(circuit, model=model, duration_ms=n * DT, dt_ms=DT,
                                               record_every=n), target_s, repeats)


def batch_ns(circuit, model, sets, target_s, repeats):
    """ns per set-step of a batch of `sets` copies of the circuit with spread eta_bar."""
    import stimsim

    rng = np.random.default_rng(1)
    base = circuit.vector("eta_bar")
    circuits = [circuit.replace(eta_bar={p.name: float(e + d) for p, e in zip(circuit.populations, base)})
                for d in rng.uniform(-0.2, 0.2, sets)]
    return per_step(lambda n: stimsim.simulate_batch(circuits, model=model, duration_ms=n * DT, dt_ms=DT,
                                                     record_every=n), target_s, repeats, n_cal=50) / sets


COMPILE_SNIPPET = textwrap.dedent("""
    import sys, time
    import numpy as np
    import stimsim
    c = stimsim.preset("pyramidal")
    out = []
    for what in sys.argv[1:]:
        model, entry = what.split(":")
        cpu = time.process_time()
        if entry == "serial":
            res = stimsim.simulate(c, model=model, duration_ms=1.0, dt_ms=0.1)
        else:  # 33 sets = two blocks of 32 lanes: the threaded entry point
            res = stimsim.simulate_batch([c] * 33, model=model, duration_ms=1.0, dt_ms=0.1)
        cpu = time.process_time() - cpu
        out.append(f"{what}={res.wall_time_s:.3f},{cpu:.3f}")
    print(" ".join(out))
""")


def compile_seconds(entries):
    """Seconds each entry's first call takes (compile + cache write) in a fresh process and cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", COMPILE_SNIPPET, *entries], env=env, capture_output=True,
                           text=True, check=True)
        total = time.perf_counter() - t0
    vals = dict(kv.split("=") for kv in p.stdout.split())
    return {k: tuple(float(x) for x in v.split(",")) for k, v in vals.items()}, total


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sets", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--target-seconds", type=float, default=0.3, help="kernel time per timed run")
    ap.add_argument("--quick", action="store_true", help="shorter runs, one repeat")
    ap.add_argument("--skip-compile", action="store_true")
    ap.add_argument("--skip-scan", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.target_seconds = 1, 0.1

    import numba

    import stimsim

    print(f"machine: {os.cpu_count()} cores, numba {numba.__version__}, threads {numba.get_num_threads()}; "
          f"stimsim from {os.path.dirname(stimsim.__file__)}")
    print(f"RK4, dt = {DT} ms; kernel wall time, best of {args.repeats}")

    if not args.skip_scan:
        print(f"\ndense random circuits (QIF populations): ns/step single run | ns per set-step, batch of {args.sets}")
        print(f"{'P':>5} {'NMM2 single':>12} {'NMM2 batch':>11} {'NMM1 single':>12} {'NMM1 batch':>11}")
        for P in PS:
            c = random_circuit(P)
            row = []
            for model in ("nmm2", "nmm1"):
                row.append(single_ns(c, model, args.target_seconds, args.repeats))
                row.append(batch_ns(c, model, args.sets, args.target_seconds, args.repeats))
            print(f"{P:>5} {row[0]:12.1f} {row[1]:11.2f} {row[2]:12.1f} {row[3]:11.2f}", flush=True)

    print(f"\npresets: ns/step single run | ns per set-step, batch of {args.sets}")
    for name, model in (("ping", "nmm2"), ("ping", "nmm1"), ("jansen-rit", "nmm1")):
        c = stimsim.preset(name)
        one = single_ns(c, model, args.target_seconds, args.repeats)
        many = batch_ns(c, model, args.sets, args.target_seconds, args.repeats)
        print(f"  {name:11s} {model}: {one:7.1f} ns/step | {many:6.2f} ns/set-step", flush=True)

    if not args.skip_compile:
        print("\ncompile from an empty cache: first call of the entry point (compile + cache write), wall s "
              "(process CPU s of that call); fresh process and cache each")
        for model in ("nmm2", "nmm1"):
            for entry in ("serial", "threaded"):
                key = f"{model}:{entry}"
                vals, _ = compile_seconds([key])
                name = "integrate_serial" if entry == "serial" else "integrate"
                print(f"  {model}.{name:17s} {vals[key][0]:6.1f} s ({vals[key][1]:.1f} s CPU)", flush=True)
        vals, total = compile_seconds(["nmm2:serial", "nmm1:serial"])
        a, b = vals["nmm2:serial"], vals["nmm1:serial"]
        print(f"  first run (nmm2 then nmm1 integrate_serial, one process): {a[0]:.1f} + {b[0]:.1f} = "
              f"{a[0] + b[0]:.1f} s ({a[1] + b[1]:.1f} s CPU; whole process incl. import: {total:.1f} s)")


if __name__ == "__main__":
    main()
