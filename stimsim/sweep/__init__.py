"""Sweeps at scale: one task engine, local by default, on a Dask cluster when asked, resumable.

A sweep runs one *task* (:mod:`~stimsim.sweep._tasks`: a lock-in simulation, a linear response,
a resonance summary or a fixed-point count) at every point of a *design*
(:class:`~stimsim.sweep._points.Design`: grid, list, random or Latin-hypercube sample) over
circuit and drive parameters, under each model. Chunks of points run on an *executor*
(:mod:`~stimsim.sweep._executors`: serial, local batched kernels, or Dask) and stream into a
*store* (:mod:`~stimsim.sweep._store`) that survives interruption; ``resume`` verifies every
finished part (sha256 and rows in the manifest) and computes only what is missing. The table has
one row per design point and model: identical points of a design are kept, each with its
``point_id``. Protocol files describe sweeps in a ``[sweep]`` table (``stimsim sweep PROTOCOL``).
"""
from ._executors import (EXECUTORS, DaskExecutor, LocalExecutor, SerialExecutor, check_executor,
                         check_scheduler_address, make_executor)
from ._points import DESIGNS, Design
from ._run import SweepReport, SweepWarning, default_chunk_size, run_sweep
from ._store import STORE_VERSION, SweepStore
from ._tasks import DRIVE_PARAMETERS, KINDS, TaskSpec, evaluate_chunk, task_key

__all__ = ["EXECUTORS", "DaskExecutor", "LocalExecutor", "SerialExecutor", "check_executor", "check_scheduler_address",
           "make_executor", "DESIGNS", "Design", "SweepReport", "SweepWarning", "default_chunk_size", "run_sweep",
           "STORE_VERSION", "SweepStore", "DRIVE_PARAMETERS", "KINDS", "TaskSpec",
           "evaluate_chunk", "task_key"]
