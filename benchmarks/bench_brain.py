"""Speed of the delayed whole-brain network (stimsim.brain.simulate_network).

A 68-region network of the PING E-I circuit under NMM2 (generated weights, row-normalised; tract
lengths 10-150 mm at 5 mm/ms: delays 2-30 ms), dt 0.05 ms, 1 s simulated, recorded every 1 ms:
the wall time of one run (target < 2 s) and of a 32-value G sweep in one batch.

Then The Virtual Brain (tvb-library) on the closest equivalent network when ``tvb.simulator`` is
importable, or with ``--tvb-python PYTHON`` an interpreter that has it (run in a subprocess; TVB is
GPL-3 and pins its own numpy/numba, so keep it in a separate venv); otherwise it prints that TVB is
not installed. The same weights and tract lengths, one Montbrio-Pazo-Roxin population per region
(TVB has no PING E-I circuit), TVB's NumPy simulator (Heun and RK4) and its numba MPR backend (Heun),
each compared with stimsim under the same integrator: wall times, ratios, and ratios per
state-variable-step. Only the runs are timed (not configure or compilation).

    python benchmarks/bench_brain.py [--regions 68] [--sets 32] [--repeat 3] [--tvb-python PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import stimsim
from stimsim.brain import BrainNetwork, simulate_network

# Runs in the TVB interpreter: argv[1] is JSON (arrays file, dt, duration, G, speed, repeat); the
# last stdout line is JSON with the timings. Each TVB path reports its own error instead of a time.
TVB_SCRIPT = r"""
import importlib.metadata, json, sys, time, traceback
import numpy as np
a = json.loads(sys.argv[1])
arr = np.load(a["arrays"])
W, Lm = arr["weights"], arr["lengths"]
R, dt, dur, G, speed, repeat = W.shape[0], a["dt_ms"], a["duration_ms"], a["G"], a["speed"], a["repeat"]
nstep = int(round(dur / dt))
from tvb.simulator import simulator, models, coupling, integrators, monitors, noise
from tvb.datatypes.connectivity import Connectivity
# stimsim's PING E population: tau_m 10 ms, Delta 1, J_EE 5; eta so that an isolated node rests at r0
tau, delta, J, r0 = 10.0, 1.0, 5.0, 0.010
ptr = np.pi * tau * r0
eta = ptr * ptr - (delta / (2.0 * ptr)) ** 2 - tau * J * r0
v0 = -delta / (2.0 * ptr)
horizon = int(np.rint(Lm / speed / dt).max()) + 1
out = {"version": importlib.metadata.version("tvb-library"), "numpy": np.__version__, "eta": eta, "r0_hz": 1e3 * r0,
       "tau": tau, "delta": delta, "J": J, "a": G * tau, "horizon": horizon, "nstep": nstep, "runs": {}}

def make(integrator):
    conn = Connectivity(weights=W.copy(), tract_lengths=Lm.copy(), speed=np.array([speed]),
                        centres=np.zeros((R, 3)), region_labels=np.array([f"r{i}" for i in range(R)]))
    model = models.MontbrioPazoRoxin(tau=np.array([tau]), Delta=np.array([delta]), J=np.array([J]),
                                     eta=np.array([eta]), cr=np.array([1.0]), cv=np.array([0.0]))
    ic = np.empty((horizon, 2, R, 1))
    ic[:, 0], ic[:, 1] = r0, v0
    sim = simulator.Simulator(model=model, connectivity=conn, coupling=coupling.Linear(a=np.array([G * tau])),
                              integrator=integrator, monitors=(monitors.TemporalAverage(period=1.0),),
                              simulation_length=dur, initial_conditions=ic)
    t0 = time.perf_counter()
    sim.configure()
    return sim, time.perf_counter() - t0

def late_rate(t, x):
    return float(1e3 * np.asarray(x)[np.asarray(t) >= 0.5 * dur, 0].mean())

for key, cls in (("np_heun", integrators.HeunDeterministic), ("np_rk4", integrators.RungeKutta4thOrderDeterministic)):
    try:
        walls = []
        for _ in range(repeat):
            sim, conf = make(cls(dt=dt))             # fresh state each repeat; configure not timed
            t0 = time.perf_counter()
            (t, x), = sim.run()
            walls.append(time.perf_counter() - t0)
        out["runs"][key] = {"wall_s": min(walls), "configure_s": conf, "rate_hz": late_rate(t, x), "samples": len(t)}
    except Exception as exc:
        out["runs"][key] = {"error": traceback.format_exception_only(exc)[-1].strip()}

