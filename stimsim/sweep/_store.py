"""The store of a sweep: finished chunks on disk as they complete, verified, resumable, one final table.

Layout of a sweep folder::

    sweep.json              what the sweep is (store format, spec, design, task kind; written first)
    manifest.csv            one line per finished part: file, rows, points, first and last point id,
                            and the sha256 of the part file's bytes (appended before the part appears)
    parts/part-<first>-<last>-<sha256[:12]>.csv
                            the rows of one finished chunk (point ids first..last), written
                            atomically (temporary file, then rename)
    rejected/               parts that failed verification on --resume (kept for inspection)
    results.csv             the final table: one row per design point and model (and region),
                            sorted by point_id and model
    results.parquet         the same, when asked (pyarrow)
    metadata.json           how to reproduce it, executor, timing, failures, rejected parts

A part is complete or absent, so a sweep killed at any moment keeps every finished chunk. A resumed
run verifies every part against the manifest (:meth:`SweepStore.verify`): its bytes must hash to
the recorded sha256, and it must hold the recorded rows, every point with all its rows. A part
that fails (cut short, edited, not written by this sweep, not a CSV) is moved to ``rejected/``
with one warning naming the file and why, and its points are computed again; nothing on disk is
kept unverified. A lock beside the folder (``stimsim.io``) keeps two runs from writing one store
at once. Memory stays bounded: parts are written as they come and the final table is assembled
window by window.

Rows are identified by their place in the design (``point_id``, ``model``, and ``region`` in a
whole-brain sweep), not by their content: two identical points of a design are two rows.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import _atomic_file, _Lock, _new_file, write_json

#: point ids per window when the final table is assembled
MERGE_WINDOW = 20_000
#: bump when what a store holds (or how it is verified) changes: an older store is then refused
#: 1: parts de-duplicated by task key, manifest of task-key digests; 2: rows keyed by point_id,
#: manifest of file sha256 and row counts
STORE_VERSION = 2
MANIFEST_HEADER = "file,rows,points,first_point_id,last_point_id,sha256"
_PART = re.compile(r"^part-\d{9}-\d{9}-[0-9a-f]{12}\.csv$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


class SweepStore:
    """A sweep folder (module docstring).

    Parameters
    ----------
    path : path-like
        The folder; created by :meth:`open` when missing.

    Attributes
    ----------
    rejected : list of dict
        Parts moved to ``rejected/`` by :meth:`verify`: ``{'file', 'reason'}``.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.parts_dir = self.path / "parts"
        self.manifest = self.path / "manifest.csv"
        self.rejected = []
        self._lock = None
        self._parts = {}            # verified or written parts: file name -> manifest entry
        self._created = []          # folders this store created, outermost first
        self._existing = False      # the folder held this sweep already (resume)
        self._written = 0           # parts written by this run

    # --- claiming ---------------------------------------------------------------------------------
    def preflight(self, description, resume):
        """Check the folder without leaving anything in it; raise InputError on any problem.

        The folder (or its nearest existing parent) must be a writable folder, and so must its
        parent (the lock lies beside it) and ``parts/`` when they exist; a new sweep needs a missing or empty folder, ``resume`` a folder of the
        same sweep (:meth:`open`).
        """
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"sweep folder {self.path} exists and is not a folder; choose another --out")
        base = self.path
        while not base.exists():
            if base.parent == base:
                break
            base = base.parent
        if not base.is_dir():
            raise InputError(f"sweep folder {self.path} cannot be created: {base} is not a folder; choose another --out")
        _check_writable(base, self.path)
        if base == self.path and self.path.parent != self.path:
            _check_writable(self.path.parent, self.path)           # the lock lies beside the folder
        if self.path.is_dir() and self.parts_dir.exists():
            if not self.parts_dir.is_dir():
                raise InputError(f"sweep folder {self.path}: parts is not a folder; choose another --out")
            _check_writable(self.parts_dir, self.path)
        self._check(_spec_text(description), resume)

    def open(self, description, resume):
        """Claim the folder for this sweep (lock), check it against ``description``; return self.

        A new sweep needs a missing or empty folder. ``resume`` needs a folder of the same sweep
        (identical ``sweep.json``, of this store format); anything else is refused with a clear
        error, and nothing is written before the checks pass.
        """
        self.preflight(description, resume)
        missing = []
        p = self.path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir()
            self._created.append(d)
        self._lock = _Lock(self.path)
        try:
            self._lock.acquire(self.path)
            text = _spec_text(description)
            self._existing = self._check(text, resume)
            if not self._existing:
                with _atomic_file(self.path / "sweep.json", "w") as fh:
                    fh.write(text)
            self.parts_dir.mkdir(exist_ok=True)
        except BaseException:
            self.discard()
            raise
        return self

    def _check(self, text, resume):
        """True when the folder holds this sweep (resume); False when it is free for a new one."""
        spec_file = self.path / "sweep.json"
        if spec_file.is_file():
            if not resume:
                raise InputError(f"{self.path} holds a sweep already; add --resume to finish it, or choose another --out")
            try:
                old_text = spec_file.read_text(encoding="utf-8")
                old = json.loads(old_text)
            except (UnicodeDecodeError, ValueError):
                raise InputError(f"{spec_file} is not a sweep description (not JSON); choose another --out") from None
            version = old.get("store_version", 1) if isinstance(old, dict) else None
            if version != STORE_VERSION:
                raise InputError(f"{self.path} holds a sweep in store format {version}, written by an older stimsim; "
                                 f"this version resumes format {STORE_VERSION} only (parts with checksums, one row "
                                 "per design point): finish it with the stimsim that started it, or choose another --out")
            if old_text != text:
                raise InputError(f"{self.path} holds a different sweep (its sweep.json differs from this one); "
                                 "resume only the same protocol with the same settings, or choose another --out")
            return True
        if self.path.is_dir() and any(self.path.iterdir()):
            raise InputError(f"sweep folder {self.path} is not empty and holds no sweep; choose another --out")
        return False

    def discard(self):
        """Undo a claim that computed nothing: remove what this run created, release the lock.

        Only a sweep that was new to this run and has written no part is removed (sweep.json,
        manifest.csv, parts/, the folder and the parents this store created), so that the same
        command can run again. A resumed sweep, or one with finished parts, is kept as it is.
        """
        remove = not self._existing and self._written == 0
        held = self._lock is not None and self._lock.fd is not None
        try:
            if remove and held:
                for f in (self.path / "sweep.json", self.manifest):
                    with contextlib.suppress(FileNotFoundError):
                        f.unlink()
                if self.parts_dir.is_dir():
                    for f in self.parts_dir.glob(".part-*.tmp"):
                        with contextlib.suppress(FileNotFoundError):
                            f.unlink()
                    with contextlib.suppress(OSError):
                        self.parts_dir.rmdir()
        finally:
            self.close()
        if remove:
            for d in reversed(self._created):               # only empty folders go
                with contextlib.suppress(OSError):
                    d.rmdir()
        self._created = []

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
        """The files ``parts/part-*.csv`` on disk (verified or not), sorted."""
        return sorted(self.parts_dir.glob("part-*.csv")) if self.parts_dir.is_dir() else []

    def read_manifest(self):
        """{file name: entry} from manifest.csv; lines that do not parse are skipped, the last line of a file wins.

        An entry is a dict with ``rows``, ``points``, ``first``, ``last`` (ints) and ``sha256``.
        """
        entries = {}
        if not self.manifest.is_file():
            return entries
        for line in self.manifest.read_bytes().decode("utf-8", "replace").splitlines():
            fields = line.strip().split(",")
            if len(fields) != 6 or not _PART.match(fields[0]) or not _SHA.match(fields[5]):
                continue
            try:
                rows, points, first, last = (int(x) for x in fields[1:5])
            except ValueError:
                continue
            entries[fields[0]] = {"rows": rows, "points": points, "first": first, "last": last, "sha256": fields[5]}
        return entries

    def verify(self, n_points, rows_per_point, warn):
        """Check every part on disk against the manifest; reject the ones that fail.

        Parameters
        ----------
        n_points : int
            Points of the design (ids 0..n_points-1).
        rows_per_point : int
            Rows each point has in a part (models, times regions in a whole-brain sweep).
        warn : callable
            Called with one line per rejected part: the file and why.

        Returns
        -------
        numpy.ndarray of int
            The point ids held by the verified parts (the points not to compute again).
        """
        manifest = self.read_manifest()
        if self.parts_dir.is_dir():
            for tmp in self.parts_dir.glob(".part-*.tmp"):        # a run killed while writing a part
                with contextlib.suppress(OSError):
                    tmp.unlink()
        done = np.zeros(n_points, dtype=bool)
        for f in self.part_files():
            why, ids = _verify_part(f, manifest.get(f.name), n_points, rows_per_point)
            if why:
                self._reject(f, why, warn)
                continue
            self._parts[f.name] = manifest[f.name]
            done[ids] = True
        return np.flatnonzero(done)

    def _reject(self, f, why, warn):
        dest = self.path / "rejected"
        dest.mkdir(exist_ok=True)
        target, k = dest / f.name, 1
        while target.exists():
            target, k = dest / f"{f.name}.{k}", k + 1
        os.replace(f, target)
        rel = target.relative_to(self.path).as_posix()
        self.rejected.append({"file": f"parts/{f.name}", "reason": why, "moved_to": rel})
        warn(f"{self.parts_dir / f.name}: {why}; moved to {self.path / rel}; the points it held are computed again")

    def write_part(self, frame):
        """Write one finished chunk atomically, listed first in the manifest; return the file.

        The manifest line (rows, points, sha256 of the file's bytes) is appended and synced before
        the part is renamed into place, so every part on disk has its line.
        """
        data = frame.to_csv(index=False).encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        ids = frame["point_id"].to_numpy()
        first, last, points = int(ids.min()), int(ids.max()), len(np.unique(ids))
        name = f"part-{first:09d}-{last:09d}-{digest[:12]}.csv"
        line = f"{name},{len(frame)},{points},{first},{last},{digest}\n"
        self._append_manifest(line)
        with _atomic_file(self.parts_dir / name, "wb") as fh:
            fh.write(data)
        self._parts[name] = {"rows": len(frame), "points": points, "first": first, "last": last, "sha256": digest}
        self._written += 1
        return self.parts_dir / name

    def _append_manifest(self, line):
        prefix = ""
        if not self.manifest.exists() or self.manifest.stat().st_size == 0:
            prefix = MANIFEST_HEADER + "\n"
        else:
            with open(self.manifest, "rb") as fh:            # a line cut short by a kill: start a new one
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    prefix = "\n"
        with open(self.manifest, "a", encoding="utf-8") as fh:
            fh.write(prefix + line)
            fh.flush()
            os.fsync(fh.fileno())

    # --- final table ------------------------------------------------------------------------------
    def assemble(self, n_points, parquet=False):
        """Write results.csv (and .parquet) from the verified parts, by point_id and model.

        Each row is identified by (point_id, model[, region]); a row found in two parts is kept
        once. Returns the number of rows written.
        """
        spans = sorted((e["first"], e["last"], self.parts_dir / name) for name, e in self._parts.items())
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
                # a row belongs to one point, hence to one window: duplicates are found within it
                w = w[(w.point_id >= lo) & (w.point_id <= hi)].drop_duplicates(
                    ["point_id", "model", "region"] if "region" in w.columns else ["point_id", "model"])
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


