"""Fixed-point search time against circuit size P (stimsim.dynamics._equilibria).

Run: ``python benchmarks/bench_fixed_points.py [--seeds 3] [--exhaustive-max 4]``
Prints figures measured in this one run; asserts nothing.

Circuits: random E-I QIF circuits, populations alternating E (tau_m 10-20 ms, tau_s 5 ms) and
I (tau_m 7.5 ms, tau_s 2.5 ms), Delta 1, eta_bar uniform in [-5, 0]; each connection present with
probability min(1, 4 / P) (always within an E-I pair), J[post, pre] = +-g U(0.5, 1.5) / (expected
inputs from each kind), g = 25 from E and 20 from I, so the total input per population does not
grow with P; many of these circuits are multistable. P = 1 is a single E population with
self-coupling J uniform in [5, 25].

For every P and seed: wall time of ``find_equilibrium_rates(circuit)`` (method 'auto':
'exhaustive' for P <= EXHAUSTIVE_MAX_POPULATIONS, 'homotopy' above), the number of fixed points
found and the largest relative residual; and, up to ``--exhaustive-max`` populations, the same for
method 'exhaustive' (its start grid grows like 3^P: about 35 s at P = 10).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import stimsim
from stimsim.dynamics._equilibria import equilibrium_residual, find_equilibrium_rates
from stimsim.dynamics._exhaustive import EXHAUSTIVE_MAX_POPULATIONS

SIZES = (1, 2, 3, 10, 30, 68, 100)


def random_ei_circuit(P, seed):
    """A random E-I QIF circuit of P populations (see the module docstring)."""
    rng = np.random.default_rng(seed)
    exc = np.arange(P) % 2 == 0
    pops = tuple(stimsim.Population(
        name=f"{'E' if e else 'I'}{k}", tau_m=rng.uniform(10.0, 20.0) if e else 7.5,
        tau_s=5.0 if e else 2.5, delta=1.0, eta_bar=rng.uniform(-5.0, 0.0)) for k, e in enumerate(exc))
    if P == 1:
        return stimsim.Circuit(pops, J=[[rng.uniform(5.0, 25.0)]], name="random-ei")
    p = min(1.0, 4.0 / P)
    mask = rng.random((P, P)) < p
    pair = np.arange(P) // 2
    mask |= pair[:, None] == pair[None, :]
    g = np.where(exc, 25.0, -20.0)  # by presynaptic population
    J = mask * g[None, :] * rng.uniform(0.5, 1.5, (P, P)) / max(1.0, p * P / 2.0)
    return stimsim.Circuit(pops, J=J, name="random-ei")


def timed(circuit, method):
    t0 = time.perf_counter()
    roots = find_equilibrium_rates(circuit, method=method)
    return time.perf_counter() - t0, roots


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="random circuits per size")
    ap.add_argument("--exhaustive-max", type=int, default=EXHAUSTIVE_MAX_POPULATIONS,
                    help="also time method 'exhaustive' up to this many populations")
    args = ap.parse_args()
    import numba

    print(f"threads: numba {numba.get_num_threads()}, cpus {os.cpu_count()}")
    t0 = time.perf_counter()
    find_equilibrium_rates(stimsim.preset("ping"), method="homotopy")
    find_equilibrium_rates(stimsim.preset("ping"), method="exhaustive")
    print(f"warm-up (compile or load the numba cache): {time.perf_counter() - t0:.1f} s")
    print(f"{'P':>4} {'method':>10} {'time median [s]':>16} {'time max [s]':>13} "
          f"{'fixed points per seed':>24} {'max residual':>13}")
    for P in SIZES:
        methods = ["auto"] + (["exhaustive"] if 1 < P <= args.exhaustive_max and P > EXHAUSTIVE_MAX_POPULATIONS
                              else [])
        for method in methods:
            times, counts, worst = [], [], 0.0
            for seed in range(args.seeds):
                c = random_ei_circuit(P, seed)
                dt, roots = timed(c, method)
                times.append(dt)
                counts.append(len(roots))
                worst = max(worst, float(np.max(equilibrium_residual(c, roots))))
            label = method if method != "auto" else ("exhaustive" if P <= EXHAUSTIVE_MAX_POPULATIONS else "homotopy")
            print(f"{P:>4} {label:>10} {np.median(times):>16.3f} {max(times):>13.3f} "
                  f"{','.join(map(str, counts)):>24} {worst:>13.1e}")


if __name__ == "__main__":
    main()