try:
    import numba
    from tvb.simulator.backend.nb_mpr import NbMPRBackend

    class OnceCompiled(NbMPRBackend):
        # run_sim renders and jit-compiles its kernel on every call; keep the first one so that the
        # later calls time the run alone (TVB's own run_sim: buffers, kernel, temporal average)
        fn = None

        def build_py_func(self, *args, **kw):
            if OnceCompiled.fn is None:
                OnceCompiled.fn = super().build_py_func(*args, **kw)
            return OnceCompiled.fn

    # the backend accepts only HeunStochastic: with nsig = 0 the noise term is exactly zero
    sim, conf = make(integrators.HeunStochastic(dt=dt, noise=noise.Additive(nsig=np.array([0.0]))))
    be = OnceCompiled()
    t0 = time.perf_counter()
    be.run_sim(sim, nstep=nstep, chunksize=nstep)    # one chunk of exactly nstep steps
    first = time.perf_counter() - t0
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ((t, x),) = be.run_sim(sim, nstep=nstep, chunksize=nstep)
        walls.append(time.perf_counter() - t0)
    out["runs"]["nb_heun"] = {"wall_s": min(walls), "first_s": first, "configure_s": conf, "numba": numba.__version__,
                              "rate_hz": late_rate(t, x), "samples": len(t)}
except Exception as exc:
    out["runs"]["nb_heun"] = {"error": traceback.format_exception_only(exc)[-1].strip()}
