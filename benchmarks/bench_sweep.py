"""Sweep throughput, per-chunk overhead and peak memory (stimsim.sweep).

Run: ``python benchmarks/bench_sweep.py [--points 10000] [--big 100000] [--no-dask]``
Prints figures measured in this one run; asserts nothing.

1. A pyramidal resonance sweep of ``--points`` lock-in simulations (J x eta_bar x frequency grid,
   1 V/m, 200 ms settle + 200 ms measure at dt = 0.05 ms, NMM2 and NMM1): points per second with
   the local executor (batched kernels on every core), the serial executor, and a 2-worker Dask
   LocalCluster (start-up included and excluded).
2. Overhead per chunk: the same sweep with chunks of 32 and of 512 points.
3. Peak memory (max RSS of a fresh process) of a 'linear' sweep of 10^4 and of ``--big`` points:
   it must not grow with the number of points beyond the output table (whose size is printed).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PROTOCOL = textwrap.dedent("""
    name = "bench"
    [circuit]
    preset = "pyramidal"
    [run]
    models = ["nmm2", "nmm1"]
    duration_ms = 100.0
    dt_ms = 0.05
    [stimulation]
    unit = "field"
    [sweep]
    kind = "{kind}"
    settle_ms = 200.0
    measure_ms = 200.0
    frequency_hz = 40.0
    [sweep.parameters]
    J = {{ start = 0.0, stop = 12.0, num = {nj} }}
    eta_bar = {{ start = -1.0, stop = 5.0, num = 10 }}
    frequency_hz = {{ start = 5.0, stop = 100.0, num = {nf} }}
""")


def write_protocol(folder, kind, points):
    nf = max(1, points // 100)
    text = PROTOCOL.format(kind=kind, nj=10, nf=nf)
    if kind != "lockin":
        text = text.replace("settle_ms = 200.0\n", "").replace("measure_ms = 200.0\n", "")
    path = Path(folder) / f"{kind}-{points}.toml"
    path.write_text(text)
    return path


def run_cli(args):
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "stimsim.cli", "sweep", *map(str, args), "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def peak_rss_mb(args):
    code = ("import resource, sys; from stimsim.cli import main; rc = main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, "sweep", *map(str, args), "--quiet"], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()
    return float(out[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        proto = write_protocol(tmp, "lockin", args.points)
        run_cli([proto, "--out", Path(tmp) / "warm", "--chunk-size", "64"])          # compile / load caches

        def throughput(name, extra):
            out = Path(tmp) / name
            wall = run_cli([proto, "--out", out, *extra])
            meta = json.loads((out / "metadata.json").read_text())
            return wall, meta

        wall, meta = throughput("local", [])
        print(f"lock-in sweep, {meta['points']} points x 2 models, local: {meta['points_per_s']:8.0f} points/s "
              f"(sweep {meta['wall_time_s']:.1f} s, command {wall:.1f} s, chunk {meta['chunk_size']})")
        ref = meta["points_per_s"]
        wall, meta = throughput("serial", ["--executor", "serial"])
        print(f"                                         serial: {meta['points_per_s']:8.0f} points/s "
              f"(local / serial = {ref / meta['points_per_s']:.2f})")
        if not args.no_dask:
            wall, meta = throughput("dask", ["--workers", "2"])
            print(f"                     2-worker Dask LocalCluster: {meta['points_per_s']:8.0f} points/s "
                  f"(command {wall:.1f} s incl. cluster start; dask / local = {meta['points_per_s'] / ref:.2f})")
        for size in (32, 512):
            wall, meta = throughput(f"chunk{size}", ["--chunk-size", str(size)])
            per_chunk = meta["wall_time_s"] / meta["chunks_this_run"]
            print(f"chunks of {size:4d}: {meta['chunks_this_run']:4d} chunks, {meta['points_per_s']:8.0f} points/s, "
                  f"{1000 * per_chunk:7.1f} ms per chunk")
        for n in (10_000, args.big):
            proto = write_protocol(tmp, "linear", n)
            out = Path(tmp) / f"mem{n}"
            t0 = time.perf_counter()
            rss = peak_rss_mb([proto, "--out", out])
            size = (out / "results.csv").stat().st_size / 2**20
            meta = json.loads((out / "metadata.json").read_text())
            print(f"linear sweep {meta['points']:7d} points: peak RSS {rss:7.1f} MiB, results.csv {size:6.1f} MiB, "
                  f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