def _spec_text(description):
    return json.dumps({"store_version": STORE_VERSION, **description}, indent=2, sort_keys=True, default=str) + "\n"


def _check_writable(folder, out):
    """InputError unless a file can be created in ``folder`` (a probe file, removed at once)."""
    try:
        fd, probe = _new_file(folder, ".stimsim-probe-", ".tmp")
    except OSError as exc:
        raise InputError(f"sweep folder {out} is not writable: cannot create a file in {folder} "
                         f"({exc.strerror or exc}); choose another --out") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _verify_part(f, entry, n_points, rows_per_point):
    """(why, point ids): why the part fails verification ('' when it passes) and its point ids."""
    if not f.is_file():
        return "is not a file", None
    if entry is None:
        return "is not listed in manifest.csv (not written by this sweep)", None
    h = hashlib.sha256()
    with open(f, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != entry["sha256"]:
        return "its sha256 differs from manifest.csv (the file was changed or cut short after it was written)", None
    try:
        ids = pd.read_csv(f, usecols=["point_id"])["point_id"].to_numpy()
        ids = ids.astype(np.int64) if np.all(ids == np.round(ids)) else None
    except Exception as exc:                       # noqa: BLE001 - any unreadable part is rejected, not fatal
        return f"cannot be read as a part ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})", None
    if ids is None:
        return "its point_id column holds values that are not whole numbers", None
    if len(ids) == 0:
        return "holds no rows", None
    if len(ids) != entry["rows"]:
        return f"holds {len(ids)} rows, manifest.csv says {entry['rows']}", None
    if ids.min() < 0 or ids.max() >= n_points:
        return f"holds point ids outside 0..{n_points - 1}", None
    uniq, counts = np.unique(ids, return_counts=True)
    if np.any(counts != rows_per_point):
        j = int(np.flatnonzero(counts != rows_per_point)[0])
        return f"point {int(uniq[j])} has {int(counts[j])} rows, expected {rows_per_point}", None
    if len(uniq) != entry["points"] or uniq[0] != entry["first"] or uniq[-1] != entry["last"]:
        return "its points differ from manifest.csv", None
    return "", uniq


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
