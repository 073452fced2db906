"""Run a sweep: design -> chunks -> executor -> store -> final table and metadata.

Chunk sizing lives here (:func:`default_chunk_size`), in one place for every task kind.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ._executors import make_executor
from ._store import SweepStore

#: a lock-in chunk records at most this many bytes of trajectories (per model)
CHUNK_BYTES = 200e6
#: chunk size bounds (points); multiples of the kernel's 32 lanes
MIN_CHUNK, MAX_CHUNK = 32, 512
#: chunk size of the kinds that do not simulate
ANALYTIC_CHUNK = 256


def default_chunk_size(task, n_points):
    """Points per chunk: bounded trajectory memory for 'lockin', else ANALYTIC_CHUNK."""
    if task.kind != "lockin":
        return min(ANALYTIC_CHUNK, max(1, n_points))
    n_rec = int(round((task.settle_ms + task.measure_ms) / task.dt_ms)) // task.record_every + 1
    per_point = n_rec * 4 * task.circuit.n_populations * 8 * (2 if task.noise_std > 0 else 1)
    size = int(CHUNK_BYTES // per_point) // 32 * 32
    return int(min(MAX_CHUNK, max(MIN_CHUNK, size), max(1, n_points)))


@dataclass
class SweepReport:
    """What a sweep run did.

    Attributes
    ----------
    out_dir : Path
    table : pandas.DataFrame or None
        The final table (read back when it fits in ``max_rows_in_memory``; None otherwise).
    metadata : dict
    """

    out_dir: object
    table: object
    metadata: dict


def _progress(enabled, total, initial):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="point", desc="sweep", disable=not enabled, smoothing=0.1)


def run_sweep(task, design, out_dir, executor="local", scheduler=None, workers=None, resume=False,
              chunk_size=None, parquet=False, progress=True, protocol=None, command=None,
              max_rows_in_memory=1_000_000):
    """Run every task of a sweep into a store, resumably; return a :class:`SweepReport`.

    Parameters
    ----------
    task : TaskSpec or stimsim.brain.BrainTaskSpec
        What each point computes: an object with ``kind``, ``models``, ``names``, ``evaluate`` (the
        chunk function), ``describe()``, ``columns()`` and ``chunk_size(n_points)``.
    design : Design
    out_dir : path-like
        The sweep folder (``stimsim.sweep._store``).
    executor : {'local', 'serial', 'dask'}
    scheduler, workers
        For the Dask executor (an address, or a number of local worker processes).
    resume : bool
        Finish a sweep whose folder holds finished parts (the same sweep only).
    chunk_size : int, optional
        Points per chunk (default :func:`default_chunk_size`). Results do not depend on it.
    parquet : bool
        Also write results.parquet (needs pyarrow).
    progress : bool
        A progress bar (points done, rate, ETA).
    protocol : dict, optional
        The resolved protocol, recorded in sweep.json and metadata.json.
    command : str, optional
        The command line, for metadata.json.

    Raises
    ------
    stimsim.errors.InputError
        Bad settings or folder, before any chunk runs.
    """
    from ..io import environment_info

    n = design.n_points
    if chunk_size is None:
        chunk_size = task.chunk_size(n)
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise InputError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    chunk_size = int(chunk_size)
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError("Parquet output needs pyarrow: pip install 'stimsim[distributed]'") from None
    description = {**task.describe(), "design": design.describe(), "protocol": protocol}
    points = design.points()
    store = SweepStore(out_dir).open(description, resume)
    t0 = time.perf_counter()
    try:
        done = _done_points(store, len(task.models))
        todo = np.setdiff1d(np.arange(n), np.fromiter(done, dtype=np.int64, count=len(done)), assume_unique=True)
        chunks = [todo[i:i + chunk_size] for i in range(0, todo.size, chunk_size)]
        ex = make_executor(executor, scheduler, workers)
        counts = {"ok": 0, "diverged": 0, "failed": 0}
        try:
            bar = _progress(progress, n, n - todo.size)
            args = ((task, ids, points[ids]) for ids in chunks)
            for _, frame in ex.map(task.evaluate, args):
                store.write_part(frame)
                for k, v in frame["status"].value_counts().items():
                    counts[k] = counts.get(k, 0) + int(v)
                bar.update(int(frame["point_id"].nunique()))
            bar.close()
            ex_info = ex.describe()
        finally:
            ex.close()
        wall = time.perf_counter() - t0
        rows = store.assemble(n, parquet=parquet)
        totals = _status_totals(store)
        metadata = {
            "kind": "stimsim sweep", "command": command, "protocol": protocol,
            "task": {"kind": task.kind, "models": list(task.models), "analysis": task.analysis_key(),
                     "columns": {"point_id": "index of the point in the design", "model": "model name",
                                 **{p: "design parameter" for p in task.names},
                                 "task_key": "sha256 of everything that determines the task's result",
                                 "status": "ok, diverged (non-finite trajectory) or failed (see reason)",
                                 "reason": "why a task failed or diverged",
                                 **({"region": "region label (one row per region)"} if task.kind == "brain" else {}),
                                 **task.columns()}},
            "design": design.describe(), "points": n, "rows": rows,
            "computed_this_run": int(todo.size), "resumed_from": int(n - todo.size),
            "status_counts": totals, "chunk_size": chunk_size, "chunks_this_run": len(chunks),
            "executor": ex_info, "wall_time_s": wall,
            "points_per_s": todo.size / wall if wall > 0 and todo.size else None,
            "files": ["results.csv"] + (["results.parquet"] if parquet else []) + ["parts/", "manifest.csv", "sweep.json"],
            "reproduce": "run the same command again into a new folder; --resume finishes an interrupted one",
            "environment": environment_info(),
        }
        store.write_metadata(metadata)
    finally:
        store.close()
    table = None
    if rows <= max_rows_in_memory:
        table = pd.read_csv(store.path / "results.csv", dtype={"task_key": str, "reason": str},
                            keep_default_na=False, na_values=[""])
        table["reason"] = table["reason"].fillna("")
    return SweepReport(store.path, table, metadata)


def _done_points(store, n_models):
    """Point ids whose every model has a row in a finished part."""
    counts = {}
    for f in store.part_files():
        ids = pd.read_csv(f, usecols=["point_id"])["point_id"].to_numpy()
        for i, c in zip(*np.unique(ids, return_counts=True)):
            counts[int(i)] = counts.get(int(i), 0) + int(c)
    return {i for i, c in counts.items() if c >= n_models}


def _status_totals(store):
    totals = {}
    for chunk in pd.read_csv(store.path / "results.csv", usecols=["status"], chunksize=200_000):
        for k, v in chunk["status"].value_counts().items():
            totals[k] = totals.get(k, 0) + int(v)
    return totals


def sweep_points_per_second(report):
    """Throughput of the run (points per second), for benchmarks."""
    return report.metadata.get("points_per_s") or math.nan
