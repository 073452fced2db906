"""Continuation timings (stimsim.continuation) against the targets of issue #9.

Run: ``python benchmarks/bench_continuation.py [--repeat 3] [--no-reproduce]``
Prints figures measured in this one run (best of ``--repeat``); asserts nothing.

- 1-parameter equilibrium continuation of the interneuron preset over I in [-20, 100] under NMM2
  (folds and Hopf points located, l1 computed), target < 1 s;
- the limit-cycle branch from its first Hopf point (shooting with the compiled RK4 kernel, Floquet
  multipliers), target < 10 s;
- the 2-parameter Hopf curve in (I, tau_s/tau_m), both directions, target < 5 s;
- the two-population ``ping`` preset in eta_bar (8 state variables instead of 4);
- the whole ``stimsim reproduce`` (all available parts, subprocess, fresh interpreter, numba
  cache warm), target < 10 min.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import stimsim
from stimsim.continuation import bifurcation_diagram, two_parameter_diagram
from stimsim.continuation._orbits import continue_cycles


def best_of(repeat, func):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-reproduce", action="store_true", help="skip the timing of stimsim reproduce")
    args = ap.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs; numba threads {os.environ.get('NUMBA_NUM_THREADS', 'default')}")

    c = stimsim.preset("interneurons")
    bifurcation_diagram(c, "nmm2", "I", (-20, 100))             # compile / load the kernel first

    t, d = best_of(args.repeat, lambda: bifurcation_diagram(c, "nmm2", "I", (-20, 100), cycles=False))
    pts = sum(len(b.p) for b in d.branches)
    print(f"equilibria, interneurons, I in [-20, 100]:   {t:7.3f} s  ({pts} points, "
          f"{len(d.hopf_points())} Hopf points; target < 1 s, ratio {t / 1.0:.2f})")

    h = d.hopf_points()
    t, cb = best_of(args.repeat, lambda: continue_cycles(d.field, h[0], (-20, 100), others=h[1:]))
    print(f"limit-cycle branch from the first Hopf point: {t:7.3f} s  ({len(cb.p)} orbits, {cb.end_reason}; "
          f"target < 10 s, ratio {t / 10.0:.2f})")

    t, d2 = best_of(args.repeat, lambda: two_parameter_diagram(c, "nmm2", ("I", "tau_s/tau_m"),
                                                              ((-20, 100), (0.05, 2.0)), kinds=("H",)))
    n = sum(len(cv.p) for cv in d2.curves)
    print(f"Hopf curve in (I, tau_s/tau_m):             {t:7.3f} s  ({n} points on {len(d2.curves)} curve pieces; "
          f"target < 5 s, ratio {t / 5.0:.2f})")

    ping = stimsim.preset("ping")
    t, dp = best_of(args.repeat, lambda: bifurcation_diagram(ping, "nmm2", "eta_bar", (-5, 15), cycles=False))
    print(f"equilibria, ping (2 populations), eta_bar:  {t:7.3f} s  ({sum(len(b.p) for b in dp.branches)} points, "
          f"{len(dp.hopf_points())} Hopf points)")

    if not args.no_reproduce:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "stimsim.cli", "reproduce", "--out", os.path.join(tmp, "paper"),
                            "--quiet"], check=True, stdout=subprocess.DEVNULL)
            t = time.perf_counter() - t0
        print(f"stimsim reproduce (all parts, warm cache):  {t:7.1f} s  (target < 600 s, ratio {t / 600.0:.2f})")


if __name__ == "__main__":
    main()
