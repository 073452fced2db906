"""The store of a sweep: finished chunks on disk as they complete, resumable, one final table.

Layout of a sweep folder::

    sweep.json              what the sweep is (spec, design, task kind; written first)
    parts/part-<first>-<last>-<id>.csv    the rows of one finished chunk (point ids first..last),
                                          written atomically (temporary file, then rename)
    manifest.csv            one line per finished part: file, rows, first and last point id, and
                            the sha256 of its task keys (the keys themselves are in the part)
    results.csv             the final table: every task exactly once, sorted by point_id and model
    results.parquet         the same, when asked (pyarrow)
    metadata.json           how to reproduce it, executor, timing, failures, float32 check

A part is complete or absent, so a sweep killed at any moment keeps every finished chunk;
:meth:`SweepStore.done_keys` reads the keys back and a resumed run computes only the rest. A lock
beside the folder (``stimsim.io``) keeps two runs from writing one store at once. Memory stays
bounded: parts are written as they come and the final table is assembled window by window.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..io import _atomic_file, _Lock, write_json

#: point ids per window when the final table is assembled
MERGE_WINDOW = 20_000


class SweepStore:
    """A sweep folder (module docstring).

    Parameters
    ----------
    path : path-like
        The folder; created when missing.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.parts_dir = self.path / "parts"
        self.manifest = self.path / "manifest.csv"
        self._lock = None

    # --- claiming ---------------------------------------------------------------------------------
    def open(self, description, resume):
        """Claim the folder for this sweep (lock), check it against ``description``; return self.

        A new sweep needs a missing or empty folder. ``resume`` needs a folder of the same sweep
        (identical ``sweep.json``); anything else is refused with a clear error.
        """
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"sweep folder {self.path} exists and is not a folder")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _Lock(self.path)
        self._lock.acquire(self.path)
        try:
            self._check(description, resume)
        except BaseException:
            self.close()
            raise
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        return self

    def _check(self, description, resume):
        text = json.dumps(description, indent=2, sort_keys=True, default=str)
        spec_file = self.path / "sweep.json"
        existing = [p for p in self.path.iterdir()] if self.path.is_dir() else []
        if spec_file.is_file():
            if not resume:
                raise InputError(f"{self.path} holds a sweep already; add --resume to finish it, or choose another --out")
            if spec_file.read_text(encoding="utf-8") != text + "\n":
                raise InputError(f"{self.path} holds a different sweep (its sweep.json differs from this one); "
                                 "resume only the same protocol with the same settings, or choose another --out")
            return
        if existing:
            raise InputError(f"sweep folder {self.path} is not empty and holds no sweep; choose another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        with _atomic_file(spec_file, "w") as fh:
            fh.write(text + "\n")

    def close(self):
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- parts ------------------------------------------------------------------------------------
    def part_files(self):
        return sorted(self.parts_dir.glob("part-*.csv")) if self.parts_dir.is_dir() else []

    def done_keys(self):
        """The task keys of every finished part (a set of hex strings)."""
        keys = set()
        for f in self.part_files():
            keys.update(pd.read_csv(f, usecols=["task_key"], dtype=str)["task_key"])
        return keys

    def write_part(self, frame):
        """Write one finished chunk atomically; add its line to the manifest. Returns the file."""
        first, last = int(frame["point_id"].min()), int(frame["point_id"].max())
        digest = hashlib.sha256("\n".join(frame["task_key"]).encode()).hexdigest()
        path = self.parts_dir / f"part-{first:09d}-{last:09d}-{digest[:12]}.csv"
        with _atomic_file(path, "w") as fh:
            frame.to_csv(fh, index=False)
        line = f"{path.name},{len(frame)},{first},{last},{digest}\n"
        new = not self.manifest.exists()
        with open(self.manifest, "a", encoding="utf-8") as fh:     # one short line: append is atomic enough
            if new:
                fh.write("file,rows,first_point_id,last_point_id,keys_sha256\n")
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        return path

    # --- final table ------------------------------------------------------------------------------
    def assemble(self, n_points, parquet=False):
        """Write results.csv (and .parquet) from the parts: each task once, by point_id and model.

        Returns the number of rows written.
        """
        spans = []
        for f in self.part_files():
            _, a, b, _ = f.stem.split("-", 3)
            spans.append((int(a), int(b), f))
        rows = 0
        writer = None
        out_csv = self.path / "results.csv"
        with _atomic_file(out_csv, "w") as fh:
            header = True
            for lo in range(0, max(n_points, 1), MERGE_WINDOW):
                hi = lo + MERGE_WINDOW - 1
                frames = [pd.read_csv(f, dtype={"task_key": str, "reason": str}, keep_default_na=False,
                                      na_values=[""]) for a, b, f in spans if a <= hi and b >= lo]
                if not frames:
                    continue
                w = pd.concat(frames, ignore_index=True)
                # a task belongs to one point, hence to one window: duplicates are found within it
                # rows per region (whole-brain sweeps) share their task's key
                w = w[(w.point_id >= lo) & (w.point_id <= hi)].drop_duplicates(
                    ["task_key", "region"] if "region" in w.columns else "task_key")
                w = w.sort_values(["point_id", "model"], kind="stable")
                w["reason"] = w["reason"].fillna("")
                w.to_csv(fh, index=False, header=header)
                header = False
                rows += len(w)
                if parquet:
                    writer = _append_parquet(writer, w, self.path / ".results.parquet.tmp")
        if writer is not None:
            writer.close()
            os.replace(self.path / ".results.parquet.tmp", self.path / "results.parquet")
        return rows

    def write_metadata(self, metadata):
        write_json(metadata, self.path / "metadata.json")


def _append_parquet(writer, frame, path):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:                      # checked before the sweep starts; kept for safety
        raise InputError("Parquet output needs pyarrow: pip install 'stimsim[distributed]'") from None
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if writer is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        writer = pq.ParquetWriter(path, table.schema)
    writer.write_table(table.cast(writer.schema))
    return writer
