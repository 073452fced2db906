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
from ._executors import check_executor, make_executor
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


def run_sweep(task, design, out_dir, executor=None, scheduler=None, workers=None, resume=False,
              chunk_size=None, parquet=False, progress=True, protocol=None, command=None,
              max_rows_in_memory=1_000_000, warn=None):
    """Run every task of a sweep into a store, resumably; return a :class:`SweepReport`.

    The table has exactly one row per design point and model (and region of a whole-brain sweep):
    identical points of a design are computed once per chunk and each keeps its own rows.

    Parameters
    ----------
    task : TaskSpec or stimsim.brain.BrainTaskSpec
        What each point computes: an object with ``kind``, ``models``, ``names``, ``evaluate`` (the
        chunk function), ``describe()``, ``columns()``, ``rows_per_point()`` and
        ``chunk_size(n_points)``.
    design : Design
    out_dir : path-like
        The sweep folder (``stimsim.sweep._store``).
    executor : {'local', 'serial', 'dask'}, optional
        Default 'dask' when ``scheduler`` or ``workers`` is given, else 'local'.
    scheduler, workers
        For the Dask executor (an address, or a number of local worker processes).
    resume : bool
        Finish a sweep whose folder holds finished parts (the same sweep only). Every part is
        verified first; one that fails is moved to ``rejected/`` and computed again.
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
    warn : callable, optional
        Called with one line per rejected part (default: :func:`warnings.warn` with
        :class:`SweepWarning`).

    Raises
    ------
    stimsim.errors.InputError
        Bad settings, folder or scheduler, before any chunk runs. A sweep that fails before its
        first part is written leaves no ``sweep.json`` or ``parts/`` behind.
    """
    from ..io import environment_info

    n = design.n_points
    if chunk_size is None:
        chunk_size = task.chunk_size(n)
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise InputError(f"chunk_size (--chunk-size) must be an integer >= 1, got {chunk_size!r}")
    chunk_size = int(chunk_size)
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError("Parquet output needs pyarrow: pip install 'stimsim[distributed]'") from None
    if warn is None:
        warn = _warn
    executor = check_executor(executor, scheduler, workers)
    description = {**task.describe(), "design": design.describe(), "protocol": protocol}
    store = SweepStore(out_dir)
    store.preflight(description, resume)            # folder and sweep checked before the cluster starts
    ex = make_executor(executor, scheduler, workers)
    try:
        store.open(description, resume)
    except BaseException:
        ex.close()
        raise
    t0 = time.perf_counter()
    try:
        points = design.points()
        per_point = task.rows_per_point()
        done = store.verify(n, per_point, warn) if resume else np.zeros(0, dtype=np.int64)
        todo = np.setdiff1d(np.arange(n), done, assume_unique=True)
        chunks = [todo[i:i + chunk_size] for i in range(0, todo.size, chunk_size)]
        counts = {"ok": 0, "diverged": 0, "failed": 0}
        try:
            bar = _progress(progress, n, n - todo.size)
            args = ((task, ids, points[ids]) for ids in chunks)
            for _, frame in ex.map(task.evaluate, args):
                if len(frame) != frame["point_id"].nunique() * per_point:
                    raise RuntimeError(f"a chunk returned {len(frame)} rows for {frame['point_id'].nunique()} "
                                       f"points, expected {per_point} per point")
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
        if rows != n * per_point:
            raise RuntimeError(f"results.csv has {rows} rows, expected {n} points x {per_point} = {n * per_point}")
        totals = _status_totals(store)
        metadata = {
            "kind": "stimsim sweep", "command": command, "protocol": protocol,
            "task": {"kind": task.kind, "models": list(task.models), "analysis": task.analysis_key(),
                     "columns": {"point_id": "index of the point in the design (one row per point and model)",
                                 "model": "model name",
                                 **{p: "design parameter" for p in task.names},
                                 "task_key": "sha256 of everything that determines the task's result "
                                             "(identical points share it)",
                                 "status": "ok, diverged (non-finite trajectory) or failed (see reason)",
                                 "reason": "why a task failed or diverged",
                                 **({"region": "region label (one row per region)"} if task.kind == "brain" else {}),
                                 **task.columns()}},
            "design": design.describe(), "points": n, "rows": rows,
            "computed_this_run": int(todo.size), "resumed_from": int(n - todo.size),
            "rejected_parts": store.rejected,
            "status_counts": totals, "chunk_size": chunk_size, "chunks_this_run": len(chunks),
            "executor": ex_info, "wall_time_s": wall,
            "points_per_s": todo.size / wall if wall > 0 and todo.size else None,
            "files": ["results.csv"] + (["results.parquet"] if parquet else []) + ["parts/", "manifest.csv", "sweep.json"]
                     + (["rejected/"] if store.rejected else []),
            "reproduce": "run the same command again into a new folder; --resume finishes an interrupted one",
            "environment": environment_info(),
        }
        store.write_metadata(metadata)
    except BaseException:
        store.discard()                 # removes a new sweep that wrote no part; keeps anything else
        raise
    store.close()
    table = None
    if rows <= max_rows_in_memory:
        table = pd.read_csv(store.path / "results.csv", dtype={"task_key": str, "reason": str},
                            keep_default_na=False, na_values=[""])
        table["reason"] = table["reason"].fillna("")
    return SweepReport(store.path, table, metadata)


class SweepWarning(UserWarning):
    """A part of a resumed sweep failed verification and is computed again."""


def _warn(message):
    import warnings

    warnings.warn(message, SweepWarning, stacklevel=3)


def _status_totals(store):
    totals = {}
    for chunk in pd.read_csv(store.path / "results.csv", usecols=["status"], chunksize=200_000):
        for k, v in chunk["status"].value_counts().items():
            totals[k] = totals.get(k, 0) + int(v)
    return totals


def sweep_points_per_second(report):
    """Throughput of the run (points per second), for benchmarks."""
    return report.metadata.get("points_per_s") or math.nan
