"""Speed of the delayed whole-brain network (stimsim.brain.simulate_network).

A 68-region network of the PING E-I circuit under NMM2 (generated weights, row-normalised; tract
lengths 10-150 mm at 5 mm/ms: delays 2-30 ms), dt 0.05 ms, 1 s simulated, recorded every 1 ms:
the wall time of one run (target < 2 s) and of a 32-value G sweep in one batch.

    python benchmarks/bench_brain.py [--regions 68] [--sets 32] [--repeat 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import stimsim
from stimsim.brain import BrainNetwork, simulate_network


def generated_network(R, seed=0, density=0.3, speed=5.0, G=0.5):
    """Random symmetric weights (density ~ ``density``, each row summing to 1) and lengths 10-150 mm."""
    rng = np.random.default_rng(seed)
    W = rng.uniform(0.0, 1.0, (R, R)) * (rng.uniform(size=(R, R)) < density)
    W = 0.5 * (W + W.T)
    np.fill_diagonal(W, 0.0)
    W /= np.maximum(W.sum(axis=1, keepdims=True), 1e-12)
    Lm = rng.uniform(10.0, 150.0, (R, R))
    Lm = 0.5 * (Lm + Lm.T)
    return BrainNetwork(stimsim.preset("ping"), W, Lm, speed_mm_per_ms=speed, G=G, sender="E")


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, default=68)
    ap.add_argument("--sets", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    args = ap.parse_args()
    net = generated_network(args.regions)
    dt, every = 0.05, 20
    kw = dict(duration_ms=args.duration_ms, dt_ms=dt, record_every=every)
    steps = int(round(args.duration_ms / dt))
    d = net.delays_ms[net.weights > 0]
    print(f"network: {args.regions} regions x ping (E, I), {int((net.weights > 0).sum())} connections, "
          f"delays {d.min():.1f}-{d.max():.1f} ms, NMM2 RK4, dt {dt} ms, {args.duration_ms:g} ms simulated")

    t0 = time.perf_counter()
    simulate_network(net, "nmm2", duration_ms=1.0, dt_ms=dt)
    simulate_network(net, "nmm2", duration_ms=1.0, dt_ms=dt, G=np.linspace(0.0, 1.0, 2))
    print(f"compile or cache load: {time.perf_counter() - t0:.2f} s")

    t1, res = best_of(lambda: simulate_network(net, "nmm2", **kw), args.repeat)
    rate = res.rate_hz[res.time_ms >= 500.0].mean(axis=(0, 1))
    print(f"one run: {t1:.3f} s wall (kernel {res.wall_time_s:.3f} s), {1e9 * res.wall_time_s / steps:.0f} ns per step, "
          f"mean rates E {rate[0]:.1f} Hz, I {rate[1]:.1f} Hz  [target < 2 s]")

    Gs = np.linspace(0.0, 20.0, args.sets)
    tb, batch = best_of(lambda: simulate_network(net, "nmm2", G=Gs, on_divergence="nan", **kw), args.repeat)
    print(f"G sweep, {args.sets} values in one batch: {tb:.3f} s wall (kernel {batch.wall_time_s:.3f} s), "
          f"{tb / args.sets:.3f} s per set, {tb / (args.sets * t1):.2f} x the single-run cost per set, "
          f"{len(batch.diverged)} diverged")
    late = batch.rate_hz[batch.time_ms >= 500.0, :, 0, :]         # E rates, (t, region, set)
    spread = late.std(axis=0).mean(axis=0)
    print("G -> mean E rate (Hz), mean temporal SD of E rate (Hz):")
    for g, m, s in list(zip(Gs, late.mean(axis=(0, 1)), spread))[:: max(1, args.sets // 8)]:
        print(f"  G = {g:5.2f}: {m:7.2f} {s:7.2f}")


if __name__ == "__main__":
    main()