print(json.dumps(out))
"""


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


def tvb_run(net, dt, duration_ms, repeat, python):
    """TVB's timings on the network's weights and lengths (dict), or (None, why not)."""
    if python is None:
        try:
            import tvb.simulator  # noqa: F401
        except ImportError:
            return None, ("not installed here. It is GPL-3 and pins its own numpy/numba, so install it in a separate "
                          "venv (python3 -m venv /work/tvb-venv && /work/tvb-venv/bin/pip install tvb-library) and "
                          "run with --tvb-python /work/tvb-venv/bin/python")
        python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        arrays = os.path.join(tmp, "network.npz")
        np.savez(arrays, weights=net.weights, lengths=net.lengths_mm)
        spec = dict(arrays=arrays, dt_ms=dt, duration_ms=duration_ms, G=float(net.G),
                    speed=float(net.speed_mm_per_ms), repeat=repeat)
        try:
            proc = subprocess.run([python, "-c", TVB_SCRIPT, json.dumps(spec)], capture_output=True, text=True)
        except OSError as exc:
            return None, f"could not start {python}: {exc}"
    if proc.returncode != 0:
        return None, "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1]), python
    except (IndexError, ValueError):
        return None, "failed: no timing line in its output"


def compare_tvb(net, args, dt, steps, t1, tb):
    """Section 3: TVB on the closest equivalent network, against stimsim under the same integrator."""
    R = args.regions
    print("\nTVB on the closest equivalent network")
    out, where = tvb_run(net, dt, args.duration_ms, args.repeat, args.tvb_python)
    if out is None:
        print(f"  TVB: {where}")
        return
    runs = out["runs"]
    nb_ver = next((r["numba"] for r in runs.values() if "numba" in r), "?")
    print(f"  tvb-library {out['version']} (numpy {out['numpy']}, numba {nb_ver}) in {where}")
    print(f"  same: the {R} x {R} weights and tract lengths above (arrays into tvb.datatypes.connectivity.Connectivity), "
          f"speed {net.speed_mm_per_ms:g} mm/ms, dt {dt} ms, {args.duration_ms:g} ms = {steps} steps, "
          f"linear coupling G = {net.G:g} (TVB Linear a = G tau = {out['a']:g}: the input a sum_j W_ij r_j(t - d_ij) "
          f"enters like stimsim's tau_m G sum_j W_ij s_E,j(t - d_ij))")
    print("  differs:")
    print(f"   - local model: TVB MontbrioPazoRoxin, ONE population per region with 2 state variables (r, V) and an "
          f"instantaneous synapse (J tau r); stimsim PING E-I, 2 populations x 4 variables (r, v, s, z: "
          f"second-order synapses) = 8 per region")
    print(f"   - TVB parameters: stimsim's E population (tau {out['tau']:g} ms, Delta {out['delta']:g}, J {out['J']:g}), "
          f"eta = {out['eta']:.3f} so that an isolated node rests at {out['r0_hz']:g} Hz; no I population, no "
          f"oscillation (stimsim's PING regions oscillate); coupled through the rate r, not a synaptic s_E")
    print("   - delays: TVB rounds each delay to whole steps (horizon "
          f"{out['horizon']} steps) and sums both coupling variables (r, V; cv = 0) over all afferents once per "
          "step, held through the stages; stimsim sums s_E at each stage time by cubic Hermite interpolation")
    print("   - monitors: TVB TemporalAverage 1 ms; stimsim keeps every 20th step (1 ms)")
    print("   - integrators (per row below): TVB Simulator.run is its NumPy reference loop (HeunDeterministic or "
          "RungeKutta4thOrderDeterministic); TVB NbMPRBackend is its numba MPR kernel, which accepts only "
          "HeunStochastic (run with Additive noise nsig = 0: deterministic Heun; it still draws the zeroed noise)")
    print("   - every run here is one parameter set on one thread (TVB: no batching in these paths)")
    print(f"  wall of the run only (configure and compilation excluded), best of {args.repeat}; "
          "per var-step = wall / (regions x state variables x steps)")

    # stimsim with Heun as well, so each TVB path meets the same integrator
    kw = dict(duration_ms=args.duration_ms, dt_ms=dt, record_every=20)
    simulate_network(net, "nmm2", duration_ms=1.0, dt_ms=dt, integrator="heun")
    th, resh = best_of(lambda: simulate_network(net, "nmm2", integrator="heun", **kw), args.repeat)
    s_var = 2 * 4                                   # stimsim: 2 populations x (r, v, s, z); TVB MPR: 2
    stim = {"rk4": t1, "heun": th}
    print(f"    {'':34s}{'wall s':>8s}{'ns/var-step':>13s}")
    print(f"    {'stimsim nmm2, RK4':34s}{t1:8.3f}{1e9 * t1 / (R * s_var * steps):13.2f}")
    print(f"    {'stimsim nmm2, Heun':34s}{th:8.3f}{1e9 * th / (R * s_var * steps):13.2f}"
          f"   (mean E rate {resh.rate_hz[resh.time_ms >= 0.5 * args.duration_ms].mean(axis=(0, 1))[0]:.1f} Hz)")
    rows = (("np_heun", "TVB Simulator.run (NumPy), Heun", "heun"),
            ("np_rk4", "TVB Simulator.run (NumPy), RK4", "rk4"),
            ("nb_heun", "TVB NbMPRBackend (numba), Heun", "heun"))
    ratios = []
    for key, label, integ in rows:
        r = runs.get(key, {"error": "not reported"})
        if "wall_s" not in r:
            print(f"    {label:34s}  not measured: {r['error']}")
            continue
        w = r["wall_s"]
        per = 1e9 * w / (R * 2 * steps)
        extra = f"   (mean r {r['rate_hz']:.1f} Hz; configure {r['configure_s']:.3f} s"
        extra += f"; first call (template, numba compile and run) {r['first_s']:.2f} s)" if "first_s" in r else ")"
        print(f"    {label:34s}{w:8.3f}{per:13.2f}{extra}")
        ratios.append((label, integ, w, per, stim[integ], 1e9 * stim[integ] / (R * s_var * steps)))
    if ratios:
        print("  TVB / stimsim (same integrator; > 1: stimsim faster):")
        for label, integ, w, per, ws, pers in ratios:
            print(f"    {label:34s} vs stimsim {integ.upper():4s}: wall {w / ws:6.2f} x, per var-step {per / pers:6.2f} x")
        label, _, best, *_ = min(ratios, key=lambda q: q[2])
        print(f"  G sweep of {args.sets}: stimsim RK4 {tb:.2f} s in one batch (measured above); TVB runs one value per "
              f"simulation: {args.sets} x {best:.2f} s ({label.strip()}) = {args.sets * best:.1f} s one after another "
              f"(extrapolated from the single run, not measured)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, default=68)
    ap.add_argument("--sets", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    ap.add_argument("--tvb-python", help="a Python interpreter with tvb-library installed (subprocess)")
    args = ap.parse_args()
    net = generated_network(args.regions)
    dt, every = 0.05, 20
    kw = dict(duration_ms=args.duration_ms, dt_ms=dt, record_every=every, progress=False)
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

    # the delayed values by linear interpolation (second order) instead of the cubic Hermite default
    simulate_network(net, "nmm2", duration_ms=1.0, dt_ms=dt, history="linear")
    simulate_network(net, "nmm2", duration_ms=1.0, dt_ms=dt, G=np.linspace(0.0, 1.0, 2), history="linear")
    t1l, _ = best_of(lambda: simulate_network(net, "nmm2", history="linear", **kw), args.repeat)
    tbl, _ = best_of(lambda: simulate_network(net, "nmm2", G=Gs, on_divergence="nan", history="linear", **kw),
                     args.repeat)
    print(f"history='linear': one run {t1l:.3f} s ({t1 / t1l:.2f} x faster than cubic), G sweep {tbl:.3f} s "
          f"({tb / tbl:.2f} x)")

    compare_tvb(net, args, dt, steps, t1, tb)


if __name__ == "__main__":
    main()
