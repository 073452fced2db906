"""The points of a sweep: a grid, a list, or a random / Latin-hypercube sample over named parameters.

A design is a table of points (one row per point, one column per parameter). Points are numbered
0..n-1 in a fixed order (grid: the first parameter varies slowest); the number is the point's
``point_id`` in the result tables. Random and Latin-hypercube samples are drawn from
``numpy.random.default_rng(seed)`` / ``scipy.stats.qmc.LatinHypercube(seed=...)``: the same seed
gives the same points (McKay, Beckman & Conover, Technometrics 21, 239, 1979, for the hypercube).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

DESIGNS = ("grid", "list", "random", "lhs")
#: largest sweep accepted (points); the result table streams to disk, the design is held in memory
MAX_POINTS = 10_000_000


@dataclass(frozen=True)
class Design:
    """How the points of a sweep are chosen.

    Parameters
    ----------
    kind : {'grid', 'list', 'random', 'lhs'}
    values : dict
        'grid': {name: 1-D values} (Cartesian product); 'list': {name: 1-D values}, all of one
        length (zipped); 'random' / 'lhs': {name: (low, high)} bounds.
    n : int
        Number of points ('random', 'lhs').
    seed : int
        Seed of the sample ('random', 'lhs').
    log : tuple of str
        Parameters sampled uniformly in log ('random', 'lhs'; bounds must be > 0).
    """

    kind: str
    values: dict
    n: int = 0
    seed: int = 0
    log: tuple = ()

    def __post_init__(self):
        if self.kind not in DESIGNS:
            raise InputError(f"sweep design must be one of {', '.join(DESIGNS)}, got {self.kind!r}")
        if not self.values:
            raise InputError("a sweep needs at least one parameter")
        if self.kind in ("random", "lhs"):
            if int(self.n) != self.n or self.n < 1:
                raise InputError(f"sweep n (points of a {self.kind} sample) must be an integer >= 1, got {self.n!r}")
            for name, b in self.values.items():
                if len(b) != 2 or not all(math.isfinite(float(x)) for x in b) or float(b[0]) >= float(b[1]):
                    raise InputError(f"sweep bounds of {name!r} must be [low, high] with low < high, got {b!r}")
                if name in self.log and float(b[0]) <= 0:
                    raise InputError(f"sweep bounds of {name!r} must be > 0 for log sampling, got {b!r}")
        else:
            for name, v in self.values.items():
                arr = np.asarray(v, dtype=float)
                if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
                    raise InputError(f"sweep values of {name!r} must be a non-empty list of finite numbers, got {v!r}")
            if self.kind == "list" and len({len(v) for v in self.values.values()}) != 1:
                raise InputError("a 'list' sweep zips its parameters: every list must have the same length, got "
                                 + ", ".join(f"{k}: {len(v)}" for k, v in self.values.items()))
        if self.n_points > MAX_POINTS:
            raise InputError(f"the sweep has {self.n_points} points, more than {MAX_POINTS}; split it")

    @property
    def names(self):
        return list(self.values)

    @property
    def n_points(self):
        if self.kind == "grid":
            return math.prod(len(v) for v in self.values.values())
        if self.kind == "list":
            return len(next(iter(self.values.values())))
        return int(self.n)

    def points(self):
        """(n_points, n_parameters) float array, rows in point_id order."""
        names = self.names
        if self.kind == "grid":
            axes = [np.asarray(self.values[k], dtype=float) for k in names]
            mesh = np.meshgrid(*axes, indexing="ij")
            return np.stack([m.ravel() for m in mesh], axis=1)
        if self.kind == "list":
            return np.stack([np.asarray(self.values[k], dtype=float) for k in names], axis=1)
        d = len(names)
        if self.kind == "random":
            u = np.random.default_rng(int(self.seed)).random((int(self.n), d))
        else:
            from scipy.stats import qmc

            u = qmc.LatinHypercube(d=d, seed=np.random.default_rng(int(self.seed))).random(int(self.n))
        out = np.empty_like(u)
        for j, k in enumerate(names):
            lo, hi = (float(x) for x in self.values[k])
            if k in self.log:
                out[:, j] = np.exp(np.log(lo) + u[:, j] * (np.log(hi) - np.log(lo)))
            else:
                out[:, j] = lo + u[:, j] * (hi - lo)
        return out

    def describe(self):
        """JSON-ready description (metadata)."""
        vals = {k: [float(x) for x in v] for k, v in self.values.items()}
        return {"kind": self.kind, "values": vals, "n": int(self.n), "seed": int(self.seed),
                "log": list(self.log), "n_points": self.n_points}


def identical_points(values):
    """Group the identical rows of a block of design values (bit for bit).

    Parameters
    ----------
    values : array (m, n_parameters)

    Returns
    -------
    first : array of int
        Index of the first row of each group, in order of first appearance.
    inverse : array (m,) of int
        The group of each row (``values[first[inverse]]`` equals ``values``).
    """
    values = np.ascontiguousarray(values, dtype=float)
    seen, first = {}, []
    inverse = np.empty(len(values), dtype=np.int64)
    for i, row in enumerate(values):
        g = seen.setdefault(row.tobytes(), len(first))
        if g == len(first):
            first.append(i)
        inverse[i] = g
    return np.asarray(first, dtype=np.int64), inverse


def evaluate_distinct(fn, spec, point_ids, values, numba_threads=None):
    """Run a chunk function once per distinct point of a chunk; every point still gets its rows.

    Identical points (a list design with a repeated row) share one computation: ``fn`` runs on the
    first of each group, and its rows are copied to the others with their own ``point_id``. A
    task's result depends on its content only (never on its point id), so the copies are what
    separate runs would give.

    Parameters
    ----------
    fn : callable
        ``fn(spec, point_ids, values, numba_threads=...)`` returning a DataFrame with a
        ``point_id`` column.
    spec, point_ids, values, numba_threads
        As for ``fn``.

    Returns
    -------
    pandas.DataFrame
        The rows of every point of ``point_ids``, ordered by point_id (the row order within a
        point kept).
    """
    point_ids = np.asarray(point_ids, dtype=np.int64)
    values = np.asarray(values, dtype=float).reshape(len(point_ids), -1)
    first, inverse = identical_points(values)
    frame = fn(spec, point_ids[first], values[first], numba_threads=numba_threads)
    if len(first) == len(point_ids):
        return frame
    rows_of = frame.groupby("point_id", sort=False).indices
    reps = point_ids[first][inverse]
    take = np.concatenate([rows_of[int(r)] for r in reps])
    ids = np.concatenate([np.full(len(rows_of[int(r)]), p, dtype=np.int64) for r, p in zip(reps, point_ids)])
    out = frame.iloc[take].reset_index(drop=True)
    out["point_id"] = ids
    return out.sort_values("point_id", kind="stable").reset_index(drop=True)
